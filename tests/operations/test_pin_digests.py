"""Production images by digest: `ops.pin_digests` records them from Harbor, `ops.release_check`
refuses a release without them.

Harbor cannot run here; the stand-in below is an HTTP server on 127.0.0.1 (a free port, stopped
after each test) that answers the one call the command makes as Harbor v2.15's API defines it
(goharbor/harbor v2.15.1 api/v2.0/swagger.yaml): `GET /api/v2.0/projects/{project_name}/
repositories/{repository_name}/artifacts/{reference}` (operationId getArtifact; the repository
name URL-encoded twice when it holds a slash, parameter repositoryName) answers 200 with an
`Artifact` object (fields id, type, media_type, manifest_media_type, project_id, repository_id,
repository_name, digest, size, push_time, tags), 401 without valid basic credentials, 403 to a
robot without `artifact:read` on the project (GetArtifact: `RequireProjectAccess(ctx,
projectName, rbac.ActionRead, rbac.ResourceArtifact)`, src/server/v2.0/handler/artifact.go; an
authenticated caller without it gets `errors.ForbiddenError`, src/server/v2.0/handler/base.go,
code FORBIDDEN, message "forbidden", src/lib/errors) and 404 for an unknown tag, all with an
`Errors` body (`{"errors": [{"code", "message"}]}`). Its robots are the ones
`ops.harbor_bootstrap` creates, each with exactly the access of its RobotSpec (`pull_specs`,
`push_spec`), so the stand-in grants what the bootstrap asks Harbor for and nothing more.

Verifies: on a copy of the repository's charts, every production values file gets exactly its
tag's digest, with the tag named beside it, and nothing else changes (the parsed files differ
only in `image.digest`; comments and order are kept); a second run changes nothing; the release
check then passes the digests and refuses them once a tag moves on without a new digest; the
CI push robot (`platform/harbor/ci-push`) may read artifacts, the prod pull robot is refused (403)
and nothing is written; an unknown tag or refused credentials fail with one line naming the app
and write nothing; the
committed production values (no digest yet) are refused by `ops.release_check`, one line per
app, and staging needs none; the command needs credentials; Harbor's double-encoded repository
names are sent as the swagger asks.
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import parse_platform_config, read_stack_file
from components.gitops.apps import IN_HOUSE_APPS
from ops import harbor_bootstrap as hb
from ops import pin_digests
from ops.release_check import release_problem

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/api/v2.0/projects/"
PUSH_SPEC = hb.push_spec(30)
(PULL_SPEC,) = hb.pull_specs(["prod"])


def _login(spec: hb.RobotSpec) -> str:
    """Harbor's name of the family's first robot: `robot$<project>+<name>`."""
    return f"robot${hb.HARBOR_PROJECT}+{spec.name}"


PASSWORD = "s3cret-of-the-robot"
USER = _login(PUSH_SPEC)  # what the docs tell users to use: `platform/harbor/ci-push`
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PULL_AUTH = "Basic " + base64.b64encode(f"{_login(PULL_SPEC)}:{PASSWORD}".encode()).decode()
# basic credentials -> (project, the robot's access): what the bootstrap asks Harbor to grant
ROBOTS = {auth: (hb.HARBOR_PROJECT, frozenset(spec.access))
          for auth, spec in ((AUTH, PUSH_SPEC), (PULL_AUTH, PULL_SPEC))}


def digest_of(name: str) -> str:
    return "sha256:" + (name.encode().hex() * 64)[:64]


class FakeHarbor(ThreadingHTTPServer):
    """Harbor's getArtifact, for the artifacts in `self.artifacts` {(project, repo, tag):
    digest}; `self.requests` keeps each request's raw path."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.artifacts: dict[tuple[str, str, str], str] = {}
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeHarbor

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        path, _, _ = self.path.partition("?")
        robot = ROBOTS.get(self.headers.get("Authorization", ""))
        if robot is None:
            self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]})
            return
        parts = path.removeprefix(PREFIX).split("/")
        if not path.startswith(PREFIX) or len(parts) != 5 or parts[1:4:2] != ["repositories",
                                                                             "artifacts"]:
            self._answer(404, {"errors": [{"code": "NOT_FOUND", "message": "no route"}]})
            return
        project = urllib.parse.unquote(parts[0])
        if robot[0] != project or ("artifact", "read") not in robot[1]:
            self._answer(403, {"errors": [{"code": "FORBIDDEN", "message": "forbidden"}]})
            return
        # the swagger's repositoryName: a name with a slash arrives encoded twice
        repository = urllib.parse.unquote(urllib.parse.unquote(parts[2]))
        reference = urllib.parse.unquote(parts[4])
        digest = self.server.artifacts.get((project, repository, reference))
        if digest is None:
            self._answer(404, {"errors": [{
                "code": "NOT_FOUND",
                "message": f"artifact {project}/{repository}:{reference} not found",
            }]})
            return
        self._answer(200, {
            "id": 7, "type": "IMAGE",
            "media_type": "application/vnd.oci.image.config.v1+json",
            "manifest_media_type": "application/vnd.oci.image.manifest.v1+json",
            "project_id": 2, "repository_id": 3, "repository_name": f"{project}/{repository}",
            "digest": digest, "size": 123456, "push_time": "2026-12-01T10:00:00.000Z",
            "tags": None,
        })


