"""The tools' break-glass passwords in OpenBao, against the real OpenBao 2.6.2 server on 127.0.0.1.

The server is tests/engines/test_openbao.py's `BaoServer`, self-initialised from
`server.init_config` (plus the tests' approle logins, one per policy); the escrow script runs
under busybox `sh` (the shell of OpenBao's image) with the real `bao` CLI, over TLS verified
against the internal CA as its Job does (BAO_CACERT). Verifies:

1. self-initialisation writes the `break-glass-escrow` policy (create and update on
   `platform/data/break-glass/argocd|grafana|harbor`, nothing else) and the Kubernetes role bound
   to ServiceAccount `break-glass-escrow` in openbao, 5-minute tokens;
2. a token with that policy writes exactly those three entries: it cannot read them back, delete
   them, list or read their metadata, write OpenBao's own break-glass entry, another platform
   entry or an app's;
3. platform-admin reads them; plate-developer and plate-viewer read neither the entries nor their
   metadata;
4. the script writes the three entries (`username` admin, `password` verbatim from its file,
   odd characters included), a rotated password becomes a new version, and it fails (a FAILED
   line, nothing written) when a password file is missing or empty;
5. its own Kubernetes login (a stand-in TokenReview endpoint): ServiceAccount break-glass-escrow
   in openbao logs in, writes and revokes its token; another account, or the name in another
   namespace, is refused once the login wait runs out;
6. on a cluster initialised before the escrow identity existed, `escrow_identity_commands` (run
   twice) create the same role and policy;
7. `escrow_script` rejects bad waits.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.tools.openbao import escrow
from components.tools.openbao import server as openbao
from tests.engines.test_openbao import (
    BAO,
    TEST_CA,
    BaoServer,
    _api,
    _approle_requests,
    tls_dir,
)
from tests.engines.test_openbao_snapshot import _jwt, _TokenReview, assert_commands_recreate

ESCROW = openbao.BREAK_GLASS_ESCROW
ROLES = (openbao.PLATFORM_ADMIN, openbao.PLATE_DEVELOPER, openbao.PLATE_VIEWER, ESCROW)
ENTRIES = [f"platform/data/break-glass/{tool}" for tool in ("argocd", "grafana", "harbor")]
BUSYBOX = shutil.which("busybox")
PASSWORDS = {"argocd": "Argo-pass-1", "grafana": 'odd "chars" \\ $HOME `x` @y ',
             "harbor": "Harbor12345"}


class EscrowServer(BaoServer):
    """A BaoServer whose init.hcl is the program's, with approle logins for `ROLES`."""

    def _write_config(self) -> Path:
        config = super()._write_config()
        (config / "init.hcl").write_text(openbao.init_config(
            environments=("stg",), apps=("plate-web",),
            kubernetes_host="https://127.0.0.1:6443",
            extra_kubernetes_config={"kubernetes_ca_cert": TEST_CA,
                                     "disable_local_ca_jwt": "true"},
            extra_requests=_approle_requests(ROLES)))
        return config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowServer]:
    bao = EscrowServer(tmp_path_factory.mktemp("escrow"))
    try:
        bao.start()
        yield bao
    finally:
        bao.stop()


@pytest.fixture
def bao(server: EscrowServer) -> EscrowServer:
    server.wait_active()
    return server


def _ca() -> str:
    return str(tls_dir() / openbao.TLS_CA_FILE)


