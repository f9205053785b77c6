"""The platform-wide alert groups that belong to no single tool: volumes filling up (NFS
included, through the kubelet's volume stats) and the program's own Jobs (webhook gates, the Harbor
bootstrap). Runbooks in docs/runbooks/<alert>.md.
"""

from __future__ import annotations

from typing import Any

from components.config import AlertThresholds
from components.names import HARBOR_BOOTSTRAP
from components.observability.rules import alert

# --- Timing (change here; the promtool fixtures in tests/engines/alerts/ follow the values)
# ------------- The thresholds a stack may tune (certificate days, volume fill) are
# `AlertThresholds` in components/config.py (`dev_tools.monitoring.alerts.thresholds`); the
# fixtures test the defaults.
PVC_FULL_FOR = "10m"
"""A volume above `volume_full_percent` this long."""
PVC_PREDICT_WINDOW = "6h"
"""The history predict_linear extrapolates from."""
PVC_PREDICT_MIN_USED_RATIO = 0.5
"""...and the volume is already more than this fraction used: a fresh volume being filled by a
one-off copy or restore does not page..."""
PVC_PREDICT_FOR = "1h"
"""...for this long (a prediction from a short burst does not page)."""
JOB_FAILED_FOR = "5m"
"""A program Job in the Failed condition this long."""


# Job names: Pulumi auto-names a Job `<resource name>-<7 random characters>`.
WEBHOOK_GATE_JOB = ".+-webhook-ready.*"
"""The webhook gates of components/kube.py (cert-manager-, metallb-, external-secrets-...)."""
HARBOR_BOOTSTRAP_JOB = f"{HARBOR_BOOTSTRAP}.*"
"""The Harbor bootstrap Job (components/tools/harbor)."""


def storage(thresholds: AlertThresholds) -> dict[str, Any]:
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
            alert(
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
            alert(
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


def jobs() -> dict[str, Any]:
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
            alert(
                "WebhookGateJobFailed",
                failed(WEBHOOK_GATE_JOB),
                JOB_FAILED_FOR,
                "warning",
                "Webhook gate Job {{ $labels.namespace }}/{{ $labels.job_name }} failed",
                "Webhook gate Job {{ $labels.namespace }}/{{ $labels.job_name }} gave up: the "
                "webhook did not accept a dry-run within the gate's retries.",
            ),
            alert(
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
