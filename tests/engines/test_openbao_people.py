"""People sign in to OpenBao as themselves, and every identity gets only what it needs: checked
against a real OIDC provider (OpenBao's own identity provider, tests/engines/idp.py) and a real
OpenBao 2.6.2 self-initialised from `components.tools.openbao.server.init_config`.

Verifies:
1. every policy self-initialisation writes, as rendered in `init.hcl`: no `path "*"` (nor any path
   that is only a glob), none on sys/raw, sys/generate-root, sys/rekey, sys/seal, sys/unseal,
   sys/init, identity/oidc, auth/token/create; `sudo` only where OpenBao requires it; the exact
   capabilities of platform-admin, plate-developer, plate-viewer and an app's role;
2. the `oidc` auth method, as self-initialisation configures it (discovery from the issuer, the
   client secret read from a file, never written in `init.hcl`), through the real
   authorization-code flow: the relying OpenBao's `auth_url`, the provider's authorize endpoint as
   the person, the relying OpenBao's `callback` (which redeems the code at the provider's token
   endpoint with the client secret): an admin, a developer and a viewer get exactly their policy,
   and the audit trail's entity is named by the person's e-mail; the init's root token was
   revoked and no live token is root;
3. the policies do what they say with those real tokens (an admin cannot read sys/raw, create a
   token or a mount outside plate/ and platform/; a developer cannot overwrite the pull robot; a
   viewer reads no secret);
4. a person in none of the configured groups, or with no groups claim, is refused; a code issued
   by another provider is refused; an ID token of another issuer is refused (through a `jwt`
   role added by the test on the same mount: the mount's issuer and keys are the program's);
5. an app's role reads its own entry and its environment's pull robot and nothing else (another
   app's entry, another environment, writes, listings); its Kubernetes role is bound to the app's
   ServiceAccount in plate-<env>;
6. break-glass: with it, a userpass login `break-glass` gives platform-admin and its credentials
   are in `platform/break-glass/openbao`; without it (and without `identity`), no userpass or oidc
   method exists and people log in through the `platform-admin` Kubernetes role instead; with
   people's sign-in no Kubernetes role carries platform-admin;
7. the committed stacks' render: the init ConfigMap configures the stack's issuer and groups and
   holds no client secret; the Secret it reads exists; no platform-admin ServiceAccount; the
   public Ingress admits exactly `PUBLIC_PATHS` (and `/` exactly), none of which reaches sys/raw,
   sys/storage, sys/seal, sys/unseal, sys/init, sys/generate-root, sys/rekey, sys/policies,
   sys/mounts, auth/kubernetes, the break-glass login or identity/.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import names
from components.tools import openbao as openbao_tool
from components.tools.openbao import server as openbao
from tests.engines.idp import OidcProvider, claims, oidc_provider
from tests.engines.test_openbao import (
    TEST_CA,
    BaoServer,
    _api,
    _approle_requests,
    client_context,
)
from tests.harness import STACKS, rendered

ENVIRONMENTS = ("stg", "prod")
APPS = ("plate-web", "plate-api")
PEOPLE = {
    "alice": ["platform-admins"],
    "dave": ["plate-devs", "unrelated"],
    "vera": ["plate-viewers"],
    "carol": [],  # in no group: the provider sends `groups: null`
    "eve": ["unrelated"],
}
UI_REDIRECT = "https://bao.example.test/ui/vault/auth/oidc/oidc/callback"
TEST_JWT_ROLE = "test-jwt"  # added by the test only, to present ID tokens directly
APP_ROLE = names.app_secret_role("stg", "plate-api")


# 1 ------------------------------------------------------------------------------------------------

def _rendered_policies(text: str) -> dict[str, list[tuple[str, list[str]]]]:
    """The policies of an init.hcl, parsed from the HCL it renders (name -> [(path, caps)])."""
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for name, body in re.findall(
            r'request "policy-([^"]+)" \{\n.*?policy = <<-EOT\n(.*?)EOT', text, re.DOTALL):
        found[name] = [(path, json.loads(caps)) for path, caps in re.findall(
            r'path "([^"]+)" \{\n\s*capabilities = (\[[^\]]*\])\n\s*\}', body)]
    return found


def _people(secret_file: str, **overrides: Any) -> openbao.PeopleLogin:
    fields: dict[str, Any] = {
        "issuer": "https://idp.example.test", "client_id": "openbao",
        "client_secret_file": secret_file,
        "redirect_uris": (UI_REDIRECT, openbao_tool.CLI_REDIRECT_URI),
        "admins": ("platform-admins",), "developers": ("plate-devs",),
        "viewers": ("plate-viewers",),
    }
    return openbao.PeopleLogin(**{**fields, **overrides})


ADMIN_RULES = [
    ("sys/policies/acl", ["list"]),
    ("sys/policies/acl/*", ["create", "read", "update", "delete", "list"]),
    ("sys/auth", ["read"]),
    ("sys/auth/*", ["create", "read", "update", "delete", "sudo"]),
    ("auth/kubernetes/*", ["create", "read", "update", "delete", "list"]),
    ("auth/oidc/*", ["create", "read", "update", "delete", "list"]),
    ("auth/break-glass/*", ["create", "read", "update", "delete", "list"]),
    ("identity/entity", ["create", "update"]),
    ("identity/entity/*", ["create", "read", "update", "delete", "list"]),
    ("identity/entity-alias", ["create", "update"]),
    ("identity/entity-alias/*", ["create", "read", "update", "delete", "list"]),
    ("identity/group", ["create", "update"]),
    ("identity/group/*", ["create", "read", "update", "delete", "list"]),
    ("identity/group-alias", ["create", "update"]),
    ("identity/group-alias/*", ["create", "read", "update", "delete", "list"]),
    ("identity/lookup/*", ["update"]),
    ("auth/token/accessors", ["list", "sudo"]),
    ("auth/token/lookup", ["update"]),
    ("auth/token/lookup-accessor", ["update"]),
    ("auth/token/revoke-accessor", ["update"]),
    ("sys/mounts", ["read"]),
    ("sys/mounts/plate", ["create", "read", "update"]),
    ("sys/mounts/platform", ["create", "read", "update"]),
    ("sys/mounts/plate/tune", ["read", "update"]),
    ("sys/mounts/platform/tune", ["read", "update"]),
    ("plate/*", ["create", "read", "update", "patch", "delete", "list"]),
    ("platform/*", ["create", "read", "update", "patch", "delete", "list"]),
    ("sys/storage/raft/configuration", ["read"]),
    ("sys/storage/raft/autopilot/state", ["read"]),
    ("sys/storage/raft/autopilot/configuration", ["read", "update"]),
    ("sys/storage/raft/remove-peer", ["update"]),
    ("sys/storage/raft/snapshot", ["read", "update"]),
    ("sys/storage/raft/snapshot-force", ["update"]),
    ("sys/audit", ["read", "sudo"]),
]
# paths no policy may name (their prefixes either): what only root, or nobody, should do
FORBIDDEN = ("sys/raw", "sys/generate-root", "sys/rekey", "sys/seal", "sys/unseal", "sys/init",
             "sys/config", "sys/plugins", "sys/replication", "identity/oidc", "auth/token/create",
             "sys/step-down", "sys/rotate")


def test_every_policy_is_scoped_and_grants_exactly_its_capabilities(tmp_path: Path) -> None:
    text = openbao.init_config(environments=ENVIRONMENTS, apps=APPS,
                               people=_people("/s/oidc-client-secret"))
    rendered_ = _rendered_policies(text)
    expected_names = {
        "eso-stg", "eso-prod", "harbor-bootstrap", "platform-admin", "plate-developer",
        "plate-viewer", "raft-snapshot", "break-glass-escrow", openbao.SELF_INIT_DONE_POLICY,
        *(names.app_secret_role(env, app) for env in ENVIRONMENTS for app in APPS),
    }
    assert set(rendered_) == expected_names
    # what init.hcl renders is what `policies()` says (the test's other checks read the latter)
    assert {k: v for k, v in rendered_.items() if k != openbao.SELF_INIT_DONE_POLICY} == {
        name: [(path, list(caps)) for path, caps in rules]
        for name, rules in openbao.policies(ENVIRONMENTS, APPS).items()}
    for name, rules in rendered_.items():
        for path, caps in rules:
            assert path.strip("*+/") != "", (name, path)  # nothing that is only a glob
            assert not path.startswith(FORBIDDEN), (name, path)
            if "sudo" in caps:  # only where OpenBao requires it, and only for administrators
                assert (name, path) in {("platform-admin", "sys/auth/*"),
                                        ("platform-admin", "auth/token/accessors"),
                                        ("platform-admin", "sys/audit")}
    assert rendered_["platform-admin"] == ADMIN_RULES
    assert rendered_["plate-developer"] == [
        ("plate/data/*", ["create", "read", "update", "patch", "delete"]),
        ("plate/metadata/*", ["read", "list"]),
        ("plate/data/+/harbor-pull", ["read"]),
    ]
    assert rendered_["plate-viewer"] == [("plate/metadata/*", ["read", "list"])]
    assert rendered_[APP_ROLE] == [("plate/data/stg/plate-api", ["read"]),
                                   ("plate/data/stg/harbor-pull", ["read"])]
    assert rendered_["raft-snapshot"] == [("sys/storage/raft/snapshot", ["read"])]
    assert rendered_["break-glass-escrow"] == [
        (f"platform/data/break-glass/{tool}", ["create", "update"])
        for tool in ("argocd", "grafana", "harbor")]
    assert rendered_["eso-stg"] == [("plate/data/stg/*", ["read"]),
                                    ("plate/metadata/stg/*", ["read", "list"])]


def test_the_names_of_app_roles_are_stable_and_checked() -> None:
    assert names.app_secret_role("stg", "plate-api") == "app-stg-plate-api"
    assert names.app_service_account("plate-api") == "plate-api"
    for env, app in (("stg", "harbor-pull"), ("Stg", "plate-api"), ("stg", "a/b")):
        with pytest.raises(ValueError):
            names.app_secret_role(env, app)
    with pytest.raises(ValueError, match="admins"):
        openbao.init_config(environments=["stg"], people=_people("/s/x", admins=()))
    with pytest.raises(ValueError, match="my secret"):
        openbao.init_config(environments=["stg"], people=_people("/s/my secret"))


# 2-6: the real provider and the real OpenBao ----------------------------------------------------

class PeopleServer(BaoServer):
    """A BaoServer whose init.hcl is the one given (test approle logins included)."""

    def __init__(self, root: Path, init_text: str) -> None:
        super().__init__(root)
        self.init_text = init_text

    def _write_config(self) -> Path:
        config = super()._write_config()
        (config / "init.hcl").write_text(self.init_text)
        return config


def _jwt_role_request(idp_client_id: str) -> str:
    """Test only: a `jwt` role on the program's oidc mount, bound like its `default` role, so
    that an ID token can be presented directly (`auth/oidc/login`)."""
    return (
        f'  request "test-jwt-role" {{\n    operation = "update"\n'
        f'    path = "auth/oidc/role/{TEST_JWT_ROLE}"\n    data = {{\n'
        f'      role_type = "jwt"\n      user_claim = "email"\n      groups_claim = "groups"\n'
        f'      bound_audiences = ["{idp_client_id}"]\n'
        f'      bound_claims = {{\n        groups = ["plate-devs", "plate-viewers", '
        f'"platform-admins"]\n      }}\n    }}\n  }}\n')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The provider, another provider, OpenBao with people's sign-in and break-glass, and
    OpenBao without `identity`."""
    root = tmp_path_factory.mktemp("people")
    with oidc_provider(root / "idp", PEOPLE) as idp, \
            oidc_provider(root / "other-idp", PEOPLE) as other:
        client = idp.client("openbao", [UI_REDIRECT, openbao_tool.CLI_REDIRECT_URI])
        other.client("openbao", [UI_REDIRECT, openbao_tool.CLI_REDIRECT_URI])
        secrets_dir = root / "identity-secret"
        secrets_dir.mkdir()
        (secrets_dir / "oidc-client-secret").write_text(client.client_secret)
        (secrets_dir / "break-glass-password").write_text("correct horse battery staple")
        people = _people(str(secrets_dir / "oidc-client-secret"), issuer=idp.issuer,
                         client_id=client.client_id,
                         break_glass_password_file=str(secrets_dir / "break-glass-password"))
        common = {"environments": ENVIRONMENTS, "apps": APPS,
                  "kubernetes_host": "https://127.0.0.1:6443",
                  "extra_kubernetes_config": {"kubernetes_ca_cert": TEST_CA,
                                              "disable_local_ca_jwt": "true"}}
        tests_roles = ("platform-admin", APP_ROLE)
        with_people = openbao.init_config(
            **common, people=people,  # type: ignore[arg-type]
            extra_requests=_approle_requests(tests_roles) + _jwt_role_request(client.client_id))
        without = openbao.init_config(
            **common, extra_requests=_approle_requests(tests_roles))  # type: ignore[arg-type]
        servers = {"people": PeopleServer(root / "bao-people", with_people),
                   "plain": PeopleServer(root / "bao-plain", without)}
        try:
            for server in servers.values():
                server.start()
            yield {"idp": idp, "other": other, "client": client, "init": with_people,
                   **servers}
        finally:
            for server in servers.values():
                server.stop()


