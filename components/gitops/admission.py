"""What the API server refuses in the apps' namespace, whoever applies it: admission policies
(ValidatingAdmissionPolicy, admissionregistration.k8s.io/v1, GA in Kubernetes 1.30) and their
bindings per environment, as pure functions of the environment; the applications tier registers
them before the root Application.

`plate-<env>-monitors`: the ServiceMonitors and PodMonitors of plate-<env> make the platform's
Prometheus scrape only the app's own targets, with nothing of Prometheus' own: no credentials
(Prometheus would send them, its own ServiceAccount token included, to a target the app
chooses), no file of the Prometheus container, no other namespace, no rewritten address, no
proxy, no redirect followed, no scrape class (a class may carry the platform's credentials).

Not used: the Prometheus spec's `arbitraryFSAccessThroughSMs.deny`. It applies to every
ServiceMonitor the Prometheus selects, and kube-prometheus-stack's own kubelet and API-server
monitors read the ServiceAccount token and CA from files, so the operator would drop them.
Ref: prometheus-operator/prometheus-operator v0.93.0 pkg/prometheus/resource_selector.go
(`testForArbitraryFSAccess`: bearerTokenFile, tlsConfig caFile/certFile/keyFile);
prometheus-community kube-prometheus-stack 88.5.3 templates/_helpers.tpl
(`kube-prometheus-stack.kubelet.authConfig`),
templates/exporters/kube-api-server/servicemonitor.yaml.
"""

from __future__ import annotations

from typing import Any

from components import names

# (name, CEL expression that must be true, message). `variables.endpoints` are the scrape
# endpoints of either kind: ServiceMonitor `spec.endpoints`, PodMonitor `spec.podMetricsEndpoints`.
# Fields as the CRDs of kube-prometheus-stack 88.5.3 define them
# (charts/crds/crds/crd-servicemonitors.yaml, crd-podmonitors.yaml).
MONITOR_VARIABLES: tuple[tuple[str, str], ...] = (
    ("endpoints",
     "(has(object.spec.endpoints) ? object.spec.endpoints : [])"
     " + (has(object.spec.podMetricsEndpoints) ? object.spec.podMetricsEndpoints : [])"),
)
CREDENTIAL_FIELDS = ("bearerTokenFile", "bearerTokenSecret", "authorization", "basicAuth", "oauth2")
# client certificates are credentials; the *File fields are paths in the Prometheus container.
# `ca` and `serverName` stay allowed: they only verify the app's own certificate.
TLS_FIELDS = ("caFile", "certFile", "keyFile", "cert", "keySecret")
PROXY_FIELDS = ("proxyUrl", "proxyFromEnvironment", "proxyConnectHeader", "noProxy")


def _none_of(var: str, fields: tuple[str, ...]) -> str:
    return " && ".join(f"!has({var}.{field})" for field in fields)


MONITOR_RULES: tuple[tuple[str, str, str], ...] = (
    ("credentials",
     f"variables.endpoints.all(e, {_none_of('e', CREDENTIAL_FIELDS)})",
     "may carry no credentials (" + ", ".join(CREDENTIAL_FIELDS) + "): Prometheus would send "
     "them to whatever target the monitor names"),
    ("tls-files-and-client-certificates",
     f"variables.endpoints.all(e, !has(e.tlsConfig) || ({_none_of('e.tlsConfig', TLS_FIELDS)}))",
     "tlsConfig may set only ca, serverName, insecureSkipVerify and TLS versions (no "
     + ", ".join(TLS_FIELDS) + ")"),
    ("no-proxy",
     f"variables.endpoints.all(e, {_none_of('e', PROXY_FIELDS)})",
     "may not scrape through a proxy (" + ", ".join(PROXY_FIELDS) + ")"),
    ("no-redirects",
     "variables.endpoints.all(e, has(e.followRedirects) && e.followRedirects == false)",
     "must set followRedirects: false on every endpoint (Prometheus follows redirects by "
     "default, so a target could send the scrape anywhere)"),
    ("own-address",
     "variables.endpoints.all(e, !has(e.relabelings) || e.relabelings.all(r,"
     " !(has(r.targetLabel) && r.targetLabel == '__address__')"
     " && !(has(r.action) && r.action in ['labelmap', 'LabelMap'])))",
     "relabelings may not write __address__ (targetLabel) nor map label names (labelmap): the "
     "scrape address is the discovered one of the app's own pods"),
    ("own-namespace",
     "!has(object.spec.namespaceSelector)"
     " || ((!has(object.spec.namespaceSelector.any) || object.spec.namespaceSelector.any == false)"
     " && (!has(object.spec.namespaceSelector.matchNames)"
     " || object.spec.namespaceSelector.matchNames.all(n, n == request.namespace)))",
     "namespaceSelector may name only the monitor's own namespace"),
    ("no-scrape-class",
     "!has(object.spec.scrapeClass)",
     "may not select a scrape class (a class can carry the platform's credentials and files)"),
)


