"""OpenBao's alerts: seal and leadership (group `plate-openbao`) and the raft snapshots' age
(group `plate-backups`); runbooks in docs/runbooks/<alert>.md."""

from __future__ import annotations

from typing import Any

from components.names import OPENBAO_NAMESPACE
from components.observability.promql import object_namespace
from components.observability.rules import BACKUP_MAX_AGE_HOURS, alert
from components.tools.openbao import JOB as OPENBAO_JOB
from components.tools.openbao import TLS_DURATION
from components.tools.openbao.backup import CRONJOB_SELECTOR as SNAPSHOT_CRONJOB
from components.tools.openbao.server import TLS_SECRET

OPENBAO_FOR = "5m"
"""OpenBao sealed, leaderless or unscraped this long (raft elects a leader in seconds)."""


def started_pods() -> str:
    """When each OpenBao server pod started (kube-state-metrics 2.x internal/store/pod.go
    `kube_pod_start_time{namespace, pod}`): the listener's certificate it serves is the one its
    volume held then."""
    return (f'min by (namespace, pod) (kube_pod_start_time{{namespace="{OPENBAO_NAMESPACE}", '
            f'pod=~"openbao-[0-9]+"}})')


def current_certificate_issued() -> str:
    """When cert-manager issued the listener's current certificate: its notAfter (cert-manager
    v1.21 `certmanager_certificate_expiration_timestamp_seconds`) less its fixed duration."""
    hours = int(TLS_DURATION.removesuffix("h"))
    expiry = object_namespace(
        f'certmanager_certificate_expiration_timestamp_seconds{{name="{TLS_SECRET}"}} > 0'
    )
    return f"max by (namespace) ({expiry}) - {hours} * 3600"


def rules() -> list[dict[str, Any]]:
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
    return [
        alert(
            "OpenBaoSealed",
            f"min by (namespace, pod) (vault_core_unsealed{{{OPENBAO_JOB}}}) == 0",
            OPENBAO_FOR,
            "critical",
            "OpenBao pod {{ $labels.namespace }}/{{ $labels.pod }} is sealed",
            "OpenBao pod {{ $labels.namespace }}/{{ $labels.pod }} has been sealed for more "
            "than " + OPENBAO_FOR + ".",
        ),
        alert(
            "OpenBaoNoActiveNode",
            f"absent(vault_core_active{{{OPENBAO_JOB}}} == 1)",
            OPENBAO_FOR,
            "critical",
            "OpenBao has no active node",
            "No scraped OpenBao node has reported itself active for more than "
            + OPENBAO_FOR + ": OpenBao is down, sealed, without a raft leader, or "
            "Prometheus no longer scrapes it.",
        ),
        alert(
            "OpenBaoTargetDown",
            f"up{{{OPENBAO_JOB}}} == 0",
            OPENBAO_FOR,
            "warning",
            "Prometheus cannot scrape OpenBao at {{ $labels.instance }}",
            "The OpenBao target {{ $labels.instance }} (job {{ $labels.job }}, pod "
            "{{ $labels.pod }}) has failed its scrapes for more than " + OPENBAO_FOR + ".",
        ),
        # OpenBao 2.6.2 reads its listener certificate at start (or SIGHUP) only: a pod that
        # started before cert-manager's last renewal serves the old certificate, which expires
        # a year later with no other warning (cert-manager's own alert watches the new one).
        alert(
            "OpenBaoServesAnOldCertificate",
            f"{started_pods()}\n< on (namespace) group_left ()\n{current_certificate_issued()}",
            "1h",
            "warning",
            "OpenBao pod {{ $labels.namespace }}/{{ $labels.pod }} serves a renewed-away "
            "certificate",
            "OpenBao pod {{ $labels.namespace }}/{{ $labels.pod }} started before cert-manager "
            "renewed the listener certificate " + TLS_SECRET + " and still serves the old one, "
            "which expires within a year of the renewal; restart the pods one at a time.",
        ),
    ]


def snapshot_rules() -> list[dict[str, Any]]:
    # kube-state-metrics 2.20: kube_cronjob_status_last_successful_time{namespace, cronjob}.
    age = f"{BACKUP_MAX_AGE_HOURS} * 3600"

    return [
        alert(
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
    ]
