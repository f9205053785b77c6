"""The network policies of components/netpol.py against what the charts really render.

For both stacks, every NetworkPolicy of the offline render (`tooling.render`: the program's, from
the table of every tool's `allowances()`, and the charts' own) and of the four plate charts as their
child Applications render them (`tests/engines/test_charts.py`) is evaluated by
`tooling.netpol_check` over the pods of that render.

Verifies, derived from the render: every namespace with pods has the default deny of ingress, and
`plate-<env>` that of egress; no policy is created twice; every admission webhook, conversion
webhook and APIService backend admits the API server (a node address, no pod); every scrape
target of every ServiceMonitor and PodMonitor admits Prometheus (host-network targets are named);
every Ingress backend admits Traefik; cert-manager's HTTP-01 solver pods admit Traefik where a TLS
Ingress asks for a certificate. Prometheus and Alertmanager admit exactly Grafana, Prometheus,
Alertmanager's peers on the mesh port and the ingress controller; a plate pod, the apps of the
other environment and Traefik reach neither them nor OpenBao's raft port. In `plate-<env>`: every
pod reaches the cluster DNS (UDP and TCP), each app reaches the apps its environment values call
(`http://<service>:<port>`), and nothing else: not another app, not OpenBao, not the internet.
Also: every row selects rendered pods that have its ports and every peer selects pods (Prometheus
and Alertmanager as the operator labels them, the program's Jobs by PROGRAM_POD_LABELS, checked
against the program's render); the flows inside Argo CD, Harbor, OpenBao and plate-<env> are
admitted and their neighbours' are not; the generated objects pass the Kubernetes strict schema;
the table's shape; the README's generated table is current; the plate charts' schema refuses an
egress rule without `to` or `ports`; and the evaluator's NetworkPolicy semantics, both directions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import helm_python
import pytest
import yaml

from components import names, netpol
from components.tools import argocd, catalog, cert_manager, harbor, kube_prometheus_stack, openbao
from components.tools.traefik import PEER as TRAEFIK
from tests.engines import test_charts
from tests.harness import STACKS, rendered
from tests.schemas import kubernetes_errors
from tooling import netpol_check, netpol_table, podsecurity, render
from tooling.docs import README
from tooling.netpol_check import Pod, outside

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
# what policies see of callers that are no pod: the API server on a control-plane address, a
# node, an address on the internet (documentation ranges, RFC 5737)
API_SERVER = outside("192.0.2.10")
NODE = outside("192.0.2.21")
INTERNET = outside("198.51.100.7")
# CoreDNS as kubeadm and k3s run it (components/netpol.py CLUSTER_DNS)
DNS = Pod("kube-system", {"k8s-app": "kube-dns"}, {"dns": 53, "dns-tcp": 53})


def _policies(
    argocd_namespace: str, environment: str, namespaces: set[str] | None = None
) -> list[dict]:
    """The platform's whole policy table (every tool's rows) for the protected namespaces, or
    those in `namespaces`, as the tiers create them."""
    protected = catalog.protected_namespaces(argocd_namespace, environment)
    wanted = [ns for ns in protected if namespaces is None or ns in namespaces]
    return catalog.network_policies(argocd_namespace, environment, wanted)


@dataclass(frozen=True)
class Found:
    """A pod template of the render: where it comes from, its declared port numbers, and
    whether it runs on the host network (then no policy applies to it)."""

    ref: str
    pod: Pod
    numbers: frozenset[int]
    host_network: bool = False

    def endpoint(self) -> Pod:
        """The pod as a peer or target: a host-network pod is its node's address."""
        return NODE if self.host_network else self.pod


@dataclass
class World:
    """Everything one stack would run, as the policies see it."""

    stack: str
    environment: str
    argocd_namespace: str
    apps_namespace: str
    objects: list[dict]  # the stack's render plus the plate charts' objects
    pods: list[Found]
    policies: list[dict]  # every NetworkPolicy of the render and of the plate charts

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
        return found[0].endpoint()

    def admits(self, source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
        return netpol_check.admits(self.policies, source, target, port, protocol)


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
            bool(spec.get("hostNetwork")),
        )


