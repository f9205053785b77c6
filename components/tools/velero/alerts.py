"""Velero's alerts (group `plate-backups`); runbooks in docs/runbooks/<alert>.md."""

from __future__ import annotations

from typing import Any

from components.observability.rules import BACKUP_MAX_AGE_HOURS, alert

VELERO_FAILED_FOR = "15m"
"""A schedule whose last backup failed, this long (the next run may fix it: warning)."""


def rules() -> list[dict[str, Any]]:
    # Source: Velero v1.18 pkg/metrics/metrics.go, as the pinned chart's (12.1.0) example rules
    #   use them: velero_backup_last_status{schedule} (1 = the last backup succeeded, 0 = it
    #   failed), velero_backup_last_successful_timestamp{schedule} (unix seconds). Scraped through
    #   the monitor components/observability/monitors.py adds. kube-state-metrics 2.20:
    #   kube_cronjob_status_last_successful_time{namespace, cronjob}.
    age = f"{BACKUP_MAX_AGE_HOURS} * 3600"
    return [
        alert(
            "VeleroBackupFailed",
            'max by (schedule) (velero_backup_last_status{schedule!=""}) == 0',
            VELERO_FAILED_FOR,
            "warning",
            "Velero backup of schedule {{ $labels.schedule }} failed",
            "The last backup of Velero schedule {{ $labels.schedule }} did not complete.",
        ),
        alert(
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
    ]
