"""OpenBao never splits in two and recovers a half-done self-initialisation: three real OpenBao
2.6.2 servers on 127.0.0.1, started the way the chart starts them.

Each "pod" is tests/engines/test_openbao.py's `BaoServer` running the generated server HCL for 3
replicas with only its own parameters adapted: pod i listens on 127.1.i.1 (one port for all, so
`peer_addr_template` works as in the cluster), storage in a temp dir, a 64-hex-char key file, the
node id from BAO_RAFT_NODE_ID = the pod's name (the chart's `setNodeId`), the API over TLS with
the certificate of test_openbao.py's `tls_dir()` (its addresses are the pods'), which `retry_join`
and the selector's peer questions verify against that CA, as in the cluster. Its start is the
chart's: the generated selector script runs under BusyBox's `sh` with BusyBox's applets (the
image's; this machine's dash and coreutils where BusyBox is not installed), the real `bao` CLI
first on PATH and HOSTNAME = the pod's name, and its output is
added to `bao server`'s arguments, as `server.extraArgs = "$(sh select-init.sh)"` does
(docs/facts.md, "OpenBao chart: extraArgs"). The init file is the generated one plus test-only
approle logins. One change at run time: autopilot's `server_stabilization_time` (how long a
joined node must be healthy before it becomes a voter, 10 s by default) is 1 s here.

The Kubernetes API is a stand-in on 127.0.0.1 (HTTPS, a throwaway CA from `openssl`; a test
fixture, not a fake of OpenBao). It answers what the selector and OpenBao's Kubernetes service
registration ask, in the shapes of the Kubernetes API reference
(https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/persistent-volume-claim-v1/
`list` = `GET /api/v1/namespaces/{namespace}/persistentvolumeclaims` -> 200
PersistentVolumeClaimList; .../workload-resources/pod-v1/ `read` and `patch` of a Pod; errors as a
`Status` object), and it authorises every request with the rendered prod stack's own Roles and
RoleBindings (tests/harness.py `rendered`): the program's RBAC is what lets the selector read the
claims. Where the claims come from: like the StatefulSet controller, a pod's claim
`data-openbao-<i>` is created before the pod first starts and outlives it.

The slow scenarios (the cluster's cold start, test 6, a single server the selector cases ask)
start together in the background at module setup; the tests then use the cluster one after the
other, each leaving it whole.

Verifies:
1. the selector (each case a run of the script): only ordinal 0; never over a barrier of its own
   (without asking the API); a barrier without the completion marker next to its own recent
   pending mark is moved aside, next to an old one (over an hour) left alone; no peer claim ->
   initialise; a peer claim whose peer answers initialised -> not, at once; all
   answering uninitialised -> initialise; a silent peer (down, or a claim beyond the replicas)
   -> not, after the bounded wait; a peer that comes up during the wait ends it; an API it cannot
   read (no RBAC, a bad token, a CA that does not match) -> not; RBAC granted during the wait ->
   initialise; no `bao` CLI -> not;
2. cold start: pod 0 initialises (its claim alone exists), pods 1 and 2 join: one cluster id, three
   raft members named openbao-0..2, all voters (autopilot), one active;
3. a leader's death (SIGKILL): a standby becomes active; exactly one node reports active
   (sys/health, sys/leader, the vault_core_active gauge); with the Kubernetes service registration
   (when `unshare` can give the servers the ServiceAccount files), exactly one live pod carries
   `openbao-active=true`, the label the chart's `openbao-active` Service selects; the killed pod's
   label stays `true` until its container restarts (nothing else patches it), and its restart
   resets it;
4. pod 0's volume lost while the peers run: pod 0 rejoins the same cluster under its old node id
   (still three members), no new cluster id, the data is there;
5. pod 0's volume lost while the peers are down: the selector waits the bounded time and prints
   nothing; pod 0 starts uninitialised and stays so (ready by the program's readiness path, so
   OrderedReady starts the peers; live by its liveness path); the peers come up and pod 0 joins
   the old cluster: one cluster id, the data there;
6. a self-initialisation killed half-way (SIGKILL while a request of the init file hangs): OpenBao
   2.6.2 refuses to unseal that barrier on every restart ("self-initialization failed: refusing to
   unseal"; without the service registration the process exits, with it the process hangs with
   its listeners closed, which the program's liveness probe catches); the selector moves the
   storage aside and the next start initialises; a failing request (the server exits) recovers
   the same way; once the completion marker is in `vault.db` the selector leaves the volume alone.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.tools import openbao as program
from components.tools.openbao import server as openbao
from tests.engines.test_openbao import (
    BAO,
    ENVIRONMENTS,
    TEST_CA,
    TEST_ROLES,
    BaoServer,
    _api,
    _approle_requests,
    _stop_all,
    _test_init_config,
    client_context,
    tls_dir,
)
from tests.harness import rendered

NAMESPACE = "openbao"
RELEASE = "openbao"
REPLICAS = 3
PEER_WAIT = 2  # the selector's bounded wait in these tests (60 s in the cluster)
WAIT = 30.0  # the longest any step may take here
VAR_RUN = Path("/var/run")  # hidden per server by a tmpfs (see _wrapper)
SA_DIR = Path(openbao.SERVICE_ACCOUNT_DIR).relative_to(VAR_RUN)


def _until(check: Callable[[], Any], what: str, timeout: float = WAIT,
           show: Callable[[], Any] | None = None) -> Any:
    """check()'s first true answer, polled; fails after `timeout` (saying `show()`, if given)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {timeout} s" + (f": {show()}" if show else ""))
        time.sleep(0.05)


