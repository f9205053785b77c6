"""csi-driver-nfs' alerts (group `plate-cluster`); runbooks in docs/runbooks/<alert>.md."""

from __future__ import annotations

from typing import Any

from components.observability.rules import alert
from components.tools.csi_driver_nfs import CONTROLLER as NFS_CONTROLLER
from components.tools.csi_driver_nfs import NODE as NFS_NODE

NFS_CONTROLLER_FOR = "10m"
"""csi-driver-nfs' controller without an available replica this long (a reschedule takes less)."""
NFS_NODE_FOR = "15m"
"""A node without a running csi-driver-nfs node plugin this long (a rollout takes less)."""


def rules() -> list[dict[str, Any]]:
    # csi-driver-nfs serves no metrics: its workloads are watched through kube-state-metrics 2.20
    #   (kube_deployment_status_replicas_available, kube_daemonset_status_number_unavailable).
    return [
        alert(
            "NfsProvisionerUnavailable",
            "max by (namespace, deployment) (\n  kube_deployment_status_replicas_available"
            f"{{{NFS_CONTROLLER}}}\n) == 0",
            NFS_CONTROLLER_FOR,
            "critical",
            "The NFS provisioner has no available replica",
            "csi-driver-nfs' controller ({{ $labels.namespace }}/{{ $labels.deployment }}) has "
            "had no available replica for more than " + NFS_CONTROLLER_FOR + ".",
        ),
        alert(
            "NfsNodePluginUnavailable",
            "max by (namespace, daemonset) (\n  kube_daemonset_status_number_unavailable"
            f"{{{NFS_NODE}}}\n) > 0",
            NFS_NODE_FOR,
            "warning",
            "The NFS node plugin is missing on {{ $value }} node(s)",
            "csi-driver-nfs' node plugin ({{ $labels.namespace }}/{{ $labels.daemonset }}) "
            "has been unavailable on {{ $value }} node(s) for more than " + NFS_NODE_FOR + ".",
        ),
    ]
