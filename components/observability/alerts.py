"""The platform's own alerts: the rule groups of a `monitoring.coreos.com/v1` PrometheusRule.

kube-prometheus-stack's default rules (nodes, pods, kubelet, the generic KubeJobFailed and
KubePersistentVolumeFillingUp) stay on; these groups add what only this platform knows about:
certificates, Argo CD Applications, OpenBao's seal and leadership, Harbor's components, volumes
(NFS included), ExternalSecrets and the program's own Jobs (webhook gates, Harbor bootstrap).

`platform_rule_groups()` is the PrometheusRule's `spec.groups`; `rules_file()` is the same groups
as a Prometheus rules file, which is what `promtool check rules` / `promtool test rules` read
(tests/test_alerts.py unit-tests every alert with synthetic series in tests/alerts/).

Every alert has the label `severity` (`critical`: something users or deploys depend on is down
now; `warning`: needs a person within the working day) and the annotations `summary`,
`description` (templated with the alert's labels) and `runbook_url`, the monitoring-mixin
convention: a link to `docs/runbooks/<AlertName>.md` in the GitOps repository at the stack's
revision (`runbook_base_url`), a document with the headings Meaning, Impact, Diagnosis (the first
checks) and Mitigation (the fix). docs/runbooks/README.md indexes them; tests/test_runbooks.py
keeps documents, index and alerts in step (no alert without its runbook, no orphan runbook).

Metric names and labels are those of the pinned versions (components/versions.py); the source of
each is named above its group. What the metrics need from the charts' values (ServiceMonitors,
OpenBao's telemetry stanza, Harbor's `metrics.enabled`) is noted there too.

Labels of custom resources: cert-manager, Argo CD and External Secrets put the object's namespace
in a `namespace` label, which the Prometheus Operator renames `exported_namespace` when the
ServiceMonitor keeps `honorLabels: false` (those charts' default) - `namespace` is then the
controller's. `_object_namespace` copies `exported_namespace` back into `namespace` when present,
so the alerts name the object's namespace under either setting.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import yaml

from components.config import AlertThresholds
from components.observability.promql import object_namespace as _object_namespace

# --- Timing (change here; the promtool fixtures in tests/alerts/ follow the values) -------------
# The thresholds a stack may tune (certificate days, volume fill) are `AlertThresholds` in
# components/config.py (`dev_tools.monitoring.alerts.thresholds`); the fixtures test the defaults.
CERT_EXPIRY_FOR = "1h"
"""How long a certificate stays under the threshold before the alert fires (a renewal that is
about to land does not page)."""
CERT_NOT_READY_FOR = "15m"
"""A Certificate not Ready this long: issuance or renewal is stuck (an ACME order takes minutes)."""
ARGOCD_APP_FOR = "15m"
"""An Application Degraded or OutOfSync this long (a sync plus rollout fits well inside)."""
OPENBAO_FOR = "5m"
"""OpenBao sealed, leaderless or unscraped this long (raft elects a leader in seconds)."""
HARBOR_FOR = "5m"
"""A Harbor component down this long (a pod restart takes about a minute)."""
HARBOR_EXPORTER_FOR = "10m"
"""Harbor's exporter unscraped this long (it only blinds the Harbor alerts)."""
PVC_FULL_FOR = "10m"
"""A volume above `volume_full_percent` this long."""
PVC_PREDICT_WINDOW = "6h"
"""The history predict_linear extrapolates from."""
PVC_PREDICT_MIN_USED_RATIO = 0.5
"""...and the volume is already more than this fraction used: a fresh volume being filled by a
one-off copy or restore does not page..."""
PVC_PREDICT_FOR = "1h"
"""...for this long (a prediction from a short burst does not page)."""
EXTERNAL_SECRET_FOR = "10m"
"""An ExternalSecret not Ready this long (it retries every few seconds, with back-off)."""
JOB_FAILED_FOR = "5m"
"""A program Job in the Failed condition this long."""
METALLB_FOR = "5m"
"""MetalLB without its configuration, or a full address pool, this long."""
NFS_CONTROLLER_FOR = "10m"
"""csi-driver-nfs' controller without an available replica this long (a reschedule takes less)."""
NFS_NODE_FOR = "15m"
"""A node without a running csi-driver-nfs node plugin this long (a rollout takes less)."""
METALLB_JOB = 'job="metallb-metrics"'
"""MetalLB's target: the metrics Service components/observability/monitors.py creates."""
NFS_CONTROLLER = 'deployment="csi-nfs-controller"'
NFS_NODE = 'daemonset="csi-nfs-node"'
"""csi-driver-nfs' workloads (the chart's `controller.name` and `node.name`)."""

