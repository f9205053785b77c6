"""Every HorizontalPodAutoscaler can scale (tooling/autoscaling.py), checked on what the cluster
receives: the offline render of each stack plus the four plate charts as their child Applications
render them (tests/engines/test_charts.py), since Argo CD, not Pulumi, applies the apps' HPAs.

Verifies: the real renders hold the plate-web and plate-api HPAs (CPU Utilization) and the
platform's APIService for `metrics.k8s.io`, and have no autoscaling problem (each scaled
Deployment requests CPU); an HPA with a Pods or an External metric added to that render is
reported with the HPA's and the metric's names; without the APIService the Resource metrics are
reported; `cluster.metrics_server: distribution` declares the API and a stack that leaves
cluster_services to another relies on it; a Utilization target over a container without the
request and an HPA whose workload nothing renders are reported; `verify.problems` runs the check.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config import parse_platform_config
from components.gitops import apps as gitops
from components.tools import metrics_server
from tests.engines import test_charts
from tests.harness import STACKS, rendered, stack_config
from tooling import autoscaling, verify
from tooling.render import Obj


def cluster_objects(stack: str) -> list[dict[str, Any]]:
    """The stack's render and every plate chart's objects as Argo CD applies them (in
    plate-<env>, where a chart names no namespace)."""
    render = rendered(stack)
    namespace = gitops.apps_namespace(render.cfg)
    apps = []
    for app in test_charts.APPS:
        for obj in test_charts.rendered(app, stack):
            body = copy.deepcopy(obj)
            body["metadata"].setdefault("namespace", namespace)
            apps.append(body)
    return [o.body for o in render.objects] + apps


def hpa(stack: str, name: str, objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"
                and o["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_the_real_render_scales_on_served_metrics(stack: str):
    objects = cluster_objects(stack)
    hpas = sorted(o["metadata"]["name"] for o in objects
                  if o["kind"] == "HorizontalPodAutoscaler")
    assert hpas == ["plate-api", "plate-web"]
    for name in hpas:
        assert [m["type"] for m in hpa(stack, name, objects)["spec"]["metrics"]] == ["Resource"]
    served = autoscaling.served_groups(objects, rendered(stack).cfg)
    assert served == {metrics_server.API_GROUP}
    assert list(autoscaling.hpa_problems(objects, served)) == []


@pytest.mark.parametrize(("metric", "api", "what"), [
    ({"type": "Pods", "pods": {
        "metric": {"name": "http_requests_per_second"},
        "target": {"type": "AverageValue", "averageValue": "10"},
    }}, "custom.metrics.k8s.io", "Pods metric 'http_requests_per_second'"),
    ({"type": "External", "external": {
        "metric": {"name": "queue_depth"}, "target": {"type": "Value", "value": "100"},
    }}, "external.metrics.k8s.io", "External metric 'queue_depth'"),
])
def test_a_metric_nothing_serves_is_reported_with_the_hpa(metric, api, what):
    objects = copy.deepcopy(cluster_objects("stg"))
    hpa("stg", "plate-api", objects)["spec"]["metrics"].append(metric)
    served = autoscaling.served_groups(objects, rendered("stg").cfg)
    assert list(autoscaling.hpa_problems(objects, served)) == [
        f"autoscaling: HorizontalPodAutoscaler plate-stg/plate-api reads {what} from {api}, "
        "which nothing serves (metrics.k8s.io: cluster.metrics_server; custom and external "
        "metrics need an adapter the platform does not install)"
    ]


def test_without_the_api_service_resource_metrics_are_reported():
    objects = [o for o in cluster_objects("prod") if o["kind"] != "APIService"]
    served = autoscaling.served_groups(objects, rendered("prod").cfg)
    assert served == set()
    assert sorted(autoscaling.hpa_problems(objects, served)) == [
        f"autoscaling: HorizontalPodAutoscaler plate-prod/{app} reads Resource metric 'cpu' from "
        "metrics.k8s.io, which nothing serves (metrics.k8s.io: cluster.metrics_server; custom "
        "and external metrics need an adapter the platform does not install)"
        for app in ("plate-api", "plate-web")
    ]


@pytest.mark.parametrize(("tiers", "provider", "served"), [
    (["cluster_services", "dev_tools", "applications"], "platform", set()),
    (["cluster_services", "dev_tools", "applications"], "distribution", {"metrics.k8s.io"}),
    (["applications"], "platform", {"metrics.k8s.io"}),
    (["applications"], "distribution", {"metrics.k8s.io"}),
])
def test_an_api_the_stack_does_not_render_is_declared_by_its_settings(tiers, provider, served):
    """With no objects: only the settings can declare the API (another stack's tier 1, or the
    distribution)."""
    base = parse_platform_config(stack_config("stg"))
    cfg = base.model_copy(update={
        "tiers": tiers, "cluster": base.cluster.model_copy(update={"metrics_server": provider}),
    })
    assert autoscaling.served_groups([], cfg) == served


def test_a_utilisation_target_needs_the_request_and_a_rendered_workload():
    objects = copy.deepcopy(cluster_objects("stg"))
    (web,) = [o for o in objects if o["kind"] == "Deployment"
              and o["metadata"]["name"] == "plate-web"]
    for container in web["spec"]["template"]["spec"]["containers"]:
        container["resources"]["requests"].pop("cpu")
    hpa("stg", "plate-api", objects)["spec"]["scaleTargetRef"]["name"] = "plate-gone"
    served = autoscaling.served_groups(objects, rendered("stg").cfg)
    assert sorted(autoscaling.hpa_problems(objects, served)) == [
        "autoscaling: HorizontalPodAutoscaler plate-stg/plate-api scales Deployment plate-gone, "
        "which nothing renders",
        "autoscaling: HorizontalPodAutoscaler plate-stg/plate-web targets a utilisation of "
        "Resource metric 'cpu', but containers plate-web of Deployment plate-stg/plate-web "
        "request none",
    ]


def test_verify_runs_the_check_on_the_stack_s_own_objects():
    render = copy.copy(rendered("stg"))
    broken = {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "probe", "namespace": "monitoring"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": "kube-prometheus-stack-operator"},
            "minReplicas": 1, "maxReplicas": 2,
            "metrics": [{"type": "Object", "object": {
                "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "x"},
                "metric": {"name": "rps"}, "target": {"type": "Value", "value": "1"},
            }}],
        },
    }
    render.objects = [*render.objects, Obj("dev-tools", "program", "test", broken)]
    assert [p for p in verify.problems(render) if p.startswith("autoscaling:")] == [
        "autoscaling: HorizontalPodAutoscaler monitoring/probe reads Object metric 'rps' from "
        "custom.metrics.k8s.io, which nothing serves (metrics.k8s.io: cluster.metrics_server; "
        "custom and external metrics need an adapter the platform does not install)"
    ]
