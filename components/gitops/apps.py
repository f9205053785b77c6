"""Argo CD objects of the GitOps tier, as pure functions of `PlatformConfig`.

The same functions feed the Pulumi program (AppProjects and the root app-of-apps Application)
and `python -m tooling.children` (the child Application manifests committed under
`environments/argocd/apps/<env>/`), so the program and the files in git cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components import names
from components.config import HarborConfig, PlatformConfig
from components.contracts import ClusterNames
from components.names import secret_store_name
from components.netpol import DEFAULT_DENY
from components.tools import catalog

IN_CLUSTER = "https://kubernetes.default.svc"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"


@dataclass(frozen=True)
class InHouseApp:
    name: str  # Argo CD Application name prefix and chart directory name
    chart_path: str  # chart directory, relative to the repository root
    description: str


IN_HOUSE_APPS = (
    InHouseApp("plate-web", "helm/applications/plate-web", "front end"),
    InHouseApp("plate-api", "helm/applications/plate-api", "back-end API"),
    InHouseApp("plate-llm", "helm/applications/plate-llm", "LLM serving"),
    InHouseApp("plate-cache", "helm/applications/plate-cache", "container build-cache storage"),
)

# What the child applications may create in their namespace; anything else is refused by Argo CD.
APP_NAMESPACED_KINDS = (
    ("", "ConfigMap"),
    ("", "PersistentVolumeClaim"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    # the app's environment and the Harbor pull secret, synced from OpenBao (helm/plate-common)
    ("external-secrets.io", "ExternalSecret"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("policy", "PodDisruptionBudget"),
    # the charts' optional ServiceMonitor (metrics.serviceMonitor.enabled)
    ("monitoring.coreos.com", "ServiceMonitor"),
)


def apps_namespace(cfg: PlatformConfig) -> str:
    return names.apps_namespace(cfg.environment)


def project_name(cfg: PlatformConfig) -> str:
    return names.apps_project(cfg.environment)


def bootstrap_project_name(cfg: PlatformConfig) -> str:
    return f"plate-{cfg.environment}-bootstrap"


def root_app_name(cfg: PlatformConfig) -> str:
    return f"plate-{cfg.environment}-apps"


def app_globals(cfg: PlatformConfig) -> dict[str, str]:
    """The environment facts every in-house chart reads as `.Values.global.*` (helm/plate-common).

    Computed from the stack file and handed to the charts in each child Application, so no
    values file repeats a domain, registry, issuer or class by hand.
    """
    names = ClusterNames.of(cfg)  # tier-1 names, also when another stack owns it
    # a stack that does not own dev_tools still pulls from the Harbor at its default host
    harbor = cfg.dev_tools.harbor if cfg.dev_tools is not None else HarborConfig()
    return {
        "environment": cfg.environment,
        "domain": cfg.domain,
        "registry": cfg.fqdn(harbor.host),
        "issuer": names.issuer,
        "ingressClass": names.ingress_class,
        "storageClass": names.storage_class,
        "secretStore": secret_store_name(cfg.environment),
    }


def app_values(cfg: PlatformConfig) -> dict[str, Any]:
    """The values every child Application hands its chart: the environment facts and, with an
    external ingress controller, the pods its NetworkPolicy admits instead of the charts'
    default (the platform's Traefik)."""
    out: dict[str, Any] = {"global": app_globals(cfg)}
    if cfg.ingress.controller == "external":
        out["networkPolicy"] = {"ingressFrom": [{
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": cfg.ingress.namespace}
            },
            "podSelector": {"matchLabels": dict(cfg.ingress.pod_labels)},
        }]}
    return out


def _sync_policy() -> dict[str, Any]:
    return {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true"],
    }


