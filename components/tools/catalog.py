"""Every tool the platform runs, and what each adds to the cross-cutting views: the network-policy
table, Prometheus' scrape targets, the alert rules and the Grafana dashboards.

This is the one module that lists the tools. The views are assembled here from the tools'
contributions and checked as a whole (tests/engines/test_netpol.py, the render's checks, promtool);
adding or removing a tool is its package plus one entry in `TOOLS` (and its tier's `install`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard

from components import netpol
from components.config import AlertThresholds
from components.names import (
    CERT_MANAGER_NAMESPACE,
    EXTERNAL_DNS_NAMESPACE,
    EXTERNAL_SECRETS_NAMESPACE,
    HARBOR_NAMESPACE,
    LOGGING_NAMESPACE,
    METALLB_NAMESPACE,
    MONITORING_NAMESPACE,
    NFS_NAMESPACE,
    OPENBAO_NAMESPACE,
    TRAEFIK_NAMESPACE,
    VELERO_NAMESPACE,
    apps_namespace,
)
from components.netpol import Allowance, EgressAllowance, Peer, dns_egress
from components.observability.monitors import ScrapeTarget
from components.tools import (
    argocd,
    cert_manager,
    external_dns,
    external_secrets,
    fluentd,
    harbor,
    kube_prometheus_stack,
    local_path,
    metallb,
    metrics_server,
    oauth2_proxy,
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
from components.tools.external_dns import alerts as external_dns_alerts
from components.tools.external_dns import dashboard as external_dns_dashboard
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
    external_dns: bool = False  # the stack runs external-dns (it has a `dns` section)
    storage_class: str = "nfs"
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)

    @property
    def protected_namespaces(self) -> list[str]:
        """Every namespace the platform may create, each tool's and the apps': ingress is denied
        in each but for the table's rows (a tier creates the policies of those it creates)."""
        return [
            *(ns for tool in TOOLS for ns in tool.namespaces(self)),
            apps_namespace(self.environment),
        ]

    @property
    def tls_namespaces(self) -> list[str]:
        """The namespaces with an Ingress whose certificate cert-manager issues (HTTP-01: the
        solver runs there)."""
        return [
            *(ns for tool in TOOLS if tool.tls_ingress for ns in tool.namespaces(self)),
            apps_namespace(self.environment),
        ]

    @property
    def egress_confined(self) -> list[str]:
        """The namespaces whose egress is denied but for the egress rows: the apps'."""
        return [apps_namespace(self.environment)]


def _nothing(scope: Scope) -> list[Any]:
    return []


def _no_rules(scope: Scope) -> dict[str, list[Rule]]:
    return {}


@dataclass(frozen=True)
class Tool:
    """One tool's contributions (each a function of the stack's `Scope`)."""

    name: str
    namespaces: Callable[[Scope], list[str]] = _nothing  # the ones it creates
    tls_ingress: bool = False  # it has an Ingress whose certificate cert-manager issues
    scrape_targets: Callable[[Scope], list[ScrapeTarget]] = _nothing
    allowances: Callable[[Scope], list[Allowance]] = _nothing
    rules: Callable[[Scope], dict[str, list[Rule]]] = _no_rules  # rule group -> its rules
    dashboards: Callable[[Scope], list[Dashboard]] = _nothing


