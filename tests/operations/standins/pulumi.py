"""A stand-in `pulumi` CLI (the pinned 3.272.0) over a self-managed (DIY) `file://` backend.

The tests put it first on PATH (`install`) and drive it through files, never through flags the
real CLI lacks:

- the backend: `PULUMI_BACKEND_URL=file://<dir>`, laid out like the real DIY backend (stack
  checkpoints, history files, lock files: see `Backend`);
- the world the program and the cluster make: `<dir>/standin-world.json`: per stack, the
  resources the program declares (`program`: urn -> inputs), what the cluster really has
  (`cluster`, which a `--refresh` reads and `up` writes), a command that fails as a whole
  (`fail`: verb -> {message, code}), a resource whose step fails during `up` (`fail_step`: {at,
  message, truncate_checkpoint}), slow steps (`step_seconds`) and a step that never finishes once
  a cancel is requested (`hang_on_cancel`);
- every call is appended to `<dir>/standin-calls.jsonl` (argv and cwd).

Every behaviour below cites its source. SOURCE: the pinned tag v3.272.0 is not in the stored
snapshot of github.com/pulumi/pulumi (its newest tag there is v3.259.0, 2026-08-20), so the Go
citations are "pulumi/pulumi@v3.259.0:<path>"; where the Python SDK installed at exactly 3.272.0
(`pulumi==3.272.0`, `.venv/.../pulumi/automation`) shows the same contract it is cited too
("sdk 3.272.0:<path>"). Nothing is modelled that was not read there; what is approximate (the
human-readable display, which no operator code may parse) says so.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

VERSION = "v3.272.0"
WORLD_FILE = "standin-world.json"
CALLS_FILE = "standin-calls.jsonl"
ORG = "organization"  # pulumi/pulumi@v3.259.0:pkg/backend/diy/store.go: the DIY org is always this

# Exit codes: pulumi/pulumi@v3.259.0:pkg/cmd/pulumi/cmd/exit_codes.go (ExitCodeFor; the taxonomy
# came with #22176, March 2026, released in 3.227.0: "Use distinct exit codes for different types
# of error").
EXIT_ERROR = 1  # generic; also every "bail" (an error the engine already displayed)
EXIT_CONFIGURATION = 2  # NoConfirmationInNonInteractiveError, ConfigurationError
EXIT_AUTHENTICATION = 3  # LoginRequiredError and other auth errors
EXIT_STACK_NOT_FOUND = 6  # StackNotFoundError
EXIT_NO_CHANGES = 7  # NoChangesExpectedError (--expect-no-changes found changes)

# pulumi/pulumi@v3.259.0:pkg/engine/update.go HasChanges: every op but these counts as a change
NOT_CHANGES = {"same", "read", "discard", "read-replacement"}


class Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def error(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """pulumi/pulumi@v3.259.0:pkg/cmd/pulumi/main.go: an error is displayed by
    cmd.DisplayErrorMessage -> cmdutil.Diag().Errorf, i.e. `error: <message>` on stderr
    (sdk/go/common/util/cmdutil/diag.go: the sink writes to os.Stderr), then
    os.Exit(cmd.ExitCodeFor(err))."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise Exit(code)


def go_time(moment: datetime) -> str:
    """Go's time.Time JSON form (RFC 3339 with nanoseconds, the local offset)."""
    local = moment.astimezone()
    text = local.isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z") if local.utcoffset() == UTC.utcoffset(None) else text


