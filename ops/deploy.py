"""One deploy command for operators and CI: checks, a saved plan, confirmation, state export,
pre-deploy backups, `up` of exactly that plan, health gate.

Prerequisites: the Pulumi CLI of `.pulumi.version` on PATH (checked: `pulumi version`), logged in
to the stack's backend (`pulumi login <state bucket URL>`, or PULUMI_BACKEND_URL), the stack's
secrets passphrase in PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), and a kubeconfig
with the stack's `cluster.kube_context` (the deploy, the backups and the health gate use it). Run
from the repository root (the stack files and the git checkout are read there).

Modes:
  python -m ops.deploy --stack S
      by hand: checks, `pulumi preview --diff --save-plan <temp file>` shown, type the stack name,
      then state export, backups (production), `pulumi up --plan <that file>`, health gate.
      `--yes` skips typing the name: for CI only, refused at a terminal unless CI is set.
  python -m ops.deploy --stack S --plan-only --plan-file F
      checks and the preview with `--save-plan F`; the preview text goes to F.txt; exits 0
      without applying (CI's plan job: F and F.txt are what the reviewers approve).
  python -m ops.deploy --stack S --yes --apply-plan F --expect-sha SHA
      CI's apply job: refuses unless `git rev-parse HEAD` is SHA (40 hex digits), F exists and
      was made after the stack's last update (the plan's manifest time against the newest
      `pulumi stack history --json` entry that is not a preview); then state export, backups,
      `up --plan F`, health gate.
  python -m ops.deploy --stack S --preview-only
      checks and `pulumi preview --diff` (no plan saved); exits 0.

Steps, one line each:
  [checks]  the git tree is clean (untracked files count); for a production stack
            (`production: true` in Pulumi.<stack>.yaml) HEAD carries an exact tag that passes
            `ops.release_check`; the pulumi CLI is the pinned version;
  [preview] `pulumi preview --stack S --diff --policy-pack policy --save-plan F`;
  [confirm] the operator types the stack name (hand-run);
  [plan]    the plan is newer than the stack's last update (pulumi applies a plan without
            checking its age; a plan made before another update would be applied over it);
  [export]  `pulumi stack export` into <backup dir>/<stack>-state-before-<full sha>.json (an
            older file of that name is kept beside it); a failed or empty export stops here;
  [backups] production stacks: `ops.prebackup.take` (OpenBao raft snapshot, Velero backup), each
            verified, one line each; a failure stops here; `--skip-backups "<reason>"` skips
            them and the reason goes into the update message;
  [up]      `pulumi up --stack S --yes --skip-preview=false --plan F --policy-pack policy
            --message M`; pulumi refuses any operation the plan did not propose. M is
            `<stack> <tag or branch> <full sha> by <actor>` (GITHUB_ACTOR, else USER), then
            `; PR #<PLATE_AUDIT_PR> <PLATE_AUDIT_PR_TITLE>`, `; reason: <PLATE_AUDIT_REASON>`,
            `; backups skipped: <reason>` when set;
  [gate]    `ops.health_gate` (Applications synced to the deployed commit), unless --skip-health;
            `--first-deploy` passes on: apps still waiting for their secret values are pending.

After a failure: a failed `up` exports the state again (<stack>-state-after-failed-up-<sha>.json);
only a state that cannot be read gets the `ops.restore` command (pulumi records every completed
step, so restoring a readable state would drop what `up` did); otherwise fix and re-run. A failed
gate after a successful `up` never suggests restoring: fix forward or deploy the previous tag.
Ctrl-C (or SIGTERM) during a command is forwarded once to it (pulumi cancels gracefully: in-flight
operations finish), then one line says what state remains and what to do next; pulumi is killed
if it has not stopped within STOP_GRACE seconds (its lock then remains).

The backup directory (--backup-dir, else $PLATE_BACKUP_DIR, else backups/) should be the synced
folder of the versioned state bucket or another encrypted location: the export holds the whole
state, secrets encrypted. One inside the checkout gets a `.gitignore` of `*`.

Every command has a timeout (their sum, TOTAL_BUDGET_MINUTES, is printed first: CI job timeouts
must be above it); a failure is one line: the command, its exit code and the last line it wrote
to stderr. Exit status: 0 deployed (or planned/previewed), 1 refused or failed, 130 interrupted,
2 a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from components.config import read_stack_file
from ops import health_gate
from ops.drift import HISTORY_PAGE_SIZE, history_time, is_deployment, read_history
from ops.release_check import release_problem

ROOT = Path(__file__).resolve().parent.parent
PULUMI_VERSION_FILE = ROOT / ".pulumi.version"

GIT_TIMEOUT = 30.0
VERSION_TIMEOUT = 30.0
HISTORY_TIMEOUT = 120.0
HISTORY_PAGES_READ = 2  # of HISTORY_PAGE_SIZE entries
PREVIEW_TIMEOUT = 1800.0
EXPORT_TIMEOUT = 300.0
# ops.prebackup's own waits, worst case: a running snapshot Job to end and the new one
# (SNAPSHOT_TIMEOUT, 2100 s, each), the snapshot's off-site copy (SNAPSHOT_COPY_TIMEOUT, 1800 s),
# the tools' Velero backup (BACKUP_TIMEOUT, 3600 s), their kubectl calls
PREBACKUP_TIMEOUT = 2 * 2100.0 + 3600.0 + 1800.0 + 600.0
UP_TIMEOUT = 3600.0
GATE_TIMEOUT = 900
GATE_SLACK = 300.0  # the gate's stack-output read and its last round, past its own timeout
# after a timeout or Ctrl-C: SIGINT (pulumi cancels gracefully, letting in-flight operations
# finish), then SIGKILL after this long
STOP_GRACE = 120.0
POLICY_PACK = "policy"
BUDGET_SECONDS = {
    # history: at most HISTORY_PAGES_READ pages for the plan's age and as many for the release
    # before (after a failed gate)
    "git, version and history": (8 * GIT_TIMEOUT + VERSION_TIMEOUT
                                 + 2 * HISTORY_PAGES_READ * HISTORY_TIMEOUT),
    "preview": PREVIEW_TIMEOUT + STOP_GRACE,
    "state exports": 2 * (EXPORT_TIMEOUT + STOP_GRACE),
    "backups": PREBACKUP_TIMEOUT,
    "up": UP_TIMEOUT + STOP_GRACE,
    "health gate": GATE_TIMEOUT + GATE_SLACK,
}
TOTAL_BUDGET_MINUTES = math.ceil(sum(BUDGET_SECONDS.values()) / 60)
FULL_SHA = re.compile(r"[0-9a-f]{40}")


class CommandFailed(Exception):
    """A step failed; the message is the one line to print. A command's exit code, output and
    whether it had to be killed ride along."""

    def __init__(self, message: str, code: int | None = None, stdout: str = "",
                 stderr: str = "", killed: bool = False) -> None:
        super().__init__(message)
        self.code, self.stdout, self.stderr, self.killed = code, stdout, stderr, killed


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while a command ran: forwarded to it as SIGINT; `killed` when it did
    not stop within STOP_GRACE."""

    def __init__(self, shown: str, code: int | None, killed: bool) -> None:
        super().__init__(shown)
        self.shown, self.code, self.killed = shown, code, killed


