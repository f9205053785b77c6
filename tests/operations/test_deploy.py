"""`ops.deploy` and `ops.restore` end to end, against a fake `pulumi` and a real git repository.

Each test runs in a copy of a temporary git repository holding the committed stack files, its
commit tagged with the prod stack's GitOps pin (so the dirty-tree, tag and release checks are the
real ones). A fake `pulumi` first on PATH appends its argv as one JSON line to a log and behaves
per environment variables: FAKE_PULUMI_FAIL (comma-separated verbs: preview, export, up, import,
cancel) exits 3 with an error on stderr; `stack export --file X` writes a small export to X (an
empty file with FAKE_PULUMI_EMPTY_EXPORT); FAKE_PULUMI_CHANGES makes `preview
--expect-no-changes` report changes; FAKE_PULUMI_LOCK names a lock file that makes `up` and
`stack import` report a lock until `cancel` removes it (FAKE_PULUMI_LOCK_STUCK: `cancel` finds no
update in progress and the lock stays). The health gate is replaced by a recorder. Verifies the
exact pulumi command sequence of a deploy and of a restore, and that every refusal or failure
stops before what it must stop (no export, no up, no gate) and prints the restore command when
the state may need it.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from components.config import read_stack_file
from ops import deploy, health_gate, restore

ROOT = Path(__file__).resolve().parents[2]
PROD_TAG = read_stack_file(ROOT / "Pulumi.prod.yaml")["gitops"]["target_revision"]
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
}

FAKE_PULUMI = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
verb = args[1] if args[0] == "stack" else args[0]
lock = os.environ.get("FAKE_PULUMI_LOCK", "")
stuck = os.environ.get("FAKE_PULUMI_LOCK_STUCK")
def fail(message, code=3):
    print("some earlier output", file=sys.stderr)
    print(message, file=sys.stderr)
    sys.exit(code)
if verb == "cancel" and lock and os.path.exists(lock) and not stuck:
    os.remove(lock)
    print("The currently running update has been canceled!")
    sys.exit(0)
if verb == "cancel":
    fail("error: no update in progress", 255)
if verb in ("up", "import") and lock and os.path.exists(lock):
    fail("error: the stack is currently locked by 1 lock(s). Either wait or run pulumi cancel", 255)
if verb in os.environ.get("FAKE_PULUMI_FAIL", "").split(","):
    fail(f"error: fake {verb} failed")
if verb == "export":
    with open(args[args.index("--file") + 1], "w") as export:
        if not os.environ.get("FAKE_PULUMI_EMPTY_EXPORT"):
            export.write('{"version": 3, "deployment": {}}')
if verb == "preview" and "--expect-no-changes" in args and os.environ.get("FAKE_PULUMI_CHANGES"):
    print("    ~ 1 to update")
    fail("error: no changes were expected but changes were proposed", 255)
print(f"fake pulumi {verb}: ok")
"""


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True,
                            capture_output=True, text=True, timeout=30)
    return result.stdout.strip()


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("template") / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.stg.yaml"):
        shutil.copy(ROOT / name, repo / name)
    git(repo, "add", ".")
    git(repo, "-c", "commit.gpgSign=false", "commit", "--quiet", "-m", "release")
    git(repo, "-c", "tag.gpgSign=false", "tag", PROD_TAG)
    return repo


@dataclass
class Site:
    """The test's repository, its pulumi log and the health gate's recorded calls."""

    repo: Path
    log: Path
    gate_calls: list[list[str]] = field(default_factory=list)
    gate_result: Callable[[], int] = lambda: 0

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def sha(self) -> str:
        return git(self.repo, "rev-parse", "--short", "HEAD")

    def commit(self, tag: str | None = None) -> None:
        (self.repo / "CHANGELOG").write_text(f"change {len(git(self.repo, 'log', '--oneline'))}\n")
        git(self.repo, "add", ".")
        git(self.repo, "-c", "commit.gpgSign=false", "commit", "--quiet", "-m", "change")
        if tag:
            git(self.repo, "-c", "tag.gpgSign=false", "tag", tag)


