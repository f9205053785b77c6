"""metrics-server (tier 1, with `cluster.metrics_server: platform`): the resource metrics API
(`metrics.k8s.io`) that every HorizontalPodAutoscaler with a Resource metric reads, and `kubectl
top`. Without it the apps' HPAs never scale (they report `FailedGetResourceMetric`).

Objects, not a chart: the metrics-server chart is not among the artefacts the offline render and
its checks can read, so the program writes upstream's own manifests (docs/deviations.md).
Ref: kubernetes-sigs/metrics-server v0.9.0 manifests/base/{rbac,service,deployment,apiservice}.yaml
(`k8s-app: metrics-server` from manifests/base/kustomization.yaml, the image from
manifests/components/release, two replicas with a PodDisruptionBudget from
manifests/components/high-availability). Departures, each for the house rules: its own namespace
`metrics-server` with restricted Pod Security and network policies (upstream uses kube-system),
requests and a memory limit, the pod-level seccomp profile, UID 65532 (a high one, the house's
`RESTRICTED_CONTAINER`) instead of 1000: the server writes only its certificate to /tmp.

Its serving certificate comes from the internal CA (`plate-internal-ca`), whose PEM the
APIService pins as `caBundle`: the API server verifies every metrics response instead of
upstream's `insecureSkipTLSVerify` (with which anything answering on that Service's address
could feed the HPAs). The server reloads the renewed files by itself (k8s.io/apiserver
options/serving.go: `--tls-cert-file` is served through a file-watching dynamic certificate).

Order: namespace -> ServiceAccount, RBAC and the Certificate -> Service and Deployment ->
APIService (the API server routes `metrics.k8s.io` to the Service once it has a ready endpoint;
until then `kubectl top` answers 503 and the HPAs wait).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config import PlatformConfig
from components.kube import (
    RESTRICTED_CONTAINER,
    SERVICE_POD_SKIPS,
    USES_TOKEN,
    TierKit,
    bind_role,
    checkov_skips,
    service_pod,
)
from components.netpol import API_SERVER, Allowance
from components.tools.cert_manager import InternalCa

NAMESPACE = "metrics-server"
NAME = "metrics-server"
SECURE_PORT = 10250  # the server's HTTPS port (`--secure-port`, container port `https`)
LABELS = {"k8s-app": NAME, "app.kubernetes.io/name": NAME}
TLS_SECRET = "metrics-server-tls"
TLS_DIR = "/tls"
API_GROUP = "metrics.k8s.io"
API_SERVICE = f"v1beta1.{API_GROUP}"
AGGREGATED_READER = "system:aggregated-metrics-reader"


@dataclass(frozen=True)
class Settings:
    """What metrics-server needs of the stack."""

    insecure_kubelet_tls: bool  # `cluster.kubelet_insecure_tls`

    @staticmethod
    def of(cfg: PlatformConfig) -> Settings | None:
        """The platform's metrics-server, or None when the distribution serves the API."""
        if cfg.cluster.metrics_server != "platform":
            return None
        return Settings(cfg.cluster.kubelet_insecure_tls)


def args(insecure_kubelet_tls: bool) -> list[str]:
    """The server's flags: upstream's, and `--kubelet-insecure-tls` only when the stack asks
    (`cluster.kubelet_insecure_tls`). Without it the kubelets' serving certificates are verified
    against the cluster CA of the in-cluster config.
    Ref: metrics-server v0.9.0 cmd/metrics-server/app/options/kubelet_client.go (`Config`: the
    REST config's CA unless --kubelet-insecure-tls or --kubelet-certificate-authority)."""
    flags = [
        f"--tls-cert-file={TLS_DIR}/tls.crt",
        f"--tls-private-key-file={TLS_DIR}/tls.key",
        f"--secure-port={SECURE_PORT}",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--kubelet-use-node-status-port",
        "--metric-resolution=15s",
    ]
    return [*flags, "--kubelet-insecure-tls"] if insecure_kubelet_tls else flags


def allowances() -> list[Allowance]:
    """Into the metrics-server namespace: the API server to the secure port. The API server
    connects from a node or control-plane address that no pod selector names, so the row admits
    any source on that one port (`API_SERVER`); the server authenticates every request itself
    (the API server's front-proxy client certificate, or a token it reviews) and authorises it
    with a SubjectAccessReview (`system:auth-delegator`)."""
    return [
        Allowance(
            "metrics-server-from-api-server", NAMESPACE, LABELS, ("https",), (API_SERVER,),
            "the API server proxies metrics.k8s.io (HPAs, kubectl top) to metrics-server",
        ),
    ]