VELERO_FAILED_FOR = "15m"
"""A schedule whose last backup failed, this long (the next run may fix it: warning)."""
BACKUP_MAX_AGE_HOURS = 36
"""No successful backup of a schedule, or OpenBao snapshot, for this many hours: a daily
schedule missed more than one run."""
SNAPSHOT_CRONJOB = 'cronjob="openbao-snapshot"'
"""The raft snapshot CronJob of components/tools/backups.py."""

SEVERITIES = ("critical", "warning")

# Job names: Pulumi auto-names a Job `<resource name>-<7 random characters>`.
WEBHOOK_GATE_JOB = ".+-webhook-ready.*"
"""The webhook gates of components/kube.py (cert-manager-, metallb-, external-secrets-...)."""
HARBOR_BOOTSTRAP_JOB = "harbor-bootstrap.*"
"""The Harbor bootstrap Job of components/tiers/dev_tools.py."""

# Scrape targets.
OPENBAO_JOB = 'job=~"openbao.*"'
"""OpenBao's targets: `openbao-active` with the chart's ServiceMonitor in HA mode (the only one it
scrapes), `openbao-internal`/`openbao` with a ServiceMonitor over every pod."""


RUNBOOK_DIR = "docs/runbooks"
"""Where the runbooks live in the GitOps repository: one `<AlertName>.md` per alert."""


def runbook_base_url(repo_url: str, revision: str) -> str:
    """The web URL of the runbooks folder (`docs/runbooks`) of the GitOps repository `repo_url`
    (`gitops.repo_url`: `https://host/org/repo(.git)` or `git@host:org/repo(.git)`) at
    `revision` (`gitops.target_revision`: a branch, tag or commit).

    The host and repository path are kept, a trailing `.git` or `/` and any `user@` / `user:token@`
    are dropped (no credential ends up in an alert). A host with a `gitlab` label (gitlab.com,
    gitlab.example.com) gets GitLab's form `https://<host>/<group>/<repo>/-/blob/<revision>/...`
    (subgroups kept); every other host - github.com, GitHub Enterprise, and any host this does
    not know - gets GitHub's form `https://<host>/<org>/<repo>/blob/<revision>/docs/runbooks`,
    which is only a guess for other forges (Gitea and Bitbucket use `/src/...`). The revision is
    percent-encoded except for `/` (branch names such as `release/1.4`).
    """
    url = repo_url.strip()
    if url.startswith("https://"):
        host, _, path = url.removeprefix("https://").partition("/")
        host = host.rpartition("@")[2]
    elif url.startswith("git@"):
        host, _, path = url.removeprefix("git@").partition(":")
    else:
        raise ValueError(
            f"{repo_url!r} is not a git URL (https://host/org/repo.git or git@host:org/repo)"
        )
    path = path.strip("/").removesuffix(".git").strip("/")
    if not host or not path or not revision.strip():
        raise ValueError(f"cannot make a runbook URL from {repo_url!r} at revision {revision!r}")
    blob = "-/blob" if "gitlab" in host.lower().split(".") else "blob"
    return f"https://{host}/{path}/{blob}/{quote(revision.strip(), safe='/')}/{RUNBOOK_DIR}"


DEFAULT_RUNBOOK_BASE = runbook_base_url("https://github.com/plate-dev/plate-platform.git", "main")
"""The runbooks of this repository's `main` branch; a stack passes its own
`runbook_base_url(gitops.repo_url, gitops.target_revision)`."""