_KIND_OF = "a ServiceMonitor or PodMonitor in an apps namespace"


def monitor_policy_name(environment: str) -> str:
    return f"{names.apps_namespace(environment)}-monitors"


def monitor_policy(environment: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy (metadata and spec) of the environment's monitors."""
    return {
        "metadata": {"name": monitor_policy_name(environment)},
        "spec": {
            # an API server that cannot evaluate the policy refuses the monitor
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["monitoring.coreos.com"],
                "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["servicemonitors", "podmonitors"],
            }]},
            "variables": [{"name": n, "expression": e} for n, e in MONITOR_VARIABLES],
            "validations": [
                {"expression": expression, "message": f"{_KIND_OF} {message}",
                 "reason": "Forbidden"}
                for _, expression, message in MONITOR_RULES
            ],
        },
    }


def monitor_policy_binding(environment: str) -> dict[str, Any]:
    """The binding of that policy to plate-<env> (by the name label the API server sets on
    every namespace), denying what fails it."""
    return _binding(monitor_policy_name(environment), environment)


def _binding(name: str, environment: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": names.apps_namespace(environment),
            }}},
        },
    }


# --- each app's secrets are its own ----------------------------------------------------------
#
# plate-<env> holds every app of the environment, and a pod may read any Secret of its namespace
# and run as any ServiceAccount there; a store may log in as any of them. So a per-app OpenBao
# role isolates apps only if each object is tied to the app that syncs it. Argo CD writes that
# app on every object it applies, overwriting what the chart says: the annotation
# `argocd.argoproj.io/tracking-id: <application>:<group>/<kind>:<namespace>/<name>` (the default
# tracking method). The child Application of app `a` is `a-<env>` and the app's ServiceAccount,
# SecretStore and OpenBao role are named after `a` (components/names.py), so the policy checks,
# without parsing, that the tracking id starts with `<name>-<env>:` for the name the object uses.
# Ref: argoproj/argo-cd v3.4.4 util/argo/resource_tracking.go (SetAppInstance,
# BuildAppInstanceValue), common/common.go (AnnotationKeyAppInstance), util/settings/settings.go
# (annotation tracking by default).
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"


def _app_secret_variables(environment: str) -> tuple[tuple[str, str], ...]:
    return (
        ("tracking",
         f"has(object.metadata.annotations) && '{TRACKING_ANNOTATION}' in"
         f" object.metadata.annotations ? object.metadata.annotations['{TRACKING_ANNOTATION}']"
         " : ''"),
        # the app whose name the object uses, which must be the app that syncs it
        ("suffix", f"'-{environment}:'"),
    )


# the pod template's Secret references: envFrom, env, volumes (also projected) and pull secrets
_POD = "object.spec.template.spec"
_CONTAINERS = (f"{_POD}.containers + (has({_POD}.initContainers) ? {_POD}.initContainers"
               " : [])")


def _own_secrets(account: str) -> str:
    allowed = f"[{account} + '-env', '{names.PULL_SECRET_NAME}']"
    return " && ".join((
        f"({_CONTAINERS}).all(c, (!has(c.envFrom) || c.envFrom.all(f, !has(f.secretRef)"
        f" || f.secretRef.name in {allowed})) && (!has(c.env) || c.env.all(e,"
        f" !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef)"
        f" || e.valueFrom.secretKeyRef.name in {allowed})))",
        f"(!has({_POD}.volumes) || {_POD}.volumes.all(v, (!has(v.secret)"
        f" || v.secret.secretName in {allowed}) && (!has(v.projected)"
        " || !has(v.projected.sources) || v.projected.sources.all(s, !has(s.secret)"
        f" || s.secret.name in {allowed}))))",
        f"(!has({_POD}.imagePullSecrets) || {_POD}.imagePullSecrets.all(s, s.name in {allowed}))",
    ))