# --- a throwaway PKI ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the server's certificate


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def _pki(directory: Path) -> Pki:
    if shutil.which("openssl") is None:
        pytest.fail("these tests need the openssl CLI (a throwaway CA for the Kubernetes API)")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-days", "2", "-subj", f"/CN=test-{name}",
                 "-keyout", str(directory / f"{name}.key"), "-out", str(directory / f"{name}.crt"))
    _openssl("req", "-new", *ec, "-subj", "/CN=kubernetes", "-keyout", str(directory / "api.key"),
             "-out", str(directory / "api.csr"))
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\n")
    _openssl("x509", "-req", "-in", str(directory / "api.csr"), "-CA", str(directory / "ca.crt"),
             "-CAkey", str(directory / "ca.key"), "-CAcreateserial", "-days", "2",
             "-extfile", str(directory / "san.ext"), "-out", str(directory / "api.crt"))
    return Pki(directory / "ca.crt", directory / "api.crt", directory / "api.key",
               directory / "other-ca.crt")


# --- the Kubernetes API stand-in ------------------------------------------------------------------

def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A metav1.Status, the body of every API error."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _claim(name: str, serial: int) -> dict[str, Any]:
    """A bound PersistentVolumeClaim as the API server returns it (the StatefulSet's claims carry
    the set's selector labels)."""
    uid = f"00000000-0000-4000-8000-{serial:012d}"
    return {
        "metadata": {
            "name": name, "namespace": NAMESPACE, "uid": uid, "resourceVersion": str(serial),
            "creationTimestamp": "2026-01-01T00:00:00Z", "finalizers": [
                "kubernetes.io/pvc-protection"],
            "labels": {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/name": RELEASE,
                       "component": "server"} if name.startswith("data-") else {},
            "annotations": {"pv.kubernetes.io/bind-completed": "yes"},
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}},
                 "storageClassName": "local-path", "volumeMode": "Filesystem",
                 "volumeName": f"pvc-{uid}"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                   "capacity": {"storage": "20Gi"}},
    }


class _TlsServer(http.server.ThreadingHTTPServer):
    """HTTPS, the TLS handshake in each connection's own thread: a client that stalls or fails
    it never blocks the accept loop (nor `shutdown`)."""

    context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(WAIT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # e.g. a client that does not trust the certificate (the wrong-CA case)
        super().finish_request(tls, client_address)


class KubeApi:
    """The Kubernetes API as the selector and the service registration see it: PVCs (listed),
    pods (read, JSON-patched), authorised by the rendered Roles and RoleBindings."""

    def __init__(self, pki: Pki, roles: list[dict[str, Any]], bindings: list[dict[str, Any]],
                 account: str) -> None:
        user = f"system:serviceaccount:{NAMESPACE}:{account}"
        self.tokens = {"token-of-the-server-account": user}
        self.roles, self.bindings = roles, bindings
        self.claims: dict[str, int] = {"openbao-snapshots": 1}  # the namespace's other claim
        self.pods: dict[str, dict[str, str]] = {}
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, int]] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the base class's names
                api.serve(self, "GET")

            def do_PATCH(self) -> None:
                api.serve(self, "PATCH")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _TlsServer(("127.0.0.1", 0), Handler)
        self.server.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.context.load_cert_chain(pki.cert, pki.key)
        self.port = self.server.server_port
        self.url = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_claim(self, name: str) -> None:
        with self.lock:
            self.claims.setdefault(name, len(self.claims) + 1)

    def remove_claim(self, name: str) -> None:
        with self.lock:
            self.claims.pop(name, None)

    def allowed(self, user: str, verb: str, resource: str) -> bool:
        """RBAC: a RoleBinding in the namespace binds `user` to a Role with a matching rule."""
        account = user.rsplit(":", 1)[1]
        for binding in self.bindings:
            if not any(s["kind"] == "ServiceAccount" and s["name"] == account
                       and s.get("namespace") == NAMESPACE for s in binding["subjects"]):
                continue
            role = next((r for r in self.roles if r["metadata"]["name"]
                         == binding["roleRef"]["name"]), None)
            for rule in (role or {}).get("rules", []):
                if ("" in rule["apiGroups"] and {resource, "*"} & set(rule["resources"])
                        and {verb, "*"} & set(rule["verbs"])):
                    return True
        return False

    def serve(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        code, body = self._answer(handler, method)
        with self.lock:
            self.requests.append((method, handler.path, code))
        raw = json.dumps(body, separators=(",", ":")).encode()  # compact, as the API server
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    def _answer(self, handler: http.server.BaseHTTPRequestHandler,
                method: str) -> tuple[int, dict[str, Any]]:
        auth = handler.headers.get("Authorization", "")
        user = self.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if user is None:
            return 401, _status(401, "Unauthorized", "Unauthorized")
        match = re.fullmatch(r"/api/v1/namespaces/([a-z0-9-]+)/(persistentvolumeclaims|pods)"
                             r"(?:/([a-z0-9-]+))?", handler.path.split("?")[0])
        if match is None:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        namespace, resource, name = match.groups()
        verb = {"GET": "get" if name else "list", "PATCH": "patch"}[method]
        if namespace != NAMESPACE or not self.allowed(user, verb, resource):
            return 403, _status(403, "Forbidden", (
                f'{resource} is forbidden: User "{user}" cannot {verb} resource "{resource}" in '
                f'API group "" in the namespace "{namespace}"'))
        with self.lock:
            if resource == "persistentvolumeclaims" and name is None:
                return 200, {"kind": "PersistentVolumeClaimList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": str(100 + len(self.requests))},
                             "items": [_claim(n, s) for n, s in sorted(self.claims.items())]}
            if resource == "pods" and name in self.pods:
                if method == "PATCH":
                    length = int(handler.headers["Content-Length"])
                    self._patch(name, json.loads(handler.rfile.read(length)))
                return 200, {"kind": "Pod", "apiVersion": "v1", "metadata": {
                    "name": name, "namespace": NAMESPACE, "labels": dict(self.pods[name])}}
        return 404, _status(404, "NotFound", f'{resource} "{name}" not found')

    def _patch(self, pod: str, operations: list[dict[str, Any]]) -> None:
        """RFC 6902 add/replace on the labels. The API server's JSON patch (evanphx/json-patch
        v4) lets `replace` set a member that is missing, which the registration relies on."""
        for op in operations:
            assert op["op"] in ("add", "replace"), op
            if op["path"] == "/metadata/labels":
                self.pods[pod] = dict(op["value"])
            else:
                key = op["path"].removeprefix("/metadata/labels/").replace("~1", "/")
                self.pods[pod][key.replace("~0", "~")] = op["value"]

    def selected(self, selector: dict[str, str]) -> list[str]:
        """The pods a Service with this selector sends to."""
        with self.lock:
            return sorted(p for p, labels in self.pods.items()
                          if all(labels.get(k) == v for k, v in selector.items()))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the pods ------------------------------------------------------------------------------------

