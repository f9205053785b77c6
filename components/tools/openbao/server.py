"""OpenBao that needs no hands: static-key auto-unseal and declarative self-initialisation.

Pure functions that generate the three files the openbao chart runs with:

* `server_config` - the server HCL every pod gets (the chart's `server.ha.raft.config`): a TLS
  listener whose certificate cert-manager issues from the internal CA (`TLS_DIR`, the Secret
  `openbao-server-tls`), raft storage that retries joining every replica over HTTPS (trusting that
  CA), a stdout audit device, Kubernetes service registration and the `static` seal, which reads
  a 32-byte key (64 hex characters, read verbatim: no trailing newline) from a mounted Secret.
* `init_config` - the `initialize` stanza (one pod only, see below): kv-v2 mounts for the app and
  platform secrets, Kubernetes auth, and the policies and roles of External Secrets (one per
  environment), of each app in each environment, of the Harbor bootstrap Job and of the raft
  snapshot CronJob (components/tools/openbao/snapshot.py) and of the break-glass escrow Job
  (components/tools/openbao/escrow.py); people's sign-in (`PeopleLogin`: the
  `oidc` auth method, their provider groups as external identity groups carrying the policies
  `platform-admin`, `plate-developer`, `plate-viewer`, the optional break-glass login). No policy
  has a `path "*"` (`policies`). OpenBao runs it once, on an empty storage, as the root token it
  then revokes: no root token and no recovery key ever exist. A cluster initialised before the
  snapshot or escrow identity existed gets it from `snapshot_identity_commands` or
  `escrow_identity_commands`.
* `init_selector_script` - a POSIX sh script whose output the chart pastes into the server's
  command line (`server.extraArgs = "$(sh <path>)"`): it adds `-config=<init file>` only on pod 0,
  and only when no volume of the StatefulSet may hold a cluster: its own storage has no barrier,
  and no PersistentVolumeClaim `data-<release>-<i>` (i >= 1) exists, or every peer with one
  answers "not initialised" within a bounded wait. A node carrying both `initialize` and
  `retry_join` starts a cluster of its own instead of joining, so initialising next to a peer's
  volume (a peer that is merely down) would split the cluster in two. The script also recovers a
  self-initialisation that never completed (see `init_selector_script`).

The chart passes the server HCL through `tpl` and rewrites the words in `CHART_SED_WORDS` with
`sed`: the generated HCL contains neither `{{` nor those words. Everything was checked against the
real OpenBao 2.6.2 binary (tests/engines/test_openbao.py).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from components import names

KEY_DIR = "/openbao/userconfig/openbao-unseal-key"  # the Secret holding the static seal key
# the listener's certificate: cert-manager's Secret (tls.crt, tls.key and the issuing CA's
# ca.crt), mounted by the chart's `server.extraVolumes` at /openbao/userconfig/<name>
TLS_SECRET = "openbao-server-tls"
TLS_DIR = f"/openbao/userconfig/{TLS_SECRET}"
TLS_CERT_FILE = "tls.crt"
TLS_KEY_FILE = "tls.key"
TLS_CA_FILE = "ca.crt"
# how the pods reach each other (raft joins, the selector's questions): the headless Service's
# per-pod names, which the server certificate lists
PEER_ADDR_TEMPLATE = "https://{release}-{i}.{release}-internal:8200"
INIT_DIR = "/openbao/userconfig/openbao-init"  # the ConfigMap with init.hcl and the selector
KEY_FILE_NAME = "key"
INIT_FILE_NAME = "init.hcl"
SELECTOR_FILE_NAME = "select-init.sh"
# the seal's key id is stored with every value it wraps; rotating the key means a new id (and the
# old key as `previous_key`), so a fixed id names "the first key" of this platform
SEAL_KEY_ID = "plate-unseal-1"
AUDIT_DEVICE_PATH = "stdout"

ESO_ROLE_PREFIX = "eso-"  # policy, role and ServiceAccount eso-<env>
HARBOR_BOOTSTRAP = names.HARBOR_BOOTSTRAP  # policy, role and ServiceAccount of the Job
# people's policies (README "Who may do what"), given through the provider's groups
# (`PeopleLogin`); without `identity` platform-admin is also the Kubernetes role and
# ServiceAccount people log in with
PLATFORM_ADMIN = "platform-admin"
PLATE_DEVELOPER = "plate-developer"
PLATE_VIEWER = "plate-viewer"
PEOPLE_AUTH_PATH = "oidc"  # the `oidc` auth method people sign in with
PEOPLE_ROLE = "default"  # its only role (the method's default_role)
PEOPLE_GROUP_PREFIX = "oidc-"  # external identity group `oidc-<provider group>`
PEOPLE_TOKEN_TTL = "1h"
PEOPLE_TOKEN_MAX_TTL = "8h"  # renewable through a working day, then sign in again
BREAK_GLASS_AUTH_PATH = "break-glass"  # a userpass method, always with identity
# OpenBao's break-glass login works only from inside the pod's network namespace, which is where
# `kubectl port-forward` connects (so: only for whoever holds the cluster's own admin
# kubeconfig); the public Ingress does not route its path either (PUBLIC_PATHS).
# Ref: openbao v2.6.2 builtin/credential/userpass/path_login.go (a login from outside the user's
# token_bound_cidrs is refused) and kubelet/CRI port-forward (dials localhost in the pod).
BREAK_GLASS_CIDRS = ["127.0.0.1/32", "::1/128"]
BREAK_GLASS_USER = "break-glass"
BREAK_GLASS_KV_PATH = "break-glass/openbao"  # in PLATFORM_MOUNT: its user name and password
# the tools' local `admin` accounts whose passwords the escrow Job writes to
# PLATFORM_MOUNT/break-glass/<tool> (components/tools/openbao/escrow.py); its policy, role and
# ServiceAccount (in the openbao namespace) may create and update exactly those entries
BREAK_GLASS_TOOLS = ("argocd", "grafana", "harbor")
BREAK_GLASS_ESCROW = "break-glass-escrow"
ESCROW_TOKEN_TTL = "5m"  # three writes
APP_TOKEN_TTL = "10m"  # an app's SecretStore logs in again for every refresh
INIT_BLOCK = "plate"  # the `initialize` block's name (responses are referenced through it)
_AUTH_LIST = "read-auth-methods"  # the request whose response holds the oidc mount's accessor
# the raft snapshot CronJob (components/tools/openbao/snapshot.py): its policy may only read a
# snapshot
SNAPSHOT_POLICY = "raft-snapshot"
SNAPSHOT_ROLE = "raft-snapshot"
SNAPSHOT_SERVICE_ACCOUNT = "openbao-snapshot"  # in the openbao namespace
SNAPSHOT_PATH = "sys/storage/raft/snapshot"
KUBERNETES_AUTH_PATH = "kubernetes"
ESO_TOKEN_TTL = "10m"
HARBOR_BOOTSTRAP_TOKEN_TTL = "10m"
PLATFORM_ADMIN_TOKEN_TTL = "1h"
# long enough to stream a snapshot (the token is checked when the request starts)
SNAPSHOT_TOKEN_TTL = "5m"
# the last request of self-initialisation creates this policy (it grants nothing): its storage key
# in raft's `vault.db` tells the selector that a self-initialisation it started has completed
SELF_INIT_DONE_POLICY = "self-init-complete"
SELF_INIT_PENDING_FILE = "self-init.pending"  # in the storage directory while a self-init may run
SELF_INIT_FAILED_DIR = "self-init-failed"  # where an incomplete self-init's storage is moved
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"  # mounted in every pod
PEER_WAIT_SECONDS = 60  # how long pod 0 waits for peers whose volumes exist before it joins
RECOVER_MINUTES = 60  # how old a self-init.pending may be for the selector to redo that init

# words the chart's start-up command rewrites in the server HCL (`sed -Ei "s|WORD|...|g"`)
CHART_SED_WORDS = ("HOST_IP", "POD_IP", "HOSTNAME", "API_ADDR", "TRANSIT_ADDR", "RAFT_ADDR")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HCL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./-]+$")
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


def eso_role(environment: str) -> str:
    """Policy, Kubernetes auth role and ServiceAccount External Secrets reads <env> with."""
    return f"{ESO_ROLE_PREFIX}{environment}"


def _hcl(value: str) -> str:
    """A quoted HCL string (JSON's escapes are HCL's); never `{{`, which the chart's tpl runs."""
    if "{{" in value:
        raise ValueError(f"{value!r}: the chart's tpl would evaluate '{{{{'")
    return json.dumps(value)


