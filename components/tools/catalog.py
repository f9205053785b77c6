"""Every tool the platform runs, and what each adds to the cross-cutting views: the network-policy
table, Prometheus' scrape targets, the alert rules and the Grafana dashboards.

This is the one module that lists the tools. The views are assembled here from the tools'
contributions and checked as a whole (tests/engines/test_netpol.py, the render's checks, promtool);
adding or removing a tool is its package plus one entry in `TOOLS` (and its tier's `install`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard

from components.config import AlertThresholds
from components.names import HARBOR_NAMESPACE, OPENBAO_NAMESPACE, apps_namespace
from components.netpol import Allowance, Peer
from components.observability.monitors import ScrapeTarget
from components.tools import (
    argocd,
    cert_manager,
    external_secrets,
    fluentd,
    harbor,
    kube_prometheus_stack,
    metallb,
    openbao,
    traefik,
    velero,
)
from components.tools.argocd import alerts as argocd_alerts
from components.tools.argocd import dashboard as argocd_dashboard
from components.tools.cert_manager import alerts as cert_manager_alerts
from components.tools.cert_manager import dashboard as cert_manager_dashboard
from components.tools.csi_driver_nfs import alerts as csi_driver_nfs_alerts
from components.tools.csi_driver_nfs import dashboard as csi_driver_nfs_dashboard
from components.tools.external_secrets import alerts as external_secrets_alerts
from components.tools.external_secrets import dashboard as external_secrets_dashboard
from components.tools.fluentd import dashboard as fluentd_dashboard
from components.tools.harbor import alerts as harbor_alerts
from components.tools.harbor import dashboard as harbor_dashboard
from components.tools.metallb import alerts as metallb_alerts
from components.tools.metallb import dashboard as metallb_dashboard
from components.tools.openbao import alerts as openbao_alerts
from components.tools.openbao import dashboard as openbao_dashboard
from components.tools.traefik import dashboard as traefik_dashboard
from components.tools.velero import alerts as velero_alerts

Rule = dict[str, Any]


@dataclass(frozen=True)
class Scope:
    """What the views need to know of the stack."""

    argocd_namespace: str
    environment: str
    ingress: Peer = traefik.PEER  # the ingress controller's pods, as policies admit them
    traefik: bool = True  # the stack runs the platform's Traefik
    velero: bool = False  # the stack runs Velero (it has a backup target)
    storage_class: str = "nfs"
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)

    @property
    def protected_namespaces(self) -> list[str]:
        """The namespaces whose ingress is denied but for the table's rows."""
        return [
            self.argocd_namespace, HARBOR_NAMESPACE, OPENBAO_NAMESPACE,
            apps_namespace(self.environment),
        ]


def _nothing(scope: Scope) -> list[Any]:
    return []


def _no_rules(scope: Scope) -> dict[str, list[Rule]]:
    return {}


@dataclass(frozen=True)
class Tool:
    """One tool's contributions (each a function of the stack's `Scope`)."""

    name: str
    scrape_targets: Callable[[Scope], list[ScrapeTarget]] = _nothing
    allowances: Callable[[Scope], list[Allowance]] = _nothing
    rules: Callable[[Scope], dict[str, list[Rule]]] = _no_rules  # rule group -> its rules
    dashboards: Callable[[Scope], list[Dashboard]] = _nothing


