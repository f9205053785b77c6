"""Break-glass escrow: the tools' local `admin` passwords kept current in OpenBao.

Argo CD's, Grafana's and Harbor's `admin` passwords (generated, or stack secrets) are what an
administrator signs in with while the identity provider is down (`identity.break_glass`). Besides
Pulumi state and the tools' own namespaces they live in OpenBao at
`platform/break-glass/<tool>` (keys `username`, `password`), where an administrator who signs in to
OpenBao (through the provider, or OpenBao's own break-glass login) reads them; of people's
policies only `platform-admin` reaches `platform/` (README "Who may do what").

Deployed, in the openbao namespace, once OpenBao has initialised itself (static seal only: the
role below comes from self-initialisation):

1. the Secret `break-glass-credentials` (one key per tool: its password), from the password
   Outputs, secret end to end; its readers are those of the unseal key next to it, who can read
   everything in OpenBao anyway (docs/secret-readers.md);
2. a `random` UUID whose keepers are those passwords: it changes exactly when one of them does,
   and it is not derived from them (a hash of a password in a plain Job field would be);
3. a Job (ServiceAccount `break-glass-escrow`, OpenBao's image) running `escrow_script`: it logs
   in with Kubernetes auth as role `break-glass-escrow` (policy: create and update on the three
   entries, nothing else; `server.BREAK_GLASS_ESCROW`), over TLS verified against the internal
   CA, and writes the three entries. The UUID is in the pod's environment
   (`CREDENTIALS_REVISION`), so a rotated password changes the Job's pod template, which
   replaces the Job: it runs again and the entries follow the rotation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import versions
from components.kube import TierKit, as_secret, restricted_job
from components.names import (
    INTERNAL_CA_CONFIGMAP,
    INTERNAL_CA_KEY,
    OPENBAO_ADDRESS,
    PLATFORM_MOUNT,
)
from components.tools.openbao import ESCROW_POD_LABELS, server

CREDENTIALS_SECRET = "break-glass-credentials"
CREDENTIALS_DIR = "/credentials"  # the Secret's keys as files, one per tool
CA_DIR = "/ca"  # the internal CA (ConfigMap plate-internal-ca), which signed OpenBao's certificate
SCRIPT_NAME = "break-glass-escrow.sh"
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
# the user name of each tool's local administrator: Argo CD's and Harbor's built-in `admin`,
# Grafana's `admin-user` (components/tools/kube_prometheus_stack)
ADMIN_USER = "admin"
LOGIN_WAIT_SECONDS = 600  # OpenBao may still be starting or initialising itself
LOGIN_INTERVAL_SECONDS = 5

# Ref: openbao/openbao v2.6.2 command/kv_put.go (`key=@file` reads the value from the file) and
# command/kv_helpers.go (`-mount` looks the mount up at sys/internal/ui/mounts/<path>, which a
# token with only create/update on the entry may read: tests/engines/test_openbao_escrow.py).
# Format fields in single braces, the shell's braces doubled.
_SCRIPT = """#!/bin/sh
# Break-glass escrow: the tools' admin passwords into OpenBao (components/tools/openbao/escrow.py)
set -eu
log() {{ printf '%s break-glass-escrow: %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }}
fail() {{ log "FAILED: $*" >&2; exit 1; }}

revoke="" err=""
cleanup() {{
  if [ -n "$err" ]; then rm -f -- "$err"; fi
  if [ -n "$revoke" ]; then
    bao token revoke -self >/dev/null 2>&1 || log "could not revoke the login token (expires)"
  fi
}}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

[ -n "${{BAO_ADDR:-}}" ] || fail "BAO_ADDR is not set"
dir="${{CREDENTIALS_DIR:-}}"
[ -n "$dir" ] || fail "CREDENTIALS_DIR is not set"
export BAO_ADDR
for tool in {tools}; do
  [ -s "$dir/$tool" ] || fail "no password for $tool at $dir/$tool"
done

if [ -z "${{BAO_TOKEN:-}}" ]; then
  jwt="${{SERVICE_ACCOUNT_TOKEN_FILE:-{jwt}}}"
  [ -r "$jwt" ] || fail "BAO_TOKEN is not set and there is no ServiceAccount token at $jwt"
  # OpenBao may still be starting, unsealing or initialising itself (which creates the role)
  err="$(mktemp)" || fail "cannot create a temporary file"
  deadline=$(($(date +%s) + ${{LOGIN_WAIT_SECONDS:-{wait}}}))
  until BAO_TOKEN="$({login} 2>"$err")"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      cat -- "$err" >&2
      fail "login to $BAO_ADDR as role {role} (Kubernetes auth) failed"
    fi
    sleep {interval}
  done
  export BAO_TOKEN
  revoke=1
  log "logged in to $BAO_ADDR as role {role}"
else
  log "using the token in BAO_TOKEN"
fi

for tool in {tools}; do
  # @file: the password goes from its file to OpenBao, never onto a command line
  version="$(bao kv put -mount={mount} -field=version "break-glass/$tool" \\
    username={user} password=@"$dir/$tool")" || fail "writing {mount}/break-glass/$tool failed"
  log "wrote {mount}/break-glass/$tool (version $version)"
done
log "done: revision ${{CREDENTIALS_REVISION:-unknown}}"
"""


def escrow_script(
    login_wait_seconds: int = LOGIN_WAIT_SECONDS, interval: int = LOGIN_INTERVAL_SECONDS
) -> str:
    """A POSIX sh script for OpenBao's image (busybox sh, the `bao` CLI; read-only root file
    system, HOME a writable directory): the three passwords from `$CREDENTIALS_DIR/<tool>` to
    `platform/break-glass/<tool>` as `username` `admin` and `password`. Unless `BAO_TOKEN` is
    set (the tests' seam), it logs in with Kubernetes auth as `break-glass-escrow` with the pod's
    ServiceAccount token (`$SERVICE_ACCOUNT_TOKEN_FILE` overrides its path), retrying every
    `interval` seconds for `login_wait_seconds` (`$LOGIN_WAIT_SECONDS` overrides), and revokes
    that token when it ends. Any failure: a `FAILED` line and a non-zero exit."""
    for name, value in (("login_wait_seconds", login_wait_seconds), ("interval", interval)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return _SCRIPT.format(
        tools=" ".join(server.BREAK_GLASS_TOOLS),
        jwt=SERVICE_ACCOUNT_TOKEN,
        wait=login_wait_seconds,
        interval=interval,
        login=(f"bao write -field=token auth/{server.KUBERNETES_AUTH_PATH}/login "
               f'role={server.BREAK_GLASS_ESCROW} jwt=@"$jwt"'),
        role=server.BREAK_GLASS_ESCROW,
        mount=PLATFORM_MOUNT,
        user=ADMIN_USER,
    )


@dataclass(frozen=True)
class Escrow:
    credentials: k8s.core.v1.Secret
    revision: random.RandomUuid
    job: k8s.batch.v1.Job


def install(
    kit: TierKit,
    ns: k8s.core.v1.Namespace,
    passwords: Mapping[str, pulumi.Output[str]],
    wait_for: list[pulumi.Resource],
) -> Escrow:
    """The Secret, the revision and the Job of the module docstring, in `ns` (openbao).
    `passwords`: tool -> its `admin` password, for exactly `server.BREAK_GLASS_TOOLS`.
    `wait_for`: OpenBao's chart and the internal CA ConfigMap in `ns`."""
    if sorted(passwords) != sorted(server.BREAK_GLASS_TOOLS):
        raise ValueError(f"passwords for {sorted(server.BREAK_GLASS_TOOLS)} are needed, "
                         f"not {sorted(passwords)}")
    secret_passwords = {tool: as_secret(password) for tool, password in passwords.items()}
    credentials = kit.secret(CREDENTIALS_SECRET, ns, secret_passwords)
    # replaced (a new UUID) whenever a keeper changes; the keepers stay secret in state
    revision = random.RandomUuid(
        f"{server.BREAK_GLASS_ESCROW}-revision",
        keepers=dict(secret_passwords),
        opts=kit.opts,
    )
    account = kit.service_account(server.BREAK_GLASS_ESCROW, ns)
    script = k8s.core.v1.ConfigMap(
        f"{server.BREAK_GLASS_ESCROW}-script",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns.metadata.name, labels=ESCROW_POD_LABELS),
        data={SCRIPT_NAME: escrow_script()},
        opts=kit.opts,
    )
    volumes = [
        ("/script", k8s.core.v1.VolumeArgs(
            name="script",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=script.metadata.name),
        )),
        (CREDENTIALS_DIR, k8s.core.v1.VolumeArgs(
            name="credentials",
            secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=credentials.metadata.name),
        )),
        (CA_DIR, k8s.core.v1.VolumeArgs(
            name="internal-ca",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=INTERNAL_CA_CONFIGMAP),
        )),
        ("/tmp", k8s.core.v1.VolumeArgs(
            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
        )),
    ]
    env = {
        "BAO_ADDR": OPENBAO_ADDRESS,
        # the `bao` CLI verifies OpenBao's TLS certificate against the internal CA
        "BAO_CACERT": f"{CA_DIR}/{INTERNAL_CA_KEY}",
        "CREDENTIALS_DIR": CREDENTIALS_DIR,
        "HOME": "/tmp",
    }
    job = restricted_job(
        server.BREAK_GLASS_ESCROW, ns.metadata.name, account,
        container_name="escrow",
        image=versions.OPENBAO_IMAGE,
        command=["/bin/sh", f"/script/{SCRIPT_NAME}"],
        env=[
            *(k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()),
            # in the pod template: a new revision replaces the Job, i.e. runs it again
            k8s.core.v1.EnvVarArgs(name="CREDENTIALS_REVISION", value=revision.result),
        ],
        volumes=volumes,
        backoff_limit=4,
        active_deadline_seconds=1200,
        pod_labels=ESCROW_POD_LABELS,
        opts=pulumi.ResourceOptions.merge(
            kit.child([*wait_for, account, script, credentials, revision]),
            # the script's login wait and the Job's retries fit in its deadline
            pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="21m")),
        ),
    )
    return Escrow(credentials, revision, job)