def _common_ports(hosts: list[str]) -> tuple[int, int]:
    """Two ports (API, cluster) free on every one of `hosts`."""
    ports: list[int] = []
    while len(ports) < 2:
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for host in hosts:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        if port not in ports:
            ports.append(port)
    return ports[0], ports[1]


@dataclass
class Decision:
    args: list[str]  # what the selector printed: the server's extra arguments
    log: str  # its stderr
    seconds: float


@dataclass
class Env:
    """What every pod shares: the PKI, the API stand-in, the token and the run's folder."""

    root: Path
    pki: Pki
    api: KubeApi
    token_file: Path
    active_selector: dict[str, str]  # the chart's openbao-active Service
    pod_labels: dict[str, str]  # the StatefulSet's pod template labels
    registration: bool  # servers run the Kubernetes service registration (see _wrapper)
    tools: Path  # the selector's PATH besides `bao` (see _tools)


class Pod:
    """Pod `ordinal` of a StatefulSet `release`: its volume (the server's data dir), its selector
    script, its server."""

    def __init__(self, env: Env, release: str, ordinal: int, ports: tuple[int, int], key: str,
                 *, replicas: int = REPLICAS, init_file: Path | None = None,
                 peer_wait: int = PEER_WAIT) -> None:
        self.env, self.release, self.ordinal = env, release, ordinal
        self.name = f"{release}-{ordinal}"
        self.host = f"127.1.{ordinal}.1"
        root = env.root / self.name
        self.server = BaoServer(root, init=False, replicas=replicas, key=key, host=self.host,
                                ports=ports, node_id=self.name)
        self.server.peer_addr_template = f"https://127.1.{{i}}.1:{ports[0]}"
        self.init_file = init_file or env.root / "init.hcl"
        self.script = root / "select-init.sh"
        self.server.data.mkdir(parents=True, exist_ok=True)  # the volume's mount point
        self.write_selector(peer_wait=peer_wait, replicas=replicas)
        if env.registration:
            self.server.kubernetes_registration = True
            self.server.wrapper = _wrapper(env)
            self.server.env = {"BAO_K8S_POD_NAME": self.name, "BAO_K8S_NAMESPACE": NAMESPACE,
                               "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                               "KUBERNETES_SERVICE_PORT": str(env.api.port)}

    def write_selector(self, *, peer_wait: int = PEER_WAIT, replicas: int = REPLICAS,
                       ca: Path | None = None, token: Path | None = None,
                       storage: Path | None = None) -> None:
        self.script.write_text(openbao.init_selector_script(
            release=self.release, replicas=replicas, init_file=str(self.init_file),
            peer_addr_template=self.server.peer_addr_template,
            storage_path=str(storage or self.server.data),
            timeout="2s", kubernetes_api=self.env.api.url,
            token_path=str(token or self.env.token_file), ca_path=str(ca or self.env.pki.ca),
            peer_ca_path=str(tls_dir() / openbao.TLS_CA_FILE),
            namespace=NAMESPACE, peer_wait=peer_wait, interval=1))

    def select(self, *, with_bao: bool = True, hostname: str | None = None) -> Decision:
        """The selector as the pod's start runs it."""
        tools = str(self.env.tools)
        path = f"{Path(BAO).parent}:{tools}" if with_bao else tools
        env = {"PATH": path, "HOSTNAME": hostname or self.name, "HOME": str(self.server.root)}
        started = time.monotonic()
        result = subprocess.run([str(self.env.tools / "sh"), str(self.script)], env=env,
                                capture_output=True, text=True, timeout=WAIT + PEER_WAIT,
                                check=True)
        return Decision(result.stdout.split(), result.stderr, time.monotonic() - started)

    def boot(self) -> Decision:
        """The pod's start: its claim exists (the controller creates it first), the selector
        runs, the server starts with what it printed."""
        self.env.api.add_claim(f"data-{self.name}")
        with self.env.api.lock:
            self.env.api.pods.setdefault(self.name, dict(self.env.pod_labels))
        decision = self.select()
        self.server.start(*decision.args)
        return decision

    def lose_volume(self) -> None:
        assert self.server.proc is None, "stop the pod first"
        shutil.rmtree(self.server.data)  # the claim stays: a new, empty volume under it
        self.server.data.mkdir()

    def health(self) -> dict[str, Any]:
        return self.server.health() or {}

    def gauge(self, name: str) -> str | None:
        """The highest value of a Prometheus gauge among its series on this node: a node that was
        a standby keeps its `cluster=""` series (0) for the retention time next to the one it
        sets as active."""
        try:
            with urllib.request.urlopen(f"{self.server.addr}/v1/sys/metrics?format=prometheus",
                                        context=client_context(),
                                        timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return None
        values = re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
        return max(values, key=float) if values else None


def _wrapper(env: Env) -> list[str]:
    """Run the server in its own mount namespace with the ServiceAccount files where OpenBao's
    Kubernetes client reads them (fixed paths, serviceregistration/kubernetes/client/config.go);
    the host's /var/run is untouched."""
    script = ('mount -t tmpfs tmpfs "$1" && mkdir -p "$1/$2" && cp "$3" "$1/$2/token" '
              '&& cp "$4" "$1/$2/ca.crt" && shift 4 && exec "$@"')
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
            str(VAR_RUN), str(SA_DIR), str(env.token_file), str(env.pki.ca)]


def _can_register() -> bool:
    """Whether this machine lets an unprivileged mount namespace hide /var/run (unshare)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            f"mount -t tmpfs tmpfs {VAR_RUN}"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


def _tools(root: Path) -> Path:
    """A folder of the commands the selector may use: BusyBox's applets when BusyBox is
    installed (the image's sh, grep, sed, sort, date...: OpenBao's image is Alpine), else this
    machine's sh (dash) and coreutils."""
    tools = root / "tools"
    tools.mkdir()
    busybox = shutil.which("busybox")
    if busybox:
        listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
        for applet in listed.stdout.split():
            (tools / applet).symlink_to(busybox)
    else:
        for name in ("sh", "cat", "date", "grep", "mkdir", "mv", "rm", "sed", "sleep", "sort",
                     "tr", "hostname"):
            found = shutil.which(name, path="/usr/bin:/bin")
            if found:
                (tools / name).symlink_to(found)
    return tools


def _kind(objects: list[Any], kind: str) -> list[dict[str, Any]]:
    return [o.body for o in objects if o.kind == kind and o.namespace == NAMESPACE]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The prod stack's rendered openbao objects, the PKI and the API stand-in."""
    root = tmp_path_factory.mktemp("openbao-split")
    objects = [o for o in rendered("prod").objects if o.namespace == NAMESPACE]
    (sts,) = [o for o in _kind(objects, "StatefulSet") if o["metadata"]["name"] == RELEASE]
    (active,) = [o for o in _kind(objects, "Service") if o["metadata"]["name"] == "openbao-active"]
    template = sts["spec"]["template"]
    pki = _pki(root)
    api = KubeApi(pki, _kind(objects, "Role"), _kind(objects, "RoleBinding"),
                  template["spec"]["serviceAccountName"])
    token_file = root / "token"
    token_file.write_text(next(iter(api.tokens)))
    (root / "init.hcl").write_text(_test_init_config())
    try:
        yield Env(root, pki, api, token_file, active["spec"]["selector"],
                  template["metadata"]["labels"], _can_register(), _tools(root))
    finally:
        api.close()


# --- the cluster's life ---------------------------------------------------------------------------

def _logs_in(pod: Pod) -> bool:
    """platform-admin's test login works: self-initialisation is done (its last requests)."""
    try:
        return pod.server.try_login("platform-admin") is not None
    except OSError:
        return False


def _kill(pod: Pod) -> None:
    """SIGKILL: no step-down, no label patch, nothing flushed beyond what raft already did."""
    assert pod.server.proc is not None
    pod.server.proc.kill()
    pod.server.proc.wait(timeout=10)
    pod.server.proc = None


def _members(pod: Pod) -> dict[str, bool]:
    """The raft configuration as the active node reports it: node id -> voter."""
    admin = pod.server.login("platform-admin")
    status, body = _api(pod.server.addr, "GET", "sys/storage/raft/configuration", admin)
    assert status == 200, body
    return {s["node_id"]: s["voter"] for s in body["data"]["config"]["servers"]}


def _actives(pods: list[Pod]) -> list[Pod]:
    return [p for p in pods if p.health().get("sealed") is False
            and p.health().get("standby") is False]


def _sole_active(pods: list[Pod]) -> Pod | None:
    actives = _actives(pods)
    return actives[0] if len(actives) == 1 else None


def _healthy(pods: list[Pod], cluster_id: str | None = None) -> str:
    """Every pod runs, unsealed, in one cluster (`cluster_id` if given) of exactly these pods,
    all voters, one of them active; returns the cluster id."""
    def settled() -> str | None:
        states = [p.health() for p in pods]
        ids = {s.get("cluster_id") for s in states}
        active = _sole_active(pods)
        if (any(s.get("sealed") is not False for s in states) or len(ids) != 1
                or (cluster_id and ids != {cluster_id}) or active is None):
            return None
        try:
            members = _members(active)
        except (OSError, AssertionError, KeyError):
            return None
        return str(ids.pop()) if members == {p.name: True for p in pods} else None
    assert all(p.server.proc is not None for p in pods)
    return str(_until(settled, "one cluster of these voters, one active"))


def _secret(pod: Pod, value: str | None = None) -> Any:
    """Write (value given) or read plate/data/stg/split through `pod`, as platform-admin (a
    standby forwards both; a node that has just joined may need a moment to know its leader)."""
    def attempt() -> Any:
        token = _logs_in(pod) and pod.server.try_login("platform-admin")
        if not token:
            return None
        if value is not None:
            status, _ = _api(pod.server.addr, "POST", "plate/data/stg/split", token,
                             {"data": {"v": value}})
            return value if status == 200 else None
        status, body = _api(pod.server.addr, "GET", "plate/data/stg/split", token)
        return body["data"]["data"]["v"] if status == 200 else None
    return _until(attempt, f"plate/data/stg/split answered through {pod.name}")


def _probe(pod: Pod, path: str) -> int | None:
    """What the kubelet's httpGet probe of `path` gets: the status (2xx-3xx = success), None when
    nothing answers. Scheme HTTPS, and like the kubelet it does not verify the certificate."""
    kubelet = ssl.create_default_context()
    kubelet.check_hostname, kubelet.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(pod.server.addr + path, timeout=5,
                                    context=kubelet) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


class Background:
    """`run(*args)` in a thread from module setup, so that the slow scenarios overlap (each is
    seconds of raft elections and self-initialisations); `result()` joins it and re-raises."""

    def __init__(self, run: Callable[..., Any], *args: Any) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(run, *args), daemon=True)
        self.thread.start()

    def _run(self, run: Callable[..., Any], *args: Any) -> None:
        try:
            self.value = run(*args)
        except BaseException as exc:  # pytest.fail raises a BaseException
            self.error = exc

    def result(self) -> Any:
        self.thread.join(timeout=180)
        assert not self.thread.is_alive(), "the background scenario did not end"
        if self.error is not None:
            raise self.error
        return self.value