@pytest.fixture
def bao(world: dict[str, Any]) -> PeopleServer:
    server: PeopleServer = world["people"]
    server.wait_active()
    return server


def _sign_in(bao: BaoServer, idp: OidcProvider, user: str,
             code_from: OidcProvider | None = None) -> tuple[int, dict[str, Any]]:
    """The oidc method's login, as the CLI does it, with `user` at the provider: auth_url ->
    the provider's authorize endpoint -> callback (OpenBao redeems the code itself)."""
    status, body = _api(bao.addr, "POST", f"auth/{openbao.PEOPLE_AUTH_PATH}/oidc/auth_url",
                        data={"role": openbao.PEOPLE_ROLE,
                              "redirect_uri": openbao_tool.CLI_REDIRECT_URI})
    assert status == 200, body
    url = urllib.parse.urlsplit(body["data"]["auth_url"])
    params = dict(urllib.parse.parse_qsl(url.query))
    assert url.geturl().startswith(idp.addr)
    assert params["client_id"] == idp.clients["openbao"].client_id
    assert set(params["scope"].split()) == {"openid", "profile", "email", "groups"}
    provider = code_from or idp
    client_id = provider.clients["openbao"].client_id
    code = provider.authorize(user, client_id, redirect_uri=params["redirect_uri"],
                              scope=params["scope"], state=params["state"],
                              nonce=params["nonce"],
                              extra={k: v for k, v in params.items() if k.startswith("code_")})
    query = urllib.parse.urlencode({"state": params["state"], "code": code})
    return _api(bao.addr, "GET", f"auth/{openbao.PEOPLE_AUTH_PATH}/oidc/callback?{query}")