def _hcl_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_hcl(v) for v in values) + "]"


def _dns_label(value: str, what: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"{what} {value!r} is not a DNS label")
    return value


def _peer_addrs(template: str, release: str, replicas: int) -> list[str]:
    return [template.format(release=release, i=i) for i in range(replicas)]


def server_config(
    *,
    replicas: int,
    seal: Literal["static", "shamir"],
    release: str = "openbao",
    listen: str = "[::]:8200",
    cluster_listen: str = "[::]:8201",
    storage_path: str = "/openbao/data",
    kubernetes_registration: bool = True,
    key_file: str = f"{KEY_DIR}/{KEY_FILE_NAME}",
    peer_addr_template: str = PEER_ADDR_TEMPLATE,
    tls_dir: str = TLS_DIR,
) -> str:
    """The server HCL of every pod.

    The listener serves TLS only (`tls_disable = false`): `tls.crt`/`tls.key` in
    `tls_dir`, TLS 1.2 at least. OpenBao 2.6.2 reads them at start and on SIGHUP only (automatic
    reload came after it, openbao/openbao#3530), so the certificate is long-lived (see
    components/tools/openbao). Each `retry_join` verifies the leader against `tls_dir/ca.crt`,
    the internal CA that cert-manager writes next to the certificate.

    One `retry_join` per replica (itself included: the file is the same for every pod, and a node
    skips joining once it has raft data). A single replica gets none - there is nothing to join,
    and a lone pod 0 self-initialises anyway. `performance_multiplier = 1` (the value upstream
    recommends for production) shortens raft's timeouts (5 s by default) to 1 s.
    `api_addr`/`cluster_addr` come from the chart's BAO_API_ADDR/BAO_CLUSTER_ADDR environment, the
    raft node id from BAO_RAFT_NODE_ID (`server.ha.raft.setNodeId`). The stdout audit device is
    declared here, on every pod: OpenBao refuses audit devices created through the API
    (self-initialisation included), and a declarative device missing from the active node's
    configuration is removed.
    """
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, not {replicas}")
    _dns_label(release, "release")
    if not _SAFE_PATH.match(tls_dir):
        raise ValueError(f"{tls_dir!r}: only letters, digits and _ . / - are allowed")
    ca_file = f"{tls_dir}/{TLS_CA_FILE}"
    joins = "".join(
        f"  retry_join {{\n    leader_api_addr = {_hcl(addr)}\n"
        f"    leader_ca_cert_file = {_hcl(ca_file)}\n  }}\n"
        for addr in (_peer_addrs(peer_addr_template, release, replicas) if replicas > 1 else [])
    )
    parts = [
        "ui = true\n",
        _listener(listen, cluster_listen, tls_dir),
        # gauges named vault_core_unsealed etc. (not per host), kept for Prometheus' scrapes
        "telemetry {\n"
        "  disable_hostname = true\n"
        '  prometheus_retention_time = "24h"\n'
        "}\n",
        'storage "raft" {\n'
        f"  path = {_hcl(storage_path)}\n"
        "  performance_multiplier = 1\n"
        f"{joins}"
        "}\n",
        f'audit "file" {_hcl(AUDIT_DEVICE_PATH)} {{\n'
        '  description = "every request and response, HMAC-ed, on the pod log"\n'
        "  options {\n"
        '    file_path = "stdout"\n'
        "  }\n"
        "}\n",
    ]
    if kubernetes_registration:
        parts.append('service_registration "kubernetes" {}\n')
    if seal == "static":
        parts.append(
            'seal "static" {\n'
            f"  current_key_id = {_hcl(SEAL_KEY_ID)}\n"
            f"  current_key = {_hcl('file://' + key_file)}\n"
            "}\n"
        )
    text = "\n".join(parts)
    for word in CHART_SED_WORDS:
        if word in text:
            raise ValueError(f"{word!r} in the server HCL would be rewritten by the chart's sed")
    return text