def history_time(unix: int) -> str:
    """pulumi/pulumi@v3.259.0:pkg/cmd/pulumi/cmd/time.go FormatTime
    ("2006-01-02T15:04:05.000Z07:00") of time.Unix(t, 0).UTC() (stack_history.go
    buildUpdatesJSON); sdk 3.272.0:automation/_stack.py parses it with "%Y-%m-%dT%H:%M:%S.%fZ"."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- the backend ----------------------------------------------------------------------------------


@dataclass
class Backend:
    """The DIY backend's files (pulumi/pulumi@v3.259.0:pkg/backend/diy/store.go, project layout;
    pkg/workspace/paths.go: BookkeepingDir ".pulumi", StackDir "stacks", HistoryDir "history",
    LockDir "locks"):

    - `.pulumi/stacks/<project>/<stack>.json`: the versioned checkpoint;
    - `.pulumi/history/<project>/<stack>/<stack>-<unix nanos>.history.json`: one UpdateInfo per
      update (diy/state.go addToHistory; pkg/backend/updates.go UpdateInfo);
    - `.pulumi/locks/organization/<project>/<stack>/<lock id>.json`: one per lock holder
      (diy/lock.go lockPath, lockContent {pid, username, hostname, timestamp}).
    """

    root: Path
    project: str = "plate-platform"

    @property
    def url(self) -> str:
        return f"file://{self.root}"

    def stack_file(self, stack: str) -> Path:
        return self.root / ".pulumi" / "stacks" / self.project / f"{stack}.json"

    def history_dir(self, stack: str) -> Path:
        return self.root / ".pulumi" / "history" / self.project / stack

    def lock_dir(self, stack: str) -> Path:
        return self.root / ".pulumi" / "locks" / ORG / self.project / stack

    def urn(self, stack: str, type_: str, name: str) -> str:
        return f"urn:pulumi:{stack}::{self.project}::{type_}::{name}"

    def create_stack(self, stack: str) -> None:
        deployment = {"manifest": {"time": go_time(datetime.now(UTC)), "magic": "",
                                   "version": VERSION}}
        self.write_deployment(stack, deployment)

    def deployment(self, stack: str) -> dict[str, Any]:
        """diy/state.go getCheckpoint: an unreadable checkpoint is an error of every command that
        loads it (ExportDeployment wraps it as "failed to load checkpoint: %w")."""
        try:
            checkpoint = json.loads(self.stack_file(stack).read_text())
        except ValueError as exc:
            error(f"failed to load checkpoint: {exc}")
        return dict(checkpoint["checkpoint"].get("latest") or {})

    def write_deployment(self, stack: str, deployment: dict[str, Any]) -> None:
        path = self.stack_file(stack)
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {"stack": f"{ORG}/{self.project}/{stack}", "latest": deployment}
        path.write_text(json.dumps({"version": 3, "checkpoint": checkpoint}, indent=4))

    def resources(self, stack: str) -> dict[str, dict[str, Any]]:
        return {r["urn"]: r for r in self.deployment(stack).get("resources", [])}

    def history(self, stack: str) -> list[dict[str, Any]]:
        """Newest first (diy/state.go getHistory: the listing is reversed)."""
        directory = self.history_dir(stack)
        files = sorted(directory.glob("*.history.json")) if directory.exists() else []
        return [json.loads(path.read_text()) for path in reversed(files)]

    def add_history(self, stack: str, info: dict[str, Any]) -> None:
        directory = self.history_dir(stack)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{stack}-{time.time_ns()}.history.json").write_text(json.dumps(info))

    def locks(self, stack: str) -> list[Path]:
        directory = self.lock_dir(stack)
        return sorted(directory.glob("*.json")) if directory.exists() else []

    def write_lock(self, stack: str, pid: int, hostname: str | None = None,
                   stamp: datetime | None = None) -> Path:
        directory = self.lock_dir(stack)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{uuid.uuid4()}.json"
        path.write_text(json.dumps({
            "pid": pid, "username": getpass.getuser(),
            "hostname": hostname or socket.gethostname(),
            "timestamp": go_time(stamp or datetime.now(UTC)),
        }))
        return path

    def check_lock(self, stack: str, own: Path | None = None) -> None:
        """diy/lock.go checkForLock: any lock file but our own is an error (errors.New, so the
        generic exit code 1) whose text is the one sdk 3.272.0:automation/errors.py matches
        ("the stack is currently locked by"), one line per lock naming its file's URL
        (lockURLForError), owner, host, pid and time (RFC 3339)."""
        others = [path for path in self.locks(stack) if path != own]
        if not others:
            return
        lines = [f"the stack is currently locked by {len(others)} lock(s). Either wait for the "
                 f"other process(es) to end or delete the lock file with `pulumi cancel`."]
        for path in others:
            lock = json.loads(path.read_text())
            stamp = datetime.fromisoformat(lock["timestamp"]).isoformat(timespec="seconds")
            lines.append(f"  file://{path}: created by {lock['username']}@{lock['hostname']} "
                         f"(pid {lock['pid']}) at {stamp.replace('+00:00', 'Z')}")
        raise LockedError("\n".join(lines))

    # the test's side: the world file

    def world(self) -> dict[str, Any]:
        path = self.root / WORLD_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def set_world(self, stack: str, **values: Any) -> None:
        world = self.world()
        world.setdefault(stack, {}).update(values)
        (self.root / WORLD_FILE).write_text(json.dumps(world))

    def calls(self) -> list[list[str]]:
        path = self.root / CALLS_FILE
        if not path.exists():
            return []
        return [json.loads(line)["argv"] for line in path.read_text().splitlines()]


class LockedError(Exception):
    pass


# --- flags ------------------------------------------------------------------------------------

# Flags per command, as registered at pulumi/pulumi@v3.259.0 (cobra; an unknown flag is an error).
# "bool" flags also take `--flag=false`; "str" flags take `--flag value` or `--flag=value`.
GLOBAL = {"non-interactive": "bool", "color": "str", "cwd": "str", "logtostderr": "bool"}
FLAGS: dict[str, dict[str, str]] = {
    # pkg/cmd/pulumi/operations/preview.go NewPreviewCmd
    "preview": {"stack": "str", "diff": "bool", "policy-pack": "str", "save-plan": "str",
                "refresh": "bool", "expect-no-changes": "bool", "json": "bool", "message": "str",
                "show-secrets": "bool", "suppress-outputs": "bool"},
    # pkg/cmd/pulumi/operations/up.go: --plan is hidden unless PULUMI_EXPERIMENTAL, but registered
    # (MarkHidden only hides it from the help), so it works without the variable; the SDK at
    # 3.272.0 passes `--plan` without setting PULUMI_EXPERIMENTAL (sdk 3.272.0:automation/_stack.py
    # up(plan=...); PULUMI_EXPERIMENTAL is set only for remote stacks)
    "up": {"stack": "str", "yes": "bool", "skip-preview": "bool", "policy-pack": "str",
           "message": "str", "plan": "str", "diff": "bool", "refresh": "bool",
           "suppress-outputs": "bool"},
    # pkg/cmd/pulumi/stack/stack_export.go, stack_import.go (--force), stack_history.go
    "stack export": {"stack": "str", "file": "str", "show-secrets": "bool", "version": "str"},
    "stack import": {"stack": "str", "file": "str", "force": "bool"},
    "stack history": {"stack": "str", "json": "bool", "show-secrets": "bool", "page-size": "str",
                      "page": "str", "full-dates": "bool"},
    # pkg/cmd/pulumi/cancel/cancel.go
    "cancel": {"stack": "str", "yes": "bool"},
    "version": {},
}


def parse(command: str, argv: list[str]) -> dict[str, Any]:
    spec = {**GLOBAL, **FLAGS[command]}
    flags: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            error(f'unknown command "{arg}" for "pulumi {command}"')
        name, has_value, value = arg[2:].partition("=")
        kind = spec.get(name)
        if kind is None:
            error(f"unknown flag: --{name}")
        if kind == "bool":
            flags[name] = value != "false" if has_value else True
        else:
            if not has_value:
                i += 1
                if i >= len(argv):
                    error(f"flag needs an argument: --{name}")
                value = argv[i]
            flags[name] = value
        i += 1
    return flags


# --- the world: what the program declares and the cluster has ---------------------------------


@dataclass
class Step:
    op: str
    urn: str
    inputs: dict[str, Any] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)

    @property
    def type_(self) -> str:
        return self.urn.split("::")[2]

    @property
    def name(self) -> str:
        return self.urn.split("::")[3]


def steps(backend: Backend, stack: str, refresh: bool) -> list[Step]:
    """The engine's diff of the program against the state (refreshed from the cluster first when
    `--refresh`: a resource whose live inputs differ, or that is gone, shows as a change)."""
    world = backend.world().get(stack, {})
    program: dict[str, dict[str, Any]] = world.get("program", {})
    state = {urn: dict(res.get("inputs", {})) for urn, res in backend.resources(stack).items()}
    if refresh:
        cluster: dict[str, dict[str, Any]] = world.get("cluster", {})
        state = {urn: cluster[urn] for urn in state if urn in cluster}
    result: list[Step] = []
    for urn, inputs in program.items():
        if urn not in state:
            result.append(Step("create", urn, inputs))
        elif state[urn] != inputs:
            keys = sorted(k for k in {*inputs, *state[urn]} if inputs.get(k) != state[urn].get(k))
            result.append(Step("update", urn, inputs, keys))
        else:
            result.append(Step("same", urn, inputs))
    result += [Step("delete", urn) for urn in state if urn not in program]
    return result


def summary(found: list[Step]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in found:
        counts[step.op] = counts.get(step.op, 0) + 1
    return counts


def has_changes(found: list[Step]) -> bool:
    return any(step.op not in NOT_CHANGES for step in found)


SYMBOLS = {"create": "+", "update": "~", "delete": "-", "same": " "}


def display(found: list[Step], header: str) -> None:
    """APPROXIMATE: the diff display (display.DisplayDiff) is text for people; no operator code
    may parse it."""
    print(header)
    for step in found:
        if step.op != "same":
            diff = f" [diff: ~{','.join(step.keys)}]" if step.keys else ""
            print(f"    {SYMBOLS[step.op]} {step.type_} {step.name} {step.op}{diff}")
    print("Resources:")
    for op, count in sorted(summary(found).items()):
        print(f"    {count} unchanged" if op == "same" else f"    {SYMBOLS[op]} {count} to {op}")
    sys.stdout.flush()


def injected(backend: Backend, stack: str, verb: str) -> None:
    """An injected failure of `verb`: `error: <message>` and its exit code (default 1, the
    generic code of an unclassified error, exit_codes.go)."""
    fail = backend.world().get(stack, {}).get("fail", {}).get(verb)
    if fail:
        error(fail.get("message", f"{verb} failed"), int(fail.get("code", EXIT_ERROR)))


# --- commands -----------------------------------------------------------------------------------


def require_stack(backend: Backend, flags: dict[str, Any]) -> str:
    """stack.RequireStack: no such stack is StackNotFoundError, "no stack named '%s' found"
    (backenderr.go), exit code 6."""
    stack = flags.get("stack") or ""
    if not stack or not backend.stack_file(stack).exists():
        error(f"no stack named '{stack}' found", EXIT_STACK_NOT_FOUND)
    return str(stack)


def preview_digest(found: list[Step], started: float) -> dict[str, Any]:
    """pulumi/pulumi@v3.259.0:pkg/display/json.go PreviewDigest, rendered by
    pkg/backend/display/json.go ShowPreviewDigest (indented, on stdout, after the preview):
    steps [{op, urn, provider, diffReasons, detailedDiff ...}], duration, changeSummary."""
    return {
        "steps": [
            {"op": s.op, "urn": s.urn, "provider": "",
             **({"diffReasons": s.keys} if s.keys else {}),
             "detailedDiff": ({k: {"kind": "update", "inputDiff": False} for k in s.keys}
                              if s.op == "update" else None)}
            for s in found
        ],
        "duration": int((time.monotonic() - started) * 1e9),
        "changeSummary": summary(found),
    }


def write_plan(path: str, found: list[Step], started: datetime) -> None:
    """pkg/cmd/pulumi/plan/plan.go Write: apitype.DeploymentPlanV1 as indented JSON: manifest
    {time, magic, version}, resourcePlans {urn: {goal, steps, state}} (sdk/go/common/apitype/
    plan.go, core.go ManifestV1). The time is deploy.NewPlan's time.Now(), called when the
    preview's deployment is made (resource/deploy/deployment.go), i.e. when the preview starts."""
    plans = {
        s.urn: {"goal": {"type": s.type_, "name": s.name, "custom": True,
                         "inputDiff": {"updates": s.inputs}, "outputDiff": {}, "protect": False},
                "steps": [s.op], "state": {}}
        for s in found if s.op != "delete"
    }
    plans.update({s.urn: {"steps": ["delete"], "state": {}} for s in found if s.op == "delete"})
    manifest = {"time": go_time(started), "magic": hashlib.sha256(b"x").hexdigest(),
                "version": VERSION}
    Path(path).write_text(json.dumps({"manifest": manifest, "resourcePlans": plans}, indent=4))