@pytest.fixture
def harbor() -> Iterator[FakeHarbor]:
    server = FakeHarbor()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The charts' values files, copied: the command edits files."""
    for app in IN_HOUSE_APPS:
        for path in (ROOT / app.chart_path).glob("values*.yaml"):
            target = tmp_path / app.chart_path / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return tmp_path


def prod():
    return parse_platform_config(read_stack_file(ROOT / "Pulumi.prod.yaml"))


def publish(harbor: FakeHarbor) -> dict[str, str]:
    """Every prod image in the stand-in; {app: digest}."""
    out = {}
    for image in pin_digests.images(prod()):
        project, _, name = image.repository.partition("/")
        out[image.app] = digest_of(image.app)
        harbor.artifacts[(project, name, image.tag)] = out[image.app]
    return out


def test_record_pins_every_prod_image_and_changes_nothing_else(harbor, repo):
    digests = publish(harbor)
    cfg = prod()
    before = {a.name: (repo / a.chart_path / "values-prod.yaml").read_text() for a in IN_HOUSE_APPS}
    assert pin_digests.digest_problems(cfg, repo) != []
    changed = pin_digests.record(cfg, harbor.url, AUTH, root=repo)
    assert sorted(changed) == sorted(f"{a.chart_path}/values-prod.yaml" for a in IN_HOUSE_APPS)
    for app in IN_HOUSE_APPS:
        text = (repo / app.chart_path / "values-prod.yaml").read_text()
        old, new = yaml.safe_load(before[app.name]), yaml.safe_load(text)
        assert new["image"].pop("digest") == digests[app.name]
        assert new == old
        # only the one line was added; every comment is still there
        added = [line for line in text.splitlines() if line not in before[app.name].splitlines()]
        assert added == [f'  digest: "{digests[app.name]}"  # resolved from tag '
                         f'{old["image"]["tag"]} by ops.pin_digests']
    assert pin_digests.digest_problems(cfg, repo) == []
    # one call per app, by tag, with the swagger's path
    assert sorted(harbor.requests) == sorted(
        f"{PREFIX}plate/repositories/{a.name}/artifacts/1.0.0?with_tag=false"
        for a in IN_HOUSE_APPS
    )
    # a second run finds the same digests and writes nothing
    assert pin_digests.record(cfg, harbor.url, AUTH, root=repo) == []


def test_a_tag_moved_on_without_a_new_digest_is_refused(harbor, repo):
    publish(harbor)
    cfg = prod()
    pin_digests.record(cfg, harbor.url, AUTH, root=repo)
    values = repo / "helm/applications/plate-api/values-prod.yaml"
    values.write_text(values.read_text().replace('tag: "1.0.0"', 'tag: "1.0.1"'))
    assert pin_digests.digest_problems(cfg, repo) == [
        "helm/applications/plate-api/values-prod.yaml: image.digest was resolved from tag "
        "'1.0.0', the values run tag '1.0.1': run `python -m ops.pin_digests --stack prod` "
        "and commit"
    ]
    harbor.artifacts[("plate", "plate-api", "1.0.1")] = digest_of("newer")
    pin_digests.record(cfg, harbor.url, AUTH, root=repo)
    assert pin_digests.digest_problems(cfg, repo) == []
    assert f'"{digest_of("newer")}"  # resolved from tag 1.0.1' in values.read_text()


