"""Wires the three tiers of one stack in dependency order and exports what operators need.

cluster_services -> dev_tools -> applications (the app-of-apps root, last). A stack may own only
some tiers (`tiers` in its stack file) when it shares a cluster with another stack; then the names
of what it does not own come from the config model, with nothing to wait for
(`components/contracts.py`).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import PlatformConfig, StackSecrets
from components.contracts import ClusterServicesRefs, DevToolsRefs
from components.gitops import apps as gitops
from components.kube import TierKit, object_name
from components.tiers.applications import Applications
from components.tiers.cluster_services import ClusterServices, ClusterServicesConfig
from components.tiers.dev_tools import DevTools, DevToolsSettings
from components.tools import external_dns


@dataclass(frozen=True)
class Platform:
    provider: k8s.Provider
    cluster_services: ClusterServices | None
    dev_tools: DevTools | None
    applications: Applications | None


# CPython's cyclic collector runs every 700 net allocations by default; one evaluation allocates
# millions of short-lived objects (Outputs, futures, property dicts) while the SDKs' large class
# graphs (pulumi-kubernetes' types, grafana-foundation-sdk's builders) sit in the older
# generations, so it ran thousands of times and each older-generation pass re-scanned those
# classes: about a third of the evaluation (bench/startup.py). What the imports built lives as
# long as the process (one `pulumi up`), so it is frozen out of collection, and the rest is
# collected less often, which costs the process a few MB.
GC_THRESHOLDS = (100_000, 50, 100)


def deploy(cfg: PlatformConfig, secrets: StackSecrets) -> Platform:
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    provider = k8s.Provider("k8s", context=cfg.cluster.kube_context)
    opts = pulumi.ResourceOptions(providers=[provider])
    kit = TierKit.of(cfg.production, cfg.chart)

    cluster = None
    if cfg.owns("cluster_services"):
        cluster = ClusterServices(
            "cluster-services", ClusterServicesConfig.of(cfg), kit,
            (secrets.cloudflare_api_token, secrets.rfc2136_tsig_secret), opts,
            secrets.internal_ca_key,
            dns_credential=external_dns.credential(cfg.dns.provider, secrets) if cfg.dns else None,
        )
    refs = cluster.refs if cluster else ClusterServicesRefs.external(cfg)
    tools = None
    if cfg.owns("dev_tools"):
        tools = DevTools("dev-tools", DevToolsSettings.of(cfg), kit, secrets, refs, opts)
    tools_refs = tools.refs if tools else DevToolsRefs.external()
    apps = None
    if cfg.owns("applications"):
        apps = Applications(
            "applications", cfg, secrets.gitops_repo_token,
            [*refs.apps_ready, *tools_refs.apps_ready], opts, internal_ca=refs.internal_ca,
        )
    return Platform(provider, cluster, tools, apps)


def export_outputs(cfg: PlatformConfig, platform: Platform) -> None:
    pulumi.export("environment", cfg.environment)
    # the health gate runs kubectl against the stack's own cluster
    pulumi.export("kube_context", cfg.cluster.kube_context)
    if cfg.tls.ingress_ca_bundle is not None:
        # the health gate verifies the tools' HTTPS answers against it
        pulumi.export("ingress_ca_bundle", cfg.tls.ingress_ca_bundle)
    if platform.cluster_services:
        cs = platform.cluster_services
        pool = {
            "name": object_name(cs.metallb.address_pool),
            "addresses": cs.config.metallb.addresses,
        }
        pulumi.export("metallb_pool", pool)
        issuers = cs.cert_manager.issuers
        pulumi.export("cluster_issuers", {s: object_name(i) for s, i in issuers.items()})
        pulumi.export("default_issuer", cs.refs.names.issuer)
        # public: what a client of OpenBao's API (`kubectl port-forward`, BAO_CACERT) trusts
        pulumi.export("internal_ca", cs.cert_manager.internal_ca.certificate)
        if cfg.ingress.controller == "traefik":
            # point the DNS records of every tool and app host here
            pulumi.export("ingress_address", cfg.ingress.load_balancer_ip)
        pulumi.export("storage_class", cs.nfs.storage_class.metadata.name)
    if platform.dev_tools:
        tools = platform.dev_tools
        for tool, url in tools.urls.items():
            pulumi.export(f"{tool}_url", url)
        # secret outputs: `pulumi stack output --show-secrets <name>`
        pulumi.export("argocd_admin_password", tools.argocd.admin_password.result)
        pulumi.export("grafana_admin_password", tools.monitoring.grafana_admin_password)
        pulumi.export("harbor_admin_password", tools.harbor.admin_password)
    if platform.applications:
        pulumi.export("root_application", gitops.root_app_name(cfg))
        pulumi.export("apps_namespace", gitops.apps_namespace(cfg))
        pulumi.export("argocd_namespace", cfg.gitops.argocd_namespace)