@dataclass
class Cluster:
    pods: list[Pod]
    boots: list[Decision]  # the cold start's selector decisions, pod 0 first


def _cold_start(pods: list[Pod]) -> Cluster:
    """As OrderedReady runs it: pod 0 (its claim alone exists) until it is done initialising
    (ready), then pods 1 and 2."""
    boots = [pods[0].boot()]
    pods[0].server.wait_until(lambda: _logs_in(pods[0]), "done initialising")
    # autopilot makes a joined node a voter once it has been healthy this long (10 s by
    # default): shortened here, the membership is what the tests check
    admin = pods[0].server.login("platform-admin")
    assert _api(pods[0].server.addr, "POST", "sys/storage/raft/autopilot/configuration", admin,
                {"server_stabilization_time": "1s"})[0] == 204
    boots += [pod.boot() for pod in pods[1:]]
    _healthy(pods)
    return Cluster(pods, boots)


@dataclass
class Started:
    cluster: Background  # -> Cluster
    half_done: Background  # -> None (the scenario of test 6, its assertions included)
    member: BaoServer  # an initialised single server: the selector's "initialised peer"


@pytest.fixture(scope="module", autouse=True)
def started(env: Env) -> Iterator[Started]:
    """Every slow scenario, started at once."""
    ports = _common_ports([f"127.1.{i}.1" for i in range(REPLICAS)])
    key = secrets.token_hex(32)
    pods = [Pod(env, RELEASE, i, ports, key) for i in range(REPLICAS)]
    solo = Pod(env, "solo", 0, _common_ports(["127.1.0.1"]), secrets.token_hex(32), replicas=1,
               init_file=env.root / "solo-init.hcl")
    silent = _Silent()
    member = BaoServer(env.root / "member", host="127.1.1.1", ports=_common_ports(["127.1.1.1"]))
    member.start()
    runs = Started(Background(_cold_start, pods), Background(_half_done, env, solo, silent),
                   member)
    try:
        yield runs
    finally:
        for run in (runs.cluster, runs.half_done):
            run.thread.join(timeout=60)
        silent.close()
        _stop_all([p.server for p in pods] + [solo.server, member])


