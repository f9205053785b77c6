"""Scheduled raft snapshots of OpenBao: the script a CronJob runs, and how a snapshot comes back.

`snapshot_script(keep)` is a POSIX sh script for the pinned OpenBao image (alpine: busybox sh,
`tar`, `sha256sum`; the CLI at /bin/bao), run as a non-root user with a read-only root file system:
it writes only under `$SNAPSHOT_DIR`. In order, every step one log line, any failure a non-zero
exit (the Job fails, and the failed-Job alert fires):

  1. `BAO_ADDR` and `SNAPSHOT_DIR` must be set, the directory writable; partial files a killed
     run left behind (`.openbao-raft-*.partial`) are removed;
  2. unless `BAO_TOKEN` is set, it logs in with Kubernetes auth as role `raft-snapshot`
     (`components.tools.openbao.server.SNAPSHOT_ROLE`, ServiceAccount `openbao-snapshot`), whose
     policy may only read `sys/storage/raft/snapshot`, with the pod's ServiceAccount token
     (`$SERVICE_ACCOUNT_TOKEN_FILE` overrides its path); that token is revoked when the script
     ends. `BAO_TOKEN` is the seam for tests: there is no Kubernetes API here to review a
     ServiceAccount token, so tests/engines/test_openbao_snapshot.py mostly passes a token with the
     role's policies (and logs in once through a stand-in TokenReview endpoint);
  3. `bao operator raft snapshot save` into a hidden temp file in the directory;
  4. the file must be non-empty and a real snapshot: a gzip tar whose `meta.json` and `state.bin`
     match the SHA-256 sums in its `SHA256SUMS` (the 2.6.2 CLI has no `snapshot inspect`);
  5. rename to `openbao-raft-<UTC YYYYmmddTHHMMSSZ>.snap` (atomic: same directory), so a
     half-written file never counts as a backup; an existing name is an error, never overwritten;
  6. delete all but the newest `keep` snapshots (by name, i.e. by time).

The CronJob should run with `concurrencyPolicy: Forbid` (step 1 removes any partial file) against
`http://openbao-active.openbao.svc:8200`: the chart has that Service in HA mode, which
`values.openbao_values` always sets, one replica included. A standby would forward the request
(checked with a 2-node cluster), but the snapshot is made on the active node. A snapshot holds
every secret, encrypted by the barrier whose keys the seal protects: with the static seal,
snapshot + unseal key = all secrets, so keep the two apart.
Restoring one is `python -m ops.openbao_restore` (its docstring is the procedure).
"""

from __future__ import annotations

from components.tools.openbao import server as openbao

SNAPSHOT_PREFIX = "openbao-raft-"
SNAPSHOT_SUFFIX = ".snap"
# a name the retention counts: the prefix, a UTC time to the second, the suffix
SNAPSHOT_GLOB = SNAPSHOT_PREFIX + "[0-9]" * 8 + "T" + "[0-9]" * 6 + "Z" + SNAPSHOT_SUFFIX
SNAPSHOT_TIME_FORMAT = "%Y%m%dT%H%M%SZ"  # strftime; sorts like time
PARTIAL_SUFFIX = ".partial"  # `.openbao-raft-<time>.partial`: hidden, never matches the glob
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
SCRIPT_NAME = "openbao-snapshot.sh"
MAX_KEEP = 1000


