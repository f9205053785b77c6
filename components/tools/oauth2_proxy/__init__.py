"""oauth2-proxy: the sign-in in front of Prometheus' and Alertmanager's UIs, which have none of
their own. Written as objects by the program (its chart is not among the offline artefacts, so it
could not be rendered and checked here; docs/deviations.md): in the monitoring namespace, in this
order: the Secret (a configuration file with the OIDC client secret and the cookie key), the
Deployment and its Service, the Traefik `Middleware` that asks it about every request, and the
Ingress that routes the sign-in's own paths (`/oauth2/*`) on both hosts to it.
kube-prometheus-stack's Ingresses for the two UIs carry the Middleware (`INGRESS_ANNOTATIONS`).

How a request passes: Traefik's forwardAuth sends the request's method, host and path to the proxy
(`/`, answered `202` with a valid session cookie, `--upstream=static://202`); without one the proxy
answers with a redirect to the provider, whose callback comes back to
`https://<host>/oauth2/callback`; a person whose groups claim names none of the `allowed_groups`
(admins and developers: an Alertmanager UI can silence alerts, and Prometheus' UI shows every
metric label) gets `403`. Only the ingress controller may reach the proxy (`allowances`), so the
`X-Forwarded-*` headers it trusts (`--reverse-proxy`) come from Traefik.
Ref: oauth2-proxy/oauth2-proxy v7.15.3 docs/docs/configuration/overview.md (flags; "Config
File": each flag's TOML key), docs/docs/configuration/integrations/traefik.md ("ForwardAuth with
static upstreams configuration"), docs/docs/features/endpoints.md (/ping, /ready,
/oauth2/callback), Dockerfile and Makefile (distroless `nonroot` runtime image); traefik CRD
traefik.io/v1alpha1 Middleware `forwardAuth`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config import IdentityConfig
from components.kube import (
    PULL_IF_NOT_PRESENT,
    RESTRICTED_CONTAINER,
    TAG_PINNED,
    TierKit,
    as_secret,
    checkov_skips,
    service_pod,
)
from components.names import MONITORING_NAMESPACE
from components.netpol import Allowance, Peer

NAME = "oauth2-proxy"
PORT = 4180
POD_LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "plate-platform"}
SECRET = NAME
# the proxy's secrets as its configuration file (TOML: `client_secret`, `cookie_secret`), mounted
# from the Secret rather than in the environment, which child processes and crash reports inherit
# (checkov CKV_K8S_35)
CONFIG_KEY = "oauth2-proxy.cfg"
CONFIG_DIR = "/etc/oauth2-proxy"
# Traefik's Kubernetes Ingress provider attaches `<namespace>-<name>@kubernetescrd` Middlewares
# to an Ingress's routers (`namespace_name` only with the CRD provider's `safeNaming`, off in the
# pinned chart 41.3.0 / Traefik v3.7.11). Ref: doc.traefik.io "Traefik & Kubernetes with
# Ingress", annotations (router.middlewares); traefik chart 41.3.0 values.yaml safeNaming.
INGRESS_ANNOTATIONS = {
    "traefik.ingress.kubernetes.io/router.middlewares":
        f"{MONITORING_NAMESPACE}-{NAME}@kubernetescrd",
}
ADDRESS = f"http://{NAME}.{MONITORING_NAMESPACE}.svc:{PORT}/"


def allowed_groups(identity: IdentityConfig) -> list[str]:
    """Who may pass: admins and developers."""
    return [*identity.groups.admins, *identity.groups.developers]


def args(identity: IdentityConfig, hosts: list[str]) -> list[str]:
    """The proxy's flags (its two secrets come from the configuration file, `config_file`)."""
    return [
        f"--config={CONFIG_DIR}/{CONFIG_KEY}",
        "--provider=oidc",
        f"--oidc-issuer-url={identity.issuer}",
        f"--client-id={identity.clients.proxy}",
        f"--oidc-groups-claim={identity.groups_claim}",
        f"--scope={' '.join(identity.scopes)}",
        "--code-challenge-method=S256",
        # membership is the check; any address the provider vouches for
        "--email-domain=*",
        *(f"--allowed-group={group}" for group in allowed_groups(identity)),
        f"--http-address=0.0.0.0:{PORT}",
        "--reverse-proxy=true",
        "--upstream=static://202",
        "--set-xauthrequest=true",
        "--skip-provider-button=true",
        "--cookie-secure=true",
        *(f"--cookie-domain={host}" for host in hosts),
        # the `rd` targets a sign-in may return to
        *(f"--whitelist-domain={host}" for host in hosts),
    ]


def middleware_spec() -> dict[str, Any]:
    """Traefik's forwardAuth to the proxy. X-Forwarded-* from the client are not passed on
    (`trustForwardHeader` false: Traefik sets them from the request itself)."""
    return {
        "forwardAuth": {
            "address": ADDRESS,
            "trustForwardHeader": False,
            "authResponseHeaders": [
                "X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups",
            ],
        }
    }


def config_file(client_secret: str, cookie_secret: str) -> str:
    """The configuration file holding the proxy's secrets (each flag's TOML key is its name with
    underscores; a JSON string is a TOML basic string). The cookie secret is used decoded when it
    is the base64 of 16, 24 or 32 bytes, else as it is (then 16, 24 or 32 characters)."""
    return (f"client_secret = {json.dumps(client_secret)}\n"
            f"cookie_secret = {json.dumps(cookie_secret)}\n")


def _probe(path: str) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"), period_seconds=10,
    )