def operator_pods(objects: list[dict]) -> list[Found]:
    """Prometheus' and Alertmanager's pods, made by the operator from the Prometheus and
    Alertmanager objects: their labels are the ones kube-prometheus-stack's Services for them
    select on, their ports the operator's (web, reloader, Alertmanager's mesh)."""
    ports = {
        "Prometheus": {"http-web": kube_prometheus_stack.PROMETHEUS_PORT,
                       "reloader-web": kube_prometheus_stack.RELOADER_PORT},
        "Alertmanager": {"http-web": kube_prometheus_stack.ALERTMANAGER_PORT,
                         "reloader-web": kube_prometheus_stack.RELOADER_PORT,
                         "mesh-tcp": kube_prometheus_stack.MESH_PORT},
    }
    found = []
    for kind, named in ports.items():
        (made,) = [o for o in objects if o["kind"] == kind]
        namespace = made["metadata"]["namespace"]
        (service,) = [o for o in objects if o["kind"] == "Service"
                      and o["metadata"]["name"] == made["metadata"]["name"]
                      and o["metadata"]["namespace"] == namespace]
        found.append(Found(f"{kind} {namespace}/{made['metadata']['name']}",
                           Pod(namespace, service["spec"]["selector"], named),
                           frozenset(named.values())))
    return found


def prometheus_pod(w: World) -> Pod:
    (found,) = [f for f in w.pods if f.ref.startswith("Prometheus ")]
    return found.pod


def alertmanager_pod(w: World) -> Pod:
    (found,) = [f for f in w.pods if f.ref.startswith("Alertmanager ")]
    return found.pod


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
    pods = [*found_pods(objects), *operator_pods(objects), *program_pods()]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    return World(stack, cfg.environment, cfg.gitops.argocd_namespace, apps_namespace, objects,
                 pods, policies)


@pytest.fixture(scope="module", params=STACKS)
def w(request) -> World:
    return world(request.param)


def tls_ingress_namespaces(w: World) -> list[str]:
    """Namespaces with an Ingress that asks cert-manager for its certificate."""
    return sorted({
        ingress["metadata"]["namespace"] for ingress in w.of_kind("Ingress")
        if "cert-manager.io/cluster-issuer" in (ingress["metadata"].get("annotations") or {})
    })


def solver_pods(w: World) -> list[Found]:
    """An HTTP-01 solver pod in each namespace with an Ingress that asks cert-manager for its
    certificate (the solver runs next to the Certificate)."""
    labels = {**cert_manager.ACME_SOLVER_PODS, "acme.cert-manager.io/http-domain": "1"}
    return [Found(f"solver {ns}", Pod(ns, labels, SOLVER_PORTS),
                  frozenset(SOLVER_PORTS.values()))
            for ns in tls_ingress_namespaces(w)]


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


def namespaces_with_pods(w: World) -> set[str]:
    return {f.pod.namespace for f in w.pods if not f.ref.endswith("(program)")}


# --- default deny, from the render ---------------------------------------------------------------


def test_every_namespace_with_pods_denies_ingress_by_default(w):
    denied = {p["metadata"]["namespace"] for p in w.policies
              if p["metadata"]["name"] == netpol.DEFAULT_DENY
              and p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}}
    missing = namespaces_with_pods(w) - denied
    assert not missing, f"namespaces with pods and no {netpol.DEFAULT_DENY}: {sorted(missing)}"
    # the program's namespaces, the apps' included, and only those: nothing else has pods
    assert namespaces_with_pods(w) <= set(w.protected())


def test_the_apps_namespace_and_only_it_denies_egress_by_default(w):
    denied = [p["metadata"]["namespace"] for p in w.policies
              if p["metadata"]["name"] == netpol.DEFAULT_DENY_EGRESS
              and p["spec"] == {"podSelector": {}, "policyTypes": ["Egress"]}]
    assert denied == [w.apps_namespace]


def test_no_policy_is_created_twice(w):
    keys = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in w.policies]
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []


# --- the table against the render ----------------------------------------------------------------


