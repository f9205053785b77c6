"""Restores a stack's state from an `ops.deploy` export and checks the cluster against it.

    uv run python -m ops.restore --stack prod --file backups/prod-state-before-<sha>.json
        [--yes] [--force-cancel] [--backup-dir DIR]

For a damaged state only (one pulumi can no longer read): `ops.deploy` prints this command when a
failed `up` left such a state. A readable state records every step `up` completed; importing an
older export over it would drop what `up` created. Run it from a checkout of the revision that
export describes (the one deployed before: `pulumi stack history --stack <stack>` names it), so
the check compares that program. Steps, one line each:

  1. the export is a non-empty JSON `pulumi stack export` file; the operator types the stack name
     (unless `--yes`);
  2. the current state is exported to <backup dir>/<stack>-state-overwritten-<UTC time>.json
     (--backup-dir, else $PLATE_BACKUP_DIR, else backups/) before anything overwrites it; a failed
     export stops here;
  3. `pulumi stack import --stack <stack> --file <file>`. When the self-managed backend reports a
     lock ("the stack is currently locked by N lock(s)", one line per lock file under
     `.pulumi/locks/organization/<project>/<stack>/` naming `user@host (pid N) at <time>`), each
     lock's owner is checked: a pulumi process of this host that is gone left a stale lock, which
     `pulumi cancel --stack <stack> --yes` removes before one more import; a live process here,
     or any lock of another host (which cannot be checked from here), is refused unless
     `--force-cancel` (make sure that update is really over: cancelling deletes every lock file
     of the stack);
  4. `pulumi preview --stack <stack> --refresh --expect-no-changes`: exit 0 when the cluster
     matches the restored state; pulumi's exit code 7 (changes proposed) means it differs: roll
     back by deploying the previous tag (`ops.deploy` from its checkout); any other exit code is
     a failed check, not a difference.
Exit status: 0 restored and matching, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from ops.deploy import (
    EXPORT_TIMEOUT,
    PREVIEW_TIMEOUT,
    CommandFailed,
    Interrupted,
    backup_dir,
    confirm,
    execute,
    export_to,
    run,
    stamp,
    yes_refusal,
)
from ops.drift import PULUMI_EXIT_NO_CHANGES

CANCEL_TIMEOUT = 120.0
# The self-managed (DIY) backend's lock error: pulumi/pulumi pkg/backend/diy/lock.go checkForLock
# (a plain error, so only the generic exit code 1: the text is all there is; the Python SDK of
# the same version matches the same words, automation/errors.py "the stack is currently locked
# by"). One header line, then one line per lock file.
LOCKED = re.compile(r"the stack is currently locked by (\d+) lock\(s\)")
LOCK_LINE = re.compile(
    r"^\s+(?P<file>\S+): created by (?P<user>[^@\s]+)@(?P<host>\S+) \(pid (?P<pid>\d+)\) "
    r"at (?P<time>\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Lock:
    file: str
    user: str
    host: str
    pid: int
    time: str

    def owner(self) -> str:
        return f"{self.user}@{self.host} (pid {self.pid}) since {self.time}"


def locks_in(stderr: str) -> list[Lock] | None:
    """The locks a failed command reported, or None when it did not report a lock."""
    if not LOCKED.search(stderr):
        return None
    return [Lock(m["file"], m["user"], m["host"], int(m["pid"]), m["time"])
            for m in LOCK_LINE.finditer(stderr)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_reason(lock: Lock) -> str | None:
    """Why `lock` may belong to a running update (so it must not be cancelled), or None when it is
    stale: its process, on this host, is gone."""
    if lock.host != socket.gethostname():
        return f"held by {lock.owner()} on another host, which cannot be checked from here"
    if _alive(lock.pid):
        return f"held by {lock.owner()}, a process that is still running on this host"
    return None


def export_problem(path: Path) -> str | None:
    """Why `path` is not a state export to import, or None."""
    if not path.is_file() or path.stat().st_size == 0:
        return f"{path} is missing or empty"
    try:
        export = json.loads(path.read_text())
    except ValueError as exc:
        return f"{path} is not JSON ({exc})"
    if not isinstance(export, dict) or "deployment" not in export:
        return f"{path} is not a `pulumi stack export` file (no deployment)"
    return None


def save_current(stack: str, directory: Path, unreadable: bool = False) -> Path | None:
    """Step 2: the state about to be overwritten, exported first. With `unreadable` (the state
    is damaged, which is why it is restored: ops.deploy says so), a failed export is reported and
    the import goes on; the state bucket's versioning keeps the damaged file."""
    path = directory / f"{stack}-state-overwritten-{stamp()}.json"
    try:
        export_to(stack, path)
    except CommandFailed as failed:
        if unreadable:
            print(f"[2/4] the current state of {stack} cannot be exported ({failed}); it is "
                  f"overwritten without a copy here (--state-unreadable: the state bucket's "
                  f"versioning keeps the damaged checkpoint)")
            return None
        raise CommandFailed(f"{failed}: not importing (the current state could not be saved "
                            f"first; if it is damaged, that is expected: re-run with "
                            f"--state-unreadable)") from None
    print(f"[2/4] current state of {stack} saved to {path}")
    return path