def _listener(listen: str, cluster_listen: str, tls_dir: str) -> str:
    """The TCP listener: TLS only, with the certificate cert-manager writes into `tls_dir`."""
    return (
        'listener "tcp" {\n'
        f"  address = {_hcl(listen)}\n"
        f"  cluster_address = {_hcl(cluster_listen)}\n"
        "  tls_disable = false\n"
        f"  tls_cert_file = {_hcl(f'{tls_dir}/{TLS_CERT_FILE}')}\n"
        f"  tls_key_file = {_hcl(f'{tls_dir}/{TLS_KEY_FILE}')}\n"
        '  tls_min_version = "tls12"\n'
        # Prometheus scrapes /v1/sys/metrics without a token (metrics carry no secrets)
        "  telemetry {\n"
        "    unauthenticated_metrics_access = true\n"
        "  }\n"
        "}\n"
    )


def _request(name: str, path: str, data: str, operation: str = "update") -> str:
    body = "".join(f"      {line}\n" if line else "\n" for line in data.splitlines())
    return (
        f"  request {_hcl(name)} {{\n"
        f"    operation = {_hcl(operation)}\n"
        f"    path = {_hcl(path)}\n"
        f"    data = {{\n{body}    }}\n"
        "  }\n"
    )


def _policy_rules(rules: Sequence[tuple[str, Sequence[str]]]) -> str:
    return "".join(
        f"path {_hcl(path)} {{\n  capabilities = {_hcl_list(caps)}\n}}\n" for path, caps in rules
    )


def _policy_request(name: str, rules: Sequence[tuple[str, Sequence[str]]]) -> str:
    # a heredoc keeps the policy readable in the file; its text is itself HCL
    body = f"policy = <<-EOT\n{_policy_rules(rules)}EOT"
    return _request(f"policy-{name}", f"sys/policies/acl/{name}", body)


def _role_fields(
    name: str, namespace: str, ttl: str, *, service_account: str | None = None,
    policy: str | None = None,
) -> dict[str, str | list[str]]:
    """A Kubernetes auth role; its ServiceAccount and policy are named like it unless given."""
    return {
        "bound_service_account_names": [service_account or name],
        "bound_service_account_namespaces": [namespace],
        "token_policies": [policy or name],
        "token_ttl": ttl,
        "token_max_ttl": ttl,
    }


def _role_request(name: str, namespace: str, ttl: str, **names: str | None) -> str:
    body = "".join(
        f"{key} = {_hcl(value) if isinstance(value, str) else _hcl_list(value)}\n"
        for key, value in _role_fields(name, namespace, ttl, **names).items()
    )
    return _request(f"role-{name}", f"auth/{KUBERNETES_AUTH_PATH}/role/{name}", body)


_SNAPSHOT_RULES = [(SNAPSHOT_PATH, ["read"])]
# a rule on a path no request ever takes: the policy is a marker, held by no token
_SELF_INIT_DONE_RULES = [(f"sys/{SELF_INIT_DONE_POLICY}", ["deny"])]


def _identity_commands(
    role: str, namespace: str, ttl: str, rules: Sequence[tuple[str, Sequence[str]]], *,
    service_account: str, policy: str,
) -> str:
    """`bao` commands creating a policy and its Kubernetes role exactly as `init_config` does."""
    _dns_label(namespace, "namespace")
    fields = _role_fields(role, namespace, ttl, service_account=service_account, policy=policy)
    args = " ".join(
        shlex.quote(f"{key}={value if isinstance(value, str) else ','.join(value)}")
        for key, value in fields.items()
    )
    return (
        f"bao policy write {policy} - <<'EOF'\n{_policy_rules(rules)}EOF\n"
        f"bao write auth/{KUBERNETES_AUTH_PATH}/role/{role} {args}\n"
    )


def snapshot_identity_commands(openbao_namespace: str = "openbao") -> str:
    """The `bao` commands that create the snapshot CronJob's policy and role, exactly as
    `init_config` does, on a cluster initialised before they existed (self-initialisation runs
    once, on a new cluster). Run as platform-admin; running them again changes nothing."""
    return _identity_commands(SNAPSHOT_ROLE, openbao_namespace, SNAPSHOT_TOKEN_TTL,
                              _SNAPSHOT_RULES, service_account=SNAPSHOT_SERVICE_ACCOUNT,
                              policy=SNAPSHOT_POLICY)


