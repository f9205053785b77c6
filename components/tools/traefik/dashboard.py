"""The Traefik dashboard (plate-traefik, only when the stack runs Traefik): requests, 5xx ratio,
latency and open connections per entry point; the busiest, failing and slowest services;
configuration reloads and the expiry of the certificates Traefik serves; then the workloads of
Traefik's namespace.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.config import AlertThresholds
from components.names import TRAEFIK_NAMESPACE
from components.observability import grafana
from components.observability.grafana import query, section


def _entry_points() -> grafana.Section:
    requests = "traefik_entrypoint_requests_total"
    return section(
        "Entry points",
        grafana.timeseries_panel()
        .title("Requests by entry point")
        .description("Requests per second on each entry point (web redirects to websecure).")
        .with_target(query(f"sum by (entrypoint) (rate({requests}[5m]))", "{{entrypoint}}"))
        .unit(units.RequestsPerSecond),
        grafana.timeseries_panel()
        .title("5xx ratio by entry point")
        .description(
            """Share of responses with a 5xx status: a backend failing or unreachable (502,
            503, 504 come from Traefik itself when it cannot reach one)."""
        )
        .with_target(query(
            f'sum by (entrypoint) (rate({requests}{{code=~"5.."}}[5m]))\n/\n'
            f"sum by (entrypoint) (rate({requests}[5m]))",
            "{{entrypoint}}",
        ))
        .unit(units.PercentUnit),
        grafana.timeseries_panel()
        .title("Response time (p95) by entry point")
        .description(
            """95th percentile of request duration per entry point (Traefik's default buckets
            are 0.1, 0.3, 1.2 and 5 s, so this is coarse)."""
        )
        .with_target(query(
            "histogram_quantile(0.95, sum by (le, entrypoint) "
            "(rate(traefik_entrypoint_request_duration_seconds_bucket[5m])))",
            "{{entrypoint}}",
        ))
        .unit(units.Seconds),
    )


def _services() -> grafana.Section:
    requests = "traefik_service_requests_total"
    return section(
        "Services",
        grafana.timeseries_panel()
        .title("Busiest services")
        .description(
            "Requests per second of the ten busiest Traefik services (one per Ingress backend)."
        )
        .with_target(query(f"topk(10, sum by (service) (rate({requests}[5m])))", "{{service}}"))
        .unit(units.RequestsPerSecond),
        grafana.timeseries_panel()
        .title("Services answering 5xx")
        .description("5xx responses per second per service, only services with any.")
        .with_target(query(
            f'sum by (service) (rate({requests}{{code=~"5.."}}[5m])) > 0', "{{service}}"
        ))
        .unit(units.RequestsPerSecond),
        grafana.timeseries_panel()
        .title("Slowest services (p95)")
        .description("95th percentile response time of the ten slowest services.")
        .with_target(query(
            "topk(10, histogram_quantile(0.95, sum by (le, service) "
            "(rate(traefik_service_request_duration_seconds_bucket[5m]))))",
            "{{service}}",
        ))
        .unit(units.Seconds),
        grafana.timeseries_panel()
        .title("Open connections")
        .description("Open connections per entry point and protocol.")
        .with_target(query(
            "sum by (entrypoint, protocol) (traefik_open_connections)",
            "{{entrypoint}} {{protocol}}",
        ))
        .span(24),
    )


def _configuration(alerts: AlertThresholds) -> grafana.Section:
    return section(
        "Configuration and certificates",
        grafana.stat_panel()
        .title("Last successful configuration reload")
        .description(
            """When Traefik last applied a new configuration (Ingresses, Secrets). Old while
            Ingresses change means Traefik rejects them: its log says why."""
        )
        # Grafana's dateTimeFromNow takes milliseconds
        .with_target(query("max(traefik_config_last_reload_success) * 1000", "last reload"))
        .unit(units.DateTimeFromNow),
        grafana.timeseries_panel()
        .title("Configuration reloads (per hour)")
        .description(
            "How often the configuration changed: every Ingress, Service or Secret change."
        )
        .with_target(query("sum(increase(traefik_config_reloads_total[1h]))", "reloads")),
        grafana.table_panel("Expires in")
        .title("Served certificates by expiry")
        .description(
            """Certificates Traefik serves (the TLS Secrets cert-manager writes), by time left,
            soonest first: cross-check with cert-manager's dashboard when a site shows an old
            certificate."""
        )
        .with_target(query("sort(min by (cn) (traefik_tls_certs_not_after) - time())"))
        .unit(units.DurationSeconds)
        .thresholds(grafana.thresholds(grafana.expiry_steps(alerts)))
        .span(8),
    )


def board(alerts: AlertThresholds) -> Dashboard:
    return grafana.dashboard(
        "plate-traefik",
        "Traefik",
        """Traefik, the cluster's ingress controller: traffic, errors and latency per entry
        point and service, configuration reloads and the certificates it serves.""",
        _entry_points(),
        _services(),
        _configuration(alerts),
        grafana.workloads(TRAEFIK_NAMESPACE),
    )