@pytest.fixture
def cluster(started: Started) -> Cluster:
    result: Cluster = started.cluster.result()
    return result


# --- a half-done self-initialisation -------------------------------------------------------------

class _Silent:
    """A TCP listener that accepts and never answers: the Kubernetes API a login request of the
    init file waits on (TLS handshake pending), until it is closed (then: connection refused)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.called = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.socket.accept()
                self.held.append(connection)
                self.called.set()

    def close(self) -> None:
        self.socket.close()
        for connection in self.held:
            connection.close()


def _jwt(namespace: str, account: str) -> str:
    """An (unsigned) ServiceAccount token; the Kubernetes auth method asks TokenReview."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return ".".join([part({"alg": "RS256", "typ": "JWT"}), part({
        "iss": "kubernetes/serviceaccount", "sub": f"system:serviceaccount:{namespace}:{account}",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": account,
        "kubernetes.io/serviceaccount/service-account.uid": "uid"}), "c2ln"])


def _init_config(last: str, kubernetes_port: int = 6443) -> str:
    """The test init file with `last` as the last request before the completion marker (which
    `init_config` always puts last)."""
    return openbao.init_config(
        environments=ENVIRONMENTS, kubernetes_host=f"https://127.0.0.1:{kubernetes_port}",
        extra_kubernetes_config={"kubernetes_ca_cert": TEST_CA, "disable_local_ca_jwt": "true"},
        extra_requests=_approle_requests(TEST_ROLES) + last, apps=("plate-web",))