def _login(bao: BaoServer, idp: OidcProvider, user: str) -> tuple[str, dict[str, Any]]:
    status, body = _sign_in(bao, idp, user)
    assert status == 200, body
    return body["auth"]["client_token"], body["auth"]


def test_the_client_secret_is_read_from_its_file_never_written_in_the_init(
        world: dict[str, Any]) -> None:
    assert world["client"].client_secret not in world["init"]
    assert "correct horse" not in world["init"]
    bao = world["people"]
    bao.wait_active()
    admin = bao.login("platform-admin")
    config = _api(bao.addr, "GET", "auth/oidc/config", admin)[1]["data"]
    assert (config["oidc_discovery_url"], config["oidc_client_id"], config["default_role"]) == (
        world["idp"].issuer, world["client"].client_id, "default")
    assert "oidc_client_secret" not in config  # OpenBao never returns it
    # the init ran as a root token that it then revoked; no live token is root
    assert bao.audited_requests("auth/token/revoke-self") == 1
    accessors = _api(bao.addr, "LIST", "auth/token/accessors", admin)[1]["data"]["keys"]
    for accessor in accessors:
        token = _api(bao.addr, "POST", "auth/token/lookup-accessor", admin,
                     {"accessor": accessor})[1]["data"]
        assert "root" not in token["policies"]


