"""The external-dns dashboard (plate-external-dns): the age of the last successful sync with the
DNS provider (what ExternalDNSSyncFailing fires on), the records the Ingresses ask for against the
records the provider holds, and errors; then the workloads of its namespace. Empty in a stack
without `dns`.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.names import EXTERNAL_DNS_NAMESPACE
from components.observability import grafana
from components.observability.grafana import query, section
from components.tools.external_dns import alerts

# Source: kubernetes-sigs/external-dns v0.22.0 controller/metrics.go (namespace "external_dns")
LAST_SYNC = "external_dns_controller_last_sync_timestamp_seconds"
SEL = f'namespace="{EXTERNAL_DNS_NAMESPACE}"'


def _sync() -> grafana.Section:
    return section(
        "Sync with the DNS provider",
        grafana.stat_panel()
        .title("Since the last successful sync")
        .description(
            f"""Time since external-dns last completed a sync with its DNS provider (every minute
            and on Ingress changes). ExternalDNSSyncFailing fires above
            {alerts.SYNC_MAX_AGE_MINUTES} minutes."""
        )
        .with_target(query(f"time() - max({LAST_SYNC}{{{SEL}}})"))
        .unit(units.DurationSeconds),
        grafana.timeseries_panel()
        .title("Records wanted and held")
        .description(
            """Records the Ingresses ask for (source) and records external-dns finds at the
            provider (registry), per record type. A gap that stays means updates fail or another
            owner holds the name."""
        )
        .with_target(query(
            f"sum by (record_type) (external_dns_source_records{{{SEL}}})", "source {{record_type}}"
        ))
        .with_target(query(
            f"sum by (record_type) (external_dns_registry_records{{{SEL}}})",
            "registry {{record_type}}",
        )),
        grafana.timeseries_panel()
        .title("Errors")
        .description(
            """Errors reading the Ingresses (source) and talking to the DNS provider (registry)
            per hour, and the reconcile loop's consecutive soft errors: the pod's log names the
            failing call."""
        )
        .with_target(query(
            f"sum(increase(external_dns_source_errors_total{{{SEL}}}[1h]))", "source errors"
        ))
        .with_target(query(
            f"sum(increase(external_dns_registry_errors_total{{{SEL}}}[1h]))", "registry errors"
        ))
        .with_target(query(
            f"max(external_dns_controller_consecutive_soft_errors{{{SEL}}})",
            "consecutive soft errors",
        )),
    )


def board() -> Dashboard:
    return grafana.dashboard(
        "plate-external-dns",
        "external-dns",
        """external-dns, which writes every Ingress host's DNS record: sync age, records and
        errors.""",
        _sync(),
        grafana.workloads(EXTERNAL_DNS_NAMESPACE),
    )