def test_every_row_selects_rendered_pods_that_have_its_ports(w):
    pods = [*w.pods, *solver_pods(w)]
    for row in w.rows():
        if row.namespace not in namespaces_with_pods(w):
            continue  # a tool this stack does not install (Velero without a backup target)
        targets = [f for f in pods if f.pod.namespace == row.namespace and not f.host_network
                   and row.pods.items() <= f.pod.labels.items()]
        assert targets, f"{row.name}: selects no pod (off the host network) in {row.namespace}"
        for port in [*row.ports, *row.udp]:
            if isinstance(port, str):
                have = [f.ref for f in targets if port in f.pod.ports]
            else:
                have = [f.ref for f in targets
                        if port in f.numbers | service_target_numbers(w, f)]
            assert have, f"{row.name}: no selected pod has port {port!r}"


def test_every_peer_selects_pods(w):
    for row in w.rows():
        for peer in row.peers:
            if isinstance(peer, netpol.Anywhere):
                continue
            assert w.selected(peer), (
                f"{row.name}: peer {dict(peer.pods)} in {peer.namespace} selects no pod")


def test_the_solver_rows_are_where_tls_ingresses_are(w):
    solver_rows = {row.namespace for row in w.rows() if row.name == "acme-solver-from-ingress"}
    assert sorted(solver_rows) == tls_ingress_namespaces(w)
    assert tls_ingress_namespaces(w) == sorted(
        [w.argocd_namespace, "harbor", "monitoring", "openbao", w.apps_namespace])


def test_prometheus_is_the_pod_the_table_names(w):
    prometheus = prometheus_pod(w)
    assert prometheus.namespace == names.PROMETHEUS.namespace
    assert names.PROMETHEUS.pods.items() <= prometheus.labels.items()
    assert kube_prometheus_stack.ALERTMANAGER.pods.items() <= alertmanager_pod(w).labels.items()
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


# --- reachability: derived from the render -------------------------------------------------------


def backend_targets(
    w: World, namespace: str, service_name: str, port: dict
) -> list[tuple[Found, int]]:
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
        out.append((found, number))
    assert out, f"Service {namespace}/{service_name} selects no pod"
    return out


def webhook_backends(w: World) -> list[tuple[str, dict]]:
    """(what, clientConfig.service) of every admission webhook, conversion webhook and
    APIService of the render that the API server calls through a Service."""
    found = []
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for config in w.of_kind(kind):
            for hook in config.get("webhooks") or []:
                if "service" in hook["clientConfig"]:
                    found.append((f"{kind} {hook['name']}", hook["clientConfig"]["service"]))
    for crd in w.of_kind("CustomResourceDefinition"):
        conversion = crd["spec"].get("conversion") or {}
        if conversion.get("strategy") == "Webhook":
            service = conversion["webhook"]["clientConfig"].get("service")
            if service:
                found.append((f"conversion {crd['metadata']['name']}", service))
    for api in w.of_kind("APIService"):
        if api["spec"].get("service"):
            found.append((f"APIService {api['metadata']['name']}", api["spec"]["service"]))
    return found


def test_every_webhook_and_apiservice_backend_admits_the_api_server(w):
    checked = set()
    for what, service in webhook_backends(w):
        port = {"number": service.get("port", 443)}
        for found, number in backend_targets(w, service["namespace"], service["name"], port):
            assert w.admits(API_SERVER, found.endpoint(), number), (
                f"{what}: {service['namespace']}/{service['name']} -> {found.ref}:{number}")
            checked.add((service["namespace"], service["name"]))
    assert checked == {
        ("cert-manager", "cert-manager-webhook"),
        ("external-secrets", "external-secrets-webhook"),
        ("metallb-system", "metallb-webhook-service"),  # and the BGPPeer conversion webhook
        ("metrics-server", "metrics-server"),  # the APIService v1beta1.metrics.k8s.io
        ("monitoring", "kube-prometheus-stack-operator"),  # PrometheusRule admission
    }


