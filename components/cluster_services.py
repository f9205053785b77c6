"""Tier 1, cluster services: what every other tier stands on.

Order inside the tier (three independent chains that run in parallel):
  1. cert-manager (with CRDs) -> webhook gate -> ClusterIssuers letsencrypt-staging/-production
  2. metallb (namespace labelled privileged) -> webhook gate -> IPAddressPool -> L2Advertisement
  3. csi-driver-nfs -> StorageClass

NFS provisioner choice: csi-driver-nfs (kubernetes-csi, released in 2026) over
nfs-subdir-external-provisioner, which the old project used and which has had no release since
2023. Both carve a sub-directory per PVC out of one export; the CSI driver also supports volume
expansion and mount options per StorageClass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import values
from components.config import PlatformConfig, StackSecrets
from components.kube import WebhookGate, helm_chart, namespace, protected

ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
CLOUDFLARE_TOKEN_SECRET = "cloudflare-api-token"
NFS_PROVISIONER = "nfs.csi.k8s.io"


@dataclass(frozen=True)
class ClusterServicesRefs:
    """What the other tiers need from tier 1: names, and what to wait for.

    When another stack owns tier 1 on a shared cluster, `external` gives the same names with
    nothing to wait for.
    """

    issuer_name: str
    storage_class: str
    # resources a chart that requests certificates (TLS Ingress) waits for
    tls_ready: list[pulumi.Resource] = field(default_factory=list)
    # resources a chart that creates PVCs waits for
    storage_ready: list[pulumi.Resource] = field(default_factory=list)
    # resources a chart that creates cert-manager objects itself waits for
    cert_manager_ready: list[pulumi.Resource] = field(default_factory=list)
    # resources a chart with LoadBalancer Services waits for
    load_balancer_ready: list[pulumi.Resource] = field(default_factory=list)

    @staticmethod
    def external(cfg: PlatformConfig) -> ClusterServicesRefs:
        return ClusterServicesRefs(
            issuer_name=values.issuer_name(cfg.acme_server), storage_class=cfg.storage_class
        )


def acme_solver(cfg: PlatformConfig) -> dict:
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


def cluster_issuer_spec(cfg: PlatformConfig, server: str) -> dict:
    return {
        "acme": {
            "email": cfg.acme.email,
            "server": ACME_SERVERS[server],
            "privateKeySecretRef": {"name": f"{values.issuer_name(server)}-account-key"},
            "solvers": [acme_solver(cfg)],
        }
    }


def ip_address_pool_spec(cfg: PlatformConfig) -> dict:
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
        assert cfg.metallb is not None and cfg.nfs is not None  # guaranteed by the config model
        child = pulumi.ResourceOptions(parent=self)
        prod = cfg.production

        # --- cert-manager and the Let's Encrypt issuers ---
        self.cert_manager_namespace = namespace("cert-manager", "restricted", child, production=prod)
        self.cert_manager = helm_chart(
            "cert-manager",
            cfg.chart("cert-manager"),
            self.cert_manager_namespace,
            values.cert_manager_values(cfg),
            child,
            production=prod,
        )
        self.cert_manager_webhook = WebhookGate(
            "cert-manager-webhook-ready",
            self.cert_manager_namespace,
            "cert-manager.io/v1",
            "Issuer",
            {"selfSigned": {}},
            [self.cert_manager],
            child,
        )
        issuer_deps: list[pulumi.Resource] = [self.cert_manager_webhook]
        token = secrets.get("cloudflare_api_token")
        if cfg.acme.solver == "dns01" and token is not None:
            issuer_deps.append(
                k8s.core.v1.Secret(
                    "cloudflare-api-token",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=CLOUDFLARE_TOKEN_SECRET,
                        namespace=self.cert_manager_namespace.metadata.name,
                    ),
                    string_data={"api-token": token},
                    opts=child,
                )
            )
        self.issuers = {
            server: k8s.apiextensions.CustomResource(
                values.issuer_name(server),
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=values.issuer_name(server)),
                spec=cluster_issuer_spec(cfg, server),
                opts=pulumi.ResourceOptions(parent=self, depends_on=issuer_deps),
            )
            for server in ("staging", "production")
        }

        # --- MetalLB ---
        self.metallb_namespace = namespace("metallb-system", "privileged", child, production=prod)
        self.metallb = helm_chart(
            "metallb",
            cfg.chart("metallb"),
            self.metallb_namespace,
            values.metallb_values(cfg),
            child,
            production=prod,
        )
        self.metallb_webhook = WebhookGate(
            "metallb-webhook-ready",
            self.metallb_namespace,
            "metallb.io/v1beta1",
            "IPAddressPool",
            # TEST-NET-1 (RFC 5737): never a real pool, so the dry run cannot overlap one.
            {"addresses": ["192.0.2.0/32"], "autoAssign": False},
            [self.metallb],
            child,
        )
        self.address_pool = k8s.apiextensions.CustomResource(
            "metallb-pool",
            api_version="metallb.io/v1beta1",
            kind="IPAddressPool",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cfg.metallb.pool_name, namespace=self.metallb_namespace.metadata.name
            ),
            spec=ip_address_pool_spec(cfg),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.metallb_webhook]),
        )
        self.l2_advertisement = k8s.apiextensions.CustomResource(
            "metallb-l2",
            api_version="metallb.io/v1beta1",
            kind="L2Advertisement",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cfg.metallb.pool_name, namespace=self.metallb_namespace.metadata.name
            ),
            spec={"ipAddressPools": [self.address_pool.metadata["name"]]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.metallb_webhook]),
        )

        # --- NFS dynamic provisioning ---
        self.nfs_namespace = namespace("nfs-provisioner", "privileged", child, production=prod)
        self.nfs_driver = helm_chart(
            "csi-driver-nfs",
            cfg.chart("csi-driver-nfs"),
            self.nfs_namespace,
            values.csi_driver_nfs_values(cfg),
            child,
            production=prod,
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
                protected(prod),
            ),
        )

        self.charts = [self.cert_manager, self.metallb, self.nfs_driver]
        self.refs = ClusterServicesRefs(
            issuer_name=values.issuer_name(cfg.acme_server),
            storage_class=cfg.storage_class,
            tls_ready=list(self.issuers.values()),
            storage_ready=[self.nfs_storage_class],
            cert_manager_ready=[self.cert_manager_webhook],
            load_balancer_ready=[self.l2_advertisement],
        )
        self.register_outputs(
            {
                "issuers": {s: i.metadata["name"] for s, i in self.issuers.items()},
                "storage_class": self.nfs_storage_class.metadata.name,
                "metallb_pool": self.address_pool.metadata["name"],
            }
        )
