"""Tier 1, cluster services: what every other tier stands on.

Order inside the tier (three independent chains that run in parallel):
  1. cert-manager (with CRDs) -> webhook gate -> ClusterIssuers letsencrypt-staging/-production
  2. metallb (namespace labelled privileged) -> webhook gate -> IPAddressPool -> L2Advertisement
     -> Traefik, the ingress controller, on its fixed address from the pool (unless
     `ingress.controller: external`)
  3. csi-driver-nfs -> StorageClass

NFS provisioner choice: csi-driver-nfs (kubernetes-csi, released in 2026) over
nfs-subdir-external-provisioner, which the old project used and which has had no release since
2023. Both carve a sub-directory per PVC out of one export; the CSI driver also supports volume
expansion and mount options per StorageClass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import PlatformConfig, StackSecrets
from components.kube import TierKit, object_name, protected
from components.tools import values
from components.tools.values import ClusterNames

ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
CLOUDFLARE_TOKEN_SECRET = "cloudflare-api-token"
NFS_PROVISIONER = "nfs.csi.k8s.io"


def issuer_name(server: str) -> str:
    return f"letsencrypt-{server}"


@dataclass(frozen=True)
class ClusterServicesRefs:
    """What the other tiers learn from tier 1, and only from here: names, and what to wait for.

    When another stack owns tier 1 on a shared cluster, `external` gives the same names with
    nothing to wait for.
    """

    names: ClusterNames
    # resources a chart that requests certificates (TLS Ingress) waits for
    tls_ready: list[pulumi.Resource] = field(default_factory=list)
    # resources a chart that creates PVCs waits for
    storage_ready: list[pulumi.Resource] = field(default_factory=list)
    # resources a chart that creates cert-manager objects itself waits for
    cert_manager_ready: list[pulumi.Resource] = field(default_factory=list)

    @staticmethod
    def external(cfg: PlatformConfig) -> ClusterServicesRefs:
        return ClusterServicesRefs(_names(cfg))


def _names(cfg: PlatformConfig) -> ClusterNames:
    return ClusterNames(
        issuer=issuer_name(cfg.acme_server),
        storage_class=cfg.storage_class,
        ingress_class=cfg.ingress_class,
    )


def acme_solver(cfg: PlatformConfig) -> dict[str, Any]:
    if cfg.acme.solver == "dns01":
        return {
            "selector": {"dnsZones": list(cfg.acme.dns_zones)},
            "dns01": {
                "cloudflare": {
                    "apiTokenSecretRef": {"name": CLOUDFLARE_TOKEN_SECRET, "key": "api-token"}
                }
            },
        }
    return {"http01": {"ingress": {"ingressClassName": cfg.ingress_class}}}


def cluster_issuer_spec(cfg: PlatformConfig, server: str) -> dict[str, Any]:
    return {
        "acme": {
            "email": cfg.acme.email,
            "server": ACME_SERVERS[server],
            "privateKeySecretRef": {"name": f"{issuer_name(server)}-account-key"},
            "solvers": [acme_solver(cfg)],
        }
    }


def ip_address_pool_spec(cfg: PlatformConfig) -> dict[str, Any]:
    assert cfg.metallb is not None
    return {"addresses": list(cfg.metallb.addresses), "autoAssign": cfg.metallb.auto_assign}


class ClusterServices(pulumi.ComponentResource):
    """cert-manager with Let's Encrypt ClusterIssuers, MetalLB with an L2 pool, NFS storage."""

    def __init__(
        self,
        name: str,
        cfg: PlatformConfig,
        secrets: StackSecrets,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("plate:platform:ClusterServices", name, None, opts)
        self._kit = TierKit(pulumi.ResourceOptions(parent=self), cfg.production, cfg.chart)
        self._cert_manager(cfg, secrets)
        self._metallb(cfg)
        self._ingress(cfg)
        self._nfs(cfg)
        ingress = [self.ingress_controller] if self.ingress_controller is not None else []
        self.charts = [self.cert_manager, self.metallb, self.nfs_driver, *ingress]
        self.refs = ClusterServicesRefs(
            _names(cfg),
            # a certificate needs its issuer and, for HTTP-01, the ingress that answers
            tls_ready=[*self.issuers.values(), *ingress],
            storage_ready=[self.nfs_storage_class],
            cert_manager_ready=[self.cert_manager_webhook],
        )
        self.register_outputs(
            {
                "issuers": {s: object_name(i) for s, i in self.issuers.items()},
                "storage_class": self.nfs_storage_class.metadata.name,
                "metallb_pool": object_name(self.address_pool),
            }
        )

    def _cert_manager(self, cfg: PlatformConfig, secrets: StackSecrets) -> None:
        """cert-manager, its webhook gate, and the two Let's Encrypt ClusterIssuers."""
        kit = self._kit
        self.cert_manager_namespace, self.cert_manager = kit.tool(
            "cert-manager", "cert-manager", "restricted", values.cert_manager_values()
        )
        self.cert_manager_webhook = kit.gate(
            "cert-manager-webhook-ready", self.cert_manager_namespace,
            ("cert-manager.io/v1", "Issuer", {"selfSigned": {}}), self.cert_manager,
        )
        issuer_deps: list[pulumi.Resource] = [self.cert_manager_webhook]
        token = secrets.get("cloudflare_api_token")
        if cfg.acme.solver == "dns01" and token is not None:
            issuer_deps.append(
                kit.secret(
                    CLOUDFLARE_TOKEN_SECRET, self.cert_manager_namespace, {"api-token": token}
                )
            )
        self.issuers = {
            server: kit.custom_resource(
                issuer_name(server), "cert-manager.io/v1", "ClusterIssuer",
                k8s.meta.v1.ObjectMetaArgs(name=issuer_name(server)),
                cluster_issuer_spec(cfg, server), issuer_deps,
            )
            for server in ("staging", "production")
        }

    def _metallb(self, cfg: PlatformConfig) -> None:
        """MetalLB, its webhook gate, the address pool and its L2 advertisement."""
        assert cfg.metallb is not None  # guaranteed by the config model
        self.metallb_namespace, self.metallb = self._kit.tool(
            "metallb", "metallb-system", "privileged", values.metallb_values()
        )
        # TEST-NET-1 (RFC 5737): never a real pool, so the dry run cannot overlap one.
        probe_pool = {"addresses": ["192.0.2.0/32"], "autoAssign": False}
        self.metallb_webhook = self._kit.gate(
            "metallb-webhook-ready", self.metallb_namespace,
            ("metallb.io/v1beta1", "IPAddressPool", probe_pool), self.metallb,
        )
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=cfg.metallb.pool_name, namespace=self.metallb_namespace.metadata.name
        )
        self.address_pool = self._kit.custom_resource(
            "metallb-pool", "metallb.io/v1beta1", "IPAddressPool", metadata,
            ip_address_pool_spec(cfg), [self.metallb_webhook],
        )
        self.l2_advertisement = self._kit.custom_resource(
            "metallb-l2", "metallb.io/v1beta1", "L2Advertisement", metadata,
            {"ipAddressPools": [object_name(self.address_pool)]}, [self.metallb_webhook],
        )

    def _ingress(self, cfg: PlatformConfig) -> None:
        """Traefik on its fixed MetalLB address, serving the stack's IngressClass."""
        self.ingress_controller = None
        ingress = cfg.ingress
        if ingress.controller == "external":
            return
        assert ingress.load_balancer_ip is not None  # guaranteed by the config model
        self.ingress_namespace, self.ingress_controller = self._kit.tool(
            "traefik", "traefik", "restricted",
            values.traefik_values(cfg.ingress_class, ingress.load_balancer_ip, ingress.replicas),
            depends_on=[self.l2_advertisement],
        )

    def _nfs(self, cfg: PlatformConfig) -> None:
        """csi-driver-nfs and the StorageClass every stateful tool uses."""
        assert cfg.nfs is not None  # guaranteed by the config model
        self.nfs_namespace, self.nfs_driver = self._kit.tool(
            "csi-driver-nfs", "nfs-provisioner", "privileged",
            values.csi_driver_nfs_values(cfg.production),
        )
        default = "true" if cfg.nfs.default_class else "false"
        self.nfs_storage_class = k8s.storage.v1.StorageClass(
            "nfs-storage-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cfg.storage_class,
                annotations={"storageclass.kubernetes.io/is-default-class": default},
            ),
            provisioner=NFS_PROVISIONER,
            parameters={"server": cfg.nfs.server, "share": cfg.nfs.path},
            reclaim_policy=cfg.nfs.reclaim_policy,
            volume_binding_mode="Immediate",
            allow_volume_expansion=True,
            mount_options=list(cfg.nfs.mount_options),
            opts=pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions(parent=self, depends_on=[self.nfs_driver]),
                protected(cfg.production),
            ),
        )
