"""An app chart cannot exceed plate-<env>, nor read another app's secrets: checked on what the real
Helm engine renders from the plate charts, with the values their child Applications carry.

Argo CD syncs each child as `argocd-sync` of plate-<env> (sync impersonation); the AppProject
whitelists, and that identity's Role grants, the (group, kind) pairs below. The admission
policies of plate-<env> (components/gitops/admission.py) are evaluated with cel-python on the
rendered objects, each carrying the tracking annotation Argo CD writes on what it applies.

Verifies, for every chart and environment: the kinds the charts render with every option on
(Ingress, HPA, PDB, volumes, ServiceMonitor) are exactly the project's whitelist and the sync
Role's resources (plurals as the CRDs and Kubernetes name them), all namespaced; each app has
its own SecretStore that logs in to OpenBao (the address, mount and CA ConfigMap of the
platform, verified against the upstream CRD) as the app's own ServiceAccount with the app's own
role (components/names.py), synced after that ServiceAccount and before the ExternalSecrets,
which go through it only; everything rendered passes both admission policies; and a chart that
reaches for another app (its store, its ServiceAccount, its Secret by envFrom, env, volume or
projected volume, a ClusterSecretStore, a `sourceRef`, another target Secret, another role or
OpenBao server) or syncs without Argo CD's tracking is denied, each by the rule meant for it.
The image: a digest renders `<registry>/<repo>@sha256:...` instead of the tag; the schema
rejects a malformed one. In each stack's offline render: `argocd-cm` turns sync impersonation on
and both admission policies and their bindings are there, valid Kubernetes objects.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import helm_python
import pytest
import yaml

from components import names, versions
from components.gitops import admission
from components.gitops import apps as gitops
from tests.engines.test_charts import (
    APPS,
    ENVS,
    MONITORING_API,
    WORKLOAD_KINDS,
    argo_values,
    built_chart,
    config,
    group_of,
    merged,
    of_kind,
    pod_spec,
    render_with_apis,
    sync_wave,
)
from tests.harness import recorded
from tests.harness import rendered as rendered_stack
from tests.schemas import crd_errors, kubernetes_errors, upstream_yaml
from tests.unit.test_admission import denials
from tooling import upstream


def everything_on(app: str, env: str) -> dict[str, Any]:
    """The child Application's values with every optional object of the chart switched on."""
    extra: dict[str, Any] = {"metrics": {"serviceMonitor": {"enabled": True}}}
    if app in ("plate-web", "plate-api"):
        extra |= {"ingress": {"enabled": True}, "autoscaling": {"enabled": True},
                  "podDisruptionBudget": {"enabled": True}}
    if app in ("plate-llm", "plate-cache"):
        extra["replicaCount"] = 2  # their PodDisruptionBudget comes with a second pod
    return merged(argo_values(app, env), extra)


def tracked(obj: dict[str, Any], app: str, env: str) -> dict[str, Any]:
    """`obj` as Argo CD applies it for the child Application `<app>-<env>`: with its tracking id
    (argo-cd v3.4.4 util/argo/resource_tracking.go, BuildAppInstanceValue)."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    meta.setdefault("annotations", {})[admission.TRACKING_ANNOTATION] = (
        f"{app}-{env}:{group_of(obj)}/{obj['kind']}:plate-{env}/{meta['name']}"
    )
    return out


@functools.cache
def objects(app: str, env: str) -> tuple[dict[str, Any], ...]:
    return render_with_apis(app, env, everything_on(app, env), {MONITORING_API})


def policy_denials(obj: dict[str, Any], env: str) -> list[str]:
    out = []
    for _, policy, _ in admission.policies(env):
        rules = policy["spec"]["matchConstraints"]["resourceRules"]
        if any(group_of(obj) in r["apiGroups"] and f"{obj['kind'].lower()}s" in r["resources"]
               for r in rules):
            out += denials(obj, f"plate-{env}", policy)
    return out


def plural(kind: str) -> str:
    """Kubernetes' plural of a built-in kind (k8s.io/gengo namer: -y -> -ies, -s -> -ses)."""
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


