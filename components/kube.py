"""Building blocks shared by the tiers: namespaces, pinned Helm charts, production protection,
and the webhook gate that makes custom resources wait for an admission webhook that answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_kubernetes.helm.v4 import Chart, RepositoryOptsArgs

from components import versions

PodSecurity = Literal["privileged", "baseline", "restricted"]

# Chart children whose deletion takes data or every custom resource of a kind with it. In a
# production stack they are protected and retained (see `protect_stateful_children`).
STATEFUL_CHILD_TYPES = frozenset(
    {
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "kubernetes:core/v1:PersistentVolumeClaim",
    }
)


def resources(cpu: str, memory: str, memory_limit: str | None = None) -> dict[str, Any]:
    """Chart values for a container's resources: requests always; a memory limit (no CPU limit:
    throttling hurts more than it protects)."""
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"memory": memory_limit or memory},
    }


def protected(production: bool) -> pulumi.ResourceOptions:
    """Options for a stateful or critical resource: in production it cannot be deleted by a
    `pulumi up`/`destroy` (protect) and a deliberate removal from state leaves it running
    (retain_on_delete)."""
    if not production:
        return pulumi.ResourceOptions()
    return pulumi.ResourceOptions(protect=True, retain_on_delete=True)


def protect_stateful_children(
    args: pulumi.ResourceTransformArgs,
) -> pulumi.ResourceTransformResult | None:
    """Resource transform for production charts: protect and retain CRDs and PVCs the chart renders.

    Applied through `transforms`, which the engine also runs on the children a v4 Chart (a remote
    component) registers; protecting only the Chart would not stop its children being deleted.
    Other children stay unprotected on purpose, so an upgrade that drops a RoleBinding still works.
    """
    if args.type_ not in STATEFUL_CHILD_TYPES:
        return None
    return pulumi.ResourceTransformResult(
        props=args.props,
        opts=pulumi.ResourceOptions.merge(
            args.opts, pulumi.ResourceOptions(protect=True, retain_on_delete=True)
        ),
    )


def namespace(
    name: str,
    pod_security: PodSecurity,
    opts: pulumi.ResourceOptions,
    *,
    production: bool,
) -> k8s.core.v1.Namespace:
    """A namespace with its Pod Security level enforced (and warned/audited at the same level)."""
    labels: dict[str, str] = {
        f"pod-security.kubernetes.io/{mode}": pod_security for mode in ("enforce", "warn", "audit")
    }
    labels["app.kubernetes.io/managed-by"] = "pulumi"
    return k8s.core.v1.Namespace(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=labels),
        opts=pulumi.ResourceOptions.merge(opts, protected(production)),
    )


def helm_chart(
    name: str,
    pin: versions.ChartPin,
    ns: k8s.core.v1.Namespace,
    values: pulumi.Input[dict[str, Any]],
    opts: pulumi.ResourceOptions,
    *,
    production: bool,
    depends_on: Sequence[pulumi.Resource] = (),
) -> Chart:
    """A third-party chart at its pinned version, rendered by `kubernetes.helm.sh/v4.Chart`.

    v4 gives one Pulumi resource per rendered object: previews and stack history show per-object
    diffs and policy packs see each object. It does not run Helm hooks; each tier compensates for
    the hooks that matter (see the tier modules).
    """
    chart_opts = pulumi.ResourceOptions(depends_on=[ns, *depends_on])
    if production:
        chart_opts = pulumi.ResourceOptions.merge(
            chart_opts,
            pulumi.ResourceOptions(protect=True, transforms=[protect_stateful_children]),
        )
    return Chart(
        name,
        chart=pin.chart,
        version=pin.version,
        repository_opts=RepositoryOptsArgs(repo=pin.repo),
        namespace=ns.metadata.name,
        values=values,
        opts=pulumi.ResourceOptions.merge(opts, chart_opts),
    )


def network_policies(
    policies: Sequence[dict[str, Any]],
    namespaces: Mapping[str, k8s.core.v1.Namespace],
    opts: pulumi.ResourceOptions,
) -> list[k8s.networking.v1.NetworkPolicy]:
    """The NetworkPolicy objects of components/netpol.py, each after its namespace, as
    resources named `<namespace>-<policy>`."""
    out = []
    for policy in policies:
        metadata = policy["metadata"]
        ns = namespaces[metadata["namespace"]]
        out.append(
            k8s.networking.v1.NetworkPolicy(
                f"{metadata['namespace']}-{metadata['name']}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=metadata["name"],
                    namespace=ns.metadata.name,
                    labels=metadata.get("labels"),
                    annotations=metadata.get("annotations"),
                ),
                spec=policy["spec"],
                opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ns])),
            )
        )
    return out


@dataclass(frozen=True)
class TierKit:
    """What every tool method of a tier shares: the tier as parent, the production flag and the
    chart pins (with the stack's overrides). One place for "namespace + pinned chart + waits"."""

    opts: pulumi.ResourceOptions  # parent=<the tier component>, and the provider
    production: bool
    pin: Callable[[str], versions.ChartPin]

    @staticmethod
    def of(production: bool, pin: Callable[[str], versions.ChartPin]) -> TierKit:
        return TierKit(pulumi.ResourceOptions(), production, pin)

    def under(self, parent: pulumi.Resource) -> TierKit:
        """The same kit for the children of `parent` (a tier or a sub-component)."""
        return dataclasses.replace(self, opts=pulumi.ResourceOptions(parent=parent))

    def namespace(self, name: str, pod_security: PodSecurity) -> k8s.core.v1.Namespace:
        return namespace(name, pod_security, self.opts, production=self.production)

    def chart(
        self,
        chart: str,
        ns: k8s.core.v1.Namespace,
        values: pulumi.Input[dict[str, Any]],
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> Chart:
        """The pinned chart `chart`, as a resource of the same name, in `ns`."""
        return helm_chart(
            chart, self.pin(chart), ns, values, self.opts,
            production=self.production, depends_on=depends_on,
        )

    def tool(
        self,
        chart: str,
        namespace_name: str,
        pod_security: PodSecurity,
        values: pulumi.Input[dict[str, Any]],
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> tuple[k8s.core.v1.Namespace, Chart]:
        """A namespace and the chart in it, when nothing else must exist in between."""
        ns = self.namespace(namespace_name, pod_security)
        return ns, self.chart(chart, ns, values, depends_on)

    def gate(
        self, name: str, ns: k8s.core.v1.Namespace, probe: tuple[str, str, dict[str, Any]],
        chart: Chart,
    ) -> WebhookGate:
        """A WebhookGate after `chart`; `probe` is (apiVersion, kind, spec) of the object to
        dry-run."""
        return WebhookGate(name, ns, *probe, [chart], self.opts)

    def custom_resource(
        self,
        name: str,
        api_version: str,
        kind: str,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        spec: pulumi.Input[Any],
        depends_on: Sequence[pulumi.Resource],
    ) -> k8s.apiextensions.CustomResource:
        """A custom resource of the tier that waits for `depends_on` (its CRD's chart, a
        webhook gate, what it refers to)."""
        return k8s.apiextensions.CustomResource(
            name, api_version=api_version, kind=kind, metadata=metadata, spec=spec,
            opts=pulumi.ResourceOptions.merge(
                self.opts, pulumi.ResourceOptions(depends_on=list(depends_on))
            ),
        )

    def child(
        self, depends_on: Sequence[pulumi.Resource] = (), *, protect: bool = False
    ) -> pulumi.ResourceOptions:
        """Options of a resource of the tier that waits for `depends_on`; `protect`: protected
        and retained in production (see `protected`)."""
        opts = pulumi.ResourceOptions.merge(
            self.opts, pulumi.ResourceOptions(depends_on=list(depends_on))
        )
        return pulumi.ResourceOptions.merge(opts, protected(self.production)) if protect else opts

    def password(self, name: str, length: int) -> random.RandomPassword:
        """A generated password (letters and digits), kept in state as a secret."""
        return random.RandomPassword(name, length=length, special=False, opts=self.opts)

    def service_account(self, name: str, ns: k8s.core.v1.Namespace) -> k8s.core.v1.ServiceAccount:
        return k8s.core.v1.ServiceAccount(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns.metadata.name),
            opts=self.opts,
        )

    def secret(
        self, name: str, ns: k8s.core.v1.Namespace, data: Mapping[str, pulumi.Input[str]]
    ) -> k8s.core.v1.Secret:
        """A Secret `name` (resource and object) in `ns`, from Pulumi secrets."""
        return k8s.core.v1.Secret(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns.metadata.name),
            string_data=dict(data),
            opts=self.opts,
        )


def checkov_skips(*skips: tuple[str, str]) -> dict[str, str]:
    """Annotations that suppress checkov findings on the object that carries them, each with its
    reason (`checkov.io/skip<N>: <check id>=<reason>`; checkov splits at `=`, so a reason has
    none). tests/engines/test_checkov.py expects every other check to pass.
    Ref: bridgecrewio/checkov 3.3.30 checkov/kubernetes/kubernetes_utils.py (get_skipped_checks)."""
    for check, reason in skips:
        if "=" in reason:
            raise ValueError(f"{check}: a checkov reason cannot contain '='")
    return {f"checkov.io/skip{n}": f"{check}={reason}" for n, (check, reason) in
            enumerate(skips, 1)}


# checkov findings every run-to-end pod of the program has, and why they stay
TAG_PINNED = (
    "CKV_K8S_43",
    "pinned to an exact release tag in components/versions.py (Renovate); no digest is resolved "
    "where the program is built",
)
PULL_IF_NOT_PRESENT = (
    "CKV_K8S_15",
    "the exact tag never changes; Always would make every start depend on the public registry",
)
USES_TOKEN = (
    "CKV_K8S_38",
    "uses its ServiceAccount token (the Kubernetes API or OpenBao's Kubernetes login)",
)
PROGRAM_POD_SKIPS = (TAG_PINNED, PULL_IF_NOT_PRESENT, USES_TOKEN)
"""checkov skips of the object (Job, CronJob) around a `restricted_pod` (`checkov_skips`)."""
NO_CPU_LIMIT = (
    "CKV_K8S_11",
    "no CPU limit on a service: a limit throttles a busy pod even on an idle node (CFS quota); "
    "CPU is requested and memory limited (`resources`)",
)
SERVICE_POD_SKIPS = (TAG_PINNED, PULL_IF_NOT_PRESENT, NO_CPU_LIMIT)
"""checkov skips of a long-running workload the program writes itself (a Deployment of a tool
without a chart), besides `USES_TOKEN` when it talks to the API."""

# a run-to-end pod's resources: a CPU limit too, since a Job's latency does not matter and a
# runaway one must not take a node's CPU from the services
RUN_TO_END_RESOURCES = k8s.core.v1.ResourceRequirementsArgs(
    requests={"cpu": "10m", "memory": "32Mi"},
    limits={"cpu": "500m", "memory": "128Mi"},
)

RESTRICTED_CONTAINER = k8s.core.v1.SecurityContextArgs(
    allow_privilege_escalation=False,
    read_only_root_filesystem=True,
    run_as_non_root=True,
    run_as_user=65532,
    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
)


def bind_role(
    resource: str,
    name: str,
    role: tuple[Literal["Role", "ClusterRole"], pulumi.Input[str]],
    subjects: Sequence[k8s.rbac.v1.SubjectArgs],
    opts: pulumi.ResourceOptions,
    *,
    namespace: pulumi.Input[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> k8s.rbac.v1.RoleBinding | k8s.rbac.v1.ClusterRoleBinding:
    """`role` (kind, name) bound to `subjects`: a RoleBinding in `namespace`, or a
    ClusterRoleBinding without one."""
    kind, role_name = role
    metadata = k8s.meta.v1.ObjectMetaArgs(
        name=name, namespace=namespace, labels=dict(labels) if labels else None
    )
    role_ref = k8s.rbac.v1.RoleRefArgs(
        api_group="rbac.authorization.k8s.io", kind=kind, name=role_name
    )
    if namespace is None:
        return k8s.rbac.v1.ClusterRoleBinding(
            resource, metadata=metadata, role_ref=role_ref, subjects=list(subjects), opts=opts
        )
    return k8s.rbac.v1.RoleBinding(
        resource, metadata=metadata, role_ref=role_ref, subjects=list(subjects), opts=opts
    )


def as_secret(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """`value` marked secret (typed: `Output.secret`'s own signature loses the type)."""
    secret: pulumi.Output[str] = pulumi.Output.secret(value)
    return secret


def object_name(resource: k8s.apiextensions.CustomResource) -> pulumi.Output[str]:
    """`metadata.name` of a custom resource, as an Output (a data edge for whoever uses it).

    The SDK sets a CustomResource's outputs at run time without declaring them, hence getattr.
    """
    return getattr(resource, "metadata")["name"]


class WebhookGate(pulumi.ComponentResource):
    """A Job that succeeds once an admission webhook accepts a server-side dry run of `probe`.

    A webhook Deployment can be Ready before its serving certificate is injected into the
    webhook configuration; custom resources created in that window fail with "failed calling
    webhook" and the whole `pulumi up` stops. The chart's own check (cert-manager's
    `startupapicheck`) is a Helm hook that v4 Charts skip, so this gate replaces it for every
    webhook we depend on. Pulumi waits for the Job to complete; resources that depend on the gate
    are created only after the webhook has answered a real request.
    """

    def __init__(
        self,
        name: str,
        ns: k8s.core.v1.Namespace,
        probe_api_version: str,
        probe_kind: str,
        probe_spec: dict[str, Any],
        wait_for: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions,
    ):
        super().__init__(
            "plate:platform:WebhookGate",
            name,
            None,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(wait_for))),
        )
        namespace = ns.metadata.name
        probe = {
            "apiVersion": probe_api_version,
            "kind": probe_kind,
            "metadata": {"name": "webhook-gate-probe", "namespace": namespace},
            "spec": probe_spec,
        }
        account, binding = self._may_create(name, namespace, probe_api_version, probe_kind)
        probe_cm = k8s.core.v1.ConfigMap(
            f"{name}-probe",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace),
            data={"probe.json": pulumi.Output.json_dumps(probe)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.job = self._job(name, namespace, account, probe_cm, [binding, probe_cm, *wait_for])
        self.register_outputs({"job": self.job.metadata.name})

    def _may_create(
        self, name: str, namespace: pulumi.Input[str], api_version: str, kind: str
    ) -> tuple[k8s.core.v1.ServiceAccount, k8s.rbac.v1.RoleBinding]:
        """A ServiceAccount that may create (dry-run) objects of the probe's kind, nothing more."""
        child = pulumi.ResourceOptions(parent=self)
        meta = k8s.meta.v1.ObjectMetaArgs(namespace=namespace)
        api_group = api_version.split("/")[0]
        plural = kind.lower() + "s"
        account = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta, opts=child)
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            metadata=meta,
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[api_group], resources=[plural], verbs=["create"]
                )
            ],
            opts=child,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=meta,
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount", name=account.metadata.name, namespace=namespace
                )
            ],
            opts=child,
        )
        return account, binding

    def _job(
        self,
        name: str,
        namespace: pulumi.Input[str],
        account: k8s.core.v1.ServiceAccount,
        probe_cm: k8s.core.v1.ConfigMap,
        wait_for: list[pulumi.Resource],
    ) -> k8s.batch.v1.Job:
        """The Job that dry-runs the probe until the webhook answers."""
        return restricted_job(
            name, namespace, account,
            container_name="dry-run",
            image=versions.KUBECTL_IMAGE,
            args=["create", "--dry-run=server", "-f", "/probe/probe.json"],
            env=[k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],
            volumes=[
                ("/probe", k8s.core.v1.VolumeArgs(
                    name="probe",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=probe_cm.metadata.name),
                )),
                ("/tmp", k8s.core.v1.VolumeArgs(
                    name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
                )),
            ],
            # ~15 minutes of retries with the Job controller's exponential back-off.
            backoff_limit=8,
            active_deadline_seconds=900,
            opts=pulumi.ResourceOptions(
                parent=self,
                # on the Job itself: children do not inherit the component's depends_on
                depends_on=wait_for,
                custom_timeouts=pulumi.CustomTimeouts(create="16m", update="16m"),
            ),
        )