@pytest.mark.parametrize(("user", "policy"), [
    ("alice", "platform-admin"), ("dave", "plate-developer"), ("vera", "plate-viewer")])
def test_a_person_signs_in_and_gets_exactly_their_groups_policy(
        bao: PeopleServer, world: dict[str, Any], user: str, policy: str) -> None:
    token, auth = _login(bao, world["idp"], user)
    assert auth["token_policies"] == ["default"]
    assert auth["identity_policies"] == [policy]
    assert sorted(auth["policies"]) == sorted(["default", policy])
    assert auth["lease_duration"] == 3600
    me = _api(bao.addr, "GET", "auth/token/lookup-self", token)[1]["data"]
    assert me["display_name"] == f"oidc-{user}@example.test"
    admin = bao.login("platform-admin")
    entity = _api(bao.addr, "GET", f"identity/entity/id/{me['entity_id']}", admin)[1]["data"]
    assert [a["name"] for a in entity["aliases"]] == [f"{user}@example.test"]


def test_the_policies_hold_with_real_sign_ins(bao: PeopleServer, world: dict[str, Any]) -> None:
    idp = world["idp"]
    admin, _ = _login(bao, idp, "alice")
    for method, path, data, status in (
            ("POST", "plate/data/stg/plate-api", {"data": {"k": "v"}}, 200),
            ("POST", "platform/data/harbor/ci-push", {"data": {"k": "v"}}, 200),
            ("POST", "sys/policies/acl/scratch", {"policy": 'path "plate/x" {}'}, 204),
            ("LIST", "auth/token/accessors", None, 200),
            ("GET", "sys/storage/raft/configuration", None, 200),
            ("GET", "sys/audit", None, 200),
            ("POST", "sys/mounts/plate/tune", {"max_versions": 20}, 204),
            ("POST", "sys/mounts/scratch", {"type": "kv"}, 403),
            ("GET", "sys/raw/core/keyring", None, 403),
            ("POST", "auth/token/create", {"policies": ["platform-admin"]}, 403),
            ("GET", "sys/config/state/sanitized", None, 403),
            ("POST", "sys/auth/userpass", {"type": "userpass"}, 204),  # sudo: allowed
            ("DELETE", "sys/auth/userpass", None, 204),
            ("GET", "identity/oidc/key", None, 403),
            ("POST", "sys/seal", {}, 403),
    ):
        assert _api(bao.addr, method, path, admin, data)[0] == status, (method, path)
    developer, _ = _login(bao, idp, "dave")
    assert _api(bao.addr, "POST", "plate/data/prod/plate-web", developer,
                {"data": {"k": "v"}})[0] == 200
    assert _api(bao.addr, "GET", "plate/data/stg/plate-api", developer)[1]["data"]["data"] == {
        "k": "v"}
    assert _api(bao.addr, "LIST", "plate/metadata/stg", developer)[0] == 200
    assert _api(bao.addr, "POST", "plate/data/stg/harbor-pull", developer,
                {"data": {"password": "mine"}})[0] == 403
    assert _api(bao.addr, "GET", "platform/data/harbor/ci-push", developer)[0] == 403
    assert _api(bao.addr, "POST", "sys/policies/acl/x", developer, {"policy": ""})[0] == 403
    viewer, _ = _login(bao, idp, "vera")
    assert _api(bao.addr, "LIST", "plate/metadata/stg", viewer)[0] == 200
    assert _api(bao.addr, "GET", "plate/metadata/stg/plate-api", viewer)[0] == 200
    assert _api(bao.addr, "GET", "plate/data/stg/plate-api", viewer)[0] == 403
    assert _api(bao.addr, "POST", "plate/data/stg/x", viewer, {"data": {}})[0] == 403


