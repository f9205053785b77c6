"""The platform's rules as plain functions of a resource's type, inputs, URN and options.

Each rule returns the list of violations (empty = pass). `__main__.py` wraps them in a CrossGuard
PolicyPack; the tests call them directly, without the CLI. Mandatory rules fail a preview/update,
advisory ones warn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

# What the rules know of the platform, generated from components/versions.py and every committed
# Pulumi.<stack>.yaml by `uv run python -m tooling.policy_data --write` (a test fails when it is
# stale): the allowed chart repositories, and which stacks set `production: true`. The pack reads
# a file, not the program, so it imports nothing from it and edits no sys.path.
PLATFORM = json.loads((Path(__file__).resolve().parent / "platform.json").read_text())
ALLOWED_CHART_REPOS = frozenset(PLATFORM["allowed_chart_repos"])
PRODUCTION_BY_STACK: Mapping[str, bool] = PLATFORM["production_by_stack"]


def stack_is_production(stack: str, production_by_stack: Mapping[str, bool] | None = None) -> bool:
    """Whether `stack` is a production stack, by its stack file's `production` setting; a stack
    without a committed stack file is held to the production rules (the safe side)."""
    known = PRODUCTION_BY_STACK if production_by_stack is None else production_by_stack
    return known.get(stack, True)
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
STAGING_ISSUER = "letsencrypt-staging"
# Well-known chart default credentials: a Secret holding one of these is as good as plaintext.
DEFAULT_CREDENTIALS = frozenset(
    {"Harbor12345", "changeit", "not-a-secure-key", "harbor_registry_password", "prom-operator",
     "password", "admin", "changeme"}
)
SECRET_LOOKING_KEY = re.compile(r"(password|passwd|secret|token|apikey|api_key)", re.I)
# ...unless the key names where a secret lives or how it is used, not the secret itself
# (Harbor's TOKEN_SERVICE_URL, a SECRET_FILE path).
NOT_A_SECRET_KEY = re.compile(r"[_.-](url|uri|endpoint|path|file|name|ttl|enabled)$", re.I)
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
PROTECTED_IN_PRODUCTION = {
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:Namespace",
    "kubernetes:storage.k8s.io/v1:StorageClass",
    "kubernetes:argoproj.io/v1alpha1:Application",
    "kubernetes:helm.sh/v4:Chart",
}


@dataclass(frozen=True)
class Resource:
    type: str
    props: Mapping[str, Any]
    urn: str = "urn:pulumi:stg::plate-platform::x::y"
    protect: bool = False
    # stack -> production; None: the committed stacks (platform.json)
    production_by_stack: Mapping[str, bool] | None = None

    @property
    def stack(self) -> str:
        return self.urn.split("::")[0].removeprefix("urn:pulumi:")

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def production(self) -> bool:
        return stack_is_production(self.stack, self.production_by_stack)


def chart_pinned(r: Resource) -> list[str]:
    if r.type not in ("kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Release"):
        return []
    out = []
    version = r.props.get("version") or ""
    if not EXACT_VERSION.match(str(version)):
        out.append(
            f"chart {r.props.get('chart')!r} is not pinned to an exact version ({version!r})"
        )
    repo = (r.props.get("repositoryOpts") or {}).get("repo")
    if repo not in ALLOWED_CHART_REPOS:
        out.append(
            f"chart {r.props.get('chart')!r} comes from {repo!r}, "
            "not an allow-listed repository"
        )
    return out


def _containers(r: Resource) -> list[Mapping[str, Any]]:
    if r.kind == "Pod":
        spec = r.props.get("spec") or {}
    elif r.kind in POD_TEMPLATE_KINDS:
        spec = ((r.props.get("spec") or {}).get("template") or {}).get("spec") or {}
    elif r.kind == "CronJob":
        spec = (((r.props.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {})
        spec = ((spec.get("template") or {}).get("spec")) or {}
    else:
        return []
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and name.rsplit(":", 1)[1] not in ("", "latest")


def images_pinned(r: Resource) -> list[str]:
    return [
        f"container {c.get('name')!r} uses {c.get('image')!r}: pin a version tag or digest"
        for c in _containers(r)
        if not image_pinned(str(c.get("image") or ""))
    ]


def _mentions(value: Any, needle: str) -> bool:
    if isinstance(value, str):
        return needle in value
    if isinstance(value, Mapping):
        return any(_mentions(v, needle) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_mentions(v, needle) for v in value)
    return False


def no_staging_issuer_in_production(r: Resource) -> list[str]:
    if not r.production:
        return []
    if r.kind == "Ingress":
        annotations = (r.props.get("metadata") or {}).get("annotations") or {}
        if annotations.get("cert-manager.io/cluster-issuer") == STAGING_ISSUER:
            return ["Ingress uses the Let's Encrypt staging issuer in production"]
    if r.kind == "Certificate":
        if ((r.props.get("spec") or {}).get("issuerRef") or {}).get("name") == STAGING_ISSUER:
            return ["Certificate uses the Let's Encrypt staging issuer in production"]
    if r.type == "kubernetes:helm.sh/v4:Chart" and _mentions(r.props.get("values"), STAGING_ISSUER):
        return [f"chart {r.props.get('chart')!r} values reference {STAGING_ISSUER} in production"]
    return []


def ingress_has_tls(r: Resource) -> list[str]:
    if r.kind != "Ingress":
        return []
    spec = r.props.get("spec") or {}
    hosts = {rule.get("host") for rule in spec.get("rules") or [] if rule.get("host")}
    covered = {h for tls in spec.get("tls") or [] for h in tls.get("hosts") or []}
    if not spec.get("tls"):
        return ["Ingress has no TLS section"]
    missing = sorted(hosts - covered)
    return [f"Ingress hosts without TLS: {', '.join(missing)}"] if missing else []


def load_balancer_via_metallb(r: Resource) -> list[str]:
    if r.type != "kubernetes:core/v1:Service":
        return []
    spec = r.props.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return []
    out = []
    if spec.get("loadBalancerIP"):
        out.append(
            "spec.loadBalancerIP is deprecated: use the metallb.io/loadBalancerIPs annotation"
        )
    if spec.get("loadBalancerClass"):
        out.append(f"loadBalancerClass {spec['loadBalancerClass']!r} is not served by MetalLB")
    return out


def stateful_protected_in_production(r: Resource) -> list[str]:
    if r.production and r.type in PROTECTED_IN_PRODUCTION and not r.protect:
        return [f"{r.type} must be protected in production (protect=True)"]
    return []


def _secret_leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        return [
            leaf
            for k, v in value.items()
            for leaf in _secret_leaves(v, f"{path}.{k}" if path else str(k))
        ]
    if isinstance(value, (list, tuple)):
        return [leaf for i, v in enumerate(value) for leaf in _secret_leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def no_plaintext_secrets(r: Resource) -> list[str]:
    out = []
    labels = (r.props.get("metadata") or {}).get("labels") or {}
    if r.type == "kubernetes:core/v1:ConfigMap":
        for key in (r.props.get("data") or {}):
            # a Grafana dashboard's file is named after its tool (plate-external-secrets.json)
            dashboard = labels.get("grafana_dashboard") == "1" and key.endswith(".json")
            named = SECRET_LOOKING_KEY.search(key) and not NOT_A_SECRET_KEY.search(key)
            if named and not dashboard:
                out.append(f"ConfigMap key {key!r} looks like a secret: use a Secret")
    if r.type == "kubernetes:core/v1:Secret":
        for key, value in (r.props.get("stringData") or {}).items():
            if SECRET_LOOKING_KEY.search(key) and value in DEFAULT_CREDENTIALS:
                out.append(f"Secret key {key!r} holds a well-known default credential")
    if r.type == "kubernetes:helm.sh/v4:Chart":
        for path, value in _secret_leaves(r.props.get("values") or {}):
            leaf = path.rsplit(".", 1)[-1]
            if SECRET_LOOKING_KEY.search(leaf) and value in DEFAULT_CREDENTIALS:
                out.append(f"chart value {path} is a well-known default credential")
    return out


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[[Resource], list[str]]
    mandatory: bool


RULES = (
    Rule(
        "helm-chart-pinned",
        "Helm charts are pinned to an exact version from an allow-listed repository",
        chart_pinned,
        True,
    ),
    Rule(
        "images-pinned",
        "Container images carry a version tag or digest, never latest or none",
        images_pinned,
        True,
    ),
    Rule(
        "no-staging-issuer-in-prod",
        "Production never references the Let's Encrypt staging issuer",
        no_staging_issuer_in_production,
        True,
    ),
    Rule("ingress-tls", "Every Ingress serves all its hosts over TLS", ingress_has_tls, True),
    Rule(
        "loadbalancer-metallb",
        "LoadBalancer Services get addresses the MetalLB way",
        load_balancer_via_metallb,
        False,
    ),
    Rule(
        "stateful-protected-in-prod",
        "Stateful and critical resources are protected in production",
        stateful_protected_in_production,
        True,
    ),
    Rule(
        "no-plaintext-secrets",
        "No secret-looking data in ConfigMaps and no default credentials",
        no_plaintext_secrets,
        True,
    ),
)
