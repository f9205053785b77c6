"""The platform's own alerts: the rule groups of a `monitoring.coreos.com/v1` PrometheusRule.

kube-prometheus-stack's default rules (nodes, pods, kubelet, the generic KubeJobFailed and
KubePersistentVolumeFillingUp) stay on; these groups add what only this platform knows about:
certificates, Argo CD Applications, OpenBao's seal and leadership, Harbor's components, volumes
(NFS included), ExternalSecrets and the program's own Jobs (webhook gates, Harbor bootstrap).

`platform_rule_groups()` is the PrometheusRule's `spec.groups`; `rules_file()` is the same groups
as a Prometheus rules file, which is what `promtool check rules` / `promtool test rules` read
(tests/engines/test_alerts.py unit-tests every alert with synthetic series in
tests/engines/alerts/).

Every alert has the label `severity` (`critical`: something users or deploys depend on is down
now; `warning`: needs a person within the working day) and the annotations `summary`,
`description` (templated with the alert's labels) and `runbook_url`, the monitoring-mixin
convention (`components/observability/rules.py`): a link to `docs/runbooks/<AlertName>.md` in the
GitOps repository at the stack's revision, a document with the headings Meaning, Impact,
Diagnosis (the first checks) and Mitigation (the fix). docs/runbooks/README.md indexes them;
tests/unit/test_runbooks.py keeps documents, index and alerts in step (no alert without its
runbook, no orphan runbook).

Each tool's alerts live in its package (`components/tools/<tool>/alerts.py`); this module adds
the platform-wide groups (volumes, the program's own Jobs) and assembles the groups in a fixed
order. Metric names and labels are those of the pinned versions (components/versions.py); the
source of each is named above its rules. What the metrics need from the charts' values
(ServiceMonitors, OpenBao's telemetry stanza, Harbor's `metrics.enabled`) is noted there too.

Labels of custom resources: cert-manager, Argo CD and External Secrets put the object's namespace
in a `namespace` label, which the Prometheus Operator renames `exported_namespace` when the
ServiceMonitor keeps `honorLabels: false` (those charts' default) - `namespace` is then the
controller's. `promql.object_namespace` copies `exported_namespace` back into `namespace` when
present, so the alerts name the object's namespace under either setting.
"""

from __future__ import annotations

from typing import Any

import yaml

from components.config import AlertThresholds
from components.names import HARBOR_BOOTSTRAP
from components.observability.rules import DEFAULT_RUNBOOK_BASE, alert
from components.tools.argocd import alerts as argocd
from components.tools.cert_manager import alerts as cert_manager
from components.tools.csi_driver_nfs import alerts as csi_driver_nfs
from components.tools.external_secrets import alerts as external_secrets
from components.tools.harbor import alerts as harbor
from components.tools.metallb import alerts as metallb
from components.tools.openbao import alerts as openbao
from components.tools.velero import alerts as velero

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


def platform_rule_groups(
    thresholds: AlertThresholds | None = None, runbook_base: str = DEFAULT_RUNBOOK_BASE
) -> list[dict[str, Any]]:
    """The rule groups of the platform's PrometheusRule (`spec.groups`), in a fixed order;
    `thresholds` default to the config model's defaults. Every alert's `runbook_url` is
    `<runbook_base>/<alert>.md` (`runbook_base` as `rules.runbook_base_url` makes it)."""
    thresholds = thresholds or AlertThresholds()
    groups = [
        {"name": "plate-cluster", "rules": [*metallb.rules(), *csi_driver_nfs.rules()]},
        {"name": "plate-certificates", "rules": cert_manager.rules(thresholds)},
        {"name": "plate-gitops", "rules": argocd.rules()},
        {"name": "plate-openbao", "rules": openbao.rules()},
        {"name": "plate-harbor", "rules": harbor.rules()},
        _storage(thresholds),
        {"name": "plate-secrets", "rules": external_secrets.rules()},
        _jobs(),
        {"name": "plate-backups", "rules": [*velero.rules(), *openbao.snapshot_rules()]},
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
