"""The MetalLB dashboard (plate-metallb): LoadBalancer Services with and without an address
(kube-state-metrics); pool use, configuration loaded/stale per pod, announcements and ARP/NDP
requests from MetalLB's own metrics (the HTTPS target components/observability/monitors.py adds);
then the workloads of MetalLB's namespace, the controller and the speakers.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.names import METALLB_NAMESPACE
from components.observability import grafana
from components.observability.grafana import NONE_BAD, query, section
from components.tools.metallb import METRICS_JOB as METALLB_JOB


def _services() -> grafana.Section:
    return section(
        "LoadBalancer Services",
        grafana.table_panel()
        .title("Addresses handed out")
        .description(
            """Every LoadBalancer Service with the address MetalLB assigned (kube-state-metrics
            kube_service_status_load_balancer_ingress). Traefik's is the address DNS points
            at."""
        )
        .with_target(query(
            "max by (namespace, service, ip) (kube_service_status_load_balancer_ingress)"
        )),
        grafana.stat_panel()
        .title("Services waiting for an address")
        .description(
            """LoadBalancer Services without an ingress address: the pool is exhausted, the
            requested address (metallb.io/loadBalancerIPs) is outside the pool or taken, or the
            controller is down."""
        )
        .with_target(query(
            'count(kube_service_spec_type{type="LoadBalancer"}\n'
            "  unless on (namespace, service) kube_service_status_load_balancer_ingress)\n"
            "or vector(0)"
        ))
        .thresholds(grafana.thresholds(NONE_BAD))
        .span(12),
    )


def _metallb() -> grafana.Section:
    """From MetalLB's own metrics (controller and speakers, one scrape job)."""
    job = METALLB_JOB
    return section(
        "MetalLB",
        grafana.ratio_panel()
        .title("Address pool use")
        .description(
            """Addresses in use over the pool's size, per IPAddressPool (controller). A full
            pool leaves new LoadBalancer Services pending (MetalLBAddressPoolExhausted)."""
        )
        .with_target(query(
            "max by (pool) (metallb_allocator_addresses_in_use_total)\n/\n"
            "max by (pool) (metallb_allocator_addresses_total)",
            "{{pool}}",
        ))
        .thresholds(grafana.thresholds(((None, "green"), (0.8, "orange"), (1, "red"))))
        .span(8),
        grafana.stat_panel()
        .title("Configuration loaded")
        .description(
            """Whether each MetalLB pod (controller, speakers) has loaded its configuration;
            without it a speaker announces nothing (MetalLBConfigNotLoaded)."""
        )
        .with_target(query(
            f"max by (pod) (metallb_k8s_client_config_loaded_bool{{{job}}})", "{{pod}}"
        ))
        .mappings(grafana.value_mappings(((1, "Loaded", "green"), (0, "Not loaded", "red")))),
        grafana.stat_panel()
        .title("Configuration stale")
        .description(
            """Whether a pod runs on a stale configuration: the last one it read was invalid
            (its log says why), so it keeps the previous one."""
        )
        .with_target(query(
            f"max by (pod) (metallb_k8s_client_config_stale_bool{{{job}}})", "{{pod}}"
        ))
        .mappings(grafana.value_mappings(((0, "Current", "green"), (1, "Stale", "red")))),
        grafana.table_panel()
        .title("Announcements")
        .description(
            """Which node's speaker announces each service address (layer 2: one node per
            address). Desired state; ARP caches on the network may lag."""
        )
        .with_target(query(
            f"max by (service, protocol, node, ip) (metallb_speaker_announced{{{job}}})"
        )),
        grafana.timeseries_panel()
        .title("ARP/NDP requests received")
        .description(
            """Layer 2 requests for each service address the speakers answer; none for an
            address in use means clients cannot reach it through MetalLB."""
        )
        .with_target(query(
            f"sum by (ip) (rate(metallb_layer2_requests_received{{{job}}}[5m]))", "{{ip}}"
        ))
        .unit(units.RequestsPerSecond)
        .span(12),
    )


def board() -> Dashboard:
    return grafana.dashboard(
        "plate-metallb",
        "MetalLB",
        """MetalLB's controller and speakers, the LoadBalancer addresses they hand out and
        announce.""",
        _services(),
        _metallb(),
        grafana.workloads(METALLB_NAMESPACE),
    )
