"""One deploy command for operators and CI: checks, preview, confirmation, state export, up, gate.

    uv run python -m ops.deploy --stack prod [--yes] [--backup-dir DIR] [--skip-health]

Replaces the old `deploy-prod.sh`; the deploy workflows call it too. Run it from the repository
root (the stack files and the git checkout are read there). Each step prints one line:

  1. checks: the git tree is clean (`git status --porcelain`, untracked files count); for a
     production stack (`production: true` in `Pulumi.<stack>.yaml`) HEAD must carry an exact tag
     (`git describe --exact-match --tags HEAD`) that passes `ops.release_check`;
  2. `pulumi preview --stack <stack> --diff --policy-pack policy`, its output shown;
  3. confirmation: the operator types the stack name. `--yes` skips it and is for CI only: it is
     refused when stdin is a terminal and `CI` is not set;
  4. `pulumi stack export` into `<backup dir>/<stack>-<UTC timestamp>-<short sha>.json`; a failed
     or empty export stops the deploy before `up`;
  5. `pulumi up --yes --skip-preview=false --policy-pack policy` with the message
     `<stack> <tag or branch> <short sha> by <operator>` (`GITHUB_ACTOR`, else `USER`);
  6. the health gate (`ops.health_gate`), unless `--skip-health`.
A failed `up` or gate prints the exact `ops.restore` command for the export of step 4. Rolling
back means deploying the previous tag; restoring the export is for a damaged state.

The backup directory (`--backup-dir`, else `$PLATE_BACKUP_DIR`, else `backups/`) should be the
synced folder of the versioned state bucket or another encrypted location: the export holds the
whole state. Its secrets stay encrypted (exported without `--show-secrets`), everything else is
plain text. A directory inside the checkout gets a `.gitignore` of `*` so it never dirties the tree.

Every command has a timeout; a failure is one line: the command, its exit code and the last line
it wrote to stderr. Exit status 0 when deployed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from components.config import read_stack_file
from ops import health_gate
from ops.release_check import release_problem

GIT_TIMEOUT = 30.0
PREVIEW_TIMEOUT = 1800.0
EXPORT_TIMEOUT = 300.0
UP_TIMEOUT = 3600.0
# after a timeout: SIGINT (pulumi cancels gracefully), then SIGKILL after this long
KILL_GRACE = 60.0
POLICY_PACK = "policy"


class CommandFailed(Exception):
    """A step failed; the message is the one line to print."""


@dataclass(frozen=True)
class Revision:
    """What is being deployed: the short commit, its exact tag if any, the tag or branch name."""

    sha: str
    tag: str | None
    ref: str
    production: bool


def _drain(stream: IO[str], lines: list[str], echo: IO[str] | None) -> None:
    for line in stream:
        lines.append(line)
        if echo is not None:
            echo.write(line)
            echo.flush()


def _last_line(lines: Sequence[str]) -> str:
    text = [line.strip() for line in lines if line.strip()]
    return f": {text[-1][:300]}" if text else ""


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(command: Sequence[str], timeout: float, *, show: bool = False) -> str:
    """Runs `command` without stdin and returns its stdout (shown live instead when `show`).

    stderr is captured (and echoed live when `show`); a non-zero exit, a timeout or a command that
    cannot start raises CommandFailed with one line: the command, what happened, stderr's last line.
    """
    shown = shlex.join(command)
    try:
        proc = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, text=True, errors="replace",
            stdout=None if show else subprocess.PIPE, stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise CommandFailed(f"{shown}: cannot run: {exc.strerror or exc}") from None
    out: list[str] = []
    err: list[str] = []
    assert proc.stderr is not None
    echo = sys.stderr if show else None
    readers = [threading.Thread(target=_drain, args=(proc.stderr, err, echo))]
    if proc.stdout is not None:
        readers.append(threading.Thread(target=_drain, args=(proc.stdout, out, None)))
    for reader in readers:
        reader.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        code = None
    for reader in readers:
        reader.join()
    if code is None:
        raise CommandFailed(f"{shown}: timed out after {timeout:g} s{_last_line(err)}")
    if code != 0:
        raise CommandFailed(f"{shown}: exit code {code}{_last_line(err)}")
    return "".join(out)


def _git(*args: str) -> str:
    return run(["git", *args], GIT_TIMEOUT).strip()


def is_production(stack: str) -> bool:
    path = Path(f"Pulumi.{stack}.yaml")
    if not path.is_file():
        raise CommandFailed(f"no stack file {path} in {Path.cwd()}: run from the repository root")
    return read_stack_file(path).get("production") is True


def check_revision(stack: str) -> Revision:
    """Step 1: a clean tree; for a production stack an exact tag that passes the release check."""
    dirty = _git("status", "--porcelain", "--untracked-files=all").splitlines()
    if dirty:
        raise CommandFailed(
            f"refusing: the git tree is dirty ({len(dirty)} changed or untracked files, first: "
            f"{dirty[0].strip()}): commit, stash or remove them"
        )
    sha = _git("rev-parse", "--short", "HEAD")
    try:
        tag: str | None = _git("describe", "--exact-match", "--tags", "HEAD")
    except CommandFailed:
        tag = None
    production = is_production(stack)
    if production:
        if not tag:
            raise CommandFailed(
                f"refusing: {stack} is a production stack and commit {sha} has no exact tag: "
                f"deploy a release tag (git checkout <tag>)"
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
    return Revision(sha=sha, tag=tag, ref=tag or branch, production=production)


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


def export_state(stack: str, directory: Path, sha: str) -> Path:
    """Step 4: `pulumi stack export` (secrets stay encrypted) into a new file; it must be JSON."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stack}-{stamp}-{sha}.json"
    run(["pulumi", "stack", "export", "--stack", stack, "--file", str(path)], EXPORT_TIMEOUT)
    if not path.is_file() or path.stat().st_size == 0:
        raise CommandFailed(f"state export {path} is missing or empty: not running up")
    path.chmod(0o600)
    try:
        json.loads(path.read_text())
    except ValueError as exc:
        raise CommandFailed(f"state export {path} is not JSON ({exc}): not running up") from None
    return path


