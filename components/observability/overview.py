"""The overview dashboard (plate-overview): is the platform well? Ready replicas per namespace of
each tier (cluster services, developer tools, the apps namespace) and the workloads short of
replicas; Argo CD Applications by health and sync status; OpenBao's seal state per pod and its
active nodes; the certificates closest to expiry; the fullest volumes; the last backups; the
firing alerts (without Watchdog and InfoInhibitor, which fire by design) and failed Jobs (the
program's gates and bootstrap).

Its Argo CD and OpenBao queries are those of the tools' own dashboards.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.config import AlertThresholds
from components.names import (
    CERT_MANAGER_NAMESPACE,
    EXTERNAL_SECRETS_NAMESPACE,
    HARBOR_NAMESPACE,
    LOGGING_NAMESPACE,
    METALLB_NAMESPACE,
    MONITORING_NAMESPACE,
    NFS_NAMESPACE,
    OPENBAO_NAMESPACE,
    TRAEFIK_NAMESPACE,
)
from components.observability import grafana
from components.observability.grafana import NONE_BAD, RENEWAL_DAYS, Step, query, section
from components.observability.promql import (
    ready_ratio_by_namespace,
    volume_used_ratio,
    workloads_below_desired,
)
from components.tools.argocd.dashboard import HEALTH_COLOURS, SYNC_COLOURS, applications_by
from components.tools.cert_manager.dashboard import EXPIRY
from components.tools.openbao.dashboard import SEAL_STATE, active_nodes, unsealed_by_pod

IGNORED_ALERTS = "Watchdog|InfoInhibitor"
"""kube-prometheus-stack alerts that fire all the time by design."""
BACKUP_AGE: tuple[Step, ...] = ((None, "green"), (36 * 3600, "red"))
"""VeleroBackupTooOld and OpenBaoSnapshotTooOld fire after 36 hours."""

Tier = tuple[str, tuple[str, ...]]


def tiers(apps_namespace: str, argocd_namespace: str, traefik: bool) -> tuple[Tier, ...]:
    """Each tier's title and namespaces."""
    cluster = (CERT_MANAGER_NAMESPACE, METALLB_NAMESPACE, NFS_NAMESPACE)
    tools = (
        argocd_namespace, HARBOR_NAMESPACE, MONITORING_NAMESPACE, LOGGING_NAMESPACE,
        OPENBAO_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE,
    )
    return (
        ("Tier 1: cluster services", cluster + ((TRAEFIK_NAMESPACE,) if traefik else ())),
        ("Tier 2: developer tools", tools),
        ("Tier 3: applications", (apps_namespace,)),
    )


def certificates_closest_to_expiry(limit: int = 10) -> str:
    """Seconds until notAfter of the `limit` certificates expiring first (never-issued ones
    left out as in CertificateExpiringSoon)."""
    return f"sort(bottomk({limit}, min by (namespace, name) ({EXPIRY}) - time()))"


def firing_alerts() -> str:
    return (
        "sort_desc(count by (alertname, severity, namespace) (\n"
        f'  ALERTS{{alertstate="firing", alertname!~"{IGNORED_ALERTS}"}}\n))'
    )


def _health(by_tier: tuple[Tier, ...]) -> grafana.Section:
    ready = tuple(
        grafana.ratio_panel()
        .title(title)
        .description(
            f"""Ready replicas over desired, per namespace ({", ".join(namespaces)}): all
            Deployments, StatefulSets and DaemonSets together, from kube-state-metrics. Below
            100% means a workload is short of pods: see the table below and the tool's own
            dashboard."""
        )
        .with_target(query(ready_ratio_by_namespace(namespaces), "{{namespace}}"))
        .span(8)
        for title, namespaces in by_tier
    )
    every_namespace = tuple(ns for _, namespaces in by_tier for ns in namespaces)
    below = (
        grafana.table_panel("Missing replicas", descending=True)
        .title("Workloads below their desired replicas")
        .description(
            """Each workload of the platform's namespaces that has fewer ready replicas than it
            wants, with how many are missing. Empty is good."""
        )
        .with_target(query(workloads_below_desired(every_namespace)))
        .thresholds(grafana.thresholds(NONE_BAD))
        .span(24)
    )
    return section("Workloads by tier", *ready, below)


def _services() -> grafana.Section:
    return section(
        "GitOps and secrets",
        grafana.stat_panel()
        .title("Applications by health")
        .description(
            """Argo CD Applications per health status (argocd_app_info). Degraded ones fire
            ArgoCDApplicationDegraded once it lasts; the Argo CD dashboard lists them."""
        )
        .with_target(query(applications_by("health_status"), "{{health_status}}"))
        .overrides(grafana.series_colours(*HEALTH_COLOURS))
        .span(6),
        grafana.stat_panel()
        .title("Applications by sync status")
        .description(
            """Argo CD Applications per sync status: OutOfSync means the cluster differs from
            Git (ArgoCDApplicationOutOfSync once it lasts)."""
        )
        .with_target(query(applications_by("sync_status"), "{{sync_status}}"))
        .overrides(grafana.series_colours(*SYNC_COLOURS))
        .span(6),
        grafana.stat_panel()
        .title("OpenBao seal state")
        .description(
            """vault_core_unsealed per scraped OpenBao pod. A sealed pod serves nothing; with
            the static seal it unseals itself from its key Secret (OpenBaoSealed)."""
        )
        .with_target(query(unsealed_by_pod(), "{{pod}}"))
        .mappings(grafana.value_mappings(SEAL_STATE))
        .span(6),
        grafana.stat_panel()
        .title("OpenBao active nodes")
        .description(
            """Scraped OpenBao pods reporting themselves the active (leader) node: exactly 1
            is healthy. 0 means no reads or writes: External Secrets stop refreshing
            (OpenBaoNoActiveNode)."""
        )
        .with_target(query(active_nodes(), "active"))
        .thresholds(grafana.thresholds(((None, "red"), (1, "green"), (2, "red"))))
        .span(6),
    )


