"""external-dns: DNS records from code. It keeps an A record for every host of every Ingress of the
stack's IngressClass inside `domain`, pointing at the address the ingress controller publishes in
the Ingress status (Traefik: its LoadBalancer Service's MetalLB address), and next to each a TXT
record naming this stack as the owner; records of other owners are never touched.

Written as objects, not through the upstream chart (kubernetes-sigs/external-dns
charts/external-dns is not among the pinned, offline chart artefacts): the namespace
`external-dns` (restricted), the provider credential Secret, the ServiceAccount with a ClusterRole
that may only list and watch Ingresses, then the Deployment (one replica: external-dns has no
leader election). Its network-policy row (only Prometheus, to the metrics port) is in
`allowances`; the tier creates the namespace's policies from the platform's table.

Ref: kubernetes-sigs/external-dns v0.22.0 -
  pkg/apis/externaldns/types.go (flag names; `--policy` has no default; every flag also reads
    `EXTERNAL_DNS_<FLAG>` from the environment, kingpin's DefaultEnvars);
  pkg/apis/externaldns/validation/validation.go (`--policy must be set explicitly`);
  source/ingress.go (a networking.k8s.io/v1 Ingress informer only; targets from
    `status.loadBalancer.ingress`; `--ingress-class` matches `spec.ingressClassName`);
  charts/external-dns/templates/clusterrole.yaml (the `ingress` source's rule);
  charts/external-dns/templates/deployment.yaml and values.yaml (port `http` 7979, `/healthz`,
    the security context, Recreate);
  registry/mapper/mapper.go (the ownership record's name: <prefix><type>-<first label>.<rest>);
  provider/rfc2136/rfc2136.go (TCP, TSIG algorithm names, AXFR to list, TTL = --rfc2136-min-ttl);
  docs/tutorials/rfc2136.md (`--rfc2136-axfr` with sync, `EXTERNAL_DNS_RFC2136_TSIG_SECRET`),
  docs/tutorials/cloudflare.md (`CF_API_TOKEN`, Zone Read + DNS Edit), docs/tutorials/pdns.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config import PlatformConfig, StackSecrets
from components.kube import (
    RESTRICTED_CONTAINER,
    SERVICE_POD_SKIPS,
    USES_TOKEN,
    TierKit,
    as_secret,
    bind_role,
    checkov_skips,
    service_pod,
)
from components.names import EXTERNAL_DNS_NAMESPACE, PROMETHEUS
from components.netpol import Allowance
from components.observability.monitors import ScrapeTarget
from components.tools.cert_manager import TSIG_WIRE_NAMES

NAME = "external-dns"
POD_LABELS = {"app.kubernetes.io/name": NAME}
METRICS_PORT = 7979  # `--metrics-address` default `:7979`: /metrics and /healthz
METRICS_PORT_NAME = "http"  # as the upstream chart names it
CREDENTIALS_SECRET = "external-dns-credentials"
# `sync`: a record whose Ingress (or host) goes is deleted too, so a retired name never keeps
# pointing at the platform; the TXT registry confines deletion to the records this stack's owner
# id created (hand-made records and other owners' are left alone). `upsert-only` would leave every
# removed host's record behind for a person to find.
POLICY = "sync"
# external-dns' ownership records: `external-dns-a-argocd.<domain>` for the A record of
# `argocd.<domain>`, apart from any name a host or a cert-manager challenge uses
TXT_PREFIX = "external-dns-"
# external-dns writes TTL 0 (no caching) unless told otherwise (rfc2136.go AddRecord); the ingress
# address rarely changes, so resolvers may keep an answer five minutes
RFC2136_TTL = "300s"
# provider -> the environment variable its credential is read from (also its key in
# CREDENTIALS_SECRET)
CREDENTIAL_ENV = {
    "rfc2136": "EXTERNAL_DNS_RFC2136_TSIG_SECRET",
    "cloudflare": "CF_API_TOKEN",
    "pdns": "EXTERNAL_DNS_PDNS_API_KEY",
}
Provider = Literal["rfc2136", "cloudflare", "pdns"]
CREDENTIAL_IN_ENV = (
    "CKV_K8S_35",
    "external-dns takes its TSIG secret and PowerDNS key only as a flag or its environment "
    "variable (types.go; no file option); the environment keeps them off the command line",
)


@dataclass(frozen=True)
class Rfc2136:
    """The zone's primary and the TSIG key external-dns signs updates and zone transfers with."""

    host: str
    port: int
    zone: str
    key_name: str
    algorithm: str  # the wire name, as external-dns and BIND spell it: hmac-sha256


