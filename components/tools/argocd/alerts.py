"""Argo CD's alerts (group `plate-gitops`); runbooks in docs/runbooks/<alert>.md."""

from __future__ import annotations

from typing import Any

from components.observability.promql import object_namespace
from components.observability.rules import alert

ARGOCD_APP_FOR = "15m"
"""An Application Degraded or OutOfSync this long (a sync plus rollout fits well inside)."""


def rules() -> list[dict[str, Any]]:
    # Source: Argo CD v3.4 controller/metrics/metrics.go: argocd_app_info{namespace, name,
    #   project, autosync_enabled, repo, dest_server, dest_namespace, sync_status, health_status,
    #   operation} = 1, one series per Application (its labels change with the status). Scraped
    #   through the chart's `controller.metrics.serviceMonitor`. `max by` drops `operation` and
    #   the scrape's pod labels, whose changes (a sync starting, a controller restart) would
    #   otherwise restart the `for:` clock.
    def app_info(selector: str) -> str:
        return object_namespace(f"argocd_app_info{{{selector}}}")

    by = "namespace, name, project, dest_namespace"
    degraded = app_info('health_status="Degraded"')
    out_of_sync = app_info('sync_status="OutOfSync"')
    return [
        alert(
            "ArgoCDApplicationDegraded",
            f"max by ({by}) (\n  {degraded}\n) == 1",
            ARGOCD_APP_FOR,
            "warning",
            "Argo CD Application {{ $labels.name }} is Degraded",
            "Application {{ $labels.name }} (project {{ $labels.project }}, namespace "
            "{{ $labels.dest_namespace }}) has been Degraded for more than "
            + ARGOCD_APP_FOR + ".",
        ),
        alert(
            "ArgoCDApplicationOutOfSync",
            f"max by ({by}) (\n  {out_of_sync}\n) == 1",
            ARGOCD_APP_FOR,
            "warning",
            "Argo CD Application {{ $labels.name }} is OutOfSync",
            "Application {{ $labels.name }} (project {{ $labels.project }}, namespace "
            "{{ $labels.dest_namespace }}) has differed from Git for more than "
            + ARGOCD_APP_FOR + ".",
        ),
    ]
