"""OpenBao backups end to end, against the real OpenBao 2.6.2 server on 127.0.0.1.

The servers are tests/engines/test_openbao.py's `BaoServer` (the generated server HCL and self-init
config); the snapshot script runs under the real `sh` with the real `bao` CLI first on PATH, the
restore as `python -m ops.openbao_restore`, both over TLS verified against the internal CA as in
the cluster (the CronJob's BAO_CACERT, the restore's --ca-cert / BAO_CACERT; the throwaway CA of
`tls_dir()`). There is no Kubernetes API here, so the script mostly
gets its token through BAO_TOKEN: one created with exactly the policies of the `raft-snapshot`
role (what its Kubernetes login carries). Verifies:

1. the `raft-snapshot` role and policy: a token with them takes a snapshot, and is refused (403)
   everything else: secrets under plate/ and platform/ (read, list, write), restoring, the raft
   configuration, policies, mounts, other tokens;
2. on a cluster initialised before they existed, `snapshot_identity_commands` (run twice)
   create the same role and policy as self-initialisation;
3. the script's own Kubernetes login (OpenBao's real Kubernetes auth, a stand-in TokenReview
   endpoint): ServiceAccount openbao-snapshot in openbao logs in, takes a snapshot and revokes its
   token at the end; another account, or the same name in another namespace, is refused;
4. the script fails (non-zero, a FAILED line) and leaves no file when the server is unreachable,
   the token lacks the right, or the snapshot is empty, truncated or fails its checksums; older
   snapshots stay untouched;
5. the restore CLI refuses a file that is no snapshot, an unreachable server, a standby and a
   token without `update` on the restore path (the snapshot role's token among them);
6. the round trip: secrets written, the script run with keep=2 next to two earlier snapshots
   (exactly the 2 newest remain, the oldest is deleted, a stale partial file is cleared) -> the
   server wiped (killed, data deleted, started anew: it self-initialises a new cluster) ->
   `ops.openbao_restore` (a dry run and a refused confirmation change nothing) restores the
   newest snapshot -> the secrets as of that snapshot are back, a secret written only on the
   fresh server is gone, the cluster id is the old one, and a restart keeps it so;
7. a shamir cluster's snapshot into another shamir cluster: refused without `--force` (the seal
   key check; the server unchanged); with it, the CLI says the old unseal keys are needed, and
   they do unseal it (run in the background from module setup: every restore takes 5 s);
8. `snapshot_script` rejects a bad `keep`.
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.tools.openbao import server as openbao
from components.tools.openbao import snapshot as openbao_snapshot
from ops import openbao_restore
from tests.engines.test_openbao import (
    BAO,
    TEST_CA,
    BaoServer,
    _api,
    _free_port,
    client_context,
    tls_dir,
)

REPO = Path(__file__).resolve().parents[2]
KEEP = 2


def _init_shamir(server: BaoServer) -> tuple[str, str]:
    """`sys/init` with one key share, then unseal: (unseal key, root token)."""
    server.wait_until(lambda: (server.health() or {}).get("initialized") is False, "answering")
    status, body = _api(server.addr, "POST", "sys/init", None,
                        {"secret_shares": 1, "secret_threshold": 1})
    assert status == 200, body
    assert _api(server.addr, "POST", "sys/unseal", None, {"key": body["keys"][0]})[0] == 200
    server.wait_active()
    return str(body["keys"][0]), str(body["root_token"])


@dataclass
class ShamirRestore:
    """A restore from one shamir cluster (`old`) into another (`new`), run in the background
    from module setup: OpenBao holds every restore for a fixed 5 s (`restoreOpDelayDuration` in
    physical/raft), which this way overlaps the other tests instead of adding to them."""

    old: BaoServer
    new: BaoServer
    directory: Path
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    unforced: subprocess.CompletedProcess[str] | None = None
    untouched: dict[str, Any] | None = None  # `new`'s health after the refused restore
    result: subprocess.CompletedProcess[str] | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with ThreadPoolExecutor(2) as pool:  # two 1.5 s raft bootstraps, side by side
                self.keys = dict(zip(("old", "new"), pool.map(_init_shamir, (self.old, self.new))))
            root = self.keys["old"][1]
            assert _api(self.old.addr, "POST", "sys/mounts/kv", root, {"type": "kv"})[0] == 204
            assert _api(self.old.addr, "POST", "kv/app", root, {"password": "old"})[0] == 204
            self.directory.mkdir()
            assert _run_script(self.directory, self.old.addr, root).returncode == 0
            (snapshot,) = self.directory.iterdir()
            args = ("--file", str(snapshot), "--yes")
            self.unforced = _restore(self.new.addr, self.keys["new"][1], *args)
            self.untouched = self.new.health()
            self.result = _restore(self.new.addr, self.keys["new"][1], *args, "--force")
        except BaseException as exc:  # pytest.fail raises a BaseException
            self.error = exc

    def wait(self) -> subprocess.CompletedProcess[str]:
        assert self.thread is not None
        self.thread.join(timeout=120)
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@dataclass
class Fleet:
    main: BaoServer  # static seal, self-initialised; wiped by the round trip
    shamir: ShamirRestore


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The servers, started together so that their elections overlap."""
    root = tmp_path_factory.mktemp("openbao-snapshot")
    main = BaoServer(root / "main")
    shamir = ShamirRestore(BaoServer(root / "old", init=False, seal="shamir"),
                           BaoServer(root / "new", init=False, seal="shamir"),
                           root / "shamir-snapshots")
    servers = [main, shamir.old, shamir.new]
    try:
        for server in servers:
            server.start()
        shamir.start()
        yield Fleet(main, shamir)
    finally:
        if shamir.thread is not None:
            shamir.thread.join(timeout=60)
        for server in servers:
            if server.proc is not None and server.proc.poll() is None:
                server.proc.kill()  # nothing to keep: no graceful shutdown needed
        for server in servers:
            server.stop()


