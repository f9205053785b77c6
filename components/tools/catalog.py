"""The platform's cross-cutting views, assembled from every tool's contributions: the
network-policy table and Prometheus' scrape targets. Each view is still checked as a whole
(tests/…/test_netpol.py, the render's checks); a tool adds or removes its own rows in its package.
"""

from __future__ import annotations

from components.names import HARBOR_NAMESPACE, OPENBAO_NAMESPACE, apps_namespace
from components.netpol import Allowance, Peer
from components.observability.monitors import ScrapeTarget
from components.tools import (
    argocd,
    cert_manager,
    external_secrets,
    fluentd,
    harbor,
    metallb,
    openbao,
    traefik,
    velero,
)


def protected_namespaces(argocd_namespace: str, environment: str) -> list[str]:
    """The namespaces whose ingress is denied but for the table's rows."""
    return [argocd_namespace, HARBOR_NAMESPACE, OPENBAO_NAMESPACE, apps_namespace(environment)]


def allowances(
    argocd_namespace: str, environment: str, ingress: Peer = traefik.PEER
) -> list[Allowance]:
    """The table: every connection into a protected namespace that the platform needs."""
    return [
        *argocd.allowances(argocd_namespace, ingress),
        *harbor.allowances(ingress),
        *openbao.allowances(ingress),
        *cert_manager.acme_solver_allowances(
            protected_namespaces(argocd_namespace, environment), ingress
        ),
    ]


def scrape_targets(
    argocd_namespace: str, traefik_installed: bool, velero_installed: bool = False
) -> list[ScrapeTarget]:
    """Every tool Prometheus scrapes (Traefik and Velero only when the stack installs them)."""
    return [
        *metallb.scrape_targets(),
        *cert_manager.scrape_targets(),
        *argocd.scrape_targets(argocd_namespace),
        *harbor.scrape_targets(),
        *openbao.scrape_targets(),
        *fluentd.scrape_targets(),
        *external_secrets.scrape_targets(),
        *velero.scrape_targets(velero_installed),
        *traefik.scrape_targets(traefik_installed),
    ]
