"""The typed stack configuration: one model for everything a stack can set, validated up front.

`parse_platform_config(raw)` is a pure function of a dict (what `Pulumi.<stack>.yaml` holds under
the project's namespace) and either returns a frozen `PlatformConfig` or raises `ConfigError` that
lists *every* problem at once, each with its dotted key path and the fix:

    dev_tools.harbor.replcias: unknown key (did you mean 'replicas'?)
    metallb.addresses[1]: '10.0.0.300/32' is not an IPv4 range (use 'A.B.C.D-E.F.G.H' or a CIDR)

`load_stack_config()` is the only place that reads `pulumi.Config`; components receive the frozen
objects and never read config or environment variables themselves. Secrets are not part of the
model: they are separate top-level keys set with `pulumi config set --secret`, read as Pulumi
secret Outputs (see `SECRET_KEYS`).
"""

from __future__ import annotations

import base64
import datetime
import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from components import versions

Tier = Literal["cluster_services", "dev_tools", "applications"]
GeneratedSecret = Literal[
    "grafana_admin_password", "harbor_admin_password", "openbao_unseal_key",
    "velero_repository_password", "identity_proxy_cookie_secret",
]
TIERS: tuple[Tier, ...] = ("cluster_services", "dev_tools", "applications")
IDENTITY_CLIENT_SECRETS = (
    "identity_argocd_client_secret", "identity_grafana_client_secret",
    "identity_harbor_client_secret", "identity_openbao_client_secret",
    "identity_proxy_client_secret",
)

# Secrets a stack may set with `pulumi config set --secret <key> ...`; never part of the model.
# key -> what it is for (the README's secrets table is generated from this).
SECRET_KEYS: dict[str, str] = {
    "grafana_admin_password": "Grafana `admin` password (or list it in `generated_secrets`)",
    "harbor_admin_password": "Harbor `admin` password (or list it in `generated_secrets`)",
    "fluentd_output_password": "password of `dev_tools.fluentd.output.user` at the log backend",
    "cloudflare_api_token": "Cloudflare API token for the ACME DNS-01 solver and external-dns "
    "(required with `acme.dns_provider` or `dns.provider` `cloudflare`)",
    "rfc2136_tsig_secret": "TSIG secret (base64) of `acme.rfc2136.tsig_key_name` (required with "
    "`acme.dns_provider` or `dns.provider` `rfc2136`)",
    "pdns_api_key": "API key of PowerDNS' HTTP API `dns.pdns.server` (required with "
    "`dns.provider` `pdns`)",
    "gitops_repo_token": "token Argo CD uses to read `gitops.repo_url` when the repo is private",
    "openbao_unseal_key": "OpenBao static unseal key you supply (32 bytes: 64 hex or 44 base64 "
    "characters, no newline); or list it in `generated_secrets`",
    "alertmanager_smtp_password": "password of `dev_tools.monitoring.alerts.email.username` at "
    "the SMTP relay",
    "alertmanager_slack_webhook_url": "incoming-webhook URL of `dev_tools.monitoring.alerts.slack` "
    "(Slack, Mattermost and Rocket.Chat take the same payload)",
    "alertmanager_webhook_token": "bearer token Alertmanager sends to "
    "`dev_tools.monitoring.alerts.webhook.url` (optional)",
    "backup_s3_access_key_id": "access key of `dev_tools.backup.target` (required with it)",
    "backup_s3_secret_access_key": "secret key of `dev_tools.backup.target` (required with it)",
    "velero_repository_password": "key of Velero's encrypted file-system backups (or list it in "
    "`generated_secrets`; a cluster restoring them needs the same)",
    "identity_argocd_client_secret": "client secret of `identity.clients.argocd` at the identity "
    "provider (required with `identity`)",
    "identity_grafana_client_secret": "client secret of `identity.clients.grafana` (required with "
    "`identity`)",
    "identity_harbor_client_secret": "client secret of `identity.clients.harbor` (required with "
    "`identity`)",
    "identity_openbao_client_secret": "client secret of `identity.clients.openbao` (required with "
    "`identity`)",
    "identity_proxy_client_secret": "client secret of `identity.clients.proxy`, the sign-in in "
    "front of Prometheus and Alertmanager (required with `identity`)",
    "identity_proxy_cookie_secret": "key of the sign-in proxy's session cookies (32 bytes, "
    "base64; or list it in `generated_secrets`)",
    "internal_ca_key": "private key (PEM) of `tls.internal_ca.certificate` (required with it)",
}


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. Raised before any resource is registered.

    A `pulumi.RunError`, so the CLI prints the message without a Python traceback.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"invalid stack configuration ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n  " + "\n  ".join(problems)
        )


class _Located(ValueError):
    """A validator error that belongs to a sub-path of the field it was raised on."""

    def __init__(self, subpath: str, message: str):
        self.subpath = subpath
        self.message = message
        super().__init__(message)


# --- scalar validators -------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_QUANTITY = re.compile(r"^[1-9]\d*(Ki|Mi|Gi|Ti)$")
_DURATION = re.compile(r"^[1-9]\d*(h|d|w|y)$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")
# Let's Encrypt refuses ACME accounts whose contact address is at these domains.
_FORBIDDEN_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "localhost")
_PINNED_REVISION = re.compile(r"^(v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?|[0-9a-f]{40})$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS label (lower-case letters, digits and '-', 1-63 characters)"
        )
    return value


def _hostname(value: str) -> str:
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_DNS_LABEL.match(x) for x in labels):
        raise ValueError(
            f"{value!r} is not a fully qualified host name (e.g. 'stg.plate.example.net')"
        )
    return value


