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
from components.observability import platform_alerts
from components.observability.rules import DEFAULT_RUNBOOK_BASE
from components.tools import catalog

GROUPS = (
    "plate-cluster", "plate-certificates", "plate-dns", "plate-gitops", "plate-openbao",
    "plate-harbor", "plate-storage", "plate-secrets", "plate-jobs", "plate-backups",
)
"""The PrometheusRule's groups, in order: the tools' (`components/tools/catalog.py`) and this
module's platform-wide ones (volumes, the program's own Jobs)."""


def platform_rule_groups(
    thresholds: AlertThresholds | None = None, runbook_base: str = DEFAULT_RUNBOOK_BASE
) -> list[dict[str, Any]]:
    """The rule groups of the platform's PrometheusRule (`spec.groups`), in a fixed order;
    `thresholds` default to the config model's defaults. Every alert's `runbook_url` is
    `<runbook_base>/<alert>.md` (`runbook_base` as `rules.runbook_base_url` makes it)."""
    thresholds = thresholds or AlertThresholds()
    by_tool = catalog.rules(thresholds)
    own = {
        "plate-storage": platform_alerts.storage(thresholds),
        "plate-jobs": platform_alerts.jobs(),
    }
    groups: list[dict[str, Any]] = [
        own[name] if name in own else {"name": name, "rules": by_tool.pop(name)}
        for name in GROUPS
    ]
    if by_tool:
        raise ValueError(f"rule groups not in GROUPS: {sorted(by_tool)}")
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
