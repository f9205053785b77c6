"""The drift check (ops/drift.py), against the `pulumi` stand-in (tests/operations/standins).

Verifies: the deployed commit is the git head of the newest successful update of kind `update`
(a newer refresh or failed update is skipped, the history is read past its first page; none, or
one without a commit, is an error); a preview that exits 0 is no drift; pulumi's exit code 7
(`--expect-no-changes` found changes) is drift, with a JSON report of the changed resources (exit
3); any other failure (an expired credential, an unreachable cluster) is an error, never drift
(exit 1, one line); the preview runs in the deployed commit's checkout with refresh,
expect-no-changes and JSON output.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ops import drift
from tests.operations.standins.pulumi import Backend, install

HARBOR = "urn:pulumi:prod::plate-platform::kubernetes:apps/v1:Deployment::harbor-core"
NAMESPACE = "urn:pulumi:prod::plate-platform::kubernetes:core/v1:Namespace::plate"


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    result = install(bin_dir, tmp_path / "state")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_BACKEND_URL", result.url)
    return result


def deployed(backend: Backend, stack: str = "prod") -> None:
    """A stack whose state, program and cluster agree."""
    program = {NAMESPACE: {"name": "plate"}, HARBOR: {"replicas": 2}}
    deployment = backend.deployment(stack)
    deployment["resources"] = [{"urn": urn, "type": urn.split("::")[2], "custom": True,
                                "inputs": inputs, "outputs": inputs}
                               for urn, inputs in program.items()]
    backend.write_deployment(stack, deployment)
    backend.set_world(stack, program=program, cluster=dict(program))


def entry(kind: str, result: str, head: str | None, when: int) -> dict:
    """One history file as the DIY backend writes it (pkg/backend/updates.go UpdateInfo)."""
    environment = {"git.head": head} if head else {}
    return {"kind": kind, "startTime": when, "message": "", "environment": environment,
            "config": {}, "version": 0, "result": result, "endTime": when + 1}


def history(backend: Backend, *entries: dict) -> None:
    """Oldest first."""
    for item in entries:
        backend.add_history("prod", item)
        time.sleep(0.001)


def test_the_deployed_commit_is_the_newest_successful_update_not_a_refresh(
        backend: Backend, capsys: pytest.CaptureFixture[str]):
    history(backend,
            entry("update", "succeeded", "b" * 40, 100),
            entry("update", "succeeded", "a" * 40, 200),
            entry("update", "failed", "f" * 40, 300),
            entry("refresh", "succeeded", "c" * 40, 400))
    assert drift.main(["deployed-commit", "--stack", "prod"]) == drift.NO_DRIFT
    assert capsys.readouterr().out.strip() == "a" * 40


def test_the_deployed_commit_is_found_past_the_first_page(
        backend: Backend, capsys: pytest.CaptureFixture[str]):
    history(backend, entry("update", "succeeded", "a" * 40, 100),
            *[entry("refresh", "succeeded", "c" * 40, 200 + i) for i in range(60)])
    assert drift.main(["deployed-commit", "--stack", "prod"]) == drift.NO_DRIFT
    assert capsys.readouterr().out.strip() == "a" * 40
    pages = [call[-1] for call in backend.calls() if call[:2] == ["stack", "history"]]
    assert pages == ["1", "2"]


def test_no_deployment_or_no_commit_is_an_error(
        backend: Backend, capsys: pytest.CaptureFixture[str]):
    history(backend, entry("refresh", "succeeded", "c" * 40, 100))
    assert drift.main(["deployed-commit", "--stack", "prod"]) == drift.ERROR
    assert "no successful update" in capsys.readouterr().err
    history(backend, entry("update", "succeeded", None, 200))
    assert drift.main(["deployed-commit", "--stack", "prod"]) == drift.ERROR
    assert "no git commit" in capsys.readouterr().err


def test_no_drift(backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    deployed(backend)
    report = tmp_path / "r.json"
    program = tmp_path / "deployed"
    program.mkdir()
    assert drift.main(["check", "--stack", "prod", "--program-dir", str(program),
                       "--report", str(report)]) == drift.NO_DRIFT
    [argv] = backend.calls()
    assert argv == ["preview", "--stack", "prod", "--refresh", "--expect-no-changes", "--json",
                    "--non-interactive"]
    cwd = json.loads((backend.root / "standin-calls.jsonl").read_text())["cwd"]
    assert cwd == str(program)
    assert not report.exists() and capsys.readouterr().out == "prod: no drift\n"


def test_drift_is_pulumis_exit_code_7_reported_as_json(
        backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    deployed(backend)
    backend.set_world("prod", cluster={NAMESPACE: {"name": "plate"}, HARBOR: {"replicas": 1}})
    report = tmp_path / "r.json"
    assert drift.main(["check", "--stack", "prod", "--report", str(report)]) == drift.DRIFT
    assert json.loads(report.read_text()) == {
        "stack": "prod", "changeSummary": {"update": 1},
        "changes": [{"op": "update", "urn": HARBOR, "diffReasons": ["replicas"]}],
    }
    out = capsys.readouterr().out
    assert "prod: drift: the cluster differs from the deployed commit (1 changed resources" in out
    assert f"  update {HARBOR} [replicas]" in out


def test_a_deleted_resource_is_drift(backend: Backend, tmp_path: Path):
    deployed(backend)
    backend.set_world("prod", cluster={NAMESPACE: {"name": "plate"}})
    report = tmp_path / "r.json"
    assert drift.main(["check", "--stack", "prod", "--report", str(report)]) == drift.DRIFT
    assert json.loads(report.read_text())["changes"] == [
        {"op": "create", "urn": HARBOR, "diffReasons": []}]


@pytest.mark.parametrize("code, message", [
    (1, "failed to decrypt: incorrect passphrase"),
    (3, "this command requires logging in; try running `pulumi login` first"),
    (1, "configured Kubernetes cluster is unreachable: dial tcp 10.30.0.1:6443: i/o timeout"),
])
def test_an_error_is_not_drift(backend: Backend, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str], code: int, message: str):
    deployed(backend)
    backend.set_world("prod", fail={"preview": {"code": code, "message": message}})
    report = tmp_path / "r.json"
    assert drift.main(["check", "--stack", "prod", "--report", str(report)]) == drift.ERROR
    assert capsys.readouterr().err == (f"prod: error, not drift: pulumi preview exit {code}: "
                                       f"error: {message}\n")
    assert not report.exists()


def test_an_unknown_stack_is_an_error(backend: Backend, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]):
    assert drift.main(["check", "--stack", "qa", "--report", str(tmp_path / "r")]) == drift.ERROR
    assert "pulumi preview exit 6: error: no stack named 'qa' found" in capsys.readouterr().err


def test_a_missing_pulumi_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert drift.main(["deployed-commit", "--stack", "prod"]) == drift.ERROR
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("prod: error, not drift: pulumi stack history: FileNotFoundError")