@dataclass(frozen=True)
class Revision:
    """What is being deployed: the full and short commit, its exact tag if any, the tag or branch
    name, and whether the stack is a production one."""

    sha: str
    short: str
    tag: str | None
    ref: str
    production: bool


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str


def _drain(stream: IO[str], lines: list[str], echo: IO[str] | None) -> None:
    for line in stream:
        lines.append(line)
        if echo is not None:
            echo.write(line)
            echo.flush()


def _last_line(lines: Sequence[str]) -> str:
    text = [line.strip() for line in lines if line.strip()]
    return f": {text[-1][:300]}" if text else ""


def _stop(proc: subprocess.Popen[str]) -> bool:
    """SIGINT, then SIGKILL after STOP_GRACE; a further Ctrl-C meanwhile is forwarded too (pulumi
    terminates on its second). True when it had to be killed."""
    proc.send_signal(signal.SIGINT)
    while True:
        try:
            proc.wait(timeout=STOP_GRACE)
            return False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return True
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)


def execute(command: Sequence[str], timeout: float, *, show: bool = False) -> Finished:
    """Runs `command` without stdin in its own session (a terminal's Ctrl-C reaches only us, and
    we forward it once), capturing stdout and stderr (echoed live when `show`). A timeout or a
    command that cannot start raises CommandFailed; Ctrl-C raises Interrupted."""
    shown = shlex.join(command)
    try:
        proc = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, text=True, errors="replace",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as exc:
        raise CommandFailed(f"{shown}: cannot run: {exc.strerror or exc}") from None
    out: list[str] = []
    err: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out, sys.stdout if show else None)),
        threading.Thread(target=_drain, args=(proc.stderr, err, sys.stderr if show else None)),
    ]
    for reader in readers:
        reader.start()
    interrupted = timed_out = killed = False
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out, killed, code = True, _stop(proc), None
    except KeyboardInterrupt:
        interrupted, killed = True, _stop(proc)
        code = proc.returncode
    for reader in readers:
        reader.join()
    if interrupted:
        raise Interrupted(shown, code, killed)
    if timed_out:
        raise CommandFailed(f"{shown}: timed out after {timeout:g} s{_last_line(err)}",
                            stdout="".join(out), stderr="".join(err), killed=killed)
    assert code is not None
    return Finished(code, "".join(out), "".join(err))


