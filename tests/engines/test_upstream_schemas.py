"""What the program registers, checked against artefacts nobody here wrote (both stacks).

Verifies: every custom resource (ClusterIssuer, Issuer, Certificate, IPAddressPool,
L2Advertisement, AppProject, Application) passes its upstream CRD schema with unknown fields
treated as errors; every core object the program creates directly passes the Kubernetes strict
JSON schemas; chart values pass the upstream `values.schema.json` where the chart ships one
(cert-manager, metallb, openbao: Helm checks this at install time); for the charts without one,
every key we set exists in the chart's upstream default values (typo guard), except the free-form
maps and documented subchart keys listed below.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from components.tools import cert_manager
from tests.harness import Recording, recorded, unwrap
from tests.schemas import crd_errors, kubernetes_errors, upstream_json, upstream_yaml
from tooling.render import program_object

CORE_PREFIXES = ("kubernetes:core/v1:", "kubernetes:rbac.authorization.k8s.io/v1:",
                 "kubernetes:storage.k8s.io/v1:", "kubernetes:batch/v1:")
CUSTOM_GROUPS = ("cert-manager.io", "metallb.io", "argoproj.io")


@pytest.fixture(scope="module", params=["stg", "prod"])
def rec(request) -> Recording:
    return recorded(request.param)


def test_custom_resources_match_upstream_crds(rec):
    custom = [
        r for r in rec.resources if r.custom and r.type.split(":")[1].startswith(CUSTOM_GROUPS)
    ]
    kinds = {r.type.split(":")[2] for r in custom}
    assert kinds == {"ClusterIssuer", "Issuer", "Certificate", "IPAddressPool", "L2Advertisement",
                     "AppProject", "Application", "AppProjectPatch"}
    for r in custom:
        assert crd_errors(program_object(r)) == [], r.name


def test_crd_validation_rejects_an_unknown_field(rec):
    pool = program_object(rec.one("kubernetes:metallb.io/v1beta1:IPAddressPool", "metallb-pool"))
    pool["spec"]["autoassign"] = True
    assert crd_errors(pool) == [
        "spec: Additional properties are not allowed ('autoassign' was unexpected)"
    ]


def test_core_objects_match_kubernetes_strict_schemas(rec):
    core = [r for r in rec.resources if r.custom and r.type.startswith(CORE_PREFIXES)]
    assert {r.type.split(":")[2] for r in core} >= {"Namespace", "Secret", "StorageClass", "Job",
                                                    "ServiceAccount", "Role", "RoleBinding",
                                                    "ConfigMap"}
    for r in core:
        assert kubernetes_errors(program_object(r)) == [], r.name


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def chart_defaults(chart: str) -> dict:
    return upstream_yaml(f"charts/{chart}/values.yaml")


def chart_values(rec: Recording, chart: str) -> dict:
    return unwrap(rec.one("kubernetes:helm.sh/v4:Chart", chart).inputs["values"])


@pytest.mark.parametrize("chart", ["cert-manager", "metallb", "openbao"])
def test_values_pass_the_charts_own_schema(rec, chart):
    schema = upstream_json(f"chart-schemas/{chart}.values.schema.json")
    merged = deep_merge(chart_defaults(chart), chart_values(rec, chart))
    errors = sorted(e.message for e in jsonschema.Draft7Validator(schema).iter_errors(merged))
    assert errors == []


def test_chart_schema_catches_a_typo():
    schema = upstream_json("chart-schemas/cert-manager.values.schema.json")
    bad = deep_merge(chart_defaults("cert-manager"), cert_manager.values())
    bad["startupapicheck"]["enabeld"] = False
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


# Keys we set that the parent chart's defaults do not show, each checked by hand:
# free-form maps (the chart passes them through), and subchart values documented upstream.
FREE_FORM = {
    "argo-cd": {"configs.params", "configs.cm", "configs.secret.argocdServerAdminPassword"},
    # harbor 1.19.1 ships its `resources` blocks commented out (`# resources:`); the templates
    # read them (e.g. templates/core/core-dpl.yaml `.Values.core.resources`)
    "harbor": {"database.internal.password", "core.resources", "portal.resources",
               "jobservice.resources", "registry.registry.resources"},
    "kube-prometheus-stack": {
        # grafana subchart 12.11.1 values: persistence.{enabled,storageClassName,size},
        # ingress.{enabled,ingressClassName,annotations,hosts,tls}, resources
        "grafana.persistence", "grafana.ingress", "grafana.resources",
        "prometheus.prometheusSpec.storageSpec", "alertmanager.alertmanagerSpec.storage",
        # grafana subchart 12.11.1 values: rbac.namespaced, sidecar.{dashboards,datasources}.
        # {searchNamespace,resource}; kube-state-metrics subchart 8.4.0: collectorsExclude
        "grafana.rbac.namespaced", "grafana.sidecar.dashboards.resource",
        "grafana.sidecar.datasources.resource", "grafana.sidecar.datasources.searchNamespace",
        "kube-state-metrics.collectorsExclude",
        # sign-in: grafana subchart 12.11.1 values `grafana.ini` and `envValueFrom` (its
        # templates/_config.tpl and _pod.tpl); kube-prometheus-stack 88.5.3 ships
        # `{prometheus,alertmanager}.ingress.pathType` commented out, read by
        # templates/{prometheus,alertmanager}/ingress.yaml
        "grafana.grafana.ini", "grafana.envValueFrom",
        "prometheus.ingress.pathType", "alertmanager.ingress.pathType",
    },
    "fluentd": {"fileConfigs.04_outputs.conf", "env"},
    "csi-driver-nfs": set(),
}


def unknown_keys(ours: Any, defaults: Any, allowed: set[str], path: str = "") -> list[str]:
    if path in allowed or not isinstance(ours, dict) or path.endswith((".annotations", ".labels")):
        return []
    if not isinstance(defaults, dict):
        return [path]
    if not defaults and path:  # `{}` upstream: a free-form map
        return []
    found = []
    for key, value in ours.items():
        sub = f"{path}.{key}" if path else key
        if key not in defaults:
            if sub not in allowed:
                found.append(sub)
            continue
        found.extend(unknown_keys(value, defaults[key], allowed, sub))
    return found


@pytest.mark.parametrize("chart", sorted(FREE_FORM))
def test_values_keys_exist_in_the_charts_defaults(rec, chart):
    assert unknown_keys(chart_values(rec, chart), chart_defaults(chart), FREE_FORM[chart]) == []


def test_typo_guard_catches_a_misspelt_key():
    defaults = chart_defaults("harbor")
    assert unknown_keys({"expose": {"ingres": {}}}, defaults, set()) == ["expose.ingres"]
