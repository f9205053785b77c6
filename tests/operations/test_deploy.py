"""`ops.deploy` and `ops.restore` end to end, against the `pulumi` stand-in and a real git repo.

Each test runs in a copy of a temporary git repository holding the committed stack files, its
commit tagged with the prod stack's GitOps pin (so the dirty-tree, tag and release checks are the
real ones). `pulumi` is the stand-in of tests/operations/standins/pulumi.py (the pinned 3.272.0's
exit codes, JSON and files, cited there) over a self-managed `file://` backend outside the
repository: each stack's program declares two resources and the state starts empty. The health
gate is replaced by a recorder and `ops.prebackup` by a fake module (the real one may not exist
yet, and must never run here). Verifies the pulumi commands of every mode, that the applied plan
is the previewed one, that every refusal stops before what it must stop, the advice after each
kind of failure, Ctrl-C, and the audit trail.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.config import parse_platform_config, read_stack_file
from ops import deploy, health_gate, pin_digests, release_check, restore
from tests.harness import GIT_ENV
from tests.operations.standins.pulumi import Backend, install

ROOT = Path(__file__).resolve().parents[2]
PROD_TAG = read_stack_file(ROOT / "Pulumi.prod.yaml")["gitops"]["target_revision"]
NAMESPACE = "kubernetes:core/v1:Namespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


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


def released_root(root: Path) -> Path:
    """What the release check reads of a release commit: the stack files and the charts' values,
    the prod images' digests recorded (as `ops.pin_digests` writes them)."""
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.stg.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, root / name)
    for path in (ROOT / "helm" / "applications").glob("*/values*.yaml"):
        target = root / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    cfg = parse_platform_config(read_stack_file(root / "Pulumi.prod.yaml"))
    for image in pin_digests.images(cfg, root):
        image.values_file.write_text(pin_digests.with_digest(
            image.values_file.read_text(), "sha256:" + "ab" * 32, image.tag))
    assert pin_digests.digest_problems(cfg, root) == []
    return root


@dataclass
class Site:
    """The test's repository, its pulumi backend, the gate's and the backups' recorded calls."""

    repo: Path
    backend: Backend
    gate_calls: list[list[str]] = field(default_factory=list)
    gate_result: Callable[[], int] = lambda: 0
    backup_calls: list[tuple[str, str, str]] = field(default_factory=list)
    seen_at_backup: list[list[list[str]]] = field(default_factory=list)

    def calls(self) -> list[list[str]]:
        return self.backend.calls()

    def verbs(self) -> list[str]:
        return [" ".join(c[:2]) if c[0] == "stack" else c[0] for c in self.calls()]

    def sha(self) -> str:
        return git(self.repo, "rev-parse", "HEAD")

    def commit(self, tag: str | None = None) -> None:
        (self.repo / "CHANGELOG").write_text(f"change {len(git(self.repo, 'log', '--oneline'))}\n")
        git(self.repo, "add", ".")
        git(self.repo, "-c", "commit.gpgSign=false", "commit", "--quiet", "-m", "change")
        if tag:
            git(self.repo, "-c", "tag.gpgSign=false", "tag", tag)

    def urns(self, stack: str) -> tuple[str, str]:
        return (self.backend.urn(stack, NAMESPACE, "plate"),
                self.backend.urn(stack, DEPLOYMENT, "harbor"))

    def deployed(self, stack: str) -> dict[str, Any]:
        return {urn: r["inputs"] for urn, r in self.backend.resources(stack).items()}

    def program(self, stack: str) -> dict[str, Any]:
        return dict(self.backend.world()[stack]["program"])

    def updates(self, stack: str) -> list[dict[str, Any]]:
        return self.backend.history(stack)


def fake_prebackup(site: Site, fail: str | None = None) -> types.ModuleType:
    module = types.ModuleType("ops.prebackup")

    class BackupFailed(Exception):
        pass

    def take(stack: str, kube_context: str, label: str) -> list[str]:
        site.backup_calls.append((stack, kube_context, label))
        site.seen_at_backup.append(site.calls())
        if fail:
            raise BackupFailed(fail)
        return [f"openbao raft snapshot {label}.snap verified",
                f"velero backup {label} Completed"]

    module.BackupFailed = BackupFailed  # type: ignore[attr-defined]
    module.take = take  # type: ignore[attr-defined]
    return module