def run(command: Sequence[str], timeout: float, *, show: bool = False) -> str:
    """`execute`, and a non-zero exit raises CommandFailed with one line: the command, its exit
    code and stderr's last line. Returns stdout."""
    result = execute(command, timeout, show=show)
    if result.code != 0:
        last = _last_line(result.stderr.splitlines())
        raise CommandFailed(f"{shlex.join(command)}: exit code {result.code}{last}",
                            code=result.code, stdout=result.stdout, stderr=result.stderr)
    return result.stdout


def _git(*args: str) -> str:
    return run(["git", *args], GIT_TIMEOUT).strip()


def is_production(stack: str) -> bool:
    return stack_settings(stack).get("production") is True


def stack_settings(stack: str) -> dict[str, Any]:
    path = Path(f"Pulumi.{stack}.yaml")
    if not path.is_file():
        raise CommandFailed(f"no stack file {path} in {Path.cwd()}: run from the repository root")
    return read_stack_file(path)


def check_pulumi_version() -> str:
    """The CLI on PATH is the pinned one: the exit codes this relies on are version-specific."""
    wanted = PULUMI_VERSION_FILE.read_text().strip()
    found = run(["pulumi", "version"], VERSION_TIMEOUT).strip().removeprefix("v")
    if found != wanted:
        raise CommandFailed(f"refusing: pulumi {found} is on PATH, the project pins {wanted} "
                            f"(.pulumi.version): install that version")
    return found


def check_revision(stack: str) -> Revision:
    """A clean tree; for a production stack an exact tag that passes the release check."""
    dirty = _git("status", "--porcelain", "--untracked-files=all").splitlines()
    if dirty:
        raise CommandFailed(
            f"refusing: the git tree is dirty ({len(dirty)} changed or untracked files, first: "
            f"{dirty[0].strip()}): commit, stash or remove them"
        )
    sha = _git("rev-parse", "HEAD")
    try:
        tag: str | None = _git("describe", "--exact-match", "--tags", "HEAD")
    except CommandFailed:
        tag = None
    production = is_production(stack)
    if production:
        if not tag:
            raise CommandFailed(
                f"refusing: {stack} is a production stack and commit {sha[:12]} has no exact "
                f"tag: deploy a release tag (git checkout <tag>)"
            )
        try:
            problem = release_problem(stack, tag)
        except Exception as exc:  # an unreadable stack file is a refusal, by name
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if problem:
            raise CommandFailed(f"refusing: release check: {problem}")
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    if branch == "HEAD":
        branch = os.environ.get("GITHUB_REF_NAME") or "detached"
    return Revision(sha=sha, short=sha[:12], tag=tag, ref=tag or branch, production=production)