def test_an_unknown_tag_or_bad_credentials_write_nothing(harbor, repo):
    publish(harbor)
    del harbor.artifacts[("plate", "plate-llm", "1.0.0")]
    cfg = prod()
    before = {p: p.read_text() for p in repo.rglob("values-prod.yaml")}
    with pytest.raises(pin_digests.PinError) as missing:
        pin_digests.record(cfg, harbor.url, AUTH, root=repo)
    assert str(missing.value) == (
        "plate-llm: plate/plate-llm:1.0.0: not in Harbor (artifact plate/plate-llm:1.0.0 not "
        "found): push it first"
    )
    with pytest.raises(pin_digests.PinError) as refused:
        pin_digests.record(cfg, harbor.url, "Basic " + base64.b64encode(b"x:y").decode(),
                           root=repo)
    assert "Harbor refused the credentials (HTTP 401)" in str(refused.value)
    assert PASSWORD not in str(refused.value)
    assert {p: p.read_text() for p in repo.rglob("values-prod.yaml")} == before


def test_the_push_robot_reads_artifacts_and_the_pull_robot_is_refused(harbor, repo):
    digests = publish(harbor)
    cfg = prod()
    before = {p: p.read_text() for p in repo.rglob("values-prod.yaml")}
    assert ("artifact", "read") not in PULL_SPEC.access  # repository:pull only
    with pytest.raises(pin_digests.PinError) as refused:
        pin_digests.record(cfg, harbor.url, PULL_AUTH, root=repo)
    assert str(refused.value) == (
        "plate-web: plate/plate-web:1.0.0: Harbor refused the credentials (HTTP 403): set "
        "HARBOR_USERNAME and HARBOR_PASSWORD to a user or robot with artifact read on project "
        "plate (the CI push robot, OpenBao platform/harbor/ci-push)"
    )
    assert {p: p.read_text() for p in repo.rglob("values-prod.yaml")} == before
    assert ("artifact", "read") in PUSH_SPEC.access
    assert pin_digests.record(cfg, harbor.url, AUTH, root=repo) != []
    for app in IN_HOUSE_APPS:
        values = yaml.safe_load((repo / app.chart_path / "values-prod.yaml").read_text())
        assert values["image"]["digest"] == digests[app.name]


def test_the_command_needs_credentials_and_reports_one_line(harbor, capsys):
    assert pin_digests.main(["--stack", "prod", "--harbor-url", harbor.url], env={}) == 1
    assert "HARBOR_USERNAME and HARBOR_PASSWORD are required" in capsys.readouterr().err
    # with credentials but nothing pushed: one line, nothing written in the repository
    before = {p: p.read_text() for p in (ROOT / "helm").rglob("values-prod.yaml")}
    env = {"HARBOR_USERNAME": USER, "HARBOR_PASSWORD": PASSWORD}
    assert pin_digests.main(["--stack", "prod", "--harbor-url", harbor.url], env=env) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in Harbor" in err and PASSWORD not in err
    assert {p: p.read_text() for p in (ROOT / "helm").rglob("values-prod.yaml")} == before


def test_the_committed_prod_values_are_refused_until_digests_are_recorded():
    problem = release_problem("prod", "v1.0.0")
    assert problem is not None
    assert problem.splitlines() == [
        f"helm/applications/{a.name}/values-prod.yaml: image.digest is not set "
        f"(plate/{a.name}:1.0.0): run `python -m ops.pin_digests --stack prod` and commit"
        for a in IN_HOUSE_APPS
    ]
    # staging runs tags (it is not production)
    assert release_problem("stg", parse_platform_config(
        read_stack_file(ROOT / "Pulumi.stg.yaml")).gitops.target_revision) is None


@pytest.mark.parametrize(("text", "expected"), [
    ('image:\n  tag: "1.0.0"\nresources: {}\n',
     'image:\n  tag: "1.0.0"\n  digest: "D"  # resolved from tag 1.0.0 by ops.pin_digests\n'
     'resources: {}\n'),
    ('image:\n  digest: "old"  # resolved from tag 0.9 by ops.pin_digests\n  tag: "1.0.0"\n',
     'image:\n  digest: "D"  # resolved from tag 1.0.0 by ops.pin_digests\n  tag: "1.0.0"\n'),
    ("replicaCount: 2\n",
     'replicaCount: 2\nimage:\n  digest: "D"  # resolved from tag 1.0.0 by ops.pin_digests\n'),
], ids=["after-tag", "replaced", "new-block"])
def test_with_digest_edits_only_the_image_block(text: str, expected: str) -> None:
    assert pin_digests.with_digest(text, "D", "1.0.0") == expected


def test_a_repository_name_with_a_slash_is_encoded_twice() -> None:
    assert pin_digests._repository_path("plate/team/app") == ("plate", "team%252Fapp")
    with pytest.raises(pin_digests.PinError):
        pin_digests._repository_path("plate-api")