CRD_PLURALS = {
    ("external-secrets.io", "ExternalSecret"): "crds/external-secrets.io/ExternalSecret.yaml",
    ("external-secrets.io", "SecretStore"): "crds/external-secrets.io/SecretStore.yaml",
}


def test_the_rendered_kinds_are_exactly_what_the_project_and_the_sync_role_allow() -> None:
    rendered = {(group_of(o), o["kind"]) for app in APPS for env in ENVS
                for o in objects(app, env)}
    assert rendered == {(g, k) for g, k, _ in gitops.APP_NAMESPACED_KINDS}
    assert all(o["kind"] != "Namespace" and "namespace" not in o["metadata"]
               for app in APPS for env in ENVS for o in objects(app, env))
    for group, kind, resource in gitops.APP_NAMESPACED_KINDS:
        if (group, kind) in CRD_PLURALS:
            crd = upstream_yaml(CRD_PLURALS[(group, kind)])
            assert crd["spec"]["scope"] == "Namespaced"
            assert resource == crd["spec"]["names"]["plural"]
        elif group == "monitoring.coreos.com":
            crd_file = (upstream.chart_dir("kube-prometheus-stack",
                                           versions.KUBE_PROMETHEUS_STACK.version)
                        / "charts" / "crds" / "crds" / f"crd-{kind.lower()}s.yaml")
            crd = yaml.safe_load(crd_file.read_text())
            assert (crd["spec"]["names"]["kind"], crd["spec"]["scope"]) == (kind, "Namespaced")
            assert resource == crd["spec"]["names"]["plural"]
        else:
            assert resource == plural(kind), kind
    # the Role the program registers for argocd-sync: exactly those resources, in plate-<env>
    for env in ENVS:
        role = recorded(env).named("Role/apps-sync")
        assert role.plain("metadata") == {"name": "argocd-sync", "namespace": f"plate-{env}"}
        granted = {(g, r) for rule in role.plain("rules")
                   for g in rule["apiGroups"] for r in rule["resources"]}
        assert granted == {(g, r) for g, _, r in gitops.APP_NAMESPACED_KINDS}
        rendered_env = {(group_of(o), o["kind"]) for app in APPS for o in objects(app, env)}
        assert {(g, r) for g, k, r in gitops.APP_NAMESPACED_KINDS
                if (g, k) in rendered_env} == granted


@pytest.fixture(params=[(a, e) for a in APPS for e in ENVS], ids=lambda p: f"{p[0]}-{p[1]}")
def chart_env(request) -> tuple[str, str]:
    return request.param


def test_each_app_has_its_own_store_logging_in_as_itself(chart_env) -> None:
    app, env = chart_env
    rendered = objects(app, env)
    (store,) = of_kind(rendered, "SecretStore")
    (account,) = of_kind(rendered, "ServiceAccount")
    assert crd_errors(store) == []
    assert store["metadata"]["name"] == app
    assert account["metadata"]["name"] == names.app_service_account(app)
    vault = store["spec"]["provider"]["vault"]
    assert vault == {
        "server": names.OPENBAO_ADDRESS,
        "path": names.APPS_MOUNT,
        "version": "v2",
        # a namespaced store reads the CA from its own namespace, where the program puts it
        "caProvider": {"type": "ConfigMap", "name": names.INTERNAL_CA_CONFIGMAP, "key": "ca.crt"},
        "auth": {"kubernetes": {
            "mountPath": "kubernetes",
            "role": names.app_secret_role(env, app),
            "serviceAccountRef": {"name": names.app_service_account(app)},
        }},
    }
    assert ("", "ConfigMap", names.INTERNAL_CA_CONFIGMAP) in gitops.program_objects(config(env))
    secrets = of_kind(rendered, "ExternalSecret")
    assert {es["spec"]["secretStoreRef"]["name"] for es in secrets} == {app}
    workloads = [o for o in rendered if o["kind"] in WORKLOAD_KINDS]
    assert (sync_wave(account) < sync_wave(store) < min(map(sync_wave, secrets))
            < min(map(sync_wave, workloads)))
    assert {pod_spec(w)["serviceAccountName"] for w in workloads} == {account["metadata"]["name"]}


