"""The admission policy of the apps' monitors, evaluated for real.

The CEL expressions of `plate-<env>-monitors` run in cel-python (`celpy`, a CEL implementation
apart from the API server's cel-go) with the activation a ValidatingAdmissionPolicy gets:
`object`, `request` and `variables` (each variable evaluated in order first). Kubernetes'
own evaluation cannot run here (no API server); what both agree on is the CEL language.

Verifies: the policy and its binding pass the Kubernetes strict schemas; the binding denies and
selects plate-<env> only; the monitor the plate charts render is admitted, as is one with every
allowed option (a CA from a ConfigMap, params, metric relabelings, its own namespace named);
each forbidden field is denied by exactly the rule meant for it, for ServiceMonitors and
PodMonitors alike (credentials, Prometheus' files, client certificates, proxies, redirects,
`__address__` rewritten or label names mapped, another or any namespace, a scrape class); and
every field the expressions test exists in the monitoring CRDs of the pinned chart (a typo
would silently admit everything).
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import celpy
import pytest
import yaml

from components import versions
from components.gitops import admission
from tests.schemas import kubernetes_errors
from tooling import upstream

ENV = "stg"
NS = "plate-stg"
API = "admissionregistration.k8s.io/v1"

# the ServiceMonitor plate-common renders (tests/engines/test_charts.py checks the render)
CHART_MONITOR: dict[str, Any] = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "plate-web", "namespace": NS},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "plate-web"}},
        "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s",
                       "followRedirects": False}],
    },
}
POD_MONITOR: dict[str, Any] = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {"name": "plate-web", "namespace": NS},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "plate-web"}},
        "podMetricsEndpoints": [{"port": "http", "followRedirects": False}],
    },
}


@functools.cache
def _program(expression: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expression))


def denials(
    obj: dict[str, Any], namespace: str = NS, policy: dict[str, Any] | None = None
) -> list[str]:
    """The messages of the validations of `policy` (default: the monitors' policy of stg) that
    `obj` fails, as the API server evaluates them: variables first (in order), then every
    validation."""
    spec = (policy or admission.monitor_policy(ENV))["spec"]
    activation: dict[str, Any] = {
        "object": celpy.json_to_cel(obj),
        "request": celpy.json_to_cel({"namespace": namespace, "operation": "CREATE"}),
    }
    variables: dict[str, Any] = {}
    for var in spec["variables"]:
        activation["variables"] = celpy.json_to_cel({}) if not variables else \
            celpy.celtypes.MapType(variables)
        variables[celpy.celtypes.StringType(var["name"])] = \
            _program(var["expression"]).evaluate(activation)
    activation["variables"] = celpy.celtypes.MapType(variables)
    out = []
    for validation in spec["validations"]:
        result = _program(validation["expression"]).evaluate(activation)
        assert isinstance(result, celpy.celtypes.BoolType), (validation["expression"], result)
        if not result:
            out.append(validation["message"])
    return out


def message(rule: str) -> str:
    (found,) = [m for name, _, m in admission.MONITOR_RULES if name == rule]
    return f"{admission._KIND_OF} {found}"


def with_endpoint(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    key = "endpoints" if obj["kind"] == "ServiceMonitor" else "podMetricsEndpoints"
    obj["spec"][key][0].update(fields)
    return obj


def with_spec(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    obj["spec"].update(fields)
    return obj


def test_the_policy_and_binding_pass_the_kubernetes_strict_schemas() -> None:
    policy = admission.monitor_policy(ENV)
    binding = admission.monitor_policy_binding(ENV)
    for kind, body in (("ValidatingAdmissionPolicy", policy),
                       ("ValidatingAdmissionPolicyBinding", binding)):
        assert kubernetes_errors({"apiVersion": API, "kind": kind, **body}) == [], kind
    assert policy["metadata"]["name"] == binding["spec"]["policyName"] == "plate-stg-monitors"
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"] == {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": NS}}}
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"]["resourceRules"] == [{
        "apiGroups": ["monitoring.coreos.com"], "apiVersions": ["*"],
        "operations": ["CREATE", "UPDATE"], "resources": ["servicemonitors", "podmonitors"],
    }]
    assert admission.monitor_policy("prod")["metadata"]["name"] == "plate-prod-monitors"


@pytest.mark.parametrize("base", [CHART_MONITOR, POD_MONITOR], ids=["ServiceMonitor", "PodMonitor"])
def test_what_an_app_may_monitor_is_admitted(base: dict[str, Any]) -> None:
    assert denials(base) == []
    generous = with_endpoint(
        base,
        scheme="https",
        tlsConfig={"ca": {"configMap": {"name": "plate-web-ca", "key": "ca.crt"}},
                   "serverName": "plate-web", "insecureSkipVerify": False},
        params={"module": ["http_2xx"]},
        relabelings=[{"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_name"],
                      "targetLabel": "pod"},
                     {"action": "labeldrop", "regex": "tmp_.*"}],
        # metric relabelings run after the scrape: they cannot move it
        metricRelabelings=[{"action": "replace", "targetLabel": "__address__",
                            "replacement": "x"}],
    )
    assert denials(with_spec(generous, namespaceSelector={"matchNames": [NS]})) == []
    assert denials(with_spec(generous, namespaceSelector={"any": False})) == []


FORBIDDEN = [
    ("credentials", {"bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}),
    ("credentials", {"bearerTokenSecret": {"name": "x", "key": "token"}}),
    ("credentials", {"authorization": {"type": "Bearer",
                                       "credentials": {"name": "x", "key": "t"}}}),
    ("credentials", {"basicAuth": {"username": {"name": "x", "key": "u"}}}),
    ("credentials", {"oauth2": {"clientId": {"secret": {"name": "x", "key": "id"}},
                                "clientSecret": {"name": "x", "key": "s"},
                                "tokenUrl": "https://idp.example/token"}}),
    ("tls-files-and-client-certificates",
     {"tlsConfig": {"caFile": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"}}),
    ("tls-files-and-client-certificates", {"tlsConfig": {"certFile": "/etc/prometheus/c.pem"}}),
    ("tls-files-and-client-certificates", {"tlsConfig": {"keyFile": "/etc/prometheus/k.pem"}}),
    ("tls-files-and-client-certificates",
     {"tlsConfig": {"cert": {"secret": {"name": "x", "key": "c"}}}}),
    ("tls-files-and-client-certificates", {"tlsConfig": {"keySecret": {"name": "x", "key": "k"}}}),
    ("no-proxy", {"proxyUrl": "http://attacker.example:3128"}),
    ("no-proxy", {"proxyFromEnvironment": True}),
    ("no-redirects", {"followRedirects": True}),
    ("own-address", {"relabelings": [{"targetLabel": "__address__",
                                      "replacement": "kubernetes.default.svc:443"}]}),
    ("own-address", {"relabelings": [{"action": "replace", "sourceLabels": ["__meta_x"],
                                      "targetLabel": "__address__"}]}),
    ("own-address", {"relabelings": [{"action": "labelmap", "regex": "__meta_(.+)",
                                      "replacement": "__address__"}]}),
    ("own-address", {"relabelings": [{"action": "LabelMap", "regex": "(.+)"}]}),
]


@pytest.mark.parametrize("base", [CHART_MONITOR, POD_MONITOR], ids=["ServiceMonitor", "PodMonitor"])
@pytest.mark.parametrize(("rule", "fields"), FORBIDDEN,
                         ids=[f"{r}-{next(iter(f))}" for r, f in FORBIDDEN])
def test_each_forbidden_endpoint_field_is_denied_by_its_rule(
    base: dict[str, Any], rule: str, fields: dict[str, Any]
) -> None:
    assert denials(with_endpoint(base, **fields)) == [message(rule)]


@pytest.mark.parametrize("base", [CHART_MONITOR, POD_MONITOR], ids=["ServiceMonitor", "PodMonitor"])
def test_a_monitor_must_refuse_redirects_explicitly(base: dict[str, Any]) -> None:
    obj = copy.deepcopy(base)
    key = "endpoints" if obj["kind"] == "ServiceMonitor" else "podMetricsEndpoints"
    del obj["spec"][key][0]["followRedirects"]
    assert denials(obj) == [message("no-redirects")]
    # a second endpoint is checked as well as the first
    obj = copy.deepcopy(base)
    obj["spec"][key].append({"port": "admin", "followRedirects": False,
                             "bearerTokenSecret": {"name": "x", "key": "t"}})
    assert denials(obj) == [message("credentials")]


@pytest.mark.parametrize("base", [CHART_MONITOR, POD_MONITOR], ids=["ServiceMonitor", "PodMonitor"])
@pytest.mark.parametrize(("rule", "spec"), [
    ("own-namespace", {"namespaceSelector": {"any": True}}),
    ("own-namespace", {"namespaceSelector": {"matchNames": ["monitoring"]}}),
    ("own-namespace", {"namespaceSelector": {"matchNames": [NS, "plate-prod"]}}),
    ("no-scrape-class", {"scrapeClass": "platform"}),
], ids=["any", "other", "own-and-other", "scrape-class"])
def test_monitors_stay_in_their_namespace_without_a_scrape_class(
    base: dict[str, Any], rule: str, spec: dict[str, Any]
) -> None:
    assert denials(with_spec(base, **spec)) == [message(rule)]
    # the namespace is the request's: the same selector is fine from the namespace it names
    if spec.get("namespaceSelector", {}).get("matchNames") == ["monitoring"]:
        assert denials(with_spec(base, **spec), namespace="monitoring") == []


@functools.cache
def crd_fields(kind: str) -> tuple[set[str], set[str], set[str]]:
    """(spec fields, endpoint fields, tlsConfig fields) of a monitoring CRD of the pinned chart."""
    crd_file = (upstream.chart_dir("kube-prometheus-stack", versions.KUBE_PROMETHEUS_STACK.version)
                / "charts" / "crds" / "crds" / f"crd-{kind.lower()}s.yaml")
    crd = yaml.safe_load(crd_file.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    key = "endpoints" if kind == "ServiceMonitor" else "podMetricsEndpoints"
    endpoint = spec[key]["items"]["properties"]
    return set(spec), set(endpoint), set(endpoint["tlsConfig"]["properties"])


def test_every_field_the_expressions_test_exists_in_the_crds() -> None:
    spec_fields, endpoint_fields, tls_fields = set(), set(), set()
    for kind in ("ServiceMonitor", "PodMonitor"):
        spec, endpoint, tls = crd_fields(kind)
        spec_fields |= spec
        endpoint_fields |= endpoint
        tls_fields |= tls
    text = " ".join(e for _, e, _ in admission.MONITOR_RULES) + " ".join(
        e for _, e in admission.MONITOR_VARIABLES)
    tested = set(re.findall(r"\b(object\.spec|e\.tlsConfig|e|r)\.(\w+)", text))
    assert tested, text
    for owner, field in tested:
        known = {"object.spec": spec_fields, "e": endpoint_fields, "e.tlsConfig": tls_fields,
                 "r": {"targetLabel", "action"}}[owner]
        assert field in known, f"{owner}.{field} is not a field of the monitoring CRDs"
    # and each listed field is one of at least one kind
    assert set(admission.CREDENTIAL_FIELDS) | set(admission.PROXY_FIELDS) <= endpoint_fields
    assert set(admission.TLS_FIELDS) <= tls_fields