def clear_locks(stack: str, locks: list[Lock], force: bool) -> None:
    """Cancels the stack's locks when each is stale, or when `force`."""
    if not locks:
        raise CommandFailed(f"{stack} reports a lock but no lock line could be read: check "
                            f"`.pulumi/locks/` in the state bucket")
    live = [reason for lock in locks if (reason := live_reason(lock))]
    if live and not force:
        raise CommandFailed(f"refusing to cancel the lock of {stack}: {'; '.join(live)}: wait "
                            f"for that update, or make sure it is over and re-run with "
                            f"--force-cancel")
    for lock in locks:
        print(f"cancelling the lock {lock.file} of {lock.owner()}"
              + (" (--force-cancel)" if live else " (stale: its process is gone)"))
    run(["pulumi", "cancel", "--stack", stack, "--yes"], CANCEL_TIMEOUT)


def import_state(stack: str, path: Path, force: bool) -> None:
    """Step 3."""
    command = ["pulumi", "stack", "import", "--stack", stack, "--file", str(path)]
    try:
        run(command, EXPORT_TIMEOUT)
    except CommandFailed as failed:
        locks = locks_in(failed.stderr)
        if locks is None:
            raise
        print(f"{stack} is locked: {len(locks)} lock(s)", file=sys.stderr)
        clear_locks(stack, locks, force)
        run(command, EXPORT_TIMEOUT)
    print(f"[3/4] state of {stack} imported from {path}")


def matches(stack: str) -> bool | None:
    """Step 4: True when the refreshed cluster matches the restored state, False when pulumi
    proposes changes (its exit code 7), None when the check itself failed."""
    preview = ["pulumi", "preview", "--stack", stack, "--refresh", "--expect-no-changes"]
    print(f"[4/4] check: {shlex.join(preview)}", flush=True)
    result = execute(preview, PREVIEW_TIMEOUT, show=True)
    if result.code == 0:
        return True
    if result.code == PULUMI_EXIT_NO_CHANGES:
        return False
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    print(f"restore: the check failed: {shlex.join(preview)}: exit code {result.code}"
          + (f": {lines[-1][:300]}" if lines else ""), file=sys.stderr)
    return None


def restore(args: argparse.Namespace) -> int:
    stack: str = args.stack
    if problem := export_problem(args.file):
        print(f"restore: refusing: {problem}", file=sys.stderr)
        return 1
    if not args.yes and not confirm(stack, f"overwrite its state with {args.file}", sys.stdin):
        print(f"restore: aborted: the stack name was not typed; {stack} is unchanged",
              file=sys.stderr)
        return 1
    print(f"[1/4] restoring {stack} from {args.file}")
    save_current(stack, backup_dir(args.backup_dir), args.state_unreadable)
    import_state(stack, args.file, args.force_cancel)
    verdict = matches(stack)
    if verdict:
        print(f"restored: the cluster matches the restored state of {stack}")
        return 0
    if verdict is False:
        print(f"restore: the state of {stack} is restored but the cluster differs from it: roll "
              f"back by deploying the previous tag: git checkout <previous tag> && uv run python "
              f"-m ops.deploy --stack {stack}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.restore", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--file", required=True, type=Path, help="a `pulumi stack export` file")
    parser.add_argument("--yes", action="store_true",
                        help="skip typing the stack name (CI only: refused at a terminal)")
    parser.add_argument("--state-unreadable", action="store_true",
                        help="the current state cannot be exported (it is damaged: what "
                        "ops.deploy reports): import without saving it first")
    parser.add_argument("--force-cancel", action="store_true",
                        help="cancel a lock even when its update may still be running")
    parser.add_argument("--backup-dir", help="where the current state is saved first "
                        "(default $PLATE_BACKUP_DIR, else backups/)")
    args = parser.parse_args(argv)
    if args.yes and (refusal := yes_refusal(sys.stdin)):
        print(f"restore: {refusal}", file=sys.stderr)
        return 1
    try:
        return restore(args)
    except CommandFailed as failed:
        print(f"restore: {failed}", file=sys.stderr)
        return 1
    except (Interrupted, KeyboardInterrupt):
        print(f"restore: interrupted; check the state of {args.stack} (`pulumi stack export`) "
              f"before running this again", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
