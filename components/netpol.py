"""Ingress NetworkPolicies of the protected namespaces, generated from one table (`allowances`).

Every protected namespace (Argo CD's, `harbor`, `openbao`, `plate-<env>`) gets a
`default-deny-ingress` policy that isolates all its pods, and each row of the table becomes one
`allow-<row>` policy: these pods, on these ports, from these peers, for this reason. Pod labels
and port names are the ones the pinned charts render (`tests/test_netpol.py` checks every row
against the offline render of both stacks, and that every Ingress backend and every scrape target
stays reachable). The in-house charts bring their own policy per release (helm/plate-common
`plate-common.networkPolicy`); the table adds only what no chart knows about in `plate-<env>`.

Ingress only. Egress stays open: the tools need DNS, the Kubernetes API, Let's Encrypt, image
registries, the git server and the log backend, several of them outside the cluster at addresses
a policy cannot name without an egress-capable CNI feature (FQDN policies); restricting egress is
a follow-up.

What this assumes of the cluster's CNI:
- it enforces `networking.k8s.io/v1` NetworkPolicy (Calico, Cilium, Antrea, kube-router, or
  Canal = flannel + Calico policy). Flannel alone does not: the objects are accepted and nothing
  is enforced;
- traffic from the node itself (kubelet liveness/readiness/startup probes) is admitted whatever
  the policies say, as Calico, Cilium and the others do by default; `kubectl port-forward` enters
  the pod's own network namespace and is not subject to policies either;
- pods on the host network (MetalLB's speaker, node-exporter) are not subject to policies and,
  as peers, appear as node addresses: no row names them, none needs to;
- Traefik forwards to pod addresses (its Kubernetes Ingress provider reads the endpoints), so the
  source a policy sees is the Traefik pod, not a node or the Service address.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by the API server
REASON_ANNOTATION = "plate.dev/reason"
POLICY_LABELS = {"app.kubernetes.io/part-of": "plate-platform"}
DEFAULT_DENY = "default-deny-ingress"


@dataclass(frozen=True)
class Peer:
    """Pods allowed to connect: those with `pods` labels (empty: every pod) and none of the
    `absent` label keys, in `namespace`."""

    namespace: str
    pods: Mapping[str, str]
    absent: tuple[str, ...] = ()

    def pod_selector(self) -> dict[str, Any]:
        selector: dict[str, Any] = {"matchLabels": dict(self.pods)}
        if self.absent:
            selector["matchExpressions"] = [
                {"key": key, "operator": "DoesNotExist"} for key in self.absent
            ]
        return selector

    def selector(self) -> dict[str, Any]:
        return {
            "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: self.namespace}},
            "podSelector": self.pod_selector(),
        }


@dataclass(frozen=True)
class Allowance:
    """One row: `pods` in `namespace` accept TCP on `ports` (names or numbers, as the chart
    renders its container ports) from `peers`."""

    name: str
    namespace: str
    pods: Mapping[str, str]
    ports: tuple[int | str, ...]
    peers: tuple[Peer, ...]
    reason: str


# --- who connects: labels as the pinned charts (or the program) set them -----------------------

TRAEFIK = Peer("traefik", {"app.kubernetes.io/name": "traefik"})
# the Prometheus Operator labels the pods of a Prometheus this way (kube-prometheus-stack's
# Service for Prometheus selects on it)
PROMETHEUS = Peer("monitoring", {"app.kubernetes.io/name": "prometheus"})
# the controller, which reads OpenBao for every SecretStore (not the webhook or cert-controller)
EXTERNAL_SECRETS = Peer("external-secrets", {"app.kubernetes.io/name": "external-secrets"})
# the program's own workloads: their pod templates must carry exactly these labels
HARBOR_BOOTSTRAP_POD_LABELS = {"app.kubernetes.io/name": "harbor-bootstrap"}
OPENBAO_SNAPSHOT_POD_LABELS = {"app.kubernetes.io/name": "openbao-snapshot"}
# the snapshot CronJob's pods, not the shelf Deployment that shares their name label
# (components/tools/backups.py: `app.kubernetes.io/component: shelf`, no ServiceAccount token)
OPENBAO_SNAPSHOT = Peer(
    "openbao", OPENBAO_SNAPSHOT_POD_LABELS, absent=("app.kubernetes.io/component",)
)
# cert-manager's ACME HTTP-01 solver pods, created in the namespace of each Certificate
# Ref: https://cert-manager.io/docs/configuration/acme/http01/ (pod label and port 8089)
ACME_SOLVER_PODS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089

OPENBAO_PODS = {
    "app.kubernetes.io/name": "openbao", "app.kubernetes.io/instance": "openbao",
    "component": "server",
}
HARBOR_PODS = {"app": "harbor", "release": "harbor"}  # every Harbor component (its selectors)


def harbor(component: str) -> dict[str, str]:
    return {**HARBOR_PODS, "component": component}


def argocd(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": "argo-cd"}


def apps_namespace(environment: str) -> str:
    return f"plate-{environment}"


def protected_namespaces(argocd_namespace: str, environment: str) -> list[str]:
    return [argocd_namespace, "harbor", "openbao", apps_namespace(environment)]


def allowances(
    argocd_namespace: str, environment: str, ingress: Peer = TRAEFIK
) -> list[Allowance]:
    """The table: every connection into a protected namespace that the platform needs."""
    a = argocd_namespace
    harbor_peer = Peer("harbor", HARBOR_PODS)
    in_harbor = [Peer("harbor", harbor(c)) for c in ("core", "jobservice", "registry", "trivy")]
    exporter = Peer("harbor", harbor("exporter"))
    openbao_peer = Peer("openbao", OPENBAO_PODS)
    rows = [
        # the ingress controller -> the tools' UIs and APIs (the charts' Ingress backends)
        Allowance("argocd-server-from-ingress", a, argocd("argocd-server"), ("server",),
                  (ingress,), "Argo CD UI and API through the ingress controller"),
        Allowance("harbor-core-from-ingress", "harbor", harbor("core"), (8080,), (ingress,),
                  "Harbor API and registry (/api/, /service/, /v2/, /c/) through the ingress"),
        Allowance("harbor-portal-from-ingress", "harbor", harbor("portal"), (8080,), (ingress,),
                  "Harbor web UI (/) through the ingress controller"),
        Allowance("openbao-from-ingress", "openbao", OPENBAO_PODS, ("http",), (ingress,),
                  "OpenBao UI and API through the ingress controller (people, CI)"),
        # who else talks to OpenBao
        Allowance("openbao-from-external-secrets", "openbao", OPENBAO_PODS, ("http",),
                  (EXTERNAL_SECRETS,), "External Secrets reads plate/<env>/* for the apps"),
        Allowance("openbao-from-harbor-bootstrap", "openbao", OPENBAO_PODS, ("http",),
                  (Peer("harbor", HARBOR_BOOTSTRAP_POD_LABELS),),
                  "the Harbor bootstrap Job writes the robot credentials"),
        Allowance("openbao-from-snapshot", "openbao", OPENBAO_PODS, ("http",),
                  (OPENBAO_SNAPSHOT,),
                  "the raft snapshot CronJob takes snapshots through the API"),
        Allowance("openbao-peers", "openbao", OPENBAO_PODS, ("http", "https-internal"),
                  (openbao_peer,),
                  "raft replication and request forwarding (8201), join and init checks (8200)"),
        # Harbor's components among themselves (who connects to what: the chart's env/config)
        Allowance("harbor-core-from-harbor", "harbor", harbor("core"), (8080,), (harbor_peer,),
                  "jobservice, registry notifications, trivy and the exporter call core"),
        Allowance("harbor-core-from-harbor-bootstrap", "harbor", harbor("core"), (8080,),
                  (Peer("harbor", HARBOR_BOOTSTRAP_POD_LABELS),),
                  "the bootstrap Job creates the project and robots through core's API"),
        Allowance("harbor-registry-from-harbor", "harbor", harbor("registry"), (5000, 8080),
                  (harbor_peer,), "core, jobservice and trivy use the registry and registryctl"),
        Allowance("harbor-jobservice-from-harbor", "harbor", harbor("jobservice"), (8080,),
                  (harbor_peer,), "core submits jobs (GC, replication, scans)"),
        Allowance("harbor-trivy-from-harbor", "harbor", harbor("trivy"), ("api-server",),
                  (harbor_peer,), "core and jobservice ask the scanner adapter for scans"),
        Allowance("harbor-database-from-harbor", "harbor", harbor("database"), (5432,),
                  (Peer("harbor", harbor("core")), Peer("harbor", harbor("jobservice")), exporter),
                  "PostgreSQL: only core, jobservice and the exporter hold its credentials"),
        Allowance("harbor-redis-from-harbor", "harbor", harbor("redis"), (6379,),
                  (*in_harbor, exporter), "Redis: core, jobservice, registry, trivy, exporter"),
        # Argo CD's components among themselves (dex, notifications, commit server: off)
        Allowance("argocd-repo-server-from-argocd", a, argocd("argocd-repo-server"),
                  ("repo-server",),
                  tuple(Peer(a, argocd(c)) for c in (
                      "argocd-server", "argocd-application-controller",
                      "argocd-applicationset-controller")),
                  "server, controller and ApplicationSet controller render manifests"),
        Allowance("argocd-redis-from-argocd", a, argocd("argocd-redis"), ("redis",),
                  tuple(Peer(a, argocd(c)) for c in (
                      "argocd-server", "argocd-repo-server", "argocd-application-controller")),
                  "the cache of server, repo server and controller"),
        # Prometheus -> the metrics ports of components/observability/monitors.py's targets
        Allowance("argocd-metrics-from-prometheus", a,
                  {"app.kubernetes.io/instance": "argo-cd"}, ("metrics",), (PROMETHEUS,),
                  "scrapes server, repo server and controller (monitors.py)"),
        Allowance("harbor-metrics-from-prometheus", "harbor", HARBOR_PODS, (8001,),
                  (PROMETHEUS,), "scrapes core, registry, jobservice and the exporter"),
        Allowance("openbao-metrics-from-prometheus", "openbao", OPENBAO_PODS, ("http",),
                  (PROMETHEUS,), "scrapes /v1/sys/metrics on the API port"),
    ]
    # cert-manager's HTTP-01 solver: Let's Encrypt reaches it through the ingress controller in
    # every namespace that has a TLS Ingress (the solver runs next to the Certificate)
    rows += [
        Allowance("acme-solver-from-ingress", ns, ACME_SOLVER_PODS, (ACME_SOLVER_PORT,),
                  (ingress,), "Let's Encrypt HTTP-01 challenges, served by cert-manager's solver")
        for ns in protected_namespaces(a, environment)
    ]
    return rows


# --- the objects ---------------------------------------------------------------------------------


def _policy(name: str, namespace: str, reason: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(POLICY_LABELS),
            "annotations": {REASON_ANNOTATION: reason},
        },
        "spec": spec,
    }


def default_deny(namespace: str) -> dict[str, Any]:
    """Isolates every pod of `namespace` for ingress; the allow policies then add up."""
    return _policy(
        DEFAULT_DENY, namespace, "deny all ingress unless an allow-* policy admits it",
        {"podSelector": {}, "policyTypes": ["Ingress"]},
    )


def allow_policy(row: Allowance) -> dict[str, Any]:
    return _policy(
        f"allow-{row.name}", row.namespace, row.reason,
        {
            "podSelector": {"matchLabels": dict(row.pods)},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [peer.selector() for peer in row.peers],
                "ports": [{"protocol": "TCP", "port": port} for port in row.ports],
            }],
        },
    )


def network_policies(
    argocd_namespace: str,
    environment: str,
    ingress: Peer = TRAEFIK,
    namespaces: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Default deny plus one allow policy per row, for the protected namespaces (all, or those
    in `namespaces`: a tier creates the ones of the namespaces it owns)."""
    wanted = [
        ns for ns in protected_namespaces(argocd_namespace, environment)
        if namespaces is None or ns in namespaces
    ]
    rows = allowances(argocd_namespace, environment, ingress)
    return [
        *(default_deny(ns) for ns in wanted),
        *(allow_policy(row) for row in rows if row.namespace in wanted),
    ]