def test_what_the_charts_render_passes_the_admission_policies(chart_env) -> None:
    app, env = chart_env
    checked = 0
    for obj in objects(app, env):
        assert policy_denials(tracked(obj, app, env), env) == [], obj["kind"]
        checked += obj["kind"] in {"SecretStore", "ExternalSecret", "ServiceMonitor",
                                   *WORKLOAD_KINDS}
    assert checked >= 5  # store, two ExternalSecrets, a workload, a ServiceMonitor


def _one(app: str, env: str, kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objects(app, env) if o["kind"] == kind
                and (name is None or o["metadata"]["name"] == name)]
    return copy.deepcopy(found)


def _rule(env: str, rule: str) -> str:
    (message,) = [m for n, _, m in admission.app_secret_rules(env) if n == rule]
    return message


def _hostile_workloads(env: str) -> list[tuple[str, dict[str, Any]]]:
    base = _one("plate-web", env, "Deployment")
    out = []
    as_api = copy.deepcopy(base)
    pod_spec(as_api)["serviceAccountName"] = "plate-api"
    out.append(("runs as plate-api", as_api))
    env_from = copy.deepcopy(base)
    pod_spec(env_from)["containers"][0]["envFrom"].append({"secretRef": {"name": "plate-api-env"}})
    out.append(("envFrom plate-api-env", env_from))
    key_ref = copy.deepcopy(base)
    pod_spec(key_ref)["containers"][0].setdefault("env", []).append({
        "name": "STOLEN", "valueFrom": {"secretKeyRef": {"name": "plate-api-env", "key": "k"}}})
    out.append(("env secretKeyRef", key_ref))
    volume = copy.deepcopy(base)
    pod_spec(volume).setdefault("volumes", []).append(
        {"name": "s", "secret": {"secretName": "plate-llm-env"}})
    out.append(("secret volume", volume))
    projected = copy.deepcopy(base)
    pod_spec(projected).setdefault("volumes", []).append({"name": "p", "projected": {
        "sources": [{"secret": {"name": "plate-cache-env"}}]}})
    out.append(("projected volume", projected))
    init = copy.deepcopy(base)
    pod_spec(init)["initContainers"] = [{
        "name": "i", "image": "x", "envFrom": [{"secretRef": {"name": "plate-api-env"}}]}]
    out.append(("init container", init))
    return out


