"""People's sign-in, as the program builds it from `identity` (the real-token checks of the same
settings are tests/engines/test_sso.py; Harbor's are in tests/operations/test_harbor_bootstrap.py).

Verifies: the Argo CD `configs` (OIDC, RBAC lines per environment, local admin off unless
break-glass, and everything local without `identity`); Grafana's sign-in values (none without
`identity`, login form with break-glass); the kubectl bindings (admins always, the others only
when their groups are set); the sign-in proxy's flags; Harbor's bootstrap settings; the config
refuses `identity` without `identity.endpoints`; and the program without `identity` registers no
sign-in objects and exposes neither Prometheus nor Alertmanager, while with `break_glass` it turns
the local accounts back on; the charts and the proxy wait for their Secrets (all of them Pulumi
secrets), the Middleware for Traefik, the developers' RoleBinding for `plate-<env>`.
"""

from __future__ import annotations

import copy
import json
import tomllib
from typing import Any

import pytest

from components.config import ConfigError, IdentityConfig, parse_platform_config
from components.tools import argocd, harbor, kubectl, oauth2_proxy
from components.tools.kube_prometheus_stack import grafana_sign_in
from tests.harness import is_secret, placeholder_secrets, recorded, run_program, stack_config

CHART = "kubernetes:helm.sh/v4:Chart"


def _identity(**changes: Any) -> IdentityConfig:
    raw = copy.deepcopy(stack_config("stg"))
    raw["identity"].update(changes)
    identity = parse_platform_config(raw).identity
    assert identity is not None
    return identity


def test_argocd_policy_per_environment_and_groups():
    identity = _identity()
    assert argocd.rbac_policy(identity, ["stg", "prod"]).splitlines() == [
        "p, role:plate-developer, applications, get, plate-stg/*, allow",
        "p, role:plate-developer, applications, sync, plate-stg/*, allow",
        "p, role:plate-developer, applications, action/*, plate-stg/*, allow",
        "p, role:plate-developer, logs, get, plate-stg/*, allow",
        "p, role:plate-developer, projects, get, plate-stg, allow",
        "p, role:plate-developer, applications, get, plate-prod/*, allow",
        "p, role:plate-developer, applications, sync, plate-prod/*, allow",
        "p, role:plate-developer, applications, action/*, plate-prod/*, allow",
        "p, role:plate-developer, logs, get, plate-prod/*, allow",
        "p, role:plate-developer, projects, get, plate-prod, allow",
        "g, platform-admins, role:admin",
        "g, plate-developers, role:plate-developer",
        "g, plate-viewers, role:readonly",
    ]


def test_argocd_local_admin_only_without_identity_or_with_break_glass():
    assert argocd.sign_in_values(None, ["stg"]) == {"cm": {"admin.enabled": True}, "rbac": {}}
    off = argocd.sign_in_values(_identity(), ["stg"])
    assert off["cm"]["admin.enabled"] is False
    assert off["rbac"]["policy.default"] == "" and off["rbac"]["scopes"] == "[groups]"
    assert argocd.sign_in_values(_identity(break_glass=True), ["stg"])["cm"]["admin.enabled"]
    assert argocd.sign_in_values(_identity(groups_claim="roles"), ["stg"])["rbac"][
        "scopes"] == "[roles]"


def test_grafana_sign_in_values():
    assert grafana_sign_in(None, "grafana.x") == {}
    ini = grafana_sign_in(_identity(), "grafana.x")["grafana.ini"]
    assert ini["auth"] == {"disable_login_form": True}
    assert ini["server"] == {"root_url": "https://grafana.x/"}
    glass = grafana_sign_in(_identity(break_glass=True), "grafana.x")["grafana.ini"]
    assert glass["auth"] == {"disable_login_form": False}


def test_kubectl_bindings_follow_the_groups():
    identity = _identity()
    assert kubectl.cluster_bindings(identity) == [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "plate-people-admins"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "cluster-admin"},
         "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                       "name": "oidc:platform-admins"}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "plate-people-view"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "view"},
         "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                       "name": "oidc:plate-developers"},
                      {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                       "name": "oidc:plate-viewers"}]},
    ]
    (binding,) = kubectl.namespace_bindings(identity, "plate-stg")
    assert (binding["metadata"], binding["roleRef"]) == (
        {"name": "plate-people-developers", "namespace": "plate-stg"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
         "name": "plate-people-developers"})
    # no edit in the apps' namespace: delete pods and port-forward only
    assert kubectl.namespace_role("plate-stg")["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
    ]
    admins_only = _identity(groups={"admins": ["ops"]})
    assert [b["metadata"]["name"] for b in kubectl.cluster_bindings(admins_only)] == [
        "plate-people-admins"]
    assert kubectl.namespace_bindings(admins_only, "plate-stg") == []


def test_the_sign_in_proxy_flags():
    identity = _identity()
    assert oauth2_proxy.args(identity, ["alertmanager.x", "prometheus.x"]) == [
        "--config=/etc/oauth2-proxy/oauth2-proxy.cfg",
        "--provider=oidc",
        "--oidc-issuer-url=https://id.plate.dev/realms/plate",
        "--client-id=platform-proxy",
        "--oidc-groups-claim=groups",
        "--scope=openid profile email groups",
        "--code-challenge-method=S256",
        "--email-domain=*",
        "--allowed-group=platform-admins",
        "--allowed-group=plate-developers",
        "--http-address=0.0.0.0:4180",
        "--reverse-proxy=true",
        "--upstream=static://202",
        "--set-xauthrequest=true",
        "--skip-provider-button=true",
        "--cookie-secure=true",
        "--cookie-domain=alertmanager.x",
        "--cookie-domain=prometheus.x",
        "--whitelist-domain=alertmanager.x",
        "--whitelist-domain=prometheus.x",
    ]


