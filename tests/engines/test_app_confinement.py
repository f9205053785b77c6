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
OpenBao server) or syncs without Argo CD's tracking is denied, each by the rule meant for it;
so are an ExternalSecret that copies another app's Secret (templateFrom `secret`/`configMap`),
writes one (no target name, Merge, another name, a generic `manifest` target, a pull secret built
otherwise) or uses a generator, an Ingress on a tool's, another app's or another environment's
host (or no host, a default or resource backend, another TLS Secret), a NetworkPolicy named like
one of the program's or another app's, selecting other pods, or open to an ipBlock, every
namespace or every peer, a Service outside the cluster (NodePort, LoadBalancer, ExternalName,
externalIPs) or on another app's pods, and pods labelled as another app. The network rules bind
Argo CD's requests only: the program's NetworkPolicies and cert-manager's solver pass. Each app's
host is its chart's `ingress.host`.
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
from components.tools import catalog
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


def policy_denials(obj: dict[str, Any], env: str, username: str | None = None) -> list[str]:
    """What every policy of plate-<env> that matches `obj` denies, sent by `username` (default:
    Argo CD's sync identity)."""
    user = username or f"system:serviceaccount:plate-{env}:{gitops.SYNC_SERVICE_ACCOUNT}"
    out = []
    for _, policy, _ in admission.policies(env, config(env).domain):
        rules = policy["spec"]["matchConstraints"]["resourceRules"]
        if any(group_of(obj) in r["apiGroups"] and plural(obj["kind"]) in r["resources"]
               for r in rules):
            out += denials(obj, f"plate-{env}", policy, user)
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
        # the target agreeing with the store: only the store is wrong
        es["spec"]["target"]["name"] = f"{change['name']}-env"
        cases.append((what, es, "external-secret-of-its-app"))
    overwrite = copy.deepcopy(env_secret)
    overwrite["spec"]["target"]["name"] = "plate-api-env"
    cases.append(("writes plate-api-env", overwrite, "external-secret-target"))
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


def _hostile_external_secrets(env: str) -> list[tuple[str, dict[str, Any], str]]:
    """plate-web's ExternalSecrets turned against plate-cache's Secret, each with its rule."""
    env_secret = _one("plate-web", env, "ExternalSecret", "plate-web-env")
    pull = _one("plate-web", env, "ExternalSecret", f"plate-web-{names.PULL_SECRET_NAME}")
    out: list[tuple[str, dict[str, Any], str]] = []
    for source in ({"secret": {"name": "plate-cache-env", "items": [{"key": "PASSWORD"}]}},
                   {"configMap": {"name": "plate-cache-config", "items": [{"key": "c"}]}}):
        copied = copy.deepcopy(env_secret)
        copied["spec"]["target"]["template"] = {"engineVersion": "v2", "templateFrom": [
            {"literal": "x: y"}, source | {"target": "Data"}]}
        out.append((f"templateFrom {next(iter(source))}", copied, "external-secret-template"))
    # named like plate-cache's Secret, no target name: ESO writes `metadata.name`
    unnamed = copy.deepcopy(env_secret)
    unnamed["metadata"]["name"] = "plate-cache-env"
    del unnamed["spec"]["target"]["name"]
    out.append(("no target name", unnamed, "external-secret-target"))
    merge = copy.deepcopy(env_secret)
    merge["spec"]["target"]["creationPolicy"] = "Merge"
    out.append(("Merge into its own name", merge, "external-secret-target"))
    for policy in ("Merge", "Owner"):
        pull_merge = copy.deepcopy(pull)
        pull_merge["spec"]["target"]["creationPolicy"] = policy
        out.append((f"pull secret {policy}", pull_merge, "external-secret-target"))
    pull_env = copy.deepcopy(pull)
    pull_env["spec"]["data"][0]["remoteRef"]["key"] = f"{env}/plate-web"
    out.append(("pull secret from the app's path", pull_env, "external-secret-target"))
    pull_from = copy.deepcopy(pull)
    pull_from["spec"]["dataFrom"] = [{"extract": {"key": f"{env}/plate-web"}}]
    out.append(("pull secret with dataFrom", pull_from, "external-secret-target"))
    manifest = copy.deepcopy(env_secret)
    manifest["spec"]["target"]["manifest"] = {"apiVersion": "argoproj.io/v1alpha1",
                                              "kind": "Application"}
    out.append(("manifest target", manifest, "external-secret-target"))
    generator = copy.deepcopy(env_secret)
    generator["spec"]["dataFrom"] = [{"sourceRef": {"generatorRef": {
        "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password",
        "name": "p"}}}]
    out.append(("generatorRef", generator, "external-secret-of-its-app"))
    return out