def _harbor_service(component: str) -> str:
    """Harbor's ServiceMonitor sets `job` from the Services' `app.kubernetes.io/name`, i.e. `harbor`
    for every component; the Prometheus Operator's `service` label (the Service's name,
    `<release>-core`, `-registry`, `-exporter`) tells them apart."""
    return f'service=~".*harbor.*-{component}"'


def _alert(
    name: str,
    expr: str,
    for_: str,
    severity: str,
    summary: str,
    description: str,
) -> dict[str, Any]:
    """One alerting rule; `platform_rule_groups` adds its `runbook_url` annotation."""
    if severity not in SEVERITIES:
        raise ValueError(f"{name}: severity {severity!r} is not one of {SEVERITIES}")
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
        },
    }


def _certificates(thresholds: AlertThresholds) -> dict[str, Any]:
    # Source: cert-manager v1.21 pkg/metrics/certificates.go + metrics.go.
    #   certmanager_certificate_expiration_timestamp_seconds{name, namespace, issuer_name,
    #   issuer_kind, issuer_group} = status.notAfter, 0 until the first issuance (hence `> 0`);
    #   certmanager_certificate_ready_status{..., condition="True"|"False"|"Unknown"}, 1 on the
    #   current one. Scraped through the chart's `prometheus.servicemonitor.enabled`.
    expiry = _object_namespace("certmanager_certificate_expiration_timestamp_seconds > 0")
    not_ready = _object_namespace('certmanager_certificate_ready_status{condition!="True"}')
    days = thresholds.certificate_expiry_days
    return {
        "name": "plate-certificates",
        "rules": [
            _alert(
                "CertificateExpiringSoon",
                f"min by (namespace, name, issuer_kind, issuer_name) (\n  {expiry}\n  - time()\n)"
                f" < {days} * 24 * 3600",
                CERT_EXPIRY_FOR,
                "warning",
                "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in "
                "{{ $value | humanizeDuration }}",
                "Certificate {{ $labels.namespace }}/{{ $labels.name }} (issuer "
                "{{ $labels.issuer_kind }}/{{ $labels.issuer_name }}) expires in "
                "{{ $value | humanizeDuration }} and cert-manager has not renewed it.",
            ),
            _alert(
                "CertificateNotReady",
                f"max by (namespace, name, issuer_kind, issuer_name, condition) (\n  {not_ready}\n)"
                " == 1",
                CERT_NOT_READY_FOR,
                "warning",
                "Certificate {{ $labels.namespace }}/{{ $labels.name }} is not Ready",
                "Certificate {{ $labels.namespace }}/{{ $labels.name }} (issuer "
                "{{ $labels.issuer_kind }}/{{ $labels.issuer_name }}) has had Ready="
                "{{ $labels.condition }} for more than " + CERT_NOT_READY_FOR + ".",
            ),
        ],
    }


def _cluster() -> dict[str, Any]:
    # Source: MetalLB v0.16.1, the chart's templates/prometheusrules.yaml (the same tag):
    #   metallb_k8s_client_config_loaded_bool (1 once the speaker/controller has loaded its
    #   configuration), metallb_allocator_addresses_in_use_total and
    #   metallb_allocator_addresses_total{pool}. Scraped over HTTPS through the monitor
    #   components/observability/monitors.py adds.
    # csi-driver-nfs serves no metrics: its workloads are watched through kube-state-metrics 2.20
    #   (kube_deployment_status_replicas_available, kube_daemonset_status_number_unavailable).
    return {
        "name": "plate-cluster",
        "rules": [
            _alert(
                "MetalLBConfigNotLoaded",
                "max by (namespace, pod) (\n  metallb_k8s_client_config_loaded_bool"
                f"{{{METALLB_JOB}}}\n) == 0",
                METALLB_FOR,
                "warning",
                "MetalLB on {{ $labels.pod }} has not loaded its configuration",
                "MetalLB pod {{ $labels.namespace }}/{{ $labels.pod }} has run without a loaded "
                "configuration for more than " + METALLB_FOR + ".",
            ),
            _alert(
                "MetalLBAddressPoolExhausted",
                "max by (pool) (metallb_allocator_addresses_in_use_total)\n"
                ">= on (pool)\nmax by (pool) (metallb_allocator_addresses_total)",
                METALLB_FOR,
                "warning",
                "MetalLB address pool {{ $labels.pool }} is exhausted",
                "Every address of MetalLB pool {{ $labels.pool }} has been in use for more than "
                + METALLB_FOR + ": new LoadBalancer Services stay pending.",
            ),
            _alert(
                "NfsProvisionerUnavailable",
                "max by (namespace, deployment) (\n  kube_deployment_status_replicas_available"
                f"{{{NFS_CONTROLLER}}}\n) == 0",
                NFS_CONTROLLER_FOR,
                "critical",
                "The NFS provisioner has no available replica",
                "csi-driver-nfs' controller ({{ $labels.namespace }}/{{ $labels.deployment }}) has "
                "had no available replica for more than " + NFS_CONTROLLER_FOR + ".",
            ),
            _alert(
                "NfsNodePluginUnavailable",
                "max by (namespace, daemonset) (\n  kube_daemonset_status_number_unavailable"
                f"{{{NFS_NODE}}}\n) > 0",
                NFS_NODE_FOR,
                "warning",
                "The NFS node plugin is missing on {{ $value }} node(s)",
                "csi-driver-nfs' node plugin ({{ $labels.namespace }}/{{ $labels.daemonset }}) "
                "has been unavailable on {{ $value }} node(s) for more than " + NFS_NODE_FOR + ".",
            ),
        ],
    }


