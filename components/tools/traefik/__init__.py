"""Traefik, the platform's ingress controller, on a fixed MetalLB address: the chart and its scrape
target. With `ingress.controller: external` the stack installs none and names the operator's
controller instead (`ingress.namespace`, `ingress.pod_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kube import TierKit, resources
from components.names import PROMETHEUS, TRAEFIK_NAMESPACE
from components.netpol import Allowance, Anywhere, Peer
from components.observability.monitors import ScrapeTarget

PEER = Peer(TRAEFIK_NAMESPACE, {"app.kubernetes.io/name": "traefik"})
"""The platform's Traefik pods, as network policies admit them."""


def values(ingress_class: str, load_balancer_ip: str, replicas: int) -> dict[str, Any]:
    """Traefik as the cluster's ingress controller, on a fixed MetalLB address."""
    return {
        "deployment": {"replicas": replicas},
        "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": ingress_class},
        "providers": {
            # Ingress status carries the Service's address (Argo CD health, external-dns)
            "kubernetesIngress": {"publishedService": {"enabled": True}},
        },
        "ports": {
            "web": {
                # plain HTTP only redirects. ACME HTTP-01 challenges are redirected too: Let's
                # Encrypt follows a redirect to port 443 without checking the certificate there,
                # where Traefik serves the solver's Ingress as well.
                # Ref: https://letsencrypt.org/docs/challenge-types/#http-01-challenge
                "http": {
                    "redirections": {
                        "entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}
                    }
                },
            },
        },
        "service": {
            # Ref: https://metallb.io/usage/#requesting-specific-ips (spec.loadBalancerIP is
            # deprecated)
            "annotations": {"metallb.io/loadBalancerIPs": load_balancer_ip},
            # keep client addresses in access logs; MetalLB L2 announces from a node with a pod
            "spec": {"externalTrafficPolicy": "Local"},
        },
        "resources": resources("100m", "128Mi", "512Mi"),
    }


@dataclass(frozen=True)
class Traefik:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource


def install(
    kit: TierKit, ingress_class: str, address: str, replicas: int,
    after: list[pulumi.Resource],
) -> Traefik:
    """Traefik on its fixed MetalLB `address` (after the L2 advertisement), serving the stack's
    IngressClass."""
    ns, chart = kit.tool(
        "traefik", TRAEFIK_NAMESPACE, "restricted",
        values(ingress_class, address, replicas), depends_on=after,
    )
    return Traefik(ns, chart)


def scrape_targets(installed: bool) -> list[ScrapeTarget]:
    if not installed:
        return []
    return [
        ScrapeTarget(
            "traefik", TRAEFIK_NAMESPACE, "PodMonitor", {"app.kubernetes.io/name": "traefik"},
            "metrics",
        ),
    ]


def allowances() -> list[Allowance]:
    """Connections into traefik (when the stack installs it): the world on its entry points,
    Prometheus on its metrics."""
    clients = Anywhere("the LoadBalancer Service's clients, their own addresses kept")
    return [
        Allowance("traefik-from-anywhere", TRAEFIK_NAMESPACE, dict(PEER.pods),
                  ("web", "websecure"), (clients,),
                  "HTTP and HTTPS from everyone who reaches the ingress address"),
        Allowance("traefik-metrics-from-prometheus", TRAEFIK_NAMESPACE, dict(PEER.pods),
                  ("metrics",), (PROMETHEUS,), "scrapes Traefik (monitors.py)"),
    ]
