"""external-dns' alert (group `plate-dns`); runbook: docs/runbooks/ExternalDNSSyncFailing.md."""

from __future__ import annotations

from typing import Any

from components.names import EXTERNAL_DNS_NAMESPACE
from components.observability.rules import alert

SYNC_MAX_AGE_MINUTES = 15
"""No successful write to the DNS provider for this long: external-dns syncs every minute, and on
every Ingress change, so fifteen minutes is many failed rounds, not a slow one."""
SYNC_FOR = "5m"


def rules() -> list[dict[str, Any]]:
    # Source: kubernetes-sigs/external-dns v0.22.0 controller/metrics.go:
    #   external_dns_controller_last_sync_timestamp_seconds, the time of the last successful sync
    #   with the DNS provider (0 until the first); scraped through the PodMonitor
    #   `external-dns` (components/tools/external_dns), so its series carry the pod's
    #   `namespace` and `pod`, as does `up` for that target.
    selector = f'namespace="{EXTERNAL_DNS_NAMESPACE}"'
    return [
        alert(
            "ExternalDNSSyncFailing",
            "time() - max by (namespace, pod) (\n"
            f"  external_dns_controller_last_sync_timestamp_seconds{{{selector}}}\n"
            f") > {SYNC_MAX_AGE_MINUTES} * 60\n"
            "or\n"
            f"max by (namespace, pod) (up{{{selector}}}) == 0",
            SYNC_FOR,
            "warning",
            "external-dns has not updated DNS for over "
            f"{SYNC_MAX_AGE_MINUTES} minutes",
            "external-dns in {{ $labels.namespace }}/{{ $labels.pod }} has had no successful "
            f"sync with its DNS provider for more than {SYNC_MAX_AGE_MINUTES} minutes, or "
            "Prometheus cannot scrape it: new or changed Ingress hosts get no DNS record.",
        ),
    ]
