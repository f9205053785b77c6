"""The admission policies of the apps' namespace, the monitors' evaluated for real here (the
others on the plate charts' render in tests/engines/test_app_confinement.py).

The CEL expressions of `plate-<env>-monitors` run in cel-python (`celpy`, a CEL implementation
apart from the API server's cel-go) with the activation a ValidatingAdmissionPolicy gets:
`object`, `request` and `variables` (each variable evaluated in order first). Kubernetes'
own evaluation cannot run here (no API server); what both agree on is the CEL language.

Verifies: every policy of plate-<env> (monitors, app secrets, app network) and its binding pass the
Kubernetes strict schemas, and the ExternalSecret fields the app-secrets policy tests
(`target.name`, `creationPolicy`, `manifest`, `template.templateFrom`, `sourceRef`) exist in the
CRD of External Secrets v2.9.0; the monitors' policy and its binding pass the Kubernetes strict
schemas; the binding denies and selects plate-<env> only; the monitor the plate charts render is
admitted, as is one with every allowed option (a CA from a ConfigMap, params, metric relabelings,
its own namespace named); each forbidden field is denied by exactly the rule meant for it, for
ServiceMonitors and PodMonitors alike (credentials, Prometheus' files, client certificates,
proxies, redirects, `__address__` rewritten or label names mapped, another or any namespace, a
scrape class); and every field the expressions test exists in the monitoring CRDs of the pinned
chart (a typo would silently admit everything).
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
    obj: dict[str, Any], namespace: str = NS, policy: dict[str, Any] | None = None,
    username: str = "system:serviceaccount:plate-stg:argocd-sync",
) -> list[str]:
    """The messages of the validations of `policy` (default: the monitors' policy of stg) that
    `obj` fails, as the API server evaluates them: the match conditions first (none false, or the
    policy does not apply), then the variables (in order), then every validation. `username`:
    who sends the request."""
    spec = (policy or admission.monitor_policy(ENV))["spec"]
    activation: dict[str, Any] = {
        "object": celpy.json_to_cel(obj),
        "request": celpy.json_to_cel({"namespace": namespace, "operation": "CREATE",
                                      "userInfo": {"username": username}}),
    }
    for condition in spec.get("matchConditions", []):
        if not _program(condition["expression"]).evaluate(activation):
            return []
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


def test_every_policy_of_the_apps_namespace_passes_the_kubernetes_strict_schemas() -> None:
    """The three policies and their bindings, both environments: valid objects, each binding
    denying in its own plate-<env> only, names as the program registers them."""
    for env, domain in (("stg", "stg.plate.dev"), ("prod", "plate.dev")):
        found = admission.policies(env, domain)
        assert [r for r, _, _ in found] == ["apps-monitors", "apps-secrets", "apps-network"]
        assert [p["metadata"]["name"] for _, p, _ in found] == [
            f"plate-{env}-monitors", f"plate-{env}-app-secrets", f"plate-{env}-app-network"]
        for _, policy, binding in found:
            for kind, body in (("ValidatingAdmissionPolicy", policy),
                               ("ValidatingAdmissionPolicyBinding", binding)):
                assert kubernetes_errors({"apiVersion": API, "kind": kind, **body}) == [], kind
            assert binding["spec"]["policyName"] == policy["metadata"]["name"]
            assert binding["spec"]["validationActions"] == ["Deny"]
            assert binding["spec"]["matchResources"]["namespaceSelector"] == {
                "matchLabels": {"kubernetes.io/metadata.name": f"plate-{env}"}}
    network = admission.app_network_policy("prod", "plate.dev")
    assert network["spec"]["matchConstraints"]["resourceRules"] == [
        {"apiGroups": ["networking.k8s.io"], "apiVersions": ["*"],
         "operations": ["CREATE", "UPDATE"], "resources": ["ingresses", "networkpolicies"]},
        {"apiGroups": [""], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
         "resources": ["services"]},
        {"apiGroups": ["apps"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
         "resources": ["deployments", "statefulsets"]},
    ]
    assert {"name": "hosts", "expression": "['plate-web app.plate.dev', 'plate-api api.plate.dev']"
            } in network["spec"]["variables"]


@functools.cache
def external_secret_fields() -> dict[str, set[str]]:
    """Fields of the ExternalSecret v1 CRD (External Secrets v2.9.0) the app-secrets policy
    tests: spec.target, spec.target.template.templateFrom[], spec.dataFrom[].sourceRef."""
    crd = yaml.safe_load(upstream.find("crds/external-secrets.io/ExternalSecret.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    target = spec["target"]["properties"]
    return {
        "target": set(target),
        "templateFrom": set(target["template"]["properties"]["templateFrom"]["items"]
                            ["properties"]),
        "sourceRef": set(spec["dataFrom"]["items"]["properties"]["sourceRef"]["properties"]),
        "creationPolicy": set(target["creationPolicy"]["enum"]),
    }


def test_the_external_secret_fields_the_policy_tests_exist_in_the_crd() -> None:
    fields = external_secret_fields()
    assert {"name", "creationPolicy", "manifest", "template"} <= fields["target"]
    # what a template may read besides the store's data: denied but for `literal`
    assert fields["templateFrom"] == {"configMap", "secret", "literal", "target",
                                      "valuesDecodingStrategy"}
    assert fields["sourceRef"] == {"generatorRef", "storeRef"}
    assert {"Owner", "Orphan", "Merge"} <= fields["creationPolicy"]
    text = " ".join(e for _, e, _ in admission.app_secret_rules("stg"))
    for field in ("target.name", "target.manifest", "target.creationPolicy",
                  "template.templateFrom", "t.secret", "t.configMap", "d.sourceRef"):
        assert field in text, field