@dataclass(frozen=True)
class MetricsServer:
    namespace: k8s.core.v1.Namespace
    deployment: k8s.apps.v1.Deployment
    api_service: k8s.apiregistration.v1.APIService


def certificate_spec(issuer: pulumi.Input[str]) -> dict[str, Any]:
    """The serving certificate: the Service's names, as the API server dials it
    (`<service>.<namespace>.svc`)."""
    return {
        "secretName": TLS_SECRET,
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer},
        "commonName": f"{NAME}.{NAMESPACE}.svc",
        "dnsNames": [f"{NAME}.{NAMESPACE}.svc", f"{NAME}.{NAMESPACE}.svc.cluster.local"],
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "usages": ["server auth", "digital signature"],
    }


def install(
    kit: TierKit, settings: Settings, internal_ca: InternalCa, issuer: pulumi.Input[str]
) -> MetricsServer:
    """metrics-server in its own namespace, and the APIService that serves `metrics.k8s.io`;
    its serving certificate from `issuer` (the ClusterIssuer of `internal_ca`)."""
    # its network policies (`allowances`) come with the tier's (components/tools/catalog.py)
    ns = kit.namespace(NAMESPACE, "restricted")
    certificate = kit.custom_resource(
        TLS_SECRET, "cert-manager.io/v1", "Certificate",
        k8s.meta.v1.ObjectMetaArgs(name=TLS_SECRET, namespace=ns.metadata.name, labels=LABELS),
        certificate_spec(issuer), [ns, internal_ca.issuer],
    )
    account = k8s.core.v1.ServiceAccount(
        NAME,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=ns.metadata.name, labels=LABELS),
        opts=kit.opts,
    )
    bindings = _rbac(kit, ns, account)
    service = k8s.core.v1.Service(
        NAME,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=ns.metadata.name, labels=LABELS),
        spec=k8s.core.v1.ServiceSpecArgs(
            selector=LABELS,
            ports=[k8s.core.v1.ServicePortArgs(
                name="https", port=443, protocol="TCP", target_port="https", app_protocol="https",
            )],
        ),
        opts=kit.opts,
    )
    deployment = _deployment(
        kit, ns, account, settings.insecure_kubelet_tls, [*bindings, certificate]
    )
    if kit.production:
        k8s.policy.v1.PodDisruptionBudget(
            NAME,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME, namespace=ns.metadata.name, labels=LABELS
            ),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                min_available=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=LABELS),
            ),
            opts=kit.opts,
        )
    # the API server verifies metrics-server against the internal CA (module docstring)
    api_service = k8s.apiregistration.v1.APIService(
        API_SERVICE,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=API_SERVICE, labels=LABELS),
        spec=k8s.apiregistration.v1.APIServiceSpecArgs(
            group=API_GROUP,
            version="v1beta1",
            service=k8s.apiregistration.v1.ServiceReferenceArgs(
                name=service.metadata.name, namespace=ns.metadata.name, port=443
            ),
            ca_bundle=pulumi.Output.from_input(internal_ca.certificate).apply(
                lambda pem: base64.b64encode(pem.encode()).decode()
            ),
            group_priority_minimum=100,
            version_priority=100,
        ),
        opts=kit.child([deployment, service]),
    )
    return MetricsServer(ns, deployment, api_service)