@pytest.mark.parametrize("env", ENVS)
def test_an_external_secret_cannot_copy_or_overwrite_another_apps_secret(env: str) -> None:
    for what, obj, rule in _hostile_external_secrets(env):
        assert policy_denials(tracked(obj, "plate-web", env), env) == [_rule(env, rule)], what
    # the legitimate shapes: a literal template, the env Secret with Owner spelled or defaulted
    env_secret = _one("plate-web", env, "ExternalSecret", "plate-web-env")
    literal = copy.deepcopy(env_secret)
    literal["spec"]["target"]["template"] = {"templateFrom": [{"literal": "x: y"}]}
    defaulted = copy.deepcopy(env_secret)
    del defaulted["spec"]["target"]["creationPolicy"]
    for obj in (literal, defaulted):
        assert policy_denials(tracked(obj, "plate-web", env), env) == []


def _net_rule(env: str, rule: str) -> str:
    (message,) = [m for n, _, m in admission.app_network_rules(config(env).domain) if n == rule]
    return message


def _hostile_network_objects(env: str) -> list[tuple[str, dict[str, Any], str]]:
    """plate-web's Ingress, NetworkPolicy, Service and Deployment turned hostile."""
    cfg = config(env)
    ingress = _one("plate-web", env, "Ingress")
    policy = _one("plate-web", env, "NetworkPolicy")
    service = _one("plate-web", env, "Service")
    out: list[tuple[str, dict[str, Any], str]] = []

    def changed(base: dict[str, Any], what: str, rule: str, edit: Any) -> None:
        obj = copy.deepcopy(base)
        edit(obj)
        out.append((what, obj, rule))

    tool_hosts = ["argocd", "bao", "grafana", "harbor", "prometheus", "alertmanager", "api",
                  "evil"]
    for host in [cfg.fqdn(h) for h in tool_hosts] + ["app.attacker.example", "app.plate.dev"
                                                     if env == "stg" else "app.stg.plate.dev"]:
        def steal(o: dict[str, Any], host: str = host) -> None:
            o["spec"]["rules"].append({"host": host, "http": {"paths": [{
                "path": "/auth/callback", "pathType": "Prefix", "backend": {
                    "service": {"name": "plate-web", "port": {"name": "http"}}}}]}})
        changed(ingress, f"host {host}", "ingress-of-its-app", steal)
    changed(ingress, "rule without host", "ingress-of-its-app",
            lambda o: o["spec"]["rules"][0].pop("host"))
    changed(ingress, "default backend", "ingress-of-its-app", lambda o: o["spec"].__setitem__(
        "defaultBackend", {"service": {"name": "plate-web", "port": {"name": "http"}}}))
    changed(ingress, "TLS into plate-api-tls", "ingress-of-its-app",
            lambda o: o["spec"]["tls"][0].__setitem__("secretName", "plate-api-tls"))
    changed(ingress, "TLS for a tool host", "ingress-of-its-app",
            lambda o: o["spec"]["tls"][0]["hosts"].append(cfg.fqdn("argocd")))
    changed(ingress, "resource backend", "ingress-of-its-app",
            lambda o: o["spec"]["rules"][0]["http"]["paths"][0].__setitem__("backend", {
                "resource": {"apiGroup": "x.example", "kind": "K", "name": "n"}}))
    # the program's own policies of plate-<env> and another app's
    own_policies = [n for g, k, n in gitops.program_objects(cfg) if k == "NetworkPolicy"]
    assert own_policies
    for name in [*own_policies, "plate-api"]:
        changed(policy, f"policy named {name}", "network-policy-of-its-app",
                lambda o, name=name: o["metadata"].__setitem__("name", name))
    changed(policy, "selects plate-api's pods", "network-policy-of-its-app",
            lambda o: o["spec"].__setitem__("podSelector", {"matchLabels": {
                "app.kubernetes.io/name": "plate-api",
                "app.kubernetes.io/instance": "plate-api"}}))
    changed(policy, "selects every pod", "network-policy-of-its-app",
            lambda o: o["spec"].__setitem__("podSelector", {}))
    for what, peer in [
        ("ipBlock", {"ipBlock": {"cidr": "0.0.0.0/0"}}),
        ("every namespace", {"namespaceSelector": {}}),
        ("namespaces by label", {"namespaceSelector": {"matchLabels": {"team": "x"}}}),
    ]:
        changed(policy, f"ingress from {what}", "network-policy-peers",
                lambda o, peer=peer: o["spec"]["ingress"].append({"from": [peer]}))
    changed(policy, "ingress from anywhere", "network-policy-peers",
            lambda o: o["spec"]["ingress"].append({"ports": [{"port": 8080}]}))
    changed(policy, "egress to every namespace", "network-policy-peers",
            lambda o: o["spec"].__setitem__("egress", [{"to": [{"namespaceSelector": {}}]}]))
    changed(policy, "egress anywhere", "network-policy-peers",
            lambda o: o["spec"].__setitem__("egress", [{"ports": [{"port": 443}]}]))
    for what, fields in [("NodePort", {"type": "NodePort"}),
                         ("LoadBalancer", {"type": "LoadBalancer"}),
                         ("ExternalName", {"type": "ExternalName",
                                           "externalName": "bao.openbao.svc"}),
                         ("externalIPs", {"externalIPs": ["192.0.2.10"]})]:
        changed(service, what, "service-in-cluster",
                lambda o, fields=fields: o["spec"].update(fields))
    changed(service, "selects plate-api's pods", "service-of-its-app",
            lambda o: o["spec"].__setitem__("selector", {
                "app.kubernetes.io/name": "plate-api", "app.kubernetes.io/instance": "plate-api"}))
    changed(service, "named plate-api", "service-of-its-app",
            lambda o: o["metadata"].__setitem__("name", "plate-api"))
    changed(service, "no selector", "service-of-its-app", lambda o: o["spec"].pop("selector"))
    deployment = _one("plate-web", env, "Deployment")
    for label in ("app.kubernetes.io/name", "app.kubernetes.io/instance"):
        changed(deployment, f"pods labelled {label}: plate-api", "pods-labelled-as-their-app",
                lambda o, label=label: pod_labels(o).__setitem__(label, "plate-api"))
    return out


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("env", ENVS)
def test_a_chart_cannot_reach_for_another_apps_hosts_policies_or_traffic(env: str) -> None:
    for what, obj, rule in _hostile_network_objects(env):
        assert policy_denials(tracked(obj, "plate-web", env), env) == [_net_rule(env, rule)], what
    # an app with no host may have no Ingress: plate-llm serving its own fullname's host
    ingress = tracked(_one("plate-web", env, "Ingress"), "plate-llm", env)
    ingress["metadata"]["name"] = "plate-llm"
    ingress["spec"]["tls"][0]["secretName"] = "plate-llm-tls"
    assert policy_denials(ingress, env) == [_net_rule(env, "ingress-of-its-app")]
    # what the chart may also render: egress to an address outside the cluster (ipBlock) and
    # to another app's pods, a peer naming one namespace, its headless Service
    policy = copy.deepcopy(_one("plate-web", env, "NetworkPolicy"))
    policy["spec"]["egress"] = [
        {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"port": 443}]},
        {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "plate-api"}}}]},
        {"to": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "openbao"}}}]},
    ]
    assert policy_denials(tracked(policy, "plate-web", env), env) == []
    headless = _one("plate-cache", env, "Service", "plate-cache-headless")
    assert policy_denials(tracked(headless, "plate-cache", env), env) == []


