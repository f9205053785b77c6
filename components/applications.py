"""Tier 3, applications: Argo CD AppProjects and the app-of-apps root Application.

The root Application is the last thing the stack creates: it waits for every tier-1 and tier-2
chart, because the child Applications it syncs need TLS issuers, storage, Harbor's images and
Argo CD itself. From then on Argo CD delivers the plate charts from git.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import gitops
from components.config import PlatformConfig, StackSecrets
from components.kube import object_name, protected


class Applications(pulumi.ComponentResource):
    """AppProjects `plate-<env>` and `plate-<env>-bootstrap`, Argo CD's `default` project locked,
    and the root `plate-<env>-apps`."""

    def __init__(
        self,
        name: str,
        cfg: PlatformConfig,
        secrets: StackSecrets,
        wait_for: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("plate:platform:Applications", name, None, opts)
        argocd_ns = cfg.gitops.argocd_namespace
        prod = cfg.production

        def critical(depends_on: Sequence[pulumi.Resource]) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)), protected(prod)
            )

        before_root: list[pulumi.Resource] = []
        token = secrets.get("gitops_repo_token")
        if token is not None:
            # Argo CD picks up repository credentials from Secrets with this label.
            before_root.append(
                k8s.core.v1.Secret(
                    "gitops-repo-credentials",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=f"plate-{cfg.environment}-repo",
                        namespace=argocd_ns,
                        labels={"argocd.argoproj.io/secret-type": "repository"},
                    ),
                    string_data={
                        "type": "git",
                        "url": cfg.gitops.repo_url,
                        "username": "git",
                        "password": token,
                    },
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(wait_for)),
                )
            )

        self.apps_project, self.bootstrap_project = (
            k8s.apiextensions.CustomResource(
                resource_name,
                api_version="argoproj.io/v1alpha1",
                kind="AppProject",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=project, namespace=argocd_ns),
                spec=spec,
                opts=critical(wait_for),
            )
            for resource_name, project, spec in (
                ("apps-project", gitops.project_name(cfg), gitops.apps_project_spec(cfg)),
                (
                    "bootstrap-project",
                    gitops.bootstrap_project_name(cfg),
                    gitops.bootstrap_project_spec(cfg),
                ),
            )
        )
        # Argo CD creates `default` at start-up (the chart's readiness, in `wait_for`, comes
        # after it): a server-side-apply patch takes its spec over, forced, since argocd-server
        # wrote those fields first.
        self.default_project = k8s.apiextensions.CustomResourcePatch(
            "default-project-locked",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=gitops.DEFAULT_PROJECT,
                namespace=argocd_ns,
                annotations={"pulumi.com/patchForce": "true"},
            ),
            spec=gitops.LOCKED_DEFAULT_PROJECT_SPEC,
            opts=critical(wait_for),
        )
        self.root_app = k8s.apiextensions.CustomResource(
            "root-app",
            api_version="argoproj.io/v1alpha1",
            kind="Application",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=gitops.root_app_name(cfg),
                namespace=argocd_ns,
                # deleting the root deletes the child Applications and, through their own
                # finalizers, the workloads; production protects it (see `protected`)
                finalizers=[gitops.RESOURCES_FINALIZER],
            ),
            spec=gitops.root_application_spec(cfg),
            opts=critical([
                *wait_for, self.apps_project, self.bootstrap_project, self.default_project,
                *before_root,
            ]),
        )
        self.register_outputs({"root_app": object_name(self.root_app)})
