"""Harbor's alerts (group `plate-harbor`); runbooks in docs/runbooks/<alert>.md."""

from __future__ import annotations

from typing import Any

from components.observability.rules import alert
from components.tools.harbor import service_selector as _harbor_service

HARBOR_FOR = "5m"
"""A Harbor component down this long (a pod restart takes about a minute)."""
HARBOR_EXPORTER_FOR = "10m"
"""Harbor's exporter unscraped this long (it only blinds the Harbor alerts)."""


def rules() -> list[dict[str, Any]]:
    # Source: Harbor 2.15 (chart 1.19) src/pkg/exporter/health_collector.go: harbor_up{component}
    #   = 1 when core's /api/v2.0/health reports the component healthy (core, portal, registry,
    #   registryctl, jobservice, database, redis, trivy). The exporter asks core, so when core is
    #   down it exports no harbor_up at all - hence the `unless` branch. Core, registry and the
    #   exporter are also scrape targets of their own (metrics.enabled + metrics.serviceMonitor;
    #   templates/metrics/metrics-svcmon.yaml, Services <release>-core/-registry/-exporter).
    core_up = f"max by (namespace) (up{{{_harbor_service('core')}}}) == 0"
    exporter_up = f"max by (namespace) (up{{{_harbor_service('exporter')}}})"
    registry_up = f"max by (namespace) (up{{{_harbor_service('registry')}}}) == 0"
    return [
        alert(
            "HarborCoreDown",
            'max by (namespace) (harbor_up{component="core"}) == 0\n'
            f"or\n{core_up}\nor\n"
            f'({exporter_up} == 1\n  unless on (namespace) harbor_up{{component="core"}})',
            HARBOR_FOR,
            "critical",
            "Harbor core is down in {{ $labels.namespace }}",
            "Harbor core in namespace {{ $labels.namespace }} has not answered (its own "
            "scrape, or the exporter's health check) for more than " + HARBOR_FOR + ".",
        ),
        alert(
            "HarborRegistryDown",
            f'max by (namespace) (harbor_up{{component="registry"}}) == 0\nor\n{registry_up}',
            HARBOR_FOR,
            "critical",
            "Harbor registry is down in {{ $labels.namespace }}",
            "Harbor's registry in namespace {{ $labels.namespace }} has been unhealthy "
            "(core's health check, or its own scrape) for more than " + HARBOR_FOR + ".",
        ),
        alert(
            "HarborExporterDown",
            f"{exporter_up} == 0",
            HARBOR_EXPORTER_FOR,
            "warning",
            "Harbor's metrics exporter is down in {{ $labels.namespace }}",
            "Prometheus has not scraped Harbor's exporter in namespace "
            "{{ $labels.namespace }} for more than " + HARBOR_EXPORTER_FOR
            + "; Harbor's health alerts are partly blind.",
        ),
    ]