@pytest.mark.parametrize("user", ["carol", "eve"])
def test_a_person_in_no_configured_group_is_refused(
        bao: PeopleServer, world: dict[str, Any], user: str) -> None:
    assert claims(world["idp"].id_token(user, world["client"].client_id)).get("groups") == (
        PEOPLE[user] or None)
    status, body = _sign_in(bao, world["idp"], user)
    assert status in (400, 403), body
    assert "auth" not in body or body["auth"] is None
    assert re.search(r"claim|groups", " ".join(body.get("errors", []))), body


def test_another_providers_code_and_tokens_are_refused(
        bao: PeopleServer, world: dict[str, Any]) -> None:
    idp, other = world["idp"], world["other"]
    # a code the other provider issued to alice, replayed into a sign-in with ours
    status, body = _sign_in(bao, idp, "alice", code_from=other)
    assert status in (400, 403), body
    assert "auth" not in body or body["auth"] is None
    # ID tokens presented directly (the test's jwt role on the program's mount)
    ours = idp.id_token("alice", idp.clients["openbao"].client_id)
    status, body = _api(bao.addr, "POST", "auth/oidc/login",
                        data={"role": TEST_JWT_ROLE, "jwt": ours})
    assert status == 200, body
    assert body["auth"]["identity_policies"] == ["platform-admin"]
    theirs = other.id_token("alice", other.clients["openbao"].client_id)
    status, body = _api(bao.addr, "POST", "auth/oidc/login",
                        data={"role": TEST_JWT_ROLE, "jwt": theirs})
    assert status == 400, body
    assert "auth" not in body or body["auth"] is None


