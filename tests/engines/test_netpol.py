"""The network policies of components/netpol.py against what the charts really render.

For both stacks, the policies are evaluated together with every NetworkPolicy the charts render
(Argo CD's own, the plate charts') over the pods of the offline render (`tooling.render`) and
of the four plate charts as their child Applications render them (`tests/engines/test_charts.py`).

Verifies: every row of the table selects rendered pods (or cert-manager's HTTP-01 solver pods,
which exist only at run time, where a TLS Ingress asks for a certificate) and each of its ports
exists on one of them; every peer selects pods: rendered ones, Prometheus as the operator labels
it, and the program's own Jobs by the labels listed in PROGRAM_POD_LABELS (checked against the
program's render); every Ingress backend of a protected namespace is reachable from Traefik, every
scrape target of components/observability/monitors.py in one is reachable from Prometheus; External
Secrets, the bootstrap Job and the snapshot CronJob reach OpenBao and the bootstrap Job Harbor's
core; the flows inside Argo CD, Harbor, OpenBao and plate-<env> are admitted and their neighbours'
are not; a pod named in no row (in `default`, in plate-<env>, in `monitoring`) reaches neither
OpenBao's API, Harbor's database or Redis nor Argo CD's repo server or Redis; the generated objects
pass the Kubernetes strict schema; the table's shape (one default deny per protected namespace,
unique names, the Argo CD namespace is a parameter); and the evaluator's NetworkPolicy semantics.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from components import names, netpol
from components.tools import argocd, catalog, cert_manager, harbor, openbao
from components.tools.traefik import PEER as TRAEFIK
from tests.engines import test_charts
from tests.harness import STACKS, rendered
from tests.schemas import kubernetes_errors
from tooling import netpol_check, podsecurity, render
from tooling.netpol_check import Pod

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
# The program's own workloads, which select their pods by these labels; the lead's dev_tools.py
# sets them (PROGRAM_POD_LABELS is what the table assumes, the render test checks them).
PROGRAM_POD_LABELS = {
    ("harbor", "Job", "harbor-bootstrap"): names.HARBOR_BOOTSTRAP_POD_LABELS,
    ("openbao", "CronJob", "openbao-snapshot"): openbao.SNAPSHOT_POD_LABELS,
}
# Labels a workload puts on its own pods at run time: OpenBao's Kubernetes service registration
# (`service_registration "kubernetes"` in the server HCL) marks the active node, which the chart's
# `openbao-active` Service (the Ingress backend) selects. (namespace, workload) -> labels.
RUNTIME_POD_LABELS = {
    ("openbao", "openbao"): {
        "openbao-active": "true", "openbao-initialized": "true", "openbao-sealed": "false",
    },
}
# cert-manager's HTTP-01 solver pod (pkg/issuer/acme/http/pod.go): port `http` 8089
SOLVER_PORTS = {"http": cert_manager.ACME_SOLVER_PORT}


def _policies(
    argocd_namespace: str, environment: str, namespaces: set[str] | None = None
) -> list[dict]:
    """The platform's whole policy table (every tool's rows) for the protected namespaces, or
    those in `namespaces`, as the tiers create them."""
    protected = catalog.protected_namespaces(argocd_namespace, environment)
    wanted = [ns for ns in protected if namespaces is None or ns in namespaces]
    return netpol.network_policies(catalog.allowances(argocd_namespace, environment), wanted)


@dataclass(frozen=True)
class Found:
    """A pod template of the render: where it comes from and its declared port numbers."""

    ref: str
    pod: Pod
    numbers: frozenset[int]


@dataclass
class World:
    """Everything one stack would run, as the policies see it."""

    stack: str
    environment: str
    argocd_namespace: str
    apps_namespace: str
    objects: list[dict]  # the stack's render plus the plate charts' objects
    pods: list[Found]
    policies: list[dict]  # netpol's plus every NetworkPolicy the charts render

    def protected(self) -> list[str]:
        return catalog.protected_namespaces(self.argocd_namespace, self.environment)

    def rows(self) -> list[netpol.Allowance]:
        return catalog.allowances(self.argocd_namespace, self.environment)

    def of_kind(self, kind: str, namespace: str | None = None) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind
                and (namespace is None or o["metadata"].get("namespace") == namespace)]

    def pods_in(self, namespace: str, labels: dict[str, str] | None = None) -> list[Found]:
        return [f for f in self.pods if f.pod.namespace == namespace
                and (labels is None or labels.items() <= f.pod.labels.items())]

    def selected(self, peer: netpol.Peer) -> list[Found]:
        return [f for f in self.pods if f.pod.namespace == peer.namespace
                and netpol_check.selector_matches(peer.pod_selector(), f.pod.labels)]

    def one_pod(self, namespace: str, labels: dict[str, str]) -> Pod:
        found = self.pods_in(namespace, labels)
        assert found, f"no pod with {labels} in {namespace}"
        return found[0].pod

    def admits(self, source: Pod, target: Pod, port: int) -> bool:
        return netpol_check.admits(self.policies, source, target, port)


def found_pods(objects: list[dict]) -> Iterator[Found]:
    for obj in objects:
        template = podsecurity.pod_template(obj) if obj["kind"] in WORKLOADS else None
        if template is None:
            continue
        meta, spec = template
        containers = spec.get("containers") or []
        ports = [p for c in containers for p in c.get("ports") or []]
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        labels = {**(meta.get("labels") or {}), **RUNTIME_POD_LABELS.get((namespace, name), {})}
        yield Found(
            f"{obj['kind']} {namespace}/{name}",
            Pod(namespace, labels,
                {p["name"]: p["containerPort"] for p in ports if p.get("name")}),
            frozenset(p["containerPort"] for p in ports),
        )


def prometheus_pod(objects: list[dict]) -> Found:
    """Prometheus' pods are made by the operator from the Prometheus object: their labels are
    the ones kube-prometheus-stack's Service for Prometheus selects on."""
    (prometheus,) = [o for o in objects if o["kind"] == "Prometheus"]
    namespace = prometheus["metadata"]["namespace"]
    (service,) = [o for o in objects if o["kind"] == "Service"
                  and o["metadata"]["name"] == prometheus["metadata"]["name"]
                  and o["metadata"]["namespace"] == namespace]
    return Found(f"Prometheus {namespace}/{prometheus['metadata']['name']}",
                 Pod(namespace, service["spec"]["selector"], {"http-web": 9090}),
                 frozenset({9090}))


