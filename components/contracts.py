"""What one tier gives the next, typed: the only way a tier learns about another.

    ClusterServices --ClusterServicesRefs--> DevTools --DevToolsRefs--> Applications

A stack may own only some tiers (`tiers` in its stack file) when it shares a cluster with another
stack; then `ClusterServicesRefs.external` / `DevToolsRefs.external` give the same names from the
config model with nothing to wait for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.config import PlatformConfig
from components.names import INTERNAL_CA_ISSUER


def issuer_name(server: str) -> str:
    """The ClusterIssuer of Let's Encrypt `server` (staging or production)."""
    return f"letsencrypt-{server}"


@dataclass(frozen=True)
class ClusterNames:
    """The tier-1 names tier-2 charts reference."""

    issuer: str  # ClusterIssuer of the tools' certificates
    storage_class: str  # StorageClass of every volume
    ingress_class: str  # IngressClass of every Ingress
    internal_issuer: str = INTERNAL_CA_ISSUER  # ClusterIssuer of in-cluster endpoints (OpenBao)

    @staticmethod
    def of(cfg: PlatformConfig) -> ClusterNames:
        return ClusterNames(
            issuer=issuer_name(cfg.acme_server),
            storage_class=cfg.storage_class,
            ingress_class=cfg.ingress_class,
        )

    def tls_ingress_annotations(self) -> dict[str, str]:
        """Annotations that make cert-manager issue an Ingress's TLS certificate."""
        return {"cert-manager.io/cluster-issuer": self.issuer}


@dataclass(frozen=True)
class ClusterServicesRefs:
    """What the other tiers learn from tier 1, and only from here: names, and what to wait for."""

    names: ClusterNames
    # resources a chart that requests certificates (TLS Ingress) waits for
    tls_ready: list[pulumi.Resource] = field(default_factory=list)
    # resources a chart that creates PVCs waits for
    storage_ready: list[pulumi.Resource] = field(default_factory=list)
    # resources a chart that creates cert-manager objects itself waits for
    cert_manager_ready: list[pulumi.Resource] = field(default_factory=list)
    # every chart of the tier (the app-of-apps waits for all of them)
    charts: list[pulumi.Resource] = field(default_factory=list)
    # the internal CA's certificate (PEM): what clients of an endpoint it signed trust; None
    # only where another stack owns tier 1 and the config names no CA (a config error with
    # dev_tools)
    internal_ca: pulumi.Input[str] | None = None
    # what a certificate from `names.internal_issuer` waits for
    internal_issuer_ready: list[pulumi.Resource] = field(default_factory=list)

    @staticmethod
    def external(cfg: PlatformConfig) -> ClusterServicesRefs:
        supplied = cfg.tls.internal_ca
        return ClusterServicesRefs(
            ClusterNames.of(cfg),
            internal_ca=supplied.certificate if supplied is not None else None,
        )

    @property
    def tls_and_storage(self) -> list[pulumi.Resource]:
        return [*self.tls_ready, *self.storage_ready]

    @property
    def apps_ready(self) -> list[pulumi.Resource]:
        """What the applications' first sync needs of tier 1."""
        return [*self.charts, *self.tls_ready, *self.storage_ready]


@dataclass(frozen=True)
class DevToolsRefs:
    """What the applications tier learns from tier 2: what their first sync needs to exist
    (Argo CD, Harbor, the secret stores once OpenBao initialised itself, the registry's robots)."""

    apps_ready: list[pulumi.Resource] = field(default_factory=list)

    @staticmethod
    def external() -> DevToolsRefs:
        return DevToolsRefs()