def monitor_targets(w: World, monitor: dict) -> list[tuple[Found, int]]:
    """(pod, port number) of every scrape target a ServiceMonitor or PodMonitor selects."""
    spec = monitor["spec"]
    selector = spec.get("namespaceSelector") or {}
    if selector.get("any"):
        namespaces = None
    else:
        namespaces = selector.get("matchNames") or [monitor["metadata"]["namespace"]]
    out = []
    if monitor["kind"] == "ServiceMonitor":
        for endpoint in spec.get("endpoints") or []:
            for service in w.of_kind("Service"):
                meta = service["metadata"]
                if namespaces is not None and meta["namespace"] not in namespaces:
                    continue
                if meta["namespace"] not in namespaces_with_pods(w):
                    continue  # the cluster's own (kube-system): Services without our pods
                if not netpol_check.selector_matches(spec["selector"], meta.get("labels") or {}):
                    continue
                named = [p for p in service["spec"]["ports"] if p.get("name") == endpoint["port"]]
                if named and service["spec"].get("selector"):
                    out += backend_targets(w, meta["namespace"], meta["name"],
                                           {"name": endpoint["port"]})
    else:
        for endpoint in spec.get("podMetricsEndpoints") or []:
            for found in w.pods:
                if namespaces is not None and found.pod.namespace not in namespaces:
                    continue
                if netpol_check.selector_matches(spec["selector"], found.pod.labels):
                    out.append((found, found.pod.ports[endpoint["port"]]))
    return out


def test_every_scrape_target_admits_prometheus(w):
    prometheus = prometheus_pod(w)
    scraped, host_network, elsewhere = set(), set(), set()
    for monitor in [*w.of_kind("ServiceMonitor"), *w.of_kind("PodMonitor")]:
        name = f"{monitor['metadata']['namespace']}/{monitor['metadata']['name']}"
        targets = monitor_targets(w, monitor)
        if not targets:
            elsewhere.add(name)  # the cluster's own components, outside the render
        for found, number in targets:
            if found.host_network:
                host_network.add(name)
                continue
            assert w.admits(prometheus, found.pod, number), f"{name} -> {found.ref}:{number}"
            scraped.add(name)
    assert scraped == {
        f"{w.argocd_namespace}/argo-cd", "cert-manager/cert-manager", "external-dns/external-dns",
        "external-secrets/external-secrets", "harbor/harbor", "logging/fluentd",
        "metallb-system/metallb-metrics", "openbao/openbao", "traefik/traefik",
        "velero/velero", "velero/velero-node-agent",
        *(f"monitoring/kube-prometheus-stack-{name}" for name in (
            "alertmanager", "grafana", "kube-state-metrics", "operator", "prometheus")),
    }
    # policies do not apply on the host network: node-exporter's and the speakers' ports are
    # node addresses (MetalLB's controller, on the pod network, is in `scraped`)
    assert host_network == {"metallb-system/metallb-metrics",
                            "monitoring/kube-prometheus-stack-prometheus-node-exporter"}
    assert {n.split("/")[1] for n in elsewhere} == {
        "kube-prometheus-stack-apiserver", "kube-prometheus-stack-coredns",
        "kube-prometheus-stack-kube-controller-manager", "kube-prometheus-stack-kube-etcd",
        "kube-prometheus-stack-kube-proxy", "kube-prometheus-stack-kube-scheduler",
        "kube-prometheus-stack-kubelet",
    }


def test_every_ingress_backend_admits_traefik(w):
    traefik = w.one_pod("traefik", dict(TRAEFIK.pods))
    seen = set()
    for ingress in w.of_kind("Ingress"):
        namespace = ingress["metadata"]["namespace"]
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]
                for found, port in backend_targets(w, namespace, service["name"],
                                                   service["port"]):
                    assert w.admits(traefik, found.endpoint(), port), (
                        f"{namespace}/{ingress['metadata']['name']} -> {service['name']}")
                    seen.add((namespace, service["name"]))
    assert seen == {
        ("harbor", "harbor-portal"), ("harbor", "harbor-core"), ("openbao", "openbao-active"),
        ("monitoring", "kube-prometheus-stack-grafana"), ("monitoring", "oauth2-proxy"),
        # the UIs behind the sign-in (Traefik's forwardAuth asks oauth2-proxy, then forwards)
        ("monitoring", "kube-prometheus-stack-prometheus"),
        ("monitoring", "kube-prometheus-stack-alertmanager"),
        (w.argocd_namespace, "argo-cd-argocd-server"),
        (w.apps_namespace, "plate-web"), (w.apps_namespace, "plate-api"),
    }