def yes_refusal(stdin: IO[str]) -> str | None:
    """Why `--yes` is refused here, or None: it is for CI, not for a person at a terminal."""
    if stdin.isatty() and not os.environ.get("CI"):
        return "refusing --yes: it is for CI only (stdin is a terminal and CI is not set)"
    return None


def confirm(stack: str, action: str, stdin: IO[str]) -> bool:
    """The operator types the stack name; anything else (or end of input) is a no."""
    print(f"Type the stack name ({stack}) to {action}: ", end="", flush=True)
    answer = stdin.readline()
    if not answer:
        print()
    return answer.strip() == stack


def backup_dir(explicit: str | None) -> Path:
    """The backup directory, created private; inside the checkout it ignores itself in git."""
    directory = Path(explicit or os.environ.get("PLATE_BACKUP_DIR") or "backups")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ignore = directory / ".gitignore"
    if directory.resolve().is_relative_to(Path.cwd().resolve()) and not ignore.exists():
        ignore.write_text("# state exports (ops.deploy): never committed\n*\n")
    return directory


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def export_to(stack: str, path: Path) -> dict[str, Any]:
    """`pulumi stack export` (secrets stay encrypted) into `path`, which must be a JSON export."""
    run(["pulumi", "stack", "export", "--stack", stack, "--file", str(path)], EXPORT_TIMEOUT)
    if not path.is_file() or path.stat().st_size == 0:
        raise CommandFailed(f"state export {path} is missing or empty")
    path.chmod(0o600)
    try:
        export = json.loads(path.read_text())
    except ValueError as exc:
        raise CommandFailed(f"state export {path} is not JSON ({exc})") from None
    if not isinstance(export, dict) or not isinstance(export.get("deployment"), dict):
        raise CommandFailed(f"state export {path} has no deployment")
    return export


def export_state(stack: str, directory: Path, sha: str) -> Path:
    """[export] into <dir>/<stack>-state-before-<sha>.json; an older export of that name (an
    earlier attempt of the same commit) is kept beside it, renamed with its time."""
    path = directory / f"{stack}-state-before-{sha}.json"
    if path.exists():
        older = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = directory / f"{stack}-state-before-{sha}-{older}.json"
        path.rename(kept)
        print(f"[export] an earlier export of this commit is kept as {kept}")
    try:
        export_to(stack, path)
    except CommandFailed as failed:
        raise CommandFailed(f"{failed}: not running up") from None
    return path


def restore_command(stack: str, backup: Path) -> str:
    """The restore of a damaged (unreadable) state: ops.restore cannot save it first."""
    return shlex.join(["uv", "run", "python", "-m", "ops.restore", "--stack", stack,
                       "--file", str(backup), "--state-unreadable"])


def rerun_command(stack: str) -> str:
    return shlex.join(["uv", "run", "python", "-m", "ops.deploy", "--stack", stack])


def operator() -> str:
    return os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown"


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def update_message(stack: str, revision: Revision, backups_skipped: str | None) -> str:
    """The audit trail pulumi keeps with the update (`stack history`)."""
    parts = [f"{stack} {revision.ref} {revision.sha} by {operator()}"]
    pr = os.environ.get("PLATE_AUDIT_PR", "").strip().lstrip("#")
    if pr:
        parts.append(_one_line(f"PR #{pr} {os.environ.get('PLATE_AUDIT_PR_TITLE', '')}"))
    if reason := os.environ.get("PLATE_AUDIT_REASON", "").strip():
        parts.append(f"reason: {_one_line(reason)}")
    if backups_skipped:
        parts.append(f"backups skipped: {_one_line(backups_skipped)}")
    return "; ".join(parts)