RESTRICTED_POD = k8s.core.v1.PodSecurityContextArgs(
    run_as_non_root=True,
    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
)
"""The pod-level half of the restricted Pod Security level (RESTRICTED_CONTAINER is the other)."""


def service_pod(
    account: k8s.core.v1.ServiceAccount,
    labels: Mapping[str, str],
    containers: Sequence[k8s.core.v1.ContainerArgs],
    **spec: Any,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """A long-running pod (a Deployment's) as `account` under the restricted Pod Security level,
    labelled `labels`; `spec` adds PodSpec fields (volumes, affinity, ...)."""
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels)),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=account.metadata.name,
            security_context=RESTRICTED_POD,
            containers=list(containers),
            **spec,
        ),
    )


def restricted_pod(
    account: k8s.core.v1.ServiceAccount,
    *,
    container_name: str,
    image: str,
    volumes: Sequence[tuple[str, k8s.core.v1.VolumeArgs]],
    args: list[str] | None = None,
    command: list[str] | None = None,
    env: Sequence[k8s.core.v1.EnvVarArgs] = (),
    pod_labels: Mapping[str, str] | None = None,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """A one-container pod as `account` under the restricted Pod Security level, run to its end
    (a Job's or CronJob's); `volumes` are (mount path, volume); `pod_labels` let network policies
    admit it."""
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(pod_labels)) if pod_labels else None,
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=account.metadata.name,
            restart_policy="Never",
            security_context=RESTRICTED_POD,
            containers=[
                k8s.core.v1.ContainerArgs(
                    name=container_name,
                    image=image,
                    args=args,
                    command=command,
                    env=list(env),
                    security_context=RESTRICTED_CONTAINER,
                    image_pull_policy="IfNotPresent",
                    resources=RUN_TO_END_RESOURCES,
                    volume_mounts=[
                        k8s.core.v1.VolumeMountArgs(name=volume.name, mount_path=path)
                        for path, volume in volumes
                    ],
                )
            ],
            volumes=[volume for _, volume in volumes],
        ),
    )


