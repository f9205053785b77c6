"""Grafana dashboards of the platform, as code: one per tool and one overview, assembled here.

kube-prometheus-stack's Grafana sidecar loads every ConfigMap labelled `SIDECAR_LABEL`, from all
namespaces; the program makes one ConfigMap per dashboard from `dashboards(...)` (key = file name,
value = the JSON). This module imports no upstream dashboard: nothing is fetched from grafana.com
at run time, every panel is written in this repository against the metric names of the versions
components/versions.py pins, and a dashboard changes only with this repository's revision.

Where they are written, with Grafana Labs' typed builders (grafana-foundation-sdk; the release
and why: components/observability/grafana.py):

- components/observability/grafana.py: the house style (datasource, tag, time range, panel
  builders with the house options, threshold steps, the workloads section, the layout);
- components/observability/overview.py: **plate-overview**, is the platform well?
- components/tools/<tool>/dashboard.py, one per tool: **plate-cert-manager**, **plate-metallb**,
  **plate-nfs-storage** (csi_driver_nfs), **plate-argocd**, **plate-harbor**, **plate-openbao**,
  **plate-fluentd**, **plate-external-secrets**, and **plate-traefik** (only when the stack runs
  Traefik). Each module's docstring says what its dashboard shows.

uid = file name without `.json`; title "Plate / <tool>"; tag `plate`; every dashboard links to
the others; each tool dashboard ends with the workloads of the tool's namespace (ready replicas,
container restarts, and volume use where the tool keeps state). Only the NFS dashboard has a
template variable (`namespace`): it is the only one listing objects of many namespaces.

The queries follow components/observability/alerts.py: the same metric names and scrape selectors,
the same `exported_namespace` handling (components/observability/promql.py), and the stack's alert
thresholds (`AlertThresholds`) colour the panels, so what pages someone is what turns red here.
Every expression is plain PromQL with fixed rate windows (no Grafana macros):
tests/engines/test_dashboards.py hands each one to `promtool check rules` as it stands and
unit-tests the key overview queries with `promtool test rules`.
"""

from __future__ import annotations

from typing import Any

from components.config import AlertThresholds
from components.observability import grafana, overview
from components.tools import catalog

SIDECAR_LABEL = {"grafana_dashboard": "1"}
"""The label kube-prometheus-stack's Grafana sidecar selects dashboard ConfigMaps by."""


def dashboards(
    *,
    apps_namespace: str,
    argocd_namespace: str = "argocd",
    storage_class: str = "nfs",
    traefik: bool = True,
    thresholds: AlertThresholds | None = None,
) -> dict[str, dict[str, Any]]:
    """Every dashboard as {file name: dashboard JSON}, one ConfigMap key each.

    `apps_namespace` is the applications' namespace (`plate-<env>`), `argocd_namespace` the
    stack's `gitops.argocd_namespace`, `storage_class` its NFS StorageClass (`storage_class`),
    `traefik` whether it runs Traefik (`ingress.controller`, as for the scrape targets), and
    `thresholds` its alerts' (`dev_tools.monitoring.alerts.thresholds`, default the model's):
    panels turn red where the alerts fire.
    """
    alerts = thresholds or AlertThresholds()
    boards = [
        overview.board(
            apps_namespace=apps_namespace, argocd_namespace=argocd_namespace, traefik=traefik,
            alerts=alerts,
        ),
        *catalog.dashboards(argocd_namespace, storage_class, traefik, alerts),
    ]
    return {grafana.file_name(board): grafana.to_json(board) for board in boards}