def test_the_http01_solver_is_reachable_from_traefik(w):
    traefik = w.one_pod("traefik", dict(TRAEFIK.pods))
    for found in solver_pods(w):
        assert w.admits(traefik, found.pod, cert_manager.ACME_SOLVER_PORT), found.ref


def test_traefik_takes_connections_from_anywhere_on_its_entry_points_only(w):
    traefik = w.one_pod("traefik", dict(TRAEFIK.pods))
    web, websecure = (w.pods_in("traefik")[0].pod.ports[p] for p in ("web", "websecure"))
    assert w.admits(INTERNET, traefik, web) and w.admits(INTERNET, traefik, websecure)
    assert not w.admits(INTERNET, traefik, w.pods_in("traefik")[0].pod.ports["traefik"])
    assert not w.admits(INTERNET, traefik, w.pods_in("traefik")[0].pod.ports["metrics"])


# --- Prometheus and Alertmanager -----------------------------------------------------------------


def admitted_sources(w: World, target: Pod, port: int, protocol: str = "TCP") -> set[str]:
    """Refs of every rendered pod (and stranger) that may open `port` on `target`."""
    candidates = [(f.ref, f.endpoint()) for f in [*w.pods, *solver_pods(w)]]
    candidates += [(f"stranger in {s.namespace}", s) for s in strangers(w)[:2]]
    return {ref for ref, pod in candidates if w.admits(pod, target, port, protocol)}


def test_prometheus_and_alertmanager_admit_only_grafana_prometheus_and_the_ingress(w):
    grafana = "Deployment monitoring/kube-prometheus-stack-grafana"
    prometheus = "Prometheus monitoring/kube-prometheus-stack-prometheus"
    alertmanager = "Alertmanager monitoring/kube-prometheus-stack-alertmanager"
    traefik = "Deployment traefik/traefik"
    # host-network pods reach it as node addresses, which a CNI admits only from the node the
    # pod runs on (kubelet probes): the evaluator counts node addresses as any other outsider
    assert admitted_sources(w, prometheus_pod(w), 9090) == {grafana, prometheus, traefik}
    assert admitted_sources(w, alertmanager_pod(w), 9093) == {grafana, prometheus, traefik}
    assert admitted_sources(w, prometheus_pod(w), 8080) == {prometheus}
    assert admitted_sources(w, alertmanager_pod(w), 8080) == {prometheus}
    for protocol in ("TCP", "UDP"):
        assert admitted_sources(w, alertmanager_pod(w), 9094, protocol) == {alertmanager}


# --- the apps' namespace: egress -----------------------------------------------------------------


def app_pod(w: World, app: str) -> Pod:
    return w.one_pod(w.apps_namespace, {"app.kubernetes.io/name": app})


def declared_calls(w: World) -> list[tuple[str, str, int]]:
    """(app, service, port) of each `http://<service>:<port>` in an app's environment values:
    the calls the app makes to another app of its namespace."""
    calls = []
    services = {s["metadata"]["name"] for s in w.of_kind("Service", w.apps_namespace)}
    for app in test_charts.APPS:
        defaults = yaml.safe_load((test_charts.chart_dir(app) / "values.yaml").read_text())
        values = test_charts.merged(defaults, test_charts.argo_values(app, w.stack))
        for value in (values.get("env") or {}).values():
            match = re.fullmatch(r"https?://([a-z0-9-]+):(\d+)(/.*)?", str(value))
            if match and match.group(1) in services:
                calls.append((app, match.group(1), int(match.group(2))))
    return calls


def test_every_plate_pod_reaches_the_cluster_dns(w):
    for found in w.pods_in(w.apps_namespace):
        for protocol in ("UDP", "TCP"):
            assert w.admits(found.pod, DNS, 53, protocol), (found.ref, protocol)
        assert not w.admits(found.pod, DNS, 9153)  # CoreDNS' metrics: not for apps