def escrow_identity_commands(openbao_namespace: str = "openbao") -> str:
    """The same for the break-glass escrow Job's policy and role (`BREAK_GLASS_ESCROW`), on a
    cluster initialised before they existed; until then its Job fails to log in."""
    return _identity_commands(BREAK_GLASS_ESCROW, openbao_namespace, ESCROW_TOKEN_TTL,
                              _escrow_rules(), service_account=BREAK_GLASS_ESCROW,
                              policy=BREAK_GLASS_ESCROW)


def break_glass_kv_path(tool: str) -> str:
    """Where in PLATFORM_MOUNT a tool's break-glass `admin` credentials live."""
    if tool not in BREAK_GLASS_TOOLS:
        raise ValueError(f"{tool!r} is not one of {BREAK_GLASS_TOOLS}")
    return f"break-glass/{tool}"


def _escrow_rules() -> _Rules:
    # write only, and only these: the Job never reads a credential back, and neither OpenBao's
    # own break-glass entry nor anything else is within its reach
    return [(f"{names.PLATFORM_MOUNT}/data/{break_glass_kv_path(tool)}", ["create", "update"])
            for tool in BREAK_GLASS_TOOLS]


_Rules = list[tuple[str, Sequence[str]]]


def _kv(mount: str, sub: str, caps: Sequence[str], metadata: Sequence[str]) -> _Rules:
    """Rules on a kv-v2 secret: `caps` on its data, `metadata` on its metadata."""
    return [(f"{mount}/data/{sub}", caps), (f"{mount}/metadata/{sub}", metadata)]


def _environments(environments: Sequence[str]) -> list[str]:
    if isinstance(environments, str) or not environments:
        raise ValueError("environments must be a non-empty list of DNS labels")
    seen: list[str] = []
    for env in environments:
        if not isinstance(env, str) or not _DNS_LABEL.match(env):
            raise ValueError(f"environment {env!r} is not a DNS label")
        if env in seen:
            raise ValueError(f"environment {env!r} is listed twice")
        seen.append(env)
    return seen


_CRUD = ("create", "read", "update", "delete", "list")
_KV_WRITE = ("create", "read", "update", "patch", "delete", "list")


def _people_rules() -> tuple[_Rules, _Rules, _Rules]:
    plate, platform = names.APPS_MOUNT, names.PLATFORM_MOUNT
    admin: _Rules = [
        # ACL policies: read and change every policy (people's, the tools', the apps')
        ("sys/policies/acl", ["list"]),
        ("sys/policies/acl/*", _CRUD),
        # auth methods: list them; enable, tune or disable one (OpenBao requires sudo)
        ("sys/auth", ["read"]),
        ("sys/auth/*", ["create", "read", "update", "delete", "sudo"]),
        # their configuration and roles: people's sign-in, the service identities, break-glass
        (f"auth/{KUBERNETES_AUTH_PATH}/*", _CRUD),
        (f"auth/{PEOPLE_AUTH_PATH}/*", _CRUD),
        (f"auth/{BREAK_GLASS_AUTH_PATH}/*", _CRUD),
        # who is who: the entities the audit log names, the groups that carry policies
        ("identity/entity", ["create", "update"]),
        ("identity/entity/*", _CRUD),
        ("identity/entity-alias", ["create", "update"]),
        ("identity/entity-alias/*", _CRUD),
        ("identity/group", ["create", "update"]),
        ("identity/group/*", _CRUD),
        ("identity/group-alias", ["create", "update"]),
        ("identity/group-alias/*", _CRUD),
        ("identity/lookup/*", ["update"]),
        # tokens: find and revoke one (an incident), not create one
        ("auth/token/accessors", ["list", "sudo"]),
        ("auth/token/lookup", ["update"]),
        ("auth/token/lookup-accessor", ["update"]),
        ("auth/token/revoke-accessor", ["update"]),
        # the two kv-v2 mounts: list every mount, configure and tune these two (no other engine)
        ("sys/mounts", ["read"]),
        *((f"sys/mounts/{mount}", ["create", "read", "update"])
          for mount in (plate, platform)),
        *((f"sys/mounts/{mount}/tune", ["read", "update"]) for mount in (plate, platform)),
        # every secret in them
        (f"{plate}/*", _KV_WRITE),
        (f"{platform}/*", _KV_WRITE),
        # raft: the peers (runbooks), autopilot (dead-server clean-up), removing a dead peer,
        # snapshots and a restore (ops/openbao_restore.py; snapshot-force: a shamir cluster's)
        ("sys/storage/raft/configuration", ["read"]),
        ("sys/storage/raft/autopilot/state", ["read"]),
        ("sys/storage/raft/autopilot/configuration", ["read", "update"]),
        ("sys/storage/raft/remove-peer", ["update"]),
        (SNAPSHOT_PATH, ["read", "update"]),
        ("sys/storage/raft/snapshot-force", ["update"]),
        # audit devices: see them (declared in the server HCL; the API cannot change them)
        ("sys/audit", ["read", "sudo"]),
    ]
    developer: _Rules = [
        # the apps' values in every environment this OpenBao serves
        (f"{plate}/data/*", ["create", "read", "update", "patch", "delete"]),
        (f"{plate}/metadata/*", ["read", "list"]),
        # ... but the pull robot is the bootstrap Job's: readable, not overwritten by hand
        (f"{plate}/data/+/{names.PULL_SECRET_NAME}", ["read"]),
    ]
    viewer: _Rules = [
        # which entries exist and their versions, never their contents
        (f"{plate}/metadata/*", ["read", "list"]),
    ]
    return admin, developer, viewer