def _backups() -> dict[str, Any]:
    # Source: Velero v1.18 pkg/metrics/metrics.go, as the pinned chart's (12.1.0) example rules
    #   use them: velero_backup_last_status{schedule} (1 = the last backup succeeded, 0 = it
    #   failed), velero_backup_last_successful_timestamp{schedule} (unix seconds). Scraped through
    #   the monitor components/observability/monitors.py adds. kube-state-metrics 2.20:
    #   kube_cronjob_status_last_successful_time{namespace, cronjob}.
    age = f"{BACKUP_MAX_AGE_HOURS} * 3600"
    return {
        "name": "plate-backups",
        "rules": [
            _alert(
                "VeleroBackupFailed",
                'max by (schedule) (velero_backup_last_status{schedule!=""}) == 0',
                VELERO_FAILED_FOR,
                "warning",
                "Velero backup of schedule {{ $labels.schedule }} failed",
                "The last backup of Velero schedule {{ $labels.schedule }} did not complete.",
            ),
            _alert(
                "VeleroBackupTooOld",
                "time() - max by (schedule) (\n  velero_backup_last_successful_timestamp"
                f'{{schedule!=""}}\n) > {age}',
                "15m",
                "critical",
                "No successful Velero backup of {{ $labels.schedule }} for "
                "{{ $value | humanizeDuration }}",
                "Velero schedule {{ $labels.schedule }} last succeeded "
                "{{ $value | humanizeDuration }} ago (threshold "
                f"{BACKUP_MAX_AGE_HOURS}h).",
            ),
            _alert(
                "OpenBaoSnapshotTooOld",
                # the time since the last success, or since the CronJob's creation when it has
                # never succeeded (kube-state-metrics has no success series until the first)
                "(\n  time() - max by (namespace, cronjob) (\n"
                f"    kube_cronjob_status_last_successful_time{{{SNAPSHOT_CRONJOB}}}\n  )\n"
                "  or\n"
                "  time() - max by (namespace, cronjob) (\n"
                f"    kube_cronjob_created{{{SNAPSHOT_CRONJOB}}}\n  )\n"
                "  unless on (namespace, cronjob)\n"
                f"  kube_cronjob_status_last_successful_time{{{SNAPSHOT_CRONJOB}}}\n) > {age}",
                "15m",
                "critical",
                "No OpenBao raft snapshot for {{ $value | humanizeDuration }}",
                "CronJob {{ $labels.namespace }}/{{ $labels.cronjob }} has not succeeded for "
                "{{ $value | humanizeDuration }} (threshold "
                f"{BACKUP_MAX_AGE_HOURS}h).",
            ),
        ],
    }


