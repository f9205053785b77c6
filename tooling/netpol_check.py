"""What a set of NetworkPolicies admits: the ingress and egress semantics of `networking.k8s.io/v1`,
evaluated offline over rendered objects (tests/engines/test_netpol.py and test_charts.py use it).

A connection is admitted when the source's egress policies let it out and the target's ingress
policies let it in. Endpoints that are no pod (a node, the API server, an address outside the
cluster) are `outside(address)`: pod and namespace selectors never match them, `ipBlock`s do
when they contain the address, and no policy isolates them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.netpol import NAMESPACE_LABEL


@dataclass(frozen=True)
class Pod:
    """An endpoint as policies see it: a pod's namespace, labels and named container ports; or,
    with `address` and no namespace, something that is no pod on the pod network."""

    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, int]
    address: str | None = None

    @property
    def is_pod(self) -> bool:
        return bool(self.namespace)


def outside(address: str) -> Pod:
    """A node, the API server or an address on the internet: no namespace, no labels."""
    return Pod("", {}, {}, address)


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


def _in_block(block: Mapping[str, Any], address: str | None) -> bool:
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    if ip not in ipaddress.ip_network(block["cidr"]):
        return False
    return not any(ip in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Pod) -> bool:
    """Whether `other` (the source of an ingress rule, the destination of an egress rule) is
    this NetworkPolicyPeer."""
    if "ipBlock" in peer:
        return _in_block(peer["ipBlock"], other.address)
    if not other.is_pod:
        return False  # selectors name pods; a node or an outside address is none
    if "namespaceSelector" in peer:
        namespace_labels = {NAMESPACE_LABEL: other.namespace}
        if not selector_matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False  # a podSelector alone means the policy's own namespace
    return selector_matches(peer.get("podSelector"), other.labels)


def _port_matches(entry: Mapping[str, Any], target: Pod, port: int, protocol: str) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return target.ports.get(wanted) == port
    return bool(wanted <= port <= entry.get("endPort", wanted))


def _types(policy: Mapping[str, Any]) -> list[str]:
    """policyTypes, defaulted as the API server does: Ingress, and Egress when rules exist."""
    spec = policy["spec"]
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def _selecting(
    policies: Iterable[Mapping[str, Any]], pod: Pod, direction: str
) -> list[Mapping[str, Any]]:
    if not pod.is_pod:
        return []
    return [
        p for p in policies
        if p["metadata"].get("namespace") == pod.namespace
        and direction in _types(p)
        and selector_matches(p["spec"].get("podSelector"), pod.labels)
    ]


def ingress_admits(
    policies: Iterable[Mapping[str, Any]], source: Pod, target: Pod, port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether `target` accepts `port` from `source` (no policy selecting the target for
    Ingress = allowed; else any rule of any selecting policy must admit)."""
    selecting = _selecting(policies, target, "Ingress")
    if not selecting:
        return True
    for policy in selecting:
        namespace = policy["metadata"]["namespace"]
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from") or []
            ports = rule.get("ports") or []
            if peers and not any(_peer_matches(peer, namespace, source) for peer in peers):
                continue
            if ports and not any(_port_matches(e, target, port, protocol) for e in ports):
                continue
            return True
    return False


def egress_admits(
    policies: Iterable[Mapping[str, Any]], source: Pod, target: Pod, port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether `source` may open `port` on `target` (no policy selecting the source for Egress =
    allowed; else any rule of any selecting policy must admit)."""
    selecting = _selecting(policies, source, "Egress")
    if not selecting:
        return True
    for policy in selecting:
        namespace = policy["metadata"]["namespace"]
        for rule in policy["spec"].get("egress") or []:
            peers = rule.get("to") or []
            ports = rule.get("ports") or []
            if peers and not any(_peer_matches(peer, namespace, target) for peer in peers):
                continue
            if ports and not any(_port_matches(e, target, port, protocol) for e in ports):
                continue
            return True
    return False


def admits(
    policies: Iterable[Mapping[str, Any]],
    source: Pod,
    target: Pod,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether `source` may connect to `port` on `target` under `policies`: out of the source
    (egress) and into the target (ingress)."""
    policies = list(policies)
    return (egress_admits(policies, source, target, port, protocol)
            and ingress_admits(policies, source, target, port, protocol))
