"""Drift check of one stack against the commit it was last deployed from.

    python -m ops.drift deployed-commit --stack prod
    python -m ops.drift check --stack prod --program-dir <checkout of that commit> --report FILE

`deployed-commit` prints the full git commit of the stack's newest successful update of kind
`update` (`pulumi stack history --json`: Pulumi records the git head of every update in its
`environment` as `git.head`); a newer refresh, import or failed update is not a deployment. The
drift workflow checks out that commit (a release tag), not `main`, which would show every merged
change as drift.

`check` runs `pulumi preview --refresh --expect-no-changes --json --non-interactive` in the
program directory and reads its exit code (Pulumi 3.227+: 0 no changes, 7 changes where none were
expected, anything else an error) and its JSON preview digest:
  exit 0: no drift;
  exit 3: drift; --report gets a JSON summary {"stack", "changeSummary", "changes": [{"op", "urn",
          "diffReasons"}]} of the changed resources, and the human summary one line per resource;
  exit 1: an error, one line (an expired credential or an unreachable cluster is not drift).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

NO_DRIFT, ERROR, DRIFT = 0, 1, 3
# pulumi's exit code when `--expect-no-changes` finds changes (ExitNoChanges; pulumi/pulumi
# pkg/cmd/pulumi/cmd/exit_codes.go, since 3.227.0); the message is not read
PULUMI_EXIT_NO_CHANGES = 7
# step ops that are not changes (pulumi/pulumi pkg/engine/update.go HasChanges)
NOT_CHANGES = frozenset({"same", "read", "discard", "read-replacement"})
TIMEOUT = 1800  # seconds for a refresh + preview of a whole stack
HISTORY_TIMEOUT = 120
HISTORY_PAGE_SIZE = 50
HISTORY_PAGES = 15  # the newest 750 updates, within TIMEOUT (15 pages of HISTORY_TIMEOUT)


class DriftError(Exception):
    """The check could not run: one line."""


def _run(command: list[str], cwd: Path | None = None,
         timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DriftError(f"{' '.join(command[:3])}: {type(exc).__name__}: {exc}") from None


def history_command(stack: str, page: int, page_size: int = HISTORY_PAGE_SIZE) -> list[str]:
    """`pulumi stack history --json`, one page (newest first; its default page size is 10)."""
    return ["pulumi", "stack", "history", "--stack", stack, "--json", "--show-secrets=false",
            "--page-size", str(page_size), "--page", str(page)]


def parse_history(text: str) -> list[dict[str, Any]]:
    entries = json.loads(text or "[]")
    if not isinstance(entries, list):
        raise DriftError("pulumi stack history --json did not print a list")
    return [entry for entry in entries if isinstance(entry, dict)]


def history_time(entry: dict[str, Any]) -> datetime:
    """When an update ended (its start while still in progress): "2006-01-02T15:04:05.000Z"."""
    return datetime.fromisoformat(str(entry.get("endTime") or entry["startTime"]))


def is_deployment(entry: dict[str, Any]) -> bool:
    return entry.get("kind") == "update" and entry.get("result") == "succeeded"


def deployed_commit(history: list[dict[str, Any]]) -> str:
    """The git head of the newest successful update of kind `update` (history: newest first)."""
    for update in history:
        if is_deployment(update):
            head = (update.get("environment") or {}).get("git.head")
            if head:
                return str(head)
            raise DriftError("the last successful update recorded no git commit (git.head)")
    raise DriftError("the stack has no successful update to compare with")


def read_history(stack: str, run: Callable[[list[str]], str],
                 wanted: Callable[[dict[str, Any]], bool],
                 pages: int = HISTORY_PAGES) -> list[dict[str, Any]]:
    """The stack's history, newest first, read page by page until an entry is `wanted` (that
    page included), the history ends or `pages` were read. `run` returns a command's stdout or
    raises."""
    history: list[dict[str, Any]] = []
    for page in range(1, pages + 1):
        entries = parse_history(run(history_command(stack, page)))
        history += entries
        if len(entries) < HISTORY_PAGE_SIZE or any(wanted(entry) for entry in entries):
            break
    return history


def _history_stdout(command: list[str]) -> str:
    result = _run(command, timeout=HISTORY_TIMEOUT)
    if result.returncode != 0:
        raise DriftError(f"pulumi stack history: exit {result.returncode}: "
                         f"{_last_line(result.stderr)}")
    return result.stdout


def changes_of(digest: Any) -> dict[str, Any]:
    """The changed resources of a `pulumi preview --json` digest (steps, changeSummary)."""
    if not isinstance(digest, dict):
        return {"changeSummary": {}, "changes": []}
    steps = [step for step in digest.get("steps") or [] if isinstance(step, dict)]
    summary = {op: count for op, count in (digest.get("changeSummary") or {}).items()
               if op not in NOT_CHANGES}
    changes = [
        {"op": step.get("op"), "urn": step.get("urn"), "diffReasons": step.get("diffReasons") or []}
        for step in steps if step.get("op") not in NOT_CHANGES
    ]
    return {"changeSummary": summary, "changes": changes}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def check(stack: str, program_dir: Path, report: Path) -> int:
    result = _run(["pulumi", "preview", "--stack", stack, "--refresh", "--expect-no-changes",
                   "--json", "--non-interactive"], cwd=program_dir)
    if result.returncode == 0:
        print(f"{stack}: no drift")
        return NO_DRIFT
    if result.returncode != PULUMI_EXIT_NO_CHANGES:
        print(f"{stack}: error, not drift: pulumi preview exit {result.returncode}: "
              f"{_last_line(result.stderr or result.stdout)}", file=sys.stderr)
        return ERROR
    try:
        found = changes_of(json.loads(result.stdout))
    except ValueError:  # the exit code decides; a digest we cannot read still is drift
        found = {"changeSummary": {}, "changes": [], "preview": result.stdout[-20000:]}
    report.write_text(json.dumps({"stack": stack, **found}, indent=2) + "\n")
    print(f"{stack}: drift: the cluster differs from the deployed commit "
          f"({len(found['changes'])} changed resources, report {report})")
    for change in found["changes"]:
        reasons = ",".join(change["diffReasons"])
        print(f"  {change['op']} {change['urn']}" + (f" [{reasons}]" if reasons else ""))
    return DRIFT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commit = sub.add_parser("deployed-commit")
    commit.add_argument("--stack", required=True)
    checking = sub.add_parser("check")
    checking.add_argument("--stack", required=True)
    checking.add_argument("--program-dir", type=Path, default=Path("."))
    checking.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "deployed-commit":
            history = read_history(args.stack, _history_stdout, is_deployment)
            print(deployed_commit(history))
            return NO_DRIFT
        return check(args.stack, args.program_dir, args.report)
    except (DriftError, ValueError, KeyError) as exc:
        print(f"{args.stack}: error, not drift: {exc}", file=sys.stderr)
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