def program_pods() -> list[Found]:
    return [Found(f"{kind} {ns}/{name} (program)", Pod(ns, labels, {}), frozenset())
            for (ns, kind, name), labels in PROGRAM_POD_LABELS.items()]


def stack_render(stack: str) -> render.StackRender:
    return rendered(stack)


@functools.cache
def world(stack: str) -> World:
    rendered = stack_render(stack)
    cfg = rendered.cfg
    apps_namespace = names.apps_namespace(cfg.environment)
    objects = [o.body for o in rendered.objects]
    for app in test_charts.APPS:
        for obj in test_charts.rendered(app, stack):
            obj = {**obj, "metadata": {**obj["metadata"], "namespace": apps_namespace}}
            objects.append(obj)
    pods = [*found_pods(objects), prometheus_pod(objects), *program_pods()]
    generated = _policies(cfg.gitops.argocd_namespace, cfg.environment)
    charts = [o for o in objects if o["kind"] == "NetworkPolicy"]
    return World(stack, cfg.environment, cfg.gitops.argocd_namespace, apps_namespace, objects,
                 pods, [*generated, *charts])


@pytest.fixture(scope="module", params=STACKS)
def w(request) -> World:
    return world(request.param)


def solver_pods(w: World) -> list[Found]:
    """An HTTP-01 solver pod in each protected namespace with an Ingress that asks cert-manager
    for its certificate (the solver runs next to the Certificate)."""
    found = []
    for namespace in w.protected():
        for ingress in w.of_kind("Ingress", namespace):
            annotations = ingress["metadata"].get("annotations") or {}
            if "cert-manager.io/cluster-issuer" in annotations:
                labels = {**cert_manager.ACME_SOLVER_PODS, "acme.cert-manager.io/http-domain": "1"}
                found.append(Found(f"solver {namespace}", Pod(namespace, labels, SOLVER_PORTS),
                                   frozenset(SOLVER_PORTS.values())))
                break
    return found


