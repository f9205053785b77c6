"""OpenBao's alerts: seal and leadership (group `plate-openbao`) and the raft snapshots' age
(group `plate-backups`); runbooks in docs/runbooks/<alert>.md."""

from __future__ import annotations

from typing import Any

from components.observability.rules import BACKUP_MAX_AGE_HOURS, alert
from components.tools.openbao import JOB as OPENBAO_JOB
from components.tools.openbao.backup import CRONJOB_SELECTOR as SNAPSHOT_CRONJOB

OPENBAO_FOR = "5m"
"""OpenBao sealed, leaderless or unscraped this long (raft elects a leader in seconds)."""


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
