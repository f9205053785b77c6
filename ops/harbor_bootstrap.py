"""Harbor bootstrap Job: a private project, robot accounts, and their credentials in OpenBao.

    python harbor_bootstrap.py        (in a Kubernetes Job, after Harbor and OpenBao are up)

Standard library only: the Job runs this one file in a plain Python image. It talks to Harbor's
core service over plain HTTP inside the cluster and writes the robots' credentials straight into
OpenBao, so no credential passes through Pulumi state or logs. Idempotent; each run:

  1. logs in to OpenBao (Kubernetes auth: POST /v1/auth/<BAO_AUTH_PATH>/login with the role and
     the pod's ServiceAccount token) unless BAO_TOKEN is set, in which case the token is checked;
  2. checks the Harbor admin login, then ensures the Harbor project `plate` exists and is private
     (created private if absent, made private if it is public);
  3. ensures the project-level robots: `plate-<env>-pull` per environment (pull) and
     `plate-ci-push` (push and pull), looked up by name before anything is created;
  4. for each robot that was just created, whose OpenBao entry is missing or outdated, whose stored
     password Harbor no longer accepts, or when ROTATE is true: sets a new random secret
     (PATCH /api/v2.0/robots/{id}) and writes the kv-v2 entry `plate/<env>/harbor-pull` or
     `platform/harbor/ci-push` with the fields registry, username, password, dockerconfigjson.
     Otherwise nothing changes: a rerun makes no Harbor change and no new OpenBao version.

It logs one line per action and never prints a secret. Exit status 0 on success; 1 with one line
on standard error otherwise. Connection errors and 5xx answers (Harbor or OpenBao still starting,
OpenBao sealed) are retried with backoff for up to RETRY_SECONDS.

Environment variables:
  HARBOR_URL       Harbor core, e.g. http://harbor-core.harbor.svc (required)
  HARBOR_USERNAME  Harbor admin user (default: admin)
  HARBOR_PASSWORD  its password (required)
  BAO_ADDR         OpenBao, e.g. http://openbao.openbao.svc:8200 (required)
  BAO_ROLE         Kubernetes auth role to log in with (default: harbor-bootstrap)
  BAO_AUTH_PATH    mount path of the Kubernetes auth method (default: kubernetes)
  SA_TOKEN_FILE    the ServiceAccount token presented to OpenBao
                   (default: /var/run/secrets/kubernetes.io/serviceaccount/token)
  BAO_TOKEN        an OpenBao token used instead of the Kubernetes login (tests use it)
  ENVIRONMENTS     comma-separated environments that get a pull robot, e.g. `stg` or `stg,prod`
  REGISTRY         the registry host clients pull from, e.g. harbor.stg.plate.dev (required)
  ROTATE           `true` to give both kinds of robot new secrets on purpose (default: false)
  RETRY_SECONDS    how long to keep retrying an unreachable or failing service (default: 600)

Proxy variables are ignored: both services are addressed inside the cluster.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The agreed names of components/names.py, repeated here because the Job runs this file
# alone; tests/operations/test_harbor_bootstrap.py fails if the two drift apart.
APPS_MOUNT = "plate"
PLATFORM_MOUNT = "platform"
HARBOR_PROJECT = "plate"
CI_PUSH_PATH = "harbor/ci-push"
PULL_SECRET_NAME = "harbor-pull"
ROBOT_FIELDS = ("registry", "username", "password", "dockerconfigjson")

CI_PUSH_ROBOT = "plate-ci-push"
API = "/api/v2.0"
PAGE_SIZE = 100  # Harbor's largest page
REGISTRY_SERVICE = "harbor-registry"  # the `service` of Harbor's registry token endpoint
FIRST_RETRY_DELAY = 0.2
MAX_RETRY_DELAY = 15.0
REQUEST_TIMEOUT = 30.0
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?$")

Log = Callable[[str], None]


class BootstrapError(Exception):
    """A failure, reported as one line; the exit status is 1."""


def pull_secret_path(environment: str) -> str:
    return f"{environment}/{PULL_SECRET_NAME}"


@dataclass(frozen=True)
class Settings:
    harbor_url: str
    harbor_username: str
    harbor_password: str = field(repr=False)
    bao_addr: str
    bao_role: str
    bao_auth_path: str
    sa_token_file: str
    bao_token: str | None = field(repr=False)
    environments: tuple[str, ...]
    registry: str
    rotate: bool
    retry_seconds: float


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise BootstrapError(f"configuration: {name} is not set")
    return value


def _url(env: Mapping[str, str], name: str) -> str:
    value = _required(env, name).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise BootstrapError(f"configuration: {name} must be an http:// or https:// URL")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise BootstrapError(f"configuration: {name} must be true or false")


def _environments(env: Mapping[str, str]) -> tuple[str, ...]:
    names = [part.strip() for part in _required(env, "ENVIRONMENTS").split(",") if part.strip()]
    for name in names:
        if not _LABEL.match(name):
            raise BootstrapError(f"configuration: ENVIRONMENTS entry {name!r} is not a DNS label")
    if not names:
        raise BootstrapError("configuration: ENVIRONMENTS names no environment")
    return tuple(dict.fromkeys(names))


def _retry_seconds(env: Mapping[str, str]) -> float:
    try:
        value = float(env.get("RETRY_SECONDS", "600"))
    except ValueError:
        raise BootstrapError("configuration: RETRY_SECONDS must be a number") from None
    if value < 0:
        raise BootstrapError("configuration: RETRY_SECONDS must not be negative")
    return value


def load_settings(env: Mapping[str, str]) -> Settings:
    """The settings of a run, from the environment variables listed in the module docstring."""
    registry = _required(env, "REGISTRY")
    if not _HOST.match(registry):
        raise BootstrapError("configuration: REGISTRY must be a host name, e.g. harbor.example")
    auth_path = env.get("BAO_AUTH_PATH", "").strip().strip("/") or "kubernetes"
    return Settings(
        harbor_url=_url(env, "HARBOR_URL"),
        harbor_username=env.get("HARBOR_USERNAME", "").strip() or "admin",
        harbor_password=_required(env, "HARBOR_PASSWORD"),
        bao_addr=_url(env, "BAO_ADDR"),
        bao_role=env.get("BAO_ROLE", "").strip() or "harbor-bootstrap",
        bao_auth_path=auth_path,
        sa_token_file=env.get("SA_TOKEN_FILE", "").strip()
        or "/var/run/secrets/kubernetes.io/serviceaccount/token",
        bao_token=env.get("BAO_TOKEN", "").strip() or None,
        environments=_environments(env),
        registry=registry,
        rotate=_flag(env, "ROTATE"),
        retry_seconds=_retry_seconds(env),
    )


@dataclass(frozen=True)
class Response:
    status: int
    body: Any


class _Unreachable(Exception):
    """No HTTP answer at all (refused, reset, timed out)."""


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _error_detail(raw: bytes) -> str:
    """The error message of a Harbor (`errors[].message`) or OpenBao (`errors[]`) error body."""
    try:
        errors = json.loads(raw).get("errors") or []
        messages = [e.get("message", "") if isinstance(e, dict) else str(e) for e in errors]
    except (ValueError, AttributeError):
        return ""
    return "; ".join(m for m in messages if m)[:200]


class Client:
    """A tiny JSON-over-HTTP client for one service, with bounded retries.

    Connection errors and 5xx answers are retried with exponential backoff until `retry_seconds`
    have passed; any other status outside `expect` is an error naming the service, the call and
    the status (plus the service's error message unless the call is `sensitive`).
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        retry_seconds: float,
        log: Log,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url
        self.retry_seconds = retry_seconds
        self.log = log
        self.headers = dict(headers or {})
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _send(self, request: urllib.request.Request) -> tuple[int, bytes]:
        try:
            with self._opener.open(request, timeout=REQUEST_TIMEOUT) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except urllib.error.URLError as exc:
            raise _Unreachable(str(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from None

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        expect: Iterable[int] = (200,),
        auth: str | None = None,
        sensitive: bool = False,
    ) -> Response:
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Accept": "application/json", **self.headers}
        if auth is not None:
            headers["Authorization"] = auth
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        what = f"{self.service} {method} {path}"
        deadline = time.monotonic() + self.retry_seconds
        delay = FIRST_RETRY_DELAY
        while True:
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                status, raw = self._send(request)
                problem = f"HTTP {status}"
            except _Unreachable as exc:
                status, raw, problem = 0, b"", str(exc)
            if 0 < status < 500:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BootstrapError(
                    f"{what}: {problem} (still failing after {self.retry_seconds:g} s of retries)"
                )
            wait = min(delay, remaining)
            self.log(f"{what}: {problem}; retrying in {wait:.1f} s")
            time.sleep(wait)
            delay = min(delay * 2, MAX_RETRY_DELAY)
        if status not in tuple(expect):
            detail = "" if sensitive else _error_detail(raw)
            raise BootstrapError(f"{what}: HTTP {status}" + (f": {detail}" if detail else ""))
        try:
            return Response(status, json.loads(raw) if raw.strip() else None)
        except ValueError:
            raise BootstrapError(f"{what}: HTTP {status} with a body that is not JSON") from None


# ---- OpenBao ----------------------------------------------------------------------------------


def openbao_client(settings: Settings, log: Log) -> Client:
    """A client holding an OpenBao token: BAO_TOKEN (checked), or one from the Kubernetes login."""
    bao = Client("OpenBao", settings.bao_addr, settings.retry_seconds, log)
    if settings.bao_token is not None:
        bao.headers["X-Vault-Token"] = settings.bao_token
        bao.call("GET", "/v1/auth/token/lookup-self")
        log("openbao: using the token from BAO_TOKEN")
        return bao
    try:
        with open(settings.sa_token_file, encoding="utf-8") as handle:
            jwt = handle.read().strip()
    except OSError as exc:
        raise BootstrapError(
            f"OpenBao login: cannot read the ServiceAccount token {settings.sa_token_file}: "
            f"{exc.strerror}"
        ) from None
    login = bao.call(
        "POST",
        f"/v1/auth/{settings.bao_auth_path}/login",
        body={"role": settings.bao_role, "jwt": jwt},
    )
    token = ((login.body or {}).get("auth") or {}).get("client_token")
    if not token:
        raise BootstrapError("OpenBao login: the answer holds no client token")
    bao.headers["X-Vault-Token"] = token
    log(f"openbao: logged in with role {settings.bao_role} at auth/{settings.bao_auth_path}")
    return bao


def read_entry(bao: Client, mount: str, path: str) -> dict[str, Any] | None:
    """The current data of a kv-v2 entry; None when it is absent or its latest version deleted."""
    answer = bao.call("GET", f"/v1/{mount}/data/{path}", expect=(200, 404))
    if answer.status == 404:
        return None
    data = ((answer.body or {}).get("data") or {}).get("data")
    return data if isinstance(data, dict) else None


def write_entry(bao: Client, mount: str, path: str, data: Mapping[str, str]) -> None:
    bao.call(
        "POST", f"/v1/{mount}/data/{path}", body={"data": dict(data)}, expect=(200, 204),
        sensitive=True,
    )


# ---- Harbor -----------------------------------------------------------------------------------


def harbor_client(settings: Settings, log: Log) -> Client:
    """A Harbor client with the admin's basic auth, after checking that Harbor accepts it."""
    auth = _basic(settings.harbor_username, settings.harbor_password)
    harbor = Client("Harbor", settings.harbor_url, settings.retry_seconds, log, {
        "Authorization": auth,
    })
    # An unknown or wrong login is treated as anonymous by most of Harbor's API (listing then
    # shows public projects only), so check it where anonymous gets a 401.
    answer = harbor.call("GET", f"{API}/users/current", expect=(200, 401))
    if answer.status == 401:
        raise BootstrapError(
            f"Harbor GET {API}/users/current: HTTP 401: Harbor refused the login of "
            f"{settings.harbor_username!r} (HARBOR_USERNAME/HARBOR_PASSWORD)"
        )
    return harbor


def list_all(harbor: Client, path: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every item of a paginated Harbor list."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = harbor.call(
            "GET", path, query={**query, "page": str(page), "page_size": str(PAGE_SIZE)}
        )
        batch = answer.body or []
        items.extend(batch)
        if len(batch) < PAGE_SIZE:
            return items
        page += 1


def find_project(harbor: Client) -> dict[str, Any] | None:
    # `name` is a fuzzy match in Harbor's project list: keep the exact one
    found = list_all(harbor, f"{API}/projects", {"name": HARBOR_PROJECT, "with_detail": "true"})
    return next((p for p in found if p.get("name") == HARBOR_PROJECT), None)


def is_public(project: Mapping[str, Any]) -> bool:
    return str((project.get("metadata") or {}).get("public", "false")).lower() == "true"


def ensure_project(harbor: Client, log: Log) -> int:
    """The id of the private project HARBOR_PROJECT, created or made private as needed."""
    project = find_project(harbor)
    if project is None:
        harbor.call(
            "POST", f"{API}/projects",
            body={"project_name": HARBOR_PROJECT, "metadata": {"public": "false"}},
            expect=(201, 409),  # 409: a retried creation that had gone through
        )
        project = find_project(harbor)
        if project is None:
            raise BootstrapError(f"Harbor: project {HARBOR_PROJECT} is missing after creation")
        log(f"project {HARBOR_PROJECT}: created, private")
    elif is_public(project):
        harbor.call(
            "PUT", f"{API}/projects/{project['project_id']}",
            body={"metadata": {"public": "false"}},
        )
        log(f"project {HARBOR_PROJECT}: existed public, made private")
    else:
        log(f"project {HARBOR_PROJECT}: exists, private")
    return int(project["project_id"])


@dataclass(frozen=True)
class RobotSpec:
    """A robot account and where its credentials live in OpenBao."""

    name: str
    actions: tuple[str, ...]
    mount: str
    path: str
    description: str


def robot_specs(environments: Iterable[str]) -> list[RobotSpec]:
    specs = [
        RobotSpec(
            name=f"{HARBOR_PROJECT}-{env}-pull",
            actions=("pull",),
            mount=APPS_MOUNT,
            path=pull_secret_path(env),
            description=f"pulls {HARBOR_PROJECT} images for {env} (ops/harbor_bootstrap.py)",
        )
        for env in environments
    ]
    specs.append(RobotSpec(
        name=CI_PUSH_ROBOT,
        actions=("push", "pull"),
        mount=PLATFORM_MOUNT,
        path=CI_PUSH_PATH,
        description=f"CI pushes {HARBOR_PROJECT} images (ops/harbor_bootstrap.py)",
    ))
    return specs


def list_robots(harbor: Client, project_id: int) -> list[dict[str, Any]]:
    return list_all(harbor, f"{API}/robots", {"q": f"Level=project,ProjectID={project_id}"})


def find_robot(robots: Iterable[Mapping[str, Any]], spec: RobotSpec) -> dict[str, Any] | None:
    # Harbor names a project robot `<prefix><project>+<name>` (prefix `robot$` unless configured)
    suffix = f"{HARBOR_PROJECT}+{spec.name}"
    return next((dict(r) for r in robots if str(r.get("name", "")).endswith(suffix)), None)


def create_robot(harbor: Client, project_id: int, spec: RobotSpec) -> dict[str, Any]:
    """Create the project robot; Harbor's generated secret in the answer is discarded."""
    body = {
        "name": spec.name,
        "description": spec.description,
        "level": "project",
        "duration": -1,
        "disable": False,
        "permissions": [{
            "kind": "project",
            "namespace": HARBOR_PROJECT,
            "access": [{"resource": "repository", "action": a} for a in spec.actions],
        }],
    }
    harbor.call("POST", f"{API}/robots", body=body, expect=(201, 409), sensitive=True)
    robot = find_robot(list_robots(harbor, project_id), spec)
    if robot is None:
        raise BootstrapError(f"Harbor: robot {spec.name} is missing after creation")
    return robot


def credentials_work(harbor: Client, username: str, password: str) -> bool:
    """Whether Harbor accepts the robot's login (its registry token endpoint, as `docker login`)."""
    answer = harbor.call(
        "GET", "/service/token", query={"service": REGISTRY_SERVICE},
        auth=_basic(username, password), expect=(200, 401), sensitive=True,
    )
    return answer.status == 200


def new_secret() -> str:
    """A random robot secret meeting Harbor's rules: 8-128 characters with an upper-case letter,
    a lower-case letter and a digit."""
    for _ in range(1000):  # a miss is rare: 43 random characters almost always have all three
        candidate = secrets.token_urlsafe(32)  # 43 characters
        if (
            any(c.isupper() for c in candidate)
            and any(c.islower() for c in candidate)
            and any(c.isdigit() for c in candidate)
        ):
            return candidate
    raise BootstrapError("could not generate a robot secret meeting Harbor's rules")


def docker_config_json(registry: str, username: str, password: str) -> str:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = {"auths": {registry: {"username": username, "password": password, "auth": auth}}}
    return json.dumps(config, separators=(",", ":"))


def robot_entry(registry: str, username: str, password: str) -> dict[str, str]:
    return {
        "registry": registry,
        "username": username,
        "password": password,
        "dockerconfigjson": docker_config_json(registry, username, password),
    }


def reason_to_reset(
    harbor: Client, entry: Mapping[str, Any] | None, username: str, registry: str
) -> str | None:
    """Why an existing robot's stored credentials must be renewed; None when they are good."""
    if entry is None:
        return "OpenBao entry missing"
    password = entry.get("password")
    if set(entry) != set(ROBOT_FIELDS) or not isinstance(password, str):
        return "OpenBao entry incomplete"
    if dict(entry) != robot_entry(registry, username, password):  # other registry or user
        return "OpenBao entry outdated"
    if not credentials_work(harbor, username, password):
        return "stored password refused by Harbor"
    return None


def sync_robot(
    harbor: Client, bao: Client, settings: Settings, project_id: int,
    robots: list[dict[str, Any]], spec: RobotSpec, log: Log,
) -> None:
    """Ensure one robot exists and OpenBao holds a password Harbor accepts for it."""
    where = f"{spec.mount}/{spec.path}"
    robot = find_robot(robots, spec)
    if robot is None:
        robot = create_robot(harbor, project_id, spec)
        reason: str | None = "created"
    elif robot.get("disable"):
        raise BootstrapError(
            f"Harbor: robot {spec.name} is disabled; enable it, or delete it to have it recreated"
        )
    elif settings.rotate:
        reason = "rotated"
    else:
        entry = read_entry(bao, spec.mount, spec.path)
        reason = reason_to_reset(harbor, entry, str(robot["name"]), settings.registry)
    if reason is None:
        log(f"robot {spec.name}: unchanged, secret at {where}")
        return
    secret = new_secret()
    harbor.call(
        "PATCH", f"{API}/robots/{robot['id']}", body={"secret": secret}, sensitive=True,
    )
    try:
        write_entry(bao, spec.mount, spec.path, robot_entry(settings.registry, robot["name"],
                                                            secret))
    except BootstrapError as exc:
        raise BootstrapError(
            f"{exc} (robot {spec.name} already has its new secret; a rerun sets another)"
        ) from None
    log(f"robot {spec.name}: {reason}, secret stored at {where}")


def run(settings: Settings, log: Log) -> None:
    bao = openbao_client(settings, log)
    harbor = harbor_client(settings, log)
    project_id = ensure_project(harbor, log)
    robots = list_robots(harbor, project_id)
    for spec in robot_specs(settings.environments):
        sync_robot(harbor, bao, settings, project_id, robots, spec, log)


def _print(line: str) -> None:
    print(line, flush=True)


def main(env: Mapping[str, str] | None = None, log: Log = _print) -> int:
    """Run the bootstrap with `env` (default: the process environment); the exit status."""
    try:
        run(load_settings(os.environ if env is None else env), log)
    except BootstrapError as exc:
        print(f"harbor-bootstrap: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # one line, not a traceback, whatever went wrong
        print(f"harbor-bootstrap: error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr,
              flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