# In this order: a rule group holds its tools' rules in the order of this table.
TOOLS: tuple[Tool, ...] = (
    Tool(
        "cert-manager",
        namespaces=lambda s: [CERT_MANAGER_NAMESPACE],
        scrape_targets=lambda s: cert_manager.scrape_targets(),
        # the HTTP-01 solver runs next to each Certificate, in every namespace with a TLS Ingress
        allowances=lambda s: [
            *cert_manager.allowances(),
            *cert_manager.acme_solver_allowances(s.tls_namespaces, s.ingress),
        ],
        rules=lambda s: {"plate-certificates": cert_manager_alerts.rules(s.thresholds)},
        dashboards=lambda s: [cert_manager_dashboard.board(s.thresholds)],
    ),
    Tool(
        "metallb",
        namespaces=lambda s: [METALLB_NAMESPACE],
        scrape_targets=lambda s: metallb.scrape_targets(),
        allowances=lambda s: metallb.allowances(),
        rules=lambda s: {"plate-cluster": metallb_alerts.rules()},
        dashboards=lambda s: [metallb_dashboard.board()],
    ),
    Tool(
        "csi-driver-nfs",
        # its pods all run on the host network: the default deny only, for anything added later
        namespaces=lambda s: [NFS_NAMESPACE],
        rules=lambda s: {"plate-cluster": csi_driver_nfs_alerts.rules()},
        dashboards=lambda s: [csi_driver_nfs_dashboard.board(s.storage_class, s.thresholds)],
    ),
    # nothing connects to the provisioner or its helper pods: the default deny only
    Tool("local-path-provisioner", namespaces=lambda s: [local_path.NAMESPACE]),
    Tool(
        "metrics-server",
        namespaces=lambda s: [metrics_server.NAMESPACE],
        allowances=lambda s: metrics_server.allowances(),
    ),
    Tool(
        "external-dns",
        namespaces=lambda s: [EXTERNAL_DNS_NAMESPACE],
        scrape_targets=lambda s: external_dns.scrape_targets(s.external_dns),
        allowances=lambda s: external_dns.allowances(),
        rules=lambda s: {"plate-dns": external_dns_alerts.rules()},
        dashboards=lambda s: [external_dns_dashboard.board()],
    ),
    Tool(
        "traefik",
        namespaces=lambda s: [TRAEFIK_NAMESPACE],
        scrape_targets=lambda s: traefik.scrape_targets(s.traefik),
        allowances=lambda s: traefik.allowances(),
        dashboards=lambda s: [traefik_dashboard.board(s.thresholds)] if s.traefik else [],
    ),
    Tool(
        "argo-cd",
        namespaces=lambda s: [s.argocd_namespace],
        tls_ingress=True,
        scrape_targets=lambda s: argocd.scrape_targets(s.argocd_namespace),
        allowances=lambda s: argocd.allowances(s.argocd_namespace, s.ingress),
        rules=lambda s: {"plate-gitops": argocd_alerts.rules()},
        dashboards=lambda s: [argocd_dashboard.board(s.argocd_namespace)],
    ),
    Tool(
        "harbor",
        namespaces=lambda s: [HARBOR_NAMESPACE],
        tls_ingress=True,
        scrape_targets=lambda s: harbor.scrape_targets(),
        allowances=lambda s: harbor.allowances(s.ingress),
        rules=lambda s: {"plate-harbor": harbor_alerts.rules()},
        dashboards=lambda s: [harbor_dashboard.board(s.thresholds)],
    ),
    # its own monitoring is the chart's (kube-prometheus-stack's rules and dashboards)
    Tool(
        kube_prometheus_stack.RELEASE,
        namespaces=lambda s: [MONITORING_NAMESPACE],
        tls_ingress=True,
        allowances=lambda s: kube_prometheus_stack.allowances(s.ingress),
    ),
    # the sign-in in front of Prometheus' and Alertmanager's UIs (in monitoring)
    Tool("oauth2-proxy", allowances=lambda s: oauth2_proxy.allowances(s.ingress)),
    Tool(
        "fluentd",
        namespaces=lambda s: [LOGGING_NAMESPACE],
        scrape_targets=lambda s: fluentd.scrape_targets(),
        allowances=lambda s: fluentd.allowances(),
        dashboards=lambda s: [fluentd_dashboard.board()],
    ),
    Tool(
        "velero",
        namespaces=lambda s: [VELERO_NAMESPACE],
        scrape_targets=lambda s: velero.scrape_targets(s.velero),
        allowances=lambda s: velero.allowances(),
        rules=lambda s: {"plate-backups": velero_alerts.rules()},
    ),
    Tool(
        "external-secrets",
        namespaces=lambda s: [EXTERNAL_SECRETS_NAMESPACE],
        scrape_targets=lambda s: external_secrets.scrape_targets(),
        allowances=lambda s: external_secrets.allowances(),
        rules=lambda s: {"plate-secrets": external_secrets_alerts.rules()},
        dashboards=lambda s: [external_secrets_dashboard.board()],
    ),
    Tool(
        "openbao",
        namespaces=lambda s: [OPENBAO_NAMESPACE],
        tls_ingress=True,
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


def egress_allowances(environment: str) -> list[EgressAllowance]:
    """The egress rows: what every pod of a namespace whose egress is denied may still reach
    (each release of plate-<env> adds the calls it declares in its chart)."""
    return [dns_egress(ns) for ns in Scope("", environment).egress_confined]


def network_policies(
    argocd_namespace: str, environment: str, namespaces: Collection[str],
    ingress: Peer = traefik.PEER,
) -> list[dict[str, Any]]:
    """The NetworkPolicy objects of `namespaces` (the ones a tier creates): default deny, the
    table's rows into them and, where egress is confined, the egress rows."""
    return netpol.network_policies(
        allowances(argocd_namespace, environment, ingress), namespaces,
        egress_allowances(environment), Scope("", environment).egress_confined,
    )


def scrape_targets(
    argocd_namespace: str, traefik_installed: bool, velero_installed: bool = False,
    external_dns_installed: bool = False,
) -> list[ScrapeTarget]:
    """Every tool Prometheus scrapes (Traefik, Velero and external-dns only when the stack
    installs them)."""
    scope = Scope(
        argocd_namespace, "", traefik=traefik_installed, velero=velero_installed,
        external_dns=external_dns_installed,
    )
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