@dataclass(frozen=True)
class SignInProxy:
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    middleware: k8s.apiextensions.CustomResource
    callback_ingress: k8s.networking.v1.Ingress


def install(
    kit: TierKit,
    ns: k8s.core.v1.Namespace,
    identity: IdentityConfig,
    hosts: dict[str, str],
    client_secret: pulumi.Output[str],
    cookie_secret: pulumi.Output[str],
    ingress_class: str,
    traefik_ready: list[pulumi.Resource],
) -> SignInProxy:
    """The proxy for `hosts` (UI -> host, e.g. {"prometheus": "prometheus.<domain>"}); its
    Middleware waits for Traefik (`traefik_ready`: its CRDs)."""
    namespace = ns.metadata.name
    secret = k8s.core.v1.Secret(
        SECRET,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=SECRET, namespace=namespace),
        string_data={CONFIG_KEY: as_secret(
            pulumi.Output.all(client_secret, cookie_secret).apply(lambda v: config_file(*v))
        )},
        opts=kit.opts,
    )
    meta = k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=namespace, labels=POD_LABELS)
    account = k8s.core.v1.ServiceAccount(
        NAME, metadata=meta, automount_service_account_token=False, opts=kit.opts,
    )
    deployment = k8s.apps.v1.Deployment(
        NAME,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=NAME, namespace=namespace, labels=POD_LABELS,
            annotations=checkov_skips(TAG_PINNED, PULL_IF_NOT_PRESENT, (
                "CKV_K8S_11",
                "no CPU limit: a throttled sign-in would slow every request to Prometheus and "
                "Alertmanager; memory is limited",
            )),
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=2 if kit.production else 1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=POD_LABELS),
            template=_pod(account, args(identity, sorted(hosts.values()))),
        ),
        opts=kit.child([secret, account]),
    )
    service = k8s.core.v1.Service(
        NAME,
        metadata=meta,
        spec=k8s.core.v1.ServiceSpecArgs(
            selector=POD_LABELS,
            ports=[k8s.core.v1.ServicePortArgs(
                name="http", port=PORT, target_port="http", protocol="TCP",
            )],
        ),
        opts=kit.opts,
    )
    middleware = kit.custom_resource(
        NAME, "traefik.io/v1alpha1", "Middleware",
        k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=namespace),
        middleware_spec(), traefik_ready,
    )
    callback = _callback_ingress(namespace, hosts, ingress_class, kit.child([service]))
    return SignInProxy(deployment, service, middleware, callback)


def _pod(
    account: k8s.core.v1.ServiceAccount, flags: list[str]
) -> k8s.core.v1.PodTemplateSpecArgs:
    """The proxy's pod: restricted, no Kubernetes API token, its configuration file (secrets) from
    the Secret, read-only."""
    container = k8s.core.v1.ContainerArgs(
        name=NAME,
        image=versions.OAUTH2_PROXY_IMAGE,
        image_pull_policy="IfNotPresent",
        args=flags,
        volume_mounts=[k8s.core.v1.VolumeMountArgs(
            name="config", mount_path=CONFIG_DIR, read_only=True,
        )],
        ports=[k8s.core.v1.ContainerPortArgs(
            name="http", container_port=PORT, protocol="TCP",
        )],
        liveness_probe=_probe("/ping"),
        readiness_probe=_probe("/ready"),
        security_context=RESTRICTED_CONTAINER,
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "10m", "memory": "32Mi"},
            limits={"memory": "128Mi"},
        ),
    )
    return service_pod(
        account, POD_LABELS, [container],
        automount_service_account_token=False,
        volumes=[k8s.core.v1.VolumeArgs(
            name="config", secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=SECRET),
        )],
    )


def _callback_ingress(
    namespace: pulumi.Input[str], hosts: dict[str, str], ingress_class: str,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.Ingress:
    """`/oauth2/*` of each UI's host to the proxy (the provider's callback, sign-out); the TLS
    certificates are the UIs' own Ingresses' (kube-prometheus-stack), same hosts."""
    backend = k8s.networking.v1.IngressBackendArgs(
        service=k8s.networking.v1.IngressServiceBackendArgs(
            name=NAME, port=k8s.networking.v1.ServiceBackendPortArgs(name="http"),
        )
    )
    return k8s.networking.v1.Ingress(
        f"{NAME}-callback",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{NAME}-callback", namespace=namespace),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name=ingress_class,
            tls=[k8s.networking.v1.IngressTLSArgs(hosts=[host], secret_name=tls_secret(ui))
                 for ui, host in sorted(hosts.items())],
            rules=[
                k8s.networking.v1.IngressRuleArgs(
                    host=host,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(paths=[
                        k8s.networking.v1.HTTPIngressPathArgs(
                            path="/oauth2", path_type="Prefix", backend=backend,
                        )
                    ]),
                )
                for _, host in sorted(hosts.items())
            ],
        ),
        opts=opts,
    )


def tls_secret(ui: str) -> str:
    """The TLS Secret of a UI's host (issued through its chart Ingress)."""
    return f"{ui}-tls"


def allowances(ingress: Peer) -> list[Allowance]:
    """Into the monitoring namespace: the ingress controller to the proxy (forwardAuth and the
    sign-in's own paths)."""
    return [
        Allowance(f"{NAME}-from-ingress", MONITORING_NAMESPACE, POD_LABELS, ("http",), (ingress,),
                  "Traefik asks the sign-in about every request to Prometheus and Alertmanager, "
                  "and routes /oauth2/* (the provider's callback) to it"),
    ]
