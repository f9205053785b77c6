"""Ingress NetworkPolicies of the protected namespaces, generated from one table of rows.

Every protected namespace (Argo CD's, `harbor`, `openbao`, `plate-<env>`) gets a
`default-deny-ingress` policy that isolates all its pods, and each row of the table becomes one
`allow-<row>` policy: these pods, on these ports, from these peers, for this reason. Each tool
contributes the rows into its own namespace (`components/tools/<tool>`); the table is assembled in
`components/tools/catalog.py` and checked as a whole. Pod labels and port names are the ones the
pinned charts render (`tests/engines/test_netpol.py` checks every row
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

from collections.abc import Collection, Mapping, Sequence
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
    rows: Sequence[Allowance], namespaces: Collection[str]
) -> list[dict[str, Any]]:
    """Default deny plus one allow policy per row, for the protected `namespaces` (a tier creates
    the ones of the namespaces it owns; rows into other namespaces are left out)."""
    return [
        *(default_deny(ns) for ns in namespaces),
        *(allow_policy(row) for row in rows if row.namespace in namespaces),
    ]