def restore_command(stack: str, backup: Path) -> str:
    return shlex.join(["uv", "run", "python", "-m", "ops.restore", "--stack", stack,
                       "--file", str(backup)])


def operator() -> str:
    return os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown"


def up_command(stack: str, revision: Revision) -> list[str]:
    message = f"{stack} {revision.ref} {revision.sha} by {operator()}"
    return ["pulumi", "up", "--stack", stack, "--yes", "--skip-preview=false",
            "--policy-pack", POLICY_PACK, "--message", message]


def health(stack: str, sha: str) -> bool:
    """Step 6: the health gate in-process, requiring the Applications to be synced to the
    deployed commit; an exception is a failed gate, named on one line."""
    try:
        return health_gate.main(["--stack", stack, "--revision", sha]) == 0
    except Exception as exc:  # whatever broke the gate, the deploy is not healthy
        print(f"health gate: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--yes", action="store_true",
                        help="skip typing the stack name (CI only: refused at a terminal)")
    parser.add_argument("--backup-dir", help="where the state export goes "
                        "(default $PLATE_BACKUP_DIR, else backups/)")
    parser.add_argument("--skip-health", action="store_true", help="do not run the health gate")
    return parser


def deploy(args: argparse.Namespace, stdin: IO[str]) -> int:
    stack: str = args.stack
    revision = check_revision(stack)
    print(f"[1/6] checks passed: clean tree at {revision.sha}"
          + (f", tag {revision.tag}" if revision.tag else f", {revision.ref}")
          + (", release check passed" if revision.production else ""))
    preview = ["pulumi", "preview", "--stack", stack, "--diff", "--policy-pack", POLICY_PACK]
    print(f"[2/6] preview: {shlex.join(preview)}", flush=True)
    run(preview, PREVIEW_TIMEOUT, show=True)
    if args.yes:
        print("[3/6] confirmation skipped (--yes)")
    elif confirm(stack, f"deploy {revision.ref} ({revision.sha})", stdin):
        print(f"[3/6] confirmed: deploying {stack}")
    else:
        print(f"[3/6] aborted: the stack name was not typed; {stack} is unchanged", file=sys.stderr)
        return 1
    backup = export_state(stack, backup_dir(args.backup_dir), revision.sha)
    print(f"[4/6] state exported to {backup} ({backup.stat().st_size} bytes, secrets encrypted)")
    up = up_command(stack, revision)
    print(f"[5/6] up: {shlex.join(up)}", flush=True)
    try:
        run(up, UP_TIMEOUT, show=True)
    except CommandFailed as failed:
        print(f"deploy: {failed}", file=sys.stderr)
        print(f"to restore the state from before this update: {restore_command(stack, backup)}",
              file=sys.stderr)
        return 1
    if args.skip_health:
        print("[6/6] health gate skipped (--skip-health)")
    elif health(stack, revision.sha):
        print(f"[6/6] health gate passed: {stack} is healthy")
    else:
        print(f"deploy: the health gate failed after up of {stack} {revision.ref}", file=sys.stderr)
        print(f"to restore the state from before this update: {restore_command(stack, backup)}",
              file=sys.stderr)
        return 1
    print(f"deployed {stack} {revision.ref} {revision.sha}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.yes and (refusal := yes_refusal(sys.stdin)):
        print(f"deploy: {refusal}", file=sys.stderr)
        return 1
    try:
        return deploy(args, sys.stdin)
    except CommandFailed as failed:
        print(f"deploy: {failed}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