def service_target_numbers(w: World, found: Found) -> set[int]:
    """Port numbers that Services selecting the pod send to (charts that do not declare every
    container port: Harbor's metrics, database and Redis)."""
    numbers = set()
    for service in w.of_kind("Service", found.pod.namespace):
        selector = service["spec"].get("selector")
        if not selector or not selector.items() <= found.pod.labels.items():
            continue
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if isinstance(target, int):
                numbers.add(target)
    return numbers


# --- the table against the render ----------------------------------------------------------------


def test_every_row_selects_rendered_pods_that_have_its_ports(w):
    pods = [*w.pods, *solver_pods(w)]
    for row in w.rows():
        targets = [f for f in pods if f.pod.namespace == row.namespace
                   and row.pods.items() <= f.pod.labels.items()]
        assert targets, f"{row.name}: selects no pod in {row.namespace}"
        for port in row.ports:
            if isinstance(port, str):
                have = [f.ref for f in targets if port in f.pod.ports]
            else:
                have = [f.ref for f in targets
                        if port in f.numbers | service_target_numbers(w, f)]
            assert have, f"{row.name}: no selected pod has port {port!r}"


def test_every_peer_selects_pods(w):
    for row in w.rows():
        for peer in row.peers:
            assert w.selected(peer), (
                f"{row.name}: peer {dict(peer.pods)} in {peer.namespace} selects no pod")


def test_the_solver_runs_in_every_protected_namespace(w):
    assert {f.pod.namespace for f in solver_pods(w)} == set(w.protected())


def test_prometheus_is_the_pod_the_table_names(w):
    prometheus = prometheus_pod(w.objects).pod
    assert prometheus.namespace == names.PROMETHEUS.namespace
    assert names.PROMETHEUS.pods.items() <= prometheus.labels.items()
    traefik = w.one_pod("traefik", dict(TRAEFIK.pods))
    assert traefik.labels["app.kubernetes.io/instance"] == "traefik-traefik"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("key", [
    pytest.param(("harbor", "Job", "harbor-bootstrap"), id="harbor-bootstrap"),
    pytest.param(("openbao", "CronJob", "openbao-snapshot"), id="openbao-snapshot"),
])
def test_the_program_labels_its_pods_as_the_table_expects(stack, key):
    namespace, kind, name = key
    found = [o for o in stack_render(stack).objects
             if (o.namespace, o.kind, o.name) == (namespace, kind, name)]
    assert len(found) == 1, f"{kind} {namespace}/{name}: {len(found)}"
    meta, _ = podsecurity.pod_template(found[0].body) or ({}, {})
    assert PROGRAM_POD_LABELS[key].items() <= (meta.get("labels") or {}).items()
    assert sorted(PROGRAM_POD_LABELS) == sorted(
        [("harbor", "Job", "harbor-bootstrap"), ("openbao", "CronJob", "openbao-snapshot")])


# --- reachability --------------------------------------------------------------------------------


def backend_targets(
    w: World, namespace: str, service_name: str, port: dict
) -> list[tuple[Pod, int]]:
    """(pod, container port number) behind a Service port given by number or name."""
    (service,) = [s for s in w.of_kind("Service", namespace)
                  if s["metadata"]["name"] == service_name]
    (entry,) = [p for p in service["spec"]["ports"]
                if p["port"] == port.get("number") or p.get("name") == port.get("name")]
    target = entry.get("targetPort", entry["port"])
    out = []
    for found in w.pods_in(namespace, service["spec"]["selector"]):
        number = found.pod.ports.get(target) if isinstance(target, str) else target
        assert number is not None, f"{found.ref} has no port {target!r}"
        out.append((found.pod, number))
    assert out, f"Service {namespace}/{service_name} selects no pod"
    return out


def test_every_ingress_backend_is_reachable_from_traefik(w):
    traefik = w.one_pod("traefik", dict(TRAEFIK.pods))
    seen = set()
    for namespace in w.protected():
        for ingress in w.of_kind("Ingress", namespace):
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    service = path["backend"]["service"]
                    for pod, port in backend_targets(w, namespace, service["name"],
                                                     service["port"]):
                        assert w.admits(traefik, pod, port), (
                            f"{namespace}/{ingress['metadata']['name']} -> {service['name']}")
                        seen.add((namespace, service["name"]))
    assert {ns for ns, _ in seen} == set(w.protected())
    assert ("harbor", "harbor-portal") in seen and ("harbor", "harbor-core") in seen