@dataclass(frozen=True)
class PowerDns:
    server: str
    server_id: str


@dataclass(frozen=True)
class Settings:
    """What external-dns needs of the stack, with nothing optional left to assert."""

    provider: Provider
    domain: str  # the domain filter: only hosts inside it get records
    owner_id: str  # the TXT registry's owner: unique per stack
    ingress_class: str  # only Ingresses of this class
    rfc2136: Rfc2136 | None = None
    pdns: PowerDns | None = None

    @staticmethod
    def of(cfg: PlatformConfig) -> Settings | None:
        """The stack's external-dns, or None without a `dns` section. The config model checks
        that the provider's settings are there (`_dns_problems`)."""
        dns = cfg.dns
        if dns is None:
            return None
        rfc2136 = pdns = None
        if dns.provider == "rfc2136":
            acme = cfg.acme.rfc2136
            if acme is None:
                raise ValueError("dns.provider rfc2136 needs acme.rfc2136: the model checks it")
            host, _, port = acme.nameserver.rpartition(":")
            rfc2136 = Rfc2136(
                host, int(port), dns.zone or cfg.domain, acme.tsig_key_name,
                TSIG_WIRE_NAMES[acme.tsig_algorithm],
            )
        if dns.provider == "pdns":
            if dns.pdns is None:
                raise ValueError("dns.provider pdns needs dns.pdns: the model checks it")
            pdns = PowerDns(dns.pdns.server, dns.pdns.server_id)
        return Settings(
            dns.provider, cfg.domain, owner_id(cfg.environment), cfg.ingress_class, rfc2136, pdns
        )


def owner_id(environment: str) -> str:
    """The TXT registry's owner id: the environment names the stack (namespaces carry it too)."""
    return f"plate-{environment}"


def credential(provider: Provider, secrets: StackSecrets) -> pulumi.Output[str] | None:
    """The stack secret external-dns authenticates with at `provider` (the config model requires
    it with `dns.provider`)."""
    return {
        "rfc2136": secrets.rfc2136_tsig_secret,
        "cloudflare": secrets.cloudflare_api_token,
        "pdns": secrets.pdns_api_key,
    }[provider]


def args(settings: Settings) -> list[str]:
    """external-dns' command line (its credential comes from the environment, `env`)."""
    common = [
        "--source=ingress",
        f"--ingress-class={settings.ingress_class}",
        f"--domain-filter={settings.domain}",
        f"--policy={POLICY}",
        "--registry=txt",
        f"--txt-owner-id={settings.owner_id}",
        f"--txt-prefix={TXT_PREFIX}",
        # a new Ingress gets its record within seconds, not at the next one-minute interval
        "--events",
        f"--provider={settings.provider}",
    ]
    if settings.rfc2136 is not None:
        zone = settings.rfc2136
        return [
            *common,
            f"--rfc2136-host={zone.host}",
            f"--rfc2136-port={zone.port}",
            f"--rfc2136-zone={zone.zone}",
            f"--rfc2136-tsig-keyname={zone.key_name}",
            f"--rfc2136-tsig-secret-alg={zone.algorithm}",
            # lists the zone by AXFR: without it external-dns cannot read its ownership records,
            # so it never updates or deletes (docs/tutorials/rfc2136.md, "AXFR and the sync
            # policy")
            "--rfc2136-axfr",
            f"--rfc2136-min-ttl={RFC2136_TTL}",
        ]
    if settings.pdns is not None:
        return [
            *common,
            f"--pdns-server={settings.pdns.server}",
            f"--pdns-server-id={settings.pdns.server_id}",
        ]
    return common