@pytest.mark.parametrize("env", ENVS)
def test_a_chart_cannot_reach_for_another_apps_secrets(env: str) -> None:
    """plate-web's chart (synced as plate-web-<env>) turned hostile, object by object."""
    app = "plate-web"
    store = _one(app, env, "SecretStore")
    env_secret = _one(app, env, "ExternalSecret", "plate-web-env")
    cases: list[tuple[str, dict[str, Any], str]] = []
    for what, obj in _hostile_workloads(env):
        cases.append((what, obj, "workload-of-its-app"))
    for what, change in [
        ("store of plate-api", {"name": "plate-api"}),
        ("ClusterSecretStore", {"kind": "ClusterSecretStore", "name": f"openbao-{env}"}),
    ]:
        es = copy.deepcopy(env_secret)
        es["spec"]["secretStoreRef"] |= change
        cases.append((what, es, "external-secret-of-its-app"))
    overwrite = copy.deepcopy(env_secret)
    overwrite["spec"]["target"]["name"] = "plate-api-env"
    cases.append(("writes plate-api-env", overwrite, "external-secret-of-its-app"))
    source_ref = copy.deepcopy(env_secret)
    source_ref["spec"]["dataFrom"].append({"sourceRef": {"storeRef": {"name": "plate-api"}},
                                           "extract": {"key": f"{env}/plate-api"}})
    cases.append(("sourceRef", source_ref, "external-secret-of-its-app"))
    for what, path, value in [
        ("logs in as plate-api", ("auth", "kubernetes", "serviceAccountRef", "name"), "plate-api"),
        ("with plate-api's role", ("auth", "kubernetes", "role"),
         names.app_secret_role(env, "plate-api")),
        ("to another server", ("server",), "https://vault.attacker.example:8200"),
    ]:
        bad = copy.deepcopy(store)
        target = bad["spec"]["provider"]["vault"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        cases.append((what, bad, "store-of-its-app"))
    renamed = copy.deepcopy(store)
    renamed["metadata"]["name"] = "plate-api"
    renamed["spec"]["provider"]["vault"]["auth"]["kubernetes"] |= {
        "role": names.app_secret_role(env, "plate-api"),
        "serviceAccountRef": {"name": "plate-api"},
    }
    cases.append(("a whole plate-api store", renamed, "store-of-its-app"))
    for what, obj, rule in cases:
        assert policy_denials(tracked(obj, app, env), env) == [_rule(env, rule)], what
    # untracked (not synced by Argo CD): every kind is refused
    for obj in (store, env_secret, _one(app, env, "Deployment")):
        assert policy_denials(obj, env) != [], obj["kind"]
    # the same objects, tracked as plate-web's, pass (the cases above fail for their change)
    for obj in (store, env_secret, _one(app, env, "Deployment")):
        assert policy_denials(tracked(obj, app, env), env) == []


def test_the_role_prefix_in_the_policy_is_the_names_modules() -> None:
    for env in ENVS:
        for app in APPS:
            store = tracked(_one(app, env, "SecretStore"), app, env)
            assert store["spec"]["provider"]["vault"]["auth"]["kubernetes"]["role"] == \
                names.app_secret_role(env, app)
            assert policy_denials(store, env) == []


DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_a_digest_replaces_the_tag_in_the_image() -> None:
    for app in APPS:
        values = merged(argo_values(app, "prod"), {"image": {"digest": DIGEST}})
        workloads = [o for o in render_with_apis(app, "prod", values, set())
                     if o["kind"] in WORKLOAD_KINDS]
        cfg = config("prod")
        assert cfg.dev_tools is not None
        registry = cfg.fqdn(cfg.dev_tools.harbor.host)
        for workload in workloads:
            (container,) = pod_spec(workload)["containers"]
            assert container["image"] == f"{registry}/plate/{app}@{DIGEST}"


@pytest.mark.parametrize("digest", ["sha256:abc", "0123456789abcdef" * 4, DIGEST.upper(),
                                    "sha512:" + "0" * 128])
def test_the_schema_rejects_a_malformed_digest(digest: str) -> None:
    values = merged(argo_values("plate-api", "prod"), {"image": {"digest": digest}})
    result = helm_python.lint(str(built_chart("plate-api")), values, strict=True)
    assert "digest" in " ".join(result["errors"]), result


@pytest.mark.parametrize("stack", ENVS)
def test_the_rendered_stack_turns_impersonation_on_and_carries_the_policies(stack: str) -> None:
    """What the cluster receives: Argo CD's own ConfigMap from the chart, the policies and
    bindings from the program, both policies valid Kubernetes objects."""
    render = rendered_stack(stack)
    (cm,) = [o for o in render.objects if o.kind == "ConfigMap" and o.name == "argocd-cm"]
    assert cm.body["data"]["application.sync.impersonation.enabled"] == "true"
    found = {(o.kind, o.name): o.body for o in render.objects
             if o.kind.startswith("ValidatingAdmissionPolicy")}
    expected = {}
    for _, policy, binding in admission.policies(stack):
        expected[("ValidatingAdmissionPolicy", policy["metadata"]["name"])] = policy
        expected[("ValidatingAdmissionPolicyBinding", binding["metadata"]["name"])] = binding
    assert set(found) == set(expected)
    for key, body in found.items():
        assert body["spec"] == expected[key]["spec"]
        assert kubernetes_errors(body) == [], key