def test_an_app_reads_only_its_own_entry_and_its_pull_robot(bao: PeopleServer) -> None:
    admin = bao.login("platform-admin")
    for path in ("plate/data/stg/plate-api", "plate/data/stg/plate-web",
                 "plate/data/stg/harbor-pull", "plate/data/prod/plate-api"):
        assert _api(bao.addr, "POST", path, admin, {"data": {"at": path}})[0] == 200
    app = bao.login(APP_ROLE)
    assert _api(bao.addr, "GET", "plate/data/stg/plate-api", app)[1]["data"]["data"] == {
        "at": "plate/data/stg/plate-api"}
    assert _api(bao.addr, "GET", "plate/data/stg/harbor-pull", app)[0] == 200
    for method, path in (("GET", "plate/data/stg/plate-web"), ("GET", "plate/data/prod/plate-api"),
                         ("GET", "plate/data/prod/harbor-pull"), ("LIST", "plate/metadata/stg"),
                         ("GET", "plate/metadata/stg/plate-api"),
                         ("GET", "platform/data/harbor/ci-push")):
        assert _api(bao.addr, method, path, app)[0] == 403, path
    assert _api(bao.addr, "POST", "plate/data/stg/plate-api", app, {"data": {}})[0] == 403
    role = _api(bao.addr, "GET", f"auth/kubernetes/role/{APP_ROLE}", admin)[1]["data"]
    assert (role["bound_service_account_names"], role["bound_service_account_namespaces"],
            role["token_policies"], role["token_ttl"]) == (
        ["plate-api"], ["plate-stg"], [APP_ROLE], 600)
    roles = _api(bao.addr, "LIST", "auth/kubernetes/role", admin)[1]["data"]["keys"]
    assert sorted(roles) == sorted([
        "eso-stg", "eso-prod", "harbor-bootstrap", "raft-snapshot", "break-glass-escrow",
        *(names.app_secret_role(env, a) for env in ENVIRONMENTS for a in APPS)])