_PLATFORM_ADMIN_RULES, _PLATE_DEVELOPER_RULES, _PLATE_VIEWER_RULES = _people_rules()


def _policies(envs: Sequence[str], apps: Sequence[str]) -> dict[str, _Rules]:
    """Every ACL policy self-initialisation writes, by name (`policies` lists the paths and why)."""
    plate, platform = names.APPS_MOUNT, names.PLATFORM_MOUNT
    writer = ("create", "update", "read")
    harbor = [
        rule
        for env in envs
        for rule in _kv(plate, names.pull_secret_path(env), writer, ["read"])
    ] + _kv(platform, names.CI_PUSH_PATH, writer, ["read"])
    return {
        **{eso_role(env): _kv(plate, f"{env}/*", ["read"], ["read", "list"]) for env in envs},
        # one app's SecretStore: its own entry and its environment's pull robot, nothing else
        **{
            names.app_secret_role(env, app): [
                (f"{plate}/data/{names.app_secret_path(env, app)}", ["read"]),
                (f"{plate}/data/{names.pull_secret_path(env)}", ["read"]),
            ]
            for env in envs
            for app in apps
        },
        HARBOR_BOOTSTRAP: harbor,
        PLATFORM_ADMIN: _PLATFORM_ADMIN_RULES,
        PLATE_DEVELOPER: _PLATE_DEVELOPER_RULES,
        PLATE_VIEWER: _PLATE_VIEWER_RULES,
        # a snapshot holds every secret (encrypted by the barrier): taking one is all it may do
        SNAPSHOT_POLICY: [*_SNAPSHOT_RULES],
        BREAK_GLASS_ESCROW: _escrow_rules(),
    }


def policies(environments: Sequence[str], apps: Sequence[str] = ()) -> dict[str, _Rules]:
    """The ACL policies `init_config` writes (but the `self-init-complete` marker), by name:
    [(path, capabilities)]. README "Who may do what" explains each of people's paths."""
    return _policies(_environments(environments), _apps(apps))


def _apps(apps: Sequence[str]) -> list[str]:
    if isinstance(apps, str):
        raise ValueError("apps must be a list of DNS labels")
    for app in apps:
        names.app_secret_path("x", app)  # a DNS label, not the pull robot's name
    return list(apps)


def _kubernetes_config(host: str, extra: Mapping[str, str] | None) -> str:
    fields = {"kubernetes_host": host, **(extra or {})}
    for key in fields:
        if not _HCL_KEY.match(key):
            raise ValueError(f"{key!r} is not a Kubernetes auth config field name")
    body = "".join(f"{key} = {_hcl(value)}\n" for key, value in fields.items())
    return _request("kubernetes-config", f"auth/{KUBERNETES_AUTH_PATH}/config", body)


_Value: TypeAlias = "str | bool | Sequence[str] | Mapping[str, _Value]"