def test_the_http01_solver_is_reachable_from_traefik(w):
    traefik = w.one_pod("traefik", dict(TRAEFIK.pods))
    for found in solver_pods(w):
        assert w.admits(traefik, found.pod, cert_manager.ACME_SOLVER_PORT), found.ref


def test_every_scrape_target_in_a_protected_namespace_is_reachable_from_prometheus(w):
    prometheus = prometheus_pod(w.objects).pod
    checked = []
    for target in catalog.scrape_targets(w.argocd_namespace, traefik_installed=True):
        if target.namespace not in w.protected():
            continue
        assert target.kind == "ServiceMonitor"
        services = [s for s in w.of_kind("Service", target.namespace)
                    if target.match_labels.items() <= (s["metadata"].get("labels") or {}).items()
                    and target.port in [p.get("name") for p in s["spec"]["ports"]]]
        assert services, target.name
        for service in services:
            port = {"name": target.port}
            for pod, number in backend_targets(w, target.namespace, service["metadata"]["name"],
                                               port):
                assert w.admits(prometheus, pod, number), (
                    f"{target.name}: {service['metadata']['name']} port {number}")
                checked.append(service["metadata"]["name"])
    assert {"harbor-core", "harbor-exporter", "openbao-internal",
            "argo-cd-argocd-repo-server-metrics"} <= set(checked)


# flows that must work: (source namespace, source labels, target namespace, target labels, port)
ARGO = argocd.pods
HARBOR = harbor.pods
NEEDED = [
    ("external-secrets", {"app.kubernetes.io/name": "external-secrets"},
     "openbao", openbao.PODS, 8200),
    ("harbor", names.HARBOR_BOOTSTRAP_POD_LABELS, "openbao", openbao.PODS, 8200),
    ("harbor", names.HARBOR_BOOTSTRAP_POD_LABELS, "harbor", HARBOR("core"), 8080),
    ("openbao", openbao.SNAPSHOT_PEER, "openbao", openbao.PODS, 8200),
    ("openbao", openbao.PODS, "openbao", openbao.PODS, 8201),
    ("harbor", HARBOR("core"), "harbor", HARBOR("database"), 5432),
    ("harbor", HARBOR("jobservice"), "harbor", HARBOR("database"), 5432),
    ("harbor", HARBOR("exporter"), "harbor", HARBOR("database"), 5432),
    ("harbor", HARBOR("registry"), "harbor", HARBOR("redis"), 6379),
    ("harbor", HARBOR("trivy"), "harbor", HARBOR("redis"), 6379),
    ("harbor", HARBOR("core"), "harbor", HARBOR("registry"), 5000),
    ("harbor", HARBOR("jobservice"), "harbor", HARBOR("core"), 8080),
    ("harbor", HARBOR("core"), "harbor", HARBOR("trivy"), 8080),
    ("ARGO", ARGO("argocd-server"), "ARGO", ARGO("argocd-repo-server"), 8081),
    ("ARGO", ARGO("argocd-application-controller"), "ARGO", ARGO("argocd-repo-server"), 8081),
    ("ARGO", ARGO("argocd-applicationset-controller"), "ARGO", ARGO("argocd-repo-server"), 8081),
    ("ARGO", ARGO("argocd-application-controller"), "ARGO", ARGO("argocd-redis"), 6379),
    ("APPS", {"app.kubernetes.io/name": "plate-api"},
     "APPS", {"app.kubernetes.io/name": "plate-llm"}, 8000),
]
# neighbours that must not: a component reaching what it does not use
REFUSED = [
    ("external-secrets", {"app.kubernetes.io/name": "external-secrets-webhook"},
     "openbao", openbao.PODS, 8200),
    ("harbor", names.HARBOR_BOOTSTRAP_POD_LABELS, "harbor", HARBOR("database"), 5432),
    ("harbor", HARBOR("portal"), "harbor", HARBOR("database"), 5432),
    ("harbor", HARBOR("core"), "openbao", openbao.PODS, 8200),
    # the snapshot volume's shelf shares the CronJob's name label; it never calls OpenBao
    ("openbao", {"app.kubernetes.io/component": "shelf"}, "openbao", openbao.PODS, 8200),
    ("ARGO", ARGO("argocd-applicationset-controller"), "ARGO", ARGO("argocd-redis"), 6379),
    ("APPS", {"app.kubernetes.io/name": "plate-web"},
     "APPS", {"app.kubernetes.io/name": "plate-llm"}, 8000),
    ("APPS", {"app.kubernetes.io/name": "plate-api"},
     "openbao", openbao.PODS, 8200),
]


