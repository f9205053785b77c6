"""Tier 3, applications: Argo CD AppProjects, the apps' namespace with its network policies and
the internal CA's ConfigMap (the apps' SecretStores verify OpenBao with it), the ServiceAccounts
Argo CD syncs as (with their namespaced Roles), the namespace's admission policies, and last the
app-of-apps root Application.

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
from components.gitops import admission
from components.gitops import apps as gitops
from components.kube import namespace, network_policies, object_name, protected
from components.names import INTERNAL_CA_CONFIGMAP, INTERNAL_CA_KEY
from components.tools import catalog, kubectl


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
        internal_ca: pulumi.Input[str] | None = None,
    ):
        """`cfg` whole: the GitOps objects are the same pure functions of the stack's config as
        the committed child Applications (`tooling.children`); `repo_token`: the stack's
        `gitops_repo_token` (a private repository); `internal_ca`: the PEM of the CA that signed
        OpenBao's certificate (the apps' SecretStores verify OpenBao against it)."""
        super().__init__("plate:platform:Applications", name, None, opts)
        self._prod = cfg.production
        before_root = self._repository_credentials(cfg, repo_token, wait_for)
        before_root += self._apps_namespace(cfg)
        before_root.append(self._openbao_ca(cfg, internal_ca))
        # `kubectl` for people: developers restart pods and port-forward in plate-<env>
        # (components/tools/kubectl)
        self.people_bindings = kubectl.install_namespaced(
            cfg.identity, self.apps_namespace, gitops.apps_namespace(cfg),
            pulumi.ResourceOptions(parent=self),
        ) if cfg.identity is not None else []
        before_root += self._sync_identities(cfg, wait_for)
        before_root += self._admission(cfg)
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

    def _sync_identities(
        self, cfg: PlatformConfig, wait_for: Sequence[pulumi.Resource]
    ) -> list[pulumi.Resource]:
        """The ServiceAccounts Argo CD impersonates to sync (the AppProjects'
        destinationServiceAccounts), each with a Role in its own namespace only: `argocd-sync` in
        plate-<env> may manage the kinds the plate charts render, `plate-<env>-apps-sync` in Argo
        CD's namespace the child Applications. Nothing cluster-scoped, so a chart that renders
        anything else is refused by the API server even if Argo CD's project check let it by."""
        identities = (
            ("apps-sync", gitops.SYNC_SERVICE_ACCOUNT, self.apps_namespace.metadata.name,
             gitops.APP_NAMESPACED_KINDS, [self.apps_namespace]),
            ("root-sync", gitops.root_sync_service_account(cfg), cfg.gitops.argocd_namespace,
             gitops.ROOT_KINDS, list(wait_for)),
        )
        out: list[pulumi.Resource] = []
        for resource_name, name, ns, kinds, waits in identities:
            meta = k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns)
            opts = pulumi.ResourceOptions(parent=self, depends_on=waits)
            account = k8s.core.v1.ServiceAccount(
                resource_name, metadata=meta, automount_service_account_token=False, opts=opts
            )
            role = k8s.rbac.v1.Role(
                resource_name, metadata=meta, opts=opts,
                rules=[
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=rule["apiGroups"], resources=rule["resources"],
                        verbs=rule["verbs"],
                    )
                    for rule in gitops.sync_role_rules(kinds)
                ],
            )
            binding = k8s.rbac.v1.RoleBinding(
                resource_name,
                metadata=meta,
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="Role", name=name
                ),
                subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=name, namespace=ns)],
                opts=pulumi.ResourceOptions.merge(
                    opts, pulumi.ResourceOptions(depends_on=[account, role])
                ),
            )
            out += [account, role, binding]
        return out

    def _openbao_ca(
        self, cfg: PlatformConfig, internal_ca: pulumi.Input[str] | None
    ) -> k8s.core.v1.ConfigMap:
        """The internal CA as the ConfigMap the apps' SecretStores read (`global.openbao.
        caConfigMap`): a namespaced SecretStore reads a CA only from its own namespace."""
        if internal_ca is None:
            raise ValueError("tls.internal_ca is required without the cluster_services tier: "
                             "the config model checks it first")
        return k8s.core.v1.ConfigMap(
            f"{INTERNAL_CA_CONFIGMAP}-{gitops.apps_namespace(cfg)}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=INTERNAL_CA_CONFIGMAP, namespace=self.apps_namespace.metadata.name
            ),
            data={INTERNAL_CA_KEY: internal_ca},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.apps_namespace]),
        )

    def _admission(self, cfg: PlatformConfig) -> list[pulumi.Resource]:
        """What the API server refuses in plate-<env> whoever applies it
        (`components/gitops/admission.py`): monitors that reach past the app; stores,
        ExternalSecrets and workloads that use another app's identity or Secrets; Ingresses,
        NetworkPolicies, Services and pod labels that take another app's or the platform's
        hosts, policies or traffic."""
        out: list[pulumi.Resource] = []
        for resource_name, policy, binding in admission.policies(cfg.environment, cfg.domain):
            vap = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                resource_name, metadata=policy["metadata"], spec=policy["spec"],
                opts=pulumi.ResourceOptions(parent=self),
            )
            out += [vap, k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                resource_name, metadata=binding["metadata"], spec=binding["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[vap]),
            )]
        return out

    def _apps_namespace(self, cfg: PlatformConfig) -> list[pulumi.Resource]:
        """plate-<env>, owned here (the child Applications may not create it), with Pod Security
        `restricted`, ingress denied but for what the platform's table allows and egress denied
        but for the cluster DNS; each chart adds the policy of its own pods (the callers it
        admits, the calls it makes)."""
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
            catalog.network_policies(cfg.gitops.argocd_namespace, cfg.environment, [name], ingress),
            {name: self.apps_namespace},
            pulumi.ResourceOptions(parent=self),
        )
        return [self.apps_namespace, *policies]
