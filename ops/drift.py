"""Drift check of one stack against the commit it was last deployed from.

    python -m ops.drift deployed-commit --stack prod
    python -m ops.drift check --stack prod --program-dir <checkout of that commit> --report FILE

`deployed-commit` prints the commit of the stack's last successful update (Pulumi records the
git head of every update in its environment), so the drift workflow checks out what production
actually runs (a release tag) and not `main`, which would show every merged change as drift.
`check` runs `pulumi preview --refresh --expect-no-changes --diff` there and tells drift from
failure: exit 0 no drift; 3 drift (the diff is written to --report); 1 an error (one line: an
expired credential or an unreachable cluster is not drift).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

NO_DRIFT, ERROR, DRIFT = 0, 1, 3
# what `pulumi preview --expect-no-changes` prints when the refreshed state differs
DRIFT_MARKER = "no changes were expected but changes were proposed"
TIMEOUT = 1800  # seconds for a refresh + preview of a whole stack


class DriftError(Exception):
    """The check could not run: one line."""


def _run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DriftError(f"{' '.join(command[:3])}: {type(exc).__name__}: {exc}") from None


def deployed_commit(history: list[dict[str, Any]]) -> str:
    """The git head of the newest successful update in `pulumi stack history --json`."""
    for update in history:  # newest first
        if update.get("result") == "succeeded":
            head = (update.get("environment") or {}).get("git.head")
            if head:
                return str(head)
            raise DriftError("the last successful update recorded no git commit (git.head)")
    raise DriftError("the stack has no successful update to compare with")


def classify(returncode: int, output: str) -> int:
    if returncode == 0:
        return NO_DRIFT
    if DRIFT_MARKER in output:
        return DRIFT
    return ERROR


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commit = sub.add_parser("deployed-commit")
    commit.add_argument("--stack", required=True)
    check = sub.add_parser("check")
    check.add_argument("--stack", required=True)
    check.add_argument("--program-dir", type=Path, default=Path("."))
    check.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "deployed-commit":
            result = _run(["pulumi", "stack", "history", "--stack", args.stack, "--json",
                           "--show-secrets=false"])
            if result.returncode != 0:
                raise DriftError(f"pulumi stack history: exit {result.returncode}: "
                                 f"{_last_line(result.stderr)}")
            print(deployed_commit(json.loads(result.stdout or "[]")))
            return NO_DRIFT
        result = _run(["pulumi", "preview", "--stack", args.stack, "--refresh", "--diff",
                       "--expect-no-changes", "--non-interactive"], cwd=args.program_dir)
        verdict = classify(result.returncode, result.stdout + result.stderr)
        if verdict == DRIFT:
            args.report.write_text(result.stdout)
            print(f"{args.stack}: drift: the cluster differs from the deployed commit")
        elif verdict == ERROR:
            print(f"{args.stack}: error, not drift: pulumi preview exit {result.returncode}: "
                  f"{_last_line(result.stderr or result.stdout)}", file=sys.stderr)
        else:
            print(f"{args.stack}: no drift")
        return verdict
    except (DriftError, ValueError) as exc:
        print(f"{args.stack}: error, not drift: {exc}", file=sys.stderr)
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