# In this order: a rule group holds its tools' rules in the order of this table.
TOOLS: tuple[Tool, ...] = (
    Tool(
        "cert-manager",
        scrape_targets=lambda s: cert_manager.scrape_targets(),
        # the HTTP-01 solver runs next to each Certificate, in every protected namespace
        allowances=lambda s: cert_manager.acme_solver_allowances(s.protected_namespaces, s.ingress),
        rules=lambda s: {"plate-certificates": cert_manager_alerts.rules(s.thresholds)},
        dashboards=lambda s: [cert_manager_dashboard.board(s.thresholds)],
    ),
    Tool(
        "metallb",
        scrape_targets=lambda s: metallb.scrape_targets(),
        rules=lambda s: {"plate-cluster": metallb_alerts.rules()},
        dashboards=lambda s: [metallb_dashboard.board()],
    ),
    Tool(
        "csi-driver-nfs",
        rules=lambda s: {"plate-cluster": csi_driver_nfs_alerts.rules()},
        dashboards=lambda s: [csi_driver_nfs_dashboard.board(s.storage_class, s.thresholds)],
    ),
    Tool(
        "traefik",
        scrape_targets=lambda s: traefik.scrape_targets(s.traefik),
        dashboards=lambda s: [traefik_dashboard.board(s.thresholds)] if s.traefik else [],
    ),
    Tool(
        "argo-cd",
        scrape_targets=lambda s: argocd.scrape_targets(s.argocd_namespace),
        allowances=lambda s: argocd.allowances(s.argocd_namespace, s.ingress),
        rules=lambda s: {"plate-gitops": argocd_alerts.rules()},
        dashboards=lambda s: [argocd_dashboard.board(s.argocd_namespace)],
    ),
    Tool(
        "harbor",
        scrape_targets=lambda s: harbor.scrape_targets(),
        allowances=lambda s: harbor.allowances(s.ingress),
        rules=lambda s: {"plate-harbor": harbor_alerts.rules()},
        dashboards=lambda s: [harbor_dashboard.board(s.thresholds)],
    ),
    # its own monitoring is the chart's (kube-prometheus-stack's rules and dashboards)
    Tool(kube_prometheus_stack.RELEASE),
    Tool(
        "fluentd",
        scrape_targets=lambda s: fluentd.scrape_targets(),
        dashboards=lambda s: [fluentd_dashboard.board()],
    ),
    Tool(
        "velero",
        scrape_targets=lambda s: velero.scrape_targets(s.velero),
        rules=lambda s: {"plate-backups": velero_alerts.rules()},
    ),
    Tool(
        "external-secrets",
        scrape_targets=lambda s: external_secrets.scrape_targets(),
        rules=lambda s: {"plate-secrets": external_secrets_alerts.rules()},
        dashboards=lambda s: [external_secrets_dashboard.board()],
    ),
    Tool(
        "openbao",
        scrape_targets=lambda s: openbao.scrape_targets(),
        allowances=lambda s: openbao.allowances(s.ingress),
        rules=lambda s: {
            "plate-openbao": openbao_alerts.rules(),
            "plate-backups": openbao_alerts.snapshot_rules(),
        },
        dashboards=lambda s: [openbao_dashboard.board(s.thresholds)],
    ),
)


def protected_namespaces(argocd_namespace: str, environment: str) -> list[str]:
    return Scope(argocd_namespace, environment).protected_namespaces


def allowances(
    argocd_namespace: str, environment: str, ingress: Peer = traefik.PEER
) -> list[Allowance]:
    """The table: every connection into a protected namespace that the platform needs."""
    scope = Scope(argocd_namespace, environment, ingress)
    return [row for tool in TOOLS for row in tool.allowances(scope)]


def scrape_targets(
    argocd_namespace: str, traefik_installed: bool, velero_installed: bool = False
) -> list[ScrapeTarget]:
    """Every tool Prometheus scrapes (Traefik and Velero only when the stack installs them)."""
    scope = Scope(argocd_namespace, "", traefik=traefik_installed, velero=velero_installed)
    return [target for tool in TOOLS for target in tool.scrape_targets(scope)]


def rules(thresholds: AlertThresholds) -> dict[str, list[Rule]]:
    """Every tool's alert rules by group, each group's rules in the order of `TOOLS`."""
    scope = Scope("", "", thresholds=thresholds)
    groups: dict[str, list[Rule]] = {}
    for tool in TOOLS:
        for group, rules_ in tool.rules(scope).items():
            groups.setdefault(group, []).extend(rules_)
    return groups


def dashboards(
    argocd_namespace: str, storage_class: str, traefik_installed: bool,
    thresholds: AlertThresholds,
) -> list[Dashboard]:
    """Every tool's dashboards, in the order of `TOOLS`."""
    scope = Scope(
        argocd_namespace, "", traefik=traefik_installed, storage_class=storage_class,
        thresholds=thresholds,
    )
    return [board for tool in TOOLS for board in tool.dashboards(scope)]
