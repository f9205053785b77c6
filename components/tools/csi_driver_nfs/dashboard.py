"""The NFS storage dashboard (plate-nfs-storage): every claim of the platform's NFS StorageClass
(kubelet volume stats joined with kube-state-metrics' claim info) - use, bytes, the forecast
PersistentVolumeClaimFillingUp uses, claims not Bound, requested sizes - and csi-driver-nfs's
provisioner and node plugin (the driver exports no metrics: kube-state-metrics only), then the
workloads of its namespace.

NFS volumes report their whole export, so claims on one export move together. The only dashboard
with a template variable (`namespace`): the only one listing objects of many namespaces.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from components.config import AlertThresholds
from components.names import NFS_NAMESPACE
from components.observability import grafana
from components.observability.grafana import ALL_READY, NONE_BAD, query, section
from components.observability.platform_alerts import PVC_PREDICT_WINDOW
from components.observability.promql import volume_used_ratio
from components.tools.csi_driver_nfs import CONTROLLER as NFS_CONTROLLER
from components.tools.csi_driver_nfs import NODE as NFS_NODE

SELECTED = 'namespace=~"$namespace"'
CLAIM = "{{namespace}}/{{persistentvolumeclaim}}"


def _per_claim(metric: str, matchers: str = "") -> str:
    return f"max by (namespace, persistentvolumeclaim) ({metric}{{{SELECTED}{matchers}}})"


def _claims(storage_class: str, alerts: AlertThresholds) -> grafana.Section:
    claims = (
        "max by (namespace, persistentvolumeclaim) (kube_persistentvolumeclaim_info"
        f'{{{SELECTED}, storageclass="{storage_class}"}})'
    )

    def on_class(expr: str) -> str:
        return f"{expr}\n* on (namespace, persistentvolumeclaim) group_left ()\n{claims}"

    hours = alerts.volume_full_within_hours
    pending = _per_claim("kube_persistentvolumeclaim_status_phase", ', phase!="Bound"')
    forecast = (
        f"predict_linear(kubelet_volume_stats_available_bytes{{{SELECTED}}}"
        f"[{PVC_PREDICT_WINDOW}], {hours} * 3600)"
    )
    return section(
        f"Claims of StorageClass {storage_class}",
        grafana.ratio_panel()
        .title("Used space per claim")
        .description(
            f"""Used fraction per claim. NFS claims report statfs of the whole export, so all
            claims on one export show the same figure and fill up together. Red from
            {grafana.full_ratio(alerts):.0%} (PersistentVolumeClaimAlmostFull)."""
        )
        .with_target(query(on_class(volume_used_ratio(SELECTED)), CLAIM))
        .thresholds(grafana.thresholds(grafana.volume_steps(alerts))),
        grafana.timeseries_panel()
        .title("Used bytes per claim")
        .description("Used bytes per claim over time: the slope shows who is writing.")
        .with_target(query(on_class(_per_claim("kubelet_volume_stats_used_bytes")), CLAIM))
        .unit(units.BytesIEC)
        .span(12),
        grafana.timeseries_panel()
        .title(f"Free space in {hours} h at the current rate")
        .description(
            f"""Free bytes {hours} hours from now, extrapolated from the last
            {PVC_PREDICT_WINDOW} as PersistentVolumeClaimFillingUp does: below zero means the
            export fills up within {hours} hours at this rate."""
        )
        .with_target(query(
            on_class(f"max by (namespace, persistentvolumeclaim) ({forecast})"), CLAIM
        ))
        .unit(units.BytesIEC)
        .span(12),
        grafana.table_panel("Requested")
        .title("Requested size per claim")
        .description(
            """The size each claim requested. On NFS it is not enforced: the export's free
            space is the real limit."""
        )
        .with_target(query(
            on_class(_per_claim("kube_persistentvolumeclaim_resource_requests_storage_bytes"))
        ))
        .unit(units.BytesIEC)
        .span(8),
        grafana.stat_panel()
        .title("Claims not Bound")
        .description(
            """Claims of this StorageClass in phase Pending or Lost. Pending: the provisioner
            could not create the sub-directory (export unreachable, csi-nfs-controller
            down)."""
        )
        .with_target(query(
            f"count(\n  {pending} == 1\n"
            f"  and on (namespace, persistentvolumeclaim) {claims}\n) or vector(0)"
        ))
        .thresholds(grafana.thresholds(NONE_BAD))
        .span(4),
    )


def _driver() -> grafana.Section:
    return section(
        "csi-driver-nfs",
        grafana.stat_panel()
        .title("Provisioner available replicas")
        .description(
            """Available replicas of csi-nfs-controller, which creates and deletes the
            sub-directories behind claims. At 0 new claims stay Pending
            (NfsProvisionerUnavailable); mounted volumes keep working."""
        )
        .with_target(query(
            "max by (deployment) "
            f"(kube_deployment_status_replicas_available{{{NFS_CONTROLLER}}})",
            "{{deployment}}",
        ))
        .thresholds(grafana.thresholds(ALL_READY))
        .span(12),
        grafana.stat_panel()
        .title("Nodes without the node plugin")
        .description(
            """Nodes where csi-nfs-node, which mounts NFS volumes into pods, is unavailable:
            pods scheduled there stay ContainerCreating (NfsNodePluginUnavailable)."""
        )
        .with_target(query(
            f"max by (daemonset) (kube_daemonset_status_number_unavailable{{{NFS_NODE}}})",
            "{{daemonset}}",
        ))
        .thresholds(grafana.thresholds(NONE_BAD))
        .span(12),
    )


def board(storage_class: str, alerts: AlertThresholds) -> Dashboard:
    return grafana.dashboard(
        "plate-nfs-storage",
        "NFS storage",
        f"""Volumes of the NFS StorageClass {storage_class} and the csi-driver-nfs pods that
        provision and mount them (the driver exports no metrics of its own).""",
        _claims(storage_class, alerts),
        _driver(),
        grafana.workloads(NFS_NAMESPACE),
    ).with_variable(
        grafana.query_variable(
            "namespace", "namespace",
            f'kube_persistentvolumeclaim_info{{storageclass="{storage_class}"}}',
        )
    )
