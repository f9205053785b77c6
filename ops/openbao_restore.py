"""Restores an OpenBao raft snapshot (saved by the openbao-snapshot CronJob) into a running OpenBao.

    BAO_ADDR=https://127.0.0.1:8200 BAO_CACERT=internal-ca.crt BAO_TOKEN=<token> \\
        uv run python -m ops.openbao_restore \\
        --file openbao-raft-<UTC time>.snap [--dry-run] [--yes] [--force] [--timeout SECONDS]

OpenBao's API is TLS only; its certificate comes from the internal CA, which BAO_CACERT (or
`--ca-cert`) names: `pulumi stack output internal_ca > internal-ca.crt`.

Everything in OpenBao is replaced by the snapshot's content: secrets, policies, auth config,
tokens. By default the server first checks that the snapshot was sealed with its own seal key
(the static key in Secret openbao-unseal-key, which a rebuilt cluster shares with the old one)
and refuses it otherwise, unchanged. `--force` skips that check: needed to restore a shamir
cluster's snapshot into a cluster initialised anew (it then needs the *old* unseal keys); with
the static seal and another key the node seals itself for good, so do not force that.

The token needs `update` on `sys/storage/raft/snapshot` (`sys/storage/raft/snapshot-force` with
`--force`; no `sudo`): a `platform-admin` token has both. An administrator signs in as themselves
(`bao login -method=oidc`, a member of `identity.groups.admins`), or with the break-glass login
when the identity provider is down (README "Who may do what"); a stack without `identity` logs
in as the ServiceAccount (`bao write auth/kubernetes/login role=platform-admin jwt=$(kubectl -n
openbao create token platform-admin)`). There is no root token. BAO_ADDR must reach the *active*
node, e.g. `kubectl -n openbao port-forward
svc/openbao-active 8200:8200`: a standby accepts the request, answers 204, fails to apply it
("node is not the leader") and seals itself. Steps, one line each:

  1. the file is a raft snapshot: a non-empty gzip tar whose meta.json and state.bin match the
     SHA-256 sums in its SHA256SUMS (the raft index and term it was taken at are printed);
  2. the server answers `sys/health` initialised, unsealed and active, and the token may restore
     (`sys/capabilities-self`); `--dry-run` stops here;
  3. the operator types the server address (unless `--yes`); the restore starts;
  4. `POST sys/storage/raft/snapshot` (or `snapshot-force`) with the file; OpenBao answers at once
     and applies it in the background (at least 5 s in 2.6.2); then `sys/health` until the server
     is unsealed and active again (`--timeout`). With the static seal it unseals itself; with
     shamir every pod needs the unseal keys of the cluster the snapshot was taken from.
Tokens of the replaced state are gone afterwards: log in again. Exit status 0 when restored and
healthy, 1 otherwise (each problem is one line).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import ssl
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

RESTORE_PATH = "sys/storage/raft/snapshot"  # checks the snapshot's seal key first
FORCE_RESTORE_PATH = "sys/storage/raft/snapshot-force"
REQUEST_TIMEOUT = 10.0
RESTORE_REQUEST_TIMEOUT = 600.0
DEFAULT_WAIT = 120.0
POLL_INTERVAL = 0.2
RESTORE_GRACE = 0.3  # seconds between the restore's answer and the first health check
SNAPSHOT_MEMBERS = ("meta.json", "state.bin")


class RestoreFailed(Exception):
    """A step failed; the message is the one line to print."""


@dataclass(frozen=True)
class Snapshot:
    path: Path
    index: int
    term: int


def read_snapshot(path: Path) -> Snapshot:
    """Step 1: the raft snapshot in `path`, its checksums verified."""
    if not path.is_file() or path.stat().st_size == 0:
        raise RestoreFailed(f"{path} is missing or empty")
    try:
        with tarfile.open(path, "r:gz") as archive:
            def member(name: str) -> bytes:
                file = archive.extractfile(name)
                if file is None:
                    raise KeyError(name)
                return file.read()

            sums: dict[str, str] = {}
            for line in member("SHA256SUMS").decode().splitlines():
                digest, _, name = line.strip().partition("  ")
                sums[name] = digest
            for name in SNAPSHOT_MEMBERS:
                if sums.get(name) != hashlib.sha256(member(name)).hexdigest():
                    raise RestoreFailed(f"{path}: {name} does not match its SHA-256 sum")
            meta = json.loads(member("meta.json"))
            return Snapshot(path, int(meta["Index"]), int(meta["Term"]))
    except (tarfile.TarError, OSError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise RestoreFailed(f"{path} is not a raft snapshot ({exc!r})") from exc


class Bao:
    """The HTTP API of one OpenBao address."""

    def __init__(self, addr: str, token: str, ca_cert: str | None = None) -> None:
        self.addr, self.token = addr.rstrip("/"), token
        self.context = ssl.create_default_context(cafile=ca_cert) if ca_cert else None

    def call(self, method: str, path: str, body: bytes | None = None,
             timeout: float = REQUEST_TIMEOUT) -> tuple[int, dict[str, Any]]:
        """Status and JSON body (empty if none); an HTTP error status is returned, not raised."""
        request = urllib.request.Request(f"{self.addr}/v1/{path}", data=body, method=method)
        request.add_header("X-Vault-Token", self.token)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.context) as answer:
                raw, status = answer.read(), answer.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        return status, (json.loads(raw) if raw.strip() else {})

    def health(self) -> dict[str, Any]:
        """`sys/health`, whatever its status code (429 standby, 503 sealed, 501 uninitialised)."""
        try:
            return self.call("GET", "sys/health")[1]
        except (OSError, ValueError) as exc:
            raise RestoreFailed(f"{self.addr} does not answer sys/health ({exc})") from exc


def _state(health: dict[str, Any]) -> str | None:
    """Why a server with this health is not an unsealed active node, or None."""
    if not health.get("initialized"):
        return "not initialised"
    if health.get("sealed"):
        return "sealed"
    if health.get("standby"):
        return ("a standby: point BAO_ADDR at the active node "
                "(kubectl -n openbao port-forward svc/openbao-active 8200:8200)")
    return None


def check_server(bao: Bao, path: str) -> dict[str, Any]:
    """Step 2: unsealed, active, and the token may restore through `path`."""
    health = bao.health()
    if problem := _state(health):
        raise RestoreFailed(f"{bao.addr} is {problem}")
    try:
        status, body = bao.call("POST", "sys/capabilities-self",
                                json.dumps({"paths": [path]}).encode())
    except (OSError, ValueError) as exc:
        raise RestoreFailed(f"{bao.addr}: sys/capabilities-self failed ({exc})") from exc
    if status != 200:
        raise RestoreFailed(f"{bao.addr}: the token is not valid there (HTTP {status})")
    capabilities = body.get(path) or body.get("capabilities") or []
    if not {"update", "root"} & set(capabilities):
        raise RestoreFailed(f"the token lacks `update` on {path} (it has "
                            f"{capabilities or 'nothing'}): use a platform-admin token")
    return health


def restore(bao: Bao, snapshot: Snapshot, path: str) -> None:
    """Step 4a: send the snapshot; the server installs it and reloads."""
    try:
        status, body = bao.call("POST", path, snapshot.path.read_bytes(),
                                timeout=RESTORE_REQUEST_TIMEOUT)
    except (OSError, ValueError) as exc:
        raise RestoreFailed(f"{bao.addr}: the restore request failed ({exc})") from exc
    if status not in (200, 204):
        why = "; ".join(body.get("errors", [])) or "no message"
        hint = ""
        if "could not verify hash file" in why:
            hint = (" - nothing was changed. The snapshot was sealed with another key: with the "
                    "static seal, run OpenBao with that cluster's key; with shamir, --force "
                    "and then unseal with that cluster's keys")
        raise RestoreFailed(f"{bao.addr}: the restore was refused (HTTP {status}: {why}){hint}")


def _seal_type(bao: Bao) -> str:
    try:
        return str(bao.call("GET", "sys/seal-status")[1].get("type", "unknown"))
    except (OSError, ValueError):
        return "unknown"


def _sealed_advice(seal: str) -> str:
    if seal == "shamir":
        return ("sealed (shamir): unseal every pod with the unseal keys of the cluster the "
                "snapshot was taken from (`bao operator unseal`), not the current ones")
    return (f"sealed (seal {seal}): the seal key (Secret openbao-unseal-key) must be the one of "
            "the cluster the snapshot was taken from")


def wait_healthy(bao: Bao, timeout: float) -> dict[str, Any]:
    """Step 4b: `sys/health` until unsealed and active; a sealed server gets the advice it needs.

    The server answers the restore request before applying it (in the background, holding its
    state lock, which `sys/health` waits for); RESTORE_GRACE leaves it time to take the lock.
    A shamir-sealed node stays sealed (nothing unseals it), so that ends the wait at once.
    """
    time.sleep(RESTORE_GRACE)
    deadline = time.monotonic() + timeout
    while True:
        try:
            health = bao.health()
            last = _state(health)
        except RestoreFailed as failed:
            health, last = {}, str(failed)
        if last is None:
            return health
        if health.get("sealed"):
            seal = _seal_type(bao)
            last = _sealed_advice(seal)
            if seal == "shamir":
                raise RestoreFailed(f"{bao.addr} after the restore: {last}")
        if time.monotonic() > deadline:
            raise RestoreFailed(
                f"{bao.addr} is not unsealed and active {timeout:g} s after the restore: {last}")
        time.sleep(POLL_INTERVAL)


def token_survived(bao: Bao) -> bool:
    """Whether the restoring token still exists: it does not when it was created after the
    snapshot was taken (the usual case), which shows the old state really is back."""
    try:
        return bao.call("GET", "auth/token/lookup-self")[0] == 200
    except (OSError, ValueError):
        return False


def _confirm(addr: str, snapshot: Path, stdin: IO[str]) -> bool:
    print(f"Type the address ({addr}) to replace everything in it with {snapshot}: ",
          end="", flush=True)
    answer = stdin.readline()
    if not answer:
        print()
    return answer.strip() == addr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--file", required=True, type=Path, help="an openbao-raft-*.snap file")
    parser.add_argument("--addr", default=os.environ.get("BAO_ADDR"),
                        help="OpenBao's address (default: $BAO_ADDR); the active node")
    parser.add_argument("--ca-cert", default=os.environ.get("BAO_CACERT"),
                        help="CA bundle for an https address (default: $BAO_CACERT)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_WAIT,
                        help="seconds to wait until unsealed and active again")
    parser.add_argument("--dry-run", action="store_true", help="only run the checks")
    parser.add_argument("--yes", action="store_true", help="skip typing the address")
    parser.add_argument("--force", action="store_true",
                        help="skip the seal-key check (shamir, restoring into a new cluster)")
    args = parser.parse_args(argv)
    token = os.environ.get("BAO_TOKEN", "")
    if not args.addr or not token:
        print("openbao_restore: set BAO_ADDR (or --addr) and BAO_TOKEN (a token with `update` "
              f"on {RESTORE_PATH}, e.g. platform-admin)", file=sys.stderr)
        return 1
    bao = Bao(args.addr, token, args.ca_cert)
    try:
        snapshot = read_snapshot(args.file)
        print(f"[1/4] {snapshot.path}: raft snapshot at index {snapshot.index}, "
              f"term {snapshot.term}, checksums verified")
        path = FORCE_RESTORE_PATH if args.force else RESTORE_PATH
        before = check_server(bao, path)
        print(f"[2/4] {bao.addr}: unsealed and active (cluster {before.get('cluster_id')}), "
              f"the token may restore")
        if args.dry_run:
            print("dry run: nothing restored")
            return 0
        if not args.yes and not _confirm(bao.addr, snapshot.path, sys.stdin):
            print("openbao_restore: aborted: the address was not typed; nothing changed",
                  file=sys.stderr)
            return 1
        print(f"[3/4] restoring {snapshot.path} into {bao.addr} through {path} (OpenBao 2.6.2 "
              "takes at least 5 s)", flush=True)
        restore(bao, snapshot, path)
        after = wait_healthy(bao, args.timeout)
    except RestoreFailed as failed:
        print(f"openbao_restore: {failed}", file=sys.stderr)
        return 1
    survived = ("the token still exists (it did when the snapshot was taken)" if token_survived(bao)
                else "the token is gone (it did not exist when the snapshot was taken)")
    print(f"[4/4] restored: {bao.addr} is unsealed and active (cluster "
          f"{after.get('cluster_id')}); {survived}; log in again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