def _hcl_value(value: _Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _hcl(value)
    if isinstance(value, Mapping):
        inner = "".join(f"  {line}\n" for line in _hcl_fields(value).splitlines())
        return "{\n" + inner + "}"
    return _hcl_list(list(value))


def _hcl_fields(fields: Mapping[str, _Value]) -> str:
    return "".join(
        f"{key if _HCL_KEY.match(key) else _hcl(key)} = {_hcl_value(value)}\n"
        for key, value in fields.items()
    )


def _from_file(path: str) -> Mapping[str, _Value]:
    """A self-initialisation value read from a file in the pod (the profile system's `file`
    source): a secret mounted from a Kubernetes Secret never appears in the HCL."""
    if not _SAFE_PATH.match(path):
        raise ValueError(f"{path!r}: only letters, digits and _ . / - are allowed")
    return {"eval_type": "string", "eval_source": "file", "path": path}


def _from_response(request: str, *selector: str) -> Mapping[str, _Value]:
    """A value from the response to an earlier request of this `initialize` block."""
    return {"eval_type": "string", "eval_source": "response", "initialize_name": INIT_BLOCK,
            "response_name": request, "field_selector": list(selector)}


@dataclass(frozen=True)
class PeopleLogin:
    """How people sign in (from the stack's `identity`): OpenBao's `oidc` auth method against the
    organisation's provider, and which provider groups get which policy.

    `client_secret_file` and `break_glass_password_file` are paths inside the pod (a mounted
    Secret): self-initialisation reads them there, so neither value is ever in `init.hcl`."""

    issuer: str
    client_id: str
    client_secret_file: str
    redirect_uris: tuple[str, ...]
    groups_claim: str = "groups"
    user_claim: str = "email"
    scopes: tuple[str, ...] = ("openid", "profile", "email", "groups")
    admins: tuple[str, ...] = ()
    developers: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    break_glass_password_file: str | None = None

    def group_policies(self) -> dict[str, list[str]]:
        """Provider group -> the policies its members get (a group may hold several roles)."""
        mapping: dict[str, list[str]] = {}
        for policy, groups in ((PLATFORM_ADMIN, self.admins), (PLATE_DEVELOPER, self.developers),
                               (PLATE_VIEWER, self.viewers)):
            for group in groups:
                mapping.setdefault(group, []).append(policy)
        return mapping


def _people_requests(login: PeopleLogin) -> list[str]:
    """The `oidc` auth method, its role, and one external identity group per provider group."""
    mapping = login.group_policies()
    if not login.admins:
        raise ValueError("people need at least one admins group")
    if not login.redirect_uris:
        raise ValueError("the oidc role needs its redirect URIs")
    auth = f"auth/{PEOPLE_AUTH_PATH}"
    config: dict[str, _Value] = {
        "oidc_discovery_url": login.issuer,
        "oidc_client_id": login.client_id,
        "oidc_client_secret": _from_file(login.client_secret_file),
        "default_role": PEOPLE_ROLE,
    }
    role: dict[str, _Value] = {
        "role_type": "oidc",
        "user_claim": login.user_claim,  # the entity alias: the name the audit log shows
        "groups_claim": login.groups_claim,
        "oidc_scopes": [s for s in login.scopes if s != "openid"],  # openid is always sent
        "allowed_redirect_uris": list(login.redirect_uris),
        "bound_audiences": [login.client_id],
        # a person in none of the configured groups is refused, not given a `default` token
        "bound_claims": {login.groups_claim: sorted(mapping)},
        "token_ttl": PEOPLE_TOKEN_TTL,
        "token_max_ttl": PEOPLE_TOKEN_MAX_TTL,
    }
    requests = [
        _request("auth-oidc", f"sys/auth/{PEOPLE_AUTH_PATH}", _hcl_fields({
            "type": "oidc",
            "description": "people, through the organisation's identity provider",
            "config": {"listing_visibility": "unauth"},  # the UI's login form offers it
        })),
        _request("oidc-config", f"{auth}/config", _hcl_fields(config)),
        _request(f"oidc-role-{PEOPLE_ROLE}", f"{auth}/role/{PEOPLE_ROLE}", _hcl_fields(role)),
        # the mount's accessor names it in the group aliases below
        _request(_AUTH_LIST, "sys/auth", "", operation="read"),
    ]
    for n, (group, granted) in enumerate(sorted(mapping.items())):
        name = f"oidc-group-{n}"
        requests += [
            _request(name, "identity/group", _hcl_fields({
                "name": f"{PEOPLE_GROUP_PREFIX}{group}", "type": "external",
                "policies": granted,
                "metadata": {"provider_group": group},
            })),
            _request(f"{name}-alias", "identity/group-alias", _hcl_fields({
                "name": group,
                "mount_accessor": _from_response(_AUTH_LIST, "data", f"{PEOPLE_AUTH_PATH}/",
                                                 "accessor"),
                "canonical_id": _from_response(name, "data", "id"),
            })),
        ]
    if login.break_glass_password_file is not None:
        password = _from_file(login.break_glass_password_file)
        requests += [
            _request("auth-break-glass", f"sys/auth/{BREAK_GLASS_AUTH_PATH}", _hcl_fields({
                "type": "userpass",
                "description": "break-glass administrator, for when the identity provider is down",
            })),
            _request("break-glass-user", f"auth/{BREAK_GLASS_AUTH_PATH}/users/{BREAK_GLASS_USER}",
                     _hcl_fields({"password": password, "token_policies": [PLATFORM_ADMIN],
                                  "token_bound_cidrs": BREAK_GLASS_CIDRS,
                                  "token_ttl": PEOPLE_TOKEN_TTL,
                                  "token_max_ttl": PEOPLE_TOKEN_TTL})),
            _request("break-glass-credentials",
                     f"{names.PLATFORM_MOUNT}/data/{BREAK_GLASS_KV_PATH}",
                     _hcl_fields({"data": {"username": BREAK_GLASS_USER, "password": password,
                                           "auth_path": BREAK_GLASS_AUTH_PATH}})),
        ]
    return requests


def init_config(
    *,
    environments: Sequence[str],
    kubernetes_host: str = "https://kubernetes.default.svc",
    eso_namespace: str = "external-secrets",
    harbor_namespace: str = "harbor",
    openbao_namespace: str = "openbao",
    extra_kubernetes_config: Mapping[str, str] | None = None,
    extra_requests: str = "",
    apps: Sequence[str] = (),
    people: PeopleLogin | None = None,
) -> str:
    """The self-initialisation HCL, for pod 0 of a cluster that does not exist yet.

    In order: the two kv-v2 mounts, Kubernetes auth and its config, every policy (`policies`),
    the Kubernetes auth roles (External Secrets per environment, one per app and environment
    `names.app_secret_role`, the Harbor bootstrap, the snapshot CronJob's `raft-snapshot` with
    ServiceAccount `openbao-snapshot`, the escrow Job's `break-glass-escrow`), people's sign-in
    (`people`: the `oidc` auth method, its role, an external identity group per provider group;
    the break-glass login if asked), then
    `extra_requests` (HCL `request` blocks, inside the same `initialize` block), and last of all
    the `self-init-complete` policy, the marker `init_selector_script` looks for. Without
    `people` (a stack without `identity`, never production) people log in as the ServiceAccount
    `openbao/platform-admin` through the Kubernetes role of that name instead. Each of `apps`
    gets an empty entry `plate/<env>/<app>` in every environment, so its ExternalSecret resolves
    (and the app's first sync proceeds) before anyone has written a value. The stdout audit
    device is in `server_config`: OpenBao does not let requests create one. In a pod the
    Kubernetes config needs only the host; `extra_kubernetes_config` adds fields (a test off
    Kubernetes passes `kubernetes_ca_cert` and `disable_local_ca_jwt = "true"`).
    """
    envs, app_names = _environments(environments), _apps(apps)
    for namespace in (eso_namespace, harbor_namespace, openbao_namespace):
        _dns_label(namespace, "namespace")
    kv2 = 'type = "kv"\noptions = {\n  version = "2"\n}\n'
    roles = [
        *(_role_request(eso_role(env), eso_namespace, ESO_TOKEN_TTL) for env in envs),
        *(
            _role_request(names.app_secret_role(env, app), names.apps_namespace(env),
                          APP_TOKEN_TTL, service_account=names.app_service_account(app))
            for env in envs
            for app in app_names
        ),
        _role_request(HARBOR_BOOTSTRAP, harbor_namespace, HARBOR_BOOTSTRAP_TOKEN_TTL),
        _role_request(SNAPSHOT_ROLE, openbao_namespace, SNAPSHOT_TOKEN_TTL,
                      service_account=SNAPSHOT_SERVICE_ACCOUNT, policy=SNAPSHOT_POLICY),
        _role_request(BREAK_GLASS_ESCROW, openbao_namespace, ESCROW_TOKEN_TTL),
    ]
    if people is None:
        roles.append(_role_request(PLATFORM_ADMIN, openbao_namespace, PLATFORM_ADMIN_TOKEN_TTL))
    requests = [
        _request("mount-apps", f"sys/mounts/{names.APPS_MOUNT}", kv2),
        _request("mount-platform", f"sys/mounts/{names.PLATFORM_MOUNT}", kv2),
        _request("auth-kubernetes", f"sys/auth/{KUBERNETES_AUTH_PATH}", 'type = "kubernetes"\n'),
        _kubernetes_config(kubernetes_host, extra_kubernetes_config),
        *(_policy_request(name, rules) for name, rules in _policies(envs, app_names).items()),
        *roles,
        *(_people_requests(people) if people is not None else []),
        *(
            _request(
                f"seed-{env}-{app}",
                f"{names.APPS_MOUNT}/data/{names.app_secret_path(env, app)}",
                "data = {}\n",
            )
            for env in envs
            for app in app_names
        ),
    ]
    done = _policy_request(SELF_INIT_DONE_POLICY, _SELF_INIT_DONE_RULES)
    text = f"initialize {_hcl(INIT_BLOCK)} {{\n" + "".join(requests) + extra_requests + done + "}\n"
    if "{{" in text:
        raise ValueError("the self-initialisation HCL must not contain '{{'")
    return text


# The selector's logic; `init_selector_script` prepends the variables it reads. POSIX sh for the
# image's busybox ash (tested with dash); its only outside tool is the image's `bao` CLI, which also
# reads the Kubernetes API (Go TLS against the ServiceAccount's CA, the token as a header).
_SELECTOR_BODY = r"""
log() { printf 'openbao-init-selector: %s\n' "$*" >&2; }
host="${HOSTNAME:-$(hostname)}"
case "$host" in *-0) ;; *) exit 0 ;; esac
if ! command -v bao >/dev/null 2>&1; then
  log "no bao CLI: starting without $init_file"
  exit 0
fi
pending="$data/$pending_name"

initialise() {
  if ! printf '' >"$pending"; then
    log "cannot write $pending: starting without $init_file"
    exit 0
  fi
  log "$1: starting with $init_file"
  printf '%s\n' "-config=$init_file"
  exit 0
}

# 1. this pod's own volume: a barrier is never initialised twice, unless it is what a
# self-initialisation that never completed left behind (the server then refuses to unseal)
if [ -e "$pending" ]; then
  if grep -qs "$done_key" "$data/vault.db"; then
    rm -f "$pending"
    exit 0
  fi
  if [ -e "$data/vault.db" ] || [ -e "$data/raft" ]; then
    if [ -n "$(find "$pending" -mmin +"$recover_minutes" 2>/dev/null)" ]; then
      log "$pending is over $recover_minutes minutes old and $data holds no completed" \
        "self-initialisation: leaving it alone, starting without $init_file"
      exit 0
    fi
    log "the self-initialisation started on $data never completed: moving its storage to" \
      "$data/$failed_name and deciding again"
    rm -rf "${data:?}/$failed_name"
    mkdir "$data/$failed_name" || exit 0
    for f in vault.db raft node-id; do
      if [ -e "$data/$f" ]; then mv "$data/$f" "$data/$failed_name/" || exit 0; fi
    done
  fi
  rm -f "$pending"
elif grep -qs core/seal-config "$data/vault.db"; then
  exit 0
fi

# 2. the peers' volumes (PersistentVolumeClaims) and, where one exists, the peer's answer
list_claims() {
  body="$(HOME=/nonexistent BAO_ADDR="$api/api" BAO_CLIENT_TIMEOUT="$timeout" \
    BAO_MAX_RETRIES=0 bao read -format=raw -ca-cert="$ca_file" \
    -header="Authorization=Bearer $token" "namespaces/$namespace/persistentvolumeclaims" 2>&1)"
  if ! printf '%s' "$body" | grep -Eq '"kind"[[:space:]]*:[[:space:]]*"PersistentVolumeClaimList"'
  then
    problem="cannot list the PersistentVolumeClaims of $namespace: $body"
    return 1
  fi
  claimed="$(printf '%s\n' "$body" |
    grep -oE "\"name\"[[:space:]]*:[[:space:]]*\"$claim_prefix[0-9]+\"" |
    sed -E 's/.*-([0-9]+)"$/\1/' | sort -un | grep -v '^0$' | tr '\n' ' ')"
  claimed="${claimed% }"
}

ask_peers() {
  silent=""
  for n in $claimed; do
    addr="$(printf '%s\n' "$peers" | sed -n "s|^$n ||p")"
    status=""
    if [ -n "$addr" ]; then
      status="$(BAO_ADDR="$addr" BAO_CLIENT_TIMEOUT="$timeout" BAO_MAX_RETRIES=0 \
        bao status -format=json -ca-cert="$peer_ca" 2>/dev/null)"
    fi
    case "$status" in
      *'"initialized": true'*)
        log "peer $n ($addr) answers initialised: starting without $init_file, to join it"
        exit 0 ;;
      *'"initialized": false'*) ;;
      *) silent="$silent $n" ;;
    esac
  done
}

token=""
if [ -r "$token_file" ]; then token="$(cat "$token_file")"; fi
deadline=$(($(date +%s) + peer_wait))
while :; do
  if list_claims; then
    [ -n "$claimed" ] || initialise "no peer has a PersistentVolumeClaim (a new cluster)"
    ask_peers
    [ -n "$silent" ] || initialise "every peer with a volume ($claimed) answers uninitialised"
    problem="the peers with a volume ($claimed) include silent ones:$silent"
  fi
  if [ "$(date +%s)" -gt "$deadline" ]; then
    log "$problem; after ${peer_wait}s: starting without $init_file (joining when they answer)"
    exit 0
  fi
  sleep "$interval"
done
"""

_API_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def init_selector_script(
    *,
    release: str = "openbao",
    replicas: int,
    init_file: str = f"{INIT_DIR}/{INIT_FILE_NAME}",
    peer_addr_template: str = PEER_ADDR_TEMPLATE,
    peer_ca_path: str = f"{TLS_DIR}/{TLS_CA_FILE}",
    storage_path: str = "/openbao/data",
    timeout: str = "5s",
    kubernetes_api: str = "https://kubernetes.default.svc",
    token_path: str = f"{SERVICE_ACCOUNT_DIR}/token",
    ca_path: str = f"{SERVICE_ACCOUNT_DIR}/ca.crt",
    namespace: str = "openbao",
    peer_wait: int = PEER_WAIT_SECONDS,
    interval: int = 2,
    recover_minutes: int = RECOVER_MINUTES,
) -> str:
    """POSIX sh printing `-config=<init_file>` when this pod may self-initialise, else nothing.

    Only on a pod whose name ends in `-0`, and never next to a volume that may hold a cluster:
    1. its own storage: a node that holds an initialised barrier (the `core/seal-config` entry
       in `vault.db`; the raft files alone prove nothing, a server creates them on every start)
       never initialises again. The exception is a self-initialisation this script started
       (`self-init.pending`, written before it prints the flag) whose last request, the
       `self-init-complete` policy, never reached `vault.db`: OpenBao refuses to unseal such a
       barrier on every later start, and nobody can have used it (the API opens only once
       self-initialisation returns), so the script moves that storage aside to
       `self-init-failed/` and decides again - if the mark is at most `recover_minutes` old (a
       failed self-initialisation is retried within minutes; an old mark next to a barrier
       without the marker policy is left to people);
    2. the peers' volumes: it lists the PersistentVolumeClaims of `namespace` through the
       Kubernetes API (`GET /api/v1/namespaces/<ns>/persistentvolumeclaims`, with the pod's
       ServiceAccount token and CA, through the image's `bao` CLI). With no claim
       `data-<release>-<i>` for i >= 1 it initialises (a first start: with OrderedReady the
       peers' claims do not exist yet). Otherwise it asks those peers (`bao status` over HTTPS,
       verified against `peer_ca_path`, the internal CA): one that
       answers initialised means "join, never initialise"; all answering uninitialised means
       no cluster exists; silent ones (down, or not in the StatefulSet any more) might hold
       one, so it asks again every `interval` seconds. After `peer_wait` seconds of silence,
       or of an API it cannot read, it starts without the init file: `retry_join` joins the
       peers once they are up.
    Without a `bao` CLI the script prints nothing. It logs each decision on stderr (the pod's
    log).
    """
    _dns_label(release, "release")
    _dns_label(namespace, "namespace")
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, not {replicas}")
    for path in (init_file, storage_path, token_path, ca_path, peer_ca_path):
        # the output is pasted unquoted into the server's command line: no spaces, no globs
        if not _SAFE_PATH.match(path):
            raise ValueError(f"{path!r}: only letters, digits and _ . / - are allowed")
    if not _API_URL.match(kubernetes_api):
        raise ValueError(f"{kubernetes_api!r} is not an http(s)://host[:port] URL")
    for name, value, least in (("peer_wait", peer_wait, 0), ("interval", interval, 1),
                               ("recover_minutes", recover_minutes, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an integer of at least {least}, not {value!r}")
    peers = "".join(
        f"{i} {addr}\n"
        for i, addr in enumerate(_peer_addrs(peer_addr_template, release, replicas))
        if i > 0
    )
    settings = {
        "init_file": init_file, "data": storage_path.rstrip("/") or "/", "api": kubernetes_api,
        "token_file": token_path, "ca_file": ca_path, "peer_ca": peer_ca_path,
        "namespace": namespace,
        "claim_prefix": f"data-{release}-", "peers": peers, "peer_wait": str(peer_wait),
        "interval": str(interval), "timeout": timeout,
        "done_key": f"sys/policy/{SELF_INIT_DONE_POLICY}",
        "pending_name": SELF_INIT_PENDING_FILE, "failed_name": SELF_INIT_FAILED_DIR,
        "recover_minutes": str(recover_minutes),
    }
    header = "".join(f"{key}={shlex.quote(value)}\n" for key, value in settings.items())
    return (
        "#!/bin/sh\n"
        f"# -config={init_file} on the first start of a new cluster only"
        " (components/tools/openbao/server.py)\n" + header + _SELECTOR_BODY.lstrip("\n")
    )
