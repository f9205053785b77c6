"""MetalLB's alerts (group `plate-cluster`); runbooks in docs/runbooks/<alert>.md."""

from __future__ import annotations

from typing import Any

from components.observability.rules import alert
from components.tools.metallb import METRICS_JOB as METALLB_JOB

METALLB_FOR = "5m"
"""MetalLB without its configuration, or a full address pool, this long."""


def rules() -> list[dict[str, Any]]:
    # Source: MetalLB v0.16.1, the chart's templates/prometheusrules.yaml (the same tag):
    #   metallb_k8s_client_config_loaded_bool (1 once the speaker/controller has loaded its
    #   configuration), metallb_allocator_addresses_in_use_total and
    #   metallb_allocator_addresses_total{pool}. Scraped over HTTPS through the monitor
    #   components/observability/monitors.py adds.
    return [
        alert(
            "MetalLBConfigNotLoaded",
            "max by (namespace, pod) (\n  metallb_k8s_client_config_loaded_bool"
            f"{{{METALLB_JOB}}}\n) == 0",
            METALLB_FOR,
            "warning",
            "MetalLB on {{ $labels.pod }} has not loaded its configuration",
            "MetalLB pod {{ $labels.namespace }}/{{ $labels.pod }} has run without a loaded "
            "configuration for more than " + METALLB_FOR + ".",
        ),
        alert(
            "MetalLBAddressPoolExhausted",
            "max by (pool) (metallb_allocator_addresses_in_use_total)\n"
            ">= on (pool)\nmax by (pool) (metallb_allocator_addresses_total)",
            METALLB_FOR,
            "warning",
            "MetalLB address pool {{ $labels.pool }} is exhausted",
            "Every address of MetalLB pool {{ $labels.pool }} has been in use for more than "
            + METALLB_FOR + ": new LoadBalancer Services stay pending.",
        ),
    ]
