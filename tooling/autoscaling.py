"""Every HorizontalPodAutoscaler can scale: each metric it names has an API that serves it, and
each Utilization target has the request it is a percentage of.

The HPA controller reads its metrics through aggregated APIs: Resource and ContainerResource
metrics from `metrics.k8s.io` (metrics-server), Pods and Object metrics from
`custom.metrics.k8s.io` and External metrics from `external.metrics.k8s.io` (an adapter such as
prometheus-adapter). An API nobody serves leaves the HPA at its current size, reporting
`FailedGetResourceMetric` or `FailedGetPodsMetric`, and nothing else fails: hence a check.
Ref: kubernetes/website content/en/docs/tasks/run-application/horizontal-pod-autoscale.md
("Support for metrics APIs"; "Algorithm details": a Utilization target is a percentage of the
containers' requests, and a pod without the request makes the HPA take no action).

An API is served when the render holds its APIService (the platform's metrics-server) or the
stack declares that the cluster has it (`cluster.metrics_server: distribution`; and a stack that
does not own cluster_services relies on the stack that does).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from components.config import PlatformConfig

RESOURCE_METRICS = "metrics.k8s.io"
CUSTOM_METRICS = "custom.metrics.k8s.io"
EXTERNAL_METRICS = "external.metrics.k8s.io"
# autoscaling/v2 metric type -> the API group the HPA controller reads it from
METRIC_APIS = {
    "Resource": RESOURCE_METRICS,
    "ContainerResource": RESOURCE_METRICS,
    "Pods": CUSTOM_METRICS,
    "Object": CUSTOM_METRICS,
    "External": EXTERNAL_METRICS,
}
SCALABLE_WORKLOADS = {"Deployment", "StatefulSet", "ReplicaSet"}


def served_groups(objects: Iterable[Mapping[str, Any]], cfg: PlatformConfig) -> set[str]:
    """The metrics API groups the cluster will serve: APIServices among `objects`, and
    `metrics.k8s.io` when the stack says the cluster has it without rendering it."""
    served = {
        str((obj.get("spec") or {}).get("group", ""))
        for obj in objects
        if obj.get("kind") == "APIService"
        and str(obj.get("apiVersion", "")).startswith("apiregistration.k8s.io/")
    }
    if cfg.cluster.metrics_server == "distribution" or (
        cfg.cluster.metrics_server == "platform" and not cfg.owns("cluster_services")
    ):
        served.add(RESOURCE_METRICS)
    return served


def _source(metric: Mapping[str, Any]) -> Mapping[str, Any]:
    """The metric's source block: `resource` of a Resource metric, `pods` of a Pods metric..."""
    kind = str(metric.get("type", ""))
    body = metric.get(kind[:1].lower() + kind[1:])
    return body if isinstance(body, Mapping) else {}


def _metric_name(metric: Mapping[str, Any]) -> str:
    """`<type> metric '<name>'`: a resource's name, or the named metric of the others."""
    body = _source(metric)
    name = body.get("name") or (body.get("metric") or {}).get("name") or "?"
    return f"{metric.get('type')} metric {name!r}"


def _ref(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name', '')}"


def _target(
    hpa: Mapping[str, Any], workloads: Iterable[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    namespace = (hpa.get("metadata") or {}).get("namespace")
    for obj in workloads:
        meta = obj.get("metadata") or {}
        if (obj.get("kind"), meta.get("name"), meta.get("namespace")) == (
            ref.get("kind"), ref.get("name"), namespace
        ):
            return obj
    return None


def _unrequested(metric: Mapping[str, Any], workload: Mapping[str, Any]) -> list[str]:
    """Containers of `workload` without the request a Utilization target divides by."""
    kind, body = metric.get("type"), _source(metric)
    utilisation = (body.get("target") or {}).get("type") == "Utilization"
    if kind not in ("Resource", "ContainerResource") or not utilisation:
        return []
    resource = body.get("name")
    pod = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    if kind == "ContainerResource":
        containers = [c for c in containers if c.get("name") == body.get("container")]
    return [
        str(c.get("name"))
        for c in containers
        if resource not in ((c.get("resources") or {}).get("requests") or {})
    ]


def hpa_problems(
    objects: Iterable[Mapping[str, Any]], served: set[str]
) -> Iterator[str]:
    """One line per metric of an HPA among `objects` that no API in `served` provides, per
    Utilization target whose workload's containers lack the request, and per HPA whose target
    is not among `objects`."""
    objects = list(objects)
    workloads = [o for o in objects if o.get("kind") in SCALABLE_WORKLOADS]
    for hpa in objects:
        if hpa.get("kind") != "HorizontalPodAutoscaler":
            continue
        target = _target(hpa, workloads)
        if target is None:
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            yield (f"autoscaling: {_ref(hpa)} scales {ref.get('kind')} {ref.get('name')}, "
                   "which nothing renders")
        for metric in (hpa.get("spec") or {}).get("metrics") or []:
            api = METRIC_APIS.get(str(metric.get("type")))
            if api is None:
                yield f"autoscaling: {_ref(hpa)}: unknown metric type {metric.get('type')!r}"
            elif api not in served:
                yield (
                    f"autoscaling: {_ref(hpa)} reads {_metric_name(metric)} from {api}, which "
                    "nothing serves (metrics.k8s.io: cluster.metrics_server; custom and external "
                    "metrics need an adapter the platform does not install)"
                )
            elif target is not None and (missing := _unrequested(metric, target)):
                yield (
                    f"autoscaling: {_ref(hpa)} targets a utilisation of "
                    f"{_metric_name(metric)}, but containers {', '.join(missing)} of "
                    f"{_ref(target)} request none"
                )