def test_break_glass_logs_in_as_platform_admin_and_its_credentials_are_in_openbao(
        bao: PeopleServer) -> None:
    status, body = _api(bao.addr, "POST", "auth/break-glass/login/break-glass",
                        data={"password": "correct horse battery staple"})
    assert status == 200, body
    assert sorted(body["auth"]["policies"]) == ["default", "platform-admin"]
    token = body["auth"]["client_token"]
    stored = _api(bao.addr, "GET", "platform/data/break-glass/openbao", token)[1]["data"]["data"]
    assert stored == {"username": "break-glass", "password": "correct horse battery staple",
                      "auth_path": "break-glass"}
    assert _api(bao.addr, "POST", "auth/break-glass/login/break-glass",
                data={"password": "wrong"})[0] == 400
    methods = _api(bao.addr, "GET", "sys/auth", token)[1]["data"]
    assert {k: v["type"] for k, v in methods.items() if k.endswith("/")} == {
        "approle/": "approle", "break-glass/": "userpass", "kubernetes/": "kubernetes",
        "oidc/": "oidc", "token/": "token"}


def _login_from(addr: str, source: str, password: str) -> int:
    """A break-glass login sent from the local address `source` (the server listens on
    127.0.0.1; Linux routes all of 127/8 to loopback, so 127.0.0.2 is "another machine" to it)."""
    url = urllib.parse.urlsplit(addr)
    connection = http.client.HTTPSConnection(
        url.hostname, url.port, source_address=(source, 0), context=client_context(), timeout=5
    )
    try:
        connection.request("POST", "/v1/auth/break-glass/login/break-glass",
                           body=json.dumps({"password": password}),
                           headers={"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_break_glass_logs_in_only_from_inside_the_pod(bao: PeopleServer) -> None:
    """`kubectl port-forward` connects from the pod's own loopback; a login from any other
    address (Traefik, another pod) is refused even with the right password, and so is the
    token's use (token_bound_cidrs)."""
    password = "correct horse battery staple"
    assert _login_from(bao.addr, "127.0.0.1", password) == 200
    assert _login_from(bao.addr, "127.0.0.2", password) == 403
    user = _api(bao.addr, "GET", "auth/break-glass/users/break-glass",
                bao.login("platform-admin"))[1]["data"]
    # OpenBao stores single-address blocks without their prefix length
    assert user["token_bound_cidrs"] == ["127.0.0.1", "::1"] == [
        cidr.split("/")[0] for cidr in openbao.BREAK_GLASS_CIDRS]


def test_without_identity_there_is_no_password_login_and_people_use_the_kubernetes_role(
        world: dict[str, Any]) -> None:
    plain = world["plain"]
    plain.wait_active()
    admin = plain.login("platform-admin")
    methods = _api(plain.addr, "GET", "sys/auth", admin)[1]["data"]
    assert {k: v["type"] for k, v in methods.items() if k.endswith("/")} == {
        "approle/": "approle", "kubernetes/": "kubernetes", "token/": "token"}
    role = _api(plain.addr, "GET", "auth/kubernetes/role/platform-admin", admin)[1]["data"]
    assert (role["bound_service_account_names"], role["bound_service_account_namespaces"],
            role["token_policies"]) == (["platform-admin"], ["openbao"], ["platform-admin"])
    groups = _api(plain.addr, "LIST", "identity/group/name", admin)
    assert groups[0] == 404  # no groups at all


def test_the_provider_groups_are_external_groups_with_their_policies(
        bao: PeopleServer) -> None:
    admin = bao.login("platform-admin")
    listed = _api(bao.addr, "LIST", "identity/group/name", admin)[1]["data"]["keys"]
    assert sorted(listed) == ["oidc-plate-devs", "oidc-plate-viewers", "oidc-platform-admins"]
    accessor = _api(bao.addr, "GET", "sys/auth", admin)[1]["data"]["oidc/"]["accessor"]
    for group, policy in (("platform-admins", "platform-admin"),
                          ("plate-devs", "plate-developer"), ("plate-viewers", "plate-viewer")):
        data = _api(bao.addr, "GET", f"identity/group/name/oidc-{group}", admin)[1]["data"]
        assert (data["type"], data["policies"]) == ("external", [policy])
        assert (data["alias"]["name"], data["alias"]["mount_accessor"]) == (group, accessor)


# 7 ------------------------------------------------------------------------------------------------

REACH_NEVER = ("/v1/sys/raw/core", "/v1/sys/storage/raft/snapshot", "/v1/sys/seal",
               "/v1/sys/unseal", "/v1/sys/init", "/v1/sys/generate-root/attempt",
               "/v1/sys/rekey/init", "/v1/sys/policies/acl/x", "/v1/sys/mounts/x",
               "/v1/sys/auth/x", "/v1/auth/kubernetes/login", "/v1/auth/break-glass/login/x",
               "/v1/identity/oidc/key", "/v1/auth/token/create", "/v1/sys/step-down")


def _admits(prefix: str, path_type: str, path: str) -> bool:
    """Whether an Ingress path admits `path`, by the Kubernetes rule (element-wise) or by
    Traefik's default (character-wise) - either is enough to fail."""
    if path_type == "Exact":
        return path == prefix
    elements = prefix.rstrip("/").split("/")
    return path.startswith(prefix) or path.split("/")[:len(elements)] == elements


@pytest.mark.parametrize("stack_name", STACKS)
def test_the_rendered_stack_signs_people_in_and_publishes_only_what_they_use(
        stack_name: str) -> None:
    stack = rendered(stack_name)
    objects = {(o.kind, o.name): o for o in stack.objects if o.namespace == "openbao"}
    init = objects[("ConfigMap", "openbao-init")].body["data"][openbao.INIT_FILE_NAME]
    assert re.search(r'oidc_discovery_url = "https://[^"]+"', init)
    assert f'"/openbao/userconfig/{openbao_tool.IDENTITY_SECRET}/oidc-client-secret"' in init
    policies = _rendered_policies(init)
    assert not [p for rules in policies.values() for p, _ in rules if p.strip("*+/") == ""]
    assert "platform-admin" in policies and not re.search(
        r'path = "auth/kubernetes/role/platform-admin"', init)
    assert ("ServiceAccount", "platform-admin") not in objects
    secret = objects[("Secret", openbao_tool.IDENTITY_SECRET)]
    assert set(secret.body.get("stringData") or secret.body.get("data") or {}) >= {
        openbao_tool.CLIENT_SECRET_KEY}
    statefulset = objects[("StatefulSet", "openbao")].body
    volumes = statefulset["spec"]["template"]["spec"]["volumes"]
    assert {"name": f"userconfig-{openbao_tool.IDENTITY_SECRET}",
            "secret": {"secretName": openbao_tool.IDENTITY_SECRET, "defaultMode": 420}} in volumes
    ingress = objects[("Ingress", "openbao")].body
    [rule] = ingress["spec"]["rules"]
    paths = [(p["path"], p["pathType"], p["backend"]["service"]["name"])
             for p in rule["http"]["paths"]]
    assert paths == [("/", "Exact", "openbao-active")] + [
        (p, "Prefix", "openbao-active") for p in openbao_tool.PUBLIC_PATHS]
    for path in REACH_NEVER:
        assert not [p for p, kind, _ in paths if _admits(p, kind, path)], path
    for path in ("/ui/vault/auth", "/v1/auth/oidc/oidc/auth_url", "/v1/plate/data/stg/x",
                 "/v1/sys/internal/ui/mounts/plate", "/v1/auth/token/lookup-self"):
        assert [p for p, kind, _ in paths if _admits(p, kind, path)], path