# a Kubernetes login: it waits on TokenReview, after every other request (and OpenBao's own
# "started" marker) has been written
_LOGIN = ('  request "login-waiting-on-kubernetes" {\n    operation = "update"\n'
          '    path = "auth/kubernetes/login"\n    data = {\n      role = "eso-stg"\n'
          f'      jwt = "{_jwt("external-secrets", "eso-stg")}"\n    }}\n  }}\n')


_FAILING = ('  request "fails" {\n    operation = "update"\n    path = "sys/no-such-path"\n'
            '    data = {\n      v = "1"\n    }\n  }\n')


def _exits(pod: Pod, message: str) -> None:
    assert pod.server.proc is not None
    assert pod.server.proc.wait(timeout=WAIT) != 0, "the server kept running"
    pod.server.proc = None
    assert message in pod.server.log.read_text(errors="replace")


def _refuses_to_unseal(pod: Pod, env: Env) -> None:
    """OpenBao 2.6.2 on a half-done barrier: "refusing to unseal", then `runUnseal` shuts the
    core down and closes `sealShutdownCh`. `Run` closes the listeners and waits for its
    WaitGroup (command/server.go), which the Kubernetes service registration leaves only on
    `ShutdownCh`, a signal: without the registration the process exits, with it the process
    hangs, answering nothing - the program's liveness probe fails and the kubelet restarts it
    (SIGTERM)."""
    log = pod.server.log
    _until(lambda: "self-initialization failed: refusing to unseal" in log.read_text(
        errors="replace"), "refusing to unseal")
    assert pod.server.proc is not None
    if not env.registration:
        _exits(pod, "OpenBao core was shut down")
        return
    _until(lambda: "OpenBao core was shut down" in log.read_text(errors="replace"), "shut down")
    time.sleep(1)
    assert pod.server.proc.poll() is None  # still there
    assert _probe(pod, program.LIVENESS_PATH) is None  # the liveness probe fails
    pod.server.stop()  # the kubelet's restart


def _half_done(env: Env, solo: Pod, silent: _Silent) -> None:
    """Test 6's scenario (run in the background from module setup; its assertions included)."""
    data, init_file = solo.server.data, solo.init_file
    pending, failed = data / openbao.SELF_INIT_PENDING_FILE, data / openbao.SELF_INIT_FAILED_DIR
    init = [f"-config={init_file}"]
    init_file.write_text(_init_config(_LOGIN, silent.port))
    # killed half-way: the selector had written its pending mark, then printed the flag
    assert solo.boot().args == init
    _until(silent.called.is_set, "the self-initialisation waiting on its login")
    _kill(solo)
    assert pending.exists()
    # what OpenBao 2.6.2 makes of that storage: it will not unseal it, ever (the selector of
    # before saw a barrier and added nothing)
    for _ in range(2):
        solo.server.start()
        _refuses_to_unseal(solo, env)
    # the selector moves the storage aside and initialises again; this time a request of the
    # init file fails (a path that does not exist), the server exits: half-done again
    init_file.write_text(_init_config(_FAILING))
    again = solo.boot()
    assert again.args == init and "never completed" in again.log
    assert (failed / "vault.db").exists() and (failed / "raft").is_dir()
    _exits(solo, "failed to initialize")
    # the init file fixed (the ConfigMap), the next start completes it
    init_file.write_text(_test_init_config())
    fixed = solo.boot()
    assert fixed.args == init and "never completed" in fixed.log
    solo.server.wait_until(lambda: _logs_in(solo), "done initialising")
    cluster_id = solo.health()["cluster_id"]
    assert _secret(solo, "kept") == "kept"
    solo.server.stop()
    assert f"sys/policy/{openbao.SELF_INIT_DONE_POLICY}".encode() in (
        data / "vault.db").read_bytes()
    # from now on the selector sees a completed self-initialisation and leaves it alone
    for _ in range(2):
        later = solo.boot()
        assert later.args == [] and later.log == "" and not pending.exists()
        solo.server.wait_until(lambda: _logs_in(solo), "unsealed and answering")
        assert solo.health()["cluster_id"] == cluster_id and _secret(solo) == "kept"
        solo.server.stop()


# 1 ------------------------------------------------------------------------------------------------