def flow_id(flow: tuple) -> str:
    def pods(spec: dict | netpol.Peer) -> str:
        labels = spec.pods if isinstance(spec, netpol.Peer) else spec
        return ",".join(v for k, v in labels.items() if k not in ("app", "release"))

    source_ns, source, target_ns, target, port = flow
    return f"{source_ns}/{pods(source)}->{target_ns}/{pods(target)}:{port}"


def _flow(w: World, flow: tuple) -> tuple[Pod, Pod, int]:
    names = {"ARGO": w.argocd_namespace, "APPS": w.apps_namespace}
    source_ns, source, target_ns, target, port = flow
    source_ns, target_ns = names.get(source_ns, source_ns), names.get(target_ns, target_ns)
    if isinstance(source, netpol.Peer):  # pods a label subset cannot pick out
        (found, *_) = w.selected(source)
        return found.pod, w.one_pod(target_ns, target), port
    return w.one_pod(source_ns, source), w.one_pod(target_ns, target), port


@pytest.mark.parametrize("flow", NEEDED, ids=flow_id)
def test_needed_flows_are_admitted(w, flow):
    assert w.admits(*_flow(w, flow))


@pytest.mark.parametrize("flow", REFUSED, ids=flow_id)
def test_neighbours_flows_are_refused(w, flow):
    assert not w.admits(*_flow(w, flow))


def strangers(w: World) -> list[Pod]:
    """Pods no row names: anywhere, in the apps' namespace, in Prometheus' namespace."""
    return [
        Pod("default", {"app": "random"}, {}),
        Pod(w.apps_namespace, {"app.kubernetes.io/name": "debug-shell"}, {}),
        w.one_pod("monitoring", {"app.kubernetes.io/name": "grafana"}),
    ]


def test_a_pod_named_in_no_row_reaches_no_secret_store_database_or_repo_server(w):
    targets = [
        (w.one_pod("openbao", openbao.PODS), 8200),
        (w.one_pod("openbao", openbao.PODS), 8201),
        (w.one_pod("harbor", HARBOR("database")), 5432),
        (w.one_pod("harbor", HARBOR("redis")), 6379),
        (w.one_pod(w.argocd_namespace, ARGO("argocd-repo-server")), 8081),
        (w.one_pod(w.argocd_namespace, ARGO("argocd-redis")), 6379),
        (w.one_pod(w.apps_namespace, {"app.kubernetes.io/name": "plate-llm"}), 8000),
    ]
    for stranger in strangers(w):
        for target, port in targets:
            assert not w.admits(stranger, target, port), (stranger, target.labels, port)


def test_the_table_alone_decides_argo_cds_traffic(w):
    stranger = strangers(w)[0]
    assert not w.admits(stranger, w.one_pod(w.argocd_namespace, ARGO("argocd-server")), 8080)
    assert not w.admits(stranger, w.one_pod(w.argocd_namespace, ARGO("argocd-repo-server")),
                        8084)


# --- the objects ---------------------------------------------------------------------------------


def test_generated_objects_pass_the_kubernetes_strict_schema(w):
    policies = _policies(w.argocd_namespace, w.environment)
    for policy in policies:
        assert kubernetes_errors(policy) == [], policy["metadata"]["name"]


def test_one_default_deny_per_protected_namespace_and_unique_names():
    policies = _policies("argocd", "stg")
    denies = [p for p in policies if p["metadata"]["name"] == netpol.DEFAULT_DENY]
    assert [p["metadata"]["namespace"] for p in denies] == ["argocd", "harbor", "openbao",
                                                            "plate-stg"]
    assert all(p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]} for p in denies)
    keys = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in policies]
    assert len(keys) == len(set(keys))
    rows_ = catalog.allowances("argocd", "stg")
    assert len(policies) == len(denies) + len(rows_)
    assert all(row.reason and row.ports and row.peers for row in rows_)