def _rbac(
    kit: TierKit, ns: k8s.core.v1.Namespace, account: k8s.core.v1.ServiceAccount
) -> list[pulumi.Resource]:
    """Upstream's roles and bindings (manifests/base/rbac.yaml): what the server reads (nodes'
    metrics, pods, nodes), delegated authentication and authorisation, the reader role that
    aggregates into view/edit/admin, and the API server's client CA in kube-system."""
    subject = [k8s.rbac.v1.SubjectArgs(
        kind="ServiceAccount", name=account.metadata.name, namespace=ns.metadata.name
    )]
    k8s.rbac.v1.ClusterRole(
        "aggregated-metrics-reader",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=AGGREGATED_READER,
            labels={
                **LABELS,
                **{f"rbac.authorization.k8s.io/aggregate-to-{role}": "true"
                   for role in ("view", "edit", "admin")},
            },
        ),
        rules=[k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[API_GROUP], resources=["pods", "nodes"], verbs=["get", "list", "watch"]
        )],
        opts=kit.opts,
    )
    server_role = k8s.rbac.v1.ClusterRole(
        "metrics-server",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="system:metrics-server", labels=LABELS),
        rules=[
            k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["nodes/metrics"], verbs=["get"]),
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=[""], resources=["pods", "nodes"], verbs=["get", "list", "watch"]
            ),
        ],
        opts=kit.opts,
    )

    return [
        bind_role("metrics-server", "system:metrics-server",
                  ("ClusterRole", server_role.metadata.name), subject, kit.opts, labels=LABELS),
        bind_role("metrics-server-auth-delegator", "metrics-server:system:auth-delegator",
                  ("ClusterRole", "system:auth-delegator"), subject, kit.opts, labels=LABELS),
        # the Role lives in kube-system (the API server publishes its client CA there)
        bind_role("metrics-server-auth-reader", "metrics-server-auth-reader",
                  ("Role", "extension-apiserver-authentication-reader"), subject, kit.opts,
                  namespace="kube-system", labels=LABELS),
    ]


def _deployment(
    kit: TierKit,
    ns: k8s.core.v1.Namespace,
    account: k8s.core.v1.ServiceAccount,
    insecure_kubelet_tls: bool,
    bindings: list[pulumi.Resource],
) -> k8s.apps.v1.Deployment:
    """Upstream's Deployment (manifests/base/deployment.yaml); in production two replicas on
    different nodes (manifests/components/high-availability)."""
    replicas = 2 if kit.production else 1
    anti_affinity = k8s.core.v1.AffinityArgs(
        pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
            required_during_scheduling_ignored_during_execution=[
                k8s.core.v1.PodAffinityTermArgs(
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=LABELS),
                    topology_key="kubernetes.io/hostname",
                )
            ],
        ),
    )
    return k8s.apps.v1.Deployment(
        NAME,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=NAME, namespace=ns.metadata.name, labels=LABELS,
            annotations=checkov_skips(*SERVICE_POD_SKIPS, USES_TOKEN),
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=replicas,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=LABELS),
            # one replica: start the new pod before the old one stops (no gap in the API)
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                    max_unavailable=replicas - 1
                ),
            ),
            template=service_pod(
                account, LABELS, [_container(insecure_kubelet_tls)],
                priority_class_name="system-cluster-critical",
                volumes=[
                    k8s.core.v1.VolumeArgs(
                        name="tmp-dir", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
                    ),
                    # the serving certificate cert-manager keeps current (no subPath: the
                    # kubelet updates the files in place, the server reloads them)
                    k8s.core.v1.VolumeArgs(
                        name="tls", secret=k8s.core.v1.SecretVolumeSourceArgs(
                            secret_name=TLS_SECRET, default_mode=0o440,
                        ),
                    ),
                ],
                node_selector={"kubernetes.io/os": "linux"},
                affinity=anti_affinity if replicas > 1 else None,
            ),
        ),
        opts=kit.child(bindings),
    )


def _container(insecure_kubelet_tls: bool) -> k8s.core.v1.ContainerArgs:
    """Upstream's container, with a memory limit and the flags of `args`."""
    def probe(path: str) -> k8s.core.v1.HTTPGetActionArgs:
        return k8s.core.v1.HTTPGetActionArgs(path=path, port="https", scheme="HTTPS")

    return k8s.core.v1.ContainerArgs(
        name=NAME,
        image=versions.METRICS_SERVER_IMAGE,
        image_pull_policy="IfNotPresent",
        args=args(insecure_kubelet_tls),
        ports=[k8s.core.v1.ContainerPortArgs(
            name="https", container_port=SECURE_PORT, protocol="TCP"
        )],
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe("/readyz"),
            period_seconds=10, failure_threshold=3, initial_delay_seconds=20,
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe("/livez"),
            period_seconds=10, failure_threshold=3,
        ),
        # upstream requests 100m/200Mi and sets no limit; the limit is twice the request
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "100m", "memory": "200Mi"}, limits={"memory": "400Mi"},
        ),
        security_context=RESTRICTED_CONTAINER,
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="tmp-dir", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(name="tls", mount_path=TLS_DIR, read_only=True),
        ],
    )