def restricted_job(
    name: str,
    namespace: pulumi.Input[str],
    account: k8s.core.v1.ServiceAccount,
    *,
    container_name: str,
    image: str,
    volumes: Sequence[tuple[str, k8s.core.v1.VolumeArgs]],
    backoff_limit: int,
    active_deadline_seconds: int,
    opts: pulumi.ResourceOptions,
    args: list[str] | None = None,
    command: list[str] | None = None,
    env: Sequence[k8s.core.v1.EnvVarArgs] = (),
    pod_labels: Mapping[str, str] | None = None,
    skips: Sequence[tuple[str, str]] = (),
) -> k8s.batch.v1.Job:
    """A Job of one `restricted_pod`. Pulumi waits for it to complete. `skips`: checkov
    findings it accepts besides `PROGRAM_POD_SKIPS`, with their reasons."""
    return k8s.batch.v1.Job(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=namespace, annotations=checkov_skips(*PROGRAM_POD_SKIPS, *skips)
        ),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=backoff_limit,
            active_deadline_seconds=active_deadline_seconds,
            template=restricted_pod(
                account, container_name=container_name, image=image, volumes=volumes,
                args=args, command=command, env=env, pod_labels=pod_labels,
            ),
        ),
        opts=opts,
    )


def script_volume(script: k8s.core.v1.ConfigMap) -> k8s.core.v1.VolumeArgs:
    """The volume `script` (a ConfigMap of scripts) that run-once Jobs mount at /script."""
    return k8s.core.v1.VolumeArgs(
        name="script",
        config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=script.metadata.name),
    )


def run_once_job(
    name: str,
    ns: k8s.core.v1.Namespace,
    account: k8s.core.v1.ServiceAccount,
    script: k8s.core.v1.ConfigMap,
    command: list[str],
    env: Sequence[k8s.core.v1.EnvVarArgs],
    opts: pulumi.ResourceOptions,
    pod_labels: Mapping[str, str] | None = None,
    volumes: Sequence[tuple[str, k8s.core.v1.VolumeArgs]] = (),
    skips: Sequence[tuple[str, str]] = (),
) -> k8s.batch.v1.Job:
    """A Job running `command` over a script from `script` (mounted at /script) in the pinned
    Python image, with `volumes` (mount path, volume) besides. A change to its spec replaces it,
    i.e. runs it again."""
    return restricted_job(
        name, ns.metadata.name, account,
        container_name=name,
        image=versions.PYTHON_IMAGE,
        command=command,
        env=env,
        volumes=[("/script", script_volume(script)), *volumes],
        backoff_limit=4,
        active_deadline_seconds=1200,
        pod_labels=pod_labels,
        skips=skips,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="21m"))
        ),
    )
