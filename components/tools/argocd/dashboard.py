"""The Argo CD dashboard (plate-argocd): Applications by health and sync and one row per
Application, the cluster connection, syncs per hour by phase, reconciliation time, and the repo
server's Git requests, latency and fetch failures; then the workloads of Argo CD's namespace (the
stack's `gitops.argocd_namespace`).

`applications_by` and the status colours are the overview's too.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.observability import grafana
from components.observability.grafana import query, section
from components.observability.promql import object_namespace

HEALTH_COLOURS = (
    ("Healthy", "green"), ("Progressing", "blue"), ("Degraded", "red"), ("Missing", "orange"),
    ("Suspended", "purple"), ("Unknown", "text"),
)
SYNC_COLOURS = (("Synced", "green"), ("OutOfSync", "orange"), ("Unknown", "text"))


def applications_by(label: str) -> str:
    """How many Argo CD Applications have each value of `label` (health_status, sync_status);
    an Application that several controller replicas report counts once."""
    apps = object_namespace("argocd_app_info")
    return f"count by ({label}) (\n  max by (namespace, name, {label}) ({apps})\n)"


def _applications() -> grafana.Section:
    return section(
        "Applications",
        grafana.stat_panel()
        .title("Applications by health")
        .description(
            "Applications per health status; Degraded fires ArgoCDApplicationDegraded."
        )
        .with_target(query(applications_by("health_status"), "{{health_status}}"))
        .overrides(grafana.series_colours(*HEALTH_COLOURS)),
        grafana.stat_panel()
        .title("Applications by sync status")
        .description(
            "Applications per sync status; OutOfSync fires ArgoCDApplicationOutOfSync."
        )
        .with_target(query(applications_by("sync_status"), "{{sync_status}}"))
        .overrides(grafana.series_colours(*SYNC_COLOURS)),
        grafana.stat_panel()
        .title("Cluster connection")
        .description(
            """Whether the application controller reaches each destination cluster (here the
            in-cluster API server)."""
        )
        .with_target(query("max by (server) (argocd_cluster_connection_status)", "{{server}}"))
        .mappings(grafana.value_mappings(
            ((1, "Connected", "green"), (0, "Disconnected", "red"))
        )),
        grafana.table_panel()
        .title("Applications")
        .description(
            """Every Application with its project, destination namespace, health and sync
            status; `argocd app get <name>` shows the resource that is not Healthy."""
        )
        .with_target(query(
            "max by (name, project, dest_namespace, health_status, sync_status, "
            "autosync_enabled) (argocd_app_info)"
        ))
        .span(24),
    )


def _activity() -> grafana.Section:
    return section(
        "Syncs and reconciliation",
        grafana.timeseries_panel()
        .title("Syncs per hour by phase")
        .description(
            """Sync operations finished in the preceding hour, by phase (Succeeded, Failed,
            Error). Failed syncs: `argocd app get <name>` shows the operation's message."""
        )
        .with_target(query("sum by (phase) (increase(argocd_app_sync_total[1h]))", "{{phase}}"))
        .span(12),
        grafana.timeseries_panel()
        .title("Reconciliation time (p95)")
        .description(
            """95th percentile of the controller's reconciliation time. Rising: the controller
            is short of CPU or the cluster cache is rebuilding."""
        )
        .with_target(query(
            "histogram_quantile(0.95, sum by (le) (rate(argocd_app_reconcile_bucket[5m])))",
            "p95",
        ))
        .unit(units.Seconds)
        .span(12),
    )


def _repo_server() -> grafana.Section:
    return section(
        "Repository server",
        grafana.timeseries_panel()
        .title("Git requests")
        .description("Git requests per second of the repo server, by type (fetch, ls-remote).")
        .with_target(query(
            "sum by (request_type) (rate(argocd_git_request_total[5m]))", "{{request_type}}"
        ))
        .unit(units.RequestsPerSecond),
        grafana.timeseries_panel()
        .title("Git request time (p95)")
        .description("95th percentile duration of Git requests, by type.")
        .with_target(query(
            "histogram_quantile(0.95, sum by (le, request_type) "
            "(rate(argocd_git_request_duration_seconds_bucket[5m])))",
            "{{request_type}}",
        ))
        .unit(units.Seconds),
        grafana.timeseries_panel()
        .title("Git fetch failures (per hour)")
        .description(
            """Failed fetches per repository: the repository is unreachable or the credentials
            are wrong, so Applications stop following Git."""
        )
        .with_target(query(
            "sum by (repo) (increase(argocd_git_fetch_fail_total[1h]))", "{{repo}}"
        )),
    )


def board(namespace: str) -> Dashboard:
    return grafana.dashboard(
        "plate-argocd",
        "Argo CD",
        """Argo CD: Applications' health and sync, syncs, reconciliation and the repo server's
        Git traffic.""",
        _applications(),
        _activity(),
        _repo_server(),
        grafana.workloads(namespace),
    )
