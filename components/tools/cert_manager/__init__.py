"""cert-manager: the chart, its webhook gate, the Let's Encrypt ClusterIssuers (staging and
production), the internal CA's ClusterIssuer, its scrape target and the HTTP-01 solver's
network-policy rows.

Order: cert-manager (with CRDs) -> webhook gate -> the Cloudflare token Secret (DNS-01) ->
ClusterIssuers `letsencrypt-staging` / `letsencrypt-production`; in parallel, the internal CA
(the operator's `tls.internal_ca` with the stack secret `internal_ca_key`, else a self-signed CA
the program generates with pulumi-tls) -> its key pair Secret -> ClusterIssuer
`plate-internal-ca`, which signs the certificates of in-cluster endpoints (OpenBao's API).

Why pulumi-tls and not a cert-manager `selfSigned` bootstrap: the CA certificate is then an Output
of the program, so it reaches every client as a value (External Secrets' `caBundle`, ConfigMaps in
the clients' namespaces) without a distributor such as trust-manager (its chart is not among the
pinned ones); the price is the CA key in Pulumi state, encrypted as a secret like the other
generated credentials, and the operator can keep it out by supplying the CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from components.config import AcmeConfig, InternalCaConfig
from components.contracts import issuer_name
from components.kube import TierKit, WebhookGate, as_secret, resources
from components.names import (
    CERT_MANAGER_NAMESPACE,
    INTERNAL_CA_CONFIGMAP,
    INTERNAL_CA_ISSUER,
    INTERNAL_CA_KEY,
    PROMETHEUS,
)
from components.netpol import API_SERVER, Allowance, Peer
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
# the internal CA's key pair, in cert-manager's namespace: a ClusterIssuer reads its `ca.secretName`
# from the cluster resource namespace (the chart's default: the release namespace)
# Ref: https://cert-manager.io/docs/configuration/ca/ (keys tls.crt and tls.key)
INTERNAL_CA_SECRET = INTERNAL_CA_ISSUER
# a generated CA: ten years, re-signed with the same key (same subject and key id, so certificates
# and clients keep verifying) by the first `up` in its last year. pulumi-tls plans that as a
# replacement of the SelfSignedCert: from `early_renewal_hours` before the end of its validity
# (and once it has expired) the provider's ModifyPlan marks `ready_for_renewal` RequiresReplace
# (hashicorp/terraform-provider-tls internal/provider/common_cert.go
# modifyPlanIfCertificateReadyForRenewal, which pulumi-tls 5.6.2 wraps; its doc: "this advance
# update can only be performed should the Terraform configuration be applied during the early
# renewal period"). So the certificate itself is never protected (a protected resource refuses
# a replacement and every `up` of that year would fail); the key, which is what clients and the
# issued certificates depend on, is.
GENERATED_CA_HOURS = 10 * 365 * 24
GENERATED_CA_RENEWAL_HOURS = 365 * 24
GENERATED_CA_SUBJECT = "plate internal CA"


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
class InternalCa:
    certificate: pulumi.Output[str]  # PEM, public
    issuer: k8s.apiextensions.CustomResource  # ClusterIssuer plate-internal-ca


@dataclass(frozen=True)
class CertManager:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource
    webhook: WebhookGate
    issuers: dict[str, k8s.apiextensions.CustomResource]
    internal_ca: InternalCa


def install(
    kit: TierKit,
    acme: AcmeConfig,
    ingress_class: str,
    cloudflare_api_token: pulumi.Output[str] | None,
    rfc2136_tsig_secret: pulumi.Output[str] | None,
    supplied_ca: tuple[InternalCaConfig, pulumi.Output[str]] | None = None,
) -> CertManager:
    """cert-manager, its webhook gate, the two Let's Encrypt ClusterIssuers (with the DNS-01
    solver's credential from the stack, when it uses one) and the internal CA's ClusterIssuer
    (`supplied_ca`: the stack's `tls.internal_ca` and its key `internal_ca_key`, else a
    generated CA)."""
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
    return CertManager(ns, chart, webhook, issuers, internal_ca(kit, ns, webhook, supplied_ca))


def internal_ca(
    kit: TierKit,
    ns: k8s.core.v1.Namespace,
    webhook: WebhookGate,
    supplied: tuple[InternalCaConfig, pulumi.Output[str]] | None,
) -> InternalCa:
    """The internal CA's key pair Secret and the CA ClusterIssuer `plate-internal-ca`.
    Production protects and retains the generated key and the Secret: a new key would make every
    client distrust the certificates issued until cert-manager reissues them. The generated
    certificate is not protected in any stack: the first `up` in its last year (or after it
    expired) replaces it with one re-signed by the same key, an update of the Secret and of the
    clients' CA ConfigMaps that keeps every issued certificate verifying."""
    if supplied is not None:
        config, key = supplied
        certificate: pulumi.Output[str] = pulumi.Output.from_input(config.certificate)
    else:
        private_key = tls.PrivateKey(
            "internal-ca-key", algorithm="ECDSA", ecdsa_curve="P256",
            opts=kit.child(protect=True),
        )
        generated = tls.SelfSignedCert(
            "internal-ca",
            private_key_pem=private_key.private_key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name=GENERATED_CA_SUBJECT),
            validity_period_hours=GENERATED_CA_HOURS,
            early_renewal_hours=GENERATED_CA_RENEWAL_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            # not protected: its renewal is a replacement (see GENERATED_CA_RENEWAL_HOURS)
            opts=kit.child(),
        )
        certificate, key = generated.cert_pem, private_key.private_key_pem
    pair = k8s.core.v1.Secret(
        INTERNAL_CA_SECRET,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=INTERNAL_CA_SECRET, namespace=ns.metadata.name),
        type="kubernetes.io/tls",
        string_data={"tls.crt": certificate, "tls.key": as_secret(key)},
        opts=kit.child(protect=True),
    )
    issuer = kit.custom_resource(
        INTERNAL_CA_ISSUER, "cert-manager.io/v1", "ClusterIssuer",
        k8s.meta.v1.ObjectMetaArgs(name=INTERNAL_CA_ISSUER),
        {"ca": {"secretName": INTERNAL_CA_SECRET}}, [webhook, pair],
    )
    return InternalCa(certificate, issuer)


