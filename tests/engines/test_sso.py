"""Single sign-on with real ID tokens: what the program generates for Argo CD, Grafana, the sign-in
proxy in front of Prometheus and Alertmanager, and `kubectl`, evaluated on tokens that a real OIDC
provider (OpenBao's, `tests/engines/idp.py`, on 127.0.0.1) issued through the authorization-code
flow to people in the stack's groups.

Each token is first verified as a relying party does (signature against the provider's JWKS,
issuer, audience: PyJWT); its claims then go through the settings as the render of the committed
stack holds them (never the values builders' dicts):
- Argo CD: `policy.csv`, `policy.default` and `scopes` of the rendered argocd-rbac-cm, through
  pycasbin with Argo CD's model and built-in roles (argoproj/argo-cd v3.4.4 assets/model.conf and
  assets/builtin-policy.csv, restated below) and Argo CD's claims enforcement (the subject, then
  each group of the `scopes` claims that a `g,` line names: server/rbacpolicy/rbacpolicy.go
  EnforceClaims); glob matching as util/glob (gobwas/glob without separators);
- Grafana: `role_attribute_path` of the rendered grafana.ini, with the JMESPath library (Grafana
  evaluates it with JMESPath on the token's claims), and `role_attribute_strict`;
- Harbor: the bootstrap Job's admin group and group -> project role settings, as Harbor applies
  them to the groups claim at sign-in;
- oauth2-proxy: the `--allowed-group` flags of the rendered Deployment, as its Authorize does
  (oauth2-proxy/oauth2-proxy v7.15.3 providers/provider_default.go: any session group among them);
- Kubernetes: the claim mappings of the API-server configuration the docs give
  (`kubectl.authentication_configuration`, prefix `oidc:`) applied to the token, matched against
  the rendered ClusterRoleBindings and RoleBindings the program creates.
Right group -> the expected role; no platform group -> nothing anywhere; a token from another
issuer, or for another client, is refused before any of that.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import casbin  # type: ignore[import-untyped]
import jmespath
import jwt
import pytest
import yaml

from components.config import parse_platform_config
from components.tools import kubectl, oauth2_proxy
from components.tools.kube_prometheus_stack import grafana_role_path
from tests.engines.idp import OidcProvider, oidc_provider
from tests.harness import rendered, stack_config

# Ref: argoproj/argo-cd v3.4.4 assets/model.conf
ARGOCD_MODEL = """
[request_definition]
r = sub, res, act, obj
[policy_definition]
p = sub, res, act, obj, eft
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
[matchers]
m = g(r.sub, p.sub) && globOrRegexMatch(r.res, p.res) && globOrRegexMatch(r.act, p.act) \
&& globOrRegexMatch(r.obj, p.obj)
"""
# the built-in roles' lines that the checks below touch (argoproj/argo-cd v3.4.4
# assets/builtin-policy.csv; Argo CD always loads them under the configured policy)
ARGOCD_BUILTIN = """
p, role:readonly, applications, get, */*, allow
p, role:readonly, projects, get, *, allow
p, role:readonly, logs, get, */*, allow
p, role:admin, applications, sync, */*, allow
p, role:admin, applications, delete, */*, allow
p, role:admin, applications, action/*, */*, allow
p, role:admin, clusters, create, *, allow
p, role:admin, projects, update, *, allow
p, role:admin, exec, create, */*, allow
g, role:admin, role:readonly
"""

# test people -> their groups at the provider (the stack's group names, filled in below)
PEOPLE = {
    "alice": ["admins"], "dave": ["developers"], "vera": ["viewers"],
    "ada": ["viewers", "admins"], "carol": [], "mallory": ["unrelated"],
}
CLIENTS = ("argocd", "grafana", "proxy", "kubernetes")


@dataclass(frozen=True)
class Tokens:
    idp: OidcProvider
    other: OidcProvider  # another issuer, same people
    raw: dict[tuple[str, str], str]  # (person, client) -> ID token
    client_ids: dict[str, str]

    def claims(self, person: str, client: str) -> dict[str, Any]:
        """The person's verified claims, as the client's relying party accepts them."""
        return verify(self.raw[(person, client)], self.idp, self.client_ids[client])


def verify(token: str, idp: OidcProvider, audience: str) -> dict[str, Any]:
    """Signature by a key of `idp`'s JWKS, issuer `idp.issuer`, audience, expiry (PyJWT)."""
    kid = jwt.get_unverified_header(token).get("kid")
    keys = {key["kid"]: key for key in idp.jwks()["keys"]}
    if kid not in keys:
        raise jwt.InvalidSignatureError(f"no key {kid!r} in the issuer's JWKS")
    key = jwt.PyJWK.from_dict(keys[kid])
    return dict(jwt.decode(token, key, algorithms=["RS256"], audience=audience,
                           issuer=idp.issuer))


@pytest.fixture(scope="module")
def stg() -> Any:
    return rendered("stg")


@pytest.fixture(scope="module")
def groups(stg: Any) -> dict[str, list[str]]:
    """The stack's group names for each test person."""
    identity = stg.cfg.identity
    named = {role: list(getattr(identity.groups, role)) for role in
             ("admins", "developers", "viewers")}
    return {person: [g for role in roles for g in named.get(role, [role])]
            for person, roles in PEOPLE.items()}


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory, groups: dict[str, list[str]],
           stg: Any) -> Iterator[Tokens]:
    root = tmp_path_factory.mktemp("idp")
    claim = stg.cfg.identity.groups_claim
    with oidc_provider(root / "one", groups, groups_claim=claim) as idp, \
            oidc_provider(root / "two", groups, groups_claim=claim) as other:
        client_ids, raw = {}, {}
        for name in CLIENTS:
            client = idp.client(name, [f"https://{name}.stg.plate.dev/callback"])
            client_ids[name] = client.client_id
            for person in PEOPLE:
                raw[(person, name)] = idp.id_token(person, client.client_id)
        foreign = other.client("argocd", ["https://argocd.stg.plate.dev/callback"])
        raw[("alice", "foreign")] = other.id_token("alice", foreign.client_id)
        client_ids["foreign"] = foreign.client_id
        yield Tokens(idp, other, raw, client_ids)


def _obj(stg: Any, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o.body for o in stg.objects if o.kind == kind and o.name == name]
    return dict(found)


# ---- the tokens themselves --------------------------------------------------------------------


def test_tokens_carry_the_groups_and_verify_against_the_issuer(tokens: Tokens,
                                                                groups: dict[str, list[str]]):
    assert tokens.idp.discovery()["issuer"] == tokens.idp.issuer
    for person, expected in groups.items():
        claims = tokens.claims(person, "argocd")
        assert sorted(claims.get("groups") or []) == sorted(expected), person
        assert claims["email"] == f"{person}@example.test"


def test_a_token_from_another_issuer_is_refused(tokens: Tokens):
    foreign = tokens.raw[("alice", "foreign")]
    # the other provider's key is not in the configured issuer's JWKS
    with pytest.raises(jwt.InvalidSignatureError):
        verify(foreign, tokens.idp, tokens.client_ids["argocd"])
    # and were its keys trusted, its `iss` is still not the configured issuer
    kid = jwt.get_unverified_header(foreign)["kid"]
    (key,) = [k for k in tokens.other.jwks()["keys"] if k["kid"] == kid]
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(foreign, jwt.PyJWK.from_dict(key), algorithms=["RS256"],
                   audience=tokens.client_ids["foreign"], issuer=tokens.idp.issuer)


def test_a_token_for_another_client_is_refused(tokens: Tokens):
    with pytest.raises(jwt.InvalidAudienceError):
        verify(tokens.raw[("alice", "grafana")], tokens.idp, tokens.client_ids["argocd"])


# ---- Argo CD ------------------------------------------------------------------------------------


def _glob(value: str, pattern: str) -> bool:
    """util/glob.Match without separators: `*` also matches `/`."""
    return fnmatch.fnmatchcase(value, pattern)


class ArgoCD:
    """Argo CD's RBAC decision for a signed-in person (claims)."""

    def __init__(self, rbac_cm: dict[str, Any]):
        data = rbac_cm["data"]
        model = casbin.model.Model()
        model.load_model_from_text(ARGOCD_MODEL)
        self.enforcer = casbin.Enforcer(model)
        self.enforcer.add_function("globOrRegexMatch", _glob)
        for line in (ARGOCD_BUILTIN + data["policy.csv"]).splitlines():
            fields = [f.strip() for f in line.split(",")]
            if fields[0] == "p":
                self.enforcer.add_policy(*fields[1:])
            elif fields[0] == "g":
                self.enforcer.add_grouping_policy(*fields[1:])
        self.default = data["policy.default"]
        self.scopes = yaml.safe_load(data["scopes"])
        self.grouped = {g[0] for g in self.enforcer.get_grouping_policy()}

    def allows(self, claims: dict[str, Any], resource: str, action: str, obj: str) -> bool:
        if self.default and self.enforcer.enforce(self.default, resource, action, obj):
            return True
        if self.enforcer.enforce(claims["sub"], resource, action, obj):
            return True
        groups = [g for scope in self.scopes for g in (claims.get(scope) or [])]
        return any(self.enforcer.enforce(g, resource, action, obj)
                   for g in groups if g in self.grouped)


CHECKS = [  # (resource, action, object)
    ("applications", "get", "plate-stg/plate-web"),
    ("logs", "get", "plate-stg/plate-web"),
    ("applications", "sync", "plate-stg/plate-web"),
    ("applications", "action/apps/Deployment/restart", "plate-stg/plate-web"),
    ("applications", "sync", "plate-stg-bootstrap/plate-stg-apps"),
    ("applications", "delete", "plate-stg/plate-web"),
    ("exec", "create", "plate-stg/plate-web"),
    ("clusters", "create", "https://kubernetes.default.svc"),
]


def test_argocd_grants_each_group_its_role(tokens: Tokens, stg: Any):
    argocd = ArgoCD(_obj(stg, "ConfigMap", "argocd-rbac-cm"))
    assert argocd.default == ""  # nobody gets anything by default

    def allowed(person: str) -> list[bool]:
        claims = tokens.claims(person, "argocd")
        return [argocd.allows(claims, *check) for check in CHECKS]

    assert allowed("alice") == [True] * 8
    assert allowed("ada") == [True] * 8  # viewer and admin: the larger role
    # developers: read, sync and act on the apps of plate-stg, not its bootstrap project
    assert allowed("dave") == [True, True, True, True, False, False, False, False]
    # viewers: read only
    assert allowed("vera") == [True, True, False, False, False, False, False, False]
    assert allowed("carol") == [False] * 8
    assert allowed("mallory") == [False] * 8


def test_argocd_local_admin_is_off_and_sso_points_at_the_issuer(stg: Any):
    cm = _obj(stg, "ConfigMap", "argocd-cm")["data"]
    assert cm["admin.enabled"] == "false"
    oidc = yaml.safe_load(cm["oidc.config"])
    identity = stg.cfg.identity
    assert oidc["issuer"] == identity.issuer
    assert oidc["clientID"] == identity.clients.argocd
    # a reference, resolved by Argo CD from a Secret it may read (label part-of: argocd)
    assert oidc["clientSecret"] == "$argocd-oidc:clientSecret"
    secret = _obj(stg, "Secret", "argocd-oidc")
    assert secret["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    assert set(secret["stringData"]) == {"clientSecret"}
    assert oidc["requestedIDTokenClaims"] == {identity.groups_claim: {"essential": True}}


# ---- Grafana ------------------------------------------------------------------------------------


def _grafana_ini(stg: Any) -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(_obj(stg, "ConfigMap", "kube-prometheus-stack-grafana")["data"]["grafana.ini"])
    return ini


def test_grafana_maps_groups_to_roles_and_refuses_the_rest(tokens: Tokens, stg: Any):
    oauth = _grafana_ini(stg)["auth.generic_oauth"]
    assert oauth["role_attribute_strict"] == "true"  # no role: no sign-in
    path = oauth["role_attribute_path"]
    roles = {p: jmespath.search(path, tokens.claims(p, "grafana")) for p in PEOPLE}
    assert roles == {"alice": "Admin", "ada": "Admin", "dave": "Editor", "vera": "Viewer",
                     "carol": None, "mallory": None}
    # a provider that leaves the claim out: no groups, not an error
    claims = tokens.claims("alice", "grafana")
    del claims[stg.cfg.identity.groups_claim]
    assert jmespath.search(path, claims) is None


def test_grafana_reads_its_secret_from_the_environment_and_hides_the_login_form(stg: Any):
    ini = _grafana_ini(stg)
    assert ini["auth"]["disable_login_form"] == "true"
    oauth = ini["auth.generic_oauth"]
    assert oauth["client_secret"] == "$__env{PLATE_OIDC_CLIENT_SECRET}"
    endpoints = stg.cfg.identity.endpoints
    assert (oauth["auth_url"], oauth["token_url"], oauth["api_url"]) == (
        endpoints.authorization, endpoints.token, endpoints.userinfo)
    assert ini["server"]["root_url"] == "https://grafana.stg.plate.dev/"
    deployment = _obj(stg, "Deployment", "kube-prometheus-stack-grafana")
    (grafana,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                  if c["name"] == "grafana"]
    (env,) = [e for e in grafana["env"] if e["name"] == "PLATE_OIDC_CLIENT_SECRET"]
    assert env["valueFrom"] == {"secretKeyRef": {"name": "grafana-oidc", "key": "client-secret"}}


def test_grafana_role_path_quotes_odd_group_names():
    raw = json.loads(json.dumps(stack_config("stg")))
    raw["identity"]["groups"] = {"admins": ["o'brien\\ops"], "developers": ["dev `team`"]}
    raw["identity"]["groups_claim"] = "https://plate.dev/groups"
    identity = parse_platform_config(raw).identity
    assert identity is not None
    path = grafana_role_path(identity)
    assert jmespath.search(path, {"https://plate.dev/groups": ["o'brien\\ops"]}) == "Admin"
    assert jmespath.search(path, {"https://plate.dev/groups": ["dev `team`"]}) == "Editor"
    assert jmespath.search(path, {"https://plate.dev/groups": ["o'brien"]}) is None


# ---- Harbor ----------------------------------------------------------------------------------


def test_harbor_gives_each_group_its_project_role(tokens: Tokens, stg: Any):
    """The bootstrap Job's OIDC settings (rendered), as Harbor applies them at sign-in: system
    administrator when the groups claim names the admin group (goharbor/harbor v2.15.1
    src/pkg/oidc/helper.go, AdminGroupMember); in project `plate` the roles of the member groups
    the claim names (the bootstrap makes them members:
    tests/operations/test_harbor_bootstrap.py)."""
    job = _obj(stg, "Job", "harbor-bootstrap")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    members = json.loads(env["OIDC_PROJECT_GROUPS"])

    def harbor(person: str) -> tuple[bool, set[str]]:
        groups = tokens.claims(person, "argocd").get(env["OIDC_GROUPS_CLAIM"]) or []
        return env["OIDC_ADMIN_GROUP"] in groups, {members[g] for g in groups if g in members}

    assert {p: harbor(p) for p in PEOPLE} == {
        "alice": (True, {"projectAdmin"}), "ada": (True, {"projectAdmin", "guest"}),
        "dave": (False, {"developer"}), "vera": (False, {"guest"}),
        "carol": (False, set()), "mallory": (False, set()),
    }
    assert env["OIDC_ENDPOINT"] == stg.cfg.identity.issuer


# ---- Prometheus and Alertmanager (oauth2-proxy) ------------------------------------------------


def test_only_admins_and_developers_pass_the_sign_in_proxy(tokens: Tokens, stg: Any):
    deployment = _obj(stg, "Deployment", oauth2_proxy.NAME)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    allowed = {a.split("=", 1)[1] for a in args if a.startswith("--allowed-group=")}
    claim = next(a.split("=", 1)[1] for a in args if a.startswith("--oidc-groups-claim="))
    issuer = next(a.split("=", 1)[1] for a in args if a.startswith("--oidc-issuer-url="))
    assert issuer == stg.cfg.identity.issuer

    def passes(person: str) -> bool:  # ProviderData.Authorize
        return bool(allowed) and any(
            g in allowed for g in tokens.claims(person, "proxy").get(claim) or [])

    assert {p: passes(p) for p in PEOPLE} == {
        "alice": True, "ada": True, "dave": True, "vera": False, "carol": False,
        "mallory": False}


def test_the_uis_are_reached_only_through_the_sign_in(stg: Any):
    middleware = _obj(stg, "Middleware", oauth2_proxy.NAME)
    auth = middleware["spec"]["forwardAuth"]
    assert auth["address"] == "http://oauth2-proxy.monitoring.svc:4180/"
    assert auth["trustForwardHeader"] is False
    service = _obj(stg, "Service", oauth2_proxy.NAME)
    assert service["spec"]["ports"][0]["port"] == 4180
    hosts = set()
    for ui in ("prometheus", "alertmanager"):
        ingress = _obj(stg, "Ingress", f"kube-prometheus-stack-{ui}")
        assert ingress["metadata"]["annotations"][
            "traefik.ingress.kubernetes.io/router.middlewares"] == \
            "monitoring-oauth2-proxy@kubernetescrd"
        (rule,) = ingress["spec"]["rules"]
        hosts.add(rule["host"])
    assert hosts == {"prometheus.stg.plate.dev", "alertmanager.stg.plate.dev"}
    # links in alerts and notifications point at the signed-in UIs
    for kind, host in (("Prometheus", "prometheus"), ("Alertmanager", "alertmanager")):
        spec = _obj(stg, kind, f"kube-prometheus-stack-{host}")["spec"]
        assert spec["externalUrl"] == f"https://{host}.stg.plate.dev/"
    callback = _obj(stg, "Ingress", "oauth2-proxy-callback")
    assert {r["host"] for r in callback["spec"]["rules"]} == hosts
    assert all(p["path"] == "/oauth2" and p["backend"]["service"]["name"] == oauth2_proxy.NAME
               for r in callback["spec"]["rules"] for p in r["http"]["paths"])
    # every Ingress into Prometheus or Alertmanager carries the Middleware
    for obj in stg.objects:
        if obj.kind != "Ingress":
            continue
        backends = {p["backend"]["service"]["name"] for r in obj.body["spec"]["rules"]
                    for p in r["http"]["paths"]}
        if backends & {"kube-prometheus-stack-prometheus", "kube-prometheus-stack-alertmanager"}:
            assert "monitoring-oauth2-proxy@kubernetescrd" in obj.body["metadata"][
                "annotations"]["traefik.ingress.kubernetes.io/router.middlewares"]


# ---- kubectl ------------------------------------------------------------------------------------


def _kubernetes_user(claims: dict[str, Any], config: dict[str, Any]) -> tuple[str, list[str]]:
    """The user the API server makes of verified claims (claimMappings with their prefixes)."""
    mappings = config["jwt"][0]["claimMappings"]
    user = mappings["username"]["prefix"] + claims[mappings["username"]["claim"]]
    groups = [mappings["groups"]["prefix"] + g for g in claims.get(mappings["groups"]["claim"])
              or []]
    return user, [*groups, "system:authenticated"]


def _roles(stg: Any, user: str, groups: list[str]) -> set[tuple[str, str]]:
    """(namespace or '*', role) of every rendered binding naming the user or a group."""
    found = set()
    for obj in stg.objects:
        if obj.kind not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        for s in obj.body.get("subjects") or []:
            if (s["kind"] == "User" and s["name"] == user) or (
                    s["kind"] == "Group" and s["name"] in groups):
                found.add((obj.body["metadata"].get("namespace", "*"),
                           obj.body["roleRef"]["name"]))
    return found


def test_kubectl_bindings_grant_each_group_its_role(tokens: Tokens, stg: Any):
    config = kubectl.authentication_configuration(stg.cfg.identity)
    assert config["jwt"][0]["issuer"] == {"url": stg.cfg.identity.issuer,
                                          "audiences": [stg.cfg.identity.clients.kubernetes]}

    def roles(person: str) -> set[tuple[str, str]]:
        return _roles(stg, *_kubernetes_user(tokens.claims(person, "kubernetes"), config))

    assert roles("alice") == {("*", "cluster-admin")}
    assert roles("ada") == {("*", "cluster-admin"), ("*", "view")}
    # developers look cluster-wide; in plate-stg they may only restart pods and port-forward
    # (no `edit`: it reads every app's Secrets and creates workloads no reviewer saw)
    assert roles("dave") == {("*", "view"), ("plate-stg", "plate-people-developers")}
    assert roles("vera") == {("*", "view")}
    assert roles("carol") == set()
    assert roles("mallory") == set()


def test_the_people_bindings_name_only_prefixed_groups(stg: Any):
    """A ServiceAccount, a certificate or another authenticator's group of the same name can
    never match: every subject of the program's people bindings carries the `oidc:` prefix."""
    people = [o.body for o in stg.objects
              if o.kind in ("ClusterRoleBinding", "RoleBinding")
              and o.name.startswith("plate-people-")]
    assert sorted(o["metadata"]["name"] for o in people) == [
        "plate-people-admins", "plate-people-developers", "plate-people-view"]
    assert all(s["kind"] == "Group" and s["name"].startswith("oidc:")
               for o in people for s in o["subjects"])
    flags = kubectl.api_server_flags(stg.cfg.identity)
    assert flags["oidc-username-prefix"] == flags["oidc-groups-prefix"] == kubectl.PREFIX


def test_the_docs_give_the_api_server_the_prefix_the_bindings_use():
    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for flag in ("--oidc-username-prefix=oidc:", "--oidc-groups-prefix=oidc:",
                 "oidc-username-prefix=oidc:", 'prefix: "oidc:"'):
        assert flag in text, flag