def test_each_app_reaches_the_apps_its_values_call(w):
    calls = declared_calls(w)
    assert calls == [("plate-api", "plate-llm", 8000)]
    for app, service, port in calls:
        for found, number in backend_targets(w, w.apps_namespace, service, {"number": port}):
            assert w.admits(app_pod(w, app), found.pod, number), (app, service)


def test_a_plate_pod_reaches_nothing_it_does_not_declare(w):
    web, api = app_pod(w, "plate-web"), app_pod(w, "plate-api")
    llm, cache = app_pod(w, "plate-llm"), app_pod(w, "plate-cache")
    refused = [
        (web, llm, 8000), (web, api, 8080), (api, cache, 6379), (llm, api, 8080),
        (api, INTERNET, 443), (web, INTERNET, 443), (llm, INTERNET, 443),
        (api, w.one_pod("openbao", openbao.PODS), 8200),
        (web, w.one_pod("monitoring", dict(kube_prometheus_stack.GRAFANA.pods)), 3000),
        (api, API_SERVER, 6443),
    ]
    for source, target, port in refused:
        assert not w.admits(source, target, port), (source.labels, target, port)
    # the egress side alone refuses: even a target that admits everyone is out of reach
    assert not netpol_check.egress_admits(w.policies, web, INTERNET, 443)


def test_a_plate_pod_cannot_reach_alertmanager():
    for stack in STACKS:
        w = world(stack)
        for app in test_charts.APPS:
            assert not w.admits(app_pod(w, app), alertmanager_pod(w), 9093), (stack, app)


def test_staging_apps_cannot_reach_production_apps():
    """Both stacks' policies on one cluster (README "Two stacks on one cluster")."""
    stg, prod = world("stg"), world("prod")
    both = [*stg.policies, *prod.policies]
    for source_app in test_charts.APPS:
        for target_app in test_charts.APPS:
            target = prod.pods_in(prod.apps_namespace, {"app.kubernetes.io/name": target_app})
            for found in target:
                for port in found.numbers:
                    assert not netpol_check.admits(
                        both, app_pod(stg, source_app), found.pod, port), (source_app, found.ref)
    # and the other way round for the one declared call
    assert not netpol_check.admits(both, app_pod(prod, "plate-api"), app_pod(stg, "plate-llm"),
                                   8000)


def test_traefik_cannot_reach_openbaos_raft_port(w):
    traefik = w.one_pod("traefik", dict(TRAEFIK.pods))
    assert not w.admits(traefik, w.one_pod("openbao", openbao.PODS), 8201)


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
    ("monitoring", dict(kube_prometheus_stack.GRAFANA.pods),
     "monitoring", {"app.kubernetes.io/name": "prometheus"}, 9090),
    ("monitoring", dict(kube_prometheus_stack.GRAFANA.pods),
     "monitoring", {"app.kubernetes.io/name": "alertmanager"}, 9093),
    ("monitoring", {"app.kubernetes.io/name": "prometheus"},
     "monitoring", {"app.kubernetes.io/name": "alertmanager"}, 9093),
    ("monitoring", {"app.kubernetes.io/name": "prometheus"},
     "monitoring", {"app.kubernetes.io/name": "kube-state-metrics"}, 8080),
    ("monitoring", {"app.kubernetes.io/name": "prometheus"},
     "velero", {"app.kubernetes.io/name": "velero", "name": "velero"}, 8085),
    ("monitoring", {"app.kubernetes.io/name": "prometheus"},
     "velero", {"name": "node-agent"}, 8085),
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
    ("traefik", dict(TRAEFIK.pods), "openbao", openbao.PODS, 8201),
    ("traefik", dict(TRAEFIK.pods), "monitoring", {"app.kubernetes.io/name": "alertmanager"},
     9094),
    ("traefik", dict(TRAEFIK.pods), "cert-manager", cert_manager.CONTROLLER_PODS, 9402),
    ("monitoring", dict(kube_prometheus_stack.GRAFANA.pods),
     "external-secrets", {"app.kubernetes.io/name": "external-secrets"}, 8080),
    ("harbor", HARBOR("core"), "logging", {"app.kubernetes.io/name": "fluentd"}, 24231),
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
        w.one_pod("monitoring", dict(kube_prometheus_stack.GRAFANA.pods)),
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