@pytest.mark.parametrize("env", ENVS)
def test_the_network_rules_bind_argo_cd_only(env: str) -> None:
    """The program's NetworkPolicies of plate-<env> and cert-manager's HTTP-01 solver objects
    (sent by others, untracked) are not Argo CD's: admitted. The same objects sent as the sync
    identity, tracked or not, are denied."""
    cfg = config(env)
    program = catalog.network_policies(cfg.gitops.argocd_namespace, env, [f"plate-{env}"])
    assert program
    solver_service = {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "cm-acme-http-solver-abcde", "namespace": f"plate-{env}"}, "spec": {
        "type": "NodePort", "selector": {"acme.cert-manager.io/http01-solver": "true"},
        "ports": [{"port": 8089, "targetPort": 8089}]}}
    solver_ingress = copy.deepcopy(_one("plate-web", env, "Ingress"))
    solver_ingress["metadata"]["name"] = "cm-acme-http-solver-fghij"
    del solver_ingress["spec"]["tls"]
    solver_ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] = \
        "/.well-known/acme-challenge/token"
    others = [(p, "kubernetes-admin") for p in program] + [
        (solver_service, "system:serviceaccount:cert-manager:cert-manager"),
        (solver_ingress, "system:serviceaccount:cert-manager:cert-manager"),
    ]
    for obj, user in others:
        assert policy_denials(obj, env, user) == [], obj["metadata"]["name"]
        assert policy_denials(obj, env) != [], obj["metadata"]["name"]
        assert policy_denials(tracked(obj, "plate-web", env), env, user) != []


def test_each_apps_host_is_its_charts_ingress_host() -> None:
    for app in gitops.IN_HOUSE_APPS:
        values = yaml.safe_load((built_chart(app.name) / "values.yaml").read_text())
        assert app.host == (values["ingress"]["host"] if "ingress" in values else None), app
    assert admission.app_hosts("stg.plate.dev") == {
        "plate-web": ["app.stg.plate.dev"], "plate-api": ["api.stg.plate.dev"],
        "plate-llm": [], "plate-cache": []}


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
    for _, policy, binding in admission.policies(stack, config(stack).domain):
        expected[("ValidatingAdmissionPolicy", policy["metadata"]["name"])] = policy
        expected[("ValidatingAdmissionPolicyBinding", binding["metadata"]["name"])] = binding
    assert set(found) == set(expected)
    for key, body in found.items():
        assert body["spec"] == expected[key]["spec"]
        assert kubernetes_errors(body) == [], key
