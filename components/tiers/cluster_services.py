"""Tier 1, cluster services: what every other tier stands on.

Order inside the tier (three independent chains that run in parallel):
  1. cert-manager (with CRDs) -> webhook gate -> ClusterIssuers letsencrypt-staging/-production
  2. metallb (namespace labelled privileged) -> webhook gate -> IPAddressPool -> L2Advertisement
     -> Traefik, the ingress controller, on its fixed address from the pool (unless
     `ingress.controller: external`)
  3. csi-driver-nfs -> StorageClass

Each tool's pieces live in its own package (`components/tools/<tool>`); this tier composes them
and hands the other tiers `ClusterServicesRefs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import AcmeConfig, IngressConfig, MetalLBConfig, NfsConfig, PlatformConfig
from components.contracts import ClusterNames, ClusterServicesRefs
from components.kube import TierKit, object_name
from components.tools import cert_manager, csi_driver_nfs, metallb, traefik


@dataclass(frozen=True)
class ClusterServicesConfig:
    """The part of the stack this tier reads, with nothing optional left to assert."""

    production: bool
    acme: AcmeConfig
    metallb: MetalLBConfig
    nfs: NfsConfig
    ingress: IngressConfig
    # the platform's Traefik: its fixed address from the pool, None with an external controller
    traefik_address: str | None
    names: ClusterNames

    @staticmethod
    def of(cfg: PlatformConfig) -> ClusterServicesConfig:
        """The tier's view of `cfg`; the config model requires `metallb` and `nfs` with it."""
        ingress = cfg.ingress
        traefik_address = ingress.load_balancer_ip if ingress.controller == "traefik" else None
        if cfg.metallb is None or cfg.nfs is None or (
            ingress.controller == "traefik" and traefik_address is None
        ):
            raise ValueError(
                "metallb, nfs and (with Traefik) ingress.load_balancer_ip are required with the "
                "cluster_services tier: the config model checks them first"
            )
        return ClusterServicesConfig(
            cfg.production, cfg.acme, cfg.metallb, cfg.nfs, ingress, traefik_address,
            ClusterNames.of(cfg),
        )


class ClusterServices(pulumi.ComponentResource):
    """cert-manager with Let's Encrypt ClusterIssuers, MetalLB with an L2 pool, NFS storage."""

    def __init__(
        self,
        name: str,
        cfg: ClusterServicesConfig,
        kit: TierKit,
        dns01_credentials: tuple[pulumi.Output[str] | None, pulumi.Output[str] | None],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("plate:platform:ClusterServices", name, None, opts)
        kit = kit.under(self)
        self.config, names = cfg, cfg.names
        self.cert_manager = cert_manager.install(
            kit, cfg.acme, names.ingress_class, *dns01_credentials
        )
        self.metallb = metallb.install(kit, cfg.metallb)
        self.traefik = None
        if cfg.traefik_address is not None:
            self.traefik = traefik.install(
                kit, names.ingress_class, cfg.traefik_address, cfg.ingress.replicas,
                [self.metallb.l2_advertisement],
            )
        self.nfs = csi_driver_nfs.install(kit, cfg.nfs, names.storage_class)
        ingress = [self.traefik.chart] if self.traefik is not None else []
        self.refs = ClusterServicesRefs(
            names,
            # a certificate needs its issuer and, for HTTP-01, the ingress that answers
            tls_ready=[*self.cert_manager.issuers.values(), *ingress],
            storage_ready=[self.nfs.storage_class],
            cert_manager_ready=[self.cert_manager.webhook],
            charts=[self.cert_manager.chart, self.metallb.chart, self.nfs.chart, *ingress],
        )
        self.register_outputs(
            {
                "issuers": {s: object_name(i) for s, i in self.cert_manager.issuers.items()},
                "storage_class": self.nfs.storage_class.metadata.name,
                "metallb_pool": object_name(self.metallb.address_pool),
            }
        )