def _certificates_and_storage(alerts: AlertThresholds) -> grafana.Section:
    return section(
        "Certificates and storage",
        grafana.table_panel("Expires in")
        .title("Certificates closest to expiry")
        .description(
            f"""The ten certificates cert-manager manages that expire first. cert-manager
            renews {RENEWAL_DAYS} days before expiry: orange means renewal is late, red (under
            {alerts.certificate_expiry_days} days) is CertificateExpiringSoon."""
        )
        .with_target(query(certificates_closest_to_expiry()))
        .unit(units.DurationSeconds)
        .thresholds(grafana.thresholds(grafana.expiry_steps(alerts))),
        grafana.ratio_panel()
        .title("Fullest volumes")
        .description(
            f"""The ten fullest PersistentVolumeClaims of the cluster. Red from
            {grafana.full_ratio(alerts):.0%} (PersistentVolumeClaimAlmostFull); NFS claims
            report their whole export, so claims on one export show the same figure."""
        )
        .with_target(query(
            f"topk(10, {volume_used_ratio()})", "{{namespace}}/{{persistentvolumeclaim}}"
        ))
        .thresholds(grafana.thresholds(grafana.volume_steps(alerts))),
    )


def _backups() -> grafana.Section:
    return section(
        "Backups",
        grafana.table_panel("Since")
        .title("Last successful Velero backup")
        .description(
            """Time since each Velero schedule's last successful backup (velero-tools: the
            tools' and apps' namespaces; velero-openbao-snapshots: OpenBao's snapshot volume).
            Red after 36 hours (VeleroBackupTooOld). Empty when the stack has no backup
            target."""
        )
        .with_target(query(
            'time() - max by (schedule) (velero_backup_last_successful_timestamp{schedule!=""})'
        ))
        .unit(units.DurationSeconds)
        .thresholds(grafana.thresholds(BACKUP_AGE)),
        grafana.stat_panel()
        .title("Last Velero backup per schedule")
        .description("Whether each schedule's last backup succeeded (VeleroBackupFailed).")
        .with_target(query(
            'max by (schedule) (velero_backup_last_status{schedule!=""})', "{{schedule}}"
        ))
        .mappings(grafana.value_mappings(((1, "Succeeded", "green"), (0, "Failed", "red"))))
        .span(6),
        grafana.stat_panel()
        .title("Last OpenBao snapshot")
        .description(
            """Time since the raft snapshot CronJob last succeeded, or since it was created
            when it never has (OpenBaoSnapshotTooOld at 36 hours)."""
        )
        .with_target(query(
            'time() - max(kube_cronjob_status_last_successful_time{cronjob="openbao-snapshot"})'
            '\nor\ntime() - max(kube_cronjob_created{cronjob="openbao-snapshot"})'
        ))
        .unit(units.DurationSeconds)
        .thresholds(grafana.thresholds(BACKUP_AGE))
        .span(6),
    )


def _alerts() -> grafana.Section:
    return section(
        "Alerts",
        grafana.stat_panel()
        .title("Firing alerts by severity")
        .description(
            """Alerts firing now (Prometheus' ALERTS series), platform and
            kube-prometheus-stack rules alike, without Watchdog and InfoInhibitor, which always
            fire."""
        )
        .with_target(query(
            f'count by (severity) (ALERTS{{alertstate="firing", '
            f'alertname!~"{IGNORED_ALERTS}"}})',
            "{{severity}}",
        ))
        .overrides(grafana.series_colours(
            ("critical", "red"), ("warning", "orange"), ("info", "blue")
        ))
        .no_value("0"),  # no series: nothing fires
        grafana.table_panel("Instances", descending=True)
        .title("Firing alerts")
        .description(
            """Each firing alert with its severity and namespace and how many instances fire.
            The runbook is in the alert's annotations (Alertmanager, or Prometheus' Alerts
            page)."""
        )
        .with_target(query(firing_alerts()))
        .span(16),
        grafana.table_panel()
        .title("Failed Jobs")
        .description(
            """Jobs in the Failed condition (kube-state-metrics kube_job_failed): the program's
            webhook gates and Harbor bootstrap (WebhookGateJobFailed, HarborBootstrapJobFailed)
            and any other Job. Delete a failed program Job after fixing its cause, then
            `pulumi up --refresh` runs it again."""
        )
        .with_target(query('max by (namespace, job_name) (kube_job_failed{condition="true"}) == 1'))
        .span(24),
    )


def board(
    *, apps_namespace: str, argocd_namespace: str, traefik: bool, alerts: AlertThresholds
) -> Dashboard:
    return grafana.dashboard(
        "plate-overview",
        "Overview",
        """Is the platform well? Workload health per tier, Argo CD Applications, OpenBao's seal
        and leader, certificates and volumes nearest their limits, backups, firing alerts.""",
        _health(tiers(apps_namespace, argocd_namespace, traefik)),
        _services(),
        _certificates_and_storage(alerts),
        _backups(),
        _alerts(),
    )