def cmd_preview(backend: Backend, flags: dict[str, Any]) -> None:
    """operations/preview.go: the backend's Preview takes no lock (diy/backend.go Preview);
    `--expect-no-changes` with changes returns NoChangesExpectedError{Operation: "preview"}:
    "no changes were expected for preview but changes were proposed" (backenderr.go), exit 7 —
    after the display, so `--json` still prints its digest; `--save-plan` is not experimental
    (GeneratePlan is on whenever a path is given) and is written only when the preview succeeded,
    then "Update plan written to '<path>'" is logged unless --json."""
    stack = require_stack(backend, flags)
    injected(backend, stack, "preview")
    started, began = time.monotonic(), datetime.now(UTC)
    found = steps(backend, stack, bool(flags.get("refresh")))
    if flags.get("json"):
        print(json.dumps(preview_digest(found, started), indent=4), flush=True)
    else:
        display(found, f"Previewing update ({stack}):")
    if flags.get("expect-no-changes") and has_changes(found):
        error("no changes were expected for preview but changes were proposed", EXIT_NO_CHANGES)
    if flags.get("save-plan"):
        write_plan(flags["save-plan"], found, began)
        if not flags.get("json"):
            print(f"Update plan written to '{flags['save-plan']}'\nRun `pulumi up "
                  f"--plan='{flags['save-plan']}'` to constrain the update to the operations "
                  f"planned by this preview", file=sys.stderr)