def _host_or_ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
        return value
    except ValueError:
        pass
    try:
        return _hostname(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither an IPv4 address nor a host name") from None


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    domain = value.rsplit("@", 1)[1].lower()
    if domain in _FORBIDDEN_EMAIL_DOMAINS:
        raise ValueError(
            f"{value!r}: Let's Encrypt rejects contact addresses at {domain}; use a real mailbox"
        )
    return value


def _matching(pattern: re.Pattern[str], what: str) -> Any:
    """A validator that accepts strings matching `pattern`, else names `what` was expected."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


_semver = _matching(_SEMVER, "an exact semantic version (e.g. '1.19.1')")
_quantity = _matching(_QUANTITY, "a storage size (e.g. '10Gi'; units Ki, Mi, Gi, Ti)")
_duration = _matching(_DURATION, "a retention period (e.g. '15d'; units h, d, w, y)")


def _date(value: str) -> str:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD, e.g. '2026-11-26')") from None
    return value


_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                      "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _cron_value(text: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + low
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError
    return int(text)


def _cron_field(text: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for item in text.split(","):
        span, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) < 1):
            raise ValueError
        if span == "*":
            continue
        first, _, last = span.partition("-")
        if _cron_value(first, low, high, names) > (
            _cron_value(last, low, high, names) if last else high
        ):
            raise ValueError


def _cron(value: str) -> str:
    """A Kubernetes CronJob / Velero schedule: five fields or a macro such as '@daily'."""
    hint = "use five fields 'minute hour day-of-month month day-of-week', e.g. '0 3 * * *'"
    if value in _CRON_MACROS:
        return value
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{value!r} is not a cron schedule ({hint})")
    for text, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        try:
            _cron_field(text, low, high, names)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a cron schedule: {what} {text!r} is not in {low}-{high} "
                f"({hint})"
            ) from None
    return value


def _ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address (e.g. '10.20.0.200')") from None
    return value


def _abs_path(value: str) -> str:
    if not value.startswith("/") or "//" in value or value != value.strip():
        raise ValueError(f"{value!r} is not an absolute export path (e.g. '/srv/nfs/k8s')")
    return value


def _node_dir(value: str) -> str:
    if not value.startswith("/") or "//" in value or value != value.strip() or value == "/":
        raise ValueError(
            f"{value!r} is not an absolute directory on the nodes (e.g. "
            "'/var/lib/local-path-provisioner'; not '/')"
        )
    return value


def _repo_url(value: str) -> str:
    if not (re.match(r"^https://[^\s/]+/\S+$", value) or re.match(r"^git@[^\s:]+:\S+$", value)):
        raise ValueError(
            f"{value!r} is not a git URL (https://host/org/repo.git or git@host:org/repo)"
        )
    return value


def _repo_path(value: str) -> str:
    if value.startswith("/") or ".." in value.split("/") or not value.strip("/"):
        raise ValueError(f"{value!r} is not a relative path inside the repository")
    return value.strip("/")


def parse_ipv4_range(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """'A.B.C.D-E.F.G.H' or a CIDR -> (first, last). Raises ValueError with the fix."""
    hint = "use 'A.B.C.D-E.F.G.H' or a CIDR such as '192.168.10.240/28'"
    try:
        if "-" in text:
            first_s, last_s = (p.strip() for p in text.split("-", 1))
            first, last = ipaddress.IPv4Address(first_s), ipaddress.IPv4Address(last_s)
        else:
            net = ipaddress.IPv4Network(text.strip(), strict=True)
            first, last = net[0], net[-1]
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 range ({hint})") from None
    if first > last:
        raise ValueError(f"{text!r}: range start {first} is after its end {last}")
    return first, last


def _ipv4_range(value: str) -> str:
    parse_ipv4_range(value)
    return value


_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----"
)


def _pem_certificates(value: str) -> str:
    """One or more PEM `CERTIFICATE` blocks and nothing else (a CA bundle, as `openssl x509`
    writes it): each body base64 that decodes to a DER SEQUENCE."""
    hint = "paste the PEM of the CA certificate(s), '-----BEGIN CERTIFICATE-----' ... '-----END CERTIFICATE-----'"  # noqa: E501
    blocks = list(_PEM_BLOCK.finditer(value))
    rest = _PEM_BLOCK.sub("", value).strip()
    if not blocks or rest:
        raise ValueError(f"not a PEM certificate bundle ({hint})")
    for number, block in enumerate(blocks, 1):
        if block.group(1) != "CERTIFICATE":
            raise ValueError(
                f"PEM block {number} is a {block.group(1)!r}, not a CERTIFICATE (never paste a "
                "private key here)"
            )
        try:
            der = base64.b64decode("".join(block.group(2).split()), validate=True)
        except ValueError:
            der = b""
        if der[:1] != b"\x30":
            raise ValueError(f"PEM block {number} is not a DER certificate ({hint})")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Hostname = Annotated[str, AfterValidator(_hostname)]
Email = Annotated[str, AfterValidator(_email)]
SemVer = Annotated[str, AfterValidator(_semver)]
Quantity = Annotated[str, AfterValidator(_quantity)]
Duration = Annotated[str, AfterValidator(_duration)]
IPv4Range = Annotated[str, AfterValidator(_ipv4_range)]
Replicas = Annotated[int, Field(ge=1, le=10)]
Cron = Annotated[str, AfterValidator(_cron)]
CaBundle = Annotated[str, AfterValidator(_pem_certificates)]


class _Model(BaseModel):
    # Each field's docstring is its documentation (the README's config reference,
    # `python -m tooling.docs`); pydantic's `use_attribute_docstrings` would read every model's
    # source on each `pulumi up` to copy them (~30 ms of the program's start), so the tooling reads
    # them itself.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- sections ----------------------------------------------------------------------------------


class ClusterConfig(_Model):
    kube_context: str | None = None
    """kubeconfig context to deploy to; unset = the current context of $KUBECONFIG."""
    metrics_server: Literal["platform", "distribution"] = "platform"
    """who serves the resource metrics API (`metrics.k8s.io`) every HorizontalPodAutoscaler reads: platform = tier 1 installs metrics-server; distribution = the cluster's distribution already runs one (k3s and RKE2 do), the platform installs none"""  # noqa: E501
    kubelet_insecure_tls: bool = False
    """metrics-server accepts the kubelets' serving certificates unverified (`--kubelet-insecure-tls`), for kubelets with self-signed ones. The secure alternative: kubelets with `serverTLSBootstrap: true` whose `kubernetes.io/kubelet-serving` CSRs are approved, so the cluster CA signs their certificates"""  # noqa: E501


_TSIG_ALGORITHMS = ("HMACSHA256", "HMACSHA512", "HMACSHA1", "HMACMD5")


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port (e.g. 'ns1.lan.example.net:53')")
    _host_or_ipv4(host)
    return value


class Rfc2136Config(_Model):
    nameserver: Annotated[str, AfterValidator(_host_port)]
    """the zone's primary (authoritative) DNS server as host:port; it accepts TSIG-signed dynamic updates (RFC 2136). Let's Encrypt reads the TXT records from the zone's public servers, so this is their primary (or a hidden primary)"""  # noqa: E501
    tsig_key_name: Hostname
    """name of the TSIG key the server allows to update the zone; its secret is the stack secret `rfc2136_tsig_secret` (base64)"""  # noqa: E501
    tsig_algorithm: Literal[_TSIG_ALGORITHMS] = "HMACSHA256"  # type: ignore[valid-type]
    """TSIG algorithm of the key (cert-manager's names)"""


class AcmeConfig(_Model):
    email: Email
    """contact address for the Let's Encrypt account (expiry notices)"""
    server: Literal["staging", "production"] = "production"
    """Let's Encrypt server of the tools' and apps' certificates; 'staging' only to try a new domain (no client trusts staging certificates)"""  # noqa: E501
    solver: Literal["http01", "dns01"] = "http01"
    """http01 answers challenges through `ingress_class` and needs Let's Encrypt to reach the ingress from the internet (`public_address` with a private ingress address); dns01 proves the domain through its DNS and works where the internet cannot reach the cluster"""  # noqa: E501
    dns_provider: Literal["cloudflare", "rfc2136"] = "cloudflare"
    """dns01: where the challenge TXT records go (Cloudflare's API, or the zone's own server by RFC 2136 dynamic update)"""  # noqa: E501
    dns_zones: list[Hostname] = []
    """DNS zones the dns01 solver may answer for (required with dns01)"""
    rfc2136: Rfc2136Config | None = None
    """the zone's primary server and TSIG key (required with dns_provider rfc2136)"""
    public_address: Annotated[str, AfterValidator(_ipv4)] | None = None
    """http01 only: the public IPv4 address that forwards ports 80 and 443 to the ingress address; required when that address is private"""  # noqa: E501

    @model_validator(mode="after")
    def _dns01_needs_zones(self) -> AcmeConfig:
        if self.solver == "dns01" and not self.dns_zones:
            raise _Located("dns_zones", "required when solver is 'dns01' (e.g. ['example.net'])")
        if self.solver == "dns01" and self.dns_provider == "rfc2136" and self.rfc2136 is None:
            raise _Located(
                "rfc2136", "required when dns_provider is 'rfc2136' (nameserver, tsig_key_name)"
            )
        return self


class MetalLBConfig(_Model):
    addresses: Annotated[list[IPv4Range], Field(min_length=1)]
    """address ranges MetalLB hands to LoadBalancer Services: 'A.B.C.D-E.F.G.H' or CIDR"""
    pool_name: DnsLabel = "default-pool"
    """name of the IPAddressPool (and its L2Advertisement)"""
    auto_assign: bool = True
    """whether Services get addresses from this pool without asking for it"""

    @model_validator(mode="after")
    def _no_overlap(self) -> MetalLBConfig:
        spans = [(parse_ipv4_range(a), i) for i, a in enumerate(self.addresses)]
        spans.sort()
        for ((_, last_a), i), ((first_b, _), j) in zip(spans, spans[1:]):
            if first_b <= last_a:
                lo, hi = sorted((i, j))
                raise _Located(
                    f"addresses[{hi}]",
                    f"{self.addresses[hi]!r} overlaps addresses[{lo}] {self.addresses[lo]!r}",
                )
        return self


class NfsConfig(_Model):
    server: Annotated[str, AfterValidator(_host_or_ipv4)]
    """NFS server (host name or IPv4)"""
    path: Annotated[str, AfterValidator(_abs_path)]
    """exported directory the provisioner carves one sub-directory per volume from"""
    reclaim_policy: Literal["Retain", "Delete"] = "Delete"
    """Retain keeps the data of a deleted PVC on the server; Delete removes it"""
    default_class: bool = True
    """mark the StorageClass as the cluster default"""
    mount_options: list[str] = ["nfsvers=4.1"]
    """NFS mount options of every volume"""


class LocalPathConfig(_Model):
    storage_class: DnsLabel = "local-path"
    """name of the StorageClass of node-local volumes (rancher local-path-provisioner)"""
    path: Annotated[str, AfterValidator(_node_dir)] = "/opt/local-path-provisioner"
    """directory on every node under which each volume gets its own sub-directory"""
    reclaim_policy: Literal["Retain", "Delete"] = "Delete"
    """Retain keeps a deleted PVC's directory on its node; Delete removes it"""


class IngressConfig(_Model):
    controller: Literal["traefik", "external"] = "traefik"
    """traefik: the platform installs Traefik as the cluster's ingress controller; external: one is already running and serves `ingress_class`"""  # noqa: E501
    load_balancer_ip: Annotated[str, AfterValidator(_ipv4)] | None = None
    """the fixed MetalLB address of Traefik's LoadBalancer Service, inside `metallb.addresses`; DNS records of every host point here (required with traefik)"""  # noqa: E501
    replicas: Replicas = 1
    """Traefik replicas"""
    namespace: DnsLabel = "traefik"
    """namespace of the ingress controller's pods (network policies admit them to the tools' UIs; set it with `external`)"""  # noqa: E501
    pod_labels: dict[str, str] = {"app.kubernetes.io/name": "traefik"}
    """labels of the ingress controller's pods (network policies admit them; set them with `external`)"""  # noqa: E501


class ArgoCDConfig(_Model):
    host: DnsLabel = "argocd"
    """Argo CD UI at <host>.<domain>"""
    replicas: Replicas = 1
    """argocd-server and repo-server replicas"""
    admin_password_rotated: Annotated[str, AfterValidator(_date)] = "2026-01-01"
    """date (YYYY-MM-DD) the generated `admin` password was last rotated; set today's date to rotate it (sessions issued before that day end)"""  # noqa: E501


class HarborConfig(_Model):
    host: DnsLabel = "harbor"
    """Harbor UI and registry at <host>.<domain>"""
    replicas: Replicas = 1
    """core, portal, registry replicas"""
    registry_size: Quantity = "50Gi"
    """image storage"""
    database_size: Quantity = "5Gi"
    """Harbor's internal PostgreSQL volume"""
    trivy_size: Quantity = "5Gi"
    """vulnerability database cache"""
    rotate_robots: bool = False
    """true for one `up` replaces the pull and CI push robots with new ones (stored in OpenBao; a pull robot's predecessor is deleted once the apps' `harbor-pull` Secret carries the new one, the push robot's an hour later); set it back to false afterwards"""  # noqa: E501
    push_robot_days: Annotated[int, Field(ge=3, le=3650)] = 30
    """lifetime in days of the CI push robot (`platform/harbor/ci-push`); a daily CronJob replaces it with a new one `push_robot_renew_days` before it expires"""  # noqa: E501
    push_robot_renew_days: Annotated[int, Field(ge=2, le=3649)] = 10
    """the daily CronJob replaces the CI push robot when it expires within this many days (at least 2, so a failed night is retried before it expires; less than push_robot_days)"""  # noqa: E501
    immutable_tags: list[Annotated[str, AfterValidator(_matching(
        re.compile(r"^[^\s/]{1,128}$"), "a Harbor tag pattern (e.g. '*.*.*'; no spaces or '/')"
    ))]] = ["{,v}[0-9]{,[0-9]{,[0-9]{,[0-9]}}}.[0-9]{,[0-9]{,[0-9]{,[0-9]}}}.[0-9]{,[0-9]{,[0-9]{,[0-9]}}}"]  # noqa: E501
    """tag patterns (Harbor's doublestar: `*`, `?`, `[0-9]`, `{a,b}`; `{,x}` is nothing or x) that no push may overwrite and nobody may delete in every repository of project `plate`; default: the release tags [v]X.Y.Z that prod pins (one to four digits a part; not `-rc` tags); [] for none"""  # noqa: E501
    ca_bundle: CaBundle | None = None
    """PEM of the CA(s) Harbor trusts besides the public ones, for the endpoints it calls (the identity provider, replication targets, webhooks): added to the trust store of core, jobservice, registry, Trivy and the exporter; unset = public CAs only"""  # noqa: E501

    @model_validator(mode="after")
    def _renewed_before_expiry(self) -> HarborConfig:
        if self.push_robot_renew_days >= self.push_robot_days:
            raise _Located(
                "push_robot_renew_days",
                f"must be less than push_robot_days ({self.push_robot_days}), else every night "
                "replaces the push robot",
            )
        return self


Severity = Literal["critical", "warning"]
Severities = Annotated[list[Severity], Field(min_length=1)]
_SMARTHOST = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
_HTTP_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_smarthost = _matching(_SMARTHOST, "an SMTP relay as host:port (e.g. 'smtp.example.net:587')")
_http_url = _matching(_HTTP_URL, "an http(s) URL (e.g. 'https://hooks.example.net/alerts')")
_https_url = _matching(
    re.compile(r"^https://[^\s/]+(/\S*)?$"), "an https URL (e.g. 'https://id.example.net/realms/x')"
)


def _slack_channel(value: str) -> str:
    if not re.fullmatch(r"#[a-z0-9][a-z0-9._-]{0,79}", value):
        raise ValueError(f"{value!r} is not a channel name (e.g. '#platform-alerts')")
    return value


class EmailReceiver(_Model):
    to: Annotated[list[Email], Field(min_length=1)]
    """addresses the alerts go to"""
    sender: Email
    """the From address"""
    smarthost: Annotated[str, AfterValidator(_smarthost)]
    """SMTP relay host:port (STARTTLS required)"""
    username: str | None = None
    """SMTP login; its password is the secret `alertmanager_smtp_password`"""
    ca_bundle: CaBundle | None = None
    """PEM of the CA(s) that signed the relay's certificate when it is not a public one (Alertmanager verifies STARTTLS against it); unset = the system's public CAs"""  # noqa: E501
    severities: Severities = ["critical", "warning"]
    """which alerts this receiver gets"""


class SlackReceiver(_Model):
    channel: Annotated[str, AfterValidator(_slack_channel)]
    """channel the alerts are posted to; the webhook URL is the secret `alertmanager_slack_webhook_url`"""  # noqa: E501
    severities: Severities = ["critical", "warning"]
    """which alerts this receiver gets"""


class WebhookReceiver(_Model):
    url: Annotated[str, AfterValidator(_http_url)]
    """endpoint receiving Alertmanager's webhook JSON (a pager, an incident tool); an optional bearer token is the secret `alertmanager_webhook_token`"""  # noqa: E501
    severities: Severities = ["critical"]
    """which alerts this receiver gets"""


class AlertThresholds(_Model):
    certificate_expiry_days: Annotated[int, Field(ge=1, le=29)] = 14
    """CertificateExpiringSoon fires below this many days (cert-manager renews Let's Encrypt certificates 30 days before expiry, so 1-29)"""  # noqa: E501
    volume_full_percent: Annotated[int, Field(ge=50, le=99)] = 85
    """PersistentVolumeClaimAlmostFull fires above this use (50-99)"""
    volume_full_within_hours: Annotated[int, Field(ge=1, le=168)] = 24
    """PersistentVolumeClaimFillingUp fires when the volume is predicted full within this many hours (1-168)"""  # noqa: E501


class AlertsConfig(_Model):
    email: EmailReceiver | None = None
    """e-mail receiver"""
    slack: SlackReceiver | None = None
    """Slack-compatible incoming webhook receiver"""
    webhook: WebhookReceiver | None = None
    """generic webhook receiver"""
    thresholds: AlertThresholds = AlertThresholds()
    """the platform alerts' thresholds"""

    def credentials(self) -> dict[str, tuple[str, bool]]:
        """Each receiver credential (a stack secret) -> (the setting that uses it, whether that
        setting is set). The SMTP password and the Slack URL are required with their setting,
        the webhook's token is optional; none may be set without its setting."""
        return {
            "alertmanager_smtp_password": (
                "dev_tools.monitoring.alerts.email.username",
                self.email is not None and self.email.username is not None,
            ),
            "alertmanager_slack_webhook_url": (
                "dev_tools.monitoring.alerts.slack", self.slack is not None
            ),
            "alertmanager_webhook_token": (
                "dev_tools.monitoring.alerts.webhook", self.webhook is not None
            ),
        }

    def receivers(self) -> dict[str, EmailReceiver | SlackReceiver | WebhookReceiver]:
        """The configured receivers by kind (email, slack, webhook)."""
        found = {"email": self.email, "slack": self.slack, "webhook": self.webhook}
        return {kind: receiver for kind, receiver in found.items() if receiver is not None}


class MonitoringConfig(_Model):
    grafana_host: DnsLabel = "grafana"
    """Grafana at <host>.<domain>"""
    prometheus_host: DnsLabel = "prometheus"
    """Prometheus' UI at <host>.<domain>, behind the sign-in (only with `identity`)"""
    alertmanager_host: DnsLabel = "alertmanager"
    """Alertmanager's UI at <host>.<domain>, behind the sign-in (only with `identity`)"""
    prometheus_replicas: Replicas = 1
    """Prometheus server replicas"""
    prometheus_retention: Duration = "15d"
    """how long Prometheus keeps samples"""
    prometheus_storage: Quantity = "50Gi"
    """Prometheus volume per replica"""
    prometheus_storage_class: DnsLabel | None = None
    """StorageClass of Prometheus' volumes; default: `storage_class`. Prometheus does not support a network filesystem for its TSDB: name `local_path.storage_class`"""  # noqa: E501
    alertmanager_storage: Quantity = "2Gi"
    """Alertmanager volume"""
    alertmanager_storage_class: DnsLabel | None = None
    """StorageClass of Alertmanager's volumes (silences, notification log); default: `storage_class`"""  # noqa: E501
    grafana_storage: Quantity = "5Gi"
    """Grafana volume (dashboards, users)"""
    alerts: AlertsConfig = AlertsConfig()
    """where Alertmanager sends alerts (a production stack needs at least one receiver) and the platform alerts' thresholds"""  # noqa: E501


class FluentdOutput(_Model):
    type: Literal["elasticsearch", "opensearch", "forward"]
    """where the collected logs go"""
    host: Annotated[str, AfterValidator(_host_or_ipv4)]
    """log backend host name or IPv4"""
    port: Annotated[int, Field(ge=1, le=65535)]
    """log backend port"""
    scheme: Literal["http", "https"] = "https"
    """elasticsearch/opensearch only"""
    user: str | None = None
    """its password is the secret `fluentd_output_password`"""
    index_prefix: DnsLabel = "plate"
    """elasticsearch/opensearch index prefix"""
    ca_bundle: CaBundle | None = None
    """elasticsearch/opensearch with scheme https: PEM of the CA(s) that signed the backend's certificate when it is not a public one; unset = the system's public CAs"""  # noqa: E501


class FluentdConfig(_Model):
    output: FluentdOutput
    """the destination of the collected container logs"""


class OpenBaoSnapshots(_Model):
    schedule: Cron = "0 * * * *"
    """when the raft snapshot Job runs (cron, UTC)"""
    keep: Annotated[int, Field(ge=1, le=1000)] = 48
    """how many snapshots stay on the snapshot volume (the oldest are deleted)"""
    volume_size: Quantity = "5Gi"
    """snapshot volume (platform storage class, ReadWriteMany); Velero copies it off the cluster"""


class OpenBaoConfig(_Model):
    host: DnsLabel = "bao"
    """OpenBao UI and API at <host>.<domain>"""
    replicas: Literal[1, 3, 5] = 1
    """raft voters; 1 = single node, 3 or 5 = HA (an odd number keeps quorum)"""
    storage_size: Quantity = "10Gi"
    """raft data volume per replica"""
    storage_class: DnsLabel | None = None
    """StorageClass of the raft volumes; default: `storage_class`. Raft needs a local disk (fsync and locking): name `local_path.storage_class`. The snapshot volume stays on `storage_class` (shared, ReadWriteMany)"""  # noqa: E501
    seal: Literal["static", "shamir"] = "static"
    """static: unseals itself with a key from a Kubernetes Secret and initialises itself; shamir: `bao operator init`/`unseal` by hand on every pod start"""  # noqa: E501
    unseal_key_secret: DnsLabel | None = None
    """name of a Secret (key `key`) in the openbao namespace that you create and keep: the unseal key then never enters Pulumi state"""  # noqa: E501
    environments: list[DnsLabel] = []
    """environments whose secrets this OpenBao serves (plate/<env>/*, one read-only store each); default: this stack's"""  # noqa: E501
    snapshots: OpenBaoSnapshots = OpenBaoSnapshots()
    """scheduled raft snapshots by a dedicated snapshot-only identity"""


def _bucket(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value) or ".." in value:
        raise ValueError(f"{value!r} is not an S3 bucket name (3-63 lower-case letters, digits, "
                         "'.' and '-')")
    return value


class BackupTarget(_Model):
    bucket: Annotated[str, AfterValidator(_bucket)]
    """S3 bucket the backups go to; access keys are the secrets `backup_s3_access_key_id` and `backup_s3_secret_access_key`"""  # noqa: E501
    prefix: DnsLabel | None = None
    """folder inside the bucket; default: the environment"""
    url: Annotated[str, AfterValidator(_http_url)] | None = None
    """S3-compatible endpoint (MinIO, Ceph RGW, Garage...); unset = AWS S3"""
    region: Annotated[str, Field(min_length=1)] = "us-east-1"
    """the bucket's region (S3-compatible stores accept any)"""
    path_style: bool = True
    """path-style addressing (most S3-compatible stores need it; AWS S3 works with either)"""
    checksum: bool = True
    """send CRC32 checksums (set false for stores that reject them: Ceph RGW, Backblaze B2)"""
    ca_bundle: CaBundle | None = None
    """with an https `url`: PEM of the CA(s) that signed the store's certificate when it is not a public one; unset = the system's public CAs"""  # noqa: E501


class BackupConfig(_Model):
    target: BackupTarget | None = None
    """where Velero writes (production stacks must set it); unset = no cluster backups"""
    schedule: Cron = "0 3 * * *"
    """when the daily backup runs (cron, UTC)"""
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 7
    """how long each backup is kept"""
    prometheus: bool = False
    """also back up Prometheus' volume (large; metrics are usually expendable)"""


class DevToolsConfig(_Model):
    argocd: ArgoCDConfig = ArgoCDConfig()
    """Argo CD"""
    harbor: HarborConfig = HarborConfig()
    """Harbor registry, Trivy scanning on"""
    monitoring: MonitoringConfig = MonitoringConfig()
    """kube-prometheus-stack: Prometheus, Alertmanager, Grafana"""
    fluentd: FluentdConfig
    """Fluentd log collection (DaemonSet) and forwarding"""
    openbao: OpenBaoConfig = OpenBaoConfig()
    """OpenBao secrets store, raft storage"""
    backup: BackupConfig = BackupConfig()
    """Velero: scheduled backups of the tools' objects and volumes to S3"""


class IdentityGroups(_Model):
    """Identity-provider groups (values of the ID token's `identity.groups_claim`) -> platform
    roles. A person in none of them gets nothing."""

    admins: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    """run the platform: admin in Argo CD, Grafana and Harbor, the admin policy in OpenBao,
    cluster-admin through `kubectl`"""
    developers: list[Annotated[str, Field(min_length=1)]] = []
    """ship the apps: sync and read the plate Applications, edit dashboards, push to Harbor's
    `plate` project, write `plate/<env>/*` in OpenBao, restart pods and port-forward in
    `plate-<env>` (changes go through Git)"""
    viewers: list[Annotated[str, Field(min_length=1)]] = []
    """read-only everywhere (no Secret contents)"""


class IdentityClients(_Model):
    """OAuth client IDs registered at the identity provider, one per tool (their secrets are the
    `identity_<tool>_client_secret` stack secrets)."""

    argocd: DnsLabel = "argocd"
    grafana: DnsLabel = "grafana"
    harbor: DnsLabel = "harbor"
    openbao: DnsLabel = "openbao"
    proxy: DnsLabel = "platform-proxy"
    """the forward-auth sign-in in front of Prometheus and Alertmanager"""
    kubernetes: DnsLabel = "kubernetes"
    """the API server's audience for `kubectl` (public client, no secret)"""


class IdentityEndpoints(_Model):
    """The provider's endpoints as its discovery document (`<issuer>/.well-known/openid-
    configuration`) lists them. Only Grafana needs them: its configuration file has no discovery
    (the other tools read the document themselves)."""

    authorization: Annotated[str, AfterValidator(_https_url)]
    """`authorization_endpoint`"""
    token: Annotated[str, AfterValidator(_https_url)]
    """`token_endpoint`"""
    userinfo: Annotated[str, AfterValidator(_https_url)]
    """`userinfo_endpoint`"""


class IdentityConfig(_Model):
    issuer: Annotated[str, AfterValidator(_https_url)]
    """OIDC issuer URL of the organisation's identity provider (its
    `/.well-known/openid-configuration` must be served there)"""
    endpoints: IdentityEndpoints
    """the provider's authorization, token and userinfo endpoints (from its discovery document)"""
    groups_claim: Annotated[str, Field(min_length=1)] = "groups"
    """ID-token claim that lists the person's groups"""
    username_claim: Annotated[str, Field(min_length=1)] = "email"
    """ID-token claim that names the person in audit logs"""
    scopes: list[Annotated[str, Field(min_length=1)]] = ["openid", "profile", "email", "groups"]
    """scopes every tool requests"""
    groups: IdentityGroups
    """groups -> platform roles"""
    clients: IdentityClients = IdentityClients()
    """client IDs at the provider"""
    break_glass: bool = False
    """turn on the local emergency accounts for when the identity provider is down: Argo CD's `admin`, Grafana's and Harbor's login forms (their `admin` passwords: the secret stack outputs `<tool>_admin_password`, also kept current in OpenBao at `platform/break-glass/<tool>`). Off by default; turn on, use, turn off. OpenBao's own break-glass login always exists and answers only through `kubectl port-forward` (README "Who may do what")."""  # noqa: E501


class InternalCaConfig(_Model):
    certificate: CaBundle
    """PEM of your CA certificate (public; one certificate); its private key (PEM) is the stack secret `internal_ca_key`"""  # noqa: E501


class TlsConfig(_Model):
    internal_ca: InternalCaConfig | None = None
    """the CA of the platform's internal certificates (OpenBao's API and its clients trust it; cert-manager's ClusterIssuer `plate-internal-ca` issues from it); unset = the program generates a self-signed CA and keeps its key as a secret in Pulumi state"""  # noqa: E501
    ingress_ca_bundle: CaBundle | None = None
    """PEM of the CA(s) that signed the tools' ingress certificates when they are not public ones; the health gate verifies the tools' HTTPS answers against it (besides the system's CAs)"""  # noqa: E501

    @model_validator(mode="after")
    def _one_ca(self) -> TlsConfig:
        if self.internal_ca is not None and len(
            _PEM_BLOCK.findall(self.internal_ca.certificate)
        ) != 1:
            raise _Located(
                "internal_ca.certificate",
                "one CA certificate, not a bundle (the issuer signs with this one)",
            )
        return self


class PowerDnsConfig(_Model):
    server: Annotated[str, AfterValidator(_http_url)]
    """PowerDNS' HTTP API (its webserver), e.g. 'http://pdns.lan.example.net:8081'; its API key is the stack secret `pdns_api_key`"""  # noqa: E501
    server_id: DnsLabel = "localhost"
    """the server id in the API's paths; 'localhost' unless a proxy in front of several servers names them"""  # noqa: E501


class DnsConfig(_Model):
    provider: Literal["rfc2136", "cloudflare", "pdns"]
    """where external-dns (tier 1) writes each Ingress host's A record, pointing at the ingress address, next to a TXT record naming this stack as its owner: rfc2136 = the zone's primary and TSIG key of `acme.rfc2136` (secret `rfc2136_tsig_secret`; the key may update A and TXT records and transfer the zone); cloudflare = Cloudflare's API (secret `cloudflare_api_token`: Zone Read, DNS Edit); pdns = PowerDNS' API (`dns.pdns`, secret `pdns_api_key`)"""  # noqa: E501
    zone: Hostname | None = None
    """rfc2136 only: the zone on the primary that holds the hosts (`domain` or a parent of it); default: `domain`"""  # noqa: E501
    pdns: PowerDnsConfig | None = None
    """PowerDNS' API (required with provider pdns)"""

    @model_validator(mode="after")
    def _provider_settings(self) -> DnsConfig:
        if self.provider == "pdns" and self.pdns is None:
            raise _Located("pdns", "required when provider is 'pdns' (server)")
        if self.provider != "pdns" and self.pdns is not None:
            raise _Located("pdns", f"only used with provider 'pdns', not {self.provider!r}; "
                                   "remove it")
        if self.provider != "rfc2136" and self.zone is not None:
            raise _Located("zone", f"only used with provider 'rfc2136' ({self.provider!r} finds "
                                   "the zone itself); remove it")
        return self


class GitOpsConfig(_Model):
    repo_url: Annotated[str, AfterValidator(_repo_url)]
    """this repository, as Argo CD clones it"""
    target_revision: str = "main"
    """branch, tag or commit the app-of-apps follows; production stacks must pin a tag or commit"""
    apps_path: Annotated[str, AfterValidator(_repo_path)] | None = None
    """folder of child Application manifests; default environments/argocd/apps/<environment>"""
    argocd_namespace: DnsLabel = "argocd"
    """namespace Argo CD runs in (also when another stack owns the dev_tools tier)"""


class PlatformConfig(_Model):
    environment: Annotated[str, AfterValidator(_dns_label), Field(max_length=20)]
    """short environment name: namespaces, AppProject and app names carry it (e.g. plate-stg)"""
    production: bool = False
    """a production stack: protected resources, Let's Encrypt production, pinned GitOps revision"""
    domain: Hostname
    """base domain; every tool is served at <host>.<domain>"""
    ingress_class: DnsLabel = "traefik"
    """IngressClass of every Ingress (tools, apps, the HTTP-01 solver)"""
    ingress: IngressConfig = IngressConfig()
    """the ingress controller (tier 1) and its address"""
    storage_class: DnsLabel = "nfs"
    """StorageClass every stateful tool uses unless its own setting names another (created by cluster_services from `nfs`)"""  # noqa: E501
    existing_storage_classes: list[DnsLabel] = []
    """StorageClasses the cluster already has (created outside this stack) that the per-tool storage class settings may name"""  # noqa: E501
    tiers: Annotated[list[Tier], Field(min_length=1)] = list(TIERS)
    """which tiers this stack owns; two stacks can share a cluster when only one owns the cluster-wide tiers"""  # noqa: E501
    cluster: ClusterConfig = ClusterConfig()
    """which cluster the stack deploys to"""
    acme: AcmeConfig
    """Let's Encrypt ClusterIssuers"""
    metallb: MetalLBConfig | None = None
    """MetalLB L2 address pool; required when the stack owns cluster_services"""
    nfs: NfsConfig | None = None
    """NFS provisioner and StorageClass; required when the stack owns cluster_services"""
    local_path: LocalPathConfig | None = None
    """node-local volumes (local-path-provisioner, tier 1) and their StorageClass, for data a network filesystem does not suit (raft, Prometheus' TSDB); unset = none"""  # noqa: E501
    dev_tools: DevToolsConfig | None = None
    """tier-2 tools; required when the stack owns dev_tools"""
    gitops: GitOpsConfig
    """the app-of-apps root Application"""
    tls: TlsConfig = TlsConfig()
    """the internal CA (OpenBao's API) and the CA of the tools' ingress certificates, when not public"""  # noqa: E501
    dns: DnsConfig | None = None
    """DNS records from code: external-dns (tier 1) keeps an A record for every Ingress host inside `domain`; unset = records are made by hand"""  # noqa: E501
    identity: IdentityConfig | None = None
    """single sign-on for people through the organisation's OIDC provider; required in production
    (without it every person shares the tools' local admin accounts)"""
    chart_versions: dict[Literal[tuple(versions.CHARTS)], SemVer] = {}  # type: ignore[valid-type]
    """per-chart exact version overrides of components/versions.py, e.g. {harbor: '1.19.2'}"""
    generated_secrets: list[GeneratedSecret] = []
    """the secrets the program generates and keeps in Pulumi state instead of reading them from the stack file; each of these it would generate must be either listed here or set as a committed `secure:` value"""  # noqa: E501

    # --- derived values (not keys) ---

    @property
    def acme_server(self) -> Literal["staging", "production"]:
        return self.acme.server

    @property
    def apps_path(self) -> str:
        return self.gitops.apps_path or f"environments/argocd/apps/{self.environment}"

    def owns(self, tier: Tier) -> bool:
        return tier in self.tiers

    def fqdn(self, host: str) -> str:
        return f"{host}.{self.domain}"

    def chart(self, name: str) -> versions.ChartPin:
        pin = versions.CHARTS[name]
        override = self.chart_versions.get(name)
        return pin if override is None else versions.ChartPin(pin.chart, pin.repo, override)


def _cross_field_problems(cfg: PlatformConfig) -> list[str]:
    problems = []
    if cfg.production and cfg.acme.server == "staging":
        problems.append(
            "acme.server: a production stack must use Let's Encrypt 'production' "
            "(staging certificates are not trusted by browsers); remove the key or set 'production'"
        )
    if cfg.production and not _PINNED_REVISION.match(cfg.gitops.target_revision):
        problems.append(
            f"gitops.target_revision: a production stack must pin a release tag or a 40-character "
            f"commit, not {cfg.gitops.target_revision!r} (e.g. 'v1.4.0')"
        )
    if len(set(cfg.tiers)) != len(cfg.tiers):
        problems.append("tiers: a tier is listed twice")
    if cfg.owns("cluster_services"):
        for key in ("metallb", "nfs"):
            if getattr(cfg, key) is None:
                problems.append(f"{key}: required when the stack owns the cluster_services tier")
    if cfg.owns("dev_tools") and cfg.dev_tools is None:
        problems.append("dev_tools: required when the stack owns the dev_tools tier")
    if cfg.production and cfg.owns("dev_tools") and cfg.identity is None:
        problems.append(
            "identity: a production stack needs single sign-on (identity.issuer, identity.groups."
            "admins), or every person shares the tools' local admin accounts and no audit log can "
            "tell them apart"
        )
    if (cfg.production and cfg.owns("dev_tools") and cfg.dev_tools is not None
            and cfg.dev_tools.backup.target is None):
        problems.append(
            "dev_tools.backup.target: a production stack needs a backup target (an S3 bucket "
            "outside the cluster), or losing the cluster loses Harbor, Grafana and Argo CD's state"
        )
    if (cfg.production and cfg.owns("dev_tools") and cfg.dev_tools is not None
            and not cfg.dev_tools.monitoring.alerts.receivers()):
        problems.append(
            "dev_tools.monitoring.alerts: a production stack needs at least one receiver "
            "(email, slack or webhook), or its alerts reach nobody"
        )
    return (
        problems + _ingress_problems(cfg) + _openbao_problems(cfg) + _acme_problems(cfg)
        + _tls_problems(cfg) + _storage_problems(cfg) + _dns_problems(cfg)
    )


# the TSIG algorithms external-dns signs with (provider/rfc2136/rfc2136.go `tsigAlgs` at v0.22.0:
# hmac-sha1/224/256/384/512, no hmac-md5), in the model's (cert-manager's) names
_EXTERNAL_DNS_TSIG = ("HMACSHA256", "HMACSHA512", "HMACSHA1")


def _dns_problems(cfg: PlatformConfig) -> list[str]:
    """external-dns runs in tier 1 and writes through a provider whose settings must be there."""
    dns = cfg.dns
    if dns is None:
        return []
    if not cfg.owns("cluster_services"):
        return ["dns: external-dns runs in the cluster_services tier, which this stack does not "
                "own; set dns in the stack that owns it, or remove it"]
    problems = []
    rfc2136 = cfg.acme.rfc2136
    if dns.provider == "rfc2136" and rfc2136 is None:
        problems.append(
            "dns.provider: 'rfc2136' writes to the zone's primary with the TSIG key of "
            "acme.rfc2136; set acme.rfc2136 (nameserver, tsig_key_name, tsig_algorithm)"
        )
    elif dns.provider == "rfc2136" and rfc2136 is not None and (
        rfc2136.tsig_algorithm not in _EXTERNAL_DNS_TSIG
    ):
        problems.append(
            f"acme.rfc2136.tsig_algorithm: external-dns (dns.provider 'rfc2136') cannot sign with "
            f"{rfc2136.tsig_algorithm}; use a key of {', '.join(_EXTERNAL_DNS_TSIG)}"
        )
    zone = dns.zone or cfg.domain
    if cfg.domain != zone and not cfg.domain.endswith(f".{zone}"):
        problems.append(
            f"dns.zone: domain {cfg.domain!r} is not inside zone {zone!r}; set the zone that "
            "holds the domain (the domain itself or a parent)"
        )
    return problems


def _tls_problems(cfg: PlatformConfig) -> list[str]:
    """A CA bundle where nothing would use it, and an internal CA the program cannot know."""
    problems = []
    tools = cfg.dev_tools
    if tools is not None and tools.fluentd.output.ca_bundle is not None and (
        tools.fluentd.output.type == "forward" or tools.fluentd.output.scheme != "https"
    ):
        problems.append(
            "dev_tools.fluentd.output.ca_bundle: only for type elasticsearch/opensearch with "
            "scheme https (nothing verifies a certificate otherwise); remove it or set scheme "
            "https"
        )
    target = tools.backup.target if tools is not None else None
    if target is not None and target.ca_bundle is not None and not (
        target.url is not None and target.url.startswith("https://")
    ):
        problems.append(
            "dev_tools.backup.target.ca_bundle: only with an https dev_tools.backup.target.url "
            "(AWS S3 has a public certificate); remove it or set the store's https url"
        )
    if cfg.owns("dev_tools") and not cfg.owns("cluster_services") and cfg.tls.internal_ca is None:
        problems.append(
            "tls.internal_ca: required when the stack owns dev_tools but not cluster_services: "
            "set tls.internal_ca.certificate to the CA the other stack's `plate-internal-ca` "
            "issuer signs with (OpenBao's clients must trust it)"
        )
    if (cfg.owns("applications") and not cfg.owns("dev_tools")
            and not cfg.owns("cluster_services") and cfg.tls.internal_ca is None):
        problems.append(
            "tls.internal_ca: required when the stack owns applications but not "
            "cluster_services: set tls.internal_ca.certificate to the CA the other stack's "
            "`plate-internal-ca` issuer signs with (the apps' SecretStores verify OpenBao "
            "against it)"
        )
    return problems


def storage_classes(cfg: PlatformConfig) -> list[str]:
    """The StorageClasses a stack's volumes may use: `storage_class` (NFS), the node-local class
    of `local_path` (both created by whichever stack owns cluster_services) and the cluster's own
    `existing_storage_classes`."""
    local = [cfg.local_path.storage_class] if cfg.local_path is not None else []
    return list(dict.fromkeys([cfg.storage_class, *local, *cfg.existing_storage_classes]))


def _storage_problems(cfg: PlatformConfig) -> list[str]:
    """Each per-tool class names a class the stack has; metrics-server settings that are used."""
    problems = []
    if cfg.local_path is not None and cfg.local_path.storage_class == cfg.storage_class:
        problems.append(
            f"local_path.storage_class: {cfg.storage_class!r} is already the NFS class "
            "(storage_class); name the node-local class differently (e.g. 'local-path')"
        )
    known = storage_classes(cfg)
    tools = cfg.dev_tools
    chosen = {} if tools is None else {
        "dev_tools.openbao.storage_class": tools.openbao.storage_class,
        "dev_tools.monitoring.prometheus_storage_class": tools.monitoring.prometheus_storage_class,
        "dev_tools.monitoring.alertmanager_storage_class": (
            tools.monitoring.alertmanager_storage_class
        ),
    }
    for key, name in chosen.items():
        if name is not None and name not in known:
            problems.append(
                f"{key}: {name!r} is not a StorageClass of this stack ({', '.join(known)}); set "
                "local_path for the node-local class, or list a class the cluster already has in "
                "existing_storage_classes"
            )
    if cfg.cluster.kubelet_insecure_tls and cfg.cluster.metrics_server != "platform":
        problems.append(
            "cluster.kubelet_insecure_tls: only for the platform's metrics-server "
            "(cluster.metrics_server 'platform'); remove it, the distribution configures its own"
        )
    return problems


def _acme_problems(cfg: PlatformConfig) -> list[str]:
    """HTTP-01 through a private address fails every challenge: Let's Encrypt validates from the
    internet, and Traefik then serves its self-signed default certificate. The ingress address is
    `ingress.load_balancer_ip`, else one MetalLB hands out (every range private: so is it)."""
    acme, address = cfg.acme, cfg.ingress.load_balancer_ip
    if acme.public_address is not None and not ipaddress.IPv4Address(acme.public_address).is_global:
        # private, shared (100.64.0.0/10), documentation, loopback...: not reachable from the
        # internet (Python's ipaddress `is_global`, the IANA special-purpose registries)
        return [
            f"acme.public_address: {acme.public_address} is not a public IPv4 address; set the "
            "internet-facing address that forwards ports 80 and 443 to the ingress, or use "
            "acme.solver 'dns01' and remove it"
        ]
    if acme.solver != "http01" or acme.public_address is not None:
        return []
    fix = ("use solver 'dns01' (dns_provider, dns_zones) or set acme.public_address to the public "
           "IPv4 that forwards ports 80 and 443 to it")
    if address is not None:
        if ipaddress.IPv4Address(address).is_global:
            return []
        return [
            f"acme.solver: http01 needs Let's Encrypt to reach the ingress from the internet, but "
            f"ingress.load_balancer_ip {address} is private; {fix}"
        ]
    if cfg.metallb is None:
        return []  # an external controller's address: not known here
    ranges = [parse_ipv4_range(r) for r in cfg.metallb.addresses]
    if any(net.is_global for first, last in ranges
           for net in ipaddress.summarize_address_range(first, last)):
        return []
    return [
        f"acme.solver: http01 needs Let's Encrypt to reach the ingress from the internet, but "
        f"the ingress address comes from metallb.addresses {cfg.metallb.addresses}, all "
        f"private; {fix}"
    ]


def _ingress_problems(cfg: PlatformConfig) -> list[str]:
    ingress = cfg.ingress
    defaults = IngressConfig()
    if ingress.controller == "traefik" and (
        ingress.namespace != defaults.namespace or ingress.pod_labels != defaults.pod_labels
    ):
        return ["ingress.namespace/ingress.pod_labels: only for ingress.controller 'external' "
                "(the platform's Traefik runs in namespace 'traefik'); remove them"]
    if not ingress.pod_labels:
        return ["ingress.pod_labels: name at least one label of the controller's pods (an empty "
                "set would admit every pod of its namespace to the tools)"]
    if ingress.controller != "traefik" or not cfg.owns("cluster_services") or cfg.metallb is None:
        return []
    if ingress.load_balancer_ip is None:
        return [
            "ingress.load_balancer_ip: required when ingress.controller is 'traefik' (an address "
            f"inside metallb.addresses {cfg.metallb.addresses}), or set ingress.controller: "
            "external"
        ]
    address = ipaddress.IPv4Address(ingress.load_balancer_ip)
    ranges = [parse_ipv4_range(r) for r in cfg.metallb.addresses]
    if not any(first <= address <= last for first, last in ranges):
        return [
            f"ingress.load_balancer_ip: {address} is not inside metallb.addresses "
            f"{cfg.metallb.addresses}; pick a free address of the pool"
        ]
    return []


def _openbao_problems(cfg: PlatformConfig) -> list[str]:
    if cfg.dev_tools is None:
        return []
    bao = cfg.dev_tools.openbao
    problems = []
    if bao.seal == "shamir" and bao.unseal_key_secret is not None:
        problems.append(
            "dev_tools.openbao.unseal_key_secret: only used with seal 'static'; remove it or set "
            "dev_tools.openbao.seal: static"
        )
    if len(set(bao.environments)) != len(bao.environments):
        problems.append("dev_tools.openbao.environments: an environment is listed twice")
    if bao.environments and cfg.environment not in bao.environments:
        problems.append(
            f"dev_tools.openbao.environments: must include this stack's environment "
            f"{cfg.environment!r} (its apps read their secrets through openbao-{cfg.environment})"
        )
    return problems


def internal_ca_key_problem(value: str) -> str | None:
    """Why `value` cannot be the internal CA's private key, or None: one PEM private key block
    (PKCS#8 `PRIVATE KEY`, or `RSA`/`EC PRIVATE KEY`), not encrypted."""
    blocks = _PEM_BLOCK.findall(value)
    kinds = [kind for kind, _ in blocks]
    if len(blocks) == 1 and kinds[0] in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY") and (
        not _PEM_BLOCK.sub("", value).strip()
    ):
        return None
    return (
        "internal_ca_key: not one unencrypted PEM private key (found "
        f"{', '.join(kinds) or 'no PEM block'}); set the key of tls.internal_ca.certificate, e.g. "
        "`pulumi config set --secret internal_ca_key < ca.key`"
    )