def app_secret_rules(environment: str) -> tuple[tuple[str, str, str], ...]:
    """(name, CEL, message) of `plate-<env>-app-secrets`, each guarded by the kind it is about
    (the policy matches SecretStores, ExternalSecrets, Deployments and StatefulSets)."""
    own = "variables.tracking.startsWith({name} + variables.suffix)"
    store = "object.spec.provider.vault"
    # an app's role is this prefix and the app's name (a test checks it against
    # names.app_secret_role for every app)
    role = "'" + names.app_secret_role(environment, "a").removesuffix("a") + "'"
    account = f"{_POD}.serviceAccountName"
    es_ref = "object.spec.secretStoreRef"
    return (
        ("store-of-its-app",
         "object.kind != 'SecretStore' || (" + own.format(name="object.metadata.name")
         + f" && object.spec.provider.size() == 1 && has({store})"
         f" && has({store}.auth.kubernetes.serviceAccountRef)"
         f" && {store}.auth.kubernetes.serviceAccountRef.name == object.metadata.name"
         f" && {store}.auth.kubernetes.role == {role} + object.metadata.name"
         f" && {store}.server == '{names.OPENBAO_ADDRESS}')",
         "a SecretStore must be named after the app that syncs it (its Argo CD Application "
         "`<app>-<env>`) and log in to the platform's OpenBao only as that app's "
         "ServiceAccount and role"),
        ("external-secret-of-its-app",
         "object.kind != 'ExternalSecret' || (has(" + es_ref + ")"
         f" && (!has({es_ref}.kind) || {es_ref}.kind == 'SecretStore')"
         " && " + own.format(name=f"{es_ref}.name")
         + " && (!has(object.spec.target) || !has(object.spec.target.name)"
         f" || object.spec.target.name in [{es_ref}.name + '-env', '{names.PULL_SECRET_NAME}'])"
         " && (!has(object.spec.data) || object.spec.data.all(d, !has(d.sourceRef)))"
         " && (!has(object.spec.dataFrom) || object.spec.dataFrom.all(d, !has(d.sourceRef))))",
         "an ExternalSecret must read through the SecretStore of the app that syncs it (no "
         "ClusterSecretStore, no other store, no sourceRef) into `<app>-env` or `harbor-pull`"),
        ("workload-of-its-app",
         "!(object.kind in ['Deployment', 'StatefulSet']) || (has(" + account + ")"
         " && " + own.format(name=account) + " && " + _own_secrets(account) + ")",
         "a workload's pods must run as the ServiceAccount of the app that syncs it and read "
         "only that app's Secrets (`<app>-env`, `harbor-pull`)"),
    )


def app_secrets_policy_name(environment: str) -> str:
    return f"{names.apps_namespace(environment)}-app-secrets"


def app_secrets_policy(environment: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy (metadata and spec) that ties every store, ExternalSecret
    and workload of plate-<env> to the app that syncs it."""
    return {
        "metadata": {"name": app_secrets_policy_name(environment)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [
                {"apiGroups": ["external-secrets.io"], "apiVersions": ["*"],
                 "operations": ["CREATE", "UPDATE"],
                 "resources": ["secretstores", "externalsecrets"]},
                {"apiGroups": ["apps"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["deployments", "statefulsets"]},
            ]},
            "variables": [{"name": n, "expression": e}
                          for n, e in _app_secret_variables(environment)],
            "validations": [
                {"expression": expression, "message": message, "reason": "Forbidden"}
                for _, expression, message in app_secret_rules(environment)
            ],
        },
    }


def app_secrets_policy_binding(environment: str) -> dict[str, Any]:
    return _binding(app_secrets_policy_name(environment), environment)


def policies(environment: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(resource name, policy, binding) of every admission policy of plate-<env>."""
    return [
        ("apps-monitors", monitor_policy(environment), monitor_policy_binding(environment)),
        ("apps-secrets", app_secrets_policy(environment),
         app_secrets_policy_binding(environment)),
    ]
