"""The drift check (ops/drift.py), against a fake `pulumi` executable on PATH.

Verifies: the deployed commit is the git head of the newest successful update (a failed newer one
is skipped; none, or one without a commit, is an error); a preview that exits 0 is no drift, one
that reports unexpected changes is drift with its diff written to the report (exit 3), any other
failure (an expired credential, an unreachable cluster) is an error, never drift (exit 1, one
line); the preview runs in the deployed commit's checkout with refresh and expect-no-changes.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from ops import drift

HISTORY = [
    {"result": "failed", "environment": {"git.head": "f" * 40}},
    {"result": "succeeded", "environment": {"git.head": "a" * 40}},
    {"result": "succeeded", "environment": {"git.head": "b" * 40}},
]


@pytest.fixture
def fake_pulumi(tmp_path, monkeypatch):
    """`pulumi` that logs its argv and cwd, prints $FAKE_OUT, exits with $FAKE_CODE."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    script = bin_dir / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps([os.getcwd(), sys.argv[1:]]) + '\\n')\n"
        "sys.stdout.write(os.environ.get('FAKE_OUT', ''))\n"
        "sys.stderr.write(os.environ.get('FAKE_ERR', ''))\n"
        "sys.exit(int(os.environ.get('FAKE_CODE', '0')))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def calls(log: Path) -> list:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_the_deployed_commit_is_the_newest_successful_update():
    assert drift.deployed_commit(HISTORY) == "a" * 40
    with pytest.raises(drift.DriftError, match="no successful update"):
        drift.deployed_commit([{"result": "failed"}])
    with pytest.raises(drift.DriftError, match="no git commit"):
        drift.deployed_commit([{"result": "succeeded", "environment": {}}])


def test_deployed_commit_command(fake_pulumi, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_OUT", json.dumps(HISTORY))
    assert drift.main(["deployed-commit", "--stack", "prod"]) == 0
    assert capsys.readouterr().out.strip() == "a" * 40
    assert calls(fake_pulumi)[0][1][:5] == ["stack", "history", "--stack", "prod", "--json"]


def test_no_drift(fake_pulumi, tmp_path, capsys):
    report = tmp_path / "r.txt"
    program = tmp_path / "deployed"
    program.mkdir()
    assert drift.main(["check", "--stack", "stg", "--program-dir", str(program),
                       "--report", str(report)]) == drift.NO_DRIFT
    (cwd, argv), = calls(fake_pulumi)
    assert cwd == str(program)
    assert argv == ["preview", "--stack", "stg", "--refresh", "--diff", "--expect-no-changes",
                    "--non-interactive"]
    assert not report.exists() and capsys.readouterr().out == "stg: no drift\n"


def test_drift_is_reported_with_its_diff(fake_pulumi, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_CODE", "255")
    monkeypatch.setenv("FAKE_OUT", "~ kubernetes:apps/v1:Deployment harbor-core [diff: ~spec]\n")
    monkeypatch.setenv("FAKE_ERR", "error: no changes were expected but changes were proposed\n")
    report = tmp_path / "r.txt"
    assert drift.main(["check", "--stack", "prod", "--report", str(report)]) == drift.DRIFT
    assert report.read_text() == "~ kubernetes:apps/v1:Deployment harbor-core [diff: ~spec]\n"


def test_an_error_is_not_drift(fake_pulumi, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FAKE_CODE", "255")
    monkeypatch.setenv("FAKE_ERR", "warning: x\nerror: failed to decrypt: incorrect passphrase\n")
    report = tmp_path / "r.txt"
    assert drift.main(["check", "--stack", "prod", "--report", str(report)]) == drift.ERROR
    err = capsys.readouterr().err
    assert err == ("prod: error, not drift: pulumi preview exit 255: error: failed to decrypt: "
                   "incorrect passphrase\n")
    assert not report.exists()


def test_a_missing_pulumi_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert drift.main(["deployed-commit", "--stack", "prod"]) == drift.ERROR
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("prod: error, not drift: pulumi stack history: FileNotFoundError")