# the script (format fields in single braces, the shell's braces doubled)
_SCRIPT = """#!/bin/sh
# OpenBao raft snapshot: save, verify, keep the newest {keep} (components/tools/openbao/snapshot.py)
set -eu
keep={keep}
log() {{ printf '%s openbao-snapshot: %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }}
fail() {{ log "FAILED: $*" >&2; exit 1; }}

tmp="" revoke=""
cleanup() {{
  if [ -n "$tmp" ]; then rm -f -- "$tmp"; fi
  if [ -n "$revoke" ]; then
    bao token revoke -self >/dev/null 2>&1 || log "could not revoke the login token (expires)"
  fi
}}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

[ -n "${{BAO_ADDR:-}}" ] || fail "BAO_ADDR is not set"
dir="${{SNAPSHOT_DIR:-}}"
[ -n "$dir" ] || fail "SNAPSHOT_DIR is not set"
{{ [ -d "$dir" ] && [ -w "$dir" ]; }} || fail "$dir is not a writable directory"
export BAO_ADDR
for stale in "$dir"/.{prefix}*{partial}; do
  [ -e "$stale" ] || continue
  rm -f -- "$stale"
  log "removed $stale (left by an interrupted run)"
done

if [ -z "${{BAO_TOKEN:-}}" ]; then
  jwt="${{SERVICE_ACCOUNT_TOKEN_FILE:-{jwt}}}"
  [ -r "$jwt" ] || fail "BAO_TOKEN is not set and there is no ServiceAccount token at $jwt"
  BAO_TOKEN="$({login})" \\
    || fail "login to $BAO_ADDR as role {role} (Kubernetes auth) failed"
  export BAO_TOKEN
  revoke=1
  log "logged in to $BAO_ADDR as role {role}"
else
  log "using the token in BAO_TOKEN"
fi

stamp="$(date -u +{time_format})"
name="{prefix}$stamp{suffix}"
final="$dir/$name"
[ ! -e "$final" ] || fail "$final exists already (two runs within one second?)"
tmp="$dir/.{prefix}$stamp{partial}"
bao operator raft snapshot save "$tmp" || fail "snapshot save from $BAO_ADDR failed"
[ -s "$tmp" ] || fail "the snapshot from $BAO_ADDR is empty"

# the 2.6.2 CLI has no `snapshot inspect`: check the archive's own SHA-256 sums
sums="$(tar -xzOf "$tmp" SHA256SUMS 2>/dev/null)" \\
  || fail "the snapshot is not a gzip tar with SHA256SUMS"
checked=0
while read -r want member; do
  case "$member" in meta.json | state.bin) ;; *) continue ;; esac
  got="$(tar -xzOf "$tmp" "$member" | sha256sum)"
  [ "${{got%% *}}" = "$want" ] || fail "$member in the snapshot does not match its SHA-256 sum"
  checked=$((checked + 1))
done <<EOF
$sums
EOF
[ "$checked" -eq 2 ] || fail "the snapshot's SHA256SUMS does not list meta.json and state.bin"

mv -f -- "$tmp" "$final" || fail "could not rename the snapshot to $final"
tmp=""
log "saved $final ($(wc -c <"$final") bytes, checksums verified)"

set -- "$dir"/{glob}
[ -e "$1" ] || set --
excess=$(($# - keep))
while [ "$excess" -gt 0 ]; do
  rm -f -- "$1"
  log "deleted $1 (keeping the newest $keep)"
  shift
  excess=$((excess - 1))
done
log "done: $# snapshot(s) in $dir, the newest $name"
"""


def snapshot_script(keep: int) -> str:
    """The CronJob's script (see the module docstring); keeps the newest `keep` snapshots."""
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP:
        raise ValueError(f"keep must be an integer from 1 to {MAX_KEEP}, not {keep!r}")
    return _SCRIPT.format(
        keep=keep,
        login=(f"bao write -field=token auth/{openbao.KUBERNETES_AUTH_PATH}/login "
               f'role={openbao.SNAPSHOT_ROLE} jwt=@"$jwt"'),
        role=openbao.SNAPSHOT_ROLE,
        jwt=SERVICE_ACCOUNT_TOKEN,
        prefix=SNAPSHOT_PREFIX,
        suffix=SNAPSHOT_SUFFIX,
        partial=PARTIAL_SUFFIX,
        time_format=SNAPSHOT_TIME_FORMAT,
        glob=SNAPSHOT_GLOB,
    )
