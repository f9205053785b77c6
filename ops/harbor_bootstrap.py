"""Harbor bootstrap Job: a private project, robot accounts, and their credentials in OpenBao.

    python harbor_bootstrap.py        (in a Kubernetes Job or CronJob, after Harbor and OpenBao)

Standard library only: the Job runs this one file in a plain Python image. It talks to Harbor's
core service over plain HTTP inside the cluster and writes the robots' credentials straight into
OpenBao, so no credential passes through Pulumi state or logs. Idempotent; each run:

  1. logs in to OpenBao (Kubernetes auth: POST /v1/auth/<BAO_AUTH_PATH>/login with the role and
     the pod's ServiceAccount token) unless BAO_TOKEN is set, in which case the token is checked;
  2. checks the Harbor admin login, then ensures the Harbor project `plate` exists and is private
     (created private if absent, made private if it is public);
  2b. with OIDC_ENDPOINT: signs people in through the organisation's OIDC provider: writes the
     OIDC settings (auth_mode oidc_auth, endpoint, client, scopes, claims, admin group) with
     PUT /configurations on every run (the client secret cannot be read back to compare, and a
     rotated one must arrive), then makes each group of OIDC_PROJECT_GROUPS a member of the
     project with its role (created, or its role corrected; other members are left alone);
  3. ensures one enabled immutable-tag rule on the project per IMMUTABLE_TAGS pattern (every
     repository, tags matching the pattern): created if absent, enabled if disabled;
  4. keeps one robot family per credential: `plate-<env>-pull` per environment (pull) and
     `plate-ci-push` (push, pull, and artifact read for `ops.pin_digests`; expiring after
     PUSH_ROBOT_DAYS). A family's members are
     `<name>` and `<name>-<n>` (n = 2, 3, ...); the current one is the robot the OpenBao entry
     (`plate/<env>/harbor-pull`, `platform/harbor/ci-push`; fields registry, username, password,
     dockerconfigjson) names. The current robot stays as long as the entry is complete and
     up to date, its permissions are the family's (a robot made before a permission was added is
     replaced), Harbor accepts its password, and (push) it expires in more than PUSH_RENEW_DAYS.
     Otherwise, or when ROTATE asks for it, the run never changes a secret in place: it creates
     the next member with a new random secret (POST /robots, then PATCH /robots/{id}) and writes
     the entry, so the previous robot keeps working meanwhile;
  5. retires the other members of a family, only once nothing can still be using them:
       pull: after the Secret `harbor-pull` in `plate-<env>` (synced from the entry by External
       Secrets) has carried the current robot's credentials on two polls in a row, or does not
       exist; waiting at most SYNC_TIMEOUT seconds, after which the run fails and keeps them (the
       next run retries);
       push: once expired, or once the current robot is PUSH_OVERLAP_SECONDS old (CI jobs that
       read the previous entry finish with it; the daily CronJob deletes it the next night).
  Without a reason, nothing changes: a rerun makes no Harbor change and no new OpenBao version.

ROTATE=push is the daily CronJob's run: only the push robot (renewed when due) and the OIDC
settings, nothing else.

It logs one line per action and never prints a secret. Exit status 0 on success; 1 with one line
on standard error otherwise. Connection errors and 5xx answers (Harbor or OpenBao still starting,
OpenBao sealed) are retried with backoff for up to RETRY_SECONDS.

Environment variables:
  HARBOR_URL       Harbor core, e.g. http://harbor-core.harbor.svc (required)
  HARBOR_USERNAME  Harbor admin user (default: admin)
  HARBOR_PASSWORD  its password (required)
  BAO_ADDR         OpenBao, e.g. https://openbao-active.openbao.svc:8200 (required)
  BAO_CACERT       CA bundle (PEM file) that verifies an https BAO_ADDR (default: the system's)
  BAO_ROLE         Kubernetes auth role to log in with (default: harbor-bootstrap)
  BAO_AUTH_PATH    mount path of the Kubernetes auth method (default: kubernetes)
  SA_TOKEN_FILE    the ServiceAccount token presented to OpenBao and to the Kubernetes API
                   (default: /var/run/secrets/kubernetes.io/serviceaccount/token)
  BAO_TOKEN        an OpenBao token used instead of the Kubernetes login (tests use it)
  ENVIRONMENTS     comma-separated environments that get a pull robot, e.g. `stg` or `stg,prod`
  REGISTRY         the registry host clients pull from, e.g. harbor.stg.plate.dev (required)
  ROTATE           `true`: new robots for every family now; `push`: the push robot only, renewed
                   when due (the CronJob); `false` (default): renew only what needs it
  PUSH_ROBOT_DAYS  lifetime of a new push robot in days (default: 30)
  PUSH_RENEW_DAYS  renew the push robot when it expires within this many days (default: 10)
  IMMUTABLE_TAGS   JSON list of Harbor doublestar tag patterns made immutable in the project
                   (default: the release tags X.Y.Z, DEFAULT_IMMUTABLE_TAGS; `[]` for none)
  SYNC_TIMEOUT     seconds to wait for the `harbor-pull` Secrets to carry a new pull robot
                   (default: 300)
  SYNC_POLL_SECONDS  between two reads of such a Secret (default: 5)
  KUBE_API         the Kubernetes API (default: https://$KUBERNETES_SERVICE_HOST:
                   $KUBERNETES_SERVICE_PORT, verified with KUBE_CA_FILE)
  KUBE_CA_FILE     (default: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt)
  RETRY_SECONDS    how long to keep retrying an unreachable or failing service (default: 600)
  OIDC_ENDPOINT    the OIDC issuer; unset: Harbor keeps its own user database (nothing below)
  OIDC_CLIENT_ID, OIDC_CLIENT_SECRET   Harbor's client at the provider (required with it)
  OIDC_SCOPE       comma-separated scopes (default: openid,profile,email,groups)
  OIDC_GROUPS_CLAIM  the ID-token claim listing groups (default: groups)
  OIDC_USER_CLAIM  the claim Harbor names people by (default: email)
  OIDC_ADMIN_GROUP the group whose members are Harbor system administrators (required with it)
  OIDC_PRIMARY     `true` (default): the login page goes straight to the provider (the local
                   `admin` signs in at /account/sign-in); `false`: it offers both (break-glass)
  OIDC_PROJECT_GROUPS  JSON object group -> project role (projectAdmin, maintainer, developer,
                   guest) in the project, e.g. {"plate-developers": "developer"}

Proxy variables are ignored: every service is addressed inside the cluster.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# The agreed names of components/names.py, repeated here because the Job runs this file
# alone; tests/operations/test_harbor_bootstrap.py fails if the two drift apart.
APPS_MOUNT = "plate"
PLATFORM_MOUNT = "platform"
HARBOR_PROJECT = "plate"
CI_PUSH_PATH = "harbor/ci-push"
PULL_SECRET_NAME = "harbor-pull"
ROBOT_FIELDS = ("registry", "username", "password", "dockerconfigjson")
APPS_NAMESPACE_PREFIX = "plate-"  # names.apps_namespace(env) is plate-<env>

CI_PUSH_ROBOT = "plate-ci-push"
API = "/api/v2.0"
PAGE_SIZE = 100  # Harbor's largest page
REGISTRY_SERVICE = "harbor-registry"  # the `service` of Harbor's registry token endpoint
FIRST_RETRY_DELAY = 0.2
MAX_RETRY_DELAY = 15.0
REQUEST_TIMEOUT = 30.0
DAY = 86400
# a replaced push robot lives on this long after its successor was created: CI jobs that read the
# previous entry finish with it (the daily CronJob deletes it the night after a rotation)
PUSH_OVERLAP_SECONDS = 3600
# a pull Secret must show the new robot on this many polls in a row: an ExternalSecret that read
# OpenBao just before the write (every app renders one for the shared Secret) could otherwise
# write the previous credentials back after another one had written the new ones
SYNC_CONFIRMATIONS = 2
# the release tags prod pins (`v?\d+\.\d+\.\d+`, e.g. values-prod.yaml's "1.0.0"), not
# "1.1.0-rc.2", in the doublestar syntax of Harbor's tag selectors (bmatcuk/doublestar v1.3.4):
# an optional `v`, then three parts of one to four digits (`{,x}` is "nothing or x")
_PART = "[0-9]{,[0-9]{,[0-9]{,[0-9]}}}"
DEFAULT_IMMUTABLE_TAGS = (f"{{,v}}{_PART}.{_PART}.{_PART}",)
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?$")
_TAG_PATTERN = re.compile(r"^[^\s/]{1,128}$")

Log = Callable[[str], None]
Rotate = Literal["none", "all", "push"]


class BootstrapError(Exception):
    """A failure, reported as one line; the exit status is 1."""


def pull_secret_path(environment: str) -> str:
    return f"{environment}/{PULL_SECRET_NAME}"


def apps_namespace(environment: str) -> str:
    return f"{APPS_NAMESPACE_PREFIX}{environment}"


# Harbor's project roles. Ref: goharbor/harbor v2.15.1 api/v2.0/swagger.yaml, definitions
# ProjectMember and RoleRequest ("1 for projectAdmin, 2 for developer, 3 for guest, 4 for
# maintainer")
PROJECT_ROLES = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4}
OIDC_GROUP_TYPE = 3  # UserGroup.group_type: 1 LDAP, 2 HTTP, 3 OIDC (same swagger)


@dataclass(frozen=True)
class OidcSettings:
    endpoint: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str
    groups_claim: str
    user_claim: str
    admin_group: str
    primary: bool
    project_groups: tuple[tuple[str, str], ...]  # (group, role name)


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
    rotate: Rotate
    retry_seconds: float
    push_days: int = 30
    push_renew_days: int = 10
    immutable_tags: tuple[str, ...] = DEFAULT_IMMUTABLE_TAGS
    sync_timeout: float = 300.0
    sync_poll: float = 5.0
    kube_api: str | None = None
    kube_ca_file: str = f"{SA_DIR}/ca.crt"
    bao_ca_file: str | None = None
    oidc: OidcSettings | None = None


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


def _rotate(env: Mapping[str, str]) -> Rotate:
    value = env.get("ROTATE", "").strip().lower()
    if value in ("", "false", "0", "no"):
        return "none"
    if value in ("true", "1", "yes"):
        return "all"
    if value == "push":
        return "push"
    raise BootstrapError("configuration: ROTATE must be true, false or push")


def _environments(env: Mapping[str, str]) -> tuple[str, ...]:
    names = [part.strip() for part in _required(env, "ENVIRONMENTS").split(",") if part.strip()]
    for name in names:
        if not _LABEL.match(name):
            raise BootstrapError(f"configuration: ENVIRONMENTS entry {name!r} is not a DNS label")
    if not names:
        raise BootstrapError("configuration: ENVIRONMENTS names no environment")
    return tuple(dict.fromkeys(names))


def _seconds(env: Mapping[str, str], name: str, default: str) -> float:
    try:
        value = float(env.get(name, "").strip() or default)
    except ValueError:
        raise BootstrapError(f"configuration: {name} must be a number") from None
    if not value >= 0 or value == float("inf"):
        raise BootstrapError(f"configuration: {name} must be a finite number, not negative")
    return value


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip() or str(default)
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise BootstrapError(f"configuration: {name} must be a whole number of days, 1-3650")
    return int(text)


def _immutable_tags(env: Mapping[str, str]) -> tuple[str, ...]:
    text = env.get("IMMUTABLE_TAGS", "").strip()
    if not text:
        return DEFAULT_IMMUTABLE_TAGS
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(
        isinstance(v, str) and _TAG_PATTERN.match(v) for v in value
    ):
        raise BootstrapError(
            "configuration: IMMUTABLE_TAGS must be a JSON list of tag patterns (no spaces or '/')"
        )
    return tuple(dict.fromkeys(value))


def _kube_api(env: Mapping[str, str]) -> str | None:
    if env.get("KUBE_API", "").strip():
        return _url(env, "KUBE_API")
    host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
    if not host:
        return None
    port = env.get("KUBERNETES_SERVICE_PORT", "").strip() or "443"
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _oidc(env: Mapping[str, str]) -> OidcSettings | None:
    if not env.get("OIDC_ENDPOINT", "").strip():
        return None
    endpoint = _required(env, "OIDC_ENDPOINT").rstrip("/")
    if not endpoint.startswith("https://"):
        raise BootstrapError("configuration: OIDC_ENDPOINT must be an https:// URL")
    primary = env.get("OIDC_PRIMARY", "").strip().lower() or "true"
    if primary not in ("true", "false"):
        raise BootstrapError("configuration: OIDC_PRIMARY must be true or false")
    text = env.get("OIDC_PROJECT_GROUPS", "").strip() or "{}"
    try:
        groups = json.loads(text)
    except ValueError:
        groups = None
    if not isinstance(groups, dict) or not all(
        isinstance(g, str) and g and role in PROJECT_ROLES for g, role in groups.items()
    ):
        raise BootstrapError(
            "configuration: OIDC_PROJECT_GROUPS must be a JSON object of group -> one of "
            + ", ".join(PROJECT_ROLES)
        )
    return OidcSettings(
        endpoint=endpoint,
        client_id=_required(env, "OIDC_CLIENT_ID"),
        client_secret=_required(env, "OIDC_CLIENT_SECRET"),
        scope=env.get("OIDC_SCOPE", "").strip() or "openid,profile,email,groups",
        groups_claim=env.get("OIDC_GROUPS_CLAIM", "").strip() or "groups",
        user_claim=env.get("OIDC_USER_CLAIM", "").strip() or "email",
        admin_group=_required(env, "OIDC_ADMIN_GROUP"),
        primary=primary == "true",
        project_groups=tuple(sorted(groups.items())),
    )


def load_settings(env: Mapping[str, str]) -> Settings:
    """The settings of a run, from the environment variables listed in the module docstring."""
    registry = _required(env, "REGISTRY")
    if not _HOST.match(registry):
        raise BootstrapError("configuration: REGISTRY must be a host name, e.g. harbor.example")
    auth_path = env.get("BAO_AUTH_PATH", "").strip().strip("/") or "kubernetes"
    push_days, renew_days = _days(env, "PUSH_ROBOT_DAYS", 30), _days(env, "PUSH_RENEW_DAYS", 10)
    if renew_days >= push_days:
        raise BootstrapError(
            "configuration: PUSH_RENEW_DAYS must be less than PUSH_ROBOT_DAYS (else every run "
            "would renew the push robot)"
        )
    return Settings(
        harbor_url=_url(env, "HARBOR_URL"),
        harbor_username=env.get("HARBOR_USERNAME", "").strip() or "admin",
        harbor_password=_required(env, "HARBOR_PASSWORD"),
        bao_addr=_url(env, "BAO_ADDR"),
        bao_role=env.get("BAO_ROLE", "").strip() or "harbor-bootstrap",
        bao_auth_path=auth_path,
        sa_token_file=env.get("SA_TOKEN_FILE", "").strip() or f"{SA_DIR}/token",
        bao_token=env.get("BAO_TOKEN", "").strip() or None,
        environments=_environments(env),
        registry=registry,
        rotate=_rotate(env),
        retry_seconds=_seconds(env, "RETRY_SECONDS", "600"),
        push_days=push_days,
        push_renew_days=renew_days,
        immutable_tags=_immutable_tags(env),
        sync_timeout=_seconds(env, "SYNC_TIMEOUT", "300"),
        sync_poll=_seconds(env, "SYNC_POLL_SECONDS", "5"),
        kube_api=_kube_api(env),
        kube_ca_file=env.get("KUBE_CA_FILE", "").strip() or f"{SA_DIR}/ca.crt",
        bao_ca_file=env.get("BAO_CACERT", "").strip() or None,
        oidc=_oidc(env),
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
    """The error message of a Harbor (`errors[].message`), OpenBao (`errors[]`) or Kubernetes
    (a Status's `message`) error body."""
    try:
        body = json.loads(raw)
        if isinstance(body, dict) and "errors" not in body:
            return str(body.get("message") or "")[:200]
        errors = body.get("errors") or []
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
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url
        self.retry_seconds = retry_seconds
        self.log = log
        self.headers = dict(headers or {})
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

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


def service_account_token(settings: Settings, purpose: str) -> str:
    try:
        with open(settings.sa_token_file, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise BootstrapError(
            f"{purpose}: cannot read the ServiceAccount token {settings.sa_token_file}: "
            f"{exc.strerror}"
        ) from None


# ---- OpenBao ----------------------------------------------------------------------------------


def openbao_client(settings: Settings, log: Log) -> Client:
    """A client holding an OpenBao token: BAO_TOKEN (checked), or one from the Kubernetes login."""
    context = None
    if settings.bao_addr.startswith("https://") and settings.bao_ca_file is not None:
        try:  # the internal CA that signed OpenBao's certificate
            context = ssl.create_default_context(cafile=settings.bao_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise BootstrapError(
                f"OpenBao: cannot read the CA {settings.bao_ca_file}: "
                f"{getattr(exc, 'strerror', None) or exc}"
            ) from None
    bao = Client("OpenBao", settings.bao_addr, settings.retry_seconds, log, context=context)
    if settings.bao_token is not None:
        bao.headers["X-Vault-Token"] = settings.bao_token
        bao.call("GET", "/v1/auth/token/lookup-self")
        log("openbao: using the token from BAO_TOKEN")
        return bao
    jwt = service_account_token(settings, "OpenBao login")
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


# ---- sign-in through the organisation's OIDC provider ----------------------------------------


def oidc_configuration(oidc: OidcSettings) -> dict[str, Any]:
    """The body of PUT /configurations (a subset of the `Configurations` schema updates only
    those keys). Ref: goharbor/harbor v2.15.1 api/v2.0/swagger.yaml `/configurations` (put:
    200; 400 also when the auth mode cannot change: src/controller/config/controller.go
    validateCfg, "the auth mode cannot be modified as new users have been inserted into
    database"), definitions Configurations (auth_mode, primary_auth_mode, oidc_*)."""
    return {
        "auth_mode": "oidc_auth",
        "primary_auth_mode": oidc.primary,
        "oidc_name": "SSO",
        "oidc_endpoint": oidc.endpoint,
        "oidc_client_id": oidc.client_id,
        "oidc_client_secret": oidc.client_secret,
        "oidc_scope": oidc.scope,
        "oidc_groups_claim": oidc.groups_claim,
        "oidc_user_claim": oidc.user_claim,
        "oidc_admin_group": oidc.admin_group,
        "oidc_verify_cert": True,
        "oidc_auto_onboard": True,
    }


def configure_oidc(harbor: Client, oidc: OidcSettings, log: Log) -> None:
    current = harbor.call("GET", f"{API}/configurations").body or {}
    mode = ((current.get("auth_mode") or {}).get("value")) if isinstance(current, dict) else None
    answer = harbor.call(
        "PUT", f"{API}/configurations", body=oidc_configuration(oidc), expect=(200, 400),
        sensitive=True,
    )
    if answer.status == 400:
        raise BootstrapError(
            f"Harbor PUT {API}/configurations: HTTP 400: Harbor refused the OIDC settings (auth "
            f"mode is {mode!r}; Harbor changes it only while no user but admin exists: delete the "
            "local users, or set the mode by hand in Administration > Configuration)"
        )
    log(f"oidc: {oidc.endpoint} as client {oidc.client_id}, admin group {oidc.admin_group}"
        + ("" if mode == "oidc_auth" else f" (auth mode was {mode!r})")
        + ("" if oidc.primary else "; login page offers the local login (break-glass)"))


def ensure_group_members(harbor: Client, oidc: OidcSettings, log: Log) -> None:
    """Each OIDC group of `oidc.project_groups` a member of the project with its role.
    Ref: goharbor/harbor v2.15.1 api/v2.0/swagger.yaml `/projects/{project_name_or_id}/members`
    (get: ProjectMemberEntity list, `entityname` filter; post: ProjectMember with member_group
    {group_name, group_type 3}, 201, 409 when the member exists) and `.../members/{mid}` (put:
    RoleRequest); an unknown OIDC group is onboarded by name (src/controller/member/
    controller.go Create)."""
    path = f"{API}/projects/{HARBOR_PROJECT}/members"
    for group, role in oidc.project_groups:
        role_id = PROJECT_ROLES[role]
        where = f"project {HARBOR_PROJECT}: group {group}"
        found = [
            m for m in list_all(harbor, path, {"entityname": group})
            if m.get("entity_type") == "g" and m.get("entity_name") == group
        ]
        if not found:
            harbor.call("POST", path, body={
                "role_id": role_id,
                "member_group": {"group_name": group, "group_type": OIDC_GROUP_TYPE},
            }, expect=(201, 409))
            log(f"{where}: added as {role}")
        elif found[0].get("role_id") != role_id:
            harbor.call("PUT", f"{path}/{found[0]['id']}", body={"role_id": role_id})
            log(f"{where}: role set to {role}")
        else:
            log(f"{where}: {role}")


# ---- immutable tags ---------------------------------------------------------------------------


def immutable_rule(pattern: str) -> dict[str, Any]:
    """The rule Harbor's UI creates for "every repository, tags matching `pattern`"."""
    return {
        "disabled": False,
        "priority": 0,
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": pattern}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}],
        },
    }


def _selectors(items: Any) -> list[tuple[Any, Any, Any]]:
    return [
        (s.get("kind"), s.get("decoration"), s.get("pattern"))
        for s in (items if isinstance(items, list) else []) if isinstance(s, dict)
    ]


def rule_pattern(rule: Mapping[str, Any]) -> str | None:
    """The tag pattern of a rule that makes matching tags of every repository immutable."""
    if rule.get("action") != "immutable":
        return None
    scope = (rule.get("scope_selectors") or {}).get("repository")
    if _selectors(scope) != [("doublestar", "repoMatches", "**")]:
        return None
    tags = _selectors(rule.get("tag_selectors"))
    if len(tags) != 1 or tags[0][:2] != ("doublestar", "matches"):
        return None
    return str(tags[0][2])


def ensure_immutable_rules(
    harbor: Client, project_id: int, patterns: Iterable[str], log: Log
) -> None:
    """One enabled rule per pattern; other rules (set by hand) are left alone."""
    wanted = list(patterns)
    if not wanted:
        return
    path = f"{API}/projects/{project_id}/immutabletagrules"
    rules = list_all(harbor, path, {})
    for pattern in wanted:
        where = f"immutable tags {pattern!r} in project {HARBOR_PROJECT}"
        mine = [r for r in rules if rule_pattern(r) == pattern]
        if any(not r.get("disabled") for r in mine):
            log(f"{where}: rule exists")
        elif mine:
            rule = mine[0]
            harbor.call("PUT", f"{path}/{rule['id']}", body={**rule, "disabled": False})
            log(f"{where}: rule was disabled, enabled")
        else:
            # 409: a retried creation that had gone through (Harbor keeps rules unique)
            harbor.call("POST", path, body=immutable_rule(pattern), expect=(201, 409))
            log(f"{where}: rule created")


# ---- robots -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RobotSpec:
    """A family of robot accounts and where the current one's credentials live in OpenBao."""

    name: str
    # (resource, action) pairs of the robot's one project permission; Harbor accepts only pairs
    # of its project scope. Ref: goharbor/harbor v2.15.1 src/common/rbac/const.go
    # (PoliciesMap[ScopeProject]), src/server/v2.0/handler/robot.go (validate)
    access: tuple[tuple[str, str], ...]
    mount: str
    path: str
    description: str
    duration: int = -1  # days, -1 never expires
    environment: str | None = None  # a pull robot's

    @property
    def where(self) -> str:
        return f"{self.mount}/{self.path}"


def pull_specs(environments: Iterable[str]) -> list[RobotSpec]:
    return [
        RobotSpec(
            name=f"{HARBOR_PROJECT}-{env}-pull",
            access=(("repository", "pull"),),
            mount=APPS_MOUNT,
            path=pull_secret_path(env),
            description=f"pulls {HARBOR_PROJECT} images for {env} (ops/harbor_bootstrap.py)",
            environment=env,
        )
        for env in environments
    ]


def push_spec(days: int) -> RobotSpec:
    return RobotSpec(
        name=CI_PUSH_ROBOT,
        # artifact:read for `ops.pin_digests`: Harbor's getArtifact requires it
        # (src/server/v2.0/handler/artifact.go GetArtifact: RequireProjectAccess(ActionRead,
        # ResourceArtifact)), which `repository:pull` does not grant
        access=(("repository", "push"), ("repository", "pull"), ("artifact", "read")),
        mount=PLATFORM_MOUNT,
        path=CI_PUSH_PATH,
        description=f"CI pushes {HARBOR_PROJECT} images, renewed before it expires "
        f"(ops/harbor_bootstrap.py)",
        duration=days,
    )


def list_robots(harbor: Client, project_id: int) -> list[dict[str, Any]]:
    return list_all(harbor, f"{API}/robots", {"q": f"Level=project,ProjectID={project_id}"})


def short_name(robot: Mapping[str, Any]) -> str:
    """`plate-stg-pull-2` of `robot$plate+plate-stg-pull-2` (Harbor names a project robot
    `<prefix><project>+<name>`, prefix `robot$` unless configured)."""
    return str(robot.get("name", "")).rpartition("+")[2]


def generation(spec: RobotSpec, robot: Mapping[str, Any]) -> int | None:
    """1 for `<spec.name>`, n for `<spec.name>-<n>` (n >= 2), None for another robot."""
    short = short_name(robot)
    if not str(robot.get("name", "")).endswith(f"{HARBOR_PROJECT}+{short}"):
        return None
    if short == spec.name:
        return 1
    head, _, tail = short.rpartition("-")
    if head == spec.name and tail.isdigit() and tail == str(int(tail)) and int(tail) >= 2:
        return int(tail)
    return None


def family(robots: Iterable[Mapping[str, Any]], spec: RobotSpec) -> list[dict[str, Any]]:
    """The robots of the family, oldest generation first."""
    members = [dict(r) for r in robots if generation(spec, r) is not None]
    return sorted(members, key=lambda r: generation(spec, r) or 0)


def next_name(spec: RobotSpec, members: list[dict[str, Any]]) -> str:
    if not members:
        return spec.name
    return f"{spec.name}-{max(generation(spec, r) or 1 for r in members) + 1}"


def create_robot(harbor: Client, project_id: int, spec: RobotSpec, name: str) -> dict[str, Any]:
    """Create a project robot; Harbor's generated secret in the answer is discarded."""
    body = {
        "name": name,
        "description": spec.description,
        "level": "project",
        "duration": spec.duration,
        "disable": False,
        "permissions": [{
            "kind": "project",
            "namespace": HARBOR_PROJECT,
            "access": [{"resource": r, "action": a} for r, a in spec.access],
        }],
    }
    answer = harbor.call("POST", f"{API}/robots", body=body, expect=(201, 409), sensitive=True)
    created = answer.body if isinstance(answer.body, dict) else {}
    if answer.status == 201 and short_name(created) == name and created.get("id"):
        # RobotCreated: id, name, secret (dropped here), creation_time, expires_at
        return {k: created.get(k) for k in ("id", "name", "creation_time", "expires_at")}
    # 409: a retried creation that had gone through; the listing is the robot as Harbor keeps it
    robot = next((r for r in list_robots(harbor, project_id) if short_name(r) == name), None)
    if robot is None:
        raise BootstrapError(f"Harbor: robot {name} is missing after creation")
    return robot


def robot_access(robot: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (resource, action) pairs a listed robot holds on the project (Harbor's listing carries
    `permissions`: ListRobot with WithPermission, src/server/v2.0/handler/robot.go v2.15.1)."""
    return {
        (str(a.get("resource")), str(a.get("action")))
        for p in robot.get("permissions") or [] if p.get("namespace") == HARBOR_PROJECT
        for a in p.get("access") or []
    }


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


def expiry_reason(spec: RobotSpec, robot: Mapping[str, Any], now: float,
                  renew_days: int) -> str | None:
    """Why an expiring robot (spec.duration > 0) must be replaced now; None when it need not."""
    if spec.duration < 0:
        return None
    expires = robot.get("expires_at")
    if not isinstance(expires, int) or expires < 0:
        return "never expires"
    if expires <= now:
        return "expired"
    if expires - now < renew_days * DAY:
        return f"expires in {(expires - now) / DAY:.1f} days"
    return None


@dataclass(frozen=True)
class Outcome:
    """A family after its renewal: the current robot, its password, and the others."""

    spec: RobotSpec
    current: dict[str, Any]
    password: str = field(repr=False)
    stale: list[dict[str, Any]]


def _renewal_reason(
    harbor: Client, settings: Settings, spec: RobotSpec, entry: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None, now: float,
) -> str | None:
    """Why the family needs a new robot; None when the current one and its entry are good."""
    if entry is None:
        return "OpenBao entry missing"
    password = entry.get("password")
    if set(entry) != set(ROBOT_FIELDS) or not isinstance(password, str):
        return "OpenBao entry incomplete"
    if current is None:
        return "the robot of the OpenBao entry is gone"
    if dict(entry) != robot_entry(settings.registry, str(current["name"]), password):
        return "OpenBao entry outdated"  # another registry host
    expiring = expiry_reason(spec, current, now, settings.push_renew_days)
    if expiring is not None:
        return expiring
    if robot_access(current) != set(spec.access):
        return "permissions changed"
    if not credentials_work(harbor, str(current["name"]), password):
        return "stored password refused by Harbor"
    return None


def sync_family(
    harbor: Client, bao: Client, settings: Settings, project_id: int,
    robots: list[dict[str, Any]], spec: RobotSpec, now: float, log: Log,
) -> Outcome:
    """Keep the family's current robot, or make the next one current; never a secret in place."""
    members = family(robots, spec)
    for robot in members:
        if robot.get("disable"):
            raise BootstrapError(
                f"Harbor: robot {short_name(robot)} is disabled; enable it, or delete it to "
                "have it replaced"
            )
    if not members:
        reason: str | None = "created"
    elif settings.rotate == "all":
        reason = "rotated"
    else:
        entry = read_entry(bao, spec.mount, spec.path)
        username = (entry or {}).get("username")
        current = next((r for r in members if r.get("name") == username), None)
        reason = _renewal_reason(harbor, settings, spec, entry, current, now)
        if reason is None and entry is not None and current is not None:
            log(f"robot {short_name(current)}: unchanged, secret at {spec.where}")
            others = [r for r in members if r is not current]
            return Outcome(spec, current, str(entry["password"]), others)
    name = next_name(spec, members)
    robot = create_robot(harbor, project_id, spec, name)
    secret = new_secret()
    harbor.call("PATCH", f"{API}/robots/{robot['id']}", body={"secret": secret}, sensitive=True)
    try:
        write_entry(bao, spec.mount, spec.path,
                    robot_entry(settings.registry, str(robot["name"]), secret))
    except BootstrapError as exc:
        raise BootstrapError(
            f"{exc} (robot {name} is unused: the previous one stays current; a rerun replaces it)"
        ) from None
    if not credentials_work(harbor, str(robot["name"]), secret):
        raise BootstrapError(
            f"Harbor refuses the secret of robot {name} just stored at {spec.where} (did another "
            "run change it at the same time?); rerun"
        )
    replaces = ", ".join(short_name(r) for r in members)
    log(f"robot {name}: {reason}" + (f" (replaces {replaces})" if replaces else "")
        + f", secret stored at {spec.where}")
    return Outcome(spec, robot, secret, [r for r in members if r.get("id") != robot.get("id")])


def delete_robot(harbor: Client, robot: Mapping[str, Any], why: str, log: Log) -> None:
    # 404: already gone (a retried deletion that had gone through, or deleted by hand)
    harbor.call("DELETE", f"{API}/robots/{robot['id']}", expect=(200, 404))
    log(f"robot {short_name(robot)}: deleted ({why})")


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch of Harbor's `creation_time` (RFC 3339), None if unreadable."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def retire_push(harbor: Client, outcome: Outcome, now: float, log: Log) -> None:
    """Delete replaced push robots that CI can no longer be using: expired ones, and all of them
    once the current robot is PUSH_OVERLAP_SECONDS old."""
    created = _timestamp(outcome.current.get("creation_time"))
    current = short_name(outcome.current)
    for robot in outcome.stale:
        expires = robot.get("expires_at")
        if isinstance(expires, int) and 0 <= expires <= now:
            delete_robot(harbor, robot, "expired", log)
        elif created is not None and now - created >= PUSH_OVERLAP_SECONDS:
            delete_robot(harbor, robot, f"replaced by {current}", log)
        else:
            log(f"robot {short_name(robot)}: kept for CI jobs that read it before {current} "
                f"replaced it; deleted by a run {PUSH_OVERLAP_SECONDS // 60} minutes or more "
                "after that")


# ---- the pull Secrets in the cluster ----------------------------------------------------------


def kubernetes_client(settings: Settings, log: Log) -> Client:
    """A client of the Kubernetes API as the pod's ServiceAccount."""
    if settings.kube_api is None:
        raise BootstrapError(
            "configuration: KUBE_API is not set and there is no KUBERNETES_SERVICE_HOST (not in "
            "a cluster): cannot read the harbor-pull Secrets a replaced pull robot waits for"
        )
    token = service_account_token(settings, "Kubernetes API")
    context = None
    if settings.kube_api.startswith("https://"):
        try:
            context = ssl.create_default_context(cafile=settings.kube_ca_file)
        except OSError as exc:
            raise BootstrapError(
                f"Kubernetes API: cannot read the CA {settings.kube_ca_file}: {exc.strerror}"
            ) from None
    return Client(
        "Kubernetes", settings.kube_api, min(settings.retry_seconds, settings.sync_timeout), log,
        {"Authorization": f"Bearer {token}"}, context,
    )


def secret_carries(secret: Any, registry: str, username: str, password: str) -> bool:
    """Whether a `kubernetes.io/dockerconfigjson` Secret holds these credentials for `registry`."""
    try:
        raw = base64.b64decode(secret["data"][".dockerconfigjson"], validate=True)
        auth = json.loads(raw)["auths"][registry]
        return bool(auth["username"] == username and auth["password"] == password)
    except (KeyError, TypeError, ValueError):
        return False


def pull_secret_state(kube: Client, outcome: Outcome, registry: str) -> str:
    """`absent`, `current` (carries the current robot) or `other`."""
    env = str(outcome.spec.environment)
    answer = kube.call(
        "GET", f"/api/v1/namespaces/{apps_namespace(env)}/secrets/{PULL_SECRET_NAME}",
        expect=(200, 404),
    )
    if answer.status == 404:  # no app pulls in <env> with this cluster's Secret
        return "absent"
    current = outcome.current
    return "current" if secret_carries(
        answer.body, registry, str(current["name"]), outcome.password
    ) else "other"


def wait_for_pull_secrets(
    kube: Client, settings: Settings, pending: list[Outcome], log: Log
) -> list[Outcome]:
    """The outcomes whose Secret `harbor-pull` carries the current robot (or is absent) on
    SYNC_CONFIRMATIONS polls in a row, polling for at most SYNC_TIMEOUT seconds."""
    streaks = {id(o): 0 for o in pending}
    waiting = list(pending)
    for o in waiting:
        log(f"secret {apps_namespace(str(o.spec.environment))}/{PULL_SECRET_NAME}: waiting up to "
            f"{settings.sync_timeout:g} s for External Secrets to sync {short_name(o.current)}")
    started = time.monotonic()
    while True:
        for o in list(waiting):
            state = pull_secret_state(kube, o, settings.registry)
            streaks[id(o)] = streaks[id(o)] + 1 if state != "other" else 0
            if streaks[id(o)] >= SYNC_CONFIRMATIONS:
                waiting.remove(o)
                what = (f"carries {short_name(o.current)}" if state == "current"
                        else "absent: no pod in this cluster pulls with it")
                log(f"secret {apps_namespace(str(o.spec.environment))}/{PULL_SECRET_NAME}: "
                    f"{what} (after {time.monotonic() - started:.0f} s)")
        remaining = started + settings.sync_timeout - time.monotonic()
        if not waiting or remaining <= 0:
            return [o for o in pending if o not in waiting]
        time.sleep(min(settings.sync_poll, remaining))


def retire_pull(harbor: Client, settings: Settings, outcomes: list[Outcome], log: Log) -> None:
    """Delete replaced pull robots once their environment's Secret carries the current one."""
    pending = [o for o in outcomes if o.stale]
    if not pending:
        return
    synced = wait_for_pull_secrets(kubernetes_client(settings, log), settings, pending, log)
    for o in synced:
        for robot in o.stale:
            delete_robot(harbor, robot, f"replaced by {short_name(o.current)}", log)
    late = [o for o in pending if o not in synced]
    if late:
        raise BootstrapError(
            "; ".join(
                f"secret {apps_namespace(str(o.spec.environment))}/{PULL_SECRET_NAME} did not "
                f"carry {short_name(o.current)} within {settings.sync_timeout:g} s: kept "
                + ", ".join(short_name(r) for r in o.stale)
                for o in late
            )
            + " (a rerun deletes them once External Secrets has synced)"
        )


def run(settings: Settings, log: Log) -> None:
    bao = openbao_client(settings, log)
    harbor = harbor_client(settings, log)
    project_id = ensure_project(harbor, log)
    if settings.oidc is not None:
        configure_oidc(harbor, settings.oidc, log)
        ensure_group_members(harbor, settings.oidc, log)
    robots = list_robots(harbor, project_id)
    now = time.time()
    pulled: list[Outcome] = []
    if settings.rotate != "push":
        ensure_immutable_rules(harbor, project_id, settings.immutable_tags, log)
        pulled = [
            sync_family(harbor, bao, settings, project_id, robots, spec, now, log)
            for spec in pull_specs(settings.environments)
        ]
    pushed = sync_family(
        harbor, bao, settings, project_id, robots, push_spec(settings.push_days), now, log
    )
    retire_push(harbor, pushed, time.time(), log)
    # last: the only step that waits, when no OpenBao token is needed any more
    retire_pull(harbor, settings, pulled, log)


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