@pytest.fixture
def site(template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    repo = tmp_path / "repo"
    shutil.copytree(template_repo, repo, symlinks=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(f"#!{sys.executable}\n{FAKE_PULUMI}")
    fake.chmod(0o755)
    result = Site(repo=repo, log=tmp_path / "pulumi.log")
    for name in [n for n in os.environ if n.startswith("FAKE_PULUMI_")]:
        monkeypatch.delenv(name)
    for name in ("CI", "GITHUB_ACTOR", "GITHUB_REF_NAME", "PLATE_BACKUP_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(result.log))
    monkeypatch.setenv("USER", "alice")
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    def gate(argv: list[str] | None = None) -> int:
        result.gate_calls.append(list(argv or []))
        return result.gate_result()

    monkeypatch.setattr(health_gate, "main", gate)
    return result


def typed(monkeypatch: pytest.MonkeyPatch, text: str, tty: bool = False) -> None:
    class Stdin(io.StringIO):
        def isatty(self) -> bool:
            return tty

    monkeypatch.setattr(sys, "stdin", Stdin(text))


def preview_argv(stack: str) -> list[str]:
    return ["preview", "--stack", stack, "--diff", "--policy-pack", "policy"]


def backups(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json")) if directory.exists() else []


def test_ci_deploy_of_a_release_tag_runs_preview_export_up_and_the_gate(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    monkeypatch.setenv("CI", "true")
    sha = site.sha()
    assert deploy.main(["--stack", "prod", "--yes"]) == 0
    out = capfd.readouterr().out
    [backup] = backups(site.repo / "backups")
    assert re.fullmatch(rf"prod-\d{{8}}T\d{{6}}Z-{sha}\.json", backup.name)
    assert json.loads(backup.read_text()) == {"version": 3, "deployment": {}}
    assert site.calls() == [
        preview_argv("prod"),
        ["stack", "export", "--stack", "prod", "--file", str(Path("backups") / backup.name)],
        ["up", "--stack", "prod", "--yes", "--skip-preview=false", "--policy-pack", "policy",
         "--message", f"prod {PROD_TAG} {sha} by alice"],
    ]
    # the gate requires the Applications to be synced to the deployed commit
    assert site.gate_calls == [["--stack", "prod", "--revision", sha]]
    assert [line[:5] for line in out.splitlines() if line.startswith("[")] == [
        "[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"]
    assert "fake pulumi preview: ok" in out and "fake pulumi up: ok" in out
    assert f"deployed prod {PROD_TAG} {sha}" in out
    # the backup folder inside the checkout ignores itself: the next deploy finds a clean tree
    assert git(site.repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_typing_the_name_deploys_a_branch_of_a_non_production_stack(
        site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    site.commit()  # untagged: fine for stg
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    typed(monkeypatch, "stg\n", tty=True)
    assert deploy.main(["--stack", "stg", "--backup-dir", str(tmp_path / "b"),
                        "--skip-health"]) == 0
    [preview, export, up] = site.calls()
    assert preview == preview_argv("stg") and export[:2] == ["stack", "export"]
    assert up[-1] == f"stg main {site.sha()} by octocat"
    assert len(backups(tmp_path / "b")) == 1 and site.gate_calls == []


@pytest.mark.parametrize("answer", ["stg\n", "PROD\n", "", "yes\n"])
def test_a_wrong_confirmation_exports_nothing_and_runs_no_up(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        answer: str):
    typed(monkeypatch, answer, tty=True)
    assert deploy.main(["--stack", "prod"]) == 1
    assert site.calls() == [preview_argv("prod")]
    assert backups(site.repo / "backups") == [] and site.gate_calls == []
    assert "aborted" in capfd.readouterr().err


def test_yes_is_refused_at_a_terminal_outside_ci(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    typed(monkeypatch, "", tty=True)
    assert deploy.main(["--stack", "prod", "--yes"]) == 1
    assert site.calls() == []
    assert "--yes: it is for CI only" in capfd.readouterr().err


@pytest.mark.parametrize("failure, message", [
    ({"FAKE_PULUMI_FAIL": "export"}, "exit code 3: error: fake export failed"),
    ({"FAKE_PULUMI_EMPTY_EXPORT": "1"}, "is missing or empty: not running up"),
])
def test_a_failed_backup_stops_before_up(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path, failure: dict[str, str], message: str):
    monkeypatch.setenv("CI", "true")
    for name, value in failure.items():
        monkeypatch.setenv(name, value)
    assert deploy.main(["--stack", "prod", "--yes", "--backup-dir", str(tmp_path / "b")]) == 1
    assert [call[0] for call in site.calls()] == ["preview", "stack"]
    assert site.gate_calls == []
    [line] = [line for line in capfd.readouterr().err.splitlines() if line.startswith("deploy:")]
    assert message in line


def test_a_failed_up_prints_the_restore_command_and_skips_the_gate(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("FAKE_PULUMI_FAIL", "up")
    assert deploy.main(["--stack", "prod", "--yes", "--backup-dir", str(tmp_path / "b")]) == 1
    [backup] = backups(tmp_path / "b")
    assert [call[0] for call in site.calls()] == ["preview", "stack", "up"]
    assert site.gate_calls == []
    err = capfd.readouterr().err
    assert re.search(r"deploy: pulumi up --stack prod .*: exit code 3: error: fake up failed", err)
    assert f"uv run python -m ops.restore --stack prod --file {backup}\n" in err


@pytest.mark.parametrize("gate", [lambda: 1, lambda: 1 // 0])
def test_a_failed_health_gate_prints_the_restore_command(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path, gate: Callable[[], int]):
    monkeypatch.setenv("CI", "true")
    site.gate_result = gate
    assert deploy.main(["--stack", "prod", "--yes", "--backup-dir", str(tmp_path / "b")]) == 1
    [backup] = backups(tmp_path / "b")
    assert [call[0] for call in site.calls()] == ["preview", "stack", "up"]
    assert site.gate_calls == [["--stack", "prod", "--revision", site.sha()]]
    err = capfd.readouterr().err
    assert "the health gate failed" in err
    assert f"uv run python -m ops.restore --stack prod --file {backup}\n" in err


@pytest.mark.parametrize("dirt", ["untracked", "modified"])
def test_a_dirty_tree_is_refused(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        dirt: str):
    monkeypatch.setenv("CI", "true")
    if dirt == "untracked":
        (site.repo / "notes.txt").write_text("scratch\n")
    else:
        with (site.repo / "Pulumi.prod.yaml").open("a") as stack_file:
            stack_file.write("# local edit\n")
    assert deploy.main(["--stack", "prod", "--yes"]) == 1
    assert site.calls() == []
    assert "refusing: the git tree is dirty (1 changed or untracked files" in capfd.readouterr().err


def test_an_untagged_production_commit_is_refused(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    monkeypatch.setenv("CI", "true")
    site.commit()
    assert deploy.main(["--stack", "prod", "--yes"]) == 1
    assert site.calls() == []
    assert "production stack and commit" in capfd.readouterr().err


def test_a_tag_that_is_not_the_gitops_pin_is_refused(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    monkeypatch.setenv("CI", "true")
    site.commit(tag="v99.0.0")
    assert deploy.main(["--stack", "prod", "--yes"]) == 1
    assert site.calls() == []
    assert "release check: tag 'v99.0.0' does not match" in capfd.readouterr().err


def test_the_command_line_reads_the_typed_name_from_stdin(site: Site):
    result = subprocess.run(
        [sys.executable, "-m", "ops.deploy", "--stack", "prod"], input="stg\n", text=True,
        capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1, result.stderr
    assert site.calls() == [preview_argv("prod")]
    assert "aborted" in result.stderr


def export_file(tmp_path: Path, content: str = '{"version": 3, "deployment": {}}') -> Path:
    path = tmp_path / "prod-20260101T000000Z-abc1234.json"
    path.write_text(content)
    return path


def restore_calls(path: Path, stack: str = "prod") -> dict[str, list[str]]:
    return {
        "import": ["stack", "import", "--stack", stack, "--file", str(path)],
        "cancel": ["cancel", "--stack", stack, "--yes"],
        "check": ["preview", "--stack", stack, "--refresh", "--expect-no-changes"],
    }


def test_restore_imports_then_checks_for_no_changes(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    path = export_file(tmp_path)
    typed(monkeypatch, "prod\n", tty=True)
    assert restore.main(["--stack", "prod", "--file", str(path)]) == 0
    expected = restore_calls(path)
    assert site.calls() == [expected["import"], expected["check"]]
    assert "the cluster matches the restored state of prod" in capfd.readouterr().out


def test_restore_reports_a_cluster_that_differs(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    monkeypatch.setenv("FAKE_PULUMI_CHANGES", "1")
    path = export_file(tmp_path)
    assert restore.main(["--stack", "prod", "--file", str(path), "--yes"]) == 1
    assert [call[0] for call in site.calls()] == ["stack", "preview"]
    err = capfd.readouterr().err
    assert "exit code 255: error: no changes were expected" in err
    assert "roll back by deploying the previous tag" in err


def test_restore_cancels_a_stale_lock_and_imports_again(
        site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    lock = tmp_path / "lock"
    lock.write_text("")
    monkeypatch.setenv("FAKE_PULUMI_LOCK", str(lock))
    path = export_file(tmp_path)
    assert restore.main(["--stack", "prod", "--file", str(path), "--yes"]) == 0
    expected = restore_calls(path)
    assert site.calls() == [expected["import"], expected["cancel"], expected["import"],
                            expected["check"]]
    assert not lock.exists()


def test_restore_ignores_nothing_to_cancel_and_reports_the_lock_that_stays(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    lock = tmp_path / "lock"
    lock.write_text("")
    monkeypatch.setenv("FAKE_PULUMI_LOCK", str(lock))
    monkeypatch.setenv("FAKE_PULUMI_LOCK_STUCK", "1")
    path = export_file(tmp_path)
    assert restore.main(["--stack", "prod", "--file", str(path), "--yes"]) == 1
    expected = restore_calls(path)
    assert site.calls() == [expected["import"], expected["cancel"], expected["import"]]
    captured = capfd.readouterr()
    assert "no update in progress on prod" in captured.out
    assert "restore: pulumi stack import" in captured.err and "locked by 1 lock(s)" in captured.err


@pytest.mark.parametrize("content, answer", [
    ('{"version": 3, "deployment": {}}', "stg\n"),
    ("", "prod\n"),
    ("not json", "prod\n"),
    ('{"version": 3}', "prod\n"),
])
def test_restore_refuses_without_the_name_or_a_real_export(
        site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str, answer: str):
    typed(monkeypatch, answer)
    assert restore.main(["--stack", "prod", "--file", str(export_file(tmp_path, content))]) == 1
    assert site.calls() == []


def test_a_failure_is_one_line_with_the_command_exit_code_and_last_stderr_line():
    script = "import sys; print('first', file=sys.stderr); print('last', file=sys.stderr); exit(4)"
    with pytest.raises(deploy.CommandFailed) as failed:
        deploy.run([sys.executable, "-c", script], 30)
    command = shlex.join([sys.executable, "-c", script])
    assert str(failed.value) == f"{command}: exit code 4: last"
    with pytest.raises(deploy.CommandFailed, match=r"cannot run"):
        deploy.run(["/nonexistent/pulumi", "up"], 30)


def test_a_command_that_hangs_is_stopped_at_its_timeout():
    with pytest.raises(deploy.CommandFailed, match=r"timed out after 0.5 s"):
        deploy.run([sys.executable, "-c", "import time; time.sleep(60)"], 0.5)


def test_no_function_in_the_deploy_tools_is_longer_than_80_lines():
    too_long = []
    for path in (ROOT / "ops" / "deploy.py", ROOT / "ops" / "restore.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 80:
                    too_long.append(f"{path.name}:{node.lineno} {node.name} ({length} lines)")
    assert too_long == []
