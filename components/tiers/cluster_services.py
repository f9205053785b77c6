"""Tier 1, cluster services: what every other tier stands on.

Order inside the tier (three independent chains that run in parallel):
  1. cert-manager (with CRDs) -> webhook gate -> ClusterIssuers letsencrypt-staging/-production
     and plate-internal-ca (the internal CA, after its key pair Secret)
  2. metallb (namespace labelled privileged) -> webhook gate -> IPAddressPool -> L2Advertisement
     -> Traefik, the ingress controller, on its fixed address from the pool (unless
     `ingress.controller: external`)
  3. csi-driver-nfs -> StorageClass; with `local_path`: local-path-provisioner -> its
     StorageClass (node-local volumes)
  with `cluster.metrics_server: platform`: metrics-server -> APIService v1beta1.metrics.k8s.io
  4. with `dns`: external-dns (namespace, policies, credential Secret, RBAC, Deployment), which
     writes every Ingress host's record once the ingress controller publishes its address

Each tool's pieces live in its own package (`components/tools/<tool>`); this tier composes them
and hands the other tiers `ClusterServicesRefs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import (
    AcmeConfig,
    IngressConfig,
    InternalCaConfig,
    LocalPathConfig,
    MetalLBConfig,
    NfsConfig,
    PlatformConfig,
)
from components.contracts import ClusterNames, ClusterServicesRefs
from components.kube import TierKit, network_policies, object_name
from components.names import (
    CERT_MANAGER_NAMESPACE,
    EXTERNAL_DNS_NAMESPACE,
    METALLB_NAMESPACE,
    NFS_NAMESPACE,
    TRAEFIK_NAMESPACE,
)
from components.netpol import Peer
from components.tools import (
    catalog,
    cert_manager,
    csi_driver_nfs,
    external_dns,
    local_path,
    metallb,
    metrics_server,
    traefik,
)


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
    internal_ca: InternalCaConfig | None  # the operator's CA, else the program generates one
    dns: external_dns.Settings | None = None  # DNS records from code, when the stack sets `dns`
    local_path: LocalPathConfig | None = None  # node-local volumes, when the stack sets it
    metrics_server: metrics_server.Settings | None = None  # None: the distribution serves it

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
            ClusterNames.of(cfg), cfg.tls.internal_ca, external_dns.Settings.of(cfg),
            cfg.local_path, metrics_server.Settings.of(cfg),
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
        internal_ca_key: pulumi.Output[str] | None = None,
        dns_credential: pulumi.Output[str] | None = None,
    ):
        super().__init__("plate:platform:ClusterServices", name, None, opts)
        kit = kit.under(self)
        self.config, names = cfg, cfg.names
        # the config model requires the key with the operator's CA
        supplied_ca = (
            (cfg.internal_ca, internal_ca_key)
            if cfg.internal_ca is not None and internal_ca_key is not None else None
        )
        self.cert_manager = cert_manager.install(
            kit, cfg.acme, names.ingress_class, *dns01_credentials, supplied_ca
        )
        self.metallb = metallb.install(kit, cfg.metallb)
        self.traefik = None
        if cfg.traefik_address is not None:
            self.traefik = traefik.install(
                kit, names.ingress_class, cfg.traefik_address, cfg.ingress.replicas,
                [self.metallb.l2_advertisement],
            )
        self.nfs = csi_driver_nfs.install(kit, cfg.nfs, names.storage_class)
        self.local_path = (
            local_path.install(kit, cfg.local_path) if cfg.local_path is not None else None
        )
        self.metrics_server = None
        if cfg.metrics_server is not None:
            self.metrics_server = metrics_server.install(
                kit, cfg.metrics_server, self.cert_manager.internal_ca,
                object_name(self.cert_manager.internal_ca.issuer),
            )
        local_classes = [self.local_path.storage_class] if self.local_path is not None else []
        # the apps' HPAs read metrics.k8s.io from their first sync
        metrics = [self.metrics_server.api_service] if self.metrics_server is not None else []
        self.external_dns = None
        if cfg.dns is not None:
            if dns_credential is None:
                raise ValueError("dns needs its provider's stack secret: the config checks it")
            self.external_dns = external_dns.install(kit, cfg.dns, dns_credential)
        self.network_policies = self._network_policies(cfg.ingress, kit)
        ingress = [self.traefik.chart] if self.traefik is not None else []
        self.refs = ClusterServicesRefs(
            names,
            # a certificate needs its issuer and, for HTTP-01, the ingress that answers
            tls_ready=[*self.cert_manager.issuers.values(), *ingress],
            storage_ready=[self.nfs.storage_class, *local_classes],
            cert_manager_ready=[self.cert_manager.webhook],
            charts=[
                self.cert_manager.chart, self.metallb.chart, self.nfs.chart, *ingress, *metrics
            ],
            internal_ca=self.cert_manager.internal_ca.certificate,
            internal_issuer_ready=[self.cert_manager.internal_ca.issuer],
        )
        self.register_outputs(
            {
                "issuers": {s: object_name(i) for s, i in self.cert_manager.issuers.items()},
                "internal_issuer": object_name(self.cert_manager.internal_ca.issuer),
                "storage_class": self.nfs.storage_class.metadata.name,
                "metallb_pool": object_name(self.metallb.address_pool),
            }
        )

    def _network_policies(
        self, ingress: IngressConfig, kit: TierKit
    ) -> list[pulumi.Resource]:
        """Ingress denied in the tier's namespaces but for the platform's table (their rows
        depend on neither Argo CD's namespace nor the environment)."""
        owned = {
            CERT_MANAGER_NAMESPACE: self.cert_manager.namespace,
            METALLB_NAMESPACE: self.metallb.namespace,
            NFS_NAMESPACE: self.nfs.namespace,
        }
        if self.traefik is not None:
            owned[TRAEFIK_NAMESPACE] = self.traefik.namespace
        if self.local_path is not None:
            owned[local_path.NAMESPACE] = self.local_path.namespace
        if self.metrics_server is not None:
            owned[metrics_server.NAMESPACE] = self.metrics_server.namespace
        if self.external_dns is not None:
            owned[EXTERNAL_DNS_NAMESPACE] = self.external_dns.namespace
        policies = catalog.network_policies(
            "", "", owned, Peer(ingress.namespace, ingress.pod_labels)
        )
        return list(network_policies(policies, owned, kit.opts))