def test_the_argocd_namespace_is_a_parameter_and_tiers_can_pick_namespaces():
    policies = _policies("gitops", "prod", namespaces={"gitops", "plate-prod"})
    assert {p["metadata"]["namespace"] for p in policies} == {"gitops", "plate-prod"}
    repo = [p for p in policies if p["metadata"]["name"] == "allow-argocd-repo-server-from-argocd"]
    peers = repo[0]["spec"]["ingress"][0]["from"]
    assert {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for p in peers} == {"gitops"}


def test_an_allow_policy_spells_out_its_row():
    (policy,) = [p for p in _policies("argocd", "stg")
                 if p["metadata"]["name"] == "allow-openbao-from-external-secrets"]
    assert policy == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "allow-openbao-from-external-secrets",
            "namespace": "openbao",
            "labels": {"app.kubernetes.io/part-of": "plate-platform"},
            "annotations": {
                "plate.dev/reason": "External Secrets reads plate/<env>/* for the apps"},
        },
        "spec": {
            "podSelector": {"matchLabels": openbao.PODS},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "external-secrets"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "external-secrets"}},
                }],
                "ports": [{"protocol": "TCP", "port": "http"}],
            }],
        },
    }


# --- the evaluator -------------------------------------------------------------------------------


def _np(namespace: str, pods: dict, rules: list | None, types=("Ingress",)) -> dict:
    spec: dict = {"podSelector": {"matchLabels": pods}, "policyTypes": list(types)}
    if rules is not None:
        spec["ingress"] = rules
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": spec}


def test_the_evaluator_follows_networkpolicy_semantics():
    web = Pod("a", {"app": "web"}, {"http": 8080})
    client = Pod("a", {"app": "client"}, {})
    outsider = Pod("b", {"app": "client"}, {})
    assert netpol_check.admits([], outsider, web, 8080)  # not isolated
    assert netpol_check.admits([_np("a", {"app": "db"}, None)], outsider, web, 8080)  # not selected
    assert not netpol_check.admits([_np("a", {}, None)], client, web, 8080)  # default deny
    admitted = [_np("a", {}, None), _np("a", {"app": "web"}, [{}])]
    assert netpol_check.admits(admitted, outsider, web, 1)
    assert netpol_check.admits([_np("a", {}, None, types=("Egress",))], outsider, web, 8080)
    same_ns = [_np("a", {}, [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}])]
    assert netpol_check.admits(same_ns, client, web, 8080)
    assert not netpol_check.admits(same_ns, outsider, web, 8080)  # podSelector alone: own namespace
    by_ns = [_np("a", {}, [{"from": [{"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "b"}}}]}])]
    assert netpol_check.admits(by_ns, outsider, web, 8080)
    assert not netpol_check.admits(by_ns, client, web, 1)
    named = [_np("a", {}, [{"ports": [{"port": "http"}]}])]
    assert netpol_check.admits(named, outsider, web, 8080)
    assert not netpol_check.admits(named, outsider, web, 8081)
    assert not netpol_check.admits(named, outsider, Pod("a", {}, {}), 8080)  # no such named port
    ranged = [_np("a", {}, [{"ports": [{"port": 8000, "endPort": 8100, "protocol": "TCP"}]}])]
    assert netpol_check.admits(ranged, outsider, web, 8080)
    assert not netpol_check.admits(ranged, outsider, web, 8080, protocol="UDP")
    expressions = {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["client"]},
        {"key": "tier", "operator": "DoesNotExist"},
    ]}
    assert netpol_check.selector_matches(expressions, {"app": "client"})
    assert not netpol_check.selector_matches(expressions, {"app": "client", "tier": "x"})
    assert not netpol_check.selector_matches({"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["client"]}]}, {"app": "client"})
    assert netpol_check.selector_matches({"matchExpressions": [
        {"key": "app", "operator": "Exists"}]}, {"app": ""})
    ip_only = [_np("a", {}, [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}])]
    assert not netpol_check.admits(ip_only, outsider, web, 8080)