@pytest.fixture
def bao(fleet: Fleet) -> BaoServer:
    fleet.main.wait_active()
    return fleet.main


def _snapshot_token(server: BaoServer) -> str:
    """A token with the policies a Kubernetes login as `raft-snapshot` gets (its role's, plus
    `default`): the test's approle login of that policy (platform-admin may not create tokens)."""
    admin = server.login(openbao.PLATFORM_ADMIN)
    role = _api(server.addr, "GET", f"auth/kubernetes/role/{openbao.SNAPSHOT_ROLE}", admin)[1]
    assert role["data"]["token_policies"] == [openbao.SNAPSHOT_POLICY]
    token = server.login(openbao.SNAPSHOT_ROLE)
    me = _api(server.addr, "GET", "auth/token/lookup-self", token)[1]["data"]
    assert sorted(me["policies"]) == ["default", openbao.SNAPSHOT_POLICY]
    return token


def _ca() -> str:
    """The internal CA that signed the servers' certificate (tests/engines/test_openbao.py): the
    CronJob's BAO_CACERT, the restore's --ca-cert."""
    return str(tls_dir() / openbao.TLS_CA_FILE)


def _run_script(directory: Path, addr: str, token: str, *, keep: int = KEEP,
                bin_dir: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    script = directory.parent / "snapshot.sh"
    script.write_text(openbao_snapshot.snapshot_script(keep))
    env = {"PATH": f"{bin_dir or Path(BAO).parent}:/usr/bin:/bin", "HOME": str(directory.parent),
           "BAO_ADDR": addr, "BAO_CACERT": _ca(), "BAO_TOKEN": token,
           "SNAPSHOT_DIR": str(directory), **extra}
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True,
                          timeout=60)


