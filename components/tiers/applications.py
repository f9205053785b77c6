"""Tier 3, applications: Argo CD AppProjects and the app-of-apps root Application.

The root Application is the last thing the stack creates: it waits for every tier-1 and tier-2
chart, because the child Applications it syncs need TLS issuers, storage, Harbor's images and
Argo CD itself. From then on Argo CD delivers the plate charts from git.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import netpol
from components.config import PlatformConfig
from components.gitops import apps as gitops
from components.kube import namespace, network_policies, object_name, protected
from components.tools import catalog


class Applications(pulumi.ComponentResource):
    """AppProjects `plate-<env>` and `plate-<env>-bootstrap`, Argo CD's `default` project locked,
    and the root `plate-<env>-apps`."""

    def __init__(
        self,
        name: str,
        cfg: PlatformConfig,
        repo_token: pulumi.Output[str] | None,
        wait_for: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`cfg` whole: the GitOps objects are the same pure functions of the stack's config as
        the committed child Applications (`tooling.children`); `repo_token`: the stack's
        `gitops_repo_token` (a private repository)."""
        super().__init__("plate:platform:Applications", name, None, opts)
        self._prod = cfg.production
        before_root = self._repository_credentials(cfg, repo_token, wait_for)
        before_root += self._apps_namespace(cfg)
        self._projects(cfg, wait_for)
        self.root_app = k8s.apiextensions.CustomResource(
            "root-app",
            api_version="argoproj.io/v1alpha1",
            kind="Application",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=gitops.root_app_name(cfg),
                namespace=cfg.gitops.argocd_namespace,
                # deleting the root deletes the child Applications and, through their own
                # finalizers, the workloads; production protects it (see `protected`)
                finalizers=[gitops.RESOURCES_FINALIZER],
            ),
            spec=gitops.root_application_spec(cfg),
            opts=self._critical([
                *wait_for, self.apps_project, self.bootstrap_project, self.default_project,
                *before_root,
            ]),
        )
        self.register_outputs({"root_app": object_name(self.root_app)})

    def _critical(self, depends_on: Sequence[pulumi.Resource]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            protected(self._prod),
        )

    def _repository_credentials(
        self,
        cfg: PlatformConfig,
        token: pulumi.Output[str] | None,
        wait_for: Sequence[pulumi.Resource],
    ) -> list[pulumi.Resource]:
        """The GitOps repository's token, when the stack has one (a private repository)."""
        if token is None:
            return []
        # Argo CD picks up repository credentials from Secrets with this label.
        return [
            k8s.core.v1.Secret(
                "gitops-repo-credentials",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"plate-{cfg.environment}-repo",
                    namespace=cfg.gitops.argocd_namespace,
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
        ]

    def _projects(self, cfg: PlatformConfig, wait_for: Sequence[pulumi.Resource]) -> None:
        """The apps and bootstrap AppProjects, and Argo CD's `default` project locked."""
        argocd_ns = cfg.gitops.argocd_namespace
        self.apps_project, self.bootstrap_project = (
            k8s.apiextensions.CustomResource(
                resource_name,
                api_version="argoproj.io/v1alpha1",
                kind="AppProject",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=project, namespace=argocd_ns),
                spec=spec,
                opts=self._critical(wait_for),
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
            opts=self._critical(wait_for),
        )

    def _apps_namespace(self, cfg: PlatformConfig) -> list[pulumi.Resource]:
        """plate-<env>, owned here (the children's CreateNamespace finds it), with Pod Security
        `restricted` and ingress denied but for what the platform's table allows; each chart
        adds the policy of its own pods."""
        name = gitops.apps_namespace(cfg)
        # Argo CD created plate-<env> (CreateNamespace) in environments older than this code:
        # this one resource is created through a provider that adopts an existing object
        # (pulumi-kubernetes 4.29+ refuses to create what exists); everything else keeps the
        # default, which errors rather than take over an object by accident
        adopter = k8s.Provider(
            "apps-namespace-adopter",
            context=cfg.cluster.kube_context,
            upsert_existing_objects=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # retained in every environment: a deleted namespace takes the apps' volumes with it,
        # and the provider or the tier may change (a rebuild drops the tier for a while)
        self.apps_namespace = namespace(
            name, "restricted",
            pulumi.ResourceOptions(parent=self, provider=adopter, retain_on_delete=True),
            production=self._prod,
        )
        ingress = netpol.Peer(cfg.ingress.namespace, cfg.ingress.pod_labels)
        policies = network_policies(
            netpol.network_policies(
                catalog.allowances(cfg.gitops.argocd_namespace, cfg.environment, ingress), [name]
            ),
            {name: self.apps_namespace},
            pulumi.ResourceOptions(parent=self),
        )
        return [self.apps_namespace, *policies]
