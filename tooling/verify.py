"""Checks over everything a stack would apply (`tooling.render`): what the cluster receives.

- schema: built-in kinds against the strict Kubernetes 1.34 JSON schemas (kubernetes-validate's);
  custom resources against the CRDs the stack itself installs, unknown fields being errors as with
  the API server's strict field validation;
- references: every Secret, ConfigMap, ServiceAccount, PVC, StorageClass, IngressClass, Service
  and cert-manager issuer an object names exists among the stack's objects, or is created at run
  time (`RUNTIME_OBJECTS`, each with its reason);
- pod-security: every pod satisfies the Pod Security level its namespace enforces;
- images: every container image carries a version tag or a digest;
- monitors: every ServiceMonitor and PodMonitor selects a Service or pod with its port;
- hooks: every Helm hook a chart renders has the program's compensation named (`HOOKS`);
- autoscaling: every HorizontalPodAutoscaler's metrics have an API that serves them and its
  Utilization targets the requests they divide by (`tooling.autoscaling`; the plate charts' HPAs,
  which Argo CD renders, are checked the same way in tests/engines/test_autoscaling.py);
- policy: every CrossGuard rule of `policy/rules.py` passes on every object, as a real preview
  would hand the objects to the policy pack.

`problems(render)` returns one line per problem; none means the stack renders clean.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import referencing

from components.config import PlatformConfig, storage_classes
from policy import rules
from tooling import autoscaling, kubeschema, podsecurity
from tooling.rendered import PROGRAM, Hook, Obj, StackRender

# Objects that a workload or Ingress names but nobody renders, because they come into being at
# run time: (kind, namespace or "*", name pattern) -> why. Keep this list short and exact.
RUNTIME_OBJECTS: dict[tuple[str, str, str], str] = {
    ("ServiceAccount", "*", "default"): (
        "every namespace gets one from the ServiceAccount controller"
    ),
    ("ConfigMap", "*", "kube-root-ca.crt"): (
        "published into every namespace by the root CA publisher"
    ),
    ("Secret", "metallb-system", "metallb-memberlist"): (
        "the MetalLB controller generates the speakers' memberlist key at start "
        "(METALLB_ML_SECRET_NAME)"
    ),
}


def prerequisites(cfg: PlatformConfig) -> dict[tuple[str, str, str], str]:
    """What the stack expects the cluster to have already: an ingress controller serving
    `ingress_class` when it installs none (`ingress.controller: external`, or another stack owns
    cluster_services); the StorageClasses it names but does not create."""
    classes = storage_classes(cfg) if not cfg.owns("cluster_services") else (
        cfg.existing_storage_classes
    )
    found = {
        ("StorageClass", "", name): "the cluster's own (existing_storage_classes) or the stack "
        "that owns cluster_services"
        for name in classes
    }
    if cfg.ingress.controller == "traefik" and cfg.owns("cluster_services"):
        return found  # the stack installs Traefik, whose chart renders the IngressClass
    return {
        **found,
        ("IngressClass", "", cfg.ingress_class): "installed with the cluster's ingress controller",
    }

# Helm hooks the charts render with our values: v4 Charts never run them, so each needs the
# program's answer. (release, kind, name) -> compensation.
_HELM_TEST = (
    "a `helm test` check, never part of an install; `pulumi up` waits for the workload's own "
    "readiness instead"
)
HOOKS: dict[tuple[str, str, str], str] = {
    ("fluentd", "Pod", "fluentd-test-connection"): _HELM_TEST,
    ("openbao", "Pod", "openbao-server-test"): _HELM_TEST,
    ("kube-prometheus-stack", "Pod", "kube-prometheus-stack-grafana-test"): _HELM_TEST,
    ("kube-prometheus-stack", "ConfigMap", "kube-prometheus-stack-grafana-test"): _HELM_TEST,
    ("kube-prometheus-stack", "ServiceAccount", "kube-prometheus-stack-grafana-test"): _HELM_TEST,
}


# Ingress annotations that make cert-manager issue (and write) the Ingress's TLS secrets.
CERT_MANAGER_ANNOTATIONS = frozenset({"cert-manager.io/cluster-issuer", "cert-manager.io/issuer"})


def hook_compensation(hook: Hook) -> str:
    return HOOKS.get((hook.source, hook.kind, hook.name), "NO COMPENSATION NAMED")


# --- schema -----------------------------------------------------------------------------------


def _forbid_unknown(schema: Any) -> Any:
    """Mirror strict field validation: objects with declared properties and no
    x-kubernetes-preserve-unknown-fields reject undeclared fields."""
    if isinstance(schema, dict):
        out = {k: _forbid_unknown(v) for k, v in schema.items()}
        if (
            "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_forbid_unknown(v) for v in schema]
    return schema


def crd_schema_validator(crd: dict[str, Any], version: str) -> jsonschema.protocols.Validator:
    """A validator for one served version of a CRD (metadata is the API server's business)."""
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _forbid_unknown(copy.deepcopy(entry["schema"]["openAPIV3Schema"]))
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


@functools.cache
def _kubernetes_registry() -> referencing.Registry:
    resource = referencing.Resource.from_contents(kubeschema.definitions())
    registry = referencing.Registry().with_resource("/api/_definitions.json", resource)
    return registry.crawl()  # once: an uncrawled registry crawls on every $ref


@functools.cache
def kubernetes_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    """The strict schema validator of a built-in kind (cached: loading one costs ~20 ms)."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = kubeschema.strict_schema_folder() / f"{kind.lower()}-{group_version}.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema, registry=_kubernetes_registry())


def validation_errors(validator: jsonschema.protocols.Validator, body: dict[str, Any]) -> list[str]:
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '(object)'}: {e.message}"
        for e in validator.iter_errors(body)
    )


@functools.lru_cache(maxsize=4096)
def _builtin_errors(api_version: str, kind: str, canonical: str) -> tuple[str, ...]:
    """Schema errors of a built-in object given as canonical JSON (cached: the CRDs, the largest
    objects by far, are the same in every stack and every render)."""
    validator = kubernetes_validator(api_version, kind)
    assert validator is not None
    return tuple(validation_errors(validator, json.loads(canonical)))


def schema_problems(objects: list[Obj]) -> Iterator[str]:
    crds = {
        (o.body["spec"]["group"], o.body["spec"]["names"]["kind"]): o.body
        for o in objects
        if o.kind == "CustomResourceDefinition"
    }
    custom: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for obj in objects:
        if kubernetes_validator(obj.api_version, obj.kind) is not None:
            canonical = json.dumps(obj.body, sort_keys=True)
            for error in _builtin_errors(obj.api_version, obj.kind, canonical):
                yield f"schema: {obj.ref} ({obj.source}): {error}"
            continue
        crd = crds.get((obj.group, obj.kind))
        if crd is None:
            yield (
                f"schema: {obj.ref} ({obj.source}): no CRD in the stack defines "
                f"{obj.api_version} {obj.kind}"
            )
            continue
        key = (obj.api_version, obj.kind)
        if key not in custom:
            custom[key] = crd_schema_validator(crd, obj.api_version.rpartition("/")[2])
        for error in validation_errors(custom[key], obj.body):
            yield f"schema: {obj.ref} ({obj.source}): {error}"


# --- references -------------------------------------------------------------------------------


def _pod_refs(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of what a pod spec needs to exist (optional references excluded)."""
    yield "ServiceAccount", spec.get("serviceAccountName") or "default"
    for secret in spec.get("imagePullSecrets") or []:
        yield "Secret", secret["name"]
    for volume in spec.get("volumes") or []:
        secret, config_map = volume.get("secret") or {}, volume.get("configMap") or {}
        if secret and not secret.get("optional"):
            yield "Secret", secret.get("secretName", "")
        if config_map and not config_map.get("optional"):
            yield "ConfigMap", config_map.get("name", "")
        if volume.get("persistentVolumeClaim"):
            yield "PersistentVolumeClaim", volume["persistentVolumeClaim"].get("claimName", "")
        for source in (volume.get("projected") or {}).get("sources") or []:
            for kind, key in (("Secret", "secret"), ("ConfigMap", "configMap")):
                if key in source and not source[key].get("optional"):
                    yield kind, source[key]["name"]
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in containers:
        for env in container.get("env") or []:
            ref = env.get("valueFrom") or {}
            for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                if key in ref and not ref[key].get("optional"):
                    yield kind, ref[key]["name"]
        for env_from in container.get("envFrom") or []:
            for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                if key in env_from and not env_from[key].get("optional"):
                    yield kind, env_from[key]["name"]


def _refs(obj: Obj) -> Iterator[tuple[str, str, str]]:
    """(kind, namespace, name) of every object `obj` names; namespace "" = cluster-scoped."""
    ns = obj.namespace
    spec = obj.body.get("spec") or {}
    pod = podsecurity.pod_template(obj.body)
    if pod is not None:
        for kind, name in _pod_refs(pod[1]):
            yield kind, ns, name
    for template in spec.get("volumeClaimTemplates") or []:
        if (template.get("spec") or {}).get("storageClassName"):
            yield "StorageClass", "", template["spec"]["storageClassName"]
    if obj.kind == "PersistentVolumeClaim" and spec.get("storageClassName"):
        yield "StorageClass", "", spec["storageClassName"]
    annotations = (obj.body.get("metadata") or {}).get("annotations") or {}
    if "cert-manager.io/cluster-issuer" in annotations:
        yield "ClusterIssuer", "", annotations["cert-manager.io/cluster-issuer"]
    if "cert-manager.io/issuer" in annotations:
        yield "Issuer", ns, annotations["cert-manager.io/issuer"]
    if obj.kind == "Ingress":
        if spec.get("ingressClassName"):
            yield "IngressClass", "", spec["ingressClassName"]
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                service = (path.get("backend") or {}).get("service")
                if service:
                    yield "Service", ns, service["name"]
        for tls in spec.get("tls") or []:
            if not annotations.keys() & CERT_MANAGER_ANNOTATIONS:
                yield "Secret", ns, tls.get("secretName", "")
    if obj.kind == "Certificate" and obj.group == "cert-manager.io":
        issuer = spec.get("issuerRef") or {}
        kind = issuer.get("kind", "Issuer")
        yield kind, ("" if kind == "ClusterIssuer" else ns), issuer.get("name", "")


def _runtime_reason(kind: str, ns: str, name: str) -> str | None:
    for (r_kind, r_ns, pattern), reason in RUNTIME_OBJECTS.items():
        if r_kind == kind and r_ns in ("*", ns) and re.fullmatch(pattern, name):
            return reason
    return None


def _cert_manager_secrets(objects: list[Obj]) -> set[tuple[str, str]]:
    """Secrets cert-manager writes at run time: each Certificate's, and each TLS secret of an
    Ingress that asks cert-manager for a certificate (ingress-shim)."""
    out = set()
    for obj in objects:
        spec = obj.body.get("spec") or {}
        if obj.kind == "Certificate" and obj.group == "cert-manager.io":
            out.add((obj.namespace, spec.get("secretName", "")))
        annotations = (obj.body.get("metadata") or {}).get("annotations") or {}
        if obj.kind == "Ingress" and annotations.keys() & CERT_MANAGER_ANNOTATIONS:
            out |= {(obj.namespace, tls.get("secretName", "")) for tls in spec.get("tls") or []}
    return out


def reference_problems(
    objects: list[Obj], provided: dict[tuple[str, str, str], str] | None = None
) -> Iterator[str]:
    present = {(o.kind, o.namespace, o.name) for o in objects} | set(provided or {})
    # StatefulSet claims: <template>-<statefulset>-<ordinal>, created by the StatefulSet controller
    claim_prefixes = {
        (o.namespace, f"{t['metadata']['name']}-{o.name}-")
        for o in objects
        if o.kind == "StatefulSet"
        for t in (o.body.get("spec") or {}).get("volumeClaimTemplates") or []
    }
    issued = _cert_manager_secrets(objects)
    for obj in objects:
        for kind, ns, name in sorted(set(_refs(obj))):
            if (kind, ns, name) in present or _runtime_reason(kind, ns, name):
                continue
            if kind == "Secret" and (ns, name) in issued:
                continue
            if kind == "PersistentVolumeClaim" and any(
                ns == p_ns and name.startswith(prefix) for p_ns, prefix in claim_prefixes
            ):
                continue
            where = f"{ns}/" if ns else ""
            yield (
                f"references: {obj.ref} ({obj.source}) names {kind} {where}{name}, "
                "which nothing creates"
            )


# --- pods, images, hooks, policy --------------------------------------------------------------


def namespace_levels(objects: list[Obj]) -> dict[str, str]:
    """Pod Security level each namespace of the stack enforces (unlabelled: privileged)."""
    return {
        o.name: ((o.body.get("metadata") or {}).get("labels") or {}).get(
            "pod-security.kubernetes.io/enforce", "privileged"
        )
        for o in objects
        if o.kind == "Namespace"
    }


def pod_security_problems(objects: list[Obj], levels: dict[str, str]) -> Iterator[str]:
    for obj in objects:
        pod = podsecurity.pod_template(obj.body)
        if pod is None:
            continue
        if obj.namespace not in levels:
            yield (
                f"pod-security: {obj.ref} ({obj.source}): namespace {obj.namespace!r} is not "
                "created by the stack"
            )
            continue
        level = levels[obj.namespace]
        for violation in podsecurity.violations(pod[0], pod[1], level):  # type: ignore[arg-type]
            yield f"pod-security: {obj.ref} ({obj.source}) in a {level} namespace: {violation}"


def image_problems(objects: list[Obj]) -> Iterator[str]:
    for obj in objects:
        pod = podsecurity.pod_template(obj.body)
        if pod is None:
            continue
        spec = pod[1]
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            image = str(container.get("image") or "")
            if not rules.image_pinned(image):
                yield (
                    f"images: {obj.ref} ({obj.source}) container {container.get('name')!r} "
                    f"runs {image!r}: pin a tag or digest"
                )


def hook_problems(render: StackRender) -> Iterator[str]:
    for hook in render.hooks:
        if (hook.source, hook.kind, hook.name) not in HOOKS:
            yield (
                f"hooks: {hook.source} renders {hook.kind} {hook.name} ({hook.events}), which a v4 "
                "Chart skips: name the program's compensation in tooling/verify.py HOOKS"
            )


TIER_TYPES = {
    "cluster-services": "plate:platform:ClusterServices",
    "dev-tools": "plate:platform:DevTools",
    "applications": "plate:platform:Applications",
}


def _scrapeable(obj: Obj, monitor_kind: str) -> tuple[dict[str, str], set[str]] | None:
    """(labels, port names) of what a monitor of `monitor_kind` can select in `obj`."""
    if monitor_kind == "ServiceMonitor" and obj.kind == "Service":
        ports = {p.get("name", "") for p in (obj.body.get("spec") or {}).get("ports") or []}
        return (obj.body.get("metadata") or {}).get("labels") or {}, ports
    pod = podsecurity.pod_template(obj.body) if monitor_kind == "PodMonitor" else None
    if pod is None:
        return None
    ports = {
        port.get("name", "")
        for container in pod[1].get("containers") or []
        for port in container.get("ports") or []
    }
    return pod[0].get("labels") or {}, ports


def monitor_problems(objects: list[Obj]) -> Iterator[str]:
    """Every ServiceMonitor/PodMonitor selects something in its namespace with the named port."""
    for monitor in objects:
        if monitor.group != "monitoring.coreos.com" or monitor.kind not in (
            "ServiceMonitor", "PodMonitor"
        ):
            continue
        spec = monitor.body.get("spec") or {}
        if spec.get("namespaceSelector"):
            continue  # selects across namespaces: not checked here
        wanted = (spec.get("selector") or {}).get("matchLabels") or {}
        endpoints = spec.get("endpoints") or spec.get("podMetricsEndpoints") or []
        ports = {e.get("port") for e in endpoints if e.get("port")}
        found = [
            scrapeable
            for obj in objects
            if obj.namespace == monitor.namespace
            and (scrapeable := _scrapeable(obj, monitor.kind)) is not None
            and wanted.items() <= scrapeable[0].items()
        ]
        if not found:
            yield f"monitors: {monitor.ref} ({monitor.source}) selects nothing"
        elif not any(ports <= names for _, names in found):
            yield (f"monitors: {monitor.ref} ({monitor.source}) selects nothing with port(s) "
                   f"{', '.join(sorted(ports))}")


def policy_resource(render: StackRender, obj: Obj) -> rules.Resource:
    """The object as the policy pack sees it in a preview."""
    # the stack part is what the rules read; the type chain is indicative (tier component type)
    tier = TIER_TYPES.get(obj.tier, "plate:platform:Tier")
    parent = tier if obj.source == PROGRAM else f"{tier}$kubernetes:helm.sh/v4:Chart"
    urn = f"urn:pulumi:{render.stack}::plate-platform::{parent}${obj.pulumi_type}::{obj.name}"
    production = {render.stack: render.cfg.production}
    return rules.Resource(obj.pulumi_type, obj.body, urn, obj.protect, production)


def policy_problems(render: StackRender) -> Iterator[str]:
    for obj in render.objects:
        resource = policy_resource(render, obj)
        for rule in rules.RULES:
            if not rule.mandatory:
                continue
            for message in rule.check(resource):
                yield f"policy {rule.name}: {obj.ref} ({obj.source}): {message}"


def problems(render: StackRender) -> list[str]:
    objects = render.objects
    return [
        *schema_problems(objects),
        *reference_problems(objects, prerequisites(render.cfg)),
        *pod_security_problems(objects, namespace_levels(objects)),
        *image_problems(objects),
        *monitor_problems(objects),
        *hook_problems(render),
        *autoscaling.hpa_problems(
            [o.body for o in objects],
            autoscaling.served_groups([o.body for o in objects], render.cfg),
        ),
        *policy_problems(render),
    ]