def _files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _restore(addr: str, token: str, *args: str,
             stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env |= {"BAO_ADDR": addr, "BAO_CACERT": _ca(), "BAO_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "ops.openbao_restore", *args], cwd=REPO,
                          env=env, input=stdin, capture_output=True, text=True, timeout=120)


# 1 ------------------------------------------------------------------------------------------------

def test_the_snapshot_role_takes_snapshots_and_nothing_else(bao: BaoServer) -> None:
    admin = bao.login(openbao.PLATFORM_ADMIN)
    role = _api(bao.addr, "GET", f"auth/kubernetes/role/{openbao.SNAPSHOT_ROLE}", admin)[1]["data"]
    assert (role["bound_service_account_names"], role["bound_service_account_namespaces"]) == (
        [openbao.SNAPSHOT_SERVICE_ACCOUNT], ["openbao"])
    assert (role["token_policies"], role["token_ttl"], role["token_max_ttl"]) == (
        [openbao.SNAPSHOT_POLICY], 300, 300)
    policy = _api(bao.addr, "GET", f"sys/policies/acl/{openbao.SNAPSHOT_POLICY}", admin)[1]
    assert re.findall(r'path "([^"]+)"', policy["data"]["policy"]) == [
        "sys/storage/raft/snapshot"]
    for path in ("plate/data/stg/app", "platform/data/harbor/ci-push"):
        assert _api(bao.addr, "POST", path, admin, {"data": {"password": "secret"}})[0] == 200

    token = _snapshot_token(bao)
    request = urllib.request.Request(f"{bao.addr}/v1/sys/storage/raft/snapshot",
                                     headers={"X-Vault-Token": token})
    with urllib.request.urlopen(request, timeout=10, context=client_context()) as response:
        snapshot = response.read()
    assert response.status == 200 and snapshot[:2] == b"\x1f\x8b"  # a gzip stream
    caps = _api(bao.addr, "POST", "sys/capabilities-self", token,
                {"paths": ["sys/storage/raft/snapshot", "sys/storage/raft/snapshot-force"]})[1]
    assert (caps["sys/storage/raft/snapshot"], caps["sys/storage/raft/snapshot-force"]) == (
        ["read"], ["deny"])
    refused = [
        ("GET", "plate/data/stg/app"), ("GET", "plate/data/stg/plate-web"),
        ("LIST", "plate/metadata/stg"), ("GET", "plate/metadata/stg/app"),
        ("POST", "plate/data/stg/app"), ("DELETE", "plate/metadata/stg/app"),
        ("GET", "platform/data/harbor/ci-push"), ("LIST", "platform/metadata/harbor"),
        ("POST", "platform/data/harbor/ci-push"),
        ("POST", "sys/storage/raft/snapshot"), ("POST", "sys/storage/raft/snapshot-force"),
        ("GET", "sys/storage/raft/configuration"), ("GET", "sys/storage/raft/autopilot/state"),
        ("POST", "sys/storage/raft/remove-peer"),
        ("GET", f"sys/policies/acl/{openbao.SNAPSHOT_POLICY}"), ("GET", "sys/mounts"),
        ("POST", "auth/token/create"), ("LIST", "auth/token/accessors"),
        ("GET", f"auth/kubernetes/role/{openbao.SNAPSHOT_ROLE}"),
    ]
    answers = {(method, path): _api(bao.addr, method, path, token,
                                    {"data": {"v": "no"}} if method == "POST" else None)[0]
               for method, path in refused}
    assert answers == {key: 403 for key in refused}


# 2 ------------------------------------------------------------------------------------------------

def test_a_cluster_from_before_gets_the_same_identity_from_the_commands(
        bao: BaoServer, tmp_path: Path) -> None:
    """Self-initialisation ran before the snapshot role existed: the documented commands
    (`openbao.snapshot_identity_commands`, run twice) create exactly what it would have."""
    assert_commands_recreate(bao, openbao.SNAPSHOT_ROLE, openbao.SNAPSHOT_POLICY,
                             openbao.snapshot_identity_commands(), tmp_path)


def assert_commands_recreate(bao: BaoServer, role: str, policy: str, commands: str,
                             tmp_path: Path) -> None:
    """Delete the Kubernetes role `role` and the policy `policy` self-initialisation made, run
    `commands` (the documented shell commands for older clusters) twice as an administrator:
    both come back exactly as they were."""
    admin = bao.login(openbao.PLATFORM_ADMIN)
    paths = (f"auth/kubernetes/role/{role}", f"sys/policies/acl/{policy}")

    def read() -> tuple[dict[str, Any], str]:  # the role's fields and the policy's text
        role, policy = (_api(bao.addr, "GET", path, admin)[1]["data"] for path in paths)
        return role, policy["policy"]

    initialised = read()
    for path in paths:
        assert _api(bao.addr, "DELETE", path, admin)[0] == 204
    script = tmp_path / "identity.sh"
    script.write_text(commands)
    env = {"PATH": f"{Path(BAO).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "BAO_ADDR": bao.addr, "BAO_CACERT": _ca(), "BAO_TOKEN": admin}
    for _ in range(2):
        subprocess.run(["sh", "-e", str(script)], env=env, check=True, capture_output=True,
                       timeout=30)
    assert read() == initialised


# 3 ------------------------------------------------------------------------------------------------

class _TokenReview(http.server.BaseHTTPRequestHandler):
    """Kubernetes' TokenReview, standing in for the API server: any JWT from `_jwt` is valid."""

    def do_POST(self) -> None:  # the base class's name
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        payload = review["spec"]["token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        namespace, name = claims["kubernetes.io/serviceaccount/namespace"], claims[
            "kubernetes.io/serviceaccount/service-account.name"]
        body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                           "status": {"authenticated": True, "user": {
                               "username": f"system:serviceaccount:{namespace}:{name}",
                               "uid": claims["kubernetes.io/serviceaccount/service-account.uid"]}}})
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


