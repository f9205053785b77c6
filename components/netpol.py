"""The NetworkPolicies of every namespace the platform creates, generated from one table of rows.

Every namespace the program creates with pods in it (the tools' namespaces and `plate-<env>`) gets
a `default-deny-ingress` policy that isolates all its pods, and each row of the table becomes one
`allow-<row>` policy: these pods, on these ports, from these peers, for this reason. Each tool
contributes the rows into its own namespace (`components/tools/<tool>`, `allowances()`); the
table is assembled in `components/tools/catalog.py` and checked as a whole. Pod labels and port
names are the ones the pinned charts render (`tests/engines/test_netpol.py` checks every row
against the offline render of both stacks, and that every Ingress backend, every scrape target
and every webhook or APIService backend of the render stays reachable). The in-house charts bring
their own policy per release (helm/plate-common `plate-common.networkPolicy`); the table adds only
what no chart knows about in `plate-<env>`.

Egress is confined in `plate-<env>` only: `default-deny-egress` there, the cluster DNS for every
pod (`EgressAllowance` rows), and whatever each release declares in its chart (`networkPolicy.
egress`: the other apps it calls, addresses outside). The tools' namespaces keep egress open: they
need the Kubernetes API, Let's Encrypt, image registries, the git server and the log backend,
several of them outside the cluster at addresses a policy cannot name without an egress-capable
CNI feature (FQDN policies).

Callers that are not pods (the API server calling an admission webhook, a conversion webhook or
an aggregated API; clients of a LoadBalancer Service) are admitted by a rule without `from`
(`Anywhere`) on that one port: the API server's source address is a node or control-plane
address, which differs between distributions, and an `ipBlock` does not match node addresses on
every CNI (Cilium gives them the `remote-node` identity, which CIDR rules skip by default).

What this assumes of the cluster's CNI:
- it enforces `networking.k8s.io/v1` NetworkPolicy (Calico, Cilium, Antrea, kube-router, or
  Canal = flannel + Calico policy). Flannel alone does not: the objects are accepted and nothing
  is enforced;
- traffic from the node itself (kubelet liveness/readiness/startup probes) is admitted whatever
  the policies say, as Calico, Cilium and the others do by default; `kubectl port-forward` enters
  the pod's own network namespace and is not subject to policies either;
- pods on the host network (MetalLB's speaker, node-exporter, csi-driver-nfs) are not subject to
  policies and, as peers, appear as node addresses: no row names them, none needs to;
- Traefik forwards to pod addresses (its Kubernetes Ingress provider reads the endpoints), so the
  source a policy sees is the Traefik pod, not a node or the Service address;
- the cluster DNS runs as pods labelled `k8s-app: kube-dns` in `kube-system` (CoreDNS as kubeadm
  and k3s deploy it, `CLUSTER_DNS`), and egress rules see the DNS pod after the Service address
  is translated, as kube-proxy, Calico and Cilium do (a node-local DNS cache on a link-local
  address would need a rule of its own).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by the API server
REASON_ANNOTATION = "plate.dev/reason"
POLICY_LABELS = {"app.kubernetes.io/part-of": "plate-platform"}
DEFAULT_DENY = "default-deny-ingress"
DEFAULT_DENY_EGRESS = "default-deny-egress"

Port = int | str  # a number, or a container port's name as the chart renders it


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
class Anywhere:
    """Any source (a rule without `from`), for callers that are not pods: `who` says which."""

    who: str


# The API server calls admission and conversion webhooks and aggregated APIs from a node or
# control-plane address (see the module docstring for why not an ipBlock).
API_SERVER = Anywhere("the Kubernetes API server")

# CoreDNS, the cluster DNS. Ref: kubernetes/kubernetes cmd/kubeadm/app/phases/addons/dns/
# manifests.go and k3s-io/k3s manifests/coredns.yaml (pods and Service `kube-dns` select
# `k8s-app: kube-dns`, ports 53/UDP and 53/TCP)
CLUSTER_DNS = Peer("kube-system", {"k8s-app": "kube-dns"})
DNS_PORT = 53


@dataclass(frozen=True)
class Allowance:
    """One row: `pods` in `namespace` accept `ports` (TCP) and `udp` from `peers`. An `Anywhere`
    peer, or none at all, admits every source on those ports (the rule has no `from`); prefer
    `Anywhere`, which says who is meant."""

    name: str
    namespace: str
    pods: Mapping[str, str]
    ports: tuple[Port, ...]
    peers: tuple[Peer | Anywhere, ...]
    reason: str
    udp: tuple[Port, ...] = ()


@dataclass(frozen=True)
class EgressAllowance:
    """One egress row, in a namespace whose egress is denied: `pods` (empty: every pod) in
    `namespace` may open `ports` (TCP) and `udp` to `to`."""

    name: str
    namespace: str
    pods: Mapping[str, str]
    ports: tuple[Port, ...]
    to: tuple[Peer, ...]
    reason: str
    udp: tuple[Port, ...] = ()


def dns_egress(namespace: str) -> EgressAllowance:
    """Every pod of `namespace` may ask the cluster DNS (UDP, and TCP for long answers)."""
    return EgressAllowance(
        "dns", namespace, {}, (DNS_PORT,), (CLUSTER_DNS,),
        "name lookups: the cluster DNS (CoreDNS in kube-system)", udp=(DNS_PORT,),
    )


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


def _ports(tcp: tuple[Port, ...], udp: tuple[Port, ...]) -> list[dict[str, Any]]:
    return [
        *({"protocol": "TCP", "port": port} for port in tcp),
        *({"protocol": "UDP", "port": port} for port in udp),
    ]


def default_deny(namespace: str) -> dict[str, Any]:
    """Isolates every pod of `namespace` for ingress; the allow policies then add up."""
    return _policy(
        DEFAULT_DENY, namespace, "deny all ingress unless an allow-* policy admits it",
        {"podSelector": {}, "policyTypes": ["Ingress"]},
    )


def default_deny_egress(namespace: str) -> dict[str, Any]:
    """Isolates every pod of `namespace` for egress; the egress rows and the charts' own
    policies then add up."""
    return _policy(
        DEFAULT_DENY_EGRESS, namespace,
        "deny all egress unless an allow-* policy or the release's own policy admits it",
        {"podSelector": {}, "policyTypes": ["Egress"]},
    )


def allow_policy(row: Allowance) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    peers = [peer.selector() for peer in row.peers if isinstance(peer, Peer)]
    if peers and not any(isinstance(peer, Anywhere) for peer in row.peers):
        rule["from"] = peers
    rule["ports"] = _ports(row.ports, row.udp)
    return _policy(
        f"allow-{row.name}", row.namespace, row.reason,
        {
            "podSelector": {"matchLabels": dict(row.pods)},
            "policyTypes": ["Ingress"],
            "ingress": [rule],
        },
    )


def allow_egress_policy(row: EgressAllowance) -> dict[str, Any]:
    return _policy(
        f"allow-{row.name}-egress", row.namespace, row.reason,
        {
            "podSelector": {"matchLabels": dict(row.pods)} if row.pods else {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [peer.selector() for peer in row.to],
                "ports": _ports(row.ports, row.udp),
            }],
        },
    )


def network_policies(
    rows: Sequence[Allowance],
    namespaces: Collection[str],
    egress_rows: Sequence[EgressAllowance] = (),
    egress_confined: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Default deny plus one allow policy per row, for the `namespaces` a tier creates (rows into
    other namespaces are left out); egress denied too in those of `egress_confined`, plus one
    policy per egress row into them."""
    confined = [ns for ns in namespaces if ns in egress_confined]
    return [
        *(default_deny(ns) for ns in namespaces),
        *(default_deny_egress(ns) for ns in confined),
        *(allow_policy(row) for row in rows if row.namespace in namespaces),
        *(allow_egress_policy(row) for row in egress_rows if row.namespace in confined),
    ]