def test_the_sign_in_proxy_reads_its_secrets_from_a_toml_file():
    """The file the proxy's `--config` names: TOML, any character escaped."""
    text = oauth2_proxy.config_file('cl"ient\\sec\nret', "c" * 32)
    assert tomllib.loads(text) == {"client_secret": 'cl"ient\\sec\nret',
                                   "cookie_secret": "c" * 32}


def test_harbor_bootstrap_oidc_settings():
    assert harbor.oidc_env(None) == {}
    env = harbor.oidc_env(_identity(groups={"admins": ["ops", "sre"], "viewers": ["all"]}))
    assert env["OIDC_ADMIN_GROUP"] == "ops"  # Harbor takes one
    assert json.loads(env["OIDC_PROJECT_GROUPS"]) == {
        "ops": "projectAdmin", "sre": "projectAdmin", "all": "guest"}
    assert env["OIDC_PRIMARY"] == "true"
    assert harbor.oidc_env(_identity(break_glass=True))["OIDC_PRIMARY"] == "false"


def test_identity_needs_the_provider_endpoints():
    raw = copy.deepcopy(stack_config("stg"))
    del raw["identity"]["endpoints"]
    with pytest.raises(ConfigError) as exc:
        parse_platform_config(raw)
    assert any(p.startswith("identity.endpoints:") for p in exc.value.problems), \
        exc.value.problems
    raw = copy.deepcopy(stack_config("stg"))
    raw["identity"]["endpoints"]["token"] = "http://id.plate.dev/token"
    with pytest.raises(ConfigError) as exc:
        parse_platform_config(raw)
    assert any(p.startswith("identity.endpoints.token:") for p in exc.value.problems), \
        exc.value.problems


def test_without_identity_nothing_signs_in_and_the_uis_stay_unexposed():
    config = copy.deepcopy(stack_config("stg"))
    del config["identity"]
    config["generated_secrets"] = [k for k in config["generated_secrets"]
                                   if k != "identity_proxy_cookie_secret"]
    rec = run_program("stg", config, placeholder_secrets(config))
    # (the policy table's row for the proxy stays: it admits Traefik to pods that do not exist)
    names = {(r.type, r.name) for r in rec.resources
             if r.type != "kubernetes:networking.k8s.io/v1:NetworkPolicy"}
    assert not [n for n in names if "oauth2-proxy" in n[1] or "plate-people" in n[1]
                or n[1].endswith("-oidc")]
    values = rec.one(CHART, "kube-prometheus-stack").plain("values")
    assert "ingress" not in values["prometheus"] and "ingress" not in values["alertmanager"]
    assert "grafana.ini" not in values["grafana"]
    argo = rec.one(CHART, "argo-cd").plain("values", "configs")
    assert argo["cm"]["admin.enabled"] is True and "oidc.config" not in argo["cm"]


def test_break_glass_turns_the_local_accounts_back_on():
    config = copy.deepcopy(stack_config("stg"))
    config["identity"]["break_glass"] = True
    rec = run_program("stg", config)
    argo = rec.one(CHART, "argo-cd").plain("values", "configs")
    assert argo["cm"]["admin.enabled"] is True and "oidc.config" in argo["cm"]
    grafana = rec.one(CHART, "kube-prometheus-stack").plain("values", "grafana")
    assert grafana["grafana.ini"]["auth"] == {"disable_login_form": False}
    job = rec.one("kubernetes:batch/v1:Job", "harbor-bootstrap")
    (container,) = job.plain("spec", "template", "spec", "containers")
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OIDC_PRIMARY"] == "false"


def test_the_sign_in_objects_wait_for_what_they_use_and_keep_secrets_secret():
    rec = recorded("stg")
    for chart, secret in (("argo-cd", "argocd-oidc"), ("kube-prometheus-stack", "grafana-oidc")):
        assert f"Secret/{secret}" in rec.deps(f"Chart/{chart}"), chart
    assert {"Secret/oauth2-proxy", "ServiceAccount/oauth2-proxy"} <= rec.deps(
        "Deployment/oauth2-proxy")
    # the Middleware's CRD is Traefik's (tier 1)
    assert "Chart/traefik" in rec.deps("Middleware/oauth2-proxy")
    assert {"Namespace/plate-stg", "Role/plate-stg-plate-people-developers-role"} <= rec.deps(
        "RoleBinding/plate-stg-plate-people-developers")
    for name in ("argocd-oidc", "grafana-oidc", "harbor-oidc", "oauth2-proxy"):
        secret = rec.one("kubernetes:core/v1:Secret", name)
        data = secret.inputs["stringData"]
        assert is_secret(data) or all(is_secret(v) for v in data.values()), name
    # the generated cookie key: 32 characters, a valid AES key for oauth2-proxy either way
    cookie = rec.one("random:index/randomPassword:RandomPassword", "identity-proxy-cookie-secret")
    assert cookie.plain("length") == 32