def ca_configmap(
    kit: TierKit, ns: k8s.core.v1.Namespace, namespace: str, certificate: pulumi.Input[str],
    name: str = INTERNAL_CA_CONFIGMAP,
) -> k8s.core.v1.ConfigMap:
    """The CA certificate(s) `certificate` (PEM) as the ConfigMap `name` (key `ca.crt`) in `ns`
    (named `namespace`), for the pods there that call an endpoint it signed; the resource is
    named `<name>-<namespace>`, one per namespace."""
    return k8s.core.v1.ConfigMap(
        f"{name}-{namespace}",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns.metadata.name),
        data={INTERNAL_CA_KEY: certificate},
        opts=kit.opts,
    )


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


# the webhook's pods and the controller's (the chart's labels)
WEBHOOK_PODS = {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/instance": "cert-manager"}
CONTROLLER_PODS = {
    "app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller",
}


def allowances() -> list[Allowance]:
    """Connections into the cert-manager namespace (cainjector: none, it only calls the API)."""
    ns = CERT_MANAGER_NAMESPACE
    return [
        # Ref: cert-manager chart v1.21.1 values.yaml `webhook.networkPolicy.ingress` (the
        # chart's own policy, off here, admits `https` from every source: the caller is no pod)
        Allowance("cert-manager-webhook-from-api-server", ns, WEBHOOK_PODS, ("https",),
                  (API_SERVER,), "admission of cert-manager's resources (10250)"),
        Allowance("cert-manager-metrics-from-prometheus", ns, CONTROLLER_PODS, ("http-metrics",),
                  (PROMETHEUS,), "scrapes the controller (monitors.py)"),
    ]