def test_the_render_holds_the_generated_policies(w):
    """What the tiers create is the table: every generated policy of a namespace with pods is in
    the render, unchanged."""
    rendered_ = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in w.policies}
    for policy in _policies(w.argocd_namespace, w.environment, namespaces_with_pods(w)):
        key = (policy["metadata"]["namespace"], policy["metadata"]["name"])
        assert key in rendered_, key
        assert rendered_[key]["spec"] == policy["spec"], key


def test_one_default_deny_per_protected_namespace_and_unique_names():
    policies = _policies("argocd", "stg")
    denies = [p for p in policies if p["metadata"]["name"] == netpol.DEFAULT_DENY]
    assert [p["metadata"]["namespace"] for p in denies] == catalog.protected_namespaces(
        "argocd", "stg")
    assert {"cert-manager", "metallb-system", "nfs-provisioner", "traefik", "argocd", "harbor",
            "monitoring", "logging", "velero", "external-secrets", "openbao", "plate-stg",
            } <= set(catalog.protected_namespaces("argocd", "stg"))
    assert all(p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]} for p in denies)
    keys = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in policies]
    assert len(keys) == len(set(keys))
    rows_ = catalog.allowances("argocd", "stg")
    egress = catalog.egress_allowances("stg")
    assert len(policies) == len(denies) + 1 + len(rows_) + len(egress)
    assert all(row.reason and row.ports for row in rows_)


def test_the_argocd_namespace_is_a_parameter_and_tiers_can_pick_namespaces():
    policies = _policies("gitops", "prod", namespaces={"gitops", "plate-prod"})
    assert {p["metadata"]["namespace"] for p in policies} == {"gitops", "plate-prod"}
    repo = [p for p in policies if p["metadata"]["name"] == "allow-argocd-repo-server-from-argocd"]
    peers = repo[0]["spec"]["ingress"][0]["from"]
    assert {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for p in peers} == {"gitops"}
    egress = [p["metadata"]["name"] for p in policies if "Egress" in p["spec"]["policyTypes"]]
    assert egress == ["default-deny-egress", "allow-dns-egress"]


def test_an_allow_policy_spells_out_its_row():
    (policy,) = [p for p in _policies("argocd", "stg")
                 if p["metadata"]["name"] == "allow-openbao-from-external-secrets"]
    assert policy["metadata"] == {
        "name": "allow-openbao-from-external-secrets",
        "namespace": "openbao",
        "labels": {"app.kubernetes.io/part-of": "plate-platform"},
        "annotations": {
            "plate.dev/reason": "External Secrets reads plate/<env>/* for the apps"},
    }
    assert policy["spec"]["podSelector"] == {"matchLabels": openbao.PODS}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "external-secrets"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "external-secrets"}},
    }]
    assert [entry["protocol"] for entry in rule["ports"]] == ["TCP"]


def test_a_row_from_anywhere_has_no_from_and_an_egress_row_spells_out_its_peers():
    policies = {p["metadata"]["name"]: p for p in _policies("argocd", "stg", {"cert-manager",
                                                                             "plate-stg"})}
    assert policies["allow-cert-manager-webhook-from-api-server"]["spec"]["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": "https"}]}]
    assert policies["allow-dns-egress"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{
            "to": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}],
        }],
    }
    assert policies["default-deny-egress"]["spec"] == {"podSelector": {},
                                                       "policyTypes": ["Egress"]}


def test_the_readme_table_is_generated_from_the_rows():
    current = README.read_text()
    assert current == netpol_table.readme_with_table(current), (
        "README.md's network-policy table is stale: run "
        "`uv run python -m tooling.netpol_table --write`")
    assert "| `openbao` | " in netpol_table.table()