def cluster_role_rules() -> list[k8s.rbac.v1.PolicyRuleArgs]:
    """The `ingress` source reads Ingresses through a shared informer (list and watch), nothing
    else. The chart also grants `get` and the `extensions` group, which no longer serves Ingresses
    (removed in Kubernetes 1.22) and which the v0.22.0 source does not use."""
    return [k8s.rbac.v1.PolicyRuleArgs(
        api_groups=["networking.k8s.io"], resources=["ingresses"], verbs=["list", "watch"],
    )]


def allowances() -> list[Allowance]:
    """Nothing connects to external-dns but Prometheus, to its metrics."""
    return [Allowance(
        "external-dns-metrics-from-prometheus", EXTERNAL_DNS_NAMESPACE, POD_LABELS,
        (METRICS_PORT_NAME,), (PROMETHEUS,), "Prometheus scrapes external-dns' metrics",
    )]


def scrape_targets(installed: bool) -> list[ScrapeTarget]:
    if not installed:
        return []
    return [ScrapeTarget(NAME, EXTERNAL_DNS_NAMESPACE, "PodMonitor", POD_LABELS,
                         METRICS_PORT_NAME)]


@dataclass(frozen=True)
class ExternalDns:
    namespace: k8s.core.v1.Namespace
    deployment: k8s.apps.v1.Deployment


def install(kit: TierKit, settings: Settings, credential: pulumi.Output[str]) -> ExternalDns:
    """external-dns in its namespace, reading `credential` (the stack secret of its provider)
    from a Secret."""
    ns = kit.namespace(EXTERNAL_DNS_NAMESPACE, "restricted")
    env_name = CREDENTIAL_ENV[settings.provider]
    secret = kit.secret(CREDENTIALS_SECRET, ns, {env_name: as_secret(credential)})
    account = kit.service_account(NAME, ns)
    role = k8s.rbac.v1.ClusterRole(
        NAME, metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME), rules=cluster_role_rules(),
        opts=kit.opts,
    )
    binding = bind_role(
        NAME, NAME, ("ClusterRole", role.metadata.name),
        [k8s.rbac.v1.SubjectArgs(
            kind="ServiceAccount", name=account.metadata.name, namespace=ns.metadata.name
        )],
        kit.opts,
    )
    deployment = k8s.apps.v1.Deployment(
        NAME,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=NAME, namespace=ns.metadata.name, labels=POD_LABELS,
            annotations=checkov_skips(*SERVICE_POD_SKIPS, USES_TOKEN, CREDENTIAL_IN_ENV),
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            # one writer: external-dns has no leader election, and two would race on the zone
            replicas=1,
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=POD_LABELS),
            template=_pod(settings, account, secret, env_name),
        ),
        opts=kit.child([binding, secret]),
    )
    return ExternalDns(ns, deployment)


def _pod(
    settings: Settings, account: k8s.core.v1.ServiceAccount, secret: k8s.core.v1.Secret,
    env_name: str,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """The restricted pod (a long-running one: `restricted_pod` is for pods that run to their
    end), with the chart's probes and security settings."""
    probe = k8s.core.v1.HTTPGetActionArgs(path="/healthz", port=METRICS_PORT_NAME)
    container = k8s.core.v1.ContainerArgs(
        name=NAME,
        image=versions.EXTERNAL_DNS_IMAGE,
        args=args(settings),
        env=[k8s.core.v1.EnvVarArgs(
            name=env_name,
            value_from=k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                name=secret.metadata.name, key=env_name,
            )),
        )],
        ports=[k8s.core.v1.ContainerPortArgs(
            name=METRICS_PORT_NAME, container_port=METRICS_PORT, protocol="TCP"
        )],
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe, initial_delay_seconds=10, period_seconds=10, timeout_seconds=5,
            failure_threshold=2,
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe, initial_delay_seconds=5, period_seconds=10, timeout_seconds=5,
            failure_threshold=6,
        ),
        security_context=RESTRICTED_CONTAINER,
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "10m", "memory": "64Mi"}, limits={"memory": "128Mi"},
        ),
    )
    return service_pod(account, POD_LABELS, [container])
