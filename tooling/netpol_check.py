"""What a set of NetworkPolicies admits: the ingress semantics of `networking.k8s.io/v1`, evaluated
offline over rendered objects (the tests and the render's checks use it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.netpol import NAMESPACE_LABEL


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
