"""Argo CD objects of the GitOps tier, as pure functions of `PlatformConfig`.

The same functions feed the Pulumi program (AppProjects and the root app-of-apps Application)
and `python -m components.gitops` (the child Application manifests committed under
`environments/argocd/apps/<env>/`), so the program and the files in git cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.config import PlatformConfig

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
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("policy", "PodDisruptionBudget"),
)


def apps_namespace(cfg: PlatformConfig) -> str:
    return f"plate-{cfg.environment}"


def project_name(cfg: PlatformConfig) -> str:
    return f"plate-{cfg.environment}"


def bootstrap_project_name(cfg: PlatformConfig) -> str:
    return f"plate-{cfg.environment}-bootstrap"


def root_app_name(cfg: PlatformConfig) -> str:
    return f"plate-{cfg.environment}-apps"


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
        "orphanedResources": {"warn": True},
    }


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
