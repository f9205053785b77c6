"""What the API server refuses in the apps' namespace, whoever applies it: admission policies
(ValidatingAdmissionPolicy, admissionregistration.k8s.io/v1, GA in Kubernetes 1.30) and their
bindings per environment, as pure functions of the environment; the applications tier registers
them before the root Application.

`plate-<env>-monitors`: the ServiceMonitors and PodMonitors of plate-<env> make the platform's
Prometheus scrape only the app's own targets, with nothing of Prometheus' own: no credentials
(Prometheus would send them, its own ServiceAccount token included, to a target the app
chooses), no file of the Prometheus container, no other namespace, no rewritten address, no
proxy, no redirect followed, no scrape class (a class may carry the platform's credentials).

`plate-<env>-app-secrets`: every SecretStore, ExternalSecret and workload belongs to the app
whose Argo CD Application syncs it and reads only that app's secrets. `plate-<env>-app-network`:
every Ingress, NetworkPolicy, Service and workload's pod labels belong to that app (its host,
its pods, inside the cluster).

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
from components.gitops.apps import IN_HOUSE_APPS, SYNC_SERVICE_ACCOUNT

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
         + " && (!has(object.spec.data) || object.spec.data.all(d, !has(d.sourceRef)))"
         " && (!has(object.spec.dataFrom) || object.spec.dataFrom.all(d, !has(d.sourceRef))))",
         "an ExternalSecret must read through the SecretStore of the app that syncs it (no "
         "ClusterSecretStore, no other store, no sourceRef: no generator, no other store)"),
        # Without `target.name` External Secrets writes the Secret named like the ExternalSecret
        # (one named `plate-cache-env` would write plate-cache's Secret), and Merge or Orphan write
        # into a Secret that exists. So the target is named, and it is the app's environment
        # (Owner: the one ExternalSecret that owns it) or the shared pull secret, built the one
        # way the charts build it (Orphan, from `<env>/harbor-pull` only). No `manifest`: a
        # generic target creates any kind (an Application, a ConfigMap) instead of a Secret.
        # Ref: external-secrets/external-secrets v2.9.0
        # pkg/controllers/externalsecret/externalsecret_controller.go (an empty
        # `Spec.Target.Name` becomes the ExternalSecret's name), externalsecret_controller_
        # manifest.go (Target.Manifest: a generic target); CRD ExternalSecret v1
        # `spec.target.{name,creationPolicy,manifest}`.
        ("external-secret-target",
         "object.kind != 'ExternalSecret' || (has(object.spec.target)"
         " && has(object.spec.target.name) && !has(object.spec.target.manifest)"
         f" && ((has({es_ref}.name) && object.spec.target.name == {es_ref}.name + '-env'"
         " && (!has(object.spec.target.creationPolicy)"
         " || object.spec.target.creationPolicy == 'Owner'))"
         f" || (object.spec.target.name == '{names.PULL_SECRET_NAME}'"
         " && has(object.spec.target.creationPolicy)"
         " && object.spec.target.creationPolicy == 'Orphan' && !has(object.spec.dataFrom)"
         " && has(object.spec.data) && object.spec.data.all(d,"
         f" d.remoteRef.key == '{names.pull_secret_path(environment)}'))))",
         "an ExternalSecret must name its target: `<app>-env` (creationPolicy Owner) or "
         f"`{names.PULL_SECRET_NAME}` (creationPolicy Orphan, from "
         f"`{names.pull_secret_path(environment)}` only); no `manifest` target"),
        # A template may read a Secret or ConfigMap of the namespace through External Secrets'
        # own (cluster-wide) access: it would copy another app's Secret into the app's own target.
        # Ref: external-secrets/external-secrets v2.9.0 pkg/controllers/templating/parser.go
        # (MergeSecret, MergeConfigMap); CRD ExternalSecret v1
        # `spec.target.template.templateFrom[].{secret,configMap,literal}`.
        ("external-secret-template",
         "object.kind != 'ExternalSecret' || !has(object.spec.target)"
         " || !has(object.spec.target.template)"
         " || !has(object.spec.target.template.templateFrom)"
         " || object.spec.target.template.templateFrom.all(t, !has(t.secret)"
         " && !has(t.configMap))",
         "an ExternalSecret's template may take templateFrom `literal` only (a `secret` or "
         "`configMap` source reads another object of the namespace)"),
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


# --- each app's traffic is its own ----------------------------------------------------------
#
# The sync identity may create Ingresses, NetworkPolicies and Services in plate-<env> (the kinds
# the charts render). Unchecked, an app's Ingress could serve a tool's host on a longer path (a
# more specific route wins: `argocd.<domain>/auth/callback` would take Argo CD's OIDC callbacks) or
# another app's host, its cert-manager TLS Secret name could overwrite another Secret, its
# NetworkPolicy could replace one of the program's (same name) or open another app's pods, and its
# Service could publish pods outside the cluster (NodePort, LoadBalancer, externalIPs) or route
# another app's traffic. So each object is tied, by name and selector, to the app that syncs it, in
# the shape plate-common renders (templates/_ingress.tpl, _networkpolicy.tpl, each chart's
# service.yaml).
INSTANCE_LABEL = "app.kubernetes.io/instance"
NAME_LABEL = "app.kubernetes.io/name"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


def _own(name: str) -> str:
    return f"variables.tracking.startsWith({name} + variables.suffix)"


def app_hosts(domain: str) -> dict[str, list[str]]:
    """{app: the hosts its Ingress may serve}: `<host>.<domain>` of its InHouseApp (`domain`:
    the environment's), none for an app without a host."""
    return {app.name: [f"{app.host}.{domain}"] if app.host else [] for app in IN_HOUSE_APPS}


def _cel_hosts(domain: str) -> str:
    """The CEL list of every `<app> <host>` an Ingress may serve (a list of strings: one type,
    whichever CEL type checker reads it; an app without a host has no entry)."""
    return "[" + ", ".join(f"'{app} {host}'" for app, hosts in app_hosts(domain).items()
                           for host in hosts) + "]"


def _peers(direction: str, key: str) -> str:
    """every rule of `direction` (ingress/egress) names its peers (`key`: from/to; none = every
    source or destination), and each namespace selector names one namespace ({} = all)."""
    spec = "object.spec"
    return (f"(!has({spec}.{direction}) || {spec}.{direction}.all(r, has(r.{key})"
            f" && r.{key}.size() > 0 && r.{key}.all(p, !has(p.namespaceSelector)"
            " || (has(p.namespaceSelector.matchLabels)"
            f" && '{NAMESPACE_LABEL}' in p.namespaceSelector.matchLabels))))")


def app_network_rules(domain: str) -> tuple[tuple[str, str, str], ...]:
    """(name, CEL, message) of `plate-<env>-app-network`, each guarded by its kind (`domain`:
    the environment's; the CEL reads the hosts from `variables.hosts`, the message names them)."""
    name = "object.metadata.name"
    labels = f"{_POD.removesuffix('.spec')}.metadata.labels"
    return (
        ("ingress-of-its-app",
         f"object.kind != 'Ingress' || ({_own(name)}"
         " && !has(object.spec.defaultBackend)"
         " && has(object.spec.rules) && object.spec.rules.size() > 0"
         f" && object.spec.rules.all(r, has(r.host) && ({name} + ' ' + r.host) in variables.hosts"
         " && (!has(r.http) || r.http.paths.all(p, !has(p.backend.resource))))"
         " && (!has(object.spec.tls) || object.spec.tls.all(t, has(t.secretName)"
         f" && t.secretName == {name} + '-tls'"
         f" && has(t.hosts) && t.hosts.all(h, ({name} + ' ' + h) in variables.hosts))))",
         "an Ingress must be named after the app that syncs it and serve only that app's "
         "host (" + ", ".join(f"{a}: {' '.join(h) or 'none'}"
                              for a, h in app_hosts(domain).items())
         + "), every rule with that host, TLS in `<app>-tls`, no default or resource backend"),
        ("network-policy-of-its-app",
         f"object.kind != 'NetworkPolicy' || ({_own(name)}"
         " && has(object.spec.podSelector.matchLabels)"
         f" && '{INSTANCE_LABEL}' in object.spec.podSelector.matchLabels"
         f" && object.spec.podSelector.matchLabels['{INSTANCE_LABEL}'] == {name})",
         "a NetworkPolicy must be named after the app that syncs it (the program's policies "
         f"of the namespace are not) and select only that app's pods ({INSTANCE_LABEL})"),
        # the template admits peers by namespace name and pod labels; egress may also name an
        # address outside the cluster (`ipBlock`, helm/plate-common README), ingress may not
        ("network-policy-peers",
         "object.kind != 'NetworkPolicy' || (" + _peers("ingress", "from")
         + " && " + _peers("egress", "to")
         + " && (!has(object.spec.ingress) || object.spec.ingress.all(r,"
         " r.from.all(p, !has(p.ipBlock)))))",
         "a NetworkPolicy's rules must name their peers (no rule open to every source or "
         f"destination), each namespaceSelector one namespace by `{NAMESPACE_LABEL}` (not {{}}), "
         "and admit no ipBlock"),
        ("service-of-its-app",
         "object.kind != 'Service' || (has(object.spec.selector)"
         f" && '{INSTANCE_LABEL}' in object.spec.selector"
         f" && {_own(f'object.spec.selector[{INSTANCE_LABEL!r}]')}"
         f" && ({name} == object.spec.selector['{INSTANCE_LABEL}']"
         f" || {name}.startsWith(object.spec.selector['{INSTANCE_LABEL}'] + '-')))",
         "a Service must select the pods of the app that syncs it and be named `<app>` or "
         "`<app>-*`"),
        ("service-in-cluster",
         "object.kind != 'Service' || ((!has(object.spec.type) || object.spec.type == 'ClusterIP')"
         " && !has(object.spec.externalIPs) && !has(object.spec.externalName))",
         "a Service must be ClusterIP (or headless): no NodePort, LoadBalancer, ExternalName, "
         "externalIPs"),
        # pods labelled as another app would receive its Service's traffic and the calls its
        # peers' NetworkPolicies admit
        ("pods-labelled-as-their-app",
         "!(object.kind in ['Deployment', 'StatefulSet']) || ("
         f"has({labels}) && '{INSTANCE_LABEL}' in {labels} && '{NAME_LABEL}' in {labels}"
         f" && {_own(f'{labels}[{INSTANCE_LABEL!r}]')}"
         f" && {labels}['{NAME_LABEL}'] == {labels}['{INSTANCE_LABEL}'])",
         f"a workload's pods must carry the labels of the app that syncs it ({NAME_LABEL} and "
         f"{INSTANCE_LABEL} both the app's name)"),
    )


def synced_by_argo_cd(environment: str) -> str:
    """CEL: the request is Argo CD's (as the sync identity of plate-<env>, or carrying its
    tracking id). The program's own NetworkPolicies and cert-manager's HTTP-01 solver (a
    NodePort Service and an Ingress for the challenge path) live in plate-<env> too: the network
    rules are about what the app charts deliver.
    Ref: cert-manager CRD ClusterIssuer v1 (upstream crds/cert-manager.io/ClusterIssuer.yaml)
    `acme.solvers[].http01.ingress.serviceType` ("If unset, defaults to NodePort")."""
    account = f"system:serviceaccount:{names.apps_namespace(environment)}:{SYNC_SERVICE_ACCOUNT}"
    return (f"request.userInfo.username == '{account}' || (has(object.metadata.annotations)"
            f" && '{TRACKING_ANNOTATION}' in object.metadata.annotations)")


def app_network_policy_name(environment: str) -> str:
    return f"{names.apps_namespace(environment)}-app-network"


def app_network_policy(environment: str, domain: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy that ties every Ingress, NetworkPolicy, Service and pod
    label of plate-<env> to the app that syncs it."""
    return {
        "metadata": {"name": app_network_policy_name(environment)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [
                {"apiGroups": ["networking.k8s.io"], "apiVersions": ["*"],
                 "operations": ["CREATE", "UPDATE"],
                 "resources": ["ingresses", "networkpolicies"]},
                {"apiGroups": [""], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["services"]},
                {"apiGroups": ["apps"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["deployments", "statefulsets"]},
            ]},
            "matchConditions": [{"name": "synced-by-argo-cd",
                                 "expression": synced_by_argo_cd(environment)}],
            "variables": [{"name": n, "expression": e}
                          for n, e in _app_secret_variables(environment)]
            + [{"name": "hosts", "expression": _cel_hosts(domain)}],
            "validations": [
                {"expression": expression, "message": message, "reason": "Forbidden"}
                for _, expression, message in app_network_rules(domain)
            ],
        },
    }


def app_network_policy_binding(environment: str) -> dict[str, Any]:
    return _binding(app_network_policy_name(environment), environment)


def policies(environment: str, domain: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(resource name, policy, binding) of every admission policy of plate-<env> (`domain`: the
    environment's, where its apps' hosts are)."""
    return [
        ("apps-monitors", monitor_policy(environment), monitor_policy_binding(environment)),
        ("apps-secrets", app_secrets_policy(environment),
         app_secrets_policy_binding(environment)),
        ("apps-network", app_network_policy(environment, domain),
         app_network_policy_binding(environment)),
    ]