def preview_command(stack: str, plan: Path | None) -> list[str]:
    command = ["pulumi", "preview", "--stack", stack, "--diff", "--policy-pack", POLICY_PACK]
    return command + (["--save-plan", str(plan)] if plan else [])


def up_command(stack: str, plan: Path, message: str) -> list[str]:
    return ["pulumi", "up", "--stack", stack, "--yes", "--skip-preview=false", "--plan", str(plan),
            "--policy-pack", POLICY_PACK, "--message", message]


def plan_made_at(plan: Path) -> datetime:
    """The plan's manifest time (when its preview started: pulumi's deploy.NewPlan); not the
    file's mtime, which a download resets."""
    try:
        made = datetime.fromisoformat(json.loads(plan.read_text())["manifest"]["time"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CommandFailed(f"refusing: {plan} is not a pulumi plan file "
                            f"({type(exc).__name__}: {exc})") from None
    if made.tzinfo is None:
        raise CommandFailed(f"refusing: {plan}: its manifest time has no time zone")
    return made


def check_plan_fresh(stack: str, plan: Path) -> None:
    """[plan] refuses a plan made before the stack's newest update (of any kind but preview) or
    while one is in progress."""
    made = plan_made_at(plan)
    history = read_history(stack, lambda command: run(command, HISTORY_TIMEOUT),
                           lambda entry: entry.get("kind") != "preview", HISTORY_PAGES_READ)
    last = next((entry for entry in history if entry.get("kind") != "preview"), None)
    if last is None and len(history) >= HISTORY_PAGES_READ * HISTORY_PAGE_SIZE:
        raise CommandFailed(f"refusing: the newest {len(history)} history entries of {stack} are "
                            f"all previews: cannot tell when it was last updated")
    if last is None:
        print(f"[plan] {plan} made {made.isoformat(timespec='seconds')}; {stack} has no update yet")
        return
    when = history_time(last)
    what = f"{last.get('kind')} {last.get('result')} at {when.isoformat(timespec='seconds')}"
    if last.get("result") == "in-progress":
        raise CommandFailed(f"refusing: an update of {stack} is in progress ({what})")
    # the history keeps whole seconds (an update that ended at 12:00:00.9 shows 12:00:00.000)
    if made < when + timedelta(seconds=1):
        raise CommandFailed(
            f"refusing: the plan {plan} (made {made.isoformat(timespec='seconds')}) is older than "
            f"the last update of {stack} ({what}): make a new plan")
    print(f"[plan] {plan} made {made.isoformat(timespec='seconds')}, after the last update "
          f"({what})")


def make_plan(stack: str, plan: Path | None) -> str:
    """[preview] shown live; with `plan` it is saved there (and must then exist). Returns the
    preview's text (stdout, then stderr)."""
    command = preview_command(stack, plan)
    print(f"[preview] {shlex.join(command)}", flush=True)
    result = execute(command, PREVIEW_TIMEOUT, show=True)
    if result.code != 0:
        raise CommandFailed(f"{shlex.join(command)}: exit code {result.code}"
                            f"{_last_line(result.stderr.splitlines())}")
    if plan is not None:
        plan_made_at(plan)
    return result.stdout + result.stderr


def take_backups(stack: str, kube_context: str, label: str) -> list[str]:
    """`ops.prebackup.take` (imported here: it is optional until a production deploy), bounded by
    PREBACKUP_TIMEOUT; any failure is a CommandFailed of one line."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            module = importlib.import_module("ops.prebackup")
            outcome["lines"] = list(module.take(stack, kube_context, label))
        except Exception as exc:  # BackupFailed carries its one line; anything else by name
            name = type(exc).__name__
            text = str(exc).splitlines()[0] if str(exc) else ""
            outcome["error"] = text if name == "BackupFailed" else f"{name}: {text}"

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(PREBACKUP_TIMEOUT)
    hint = 'not running up (to deploy without them: --skip-backups "<reason>")'
    if worker.is_alive():
        raise CommandFailed(f"pre-deploy backups did not finish within {PREBACKUP_TIMEOUT:g} s: "
                            f"{hint}")
    if "error" in outcome:
        raise CommandFailed(f"pre-deploy backups failed: {outcome['error']}: {hint}")
    if not outcome.get("lines"):
        raise CommandFailed(f"pre-deploy backups reported no verified backup: {hint}")
    return [str(line) for line in outcome["lines"]]


def pre_backups(stack: str, revision: Revision, skip_reason: str | None) -> str | None:
    """[backups] for a production stack; returns the skip reason to record, if skipped."""
    if not revision.production:
        print(f"[backups] {stack} is not a production stack: no pre-deploy backups")
        return None
    if skip_reason:
        print(f"[backups] skipped (--skip-backups: {_one_line(skip_reason)}); recorded in the "
              f"update message")
        return skip_reason
    kube_context = (stack_settings(stack).get("cluster") or {}).get("kube_context") or ""
    for line in take_backups(stack, kube_context, f"pre-deploy-{revision.short}"):
        print(f"[backups] {line}")
    return None


def probe_state(stack: str, directory: Path, sha: str) -> tuple[bool, str]:
    """After a failed or interrupted `up`: can the state still be read, and does it record
    interrupted operations? (readable, one-line description)."""
    path = directory / f"{stack}-state-after-failed-up-{sha}.json"
    try:
        deployment = export_to(stack, path)["deployment"]
    except (CommandFailed, Interrupted) as exc:
        return False, f"the state cannot be read ({exc})"
    pending = deployment.get("pending_operations") or []
    if pending:
        return True, (f"readable (exported to {path}) with {len(pending)} interrupted operations "
                      f"(pending_operations): check those resources, then run `pulumi refresh "
                      f"--stack {stack}` interactively to clear them")
    return True, f"readable and consistent (exported to {path})"


def after_failed_up(stack: str, revision: Revision, directory: Path, backup: Path,
                    failed: CommandFailed) -> None:
    readable, state = probe_state(stack, directory, revision.sha)
    print(f"deploy: {failed}", file=sys.stderr)
    lock = ""
    if failed.killed:
        lock = (f"; pulumi was killed, so its lock remains: once no update runs, "
                f"`pulumi cancel --stack {stack} --yes`")
    if not readable:
        print(f"deploy: the state of {stack} is damaged: {state}{lock}; restore the export from "
              f"before this update: {restore_command(stack, backup)}", file=sys.stderr)
        return
    print(f"deploy: the state of {stack} is {state}; pulumi recorded every step that completed, "
          f"so do not restore it{lock}; fix the cause and re-run (a new plan is made): "
          f"{rerun_command(stack)}", file=sys.stderr)


def interrupted_up(stack: str, revision: Revision, directory: Path, stopped: Interrupted) -> None:
    """One line after Ctrl-C during `up`: the lock, the state, the next step."""
    if stopped.killed:
        lock = (f"pulumi did not stop within {STOP_GRACE:g} s and was killed, so its lock "
                f"remains: once no update runs, `pulumi cancel --stack {stack} --yes`")
    else:
        lock = f"pulumi cancelled the update (exit code {stopped.code}) and released its lock"
    _, state = probe_state(stack, directory, revision.sha)
    print(f"deploy: interrupted during up of {stack}: {lock}; the state is {state}; next: "
          f"re-run {rerun_command(stack)}", file=sys.stderr)


def previous_release(stack: str, sha: str) -> str:
    """The tag (else commit) of the newest successful update before this commit's, or a
    placeholder when the history cannot tell."""
    def earlier(entry: dict[str, Any]) -> bool:
        return is_deployment(entry) and (entry.get("environment") or {}).get("git.head") != sha

    try:
        history = read_history(stack, lambda command: run(command, HISTORY_TIMEOUT), earlier,
                               HISTORY_PAGES_READ)
        head = next(str(e["environment"]["git.head"]) for e in history if earlier(e))
    except (CommandFailed, ValueError, StopIteration, KeyError, TypeError):
        return "<previous tag>"
    try:
        return _git("describe", "--exact-match", "--tags", head)
    except CommandFailed:
        return head


def health(stack: str, sha: str, first_deploy: bool = False) -> bool:
    """The health gate in-process, requiring the Applications to be synced to the deployed
    commit (`first_deploy`: apps still waiting for their secret values are pending, not failed);
    an exception is a failed gate, named on one line."""
    extra = ["--first-deploy"] if first_deploy else []
    try:
        return health_gate.main(["--stack", stack, "--revision", sha,
                                 "--timeout", str(GATE_TIMEOUT), *extra]) == 0
    except Exception as exc:  # whatever broke the gate, the deploy is not healthy
        print(f"health gate: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return False


def gate(stack: str, revision: Revision, skip: bool, first_deploy: bool = False) -> int:
    if skip:
        print("[gate] skipped (--skip-health)")
    elif health(stack, revision.sha, first_deploy):
        print(f"[gate] passed: {stack} is healthy")
    else:
        previous = previous_release(stack, revision.sha)
        print(f"deploy: the health gate failed after a successful up of {stack} {revision.ref} "
              f"({revision.short}): the update is applied and recorded; do not restore the state "
              f"export (it would drop what up created). Next: fix forward (commit the fix and "
              f"deploy it the same way) or deploy the previous release: git checkout {previous} "
              f"&& {rerun_command(stack)}", file=sys.stderr)
        return 1
    print(f"deployed {stack} {revision.ref} {revision.sha}")
    return 0


def apply(args: argparse.Namespace, revision: Revision, plan: Path) -> int:
    """[plan] freshness, [export], [backups], [up] of `plan`, [gate]."""
    stack: str = args.stack
    check_plan_fresh(stack, plan)
    directory = backup_dir(args.backup_dir)
    backup = export_state(stack, directory, revision.sha)
    print(f"[export] state exported to {backup} ({backup.stat().st_size} bytes, secrets "
          f"encrypted)")
    skipped = pre_backups(stack, revision, args.skip_backups)
    up = up_command(stack, plan, update_message(stack, revision, skipped))
    print(f"[up] {shlex.join(up)}", flush=True)
    try:
        run(up, UP_TIMEOUT, show=True)
    except Interrupted as stopped:
        interrupted_up(stack, revision, directory, stopped)
        return 130
    except CommandFailed as failed:
        after_failed_up(stack, revision, directory, backup, failed)
        return 1
    try:
        return gate(stack, revision, args.skip_health, args.first_deploy)
    except KeyboardInterrupt:
        print(f"deploy: interrupted during the health gate: up of {stack} succeeded; check it: "
              f"uv run python -m ops.health_gate --stack {stack} --revision {revision.sha}",
              file=sys.stderr)
        return 130


def deploy(args: argparse.Namespace, stdin: IO[str]) -> int:
    stack: str = args.stack
    version = check_pulumi_version()
    revision = check_revision(stack)
    print(f"[checks] clean tree at {revision.short}"
          + (f", tag {revision.tag}" if revision.tag else f", {revision.ref}")
          + (", release check passed" if revision.production else "") + f", pulumi {version}")
    if args.preview_only:
        make_plan(stack, None)
        print(f"previewed {stack} {revision.ref} {revision.short}: nothing applied")
        return 0
    if args.plan_only:
        plan = Path(args.plan_file)
        text = make_plan(stack, plan)
        Path(f"{plan}.txt").write_text(text)
        print(f"planned {stack} {revision.ref} {revision.sha}: plan {plan}, preview {plan}.txt; "
              f"nothing applied")
        return 0
    if args.apply_plan:
        if revision.sha != args.expect_sha.lower():
            raise CommandFailed(f"refusing: HEAD is {revision.sha}, not the approved "
                                f"--expect-sha {args.expect_sha}")
        plan = Path(args.apply_plan)
        if not plan.is_file():
            raise CommandFailed(f"refusing: the plan file {plan} does not exist")
        print(f"[confirm] applying the approved plan {plan} of {revision.sha}")
        return apply(args, revision, plan)
    with tempfile.TemporaryDirectory(prefix="plate-plan-") as scratch:
        plan = Path(scratch) / f"{stack}.plan.json"
        make_plan(stack, plan)
        if args.yes:
            print("[confirm] skipped (--yes)")
        elif confirm(stack, f"apply this plan ({revision.ref}, {revision.short})", stdin):
            print(f"[confirm] confirmed: applying this plan to {stack}")
        else:
            print(f"[confirm] aborted: the stack name was not typed; {stack} is unchanged",
                  file=sys.stderr)
            return 1
        return apply(args, revision, plan)


def _parser() -> argparse.ArgumentParser:
    try:
        pinned = PULUMI_VERSION_FILE.read_text().strip()
    except OSError:
        pinned = "(missing .pulumi.version)"
    parser = argparse.ArgumentParser(
        prog="python -m ops.deploy", description=__doc__,
        epilog=f"Pinned Pulumi CLI: {pinned} (.pulumi.version). Time budget of the commands: "
               f"{TOTAL_BUDGET_MINUTES} minutes.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--yes", action="store_true",
                        help="no typing of the stack name (CI only: refused at a terminal)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--preview-only", action="store_true", help="preview, save no plan, exit 0")
    mode.add_argument("--plan-only", action="store_true",
                      help="preview and save the plan to --plan-file (text to <file>.txt), exit 0")
    mode.add_argument("--apply-plan", metavar="F", help="apply this saved plan (with --yes and "
                      "--expect-sha)")
    parser.add_argument("--plan-file", metavar="F", help="where --plan-only saves the plan")
    parser.add_argument("--expect-sha", metavar="SHA",
                        help="the full commit the plan was made from; HEAD must be it")
    parser.add_argument("--skip-backups", metavar="REASON",
                        help="production: no pre-deploy backups; the reason is recorded")
    parser.add_argument("--backup-dir", help="where the state export goes "
                        "(default $PLATE_BACKUP_DIR, else backups/)")
    parser.add_argument("--skip-health", action="store_true", help="do not run the health gate")
    parser.add_argument(
        "--first-deploy", action="store_true",
        help="the environment's first deploy: apps still waiting for their secret values (bao kv "
        "put) and tool hosts without DNS records are reported as pending, not failures",
    )
    return parser


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.plan_only != bool(args.plan_file):
        return "--plan-only and --plan-file go together"
    if args.apply_plan and not (args.yes and args.expect_sha):
        return "--apply-plan needs --yes and --expect-sha"
    if args.expect_sha and not args.apply_plan:
        return "--expect-sha goes with --apply-plan"
    if args.expect_sha and not FULL_SHA.fullmatch(args.expect_sha.lower()):
        return f"--expect-sha {args.expect_sha!r} is not a full commit SHA (40 hex digits)"
    if args.skip_backups is not None and not args.skip_backups.strip():
        return "--skip-backups needs a reason"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if problem := _usage_problem(args):
        parser.error(problem)
    if args.yes and (refusal := yes_refusal(sys.stdin)):
        print(f"deploy: {refusal}", file=sys.stderr)
        return 1
    budget = ", ".join(f"{name} {math.ceil(s / 60)}" for name, s in BUDGET_SECONDS.items())
    print(f"time budget: at most {TOTAL_BUDGET_MINUTES} min of commands ({budget}); CI job "
          f"timeouts must be above it", flush=True)
    # SIGTERM (a CI cancellation) takes the Ctrl-C path: forwarded to pulumi as SIGINT
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if in_main else None
    try:
        return deploy(args, sys.stdin)
    except CommandFailed as failed:
        print(f"deploy: {failed}", file=sys.stderr)
        return 1
    except (Interrupted, KeyboardInterrupt) as stopped:
        during = f" during {stopped.shown}" if isinstance(stopped, Interrupted) else ""
        print(f"deploy: interrupted{during}: nothing was applied to {args.stack}; next: re-run "
              f"{rerun_command(args.stack)}", file=sys.stderr)
        return 130
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
