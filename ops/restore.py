"""Restores a stack's state from an `ops.deploy` export and checks the cluster against it.

    uv run python -m ops.restore --stack prod --file backups/prod-<UTC time>-<sha>.json [--yes]

For a damaged state (a failed or interrupted `up`); `ops.deploy` prints this command with the
export it took before `up`. Run it from a checkout of the revision that export describes (the one
deployed before: `pulumi stack history --stack <stack>` names it), so the check compares that
program. Steps, one line each:

  1. the export is a non-empty JSON file; the operator types the stack name (unless `--yes`);
  2. `pulumi stack import --stack <stack> --file <file>`; when the stack reports a lock (a stale
     one, left by an interrupted update), `pulumi cancel --stack <stack> --yes` (its "no update in
     progress" is ignored) and the import once more;
  3. `pulumi preview --stack <stack> --refresh --expect-no-changes`: exit 0 when the cluster matches
     the restored state; exit 1 otherwise, with the advice to roll back by deploying the previous
     tag (`ops.deploy` from its checkout), which converges the cluster and the state.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

from ops.deploy import EXPORT_TIMEOUT, PREVIEW_TIMEOUT, CommandFailed, confirm, run

CANCEL_TIMEOUT = 120.0
# how the DIY backends ("locked by 1 lock(s)") and Pulumi Cloud ("Another update is currently in
# progress") report a lock
LOCKED = re.compile(r"locked by \d+ lock|another update is currently in progress", re.IGNORECASE)
NOTHING_TO_CANCEL = re.compile(r"no update in progress", re.IGNORECASE)


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


def cancel_stale_lock(stack: str) -> None:
    """`pulumi cancel`; nothing to cancel is fine (the import's retry tells the rest)."""
    try:
        run(["pulumi", "cancel", "--stack", stack, "--yes"], CANCEL_TIMEOUT)
        print(f"stale lock of {stack} cancelled")
    except CommandFailed as failed:
        if not NOTHING_TO_CANCEL.search(str(failed)):
            raise
        print(f"pulumi cancel: no update in progress on {stack}")


def import_state(stack: str, path: Path) -> None:
    command = ["pulumi", "stack", "import", "--stack", stack, "--file", str(path)]
    try:
        run(command, EXPORT_TIMEOUT)
    except CommandFailed as failed:
        if not LOCKED.search(str(failed)):
            raise
        print(f"the stack reports a lock: {failed}", file=sys.stderr)
        cancel_stale_lock(stack)
        run(command, EXPORT_TIMEOUT)
    print(f"[2/3] state of {stack} imported from {path}")


def matches(stack: str) -> bool:
    """Step 3: does the cluster (refreshed) match the restored state under this checkout?"""
    preview = ["pulumi", "preview", "--stack", stack, "--refresh", "--expect-no-changes"]
    print(f"[3/3] check: {shlex.join(preview)}", flush=True)
    try:
        run(preview, PREVIEW_TIMEOUT, show=True)
    except CommandFailed as failed:
        print(f"restore: {failed}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--file", required=True, type=Path, help="a `pulumi stack export` file")
    parser.add_argument("--yes", action="store_true", help="skip typing the stack name")
    args = parser.parse_args(argv)
    stack: str = args.stack
    if problem := export_problem(args.file):
        print(f"restore: refusing: {problem}", file=sys.stderr)
        return 1
    if not args.yes and not confirm(stack, f"overwrite its state with {args.file}", sys.stdin):
        print(f"restore: aborted: the stack name was not typed; {stack} is unchanged",
              file=sys.stderr)
        return 1
    print(f"[1/3] restoring {stack} from {args.file}")
    try:
        import_state(stack, args.file)
    except CommandFailed as failed:
        print(f"restore: {failed}", file=sys.stderr)
        return 1
    if matches(stack):
        print(f"restored: the cluster matches the restored state of {stack}")
        return 0
    print(f"restore: the state of {stack} is restored but the cluster differs from it (or the "
          f"check failed): roll back by deploying the previous tag: git checkout <previous tag> && "
          f"uv run python -m ops.deploy --stack {stack}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