def _credentials(directory: Path, passwords: dict[str, str]) -> Path:
    """The Secret `break-glass-credentials` as its volume mounts it: one file per tool."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool, password in passwords.items():
        (directory / tool).write_text(password)
    return directory


def _run(tmp: Path, addr: str, token: str, credentials: Path,
         **extra: str) -> subprocess.CompletedProcess[str]:
    assert BUSYBOX, "busybox is needed: it is the shell of OpenBao's image"
    script = tmp / escrow.SCRIPT_NAME
    script.write_text(escrow.escrow_script(interval=1))
    env = {"PATH": f"{Path(BAO).parent}:/usr/bin:/bin", "HOME": str(tmp), "TMPDIR": str(tmp),
           "BAO_ADDR": addr, "BAO_CACERT": _ca(), "BAO_TOKEN": token,
           "CREDENTIALS_DIR": str(credentials), "CREDENTIALS_REVISION": "rev-1", **extra}
    return subprocess.run([BUSYBOX, "sh", str(script)], env=env, capture_output=True, text=True,
                          timeout=60)


def _stored(bao: BaoServer, tool: str) -> dict[str, Any]:
    admin = bao.login(openbao.PLATFORM_ADMIN)
    status, body = _api(bao.addr, "GET", f"platform/data/break-glass/{tool}", admin)
    assert status == 200, body
    return {"version": body["data"]["metadata"]["version"], **body["data"]["data"]}


def _wipe(bao: BaoServer) -> None:
    admin = bao.login(openbao.PLATFORM_ADMIN)
    for entry in ENTRIES:
        status = _api(bao.addr, "DELETE", entry.replace("/data/", "/metadata/", 1), admin)[0]
        assert status == 204


# 1 ------------------------------------------------------------------------------------------------

def test_self_initialisation_creates_the_escrow_policy_and_role(bao: EscrowServer) -> None:
    admin = bao.login(openbao.PLATFORM_ADMIN)
    policy = _api(bao.addr, "GET", f"sys/policies/acl/{ESCROW}", admin)[1]["data"]["policy"]
    assert policy == "".join(
        f'path "{entry}" {{\n  capabilities = ["create", "update"]\n}}\n' for entry in ENTRIES)
    role = _api(bao.addr, "GET", f"auth/kubernetes/role/{ESCROW}", admin)[1]["data"]
    assert (role["bound_service_account_names"], role["bound_service_account_namespaces"],
            role["token_policies"], role["token_ttl"], role["token_max_ttl"]) == (
        [ESCROW], ["openbao"], [ESCROW], 300, 300)


# 2, 3 ---------------------------------------------------------------------------------------------

def test_the_escrow_token_writes_exactly_its_three_entries(bao: EscrowServer) -> None:
    token = bao.login(ESCROW)
    for entry in ENTRIES:
        assert _api(bao.addr, "POST", entry, token, {"data": {"password": "x"}})[0] == 200
        assert _api(bao.addr, "GET", entry, token)[0] == 403, entry
        assert _api(bao.addr, "DELETE", entry, token)[0] == 403, entry
        metadata = entry.replace("/data/", "/metadata/", 1)
        assert _api(bao.addr, "GET", metadata, token)[0] == 403, metadata
        assert _api(bao.addr, "DELETE", metadata, token)[0] == 403, metadata
    for method, path in (("POST", "platform/data/break-glass/openbao"),
                         ("POST", "platform/data/break-glass/other"),
                         ("POST", "platform/data/harbor/ci-push"),
                         ("POST", "plate/data/stg/plate-web"),
                         ("GET", "platform/data/break-glass/openbao"),
                         ("LIST", "platform/metadata/break-glass"),
                         ("POST", "sys/policies/acl/x")):
        data = {"data": {"k": "v"}} if path.startswith("plat") and method == "POST" else (
            {"policy": ""} if method == "POST" else None)
        assert _api(bao.addr, method, path, token, data)[0] == 403, (method, path)
    _wipe(bao)


def test_only_administrators_read_the_entries(bao: EscrowServer) -> None:
    writer = bao.login(ESCROW)
    for entry in ENTRIES:
        assert _api(bao.addr, "POST", entry, writer, {"data": {"password": "p"}})[0] == 200
    admin = bao.login(openbao.PLATFORM_ADMIN)
    assert sorted(_api(bao.addr, "LIST", "platform/metadata/break-glass", admin)[1]["data"][
        "keys"]) == ["argocd", "grafana", "harbor"]
    for entry in ENTRIES:
        assert _api(bao.addr, "GET", entry, admin)[1]["data"]["data"] == {"password": "p"}
    for role in (openbao.PLATE_DEVELOPER, openbao.PLATE_VIEWER):
        token = bao.login(role)
        for entry in ENTRIES:
            assert _api(bao.addr, "GET", entry, token)[0] == 403, (role, entry)
            assert _api(bao.addr, "GET", entry.replace("/data/", "/metadata/", 1),
                        token)[0] == 403, (role, entry)
        assert _api(bao.addr, "LIST", "platform/metadata/break-glass", token)[0] == 403
    _wipe(bao)


# 4 ------------------------------------------------------------------------------------------------

def test_the_script_writes_the_three_entries_and_follows_a_rotation(
        bao: EscrowServer, tmp_path: Path) -> None:
    credentials = _credentials(tmp_path / "credentials", PASSWORDS)
    result = _run(tmp_path, bao.addr, bao.login(ESCROW), credentials)
    assert result.returncode == 0, result.stderr
    for tool, password in PASSWORDS.items():
        assert _stored(bao, tool) == {"version": 1, "username": "admin", "password": password}
        assert f"wrote platform/break-glass/{tool} (version 1)" in result.stdout
    assert result.stdout.rstrip().endswith("done: revision rev-1")
    for password in PASSWORDS.values():
        assert password not in result.stdout + result.stderr
    # Grafana's password rotates: the Job runs again (a new revision)
    _credentials(credentials, {"grafana": "rotated-grafana"})
    result = _run(tmp_path, bao.addr, bao.login(ESCROW), credentials,
                  CREDENTIALS_REVISION="rev-2")
    assert result.returncode == 0, result.stderr
    assert _stored(bao, "grafana") == {"version": 2, "username": "admin",
                                       "password": "rotated-grafana"}
    assert _stored(bao, "argocd")["password"] == PASSWORDS["argocd"]
    _wipe(bao)


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_the_script_fails_without_every_password(bao: EscrowServer, tmp_path: Path,
                                                 how: str) -> None:
    credentials = _credentials(tmp_path / "credentials", PASSWORDS)
    if how == "missing":
        (credentials / "harbor").unlink()
    else:
        (credentials / "harbor").write_text("")
    result = _run(tmp_path, bao.addr, bao.login(ESCROW), credentials)
    assert result.returncode == 1
    assert f"FAILED: no password for harbor at {credentials}/harbor" in result.stderr
    admin = bao.login(openbao.PLATFORM_ADMIN)
    for entry in ENTRIES:
        assert _api(bao.addr, "GET", entry, admin)[0] == 404, entry


# 5 ------------------------------------------------------------------------------------------------

def test_the_script_logs_in_as_the_jobs_service_account(bao: EscrowServer,
                                                         tmp_path: Path) -> None:
    reviewer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenReview)
    threading.Thread(target=reviewer.serve_forever, daemon=True).start()
    admin = bao.login(openbao.PLATFORM_ADMIN)
    try:
        assert _api(bao.addr, "POST", "auth/kubernetes/config", admin, {
            "kubernetes_host": f"http://127.0.0.1:{reviewer.server_port}",
            "disable_local_ca_jwt": True, "kubernetes_ca_cert": TEST_CA})[0] == 204
        credentials = _credentials(tmp_path / "credentials", PASSWORDS)
        revoked = bao.audited_requests("auth/token/revoke-self")
        for namespace, account, works in (("openbao", ESCROW, True),
                                          ("openbao", "default", False),
                                          ("harbor", ESCROW, False)):
            jwt = tmp_path / f"{namespace}-{account}.jwt"
            jwt.write_text(_jwt(namespace, account))
            result = _run(tmp_path, bao.addr, "", credentials, LOGIN_WAIT_SECONDS="2",
                          SERVICE_ACCOUNT_TOKEN_FILE=str(jwt))
            assert (result.returncode == 0) is works, result.stderr
            if works:
                assert f"logged in to {bao.addr} as role {ESCROW}" in result.stdout
                assert _stored(bao, "harbor")["password"] == PASSWORDS["harbor"]
            else:
                assert (f"FAILED: login to {bao.addr} as role {ESCROW} (Kubernetes auth) "
                        "failed") in result.stderr
                assert "not authorized" in result.stderr
        assert _stored(bao, "harbor")["version"] == 1  # the refused ones wrote nothing
        bao.wait_until(lambda: bao.audited_requests("auth/token/revoke-self") == revoked + 1,
                       "done revoking the login token")
    finally:
        reviewer.shutdown()
        _wipe(bao)


# 6 ------------------------------------------------------------------------------------------------

def test_a_cluster_from_before_gets_the_same_identity_from_the_commands(
        bao: EscrowServer, tmp_path: Path) -> None:
    assert_commands_recreate(bao, ESCROW, ESCROW, openbao.escrow_identity_commands(), tmp_path)


# 7 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{"login_wait_seconds": 0}, {"interval": -1},
                                    {"interval": True}, {"login_wait_seconds": "60"}])
def test_escrow_script_rejects_bad_waits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        escrow.escrow_script(**kwargs)