# --- evaluation: what the policies admit (for tests and render checks) ---------------------------


@dataclass(frozen=True)
class Pod:
    """A pod as policies see it: namespace, labels, and its named container ports."""

    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, int]


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions); empty matches everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, source: Pod) -> bool:
    if "ipBlock" in peer:
        return False  # addresses, not pods: never matches a pod peer here
    if "namespaceSelector" in peer:
        namespace_labels = {NAMESPACE_LABEL: source.namespace}
        if not selector_matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif source.namespace != policy_namespace:
        return False  # a podSelector alone means the policy's own namespace
    return selector_matches(peer.get("podSelector"), source.labels)


def _port_matches(entry: Mapping[str, Any], target: Pod, port: int, protocol: str) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return target.ports.get(wanted) == port
    return wanted <= port <= entry.get("endPort", wanted)


def admits(
    policies: Iterable[Mapping[str, Any]],
    source: Pod,
    target: Pod,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether `source` may open `port` on `target` under `policies` (ingress only, the
    NetworkPolicy semantics: no policy selecting the target = allowed; else any rule of any
    selecting policy must admit)."""
    selecting: Sequence[Mapping[str, Any]] = [
        p for p in policies
        if p["metadata"].get("namespace") == target.namespace
        and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
        and selector_matches(p["spec"].get("podSelector"), target.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from") or []
            ports = rule.get("ports") or []
            namespace = policy["metadata"]["namespace"]
            if peers and not any(_peer_matches(peer, namespace, source) for peer in peers):
                continue
            if ports and not any(_port_matches(e, target, port, protocol) for e in ports):
                continue
            return True
    return False
