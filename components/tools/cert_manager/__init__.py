"""cert-manager: the chart, its webhook gate, the Let's Encrypt ClusterIssuers (staging and
production), its scrape target and the HTTP-01 solver's network-policy rows.

Order: cert-manager (with CRDs) -> webhook gate -> the Cloudflare token Secret (DNS-01) ->
ClusterIssuers `letsencrypt-staging` / `letsencrypt-production`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import AcmeConfig
from components.contracts import issuer_name
from components.kube import TierKit, WebhookGate, resources
from components.names import CERT_MANAGER_NAMESPACE
from components.netpol import Allowance, Peer
from components.observability.monitors import ScrapeTarget

ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
CLOUDFLARE_TOKEN_SECRET = "cloudflare-api-token"
RFC2136_TSIG_SECRET = "rfc2136-tsig"  # key `secret`: the TSIG key's base64 secret
# cert-manager's names of the TSIG algorithms -> the algorithm names on the wire (RFC 8945), as
# the zone's server (BIND's `key` statement, `nsupdate -y`) names them
TSIG_WIRE_NAMES = {
    "HMACMD5": "hmac-md5", "HMACSHA1": "hmac-sha1",
    "HMACSHA256": "hmac-sha256", "HMACSHA512": "hmac-sha512",
}
# cert-manager's ACME HTTP-01 solver pods, created in the namespace of each Certificate
# Ref: https://cert-manager.io/docs/configuration/acme/http01/ (pod label and port 8089)
ACME_SOLVER_PODS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089


def values() -> dict[str, Any]:
    return {
        # CRDs from the chart, kept by Helm semantics if the release goes (the v4 Chart also
        # protects them in production through protect_stateful_children).
        "crds": {"enabled": True, "keep": True},
        # A Helm post-install hook: v4 Charts skip it; WebhookGate does this check instead.
        "startupapicheck": {"enabled": False},
        "resources": resources("20m", "64Mi", "256Mi"),
        "webhook": {"resources": resources("10m", "32Mi", "128Mi")},
        "cainjector": {"resources": resources("10m", "64Mi", "256Mi")},
        # ServiceMonitors need the Prometheus Operator CRDs, which arrive with tier 2.
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
    }


def acme_solver(acme: AcmeConfig, ingress_class: str) -> dict[str, Any]:
    """The ClusterIssuers' one solver. DNS-01 through Cloudflare's API, or by TSIG-signed dynamic
    update of the zone's primary (RFC 2136).
    Ref: https://cert-manager.io/docs/configuration/acme/dns01/rfc2136/ (nameserver host:port,
    tsigKeyName, tsigAlgorithm, tsigSecretSecretRef; a ClusterIssuer reads the Secret from
    cert-manager's own namespace, its --cluster-resource-namespace)."""
    if acme.solver == "http01":
        return {"http01": {"ingress": {"ingressClassName": ingress_class}}}
    provider: dict[str, Any]
    if acme.dns_provider == "rfc2136" and acme.rfc2136 is not None:
        provider = {"rfc2136": {
            "nameserver": acme.rfc2136.nameserver,
            "tsigKeyName": acme.rfc2136.tsig_key_name,
            "tsigAlgorithm": acme.rfc2136.tsig_algorithm,
            "tsigSecretSecretRef": {"name": RFC2136_TSIG_SECRET, "key": "secret"},
        }}
    else:
        provider = {"cloudflare": {
            "apiTokenSecretRef": {"name": CLOUDFLARE_TOKEN_SECRET, "key": "api-token"}
        }}
    return {"selector": {"dnsZones": list(acme.dns_zones)}, "dns01": provider}


def cluster_issuer_spec(acme: AcmeConfig, ingress_class: str, server: str) -> dict[str, Any]:
    return {
        "acme": {
            "email": acme.email,
            "server": ACME_SERVERS[server],
            "privateKeySecretRef": {"name": f"{issuer_name(server)}-account-key"},
            "solvers": [acme_solver(acme, ingress_class)],
        }
    }


@dataclass(frozen=True)
class CertManager:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource
    webhook: WebhookGate
    issuers: dict[str, k8s.apiextensions.CustomResource]


def install(
    kit: TierKit,
    acme: AcmeConfig,
    ingress_class: str,
    cloudflare_api_token: pulumi.Output[str] | None,
    rfc2136_tsig_secret: pulumi.Output[str] | None,
) -> CertManager:
    """cert-manager, its webhook gate, and the two Let's Encrypt ClusterIssuers (with the DNS-01
    solver's credential from the stack, when it uses one)."""
    ns, chart = kit.tool("cert-manager", CERT_MANAGER_NAMESPACE, "restricted", values())
    webhook = kit.gate(
        "cert-manager-webhook-ready", ns, ("cert-manager.io/v1", "Issuer", {"selfSigned": {}}),
        chart,
    )
    issuer_deps: list[pulumi.Resource] = [webhook]
    if acme.solver == "dns01" and acme.dns_provider == "cloudflare" and (
        cloudflare_api_token is not None
    ):
        token = {"api-token": cloudflare_api_token}
        issuer_deps.append(kit.secret(CLOUDFLARE_TOKEN_SECRET, ns, token))
    if acme.solver == "dns01" and acme.dns_provider == "rfc2136" and (
        rfc2136_tsig_secret is not None
    ):
        tsig = {"secret": rfc2136_tsig_secret}
        issuer_deps.append(kit.secret(RFC2136_TSIG_SECRET, ns, tsig))
    issuers = {
        server: kit.custom_resource(
            issuer_name(server), "cert-manager.io/v1", "ClusterIssuer",
            k8s.meta.v1.ObjectMetaArgs(name=issuer_name(server)),
            cluster_issuer_spec(acme, ingress_class, server), issuer_deps,
        )
        for server in ("staging", "production")
    }
    return CertManager(ns, chart, webhook, issuers)


def scrape_targets() -> list[ScrapeTarget]:
    return [
        ScrapeTarget(
            "cert-manager", CERT_MANAGER_NAMESPACE, "ServiceMonitor",
            {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"},
            "http-metrics",
        ),
    ]


def acme_solver_allowances(namespaces: list[str], ingress: Peer) -> list[Allowance]:
    """cert-manager's HTTP-01 solver: Let's Encrypt reaches it through the ingress controller in
    every namespace that has a TLS Ingress (the solver runs next to the Certificate)."""
    return [
        Allowance("acme-solver-from-ingress", ns, ACME_SOLVER_PODS, (ACME_SOLVER_PORT,),
                  (ingress,), "Let's Encrypt HTTP-01 challenges, served by cert-manager's solver")
        for ns in namespaces
    ]