def apps_project_spec(cfg: PlatformConfig) -> dict[str, Any]:
    """AppProject of the plate applications: this repo only, into plate-<env> only."""
    return {
        "description": f"plate applications ({cfg.environment})",
        "sourceRepos": [cfg.gitops.repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": apps_namespace(cfg)}],
        # CreateNamespace=true needs Namespace; nothing else cluster-wide.
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
        "namespaceResourceWhitelist": [{"group": g, "kind": k} for g, k in APP_NAMESPACED_KINDS],
        # warn about what nobody deploys, except the NetworkPolicies the program itself creates in
        # plate-<env> (Applications tier): without this every child Application showed them as a
        # permanent orphaned-resource warning
        "orphanedResources": {"warn": True, "ignore": [
            {"group": "networking.k8s.io", "kind": "NetworkPolicy", "name": name}
            for name in program_policies(cfg)
        ]},
    }


def program_policies(cfg: PlatformConfig) -> list[str]:
    """The names of the NetworkPolicies the program creates in plate-<env>: the default deny and
    an allow policy per row of the platform's table into that namespace."""
    ns = apps_namespace(cfg)
    rows = catalog.allowances(cfg.gitops.argocd_namespace, cfg.environment)
    return sorted([DEFAULT_DENY, *(f"allow-{row.name}" for row in rows if row.namespace == ns)])


def bootstrap_project_spec(cfg: PlatformConfig) -> dict[str, Any]:
    """AppProject of the root app: it may only create Applications of the apps project.

    App-of-apps is admin-level: a child manifest can name any project, so the root's own project
    limits it to Application objects in Argo CD's namespace.
    """
    return {
        "description": f"app-of-apps root for plate ({cfg.environment})",
        "sourceRepos": [cfg.gitops.repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": cfg.gitops.argocd_namespace}],
        "clusterResourceWhitelist": [],
        "namespaceResourceWhitelist": [{"group": "argoproj.io", "kind": "Application"}],
    }


# Argo CD's own `default` AppProject, locked (Argo CD's project hardening): no source, no
# destination, every kind denied. Argo CD creates `default` when it is missing and lets any
# Application that names it (or no project) deploy anything anywhere; a child manifest in git
# could name it. Both blacklists as well as the empty lists: Argo CD reads an empty namespaced
# whitelist as "everything" (and older releases an empty cluster whitelist too), and the API
# server drops empty lists.
DEFAULT_PROJECT = "default"
LOCKED_DEFAULT_PROJECT_SPEC: dict[str, Any] = {
    "description": "locked by the platform: use the plate-<env> projects",
    "sourceRepos": [],
    "sourceNamespaces": [],
    "destinations": [],
    "clusterResourceWhitelist": [],
    "clusterResourceBlacklist": [{"group": "*", "kind": "*"}],
    "namespaceResourceBlacklist": [{"group": "*", "kind": "*"}],
}


def root_application_spec(cfg: PlatformConfig) -> dict[str, Any]:
    return {
        "project": bootstrap_project_name(cfg),
        "source": {
            "repoURL": cfg.gitops.repo_url,
            "targetRevision": cfg.gitops.target_revision,
            "path": cfg.apps_path,
            "directory": {"recurse": False, "include": "*.yaml"},
        },
        "destination": {"server": IN_CLUSTER, "namespace": cfg.gitops.argocd_namespace},
        "syncPolicy": _sync_policy(),
    }


def child_application(cfg: PlatformConfig, app: InHouseApp) -> dict[str, Any]:
    """The Argo CD Application of one in-house chart in one environment."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": f"{app.name}-{cfg.environment}",
            "namespace": cfg.gitops.argocd_namespace,
            "labels": {
                "app.kubernetes.io/part-of": "plate",
                "plate.dev/environment": cfg.environment,
            },
            "annotations": {"plate.dev/description": app.description},
            "finalizers": [RESOURCES_FINALIZER],
        },
        "spec": {
            "project": project_name(cfg),
            "source": {
                "repoURL": cfg.gitops.repo_url,
                # production stacks must pin a tag or commit (config model rule)
                "targetRevision": cfg.gitops.target_revision,
                "path": app.chart_path,
                "helm": {
                    "releaseName": app.name,
                    "valueFiles": ["values.yaml", f"values-{cfg.environment}.yaml"],
                    "valuesObject": app_values(cfg),
                },
            },
            "destination": {"server": IN_CLUSTER, "namespace": apps_namespace(cfg)},
            "syncPolicy": {
                **_sync_policy(),
                # the namespace Argo CD creates enforces Pod Security "restricted"
                "managedNamespaceMetadata": {
                    "labels": {
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/warn": "restricted",
                    }
                },
            },
        },
    }


GENERATED_HEADER = (
    "# Generated by `uv run python -m tooling.children --write` from Pulumi.{env}.yaml;\n"
    "# do not edit by hand (a test fails when this file differs from the generator's output).\n"
)


def child_manifests(cfg: PlatformConfig) -> dict[str, str]:
    """{path relative to the repo root: YAML text} of every child Application of `cfg`."""
    import yaml

    out = {}
    for app in IN_HOUSE_APPS:
        body = yaml.safe_dump(
            child_application(cfg, app), sort_keys=False, default_flow_style=False
        )
        header = GENERATED_HEADER.format(env=cfg.environment)
        out[f"{cfg.apps_path}/{app.name}.yaml"] = header + body
    return out
