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
`description` (templated with the alert's labels) and `runbook` (static text: what it means, the
first checks, the fix - no link to follow at 3 a.m.).

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
    runbook: str,
) -> dict[str, Any]:
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
            "runbook": " ".join(runbook.split()),
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
                f"""cert-manager renews certificates well before the last {days} days, so
                renewal has been failing for a while; when the certificate expires,
                clients reject the site. First checks: `kubectl -n <namespace> describe
                certificate <name>` and the CertificateRequest/Order/Challenge it points at (`cmctl
                status certificate <name> -n <namespace>` shows the chain), then the cert-manager
                controller's log. Usual causes: the HTTP-01 challenge is not reachable (DNS not
                pointing at the ingress address, ingress class), the Cloudflare token for DNS-01
                expired, or Let's Encrypt's rate limits. Fix the cause, then `cmctl renew <name> -n
                <namespace>` (or delete the Certificate's Secret) to retry at once.""",
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
                """Issuance or renewal of this certificate is stuck: a new site has no valid
                certificate yet, an existing one keeps its old certificate until it expires.
                First checks: `kubectl -n <namespace> describe certificate <name>` (the Ready
                condition's message), then its CertificateRequest, Order and Challenge, and
                `kubectl describe clusterissuer <issuer>` (Ready, ACME account registered). Usual
                causes: DNS for the host does not point at the ingress address, the HTTP-01 solver
                ingress is not served, the DNS-01 API token is wrong, or Let's Encrypt rate
                limits. Fix the cause; cert-manager retries with back-off, `cmctl renew` retries
                at once.""",
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
                """Without its configuration a speaker announces nothing and the controller
                assigns no addresses, so LoadBalancer Services (the ingress address among them)
                may become unreachable from this node. First checks: `kubectl -n metallb-system
                logs <pod>` (the configuration error), `kubectl -n metallb-system get
                ipaddresspools,l2advertisements -o yaml`, and whether the webhook rejected a
                change. Fix the IPAddressPool or L2Advertisement (the stack's `metallb` section)
                and `pulumi up`; the pods reload by themselves.""",
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
                """Existing Services keep their addresses, but a new LoadBalancer Service gets
                none. First checks: `kubectl get svc -A --field-selector spec.type=LoadBalancer`
                for Services that should be ClusterIP behind the ingress instead. Fix: delete or
                convert the strays, or add a range to the stack's `metallb.addresses` and `pulumi
                up`.""",
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
                """No new NFS volume can be provisioned or deleted: every new PersistentVolumeClaim
                of the platform's storage class stays Pending, so new stateful pods do not start.
                Volumes that exist stay mounted. First checks: `kubectl -n <namespace> get pods -l
                app=csi-nfs-controller`, their events and the logs of the `nfs` and
                `csi-provisioner` containers; a controller that cannot mount the export points at
                the NFS server or its exports. Fix the cause; the Deployment recovers by
                itself.""",
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
                """Pods scheduled to a node without the node plugin cannot mount NFS volumes and
                stay ContainerCreating. First checks: `kubectl -n <namespace> get pods -l
                app=csi-nfs-node -o wide` (which node), the pod's events and logs (NFS client
                tools, kubelet plugin registration). Fix the node or drain it; the DaemonSet
                recovers by itself.""",
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
                """A failed backup leaves the newest good copy older than it should be. First
                checks: `velero backup get` (or `kubectl -n velero get backups.velero.io`) for the
                failed one, then `velero backup describe <name> --details` and `velero backup
                logs <name>`; `kubectl -n velero get backupstoragelocations` shows whether the
                bucket is reachable (Available). Usual causes: expired S3 keys, a full bucket, a
                node-agent that cannot read a volume (NFS root_squash). Fix the cause; the next
                scheduled run retries, `velero backup create --from-schedule <schedule>` retries
                at once.""",
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
                """The platform has no recent copy of Harbor, Grafana, Argo CD or the apps'
                volumes: losing the cluster now loses everything since then. First checks:
                VeleroBackupFailed, `velero schedule get` (is the schedule there and not paused),
                the velero Deployment's pods and logs, the BackupStorageLocation's phase. Fix the
                cause, then take a backup at once with `velero backup create --from-schedule
                <schedule> --wait`.""",
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
                """Every application secret lives in OpenBao; without a recent snapshot, losing
                its volumes loses the secrets written since the last one. First checks: `kubectl
                -n openbao get jobs -l app.kubernetes.io/name=openbao-snapshot` and the failed
                Job's log (every step logs a line: login, save, verify, prune), OpenBaoSealed and
                OpenBaoNoActiveNode, and whether the snapshot volume is full. Fix the cause, then
                `kubectl -n openbao create job --from=cronjob/openbao-snapshot
                openbao-snapshot-now` takes one at once (docs/operations.md).""",
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
                """A resource of this Application is unhealthy: usually a Deployment whose pods
                crash or never become ready, a failing Job or a PVC that cannot bind. First
                checks: `argocd app get <name>` (or the UI's resource tree) for the Degraded
                resource and its message, then `kubectl -n <destination namespace> describe` and
                `logs` of its pods; missing `<app>-env` Secrets point at the ExternalSecret
                (values not written to OpenBao). Fix the manifest or values in Git and let Argo CD
                sync, or roll back with `argocd app rollback <name>`.""",
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
                """The cluster does not match Git and Argo CD has not closed the gap: an
                automated sync keeps failing, auto-sync is off, or something edits the resources
                by hand (drift that self-heal fights). First checks: `argocd app get <name>` for
                the last sync's result and `argocd app diff <name>` for what differs; a sync
                rejected by an admission webhook or the AppProject (destination or kind not
                allowed) shows in the operation state. Fix the manifest, the AppProject or the
                hand edit, then `argocd app sync <name>`; for fields a controller owns, add
                ignoreDifferences rather than syncing in a loop.""",
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
                """A sealed node serves nothing and does not count towards the raft quorum; when
                the leader is sealed too, External Secrets and the Harbor bootstrap cannot read
                secrets. (Only visible when every pod is scraped; the chart's HA ServiceMonitor
                scrapes the active pod, so OpenBaoNoActiveNode is what fires then.) First checks:
                `kubectl -n <namespace> logs <pod>` and `bao status` in the pod. With the static
                seal the pod unseals itself from the unseal-key Secret: a missing or changed
                Secret, or a key that does not match the one the data was sealed with, keeps it
                sealed - restore the right key and delete the pod. With the shamir seal, unseal
                by hand: `kubectl -n <namespace> exec -ti <pod> -- bao operator unseal` with the
                key holders (docs/operations.md, OpenBao).""",
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
                """Without an active node OpenBao answers no reads or writes: ExternalSecrets stop
                refreshing (existing Secrets stay), the Harbor bootstrap fails, logins fail.
                First checks: `kubectl -n openbao get pods` (running? ready?), `bao status` in
                each pod (Sealed, HA Mode, Raft Committed Index), `bao operator raft
                list-peers`, and the pods' logs for raft errors. Sealed pods: see OpenBaoSealed.
                Lost quorum (more than half the voters gone): bring the voters' pods and
                volumes back; as a last resort recover from a snapshot (docs/operations.md). If
                `bao status` shows an active node, Prometheus is not scraping it: check the
                ServiceMonitor, the telemetry stanza and OpenBaoTargetDown.""",
            ),
            _alert(
                "OpenBaoTargetDown",
                f"up{{{OPENBAO_JOB}}} == 0",
                OPENBAO_FOR,
                "warning",
                "Prometheus cannot scrape OpenBao at {{ $labels.instance }}",
                "The OpenBao target {{ $labels.instance }} (job {{ $labels.job }}, pod "
                "{{ $labels.pod }}) has failed its scrapes for more than " + OPENBAO_FOR + ".",
                """Prometheus reaches the OpenBao target but the scrape fails, so the seal and
                leadership alerts are blind for this pod. First checks: the target's error on
                Prometheus' Targets page; `kubectl -n <namespace> get pod <pod>` (crash-looping,
                not listening); a 4xx answer means /v1/sys/metrics wants a token - set
                `unauthenticated_metrics_access = true` in the listener's telemetry block; an
                empty answer means the server's `telemetry` stanza (prometheus_retention_time) is
                missing. If the pod itself is down, fix it first (its log, its volume).""",
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
                """Harbor core serves the UI, the API and the registry's token service: without
                it nobody can log in, push or pull (nodes pulling images from Harbor fail new
                pods). First checks: `kubectl -n <namespace> get pods -l component=core`, their
                logs and events; core needs its database (harbor-database pod, its volume) and
                Redis, so check those pods and their PVCs too (a full database volume stops
                core). Fix the failing dependency or roll back a bad upgrade; core restarts by
                itself once its database and Redis answer.""",
            ),
            _alert(
                "HarborRegistryDown",
                f'max by (namespace) (harbor_up{{component="registry"}}) == 0\nor\n{registry_up}',
                HARBOR_FOR,
                "critical",
                "Harbor registry is down in {{ $labels.namespace }}",
                "Harbor's registry in namespace {{ $labels.namespace }} has been unhealthy "
                "(core's health check, or its own scrape) for more than " + HARBOR_FOR + ".",
                """The registry stores and serves image layers: pushes from CI and pulls of
                new pods fail. First checks: `kubectl -n <namespace> get pods -l
                component=registry`, the registry container's log, and its volume
                (`kubectl -n <namespace> get pvc`, PersistentVolumeClaimAlmostFull: a full image
                volume or an NFS export that went away stops the registry). Fix storage first,
                then delete the registry pod to restart it; run garbage collection from the UI
                if the volume is full of deleted images.""",
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
                """The exporter is a separate Deployment that reports Harbor's health and
                statistics; Harbor itself may be fine, but HarborCoreDown and HarborRegistryDown
                rely on it. First checks: `kubectl -n <namespace> get pods -l
                component=exporter`, its log (it needs core's API and the database), and the
                target's error on Prometheus' Targets page. Restart the pod once its
                dependencies answer.""",
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
    nfs_note = """NFS volumes (csi-driver-nfs) report the whole export: every claim on the same
    export shows the same numbers and fills up together - free space on the NFS server, not
    inside one claim."""
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
                f"""A full volume stops what writes to it (databases refuse writes, the registry
                refuses pushes, Prometheus stops ingesting). First checks: what fills it (`kubectl
                -n <namespace> exec` into the pod and `du -sh` the mount), whether retention or
                garbage collection is configured (Prometheus retention, Harbor GC). Fix: clean up,
                or grow the claim (`kubectl -n <namespace> edit pvc <name>`, if the storage class
                allows expansion) or the stack's size setting and `pulumi up`. {nfs_note}""",
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
                f"""Something writes fast enough to fill this volume within a day: a runaway log,
                a backup or image push loop, a database that cannot vacuum. First checks: the
                volume's growth on Grafana's Persistent Volumes dashboard, the writing pod's logs,
                recent deploys. Fix the writer first, then make room or grow the claim as for
                PersistentVolumeClaimAlmostFull. {nfs_note}""",
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
                """The Secret this ExternalSecret writes is stale or missing: pods that start
                now may fail on a missing `<app>-env` Secret. First checks: `kubectl -n
                <namespace> describe externalsecret <name>` (the Ready condition's message),
                the ClusterSecretStore's status (`kubectl get clustersecretstores`), and
                OpenBaoSealed/OpenBaoNoActiveNode. Usual causes: the values were never written
                (`bao kv put plate/<env>/<app> ...`, docs/operations.md), a key name that does not
                exist in OpenBao, or the store's Kubernetes-auth role not allowing the path.
                Fix the data or the role; ESO retries by itself, `kubectl annotate
                externalsecret <name> force-sync=$(date +%s) --overwrite` retries at once.""",
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
                """The program's gate Job dry-runs a custom resource until the chart's admission
                webhook answers; it failed, so `pulumi up` stopped before the resources behind
                the gate (ClusterIssuers, the MetalLB pool, ClusterSecretStores). First checks:
                `kubectl -n <namespace> logs job/<job_name>` (the last dry-run's error), the
                webhook's pods and their serving certificate (cert-manager's cainjector fills
                it), and NetworkPolicies between the API server and the webhook. Fix the webhook,
                then delete the failed Job and run `pulumi up --stack <env> --refresh`, which
                creates the gate again; the alert clears once the failed Job is gone.""",
            ),
            _alert(
                "HarborBootstrapJobFailed",
                failed(HARBOR_BOOTSTRAP_JOB),
                JOB_FAILED_FOR,
                "warning",
                "Harbor bootstrap Job {{ $labels.namespace }}/{{ $labels.job_name }} failed",
                "Harbor bootstrap Job {{ $labels.namespace }}/{{ $labels.job_name }} failed: the "
                "Harbor project, robots or their OpenBao entries may be missing or stale.",
                """The bootstrap Job (ops/harbor_bootstrap.py) creates the Harbor project and the
                pull and CI push robots and stores their secrets in OpenBao; until it succeeds,
                CI cannot push and clusters cannot pull with harbor-pull. First checks: `kubectl
                -n <namespace> logs job/<job_name>` (it names the failed step), HarborCoreDown,
                OpenBaoNoActiveNode, and the bootstrap's OpenBao role. Fix the cause, then delete
                the failed Job and run `pulumi up --stack <env> --refresh` to run it again; it is
                idempotent.""",
            ),
        ],
    }


def platform_rule_groups(thresholds: AlertThresholds | None = None) -> list[dict[str, Any]]:
    """The rule groups of the platform's PrometheusRule (`spec.groups`), in a fixed order;
    `thresholds` default to the config model's defaults."""
    thresholds = thresholds or AlertThresholds()
    return [
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


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the expressions) as literal blocks, so the file reads like the
    PromQL it holds."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def rules_file(thresholds: AlertThresholds | None = None) -> str:
    """The groups as a Prometheus rules file (`groups:`), as promtool and Prometheus load it."""
    return yaml.dump(
        {"groups": platform_rule_groups(thresholds)},
        Dumper=_Dumper,
        sort_keys=False,
        width=1_000_000,  # no folding inside {{ ... }} templates
        allow_unicode=True,
    )
