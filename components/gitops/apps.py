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
from components.names import (
    APPS_MOUNT,
    INTERNAL_CA_CONFIGMAP,
    OPENBAO_ADDRESS,
    app_secret_role,
)
from components.tools import catalog, kubectl
from components.tools.openbao.server import KUBERNETES_AUTH_PATH

IN_CLUSTER = "https://kubernetes.default.svc"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"


@dataclass(frozen=True)
class InHouseApp:
    name: str  # Argo CD Application name prefix and chart directory name
    chart_path: str  # chart directory, relative to the repository root
    description: str
    # the host label of its Ingress (`ingress.host` in the chart's values.yaml; a test checks
    # they agree): the apps' admission policy lets the app's Ingress serve `<host>.<domain>`
    # only, and an app without one no Ingress at all (components/gitops/admission.py)
    host: str | None = None


IN_HOUSE_APPS = (
    InHouseApp("plate-web", "helm/applications/plate-web", "front end", host="app"),
    InHouseApp("plate-api", "helm/applications/plate-api", "back-end API", host="api"),
    InHouseApp("plate-llm", "helm/applications/plate-llm", "LLM serving"),
    InHouseApp("plate-cache", "helm/applications/plate-cache", "container build-cache storage"),
)

# What the child applications may create in their namespace, as (API group, kind, resource):
# exactly the kinds the plate charts render with every option on (a test renders them and
# compares). The AppProject whitelists the kinds and the sync identity's Role grants the
# resources (Argo CD syncs as that identity: `sync_role_rules`); anything else is refused twice.
APP_NAMESPACED_KINDS = (
    ("", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("", "Service", "services"),
    ("", "ServiceAccount", "serviceaccounts"),
    ("apps", "Deployment", "deployments"),
    ("apps", "StatefulSet", "statefulsets"),
    ("autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    # the app's environment and the Harbor pull secret, synced from OpenBao through the app's
    # own store (helm/plate-common)
    ("external-secrets.io", "ExternalSecret", "externalsecrets"),
    ("external-secrets.io", "SecretStore", "secretstores"),
    ("networking.k8s.io", "Ingress", "ingresses"),
    ("networking.k8s.io", "NetworkPolicy", "networkpolicies"),
    ("policy", "PodDisruptionBudget", "poddisruptionbudgets"),
    # the charts' optional ServiceMonitor (metrics.serviceMonitor.enabled)
    ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
)

# The ServiceAccount in plate-<env> that Argo CD impersonates to sync the child Applications
# (Argo CD "sync impersonation", application.sync.impersonation.enabled in argocd-cm): the API
# server, not only Argo CD's project check, then refuses whatever its Role does not grant.
SYNC_SERVICE_ACCOUNT = "argocd-sync"
# what a sync does to an object: read and watch it, apply it (server-side dry run included:
# a dry-run create or patch needs the same verb), prune it
SYNC_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def apps_namespace(cfg: PlatformConfig) -> str:
    return names.apps_namespace(cfg.environment)


def project_name(cfg: PlatformConfig) -> str:
    return names.apps_project(cfg.environment)


def bootstrap_project_name(cfg: PlatformConfig) -> str:
    return f"plate-{cfg.environment}-bootstrap"


def root_app_name(cfg: PlatformConfig) -> str:
    return f"plate-{cfg.environment}-apps"


def app_globals(cfg: PlatformConfig) -> dict[str, Any]:
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
        # each app's own SecretStore reaches OpenBao here, over TLS from the internal CA (the
        # ConfigMap the applications tier creates in plate-<env>)
        "openbao": {
            "address": OPENBAO_ADDRESS,
            "mount": APPS_MOUNT,
            "authMount": KUBERNETES_AUTH_PATH,
            "caConfigMap": INTERNAL_CA_CONFIGMAP,
        },
    }


def app_values(cfg: PlatformConfig, app: InHouseApp) -> dict[str, Any]:
    """The values a child Application hands its chart: the environment facts, the app's own
    OpenBao role (it reads only the app's own secret paths) and, with an external ingress
    controller, the pods its NetworkPolicy admits instead of the charts' default (the
    platform's Traefik)."""
    out: dict[str, Any] = {
        "global": app_globals(cfg),
        "externalSecrets": {"openbaoRole": app_secret_role(cfg.environment, app.name)},
    }
    if cfg.ingress.controller == "external":
        out["networkPolicy"] = {"ingressFrom": [{
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": cfg.ingress.namespace}
            },
            "podSelector": {"matchLabels": dict(cfg.ingress.pod_labels)},
        }]}
    return out


def root_sync_service_account(cfg: PlatformConfig) -> str:
    """The ServiceAccount in Argo CD's namespace that syncs the root app (impersonation is on for
    every Application once enabled, the root included)."""
    return f"{root_app_name(cfg)}-sync"


