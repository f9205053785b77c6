"""csi-driver-nfs and the StorageClass every stateful tool uses.

NFS provisioner choice: csi-driver-nfs (kubernetes-csi, released in 2026) over
nfs-subdir-external-provisioner, which the old project used and which has had no release since
2023. Both carve a sub-directory per PVC out of one export; the CSI driver also supports volume
expansion and mount options per StorageClass. It serves no metrics: its workloads are watched
through kube-state-metrics (the `plate-cluster` alerts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import NfsConfig
from components.kube import TierKit
from components.names import NFS_NAMESPACE

PROVISIONER = "nfs.csi.k8s.io"
CONTROLLER = 'deployment="csi-nfs-controller"'
"""kube-state-metrics' selector of the driver's controller Deployment."""
NODE = 'daemonset="csi-nfs-node"'
"""kube-state-metrics' selector of the driver's node-plugin DaemonSet."""


def values(production: bool) -> dict[str, Any]:
    # The StorageClass is a Pulumi resource of its own, not the chart's, so policy and the stack
    # outputs see it and production can protect it.
    return {
        "storageClass": {"create": False},
        "controller": {"replicas": 2 if production else 1},
        "externalSnapshotter": {"enabled": False},
    }


@dataclass(frozen=True)
class CsiDriverNfs:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource
    storage_class: k8s.storage.v1.StorageClass


def install(kit: TierKit, nfs: NfsConfig, storage_class: str) -> CsiDriverNfs:
    """csi-driver-nfs and the StorageClass `storage_class` on the stack's export."""
    ns, chart = kit.tool("csi-driver-nfs", NFS_NAMESPACE, "privileged", values(kit.production))
    default = "true" if nfs.default_class else "false"
    sc = k8s.storage.v1.StorageClass(
        "nfs-storage-class",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=storage_class,
            annotations={"storageclass.kubernetes.io/is-default-class": default},
        ),
        provisioner=PROVISIONER,
        parameters={"server": nfs.server, "share": nfs.path},
        reclaim_policy=nfs.reclaim_policy,
        volume_binding_mode="Immediate",
        allow_volume_expansion=True,
        mount_options=list(nfs.mount_options),
        opts=kit.child([chart], protect=True),
    )
    return CsiDriverNfs(ns, chart, sc)
