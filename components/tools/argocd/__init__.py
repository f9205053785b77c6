"""Argo CD: the chart with its admin password and Redis secret, its scrape target and the
network-policy rows into its namespace. The GitOps objects it serves (AppProjects, the
app-of-apps) are the applications tier's (`components/gitops`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.config import ArgoCDConfig
from components.contracts import ClusterServicesRefs
from components.kube import TierKit, as_secret, resources
from components.names import PROMETHEUS
from components.netpol import Allowance, Peer
from components.observability.monitors import ScrapeTarget

REDIS_SECRET = "argocd-redis"
RELEASE = "argo-cd"


def pods(component: str) -> dict[str, str]:
    """The labels of one Argo CD component's pods (e.g. `argocd-server`)."""
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": RELEASE}


def values(
    argocd: ArgoCDConfig, host: str, cluster: ClusterServicesRefs,
    admin_password_hash: pulumi.Input[str],
) -> dict[str, Any]:
    names = cluster.names
    return {
        # the chart's own NetworkPolicies (on by default in 10.x) admit everyone to the server
        # and every namespace to the metrics ports; policies add up, so the platform's table
        # could not restrict anything while they exist
        "global": {"domain": host, "networkPolicy": {"create": False}},
        # The secret-init Job is a pre-install Helm hook that v4 Charts skip; `install` creates
        # the `argocd-redis` Secret (key `auth`) from a generated Pulumi secret instead.
        "redisSecretInit": {"enabled": False},
        "configs": {
            # TLS terminates at the ingress controller.
            "params": {"server.insecure": True},
            "cm": {"admin.enabled": True, "exec.enabled": False},
            "secret": {
                # Argo CD stores the admin password bcrypt-hashed; pulumi-random keeps the hash
                # stable between runs.
                "argocdServerAdminPassword": admin_password_hash,
                # Unset, the chart stamps the render time here: every preview would show a
                # change and every `up` would end all admin sessions. The date changes only
                # when the password is rotated (it is the password's keeper).
                "argocdServerAdminPasswordMtime": f"{argocd.admin_password_rotated}T00:00:00Z",
            },
        },
        "server": {
            "replicas": argocd.replicas,
            "resources": resources("50m", "128Mi", "512Mi"),
            "metrics": {"enabled": True},
            "ingress": {
                "enabled": True,
                "ingressClassName": names.ingress_class,
                "hostname": host,
                "annotations": names.tls_ingress_annotations(),
                "tls": True,
            },
        },
        "repoServer": {
            "replicas": argocd.replicas,
            "resources": resources("50m", "256Mi", "1Gi"),
            "metrics": {"enabled": True},
        },
        # metrics Services for the platform's ServiceMonitor (`scrape_targets`)
        "controller": {
            "resources": resources("250m", "512Mi", "2Gi"),
            "metrics": {"enabled": True},
        },
        "applicationSet": {"resources": resources("20m", "64Mi", "256Mi")},
        "notifications": {"enabled": False},
        "dex": {"enabled": False},
        "redis": {"resources": resources("20m", "64Mi", "256Mi")},
    }


@dataclass(frozen=True)
class ArgoCD:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource
    admin_password: random.RandomPassword


def install(
    kit: TierKit, namespace: str, argocd: ArgoCDConfig, host: str, cluster: ClusterServicesRefs
) -> ArgoCD:
    ns = kit.namespace(namespace, "baseline")
    # rotated by changing `dev_tools.argocd.admin_password_rotated` (its keeper)
    admin_password = random.RandomPassword(
        "argocd-admin-password",
        length=24,
        special=False,
        keepers={"rotated": argocd.admin_password_rotated},
        opts=kit.opts,
    )
    redis_password = kit.password("argocd-redis-password", 32)
    redis = kit.secret(REDIS_SECRET, ns, {"auth": redis_password.result})
    admin_hash = as_secret(admin_password.bcrypt_hash)
    chart = kit.chart(
        RELEASE, ns, values(argocd, host, cluster, admin_hash),
        depends_on=[redis, *cluster.tls_ready],
    )
    return ArgoCD(ns, chart, admin_password)


def scrape_targets(namespace: str) -> list[ScrapeTarget]:
    # the application controller, server and repo server metrics Services
    return [
        ScrapeTarget(
            RELEASE, namespace, "ServiceMonitor",
            {"app.kubernetes.io/instance": RELEASE}, "http-metrics",
        ),
    ]


def allowances(a: str, ingress: Peer) -> list[Allowance]:
    """Connections into Argo CD's namespace `a` (dex, notifications, commit server: off)."""
    return [
        Allowance("argocd-server-from-ingress", a, pods("argocd-server"), ("server",),
                  (ingress,), "Argo CD UI and API through the ingress controller"),
        Allowance("argocd-repo-server-from-argocd", a, pods("argocd-repo-server"),
                  ("repo-server",),
                  tuple(Peer(a, pods(c)) for c in (
                      "argocd-server", "argocd-application-controller",
                      "argocd-applicationset-controller")),
                  "server, controller and ApplicationSet controller render manifests"),
        Allowance("argocd-redis-from-argocd", a, pods("argocd-redis"), ("redis",),
                  tuple(Peer(a, pods(c)) for c in (
                      "argocd-server", "argocd-repo-server", "argocd-application-controller")),
                  "the cache of server, repo server and controller"),
        Allowance("argocd-metrics-from-prometheus", a,
                  {"app.kubernetes.io/instance": RELEASE}, ("metrics",), (PROMETHEUS,),
                  "scrapes server, repo server and controller (monitors.py)"),
    ]
