"""Argo CD: the chart with its admin password and Redis secret, sign-in through the organisation's
OIDC provider (`oidc.config`, the client secret in its own Secret) with an RBAC policy from the
identity groups, its scrape target and the network-policy rows into its namespace. The GitOps
objects it serves (AppProjects, the app-of-apps) are the applications tier's (`components/gitops`).

Order: the Redis and OIDC client Secrets, then the chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components.config import ArgoCDConfig, IdentityConfig
from components.contracts import ClusterServicesRefs
from components.kube import TierKit, as_secret, resources
from components.names import PROMETHEUS, apps_project
from components.netpol import Allowance, Peer
from components.observability.monitors import ScrapeTarget

REDIS_SECRET = "argocd-redis"
RELEASE = "argo-cd"
# the OIDC client secret, referenced from `oidc.config` as `$argocd-oidc:clientSecret`; Argo CD
# reads another Secret only when it carries this label.
# Ref: argoproj/argo-cd v3.4.4 docs/operator-manual/user-management/index.md ("Sensitive Data and
# SSO Client Secrets")
OIDC_SECRET = "argocd-oidc"
OIDC_SECRET_KEY = "clientSecret"
ARGOCD_SECRET_LABELS = {"app.kubernetes.io/part-of": "argocd"}
DEVELOPER_ROLE = "role:plate-developer"


def pods(component: str) -> dict[str, str]:
    """The labels of one Argo CD component's pods (e.g. `argocd-server`)."""
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": RELEASE}


def oidc_config(identity: IdentityConfig) -> dict[str, Any]:
    """argocd-cm `oidc.config`: the organisation's provider (discovered from its issuer), the
    client secret by reference, the groups claim requested in the ID token.
    Ref: argoproj/argo-cd v3.4.4 docs/operator-manual/user-management/index.md ("Existing OIDC
    Provider")."""
    return {
        "name": "SSO",
        "issuer": identity.issuer,
        "clientID": identity.clients.argocd,
        "clientSecret": f"${OIDC_SECRET}:{OIDC_SECRET_KEY}",
        "requestedScopes": list(identity.scopes),
        "requestedIDTokenClaims": {identity.groups_claim: {"essential": True}},
    }


def rbac_policy(identity: IdentityConfig, environments: list[str]) -> str:
    """argocd-rbac-cm `policy.csv`: admins -> the built-in `role:admin`; developers -> read, sync
    and run actions on the Applications of the `plate-<env>` projects (and read their logs);
    viewers -> the built-in `role:readonly`. Anyone else gets nothing (`policy.default` empty).
    Lines as Argo CD's model reads them: `p, <subject>, <resource>, <action>, <project>/<app>,
    allow` and `g, <group>, <role>`.
    Ref: argoproj/argo-cd v3.4.4 assets/model.conf, assets/builtin-policy.csv,
    docs/operator-manual/rbac.md."""
    lines = []
    for env in environments:
        project = apps_project(env)
        lines += [
            f"p, {DEVELOPER_ROLE}, applications, {action}, {project}/*, allow"
            for action in ("get", "sync", "action/*")
        ]
        lines.append(f"p, {DEVELOPER_ROLE}, logs, get, {project}/*, allow")
        lines.append(f"p, {DEVELOPER_ROLE}, projects, get, {project}, allow")
    groups = identity.groups
    for role, members in (
        ("role:admin", groups.admins), (DEVELOPER_ROLE, groups.developers),
        ("role:readonly", groups.viewers),
    ):
        lines += [f"g, {group}, {role}" for group in members]
    return "\n".join(lines) + "\n"


def sign_in_values(identity: IdentityConfig | None, environments: list[str]) -> dict[str, Any]:
    """The `configs` that decide who may sign in and do what: without `identity` only the local
    `admin`; with it, SSO and the group policy, and the local `admin` only while
    `identity.break_glass` is on."""
    if identity is None:
        return {"cm": {"admin.enabled": True}, "rbac": {}}
    return {
        "cm": {
            "admin.enabled": identity.break_glass,
            "oidc.config": yaml.safe_dump(oidc_config(identity), sort_keys=False),
        },
        "rbac": {
            "policy.default": "",
            "policy.csv": rbac_policy(identity, environments),
            # the claims Argo CD matches `g,` lines against (besides `sub`)
            "scopes": f"[{identity.groups_claim}]",
        },
    }


def values(
    argocd: ArgoCDConfig, host: str, cluster: ClusterServicesRefs,
    admin_password_hash: pulumi.Input[str],
    identity: IdentityConfig | None = None, environments: tuple[str, ...] = (),
) -> dict[str, Any]:
    names = cluster.names
    sign_in = sign_in_values(identity, list(environments))
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
            "cm": {
                **sign_in["cm"],
                "exec.enabled": False,
                # every Application syncs as the ServiceAccount its AppProject names for its
                # destination (components/gitops/apps.py), never as the controller's
                # cluster-wide identity; an Application whose project names none fails to sync
                # Ref: argoproj/argo-cd v3.4.4 docs/operator-manual/app-sync-using-impersonation.md
                "application.sync.impersonation.enabled": True,
            },
            "rbac": sign_in["rbac"],
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
    kit: TierKit, namespace: str, argocd: ArgoCDConfig, host: str, cluster: ClusterServicesRefs,
    identity: IdentityConfig | None = None, environments: tuple[str, ...] = (),
    client_secret: pulumi.Output[str] | None = None,
) -> ArgoCD:
    """`identity`, `client_secret`: sign-in through the provider (both or neither);
    `environments`: those whose `plate-<env>` project developers may sync."""
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
    secrets: list[pulumi.Resource] = [redis]
    if identity is not None:
        if client_secret is None:
            raise ValueError("identity needs identity_argocd_client_secret")
        secrets.append(k8s.core.v1.Secret(
            OIDC_SECRET,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=OIDC_SECRET, namespace=ns.metadata.name, labels=ARGOCD_SECRET_LABELS,
            ),
            string_data={OIDC_SECRET_KEY: as_secret(client_secret)},
            opts=kit.opts,
        ))
    chart = kit.chart(
        RELEASE, ns, values(argocd, host, cluster, admin_hash, identity, environments),
        depends_on=[*secrets, *cluster.tls_ready],
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