def test_the_selector_initialises_only_where_no_volume_may_hold_a_cluster(
        env: Env, started: Started) -> None:
    """Release `sel`, 2 replicas: pod sel-0 (an empty volume) and one peer, sel-1, whose address
    is whatever server the case needs (port 1: nothing listens)."""
    probe = Pod(env, "sel", 0, _common_ports(["127.1.0.1"]), secrets.token_hex(32), replicas=2)
    pending = probe.server.data / openbao.SELF_INIT_PENDING_FILE
    init = [f"-config={probe.init_file}"]
    nobody = "https://127.1.{i}.1:1"
    fresh = BaoServer(env.root / "fresh", init=False, seal="shamir", host="127.1.1.1",
                      ports=_common_ports(["127.1.1.1"]))
    fresh_peer = f"https://127.1.{{i}}.1:{fresh.port}"

    def decide(peers: str = nobody, wait: int = 1, **selector: Any) -> Decision:
        probe.server.peer_addr_template = peers
        probe.write_selector(peer_wait=wait, replicas=2, **selector)
        decision = probe.select()
        if decision.args:  # written before the flag is printed
            assert pending.exists()
        pending.unlink(missing_ok=True)
        return decision

    env.api.add_claim("data-sel-0")
    try:
        # a barrier without the completion marker next to an old pending mark: not touched
        data = probe.server.data
        (data / "vault.db").write_bytes(b"core/seal-config")
        pending.touch()
        os.utime(pending, (time.time() - 2 * 3600,) * 2)
        old = decide()
        assert old.args == [] and "over 60 minutes old" in old.log
        assert (data / "vault.db").exists() and not (data / openbao.SELF_INIT_FAILED_DIR).exists()
        # no peer has a claim: a new cluster (claims of other StatefulSets do not count); a
        # recent pending mark: that storage is moved aside first
        pending.touch()
        first = decide()
        assert "never completed" in first.log and not (data / "vault.db").exists()
        assert (data / openbao.SELF_INIT_FAILED_DIR / "vault.db").exists()
        assert first.args == init and "no peer has a PersistentVolumeClaim" in first.log
        assert first.seconds < 5
        assert probe.select(hostname="sel-1").args == []  # only ordinal 0 decides
        assert probe.select(with_bao=False).args == []  # no CLI: no decision, no init
        env.api.add_claim("data-sel-1")
        # the peer with a claim answers initialised (a member of the cluster): join, at once
        member = started.member
        member.wait_active()
        joined = decide(f"https://127.1.{{i}}.1:{member.port}", wait=20)
        assert joined.args == [] and "answers initialised" in joined.log and joined.seconds < 5
        # a barrier of its own (the member's storage): never, and without asking anyone
        asked = len(env.api.requests)
        own = decide(storage=member.data, wait=20)
        assert own.args == [] and own.log == "" and _claim_lists(env, asked) == []
        # it is silent (down): not after the bounded wait either
        silent = decide(wait=PEER_WAIT)
        assert silent.args == [] and "include silent ones: 1" in silent.log
        assert PEER_WAIT <= silent.seconds < PEER_WAIT + 5
        # it comes up during the wait, uninitialised: nothing anywhere, initialise
        threading.Timer(1.0, fresh.start).start()
        late = decide(fresh_peer, wait=20)
        assert late.args == init and "answers uninitialised" in late.log and late.seconds < 15
        # a claim beyond the StatefulSet's peers (a pod scaled away): silent, so not
        env.api.add_claim("data-sel-4")
        stale = decide(fresh_peer)
        assert stale.args == [] and "include silent ones: 4" in stale.log
        env.api.remove_claim("data-sel-4")
        assert decide(fresh_peer).args == init
    finally:
        fresh.stop()
        for i in (0, 1):
            env.api.remove_claim(f"data-sel-{i}")