# No CreateNamespace: the program creates plate-<env> (Applications tier), and with it Argo CD
# would first read the Namespace, a cluster-scoped object the sync identities may not touch
# (`namespace auto creation failed`).
# Ref: argoproj/argo-cd v3.4.4 gitops-engine/pkg/sync/sync_context.go (the namespace task of
# WithNamespaceModifier gets the Namespace with the sync's, i.e. the impersonated, config)
def _sync_policy() -> dict[str, Any]:
    return {"automated": {"prune": True, "selfHeal": True}}


def sync_role_rules(kinds: tuple[tuple[str, str, str], ...]) -> list[dict[str, Any]]:
    """RBAC rules granting SYNC_VERBS on exactly `kinds` (group, kind, resource), one rule per
    API group."""
    groups: dict[str, list[str]] = {}
    for group, _, resource in kinds:
        groups.setdefault(group, []).append(resource)
    return [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": list(SYNC_VERBS)}
        for group, resources in sorted(groups.items())
    ]


def program_objects(cfg: PlatformConfig) -> list[tuple[str, str, str]]:
    """(group, kind, name) of what the program itself creates in plate-<env>: the internal CA's
    ConfigMap, the sync identity and its Role and RoleBinding, the people's RoleBindings
    (components/tools/kubectl), and the NetworkPolicies (the default denies and an allow policy
    per row of the platform's tables into that namespace)."""
    ns = apps_namespace(cfg)
    policies = sorted(p["metadata"]["name"] for p in catalog.network_policies(
        cfg.gitops.argocd_namespace, cfg.environment, [ns]
    ))
    rbac = "rbac.authorization.k8s.io"
    people = kubectl.namespace_bindings(cfg.identity, ns) if cfg.identity is not None else []
    return [
        ("", "ConfigMap", INTERNAL_CA_CONFIGMAP),
        ("", "ServiceAccount", SYNC_SERVICE_ACCOUNT),
        (rbac, "Role", SYNC_SERVICE_ACCOUNT),
        *((rbac, "Role", binding["roleRef"]["name"]) for binding in people),
        (rbac, "RoleBinding", SYNC_SERVICE_ACCOUNT),
        *((rbac, "RoleBinding", binding["metadata"]["name"]) for binding in people),
        *(("networking.k8s.io", "NetworkPolicy", name) for name in policies),
    ]


def apps_project_spec(cfg: PlatformConfig) -> dict[str, Any]:
    """AppProject of the plate applications: this repo only, into plate-<env> only, the kinds
    the charts render only, synced as `argocd-sync` of plate-<env>.

    No cluster-scoped kind at all: Argo CD checks only the destination of namespaced objects, so
    a whitelisted Namespace (what CreateNamespace needed) let an app chart relabel plate-<env>
    `privileged`. The namespace is the program's (Pod Security `restricted`).
    """
    ns = apps_namespace(cfg)
    return {
        "description": f"plate applications ({cfg.environment})",
        "sourceRepos": [cfg.gitops.repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": ns}],
        "destinationServiceAccounts": [
            {"server": IN_CLUSTER, "namespace": ns, "defaultServiceAccount": SYNC_SERVICE_ACCOUNT}
        ],
        # the blacklist too: the API server drops the empty list, which older Argo CD releases
        # read as "every kind" (see LOCKED_DEFAULT_PROJECT_SPEC)
        "clusterResourceWhitelist": [],
        "clusterResourceBlacklist": [{"group": "*", "kind": "*"}],
        "namespaceResourceWhitelist": [
            {"group": g, "kind": k} for g, k, _ in APP_NAMESPACED_KINDS
        ],
        # warn about what nobody deploys, except what the program itself creates in plate-<env>
        # (Applications tier): without this every child Application showed them as a permanent
        # orphaned-resource warning
        "orphanedResources": {"warn": True, "ignore": [
            {"group": group, "kind": kind, "name": name}
            for group, kind, name in program_objects(cfg)
        ]},
    }


# what the root app may create (and its sync identity's Role grants): the child Applications
ROOT_KINDS = (("argoproj.io", "Application", "applications"),)


def bootstrap_project_spec(cfg: PlatformConfig) -> dict[str, Any]:
    """AppProject of the root app: it may only create Applications of the apps project.

    App-of-apps is admin-level: a child manifest can name any project, so the root's own project
    limits it to Application objects in Argo CD's namespace.
    """
    return {
        "description": f"app-of-apps root for plate ({cfg.environment})",
        "sourceRepos": [cfg.gitops.repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": cfg.gitops.argocd_namespace}],
        "destinationServiceAccounts": [{
            "server": IN_CLUSTER,
            "namespace": cfg.gitops.argocd_namespace,
            "defaultServiceAccount": root_sync_service_account(cfg),
        }],
        "clusterResourceWhitelist": [],
        "clusterResourceBlacklist": [{"group": "*", "kind": "*"}],
        "namespaceResourceWhitelist": [{"group": g, "kind": k} for g, k, _ in ROOT_KINDS],
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
                    "valuesObject": app_values(cfg, app),
                },
            },
            "destination": {"server": IN_CLUSTER, "namespace": apps_namespace(cfg)},
            "syncPolicy": _sync_policy(),
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