@pytest.mark.parametrize("rule", [
    pytest.param({"ports": [{"protocol": "TCP", "port": 443}]}, id="no-to"),
    pytest.param({"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}, id="no-ports"),
    pytest.param({"to": [], "ports": [{"port": 443}]}, id="empty-to"),
])
def test_the_charts_refuse_an_egress_rule_without_where_or_which_port(rule):
    values = test_charts.merged(test_charts.argo_values("plate-web", "stg"),
                                {"networkPolicy": {"egress": [rule]}})
    result = helm_python.lint(str(test_charts.built_chart("plate-web")), values, strict=True)
    assert result["errors"] and "egress" in " ".join(result["errors"]), result["errors"]


def test_a_declared_outside_address_is_opened_on_its_port_only():
    rule = {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 443}]}
    values = test_charts.merged(test_charts.argo_values("plate-web", "stg"),
                                {"networkPolicy": {"egress": [rule]}})
    (policy,) = test_charts.of_kind(test_charts.render("plate-web", "stg", values),
                                    "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == [rule]
    web = Pod("plate-stg", {"app.kubernetes.io/name": "plate-web",
                            "app.kubernetes.io/instance": "plate-web"}, {})
    policy = {**policy, "metadata": {**policy["metadata"], "namespace": "plate-stg"}}
    assert netpol_check.egress_admits([policy], web, INTERNET, 443)
    assert not netpol_check.egress_admits([policy], web, INTERNET, 80)
    assert not netpol_check.egress_admits([policy], web, outside("203.0.113.9"), 443)
    # without a declaration the chart leaves egress to the namespace's default deny
    (plain,) = test_charts.of_kind(test_charts.rendered("plate-web", "stg"), "NetworkPolicy")
    assert plain["spec"]["policyTypes"] == ["Ingress"] and "egress" not in plain["spec"]


# --- the evaluator -------------------------------------------------------------------------------


def _np(namespace: str, pods: dict, rules: list | None, types=("Ingress",),
        egress: list | None = None) -> dict:
    spec: dict = {"podSelector": {"matchLabels": pods}, "policyTypes": list(types)}
    if rules is not None:
        spec["ingress"] = rules
    if egress is not None:
        spec["egress"] = egress
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
    # ipBlock: addresses, never pods; `except` carves out
    ip_only = [_np("a", {}, [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8",
                                                    "except": ["10.1.0.0/16"]}}]}])]
    assert not netpol_check.admits(ip_only, outsider, web, 8080)
    assert netpol_check.admits(ip_only, outside("10.2.3.4"), web, 8080)
    assert not netpol_check.admits(ip_only, outside("10.1.3.4"), web, 8080)
    # selectors never match what is no pod; a rule without `from` admits it
    assert not netpol_check.admits(by_ns, outside("10.2.3.4"), web, 8080)
    assert netpol_check.admits(named, outside("10.2.3.4"), web, 8080)
    assert netpol_check.admits([_np("a", {}, None)], web, outside("10.2.3.4"), 1)  # not isolated


def test_the_evaluator_checks_the_sources_egress_too():
    web = Pod("a", {"app": "web"}, {"http": 8080})
    db = Pod("b", {"app": "db"}, {"sql": 5432})
    deny_out = _np("a", {}, None, types=("Egress",))
    assert not netpol_check.admits([deny_out], web, db, 5432)
    assert netpol_check.ingress_admits([deny_out], web, db, 5432)  # db itself is not isolated
    to_db = _np("a", {"app": "web"}, None, types=("Egress",), egress=[{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}},
                "podSelector": {"matchLabels": {"app": "db"}}}],
        "ports": [{"protocol": "TCP", "port": "sql"}]}])
    assert netpol_check.admits([deny_out, to_db], web, db, 5432)
    assert not netpol_check.admits([deny_out, to_db], web, db, 5433)
    assert not netpol_check.admits([deny_out, to_db], web, Pod("a", {"app": "db"}, {}), 5432)
    assert not netpol_check.admits([deny_out, to_db], Pod("a", {"app": "x"}, {}), db, 5432)
    # both ends must agree: the target's ingress policy still decides
    assert not netpol_check.admits([deny_out, to_db, _np("b", {}, None)], web, db, 5432)
    # policyTypes left out: Egress when egress rules are present (as the API server defaults)
    dns_only = [{"ports": [{"port": 53, "protocol": "UDP"}]}]
    implied = {"metadata": {"name": "p", "namespace": "a"},
               "spec": {"podSelector": {}, "egress": dns_only}}
    assert netpol_check.admits([implied], web, db, 53, "UDP")
    assert not netpol_check.admits([implied], web, db, 5432)