def unseal_key_problem(value: str) -> str | None:
    """Why `value` cannot be OpenBao's static seal key, or None. The server reads the key file
    verbatim: 64 hex characters or 44 base64 characters (32 bytes), nothing else, no newline."""
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return None
    if re.fullmatch(r"[A-Za-z0-9+/]{43}=", value):
        return None
    return (
        f"openbao_unseal_key: not a 32-byte key ({len(value)} characters); use 64 hex or 44 base64 "
        "characters without a newline, e.g. `openssl rand -hex 32 | tr -d '\\n'`"
    )


# --- error formatting --------------------------------------------------------------------------


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at `loc` (for did-you-mean suggestions)."""
    model: Any = PlatformConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _unwrap_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None if get_origin(annotation) is None else None


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    exc = ctx.get("error")
    if isinstance(exc, _Located):
        return f"{_dotted(loc + tuple(_split_subpath(exc.subpath)))}: {exc.message}"
    if loc and loc[-1] == "[key]":  # a mapping key outside its allowed set
        loc = loc[:-1]
        allowed = [a.strip("'") for a in re.findall(r"'[^']*'", str(ctx.get("expected", "")))]
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"did you mean {guess[0]!r}?" if guess else f"known: {', '.join(allowed)}"
        return f"{_dotted(loc)}: unknown key ({hint})"
    path = _dotted(loc)
    if kind == "extra_forbidden":
        model = _model_at(loc)
        known = sorted(model.model_fields) if model else []
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"did you mean {guess[0]!r}?" if guess else f"known keys: {', '.join(known)}"
        return f"{path}: unknown key ({hint})"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "literal_error":
        return f"{path}: {error['input']!r} is not allowed; expected {ctx.get('expected')}"
    if kind == "value_error" and exc is not None:
        return f"{path}: {exc}"
    if kind in ("int_type", "bool_type", "string_type", "list_type", "dict_type", "model_type"):
        wanted = {
            "int_type": "a whole number",
            "bool_type": "true or false",
            "string_type": "a string",
            "list_type": "a list",
            "dict_type": "a mapping",
            "model_type": "a mapping",
        }[kind]
        return f"{path}: expected {wanted}, got {type(error['input']).__name__} {error['input']!r}"
    return f"{path}: {error['msg']}"


def _split_subpath(subpath: str) -> list[Any]:
    parts: list[Any] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", subpath):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return parts


def parse_platform_config(raw: Any) -> PlatformConfig:
    """Validate a stack's configuration mapping. Raises ConfigError listing every problem."""
    if not isinstance(raw, dict):
        raise ConfigError(
            [f"(top level): expected a mapping of config keys, got {type(raw).__name__}"]
        )
    try:
        cfg = PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors(include_url=False)]
        raise ConfigError(sorted(dict.fromkeys(problems))) from None
    problems = _cross_field_problems(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


# --- reading the stack ------------------------------------------------------------------------


Secret = pulumi.Output[str] | None
"""A stack secret as a Pulumi secret Output, None when the stack does not set it."""


@dataclass(frozen=True)
class StackSecrets:
    """The stack's secrets (`SECRET_KEYS`), one typed attribute each: a misspelt key is a type
    error, not a run-time lookup failure."""

    grafana_admin_password: Secret = None
    harbor_admin_password: Secret = None
    fluentd_output_password: Secret = None
    cloudflare_api_token: Secret = None
    rfc2136_tsig_secret: Secret = None
    pdns_api_key: Secret = None
    gitops_repo_token: Secret = None
    openbao_unseal_key: Secret = None
    alertmanager_smtp_password: Secret = None
    alertmanager_slack_webhook_url: Secret = None
    alertmanager_webhook_token: Secret = None
    backup_s3_access_key_id: Secret = None
    backup_s3_secret_access_key: Secret = None
    velero_repository_password: Secret = None
    identity_argocd_client_secret: Secret = None
    identity_grafana_client_secret: Secret = None
    identity_harbor_client_secret: Secret = None
    identity_openbao_client_secret: Secret = None
    identity_proxy_client_secret: Secret = None
    identity_proxy_cookie_secret: Secret = None
    internal_ca_key: Secret = None

    def given(self) -> dict[str, pulumi.Output[str]]:
        """The secrets the stack sets, by key."""
        return {
            key: value for key in SECRET_KEYS if (value := getattr(self, key)) is not None
        }


def split_stack_config(
    project: str, flat: dict[str, Any], secret_keys: set[str]
) -> tuple[dict[str, Any], set[str], list[str]]:
    """Separate a stack's `<project>:<key>` settings into model data and secret keys.

    Returns (model data, secret keys that are set, problems). Plain values arrive as strings or
    JSON (structured values); a secret key set without --secret, or a model key that holds a
    secret, is a problem: secrets must be top-level keys so only they are encrypted.
    """
    data: dict[str, Any] = {}
    present: set[str] = set()
    problems: list[str] = []
    prefix = f"{project}:"
    for full_key, value in flat.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if key in SECRET_KEYS:
            if full_key not in secret_keys:
                problems.append(
                    f"{key}: must be encrypted; run `pulumi config set --secret {key} <value>`"
                )
            present.add(key)
            continue
        if full_key in secret_keys:
            problems.append(
                f"{key}: holds a secret value, but only these keys may be secrets: "
                f"{', '.join(SECRET_KEYS)}"
            )
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        data[key] = value
    return data, present, problems


def required_secrets(cfg: PlatformConfig) -> dict[str, str]:
    """Secret keys this configuration cannot work without -> the setting that needs each.

    Checked with the config, before any resource is registered: a missing one would otherwise
    deploy something that fails later (an ACME solver without its token, a log shipper whose
    configuration reads a password nothing defines).
    """
    required = {}
    if cfg.acme.solver == "dns01" and cfg.acme.dns_provider == "cloudflare":
        required["cloudflare_api_token"] = "acme.solver is 'dns01' with dns_provider 'cloudflare'"
    if cfg.acme.solver == "dns01" and cfg.acme.dns_provider == "rfc2136":
        required["rfc2136_tsig_secret"] = "acme.solver is 'dns01' with dns_provider 'rfc2136'"
    dns_credential = {"rfc2136": "rfc2136_tsig_secret", "cloudflare": "cloudflare_api_token",
                      "pdns": "pdns_api_key"}
    if cfg.dns is not None and cfg.owns("cluster_services"):
        # the DNS-01 solver's reason stays when both use the same secret
        key = dns_credential[cfg.dns.provider]
        required.setdefault(key, f"dns.provider is {cfg.dns.provider!r}")
    if cfg.dev_tools is not None and cfg.dev_tools.fluentd.output.user is not None:
        required["fluentd_output_password"] = (
            "dev_tools.fluentd.output.user is set (or remove dev_tools.fluentd.output.user)"
        )
    alerts = cfg.dev_tools.monitoring.alerts if cfg.dev_tools is not None else AlertsConfig()
    uses = alerts.credentials()
    if uses["alertmanager_smtp_password"][1]:
        required["alertmanager_smtp_password"] = (
            "dev_tools.monitoring.alerts.email.username is set (or remove the username for a "
            "relay that needs no login)"
        )
    if uses["alertmanager_slack_webhook_url"][1]:
        required["alertmanager_slack_webhook_url"] = "dev_tools.monitoring.alerts.slack is set"
    if cfg.dev_tools is not None and cfg.dev_tools.backup.target is not None:
        for key in ("backup_s3_access_key_id", "backup_s3_secret_access_key"):
            required[key] = "dev_tools.backup.target is set"
    if cfg.tls.internal_ca is not None and cfg.owns("cluster_services"):
        required["internal_ca_key"] = (
            "tls.internal_ca is set (cert-manager's `plate-internal-ca` issuer signs with it)"
        )
    if cfg.identity is not None and cfg.owns("dev_tools"):
        for key in IDENTITY_CLIENT_SECRETS:
            required[key] = "identity is set (the tool signs people in through the provider)"
    return required


def secret_conflicts(cfg: PlatformConfig, present: set[str]) -> list[str]:
    """Secrets the configuration cannot use as set."""
    return (
        _unused_secrets(cfg, present) + _unseal_key_conflicts(cfg, present)
        + _generated_problems(cfg, present)
    )


def generatable_secrets(cfg: PlatformConfig) -> set[str]:
    """The secret keys the program would generate (and keep in state) when the stack sets none."""
    tools = cfg.dev_tools if cfg.owns("dev_tools") else None
    if tools is None:
        return set()
    keys = {"grafana_admin_password", "harbor_admin_password"}
    if tools.openbao.seal == "static" and tools.openbao.unseal_key_secret is None:
        keys.add("openbao_unseal_key")
    if tools.backup.target is not None:
        keys.add("velero_repository_password")
    if cfg.identity is not None:
        keys.add("identity_proxy_cookie_secret")
    return keys


def _generated_problems(cfg: PlatformConfig, present: set[str]) -> list[str]:
    """A secret the program can generate is either listed in `generated_secrets` or set (and
    committed, so every machine that deploys has it): otherwise a value set on one machine and
    missing on another, CI say, would silently be replaced by a newly generated one. Listing a
    key this stack does not generate (another stack owns the tier) is harmless."""
    listed, problems = set(cfg.generated_secrets), []
    for key in sorted(generatable_secrets(cfg)):
        if key in present and key in listed:
            problems.append(
                f"{key}: set, and listed in generated_secrets; keep one (remove it from "
                f"generated_secrets to use the value you set)"
            )
        elif key not in present and key not in listed:
            problems.append(
                f"{key}: not set and not in generated_secrets: set it (`pulumi config set --secret "
                f"{key}` and commit the `secure:` value) or add it to generated_secrets to have "
                "the program generate it and keep it in state"
            )
    return problems


def _unused_secrets(cfg: PlatformConfig, present: set[str]) -> list[str]:
    """A credential set for a receiver or backup target that is not configured (a typo or a
    left-over: alerts or backups would not go where the operator believes)."""
    alerts = cfg.dev_tools.monitoring.alerts if cfg.dev_tools else AlertsConfig()
    backup = cfg.dev_tools is not None and cfg.dev_tools.backup.target is not None
    used_by = {
        **{key: ("dev_tools.backup.target", backup) for key in (
            "backup_s3_access_key_id", "backup_s3_secret_access_key", "velero_repository_password"
        )},
        **alerts.credentials(),
        **{key: ("identity", cfg.identity is not None) for key in (
            *IDENTITY_CLIENT_SECRETS, "identity_proxy_cookie_secret"
        )},
        "internal_ca_key": ("tls.internal_ca", cfg.tls.internal_ca is not None),
        "rfc2136_tsig_secret": (
            "acme.dns_provider 'rfc2136' (with solver dns01) or dns.provider 'rfc2136'",
            (cfg.acme.solver == "dns01" and cfg.acme.dns_provider == "rfc2136")
            or (cfg.dns is not None and cfg.dns.provider == "rfc2136"),
        ),
        "pdns_api_key": ("dns.provider 'pdns'", cfg.dns is not None and cfg.dns.provider == "pdns"),
    }
    return [
        f"{key}: set, but {setting} is not; set {setting} or remove the secret "
        f"(`pulumi config rm {key}`)"
        for key, (setting, used) in used_by.items()
        if key in present and not used
    ]


def _unseal_key_conflicts(cfg: PlatformConfig, present: set[str]) -> list[str]:
    bao = cfg.dev_tools.openbao if cfg.dev_tools else None
    if "openbao_unseal_key" not in present or bao is None:
        return []
    if bao.seal == "shamir":
        return ["openbao_unseal_key: only used with dev_tools.openbao.seal 'static'; remove it "
                "(`pulumi config rm openbao_unseal_key`) or set the seal to static"]
    if bao.unseal_key_secret is not None:
        return ["openbao_unseal_key: set, and so is dev_tools.openbao.unseal_key_secret; keep one "
                "(the Secret keeps the key out of Pulumi state)"]
    return []


def load_stack_config() -> tuple[PlatformConfig, StackSecrets]:
    """Read and validate this stack's configuration; the only reader of pulumi.Config."""
    from pulumi.runtime import config as runtime_config

    project = pulumi.get_project()
    flat = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = {k for k in flat if runtime_config.is_config_secret(k)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    data, present, problems = split_stack_config(project, flat, secret_keys)
    unseal_key = flat.get(f"{project}:openbao_unseal_key")
    if isinstance(unseal_key, str) and (problem := unseal_key_problem(unseal_key)):
        problems.append(problem)
    ca_key = flat.get(f"{project}:internal_ca_key")
    if isinstance(ca_key, str) and (problem := internal_ca_key_problem(ca_key)):
        problems.append(problem)
    try:
        cfg = parse_platform_config(data)
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems) from None
    problems += secret_conflicts(cfg, present)
    problems += [
        f"{key}: required when {why}; run `pulumi config set --secret {key} <value>`"
        for key, why in required_secrets(cfg).items()
        if key not in present
    ]
    if problems:
        raise ConfigError(problems)
    conf = pulumi.Config()
    return cfg, StackSecrets(**{key: conf.get_secret(key) for key in sorted(present)})


def read_stack_file(path) -> dict[str, Any]:
    """The non-secret settings of a committed `Pulumi.<stack>.yaml`, keyed without the project."""
    from pathlib import Path

    import yaml

    config = (yaml.safe_load(Path(path).read_text()) or {}).get("config") or {}
    return {
        key.split(":", 1)[1]: value
        for key, value in config.items()
        if ":" in key and not (isinstance(value, dict) and "secure" in value)
    }