def _gitops() -> dict[str, Any]:
    # Source: Argo CD v3.4 controller/metrics/metrics.go: argocd_app_info{namespace, name,
    #   project, autosync_enabled, repo, dest_server, dest_namespace, sync_status, health_status,
    #   operation} = 1, one series per Application (its labels change with the status). Scraped
    #   through the chart's `controller.metrics.serviceMonitor`. `max by` drops `operation` and
    #   the scrape's pod labels, whose changes (a sync starting, a controller restart) would
    #   otherwise restart the `for:` clock.
    def app_info(selector: str) -> str:
        return _object_namespace(f"argocd_app_info{{{selector}}}")

    by = "namespace, name, project, dest_namespace"
    degraded = app_info('health_status="Degraded"')
    out_of_sync = app_info('sync_status="OutOfSync"')
    return {
        "name": "plate-gitops",
        "rules": [
            _alert(
                "ArgoCDApplicationDegraded",
                f"max by ({by}) (\n  {degraded}\n) == 1",
                ARGOCD_APP_FOR,
                "warning",
                "Argo CD Application {{ $labels.name }} is Degraded",
                "Application {{ $labels.name }} (project {{ $labels.project }}, namespace "
                "{{ $labels.dest_namespace }}) has been Degraded for more than "
                + ARGOCD_APP_FOR + ".",
            ),
            _alert(
                "ArgoCDApplicationOutOfSync",
                f"max by ({by}) (\n  {out_of_sync}\n) == 1",
                ARGOCD_APP_FOR,
                "warning",
                "Argo CD Application {{ $labels.name }} is OutOfSync",
                "Application {{ $labels.name }} (project {{ $labels.project }}, namespace "
                "{{ $labels.dest_namespace }}) has differed from Git for more than "
                + ARGOCD_APP_FOR + ".",
            ),
        ],
    }


def _openbao() -> dict[str, Any]:
    # Source: OpenBao 2.6 vault/core_metrics.go metricsLoop: vault.core.unsealed (every node, 0
    #   from start-up until unsealed) and vault.core.active (1 on the leader); OpenBao keeps
    #   go-metrics' service name "vault", so Prometheus sees vault_core_unsealed and
    #   vault_core_active - provided the server's `telemetry` stanza sets `disable_hostname = true`
    #   (otherwise gauges are named vault_<hostname>_core_...) and a `prometheus_retention_time`,
    #   and the listener's telemetry allows unauthenticated /v1/sys/metrics (sealed nodes answer
    #   it without a token anyway). openbao-helm 0.29 templates/prometheus-servicemonitor.yaml: in
    #   HA mode (this program's) the ServiceMonitor selects only the `openbao-active` Service, so
    #   a sealed or standby pod is never scraped and a leaderless cluster has no target at all -
    #   hence "no active node" is `absent(... == 1)`, not `== 0`.
    return {
        "name": "plate-openbao",
        "rules": [
            _alert(
                "OpenBaoSealed",
                f"min by (namespace, pod) (vault_core_unsealed{{{OPENBAO_JOB}}}) == 0",
                OPENBAO_FOR,
                "critical",
                "OpenBao pod {{ $labels.namespace }}/{{ $labels.pod }} is sealed",
                "OpenBao pod {{ $labels.namespace }}/{{ $labels.pod }} has been sealed for more "
                "than " + OPENBAO_FOR + ".",
            ),
            _alert(
                "OpenBaoNoActiveNode",
                f"absent(vault_core_active{{{OPENBAO_JOB}}} == 1)",
                OPENBAO_FOR,
                "critical",
                "OpenBao has no active node",
                "No scraped OpenBao node has reported itself active for more than "
                + OPENBAO_FOR + ": OpenBao is down, sealed, without a raft leader, or "
                "Prometheus no longer scrapes it.",
            ),
            _alert(
                "OpenBaoTargetDown",
                f"up{{{OPENBAO_JOB}}} == 0",
                OPENBAO_FOR,
                "warning",
                "Prometheus cannot scrape OpenBao at {{ $labels.instance }}",
                "The OpenBao target {{ $labels.instance }} (job {{ $labels.job }}, pod "
                "{{ $labels.pod }}) has failed its scrapes for more than " + OPENBAO_FOR + ".",
            ),
        ],
    }