def _claim_lists(env: Env, since: int) -> list[int]:
    """The status codes of the claim lists the stand-in answered since request `since` (the
    servers' own requests, their pods' labels, come in between)."""
    with env.api.lock:
        return [code for method, path, code in env.api.requests[since:]
                if path == f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims"]


def test_the_selector_initialises_nothing_when_it_cannot_read_the_claims(
        env: Env, tmp_path: Path) -> None:
    probe = Pod(env, "sel", 0, _common_ports(["127.1.0.1"]), secrets.token_hex(32), replicas=2)
    env.api.add_claim("data-sel-0")
    wrong_token = tmp_path / "token"
    wrong_token.write_text("a-token-the-api-does-not-know")
    bindings = env.api.bindings
    try:
        for why, selector in (("Code: 401", {"token": wrong_token}),
                              ("certificate signed by unknown authority",
                               {"ca": env.pki.other_ca})):
            probe.write_selector(peer_wait=0, replicas=2, **selector)
            decision = probe.select()
            assert decision.args == [] and why in decision.log, decision.log
            assert "cannot list the PersistentVolumeClaims" in decision.log
        # without the program's Role and RoleBinding the server's account may not list claims
        env.api.bindings = [b for b in bindings
                            if b["metadata"]["name"] != program.CLAIMS_READER]
        probe.write_selector(peer_wait=0, replicas=2)
        asked = len(env.api.requests)
        refused = probe.select()
        assert refused.args == [] and "Code: 403" in refused.log
        assert set(_claim_lists(env, asked)) == {403}
        # RBAC that arrives during the wait (the Role created after the pod started) is used
        threading.Timer(1.5, setattr, (env.api, "bindings", bindings)).start()
        probe.write_selector(peer_wait=20, replicas=2)
        asked = len(env.api.requests)
        late = probe.select()
        assert late.args == [f"-config={probe.init_file}"], late.log
        answers = _claim_lists(env, asked)
        assert answers[-1] == 200 and set(answers[:-1]) == {403} and late.seconds < 10
    finally:
        env.api.bindings = bindings
        env.api.remove_claim("data-sel-0")


# 2 ------------------------------------------------------------------------------------------------

def test_a_cold_start_makes_one_cluster_of_three(cluster: Cluster) -> None:
    pods = cluster.pods
    first, *others = cluster.boots
    assert first.args == [f"-config={pods[0].init_file}"]
    assert "no peer has a PersistentVolumeClaim (a new cluster)" in first.log
    assert [d.args for d in others] == [[], []]  # the peers never initialise
    cluster_id = _healthy(pods)
    active = _sole_active(pods)
    assert active is not None
    assert _members(active) == {"openbao-0": True, "openbao-1": True, "openbao-2": True}
    assert _secret(pods[2], "cold") == "cold"
    assert {_secret(p) for p in pods} == {"cold"}
    assert {p.health()["cluster_id"] for p in pods} == {cluster_id}


# 3 ------------------------------------------------------------------------------------------------

def _leaders(pods: list[Pod]) -> dict[str, tuple[bool, str]]:
    """sys/leader on every pod: (is_self, leader_address); `is_self` is left out when false."""
    out = {}
    for pod in pods:
        body = _api(pod.server.addr, "GET", "sys/leader")[1]
        out[pod.name] = (body.get("is_self", False), body.get("leader_address", ""))
    return out


def test_a_leaders_death_makes_a_standby_active_and_the_active_service_follows(
        env: Env, cluster: Cluster) -> None:
    pods = cluster.pods
    cluster_id = _healthy(pods)
    leader = _sole_active(pods)
    assert leader is not None
    if env.registration:
        _until(lambda: env.api.selected(env.active_selector) == [leader.name],
               "the active Service selecting the leader")
    _kill(leader)
    rest = [p for p in pods if p is not leader]
    new = _until(lambda: _sole_active(rest), "a standby active")
    assert new.health()["cluster_id"] == cluster_id
    expected = {p.name: (p is new, new.server.addr) for p in rest}
    _until(lambda: _leaders(rest) == expected, "every live node naming the new leader",
           show=lambda: _leaders(rest))
    _until(lambda: [p.gauge("vault_core_active") for p in rest]
           == [("1" if p is new else "0") for p in rest], "the active gauges",
           show=lambda: [p.gauge("vault_core_active") for p in rest])
    if env.registration:
        # the new leader labels itself; nothing unlabels the killed pod (SIGKILL), so until its
        # container restarts the Service selects both (the dead one refuses connections)
        _until(lambda: new.name in env.api.selected(env.active_selector), "the label moving")
        assert env.api.selected(env.active_selector) == sorted([leader.name, new.name])
    assert leader.boot().args == []  # it restarts: its own barrier, never an init
    _healthy(pods, cluster_id)
    assert _sole_active(pods) is new
    if env.registration:
        _until(lambda: env.api.selected(env.active_selector) == [new.name],
               "the restarted pod's registration resetting its label")
        assert env.api.pods[leader.name]["openbao-active"] == "false"
    assert {_secret(p) for p in pods} == {"cold"}


def test_the_servers_label_their_pods_for_the_active_service(env: Env, cluster: Cluster) -> None:
    """The labels test 3 follows come from OpenBao's own Kubernetes service registration (it
    reads the ServiceAccount files at fixed paths: `unshare` gives each server its own)."""
    if not env.registration:
        pytest.skip("no unprivileged mount namespace here (unshare): the servers run without "
                    "the Kubernetes service registration, test 3 checks no labels")
    _healthy(cluster.pods)
    active = _sole_active(cluster.pods)
    assert active is not None
    _until(lambda: env.api.selected(env.active_selector) == [active.name], "one active label")
    for pod in cluster.pods:
        labels = env.api.pods[pod.name]
        assert labels["openbao-initialized"] == "true" and labels["openbao-sealed"] == "false"
        assert labels["openbao-active"] == str(pod is active).lower()
        assert {k: labels[k] for k in env.pod_labels} == env.pod_labels


# 4 ------------------------------------------------------------------------------------------------

def test_pod_0_rejoins_when_its_volume_is_lost_while_the_peers_run(cluster: Cluster) -> None:
    pods = cluster.pods
    cluster_id = _healthy(pods)
    assert _secret(pods[1], "before pod 0 lost its volume")
    pod0 = pods[0]
    pod0.server.stop()
    pod0.lose_volume()
    decision = pod0.boot()
    assert decision.args == [] and "answers initialised" in decision.log
    assert decision.seconds < PEER_WAIT
    assert _healthy(pods, cluster_id) == cluster_id  # the same three members, no fourth
    assert _secret(pod0) == "before pod 0 lost its volume"


# 5 ------------------------------------------------------------------------------------------------

def test_pod_0_waits_and_joins_when_its_volume_is_lost_while_the_peers_are_down(
        env: Env, cluster: Cluster) -> None:
    pods = cluster.pods
    cluster_id = _healthy(pods)
    assert _secret(pods[2], "before the outage")
    (sts,) = [o.body for o in rendered("prod").objects
              if o.kind == "StatefulSet" and o.name == RELEASE]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == program.READINESS_PATH
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    _stop_all([p.server for p in pods])
    pod0 = pods[0]
    pod0.lose_volume()
    decision = pod0.boot()
    assert decision.args == [], decision.log
    assert "include silent ones: 1 2" in decision.log
    assert PEER_WAIT <= decision.seconds < PEER_WAIT + 10
    pod0.server.wait_until(lambda: pod0.health().get("initialized") is False, "answering")
    # ready while uninitialised, so OrderedReady goes on to pod 1; live, so never restarted
    assert _probe(pod0, program.READINESS_PATH) == 204
    assert _probe(pod0, program.LIVENESS_PATH) == 204
    time.sleep(1)
    assert pod0.health()["initialized"] is False  # it started no cluster of its own
    for pod in pods[1:]:
        assert pod.boot().args == []
    assert _healthy(pods, cluster_id) == cluster_id
    assert {_secret(p) for p in pods} == {"before the outage"}
    assert {_probe(p, program.READINESS_PATH) for p in pods} == {200}
    assert {_probe(p, program.LIVENESS_PATH) for p in pods} == {200}


# 6 ------------------------------------------------------------------------------------------------

def test_a_self_initialisation_that_never_completed_is_redone_on_the_next_start(
        started: Started) -> None:
    """A pod of its own StatefulSet (`solo`, 1 replica): see `_half_done`, run from setup."""
    started.half_done.result()
