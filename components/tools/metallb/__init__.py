"""MetalLB in layer-2 mode: the chart, its webhook gate, the address pool and its L2
advertisement, and its scrape target (metrics over HTTPS with a token review).

Order: metallb (namespace labelled privileged) -> webhook gate -> IPAddressPool -> L2Advertisement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import MetalLBConfig
from components.kube import TierKit, WebhookGate, object_name, resources
from components.names import METALLB_NAMESPACE, PROMETHEUS
from components.netpol import API_SERVER, Allowance
from components.observability.monitors import ScrapeTarget

METRICS_SERVICE = "metallb-metrics"
"""The headless Service the program adds for MetalLB's metrics; Prometheus' `job` label."""
METRICS_JOB = f'job="{METRICS_SERVICE}"'


def values() -> dict[str, Any]:
    return {
        "controller": {"resources": resources("20m", "64Mi", "256Mi")},
        # Layer 2 mode only: no FRR routing daemon in the speaker, and no FRR-K8s (0.16 turns
        # it on by default: a host-network DaemonSet with NET_ADMIN/SYS_ADMIN, four more CRDs
        # and another webhook, all for BGP the platform does not speak).
        "speaker": {"frr": {"enabled": False}, "resources": resources("20m", "64Mi", "256Mi")},
        "frrk8s": {"enabled": False},
    }


def ip_address_pool_spec(metallb: MetalLBConfig) -> dict[str, Any]:
    return {"addresses": list(metallb.addresses), "autoAssign": metallb.auto_assign}


@dataclass(frozen=True)
class MetalLB:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource
    webhook: WebhookGate
    address_pool: k8s.apiextensions.CustomResource
    l2_advertisement: k8s.apiextensions.CustomResource


def install(kit: TierKit, metallb: MetalLBConfig) -> MetalLB:
    """MetalLB, its webhook gate, the address pool and its L2 advertisement."""
    ns, chart = kit.tool("metallb", METALLB_NAMESPACE, "privileged", values())
    # TEST-NET-1 (RFC 5737): never a real pool, so the dry run cannot overlap one.
    probe_pool = {"addresses": ["192.0.2.0/32"], "autoAssign": False}
    webhook = kit.gate(
        "metallb-webhook-ready", ns, ("metallb.io/v1beta1", "IPAddressPool", probe_pool), chart,
    )
    metadata = k8s.meta.v1.ObjectMetaArgs(name=metallb.pool_name, namespace=ns.metadata.name)
    pool = kit.custom_resource(
        "metallb-pool", "metallb.io/v1beta1", "IPAddressPool", metadata,
        ip_address_pool_spec(metallb), [webhook],
    )
    l2 = kit.custom_resource(
        "metallb-l2", "metallb.io/v1beta1", "L2Advertisement", metadata,
        {"ipAddressPools": [object_name(pool)]}, [webhook],
    )
    return MetalLB(ns, chart, webhook, pool, l2)


def scrape_targets() -> list[ScrapeTarget]:
    # controller and speakers (9120: the chart's prometheus.metricsPort)
    return [
        ScrapeTarget(
            METRICS_SERVICE, METALLB_NAMESPACE, "ServiceMonitor",
            {"app.kubernetes.io/name": "metallb", "app.kubernetes.io/instance": "metallb"},
            "metricshttps", token_auth=True, service_port=9120,
        ),
    ]


CONTROLLER_PODS = {
    "app.kubernetes.io/name": "metallb", "app.kubernetes.io/instance": "metallb",
    "app.kubernetes.io/component": "controller",
}


def allowances() -> list[Allowance]:
    """Connections into metallb-system. The speakers run on the host network: policies do not
    apply to them (their memberlist 7946 and metrics are node addresses), so only the
    controller has rows."""
    ns = METALLB_NAMESPACE
    return [
        # the chart's `metallb-webhook-service` (443 -> 9443) backs the validating webhooks
        # and the BGPPeer conversion webhook
        Allowance("metallb-webhook-from-api-server", ns, CONTROLLER_PODS, ("webhook-server",),
                  (API_SERVER,), "admission and conversion of MetalLB's resources (9443)"),
        Allowance("metallb-metrics-from-prometheus", ns, CONTROLLER_PODS, ("metricshttps",),
                  (PROMETHEUS,), "scrapes the controller (monitors.py; speakers: host network)"),
    ]