def read_plan(path: str) -> dict[str, Any]:
    """up.go reads the plan (plan.Read: json decode of DeploymentPlanV1) before the update, so a
    missing or broken file fails before any lock is taken."""
    try:
        return dict(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        error(f"open {path}: no such file or directory")
    except ValueError as exc:
        error(f"invalid plan file {path}: {exc}")


def plan_violation(plan: dict[str, Any], step: Step) -> str | None:
    """pulumi/pulumi@v3.259.0:pkg/resource/deploy/step_generator.go: a resource the plan lacks is
    "no plan for resource %v"; an operation the plan did not propose, or inputs other than
    planned, are "resource %s violates plan: ..." (message tails APPROXIMATE). A same step is
    allowed in place of a planned update (deploy/plan.go Plan doc)."""
    planned = plan.get("resourcePlans", {}).get(step.urn)
    if planned is None:
        return f"no plan for resource {step.urn}"
    if step.op not in planned.get("steps", []):
        return (f"resource {step.urn} violates plan: {step.op} is not allowed by the plan: this "
                f"resource is constrained to {planned.get('steps')}")
    goal = (planned.get("goal") or {}).get("inputDiff", {}).get("updates")
    if step.op != "delete" and goal is not None and goal != step.inputs:
        return f"resource {step.urn} violates plan: properties changed"
    return None


class Cancel:
    """pulumi/pulumi@v3.259.0:pkg/backend/cancellation_scope.go: SIGINT and SIGTERM are caught;
    the first cancels gracefully (in-flight operations finish, no new ones start) and prints
    "^C received; cancelling. If you would like to terminate immediately, press ^C again." (for
    an update also "Note that terminating immediately may lead to orphaned resources and other
    inconsistencies."); the second terminates ("^C received; terminating")."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    def handle(self, signum: int, _frame: object) -> None:
        name = "SIGTERM" if signum == signal.SIGTERM else "^C"
        if not self.requested:
            self.requested = True
            print(f"{name} received; cancelling. If you would like to terminate immediately, "
                  f"{'send SIGTERM' if name == 'SIGTERM' else 'press ^C'} again.\nNote that "
                  f"terminating immediately may lead to orphaned resources and other "
                  f"inconsistencies.", flush=True)
            return
        # NOT VERIFIED what terminating leaves; the stand-in assumes the worst: it exits at once,
        # its lock and the pending operation stay
        print(f"{name} received; terminating", flush=True)
        os._exit(EXIT_ERROR)


def git_environment() -> dict[str, str]:
    """pkg/cmd/pulumi/metadata/metadata.go: the update's environment records the git HEAD of the
    project's repository as "git.head" (backend/updates.go GitHead), its ref name as
    "git.headName" (not when detached) and "git.dirty"; PULUMI_GIT_HEAD overrides git.head
    (addGitMetadataFromEnvironment)."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30)
        return result.stdout.strip() if result.returncode == 0 else ""

    env = {"exec.kind": "cli"}
    if head := os.environ.get("PULUMI_GIT_HEAD") or git("rev-parse", "HEAD"):
        env["git.head"] = head
        if (name := git("symbolic-ref", "-q", "HEAD")):
            env["git.headName"] = name
        env["git.dirty"] = "true" if git("status", "--porcelain") else "false"
    return env


def apply_step(backend: Backend, stack: str, step: Step, world: dict[str, Any],
               cancel: Cancel) -> None:
    """One step: the snapshot records a pending operation before it starts and the result after it
    (backend/snapshot.go: pending operations are recorded while outstanding); a step under way
    finishes even when a cancel is requested (graceful cancellation)."""
    deployment = backend.deployment(stack)
    pending = {"resource": {"urn": step.urn, "type": step.type_},
               "type": {"create": "creating", "update": "updating", "delete": "deleting"}[step.op]}
    deployment["pending_operations"] = [pending]
    backend.write_deployment(stack, deployment)
    deadline = time.monotonic() + float(world.get("step_seconds", 0))
    while time.monotonic() < deadline or (cancel.requested and world.get("hang_on_cancel")):
        time.sleep(0.02)
    fail = world.get("fail_step") or {}
    if fail.get("at") == step.urn:
        deployment.pop("pending_operations", None)
        backend.write_deployment(stack, deployment)
        if fail.get("truncate_checkpoint"):
            # a checkpoint write cut short (the DIY bucket write is not atomic on every store):
            # what remains is not JSON, and getCheckpoint fails on it from then on
            path = backend.stack_file(stack)
            path.write_text(path.read_text()[:40])
        raise StepFailed(fail.get("message", f"{step.urn}: failed"))
    resources = [r for r in deployment.get("resources", []) if r["urn"] != step.urn]
    if step.op != "delete":
        resources.append({"urn": step.urn, "type": step.type_, "custom": True,
                          "inputs": step.inputs, "outputs": step.inputs})
    deployment["resources"] = resources
    deployment.pop("pending_operations", None)
    backend.write_deployment(stack, deployment)
    cluster = backend.world().get(stack, {}).get("cluster", {})
    if step.op == "delete":
        cluster.pop(step.urn, None)
    else:
        cluster[step.urn] = step.inputs
    backend.set_world(stack, cluster=cluster)


class StepFailed(Exception):
    pass


def run_update(backend: Backend, stack: str, flags: dict[str, Any],
               plan: dict[str, Any] | None) -> tuple[str, dict[str, int]]:
    """The update proper: returns the result ("succeeded"/"failed") and the changes done."""
    cancel = Cancel()
    world = backend.world().get(stack, {})
    found = steps(backend, stack, bool(flags.get("refresh")))
    display(found, f"Updating ({stack}):")
    done: dict[str, int] = {}
    if sames := sum(1 for s in found if s.op == "same"):
        done["same"] = sames
    for step in [s for s in found if s.op != "same"]:
        if cancel.requested:
            break
        problem = plan_violation(plan, step) if plan is not None else None
        if problem:
            print(f"    error: {problem}", flush=True)
            return "failed", done
        try:
            apply_step(backend, stack, step, world, cancel)
        except StepFailed as failed:
            print(f"    {step.type_} {step.name} **{step.op} failed** error: {failed}", flush=True)
            return "failed", done
        done[step.op] = done.get(step.op, 0) + 1
    if cancel.requested:
        # deployment_executor.go: a cancelled deployment reports "update canceled" and returns
        # result.BailErrorf("canceled"): a bail, so exit code 1 (ExitCodeFor), not 8
        print("error: update canceled", flush=True)
        return "failed", done
    return "succeeded", done


def cmd_up(backend: Backend, flags: dict[str, Any]) -> None:
    """operations/up.go: without --yes (or --skip-preview) a non-interactive run fails with
    NoConfirmationInNonInteractiveError (exit 2); the plan file is read first; then
    diy/backend.go Update takes the stack's lock (checkForLock: another lock fails the update)
    and releases it when done (deferred Unlock); apply() records a history entry, kind "update",
    result "succeeded" or "failed", whatever the outcome (addToHistory). A failed update is a
    bail (the engine displayed its errors): exit 1."""
    if not flags.get("yes") and not flags.get("skip-preview"):
        error("--yes or --skip-preview or --preview-only must be passed in to proceed when running "
              "in non-interactive mode", EXIT_CONFIGURATION)
    stack = require_stack(backend, flags)
    plan = read_plan(flags["plan"]) if flags.get("plan") else None
    injected(backend, stack, "up")
    own = backend.write_lock(stack, os.getpid())
    try:
        backend.check_lock(stack, own)
    except LockedError as locked:
        own.unlink()
        error(str(locked))
    start = int(time.time())
    result, done = run_update(backend, stack, flags, plan)
    environment = git_environment()
    if plan is not None:
        environment["updatePlan"] = "true"  # backend/updates.go UpdatePlan
    backend.add_history(stack, {
        "kind": "update", "startTime": start, "message": flags.get("message", ""),
        "environment": environment, "config": {}, "version": 0, "result": result,
        "endTime": int(time.time()), "resourceChanges": done,
    })
    own.unlink()
    if result != "succeeded":
        raise Exit(EXIT_ERROR)


def cmd_stack_export(backend: Backend, flags: dict[str, Any]) -> None:
    """stack/stack_export.go: ExportDeployment first (an unreadable checkpoint fails, no file is
    created), then the apitype.UntypedDeployment {version: 3, deployment} as indented JSON to
    --file (os.Create) or stdout; the deployment is DeploymentV3 (manifest, secrets_providers,
    resources, pending_operations: sdk/go/common/apitype/core.go). No lock is taken."""
    stack = require_stack(backend, flags)
    injected(backend, stack, "export")
    text = json.dumps({"version": 3, "deployment": backend.deployment(stack)}, indent=4) + "\n"
    if flags.get("file"):
        Path(flags["file"]).write_text(text)
    else:
        sys.stdout.write(text)


def cmd_stack_import(backend: Backend, flags: dict[str, Any]) -> None:
    """stack/stack_import.go + io.go SaveSnapshot: the file is decoded as an UntypedDeployment;
    pending operations are dropped with a warning; the DIY ImportDeployment takes the lock
    (diy/backend.go), so a locked stack fails with "could not import deployment: <lock
    message>" (exit 1); success prints "Import complete.". No history entry is written."""
    stack = require_stack(backend, flags)
    try:
        untyped = json.loads(Path(flags.get("file", "")).read_text())
        deployment = dict(untyped["deployment"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        error(f"could not read deployment: {exc}")
    for op in deployment.pop("pending_operations", None) or []:
        print(f"warning: removing pending operation '{op['type']}' on "
              f"'{op['resource']['urn']}' from snapshot", file=sys.stderr)
    own = backend.write_lock(stack, os.getpid())
    try:
        backend.check_lock(stack, own)
    except LockedError as locked:
        own.unlink()
        error(f"could not import deployment: {locked}")
    backend.write_deployment(stack, deployment)
    own.unlink()
    print("Import complete.")


def cmd_stack_history(backend: Backend, flags: dict[str, Any]) -> None:
    """stack/stack_history.go: `--json` (alias of --output=json) prints updateInfoJSON objects
    {version, kind, startTime, message, environment, config, result, endTime, resourceChanges},
    newest first, `--page-size` default 10 (a page past the end is `[]`; diy/state.go
    getHistory: page size 0 is everything)."""
    stack = require_stack(backend, flags)
    if not flags.get("json"):
        error("the stand-in renders only --json")
    size, page = int(flags.get("page-size", 10)), max(int(flags.get("page", 1)), 1)
    entries = backend.history(stack)
    if size > 0:
        entries = entries[(page - 1) * size: page * size]
    rendered = []
    for entry in entries:
        item = {key: entry[key] for key in ("version", "kind", "message", "environment")}
        item["startTime"] = history_time(entry["startTime"])
        item["config"] = {}
        item["result"] = entry["result"]
        if entry["result"] != "in-progress":
            item["endTime"] = history_time(entry["endTime"])
            item["resourceChanges"] = entry.get("resourceChanges", {})
        rendered.append(item)
    print(json.dumps(rendered, indent=4))


def cmd_cancel(backend: Backend, flags: dict[str, Any]) -> None:
    """cancel/cancel.go: no prompt when non-interactive; the DIY CancelCurrentUpdate deletes every
    lock file of the stack and is not an error when there is none (diy/backend.go), then
    "The currently running update for '<stack>' has been canceled!" on stdout, exit 0."""
    stack = require_stack(backend, flags)
    for path in backend.locks(stack):
        path.unlink()
    print(f"The currently running update for '{stack}' has been canceled!")


COMMANDS = {
    "preview": cmd_preview, "up": cmd_up, "stack export": cmd_stack_export,
    "stack import": cmd_stack_import, "stack history": cmd_stack_history, "cancel": cmd_cancel,
}


def main(argv: list[str]) -> int:
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        # backenderr.go LoginRequiredError -> ExitAuthenticationError (IsAuthError), exit 3
        print("error: this command requires logging in; try running `pulumi login` first",
              file=sys.stderr)
        return EXIT_AUTHENTICATION
    backend = Backend(Path(url.removeprefix("file://")))
    with (backend.root / CALLS_FILE).open("a") as log:
        log.write(json.dumps({"argv": argv, "cwd": os.getcwd()}) + "\n")
    words = 2 if argv[:1] == ["stack"] else 1
    command = " ".join(argv[:words])
    try:
        if command == "version":
            # version/version.go: version.Version, "v"-prefixed (sdk 3.272.0:automation/_cmd.py
            # strips the "v")
            print(VERSION)
            return 0
        if command not in COMMANDS:
            error(f'unknown command "{command}" for "pulumi"')
        COMMANDS[command](backend, parse(command, argv[words:]))
    except Exit as done:
        return done.code
    return 0


def install(bin_dir: Path, backend_dir: Path, stacks: tuple[str, ...] = ("prod", "stg")) -> Backend:
    """Puts `pulumi` (this module) in `bin_dir` and creates the stacks in a new backend."""
    root = Path(__file__).resolve().parents[3]
    script = bin_dir / "pulumi"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(root)!r})\n"
        "from tests.operations.standins.pulumi import main\nsys.exit(main(sys.argv[1:]))\n")
    script.chmod(0o755)
    backend_dir.mkdir(parents=True, exist_ok=True)
    backend = Backend(backend_dir)
    for stack in stacks:
        backend.create_stack(stack)
    return backend


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
