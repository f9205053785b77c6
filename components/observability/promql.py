"""PromQL building blocks shared by the alert rules and the dashboards, so a panel and the alert
it explains compute the same thing.

Labels of custom resources: cert-manager, Argo CD and External Secrets put the object's namespace
in a `namespace` label, which the Prometheus Operator renames `exported_namespace` when the
ServiceMonitor keeps `honorLabels: false` (those charts' default) - `namespace` is then the
controller's. `object_namespace` copies `exported_namespace` back into `namespace` when present,
so alerts and panels name the object's namespace under either setting.
"""

from __future__ import annotations


def object_namespace(expr: str) -> str:
    """`expr` with `namespace` = `exported_namespace` where the scrape renamed it. A series
    without `exported_namespace` is unchanged (the regex needs a character)."""
    return f'label_replace({expr}, "namespace", "$1", "exported_namespace", "(.+)")'


def in_namespaces(namespaces: tuple[str, ...]) -> str:
    return f'namespace=~"{"|".join(namespaces)}"'


def workload_series(selector: str) -> tuple[tuple[str, str, str], ...]:
    """(kind, ready, desired) metric pairs of kube-state-metrics, each with `selector`."""
    s = f"{{{selector}}}"
    return (
        ("deployment", f"kube_deployment_status_replicas_available{s}",
         f"kube_deployment_spec_replicas{s}"),
        ("statefulset", f"kube_statefulset_status_replicas_ready{s}",
         f"kube_statefulset_replicas{s}"),
        ("daemonset", f"kube_daemonset_status_number_available{s}",
         f"kube_daemonset_status_desired_number_scheduled{s}"),
    )


def ready_ratio_by_namespace(namespaces: tuple[str, ...]) -> str:
    """Ready replicas over desired replicas of all Deployments, StatefulSets and DaemonSets, per
    namespace (the kinds' series differ in their `deployment`/`statefulset`/`daemonset` label, so
    `or` keeps them all)."""
    series = workload_series(in_namespaces(namespaces))
    ready = " or ".join(r for _, r, _ in series)
    desired = " or ".join(d for _, _, d in series)
    return f"sum by (namespace) ({ready})\n/\nsum by (namespace) ({desired})"


def workloads_below_desired(namespaces: tuple[str, ...]) -> str:
    """One series per workload with fewer ready replicas than desired; the value: how many."""
    series = workload_series(in_namespaces(namespaces))
    return "\nor\n".join(f"({desired} - {ready}) > 0" for _, ready, desired in series)


def volume_used_ratio(selector: str = "") -> str:
    """Used fraction per claim (a volume mounted on several nodes is reported by each kubelet)."""
    s = f"{{{selector}}}" if selector else ""
    return (
        "max by (namespace, persistentvolumeclaim) (\n"
        f"  kubelet_volume_stats_used_bytes{s} / kubelet_volume_stats_capacity_bytes{s}\n)"
    )