def _harbor() -> dict[str, Any]:
    # Source: Harbor 2.15 (chart 1.19) src/pkg/exporter/health_collector.go: harbor_up{component}
    #   = 1 when core's /api/v2.0/health reports the component healthy (core, portal, registry,
    #   registryctl, jobservice, database, redis, trivy). The exporter asks core, so when core is
    #   down it exports no harbor_up at all - hence the `unless` branch. Core, registry and the
    #   exporter are also scrape targets of their own (metrics.enabled + metrics.serviceMonitor;
    #   templates/metrics/metrics-svcmon.yaml, Services <release>-core/-registry/-exporter).
    core_up = f"max by (namespace) (up{{{_harbor_service('core')}}}) == 0"
    exporter_up = f"max by (namespace) (up{{{_harbor_service('exporter')}}})"
    registry_up = f"max by (namespace) (up{{{_harbor_service('registry')}}}) == 0"
    return {
        "name": "plate-harbor",
        "rules": [
            _alert(
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
            _alert(
                "HarborRegistryDown",
                f'max by (namespace) (harbor_up{{component="registry"}}) == 0\nor\n{registry_up}',
                HARBOR_FOR,
                "critical",
                "Harbor registry is down in {{ $labels.namespace }}",
                "Harbor's registry in namespace {{ $labels.namespace }} has been unhealthy "
                "(core's health check, or its own scrape) for more than " + HARBOR_FOR + ".",
            ),
            _alert(
                "HarborExporterDown",
                f"{exporter_up} == 0",
                HARBOR_EXPORTER_FOR,
                "warning",
                "Harbor's metrics exporter is down in {{ $labels.namespace }}",
                "Prometheus has not scraped Harbor's exporter in namespace "
                "{{ $labels.namespace }} for more than " + HARBOR_EXPORTER_FOR
                + "; Harbor's health alerts are partly blind.",
            ),
        ],
    }


def _storage(thresholds: AlertThresholds) -> dict[str, Any]:
    # Source: the kubelet's volume stats (pkg/kubelet/metrics/collectors/volume_stats.go):
    #   kubelet_volume_stats_{capacity,available,used}_bytes{namespace, persistentvolumeclaim},
    #   scraped by kube-prometheus-stack's kubelet ServiceMonitor (honorLabels: true). The kubelet
    #   reports a CSI volume when the driver advertises GET_VOLUME_STATS, which csi-driver-nfs
    #   4.13 does: the numbers are statfs of the mount, i.e. of the whole NFS export. A volume
    #   mounted on several nodes is reported by each kubelet, hence `max by`.
    def per_claim(expr: str) -> str:
        return f"max by (namespace, persistentvolumeclaim) (\n  {expr}\n)"

    full = thresholds.volume_full_percent / 100
    hours = thresholds.volume_full_within_hours
    used_ratio = per_claim("kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes")
    return {
        "name": "plate-storage",
        "rules": [
            _alert(
                "PersistentVolumeClaimAlmostFull",
                f"{used_ratio} > {full}",
                PVC_FULL_FOR,
                "warning",
                "Volume {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} is "
                "{{ $value | humanizePercentage }} full",
                "PersistentVolumeClaim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }}"
                " is {{ $value | humanizePercentage }} full (threshold "
                f"{full:.0%}).",
            ),
            _alert(
                "PersistentVolumeClaimFillingUp",
                per_claim(
                    f"predict_linear(kubelet_volume_stats_available_bytes[{PVC_PREDICT_WINDOW}], "
                    f"{hours} * 3600)"
                )
                + f" < 0\nand on (namespace, persistentvolumeclaim)\n{used_ratio}"
                f" > {PVC_PREDICT_MIN_USED_RATIO}",
                PVC_PREDICT_FOR,
                "critical",
                "Volume {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} will be full "
                f"within {hours}h",
                "At the rate of the last " + PVC_PREDICT_WINDOW + ", PersistentVolumeClaim "
                "{{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} runs out of space "
                f"within {hours} hours.",
            ),
        ],
    }


def _secrets() -> dict[str, Any]:
    # Source: External Secrets v2.9 pkg/controllers/externalsecret/esmetrics/esmetrics.go:
    #   externalsecret_status_condition{name, namespace, condition, status} (gauge; the current
    #   Ready status is 1, the opposite one 0). Scraped through the chart's serviceMonitor.enabled.
    not_ready = _object_namespace(
        'externalsecret_status_condition{condition="Ready", status="False"}'
    )
    return {
        "name": "plate-secrets",
        "rules": [
            _alert(
                "ExternalSecretNotReady",
                f"max by (namespace, name) (\n  {not_ready}\n) == 1",
                EXTERNAL_SECRET_FOR,
                "warning",
                "ExternalSecret {{ $labels.namespace }}/{{ $labels.name }} is not Ready",
                "ExternalSecret {{ $labels.namespace }}/{{ $labels.name }} has failed to sync "
                "from OpenBao for more than " + EXTERNAL_SECRET_FOR + ".",
            ),
        ],
    }


def _jobs() -> dict[str, Any]:
    # Source: kube-state-metrics 2.20 (kube-prometheus-stack 88.5) internal/store/job.go:
    #   kube_job_failed{namespace, job_name, condition} = 1 on condition="true" once the Job has
    #   the Failed condition (backoffLimit or activeDeadlineSeconds exceeded). Not
    #   kube_job_status_failed: it counts failed pods, and the webhook gate fails pods on purpose
    #   while it waits (backoffLimit 8).
    def failed(job_name: str) -> str:
        return (
            "max by (namespace, job_name) (\n"
            f'  kube_job_failed{{condition="true", job_name=~"{job_name}"}}\n) == 1'
        )

    return {
        "name": "plate-jobs",
        "rules": [
            _alert(
                "WebhookGateJobFailed",
                failed(WEBHOOK_GATE_JOB),
                JOB_FAILED_FOR,
                "warning",
                "Webhook gate Job {{ $labels.namespace }}/{{ $labels.job_name }} failed",
                "Webhook gate Job {{ $labels.namespace }}/{{ $labels.job_name }} gave up: the "
                "webhook did not accept a dry-run within the gate's retries.",
            ),
            _alert(
                "HarborBootstrapJobFailed",
                failed(HARBOR_BOOTSTRAP_JOB),
                JOB_FAILED_FOR,
                "warning",
                "Harbor bootstrap Job {{ $labels.namespace }}/{{ $labels.job_name }} failed",
                "Harbor bootstrap Job {{ $labels.namespace }}/{{ $labels.job_name }} failed: the "
                "Harbor project, robots or their OpenBao entries may be missing or stale.",
            ),
        ],
    }


def platform_rule_groups(
    thresholds: AlertThresholds | None = None, runbook_base: str = DEFAULT_RUNBOOK_BASE
) -> list[dict[str, Any]]:
    """The rule groups of the platform's PrometheusRule (`spec.groups`), in a fixed order;
    `thresholds` default to the config model's defaults. Every alert's `runbook_url` is
    `<runbook_base>/<alert>.md` (`runbook_base` as `runbook_base_url` makes it)."""
    thresholds = thresholds or AlertThresholds()
    groups = [
        _cluster(),
        _certificates(thresholds),
        _gitops(),
        _openbao(),
        _harbor(),
        _storage(thresholds),
        _secrets(),
        _jobs(),
        _backups(),
    ]
    base = runbook_base.rstrip("/")
    for group in groups:
        for rule in group["rules"]:
            rule["annotations"]["runbook_url"] = f"{base}/{rule['alert']}.md"
    return groups


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the expressions) as literal blocks, so the file reads like the
    PromQL it holds."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def rules_file(
    thresholds: AlertThresholds | None = None, runbook_base: str = DEFAULT_RUNBOOK_BASE
) -> str:
    """The groups as a Prometheus rules file (`groups:`), as promtool and Prometheus load it."""
    return yaml.dump(
        {"groups": platform_rule_groups(thresholds, runbook_base)},
        Dumper=_Dumper,
        sort_keys=False,
        width=1_000_000,  # no folding inside {{ ... }} templates
        allow_unicode=True,
    )