def _jwt(namespace: str, name: str) -> str:
    """A ServiceAccount token as Kubernetes issues them (unsigned: OpenBao has no keys to check
    one against and asks TokenReview instead)."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return ".".join([part({"alg": "RS256", "typ": "JWT"}), part({
        "iss": "kubernetes/serviceaccount", "sub": f"system:serviceaccount:{namespace}:{name}",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": f"uid-{namespace}-{name}"}), "c2ln"])


def test_the_script_logs_in_as_the_cronjobs_service_account(bao: BaoServer,
                                                               tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenReview)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        admin = bao.login(openbao.PLATFORM_ADMIN)
        assert _api(bao.addr, "POST", "auth/kubernetes/config", admin, {
            "kubernetes_host": f"http://127.0.0.1:{server.server_port}",
            "disable_local_ca_jwt": True, "kubernetes_ca_cert": TEST_CA})[0] == 204
        directory = tmp_path / "snapshots"
        directory.mkdir()
        revoked = bao.audited_requests("auth/token/revoke-self")
        for namespace, account, works in (("openbao", openbao.SNAPSHOT_SERVICE_ACCOUNT, True),
                                          ("openbao", "default", False),
                                          ("plate-stg", openbao.SNAPSHOT_SERVICE_ACCOUNT, False)):
            jwt = tmp_path / f"{namespace}-{account}.jwt"
            jwt.write_text(_jwt(namespace, account))
            result = _run_script(directory, bao.addr, "", SERVICE_ACCOUNT_TOKEN_FILE=str(jwt))
            assert (result.returncode == 0) is works, result.stderr
            if works:
                assert (f"logged in to {bao.addr} as role {openbao.SNAPSHOT_ROLE}"
                        in result.stdout)
                assert len(_files(directory)) == 1
            else:
                assert (f"FAILED: login to {bao.addr} as role {openbao.SNAPSHOT_ROLE} "
                        "(Kubernetes auth) failed") in result.stderr
                assert "not authorized" in result.stderr
        assert len(_files(directory)) == 1
        # and revoked the token it logged in with (the audit device's lines in the server log)
        bao.wait_until(lambda: bao.audited_requests("auth/token/revoke-self") == revoked + 1,
                       "done revoking the login token")
    finally:
        server.shutdown()


# 4 ------------------------------------------------------------------------------------------------

def _tampered(snapshot: bytes, how: str) -> bytes:
    if how == "empty":
        return b""
    if how == "truncated":
        return snapshot[: len(snapshot) // 2]
    out = io.BytesIO()  # state.bin changed, SHA256SUMS kept
    with tarfile.open(fileobj=io.BytesIO(snapshot), mode="r:gz") as src, \
            tarfile.open(fileobj=out, mode="w:gz") as dst:
        for member in src.getmembers():
            data = (src.extractfile(member) or io.BytesIO()).read()
            if member.name == "state.bin":
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, io.BytesIO(data))
    return out.getvalue()


def test_the_script_fails_and_leaves_no_file(bao: BaoServer, tmp_path: Path) -> None:
    directory = tmp_path / "snapshots"
    directory.mkdir()
    older = directory / "openbao-raft-20260101T000000Z.snap"
    older.write_bytes(b"an older snapshot")
    no_rights = bao.login("eso-stg")  # reads plate/stg/*, no snapshot
    closed = f"https://127.0.0.1:{_free_port()}"
    for addr, token, why in ((closed, _snapshot_token(bao), "connection refused"),
                             (bao.addr, no_rights, "permission denied")):
        result = _run_script(directory, addr, token, keep=1)
        assert result.returncode != 0
        assert why in result.stderr and "FAILED: snapshot save from" in result.stderr
        assert _files(directory) == [older.name] and older.read_bytes() == b"an older snapshot"

    # a `bao` whose save writes a bad file: the script's own check must catch it
    good = directory.parent / "good.snap"
    subprocess.run([BAO, "operator", "raft", "snapshot", "save", str(good)], check=True,
                   env={"BAO_ADDR": bao.addr, "BAO_CACERT": _ca(),
                        "BAO_TOKEN": _snapshot_token(bao), "HOME": "/"})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "bao"
    fake.write_text('#!/bin/sh\n[ "$3 $4" = "snapshot save" ] && exec cp "$BAD_SNAPSHOT" "$5"\n'
                    'exit 1\n')
    fake.chmod(0o755)
    for how, why in (("empty", "is empty"), ("truncated", "not a gzip tar with SHA256SUMS"),
                     ("tampered", "state.bin in the snapshot does not match")):
        bad = tmp_path / f"{how}.snap"
        bad.write_bytes(_tampered(good.read_bytes(), how))
        result = _run_script(directory, bao.addr, "unused", keep=1, bin_dir=bin_dir,
                             BAD_SNAPSHOT=str(bad))
        assert result.returncode != 0, how
        assert "openbao-snapshot: FAILED: " in result.stderr and why in result.stderr, how
        assert _files(directory) == [older.name]


# 5 ------------------------------------------------------------------------------------------------

def test_the_restore_refuses_what_it_cannot_restore(bao: BaoServer, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = tmp_path / "ok.snap"
    subprocess.run([BAO, "operator", "raft", "snapshot", "save", str(snapshot)], check=True,
                   env={"BAO_ADDR": bao.addr, "BAO_CACERT": _ca(),
                        "BAO_TOKEN": _snapshot_token(bao), "HOME": "/"})
    tampered = tmp_path / "tampered.snap"
    tampered.write_bytes(_tampered(snapshot.read_bytes(), "tampered"))
    admin = bao.login(openbao.PLATFORM_ADMIN)
    cases = [
        (bao.addr, admin, tampered, "state.bin does not match its SHA-256 sum"),
        (bao.addr, admin, tmp_path / "missing.snap", "is missing or empty"),
        (f"https://127.0.0.1:{_free_port()}", admin, snapshot, "does not answer sys/health"),
        (bao.addr, _snapshot_token(bao), snapshot,
         "the token lacks `update` on sys/storage/raft/snapshot (it has ['read'])"),
        (bao.addr, "not-a-token", snapshot, "the token is not valid there (HTTP 403)"),
    ]
    for addr, token, path, why in cases:
        monkeypatch.setenv("BAO_TOKEN", token)
        assert openbao_restore.main(
            ["--addr", addr, "--ca-cert", _ca(), "--file", str(path), "--yes"]) == 1
        assert why in capsys.readouterr().err
    # a standby answers 204, fails to apply the snapshot and seals itself: never send it there
    standby = {"initialized": True, "sealed": False, "standby": True}
    assert "openbao-active" in (openbao_restore._state(standby) or "")


# 6 ------------------------------------------------------------------------------------------------

def test_snapshots_rotate_and_a_wiped_server_gets_its_secrets_back(
        bao: BaoServer, tmp_path: Path) -> None:
    admin = bao.login(openbao.PLATFORM_ADMIN)
    cluster_id = (bao.health() or {})["cluster_id"]
    assert _api(bao.addr, "POST", "platform/data/harbor/ci-push", admin,
                {"data": {"password": "robot"}})[0] == 200
    directory = tmp_path / "snapshots"
    directory.mkdir()
    stale = directory / ".openbao-raft-20260101T000000Z.partial"
    stale.write_bytes(b"left by a killed run")
    token = _snapshot_token(bao)
    # two earlier runs' snapshots (by name: the retention goes by the time in the name)
    saved = ["openbao-raft-20260101T000000Z.snap", "openbao-raft-20260102T000000Z.snap"]
    for name in saved:
        (directory / name).write_bytes(b"an earlier snapshot")
    assert _api(bao.addr, "POST", "plate/data/stg/app", admin, {"data": {"run": 3}})[0] == 200
    result = _run_script(directory, bao.addr, token)
    assert result.returncode == 0, result.stderr
    (name,) = re.findall(r"saved \S+/(openbao-raft-\d{8}T\d{6}Z\.snap) \(\d+ bytes, "
                         r"checksums verified\)", result.stdout)
    saved.append(name)
    assert _files(directory) == saved[-KEEP:]  # only the newest, nothing partial
    assert f"deleted {directory}/{saved[0]} (keeping the newest {KEEP})" in result.stdout
    newest = directory / saved[-1]

    assert bao.proc is not None
    bao.proc.kill()  # the disaster: all raft data gone; the same config initialises a new cluster
    bao.stop()
    shutil.rmtree(bao.data)
    bao.start()
    bao.wait_active()
    fresh = bao.login(openbao.PLATFORM_ADMIN)
    assert (bao.health() or {})["cluster_id"] != cluster_id
    assert _api(bao.addr, "GET", "plate/data/stg/app", fresh)[0] == 404
    assert _api(bao.addr, "POST", "plate/data/stg/fresh-only", fresh, {"data": {"v": 1}})[0] == 200

    dry = _restore(bao.addr, fresh, "--file", str(newest), "--dry-run")
    assert dry.returncode == 0 and "dry run: nothing restored" in dry.stdout, dry.stderr
    typo = _restore(bao.addr, fresh, "--file", str(newest), stdin="http://elsewhere\n")
    assert typo.returncode == 1 and "aborted" in typo.stderr
    assert _api(bao.addr, "GET", "plate/data/stg/fresh-only", fresh)[0] == 200  # unchanged

    result = _restore(bao.addr, fresh, "--file", str(newest), stdin=f"{bao.addr}\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.findall(r"\[\d/4\]", result.stdout) == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert f"cluster {cluster_id}); the token is gone" in result.stdout
    assert (bao.health() or {})["cluster_id"] == cluster_id
    assert _api(bao.addr, "GET", "plate/data/stg/app", fresh)[0] == 403  # its tokens are gone
    admin = bao.login(openbao.PLATFORM_ADMIN)
    assert _api(bao.addr, "GET", "plate/data/stg/app", admin)[1]["data"]["data"] == {"run": 3}
    secret = _api(bao.addr, "GET", "platform/data/harbor/ci-push", admin)[1]
    assert secret["data"]["data"] == {"password": "robot"}
    assert _api(bao.addr, "GET", "plate/data/stg/fresh-only", admin)[0] == 404
    # and it stays so across a restart (the initialize stanza sees an initialised storage)
    bao.stop()
    bao.start()
    bao.wait_active()
    admin = bao.login(openbao.PLATFORM_ADMIN)
    assert _api(bao.addr, "GET", "plate/data/stg/app", admin)[1]["data"]["data"] == {"run": 3}


# 7 ------------------------------------------------------------------------------------------------

def test_a_shamir_cluster_needs_the_old_keys_after_a_restore(fleet: Fleet) -> None:
    shamir = fleet.shamir
    result = shamir.wait()
    assert shamir.unforced is not None and shamir.unforced.returncode == 1
    assert ("could not verify hash file, possibly the snapshot is using a different set of unseal "
            "keys") in shamir.unforced.stderr and "nothing was changed" in shamir.unforced.stderr
    assert shamir.untouched is not None and shamir.untouched["sealed"] is False
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("sealed (shamir): unseal every pod with the unseal keys of the cluster the snapshot "
            "was taken from") in result.stderr
    new, (old_key, old_root), (new_key, _) = shamir.new, shamir.keys["old"], shamir.keys["new"]
    wrong = _api(new.addr, "POST", "sys/unseal", None, {"key": new_key})[1]
    assert wrong.get("sealed", True)  # its own keys no longer open it
    assert _api(new.addr, "POST", "sys/unseal", None, {"key": old_key})[1]["sealed"] is False
    new.wait_active()
    assert _api(new.addr, "GET", "kv/app", old_root)[1]["data"] == {"password": "old"}


# 8 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("keep", [0, -1, True, "2", 2.0, openbao_snapshot.MAX_KEEP + 1])
def test_snapshot_script_rejects_a_bad_keep(keep: Any) -> None:
    with pytest.raises(ValueError, match="keep must be an integer"):
        openbao_snapshot.snapshot_script(keep)