@pytest.fixture
def site(template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    repo = tmp_path / "repo"
    shutil.copytree(template_repo, repo, symlinks=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    backend = install(bin_dir, tmp_path / "state")
    result = Site(repo=repo, backend=backend)
    for stack in ("prod", "stg"):
        namespace, harbor = result.urns(stack)
        backend.set_world(stack, program={namespace: {"name": "plate"},
                                          harbor: {"replicas": 2}}, cluster={})
    for name in [n for n in os.environ if n.startswith(("PLATE_", "GITHUB_", "PULUMI_"))]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("CI", raising=False)
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_BACKEND_URL", backend.url)
    monkeypatch.setenv("USER", "alice")
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setitem(sys.modules, "ops.prebackup", fake_prebackup(result))
    monkeypatch.setattr(release_check, "ROOT", released_root(tmp_path / "released"))

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


def preview_argv(stack: str, plan: str | None = None) -> list[str]:
    argv = ["preview", "--stack", stack, "--diff", "--policy-pack", "policy"]
    return argv + (["--save-plan", plan] if plan else [])


def history_argv(stack: str, page: int = 1) -> list[str]:
    return ["stack", "history", "--stack", stack, "--json", "--show-secrets=false",
            "--page-size", "50", "--page", str(page)]


def up_argv(stack: str, plan: str, message: str) -> list[str]:
    return ["up", "--stack", stack, "--yes", "--skip-preview=false", "--plan", plan,
            "--policy-pack", "policy", "--message", message]


def exports(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json")) if directory.exists() else []


def plan_only(site: Site, stack: str, plan: Path) -> None:
    assert deploy.main(["--stack", stack, "--plan-only", "--plan-file", str(plan)]) == 0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --- the modes: approved = applied ------------------------------------------------------------


def test_by_hand_the_typed_name_applies_exactly_the_previewed_plan(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    typed(monkeypatch, "prod\n", tty=True)
    sha = site.sha()
    assert deploy.main(["--stack", "prod"]) == 0
    out = capfd.readouterr().out
    calls = site.calls()
    plan = calls[1][-1]
    message = f"prod {PROD_TAG} {sha} by alice"
    assert calls == [
        ["version"],
        preview_argv("prod", plan),
        history_argv("prod"),
        ["stack", "export", "--stack", "prod", "--file",
         str(Path("backups") / f"prod-state-before-{sha}.json")],
        up_argv("prod", plan, message),
    ]
    assert not Path(plan).exists()  # the temporary plan is removed afterwards
    assert site.deployed("prod") == site.program("prod")
    [update] = site.updates("prod")
    assert update["result"] == "succeeded" and update["message"] == message
    assert update["environment"]["git.head"] == sha and update["environment"]["updatePlan"]
    assert site.gate_calls == [["--stack", "prod", "--revision", sha, "--timeout", "900"]]
    steps = [line.split("]")[0] + "]" for line in out.splitlines() if line.startswith("[")]
    assert steps == ["[checks]", "[preview]", "[plan]", "[export]", "[backups]", "[backups]",
                     "[up]", "[gate]"]
    assert f"Type the stack name (prod) to apply this plan ({PROD_TAG}, {sha[:12]}): [confirm] " \
           f"confirmed" in out
    assert f"deployed prod {PROD_TAG} {sha}" in out
    # the backup folder inside the checkout ignores itself: the next deploy finds a clean tree
    assert git(site.repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_plan_only_saves_the_plan_and_its_text_and_applies_nothing(
        site: Site, tmp_path: Path, capfd: pytest.CaptureFixture[str]):
    plan = tmp_path / "prod.plan.json"
    plan_only(site, "prod", plan)
    assert site.calls() == [["version"], preview_argv("prod", str(plan))]
    saved = json.loads(plan.read_text())
    assert saved["manifest"]["version"] == "v3.272.0" and len(saved["resourcePlans"]) == 2
    text = Path(f"{plan}.txt").read_text()
    assert "harbor create" in text and f"Update plan written to '{plan}'" in text
    assert site.deployed("prod") == {} and site.updates("prod") == []
    assert site.backup_calls == [] and site.gate_calls == []
    assert "nothing applied" in capfd.readouterr().out


def test_ci_applies_the_approved_plan_of_the_approved_commit_with_the_audit_trail(
        site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    plan = tmp_path / "prod.plan.json"
    plan_only(site, "prod", plan)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("PLATE_AUDIT_PR", "42")
    monkeypatch.setenv("PLATE_AUDIT_PR_TITLE", "Harbor\n2 replicas")
    monkeypatch.setenv("PLATE_AUDIT_REASON", "release v1")
    sha = site.sha()
    assert deploy.main(["--stack", "prod", "--yes", "--apply-plan", str(plan), "--expect-sha", sha,
                        "--backup-dir", str(tmp_path / "b")]) == 0
    message = f"prod {PROD_TAG} {sha} by octocat; PR #42 Harbor 2 replicas; reason: release v1"
    assert site.calls()[2:] == [
        ["version"],
        history_argv("prod"),
        ["stack", "export", "--stack", "prod", "--file",
         str(tmp_path / "b" / f"prod-state-before-{sha}.json")],
        up_argv("prod", str(plan), message),
    ]
    assert [p.name for p in exports(tmp_path / "b")] == [f"prod-state-before-{sha}.json"]
    assert site.updates("prod")[0]["message"] == message
    assert site.deployed("prod") == site.program("prod")


def test_the_plan_constrains_up_a_program_changed_since_is_not_applied(
        site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    plan = tmp_path / "prod.plan.json"
    plan_only(site, "prod", plan)
    _, harbor = site.urns("prod")
    site.backend.set_world("prod", program={**site.program("prod"), harbor: {"replicas": 9}})
    monkeypatch.setenv("CI", "true")
    assert deploy.main(["--stack", "prod", "--yes", "--apply-plan", str(plan),
                        "--expect-sha", site.sha()]) == 1
    assert site.verbs()[-2:] == ["up", "stack export"]  # the state probed after the failure
    assert site.updates("prod")[0]["result"] == "failed"
    assert {"replicas": 9} not in site.deployed("prod").values()


@pytest.mark.parametrize("problem", ["other commit", "missing plan", "short sha"])
def test_apply_refuses_another_commit_or_a_missing_plan(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path, problem: str):
    plan = tmp_path / "prod.plan.json"
    plan_only(site, "prod", plan)
    monkeypatch.setenv("CI", "true")
    sha = site.sha()
    expect = {"other commit": "f" * 40, "short sha": sha[:12]}.get(problem, sha)
    if problem == "missing plan":
        plan.unlink()
    before = len(site.calls())
    argv = ["--stack", "prod", "--yes", "--apply-plan", str(plan), "--expect-sha", expect]
    if problem == "short sha":
        with pytest.raises(SystemExit) as usage:
            deploy.main(argv)
        assert usage.value.code == 2
    else:
        assert deploy.main(argv) == 1
    assert [c[0] for c in site.calls()[before:]] in ([], ["version"])
    err = capfd.readouterr().err
    assert {"other commit": f"HEAD is {sha}, not the approved", "missing plan": "does not exist",
            "short sha": "not a full commit SHA"}[problem] in err


def test_a_plan_older_than_the_last_update_is_refused(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    stale = tmp_path / "prod.plan.json"
    plan_only(site, "prod", stale)
    monkeypatch.setenv("CI", "true")
    assert deploy.main(["--stack", "prod", "--yes"]) == 0  # another update since
    updates = len(site.updates("prod"))
    assert deploy.main(["--stack", "prod", "--yes", "--apply-plan", str(stale),
                        "--expect-sha", site.sha()]) == 1
    assert site.verbs()[-1] == "stack history" and len(site.updates("prod")) == updates
    assert re.search(r"refusing: the plan .* is older than the last update of prod \(update "
                     r"succeeded at", capfd.readouterr().err)


def test_preview_only_saves_no_plan_and_applies_nothing(
        site: Site, capfd: pytest.CaptureFixture[str]):
    assert deploy.main(["--stack", "stg", "--preview-only"]) == 0
    assert site.calls() == [["version"], preview_argv("stg")]
    assert site.updates("stg") == [] and "harbor create" in capfd.readouterr().out


@pytest.mark.parametrize("answer", ["stg\n", "PROD\n", "", "yes\n"])
def test_a_wrong_confirmation_exports_nothing_and_runs_no_up(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        answer: str):
    typed(monkeypatch, answer, tty=True)
    assert deploy.main(["--stack", "prod"]) == 1
    assert site.verbs() == ["version", "preview"]
    assert exports(site.repo / "backups") == [] and site.gate_calls == []
    assert "aborted" in capfd.readouterr().err


def test_yes_is_refused_at_a_terminal_outside_ci(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    typed(monkeypatch, "", tty=True)
    assert deploy.main(["--stack", "prod", "--yes"]) == 1
    assert site.calls() == []
    assert "--yes: it is for CI only" in capfd.readouterr().err


def test_the_command_line_reads_the_typed_name_from_stdin(site: Site):
    # ops.deploy's main in a process of its own, the release check reading the site's release
    # commit (its recorded image digests) as the fixture does in this process
    run = ("import sys; from pathlib import Path; from ops import deploy, release_check; "
           "release_check.ROOT = Path(sys.argv[1]); sys.exit(deploy.main(['--stack', 'prod']))")
    result = subprocess.run(
        [sys.executable, "-c", run, str(release_check.ROOT)], input="stg\n", text=True,
        capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1, result.stderr
    assert site.verbs() == ["version", "preview"]
    assert "aborted" in result.stderr


def test_help_lists_prerequisites_steps_and_modes():
    result = subprocess.run([sys.executable, "-m", "ops.deploy", "--help"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0
    text = result.stdout
    pinned = (ROOT / ".pulumi.version").read_text().strip()
    for needed in (f"Pinned Pulumi CLI: {pinned}", "pulumi login", "PULUMI_CONFIG_PASSPHRASE",
                   "kube_context", "--plan-only --plan-file F", "--apply-plan F --expect-sha SHA",
                   "--preview-only", "[export]", "[backups]", "[gate]", "--skip-backups"):
        assert needed in text, needed


def test_the_time_budget_covers_every_timeout_and_is_printed_first(
        site: Site, capfd: pytest.CaptureFixture[str]):
    assert isinstance(deploy.TOTAL_BUDGET_MINUTES, int)
    timeouts = (deploy.PREVIEW_TIMEOUT + deploy.EXPORT_TIMEOUT + deploy.PREBACKUP_TIMEOUT
                + deploy.UP_TIMEOUT + deploy.GATE_TIMEOUT)
    assert deploy.TOTAL_BUDGET_MINUTES * 60 >= timeouts
    deploy.main(["--stack", "stg", "--preview-only"])
    first = capfd.readouterr().out.splitlines()[0]
    assert first.startswith(f"time budget: at most {deploy.TOTAL_BUDGET_MINUTES} min")


def test_the_backups_budget_covers_the_waits_of_ops_prebackup():
    real = importlib.import_module("ops.prebackup")
    assert deploy.PREBACKUP_TIMEOUT >= (
        2 * real.SNAPSHOT_TIMEOUT + real.BACKUP_TIMEOUT + real.SNAPSHOT_COPY_TIMEOUT
    )


def test_another_pulumi_version_is_refused(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    pinned = tmp_path / ".pulumi.version"
    pinned.write_text("3.999.0\n")
    monkeypatch.setattr(deploy, "PULUMI_VERSION_FILE", pinned)
    assert deploy.main(["--stack", "stg", "--preview-only"]) == 1
    assert site.calls() == [["version"]]
    assert "pulumi 3.272.0 is on PATH, the project pins 3.999.0" in capfd.readouterr().err


# --- the existing safeties --------------------------------------------------------------------


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
    assert site.calls() == [["version"]]
    assert "refusing: the git tree is dirty (1 changed or untracked files" in capfd.readouterr().err


def test_an_untagged_production_commit_is_refused(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    monkeypatch.setenv("CI", "true")
    site.commit()
    assert deploy.main(["--stack", "prod", "--yes"]) == 1
    assert site.calls() == [["version"]]
    assert "production stack and commit" in capfd.readouterr().err


def test_a_tag_that_is_not_the_gitops_pin_is_refused(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    monkeypatch.setenv("CI", "true")
    site.commit(tag="v99.0.0")
    assert deploy.main(["--stack", "prod", "--yes"]) == 1
    assert site.calls() == [["version"]]
    assert "release check: tag 'v99.0.0' does not match" in capfd.readouterr().err


def test_a_failed_state_export_stops_before_backups_and_up(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    monkeypatch.setenv("CI", "true")
    site.backend.set_world("prod", fail={"export": {"message": "failed to load checkpoint: x"}})
    assert deploy.main(["--stack", "prod", "--yes"]) == 1
    assert site.verbs()[-1] == "stack export" and site.backup_calls == []
    [line] = [line for line in capfd.readouterr().err.splitlines() if line.startswith("deploy:")]
    assert "exit code 1: error: failed to load checkpoint: x: not running up" in line


# --- backups before prod ------------------------------------------------------------------------


def test_production_backups_run_after_the_export_and_before_up(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    monkeypatch.setenv("CI", "true")
    assert deploy.main(["--stack", "prod", "--yes"]) == 0
    assert site.backup_calls == [("prod", "plate-prod", f"pre-deploy-{site.sha()[:12]}")]
    [seen] = site.seen_at_backup
    assert [c[:2] for c in seen][-1] == ["stack", "export"]  # exported, and no up yet
    out = capfd.readouterr().out
    assert "[backups] openbao raft snapshot" in out and "[backups] velero backup" in out


def test_no_backups_for_a_non_production_stack(site: Site, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CI", "true")
    assert deploy.main(["--stack", "stg", "--yes"]) == 0
    assert site.backup_calls == []


@pytest.mark.parametrize("module", ["failing", "absent"])
def test_a_failed_backup_stops_before_up(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        module: str):
    monkeypatch.setenv("CI", "true")
    replacement = fake_prebackup(site, fail="velero backup pre-deploy PartiallyFailed")
    monkeypatch.setitem(sys.modules, "ops.prebackup",
                        replacement if module == "failing" else None)  # type: ignore[arg-type]
    assert deploy.main(["--stack", "prod", "--yes"]) == 1
    assert "up" not in site.verbs() and site.updates("prod") == []
    [line] = [line for line in capfd.readouterr().err.splitlines() if line.startswith("deploy:")]
    assert line.startswith("deploy: pre-deploy backups failed: ")
    assert ("velero backup pre-deploy PartiallyFailed" if module == "failing"
            else "ModuleNotFoundError") in line
    assert '--skip-backups "<reason>"' in line


def test_skipped_backups_are_recorded_in_the_update_message(
        site: Site, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CI", "true")
    assert deploy.main(["--stack", "prod", "--yes", "--skip-backups", "velero down, INC-7"]) == 0
    assert site.backup_calls == []
    assert site.updates("prod")[0]["message"].endswith("; backups skipped: velero down, INC-7")


# --- advice after a failure ---------------------------------------------------------------------


def test_a_failed_up_with_a_readable_state_says_rerun_and_never_restore(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    monkeypatch.setenv("CI", "true")
    _, harbor = site.urns("prod")
    site.backend.set_world("prod", fail_step={"at": harbor, "message": "quota exceeded"})
    assert deploy.main(["--stack", "prod", "--yes", "--backup-dir", str(tmp_path / "b")]) == 1
    sha = site.sha()
    assert site.verbs()[-2:] == ["up", "stack export"] and site.gate_calls == []
    assert len(site.deployed("prod")) == 1  # what up did before failing is recorded
    err = capfd.readouterr().err
    assert re.search(r"deploy: pulumi up --stack prod .*: exit code 1", err)
    assert "ops.restore" not in err
    assert (f"the state of prod is readable and consistent (exported to "
            f"{tmp_path / 'b' / f'prod-state-after-failed-up-{sha}.json'})") in err
    assert "so do not restore it" in err and "re-run (a new plan is made)" in err
    assert "uv run python -m ops.deploy --stack prod" in err


def test_a_failed_up_that_left_an_unreadable_state_prints_the_restore_command(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    monkeypatch.setenv("CI", "true")
    _, harbor = site.urns("prod")
    site.backend.set_world("prod", fail_step={"at": harbor, "truncate_checkpoint": True})
    assert deploy.main(["--stack", "prod", "--yes", "--backup-dir", str(tmp_path / "b")]) == 1
    backup = tmp_path / "b" / f"prod-state-before-{site.sha()}.json"
    err = capfd.readouterr().err
    assert "the state of prod is damaged: the state cannot be read" in err
    command = f"uv run python -m ops.restore --stack prod --file {backup} --state-unreadable"
    assert f"{command}\n" in err
    # without the flag the restore stops before importing anything: the damaged state cannot be
    # saved first
    args = shlex.split(command)[5:]
    before = len(site.calls())
    assert restore.main([*args[:-1], "--yes"]) == 1
    assert "re-run with --state-unreadable" in capfd.readouterr().err
    assert not [c for c in site.calls()[before:] if c[:2] == ["stack", "import"]]
    # the printed command really restores: the import puts the pre-update state back (the
    # cluster, which the failed up changed in part, then differs from it: exit 1 and the advice)
    assert restore.main([*args, "--yes", "--backup-dir", str(tmp_path / "saved")]) in (0, 1)
    assert ["stack", "import", "--stack", "prod", "--file", str(backup)] in site.calls()[before:]
    assert "[3/4] state of prod imported from" in capfd.readouterr().out


@pytest.mark.parametrize("gate", [lambda: 1, lambda: 1 // 0])
def test_a_failed_gate_after_a_successful_up_never_suggests_restoring(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        gate: Callable[[], int]):
    monkeypatch.setenv("CI", "true")
    assert deploy.main(["--stack", "stg", "--yes"]) == 0  # the release before: PROD_TAG's commit
    site.commit()
    _, harbor = site.urns("stg")
    site.backend.set_world("stg", program={**site.program("stg"), harbor: {"replicas": 3}})
    time.sleep(1.1)  # the history keeps whole seconds; a plan made in the same one is refused
    site.gate_result = gate
    assert deploy.main(["--stack", "stg", "--yes"]) == 1
    assert site.updates("stg")[0]["result"] == "succeeded"
    err = capfd.readouterr().err
    assert "the health gate failed after a successful up of stg main" in err
    assert "ops.restore" not in err and "do not restore the state export" in err
    assert "fix forward" in err and f"git checkout {PROD_TAG} && uv run python -m ops.deploy" in err


# --- Ctrl-C --------------------------------------------------------------------------------------


def deploy_in_a_process(stop_grace: float) -> subprocess.Popen[str]:
    code = ("import sys, ops.deploy as d; d.STOP_GRACE = float(sys.argv[1]); "
            "sys.exit(d.main(sys.argv[2:]))")
    return subprocess.Popen(
        [sys.executable, "-c", code, str(stop_grace), "--stack", "stg", "--yes", "--skip-health"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"})


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C, CI cancellation
def test_ctrl_c_during_up_is_forwarded_once_and_ends_with_one_line(site: Site, signum: int):
    site.backend.set_world("stg", step_seconds=1.0)
    proc = deploy_in_a_process(stop_grace=60)
    wait_for(lambda: bool(site.backend.locks("stg")), "up to take its lock")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "^C received; cancelling" in out
    [line] = [line for line in err.splitlines() if line.startswith("deploy:")]
    assert line.startswith("deploy: interrupted during up of stg: pulumi cancelled the update "
                           "(exit code 1) and released its lock; the state is readable and "
                           "consistent")
    assert line.endswith("next: re-run uv run python -m ops.deploy --stack stg")
    assert site.backend.locks("stg") == [] and site.updates("stg")[0]["result"] == "failed"
    assert len(site.deployed("stg")) == 1  # the step under way finished, no other started


def test_ctrl_c_when_pulumi_does_not_stop_kills_it_and_names_the_lock(site: Site):
    site.backend.set_world("stg", step_seconds=1.0, hang_on_cancel=True)
    proc = deploy_in_a_process(stop_grace=1)
    wait_for(lambda: bool(site.backend.locks("stg")), "up to take its lock")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    [line] = [line for line in err.splitlines() if line.startswith("deploy:")]
    assert "pulumi did not stop within 1 s and was killed, so its lock remains: once no update " \
           "runs, `pulumi cancel --stack stg --yes`" in line
    assert "with 1 interrupted operations (pending_operations)" in line
    assert len(site.backend.locks("stg")) == 1


# --- restore ------------------------------------------------------------------------------------


def deployed_export(site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An export of prod as first deployed; then the cluster and state move on (replicas 5)."""
    monkeypatch.setenv("CI", "true")
    assert deploy.main(["--stack", "prod", "--yes", "--backup-dir", str(tmp_path / "b")]) == 0
    export = tmp_path / "good.json"
    subprocess.run(["pulumi", "stack", "export", "--stack", "prod", "--file", str(export)],
                   check=True, timeout=60)
    _, harbor = site.urns("prod")
    site.backend.set_world("prod", program={**site.program("prod"), harbor: {"replicas": 5}})
    time.sleep(1.1)
    assert deploy.main(["--stack", "prod", "--yes", "--backup-dir", str(tmp_path / "b")]) == 0
    site.backend.set_world("prod", program={**site.program("prod"), harbor: {"replicas": 2}})
    return export


def restore_calls(path: Path, stack: str = "prod") -> dict[str, list[str]]:
    return {
        "import": ["stack", "import", "--stack", stack, "--file", str(path)],
        "cancel": ["cancel", "--stack", stack, "--yes"],
        "check": ["preview", "--stack", stack, "--refresh", "--expect-no-changes"],
    }


def test_restore_saves_the_current_state_imports_then_checks(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    export = deployed_export(site, monkeypatch, tmp_path)
    before = len(site.calls())
    current = dict(site.deployed("prod"))
    good = json.loads(export.read_text())["deployment"]["resources"]
    site.backend.set_world("prod", cluster={r["urn"]: r["inputs"] for r in good})  # rolled back
    typed(monkeypatch, "prod\n", tty=True)
    assert restore.main(["--stack", "prod", "--file", str(export),
                         "--backup-dir", str(tmp_path / "saved")]) == 0
    [saved] = exports(tmp_path / "saved")
    assert re.fullmatch(r"prod-state-overwritten-\d{8}T\d{6}Z\.json", saved.name)
    assert {r["urn"]: r["inputs"] for r in json.loads(saved.read_text())["deployment"]
            ["resources"]} == current
    expected = restore_calls(export)
    assert site.calls()[before:] == [
        ["stack", "export", "--stack", "prod", "--file", str(saved)],
        expected["import"], expected["check"]]
    assert "the cluster matches the restored state of prod" in capfd.readouterr().out


def test_restore_tells_a_differing_cluster_from_a_failed_check(
        site: Site, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        tmp_path: Path):
    export = deployed_export(site, monkeypatch, tmp_path)  # the cluster runs replicas 5
    assert restore.main(["--stack", "prod", "--file", str(export), "--yes"]) == 1
    err = capfd.readouterr().err
    assert "the cluster differs from it: roll back by deploying the previous tag" in err
    site.backend.set_world("prod", fail={"preview": {"message": "incorrect passphrase",
                                                     "code": 1}})
    assert restore.main(["--stack", "prod", "--file", str(export), "--yes"]) == 1
    err = capfd.readouterr().err
    assert "the check failed" in err and "exit code 1: error: incorrect passphrase" in err
    assert "roll back" not in err


def empty_export(site: Site, tmp_path: Path) -> Path:
    """An export of prod as it is (empty), with a program that declares nothing."""
    site.backend.set_world("prod", program={})
    export = tmp_path / "empty.json"
    subprocess.run(["pulumi", "stack", "export", "--stack", "prod", "--file", str(export)],
                   check=True, timeout=60)
    return export


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_restore_cancels_a_stale_lock_of_a_gone_process_and_imports_again(
        site: Site, capfd: pytest.CaptureFixture[str], tmp_path: Path):
    export = empty_export(site, tmp_path)
    lock = site.backend.write_lock("prod", dead_pid())
    before = len(site.calls())
    assert restore.main(["--stack", "prod", "--file", str(export), "--yes",
                         "--backup-dir", str(tmp_path / "saved")]) == 0
    expected = restore_calls(export)
    assert site.calls()[before + 1:] == [expected["import"], expected["cancel"],
                                         expected["import"], expected["check"]]
    assert not lock.exists()
    assert f"cancelling the lock file://{lock}" in capfd.readouterr().out


@pytest.mark.parametrize("owner", ["live here", "other host"])
def test_restore_refuses_a_lock_that_may_be_a_running_update_unless_forced(
        site: Site, capfd: pytest.CaptureFixture[str], tmp_path: Path, owner: str):
    export = empty_export(site, tmp_path)
    if owner == "live here":
        lock = site.backend.write_lock("prod", os.getpid())
    else:
        lock = site.backend.write_lock("prod", dead_pid(), hostname="ci-runner-7")
    argv = ["--stack", "prod", "--file", str(export), "--yes", "--backup-dir",
            str(tmp_path / "saved")]
    assert restore.main(argv) == 1
    assert "cancel" not in site.verbs() and lock.exists()
    err = capfd.readouterr().err
    assert "refusing to cancel the lock of prod: held by" in err and "--force-cancel" in err
    assert ("still running on this host" if owner == "live here" else "on another host") in err
    assert restore.main([*argv, "--force-cancel"]) == 0
    assert site.verbs()[-3:] == ["cancel", "stack import", "preview"] and not lock.exists()


def test_restore_imports_nothing_when_the_current_state_cannot_be_saved(
        site: Site, tmp_path: Path, capfd: pytest.CaptureFixture[str]):
    export = empty_export(site, tmp_path)
    site.backend.set_world("prod", fail={"export": {"message": "bucket unreachable"}})
    assert restore.main(["--stack", "prod", "--file", str(export), "--yes"]) == 1
    assert "stack import" not in site.verbs()
    assert "not importing (the current state could not be saved first;" in capfd.readouterr().err


@pytest.mark.parametrize("content, answer", [
    ('{"version": 3, "deployment": {}}', "stg\n"),
    ("", "prod\n"),
    ("not json", "prod\n"),
    ('{"version": 3}', "prod\n"),
])
def test_restore_refuses_without_the_name_or_a_real_export(
        site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str, answer: str):
    typed(monkeypatch, answer)
    path = tmp_path / "export.json"
    path.write_text(content)
    assert restore.main(["--stack", "prod", "--file", str(path)]) == 1
    assert site.calls() == []


# --- the command runner -------------------------------------------------------------------------


def test_a_failure_is_one_line_with_the_command_exit_code_and_last_stderr_line():
    script = "import sys; print('first', file=sys.stderr); print('last', file=sys.stderr); exit(4)"
    with pytest.raises(deploy.CommandFailed) as failed:
        deploy.run([sys.executable, "-c", script], 30)
    command = shlex.join([sys.executable, "-c", script])
    assert str(failed.value) == f"{command}: exit code 4: last"
    assert failed.value.code == 4 and failed.value.stderr == "first\nlast\n"
    with pytest.raises(deploy.CommandFailed, match=r"cannot run"):
        deploy.run(["/nonexistent/pulumi", "up"], 30)


def test_a_command_that_hangs_is_stopped_at_its_timeout():
    with pytest.raises(deploy.CommandFailed, match=r"timed out after 0.5 s"):
        deploy.run([sys.executable, "-c", "import time; time.sleep(60)"], 0.5)


def test_no_function_in_the_deploy_tools_is_longer_than_80_lines():
    too_long = []
    for name in ("deploy.py", "restore.py", "drift.py"):
        path = ROOT / "ops" / name
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 80:
                    too_long.append(f"{path.name}:{node.lineno} {node.name} ({length} lines)")
    assert too_long == []


def test_first_deploy_is_passed_to_the_health_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new environment's apps wait for their secret values after `up`: the flag reaches the
    gate, which then reports them as pending (ops.health_gate --first-deploy)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(health_gate, "main", lambda argv: calls.append(argv) or 0)
    assert deploy.health("stg", "a" * 40, first_deploy=True)
    assert deploy.health("stg", "a" * 40)
    assert calls[0][-1] == "--first-deploy" and "--first-deploy" not in calls[1]
    assert deploy._parser().parse_args(["--stack", "stg", "--first-deploy"]).first_deploy
