"""Pre-deploy backups: an OpenBao raft snapshot, its Velero copy off-site, a Velero tools backup.

Each is taken now and verified before a production `pulumi up` may change anything.

    uv run python -m ops.prebackup --stack prod --context plate-prod --label predeploy-1a2b3c4

Why: the scheduled backups may be a day old; a deploy that breaks OpenBao or a tool's data must
be recoverable to the minute before it, off the cluster (a snapshot only on the cluster's NFS
server is lost with it). `ops.deploy` runs `take()` for production stacks (its
`--skip-backups REASON` skips it); run this module by hand before any risky manual change.

`take(stack, kube_context, label)` (every kubectl call with `--context <kube_context>`,
`--request-timeout REQUEST_TIMEOUT` and a process timeout, KUBECTL_TIMEOUT):

  1. OpenBao: waits, up to SNAPSHOT_TIMEOUT, until the CronJob `openbao-snapshot` (namespace
     openbao) has no running Job (`status.active`): the script removes the partial file of an
     interrupted run, so two runs must not overlap (components/tools/openbao/snapshot.py). Then
     `kubectl create job <label>-<stamp> --from=cronjob/openbao-snapshot` (the CronJob's pod:
     its identity, and BAO_CACERT, the internal CA that OpenBao's TLS certificate is verified
     against) and polls the Job (`kubectl get jobs.batch <name> -o json`) until its `Complete`
     condition is True; its `Failed` condition (BackoffLimitExceeded, DeadlineExceeded: the
     template allows 3 pods and 1800 s) or SNAPSHOT_TIMEOUT fails. The script exits non-zero
     unless the snapshot is non-empty, its meta.json and state.bin match its SHA256SUMS, and it
     was renamed into place, so a complete Job is a verified snapshot on the volume
     `openbao-snapshots`.
  2. The snapshot's copy: the snapshot is still only on the cluster's NFS server, and the
     Schedule `velero-tools` leaves out the openbao namespace (OpenBao never comes back from a
     file copy of its raft volumes). The volume is copied off-site by the Schedule
     `velero-openbao-snapshots` (namespace velero; its template: namespace openbao, only what
     carries `app.kubernetes.io/name: openbao-snapshot`, i.e. the volume and the shelf pod that
     mounts it, components/tools/openbao/backup.py). So the Backup `<label>-<stamp>-bao` is
     created from that Schedule exactly as in step 3 and verified the same way, with
     SNAPSHOT_COPY_TIMEOUT instead of BACKUP_TIMEOUT, before the tools backup starts; a failure
     stops here.
  3. Velero: reads the Schedule `velero-tools` (namespace velero) and creates the Backup
     `<label>-<stamp>` that `velero backup create <name> --from-schedule velero-tools` would
     (Velero v1.18.1, the chart's appVersion: pkg/cmd/cli/backup/create.go BuildBackup ->
     pkg/builder/backup_builder.go FromSchedule): the spec is the schedule's `spec.template`;
     the labels are `spec.template.metadata.labels` when set, else the Schedule's own labels,
     plus `velero.io/schedule-name: <schedule>`; the Schedule's annotations (and ours,
     `plate.dev/pre-deploy`); an owner reference to the Schedule only when
     `useOwnerReferencesInBackup` is true (the platform sets false). It is created with `kubectl
     create -f -`, not applied: like the CLI's `client.Create`, an existing name is an error,
     never an update. Through the schedule-name label Velero counts it as a run of the schedule
     (its schedule controller skips a scheduled run while it is New or InProgress, and its
     metrics count its success). Then polls `status.phase` until `Completed` with items
     backed up (`status.progress.itemsBackedUp`; an empty backup is a wrong template or
     selector); `Failed`, `PartiallyFailed`, `FailedValidation` (and `Deleting`) or
     BACKUP_TIMEOUT fail, with the items backed up, errors, warnings and the failure reason or
     first validation error.

`label` must be a DNS label of at most MAX_LABEL characters (e.g. `predeploy-<short sha>`), so
that the longest name, `<label>-<stamp>-bao`, is one too; the stamp is UTC `YYYYmmddHHMMSS`
(Velero's own timestamped names), one for all three objects. It returns one line a verified
backup, `["openbao/<job name>", "velero/<tools backup name>", "velero/<snapshot copy name>"]`
(namespace/name), and prints one line a step; any failure raises BackupFailed with a one-line
message. Exit status of the CLI: 0 when all three are taken, 1 on BackupFailed (the message on
stderr), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

# what the program names (components/tools/openbao/backup.py, components/tools/velero: the
# chart's Schedule is `<fullname>-<key>`, fullname `velero`); tests/operations/test_prebackup.py
# checks them against the rendered stack
SNAPSHOT_NAMESPACE = "openbao"
SNAPSHOT_CRONJOB = "openbao-snapshot"
VELERO_NAMESPACE = "velero"
VELERO_SCHEDULE = "velero-tools"
SNAPSHOT_SCHEDULE = "velero-openbao-snapshots"  # copies the volume openbao-snapshots off-site
SNAPSHOT_COPY_SUFFIX = "-bao"  # the copy's Backup: `<label>-<stamp>-bao`
SCHEDULE_NAME_LABEL = "velero.io/schedule-name"  # Velero v1.18.1 velerov1api.ScheduleNameLabel
PRE_DEPLOY_ANNOTATION = "plate.dev/pre-deploy"

KUBECTL_TIMEOUT = 60.0  # seconds one kubectl process may run before it is killed
REQUEST_TIMEOUT = "30s"  # kubectl --request-timeout: one API request
POLL_INTERVAL = 5.0  # seconds between two reads of a Job's or a Backup's status
# the snapshot Job's template allows 1800 s (activeDeadlineSeconds) and 3 pods; then its
# Failed condition says so. Five minutes more for pulling the image and the controller
SNAPSHOT_TIMEOUT = 2100.0
BACKUP_TIMEOUT = 3600.0  # the tools' file-system backup (kopia: incremental after the first)
# one small volume, but Velero takes one backup at a time: both schedules fire at the same time,
# so the copy may be queued behind a running scheduled backup of the tools
SNAPSHOT_COPY_TIMEOUT = 1800.0

STAMP_FORMAT = "%Y%m%d%H%M%S"  # Velero's Schedule.TimestampedName layout "20060102150405"
# a Job's name is also a pod label value (63 characters); so is a Backup's, for its volumes.
# The longest name is the snapshot copy's, `<label>-<stamp>-bao`
MAX_LABEL = 63 - len("-") - len("20060102150405") - len(SNAPSHOT_COPY_SUFFIX)
LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Velero v1.18.1 pkg/apis/velero/v1/backup_types.go BackupPhase: the ends of a backup
BACKUP_DONE = "Completed"
BACKUP_FAILED = ("Failed", "PartiallyFailed", "FailedValidation", "Deleting")
MAX_LINE = 300


class BackupFailed(Exception):
    """A pre-deploy backup was not taken or not verified; the message is one line."""


def _one_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= MAX_LINE else first[: MAX_LINE - 3] + "..."


def check_label(label: str) -> str:
    """`label` when it is a DNS label of at most MAX_LABEL characters, else BackupFailed."""
    if len(label) > MAX_LABEL or not LABEL.fullmatch(label):
        raise BackupFailed(
            f"label {label!r} is not a DNS label of at most {MAX_LABEL} characters "
            f"(lower-case letters, digits and '-', e.g. predeploy-1a2b3c4)"
        )
    return label


def kubectl(context: str, *args: str, stdin: str | None = None) -> str:
    """The stdout of `kubectl --context <context> ... <args>`; BackupFailed (the command, its
    exit status and the last line of its stderr) when it fails, hangs or is missing."""
    command = ["kubectl", "--context", context, "--request-timeout", REQUEST_TIMEOUT, *args]
    shown = shlex.join(command)
    try:
        result = subprocess.run(command, input=stdin, capture_output=True, text=True,
                                timeout=KUBECTL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BackupFailed(f"{shown}: timed out after {KUBECTL_TIMEOUT:g} s") from None
    except OSError as exc:
        raise BackupFailed(f"{shown}: cannot run: {exc.strerror or exc}") from None
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        last = lines[-1][:MAX_LINE] if lines else "(no stderr)"
        raise BackupFailed(f"{shown}: exit {result.returncode}: {last}")
    return result.stdout


def kubectl_json(context: str, *args: str, stdin: str | None = None) -> dict[str, Any]:
    out = kubectl(context, *args, "-o", "json", stdin=stdin)
    try:
        obj = json.loads(out)
    except ValueError as exc:
        raise BackupFailed(f"kubectl {' '.join(args)}: output is not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise BackupFailed(f"kubectl {' '.join(args)}: output is not a JSON object")
    return obj


def wait_for(what: str, poll: Callable[[], bool], timeout: float,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> None:
    """Calls `poll` until it returns True (it raises BackupFailed on a failure); BackupFailed
    when `timeout` seconds pass first. Sleeps POLL_INTERVAL between calls, never past the end."""
    deadline = clock() + timeout
    while not poll():
        remaining = deadline - clock()
        if remaining <= 0:
            raise BackupFailed(f"{what}: not done after {timeout:g} s")
        sleep(min(POLL_INTERVAL, remaining))


# --- OpenBao ------------------------------------------------------------------------------------


def job_finished(job: Mapping[str, Any]) -> bool:
    """True when the Job's Complete condition is True; BackupFailed when its Failed one is.

    Kubernetes 1.34 batch/v1 JobConditionType: SuccessCriteriaMet and FailureTarget come first
    (pods may still be terminating); Complete and Failed are the ends.
    """
    conditions = (job.get("status") or {}).get("conditions") or []
    state = {c.get("type"): c for c in conditions if c.get("status") == "True"}
    meta = job.get("metadata") or {}
    if "Failed" in state:
        name = f"{meta.get('namespace', SNAPSHOT_NAMESPACE)}/{meta.get('name', '?')}"
        reason = state["Failed"].get("reason") or "no reason given"
        raise BackupFailed(
            f"OpenBao snapshot Job {name} failed ({reason}, {job['status'].get('failed', 0)} "
            f"failed pods): kubectl logs -n {meta.get('namespace', SNAPSHOT_NAMESPACE)} "
            f"job/{meta.get('name', '?')}"
        )
    return "Complete" in state


def snapshot(context: str, name: str, log: Callable[[str], None]) -> str:
    """Step 1: a snapshot Job from the CronJob, once no scheduled run is active; its name."""
    where = ("-n", SNAPSHOT_NAMESPACE)

    told: set[str] = set()

    def idle() -> bool:
        cronjob = kubectl_json(context, "get", "cronjobs.batch", SNAPSHOT_CRONJOB, *where)
        active = (cronjob.get("status") or {}).get("active") or []
        running = {ref.get("name", "?") for ref in active}
        if running - told:
            log(f"waiting for the running snapshot Job {', '.join(sorted(running))} to end")
            told.update(running)
        return not running

    wait_for(f"CronJob {SNAPSHOT_NAMESPACE}/{SNAPSHOT_CRONJOB} has a running Job", idle,
             SNAPSHOT_TIMEOUT)
    kubectl_json(context, "create", "job", name, f"--from=cronjob/{SNAPSHOT_CRONJOB}", *where)
    log(f"OpenBao snapshot Job {SNAPSHOT_NAMESPACE}/{name} created from cronjob/"
        f"{SNAPSHOT_CRONJOB}")
    wait_for(f"OpenBao snapshot Job {SNAPSHOT_NAMESPACE}/{name}",
             lambda: job_finished(kubectl_json(context, "get", "jobs.batch", name, *where)),
             SNAPSHOT_TIMEOUT)
    log(f"OpenBao snapshot Job {SNAPSHOT_NAMESPACE}/{name} complete: snapshot saved and its "
        f"checksums verified")
    return name


# --- Velero -------------------------------------------------------------------------------------


def backup_from_schedule(
    schedule: Mapping[str, Any], name: str, annotations: Mapping[str, str]
) -> dict[str, Any]:
    """The Backup `velero backup create <name> --from-schedule <schedule>` creates (see the
    module docstring), plus `annotations`."""
    meta = schedule["metadata"]
    spec = schedule.get("spec") or {}
    template: dict[str, Any] = copy.deepcopy(spec.get("template") or {})
    template_labels = (template.get("metadata") or {}).get("labels")
    labels = dict(template_labels if template_labels is not None else meta.get("labels") or {})
    labels[SCHEDULE_NAME_LABEL] = meta["name"]
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": meta.get("namespace", VELERO_NAMESPACE),
        "labels": labels,
        "annotations": {**(meta.get("annotations") or {}), **annotations},
    }
    if spec.get("useOwnerReferencesInBackup") is True:
        metadata["ownerReferences"] = [{
            "apiVersion": "velero.io/v1", "kind": "Schedule", "name": meta["name"],
            "uid": meta.get("uid", ""), "controller": True,
        }]
    if template.get("resourcePolicy"):
        # FromSchedule -> ResourcePolicies(name): the reference is always to a ConfigMap
        template["resourcePolicy"] = {"kind": "configmap",
                                      "name": template["resourcePolicy"].get("name")}
    return {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": metadata, "spec": template}


def backup_summary(status: Mapping[str, Any]) -> str:
    """`<backed up>/<total> items, <n> errors, <n> warnings` from a Backup's status."""
    progress = status.get("progress") or {}
    return (f"{progress.get('itemsBackedUp', 0)}/{progress.get('totalItems', 0)} items, "
            f"{status.get('errors', 0)} errors, {status.get('warnings', 0)} warnings")


def backup_finished(backup: Mapping[str, Any], schedule: str = VELERO_SCHEDULE) -> bool:
    """True when the Backup's phase is Completed; BackupFailed when it is a failed end or backed
    up nothing (`schedule`: the Schedule it was made from, named in that message)."""
    status = backup.get("status") or {}
    phase = status.get("phase") or "New"
    name = backup.get("metadata", {}).get("name", "?")
    if phase in BACKUP_FAILED:
        why = status.get("failureReason") or next(iter(status.get("validationErrors") or []), "")
        raise BackupFailed(
            f"Velero backup {VELERO_NAMESPACE}/{name}: {phase}: {backup_summary(status)}"
            + (f": {_one_line(why)}" if why else "")
            + f" (velero backup describe {name} --details)"
        )
    if phase == BACKUP_DONE and not (status.get("progress") or {}).get("itemsBackedUp"):
        # a backup of the stateful tools' namespaces, or of the snapshot volume and its shelf
        # pod, is never empty: the template (or its label selector) is wrong
        selector = " and labelSelector" if (backup.get("spec") or {}).get("labelSelector") else ""
        raise BackupFailed(f"Velero backup {VELERO_NAMESPACE}/{name}: Completed but backed up "
                           f"no items ({backup_summary(status)}): check the schedule "
                           f"{schedule}'s includedNamespaces{selector}")
    return phase == BACKUP_DONE


def velero_backup(context: str, schedule_name: str, name: str, annotations: Mapping[str, str],
                  log: Callable[[str], None], timeout: float) -> str:
    """Steps 2 and 3: the Backup `name` from the template of the Schedule `schedule_name`, until
    Completed (at most `timeout` seconds); its name."""
    where = ("-n", VELERO_NAMESPACE)
    schedule = kubectl_json(context, "get", "schedules.velero.io", schedule_name, *where)
    backup = backup_from_schedule(schedule, name, annotations)
    kubectl_json(context, "create", "-f", "-", *where, stdin=json.dumps(backup))
    log(f"Velero backup {VELERO_NAMESPACE}/{name} created from schedule {schedule_name}")
    last: dict[str, Any] = {}

    def done() -> bool:
        last.update(kubectl_json(context, "get", "backups.velero.io", name, *where))
        return backup_finished(last, schedule_name)

    wait_for(f"Velero backup {VELERO_NAMESPACE}/{name}", done, timeout)
    log(f"Velero backup {VELERO_NAMESPACE}/{name} Completed: "
        f"{backup_summary(last.get('status') or {})}")
    return name


# --- all three ----------------------------------------------------------------------------------


def take(stack: str, kube_context: str, label: str,
         *, log: Callable[[str], None] = print) -> list[str]:
    """The OpenBao snapshot, its Velero copy and the Velero backup of the tools, taken and
    verified in that order (module docstring): `["openbao/<job>", "velero/<tools backup>",
    "velero/<snapshot copy>"]`; BackupFailed with one line otherwise."""
    name = f"{check_label(label)}-{datetime.now(UTC).strftime(STAMP_FORMAT)}"
    job = snapshot(kube_context, name, log)
    annotations = {PRE_DEPLOY_ANNOTATION: f"{stack} {label}"}
    # the copy first, so that it holds the snapshot just taken
    copied = velero_backup(kube_context, SNAPSHOT_SCHEDULE, f"{name}{SNAPSHOT_COPY_SUFFIX}",
                           annotations, log, SNAPSHOT_COPY_TIMEOUT)
    backup = velero_backup(kube_context, VELERO_SCHEDULE, name, annotations, log, BACKUP_TIMEOUT)
    return [f"{SNAPSHOT_NAMESPACE}/{job}", f"{VELERO_NAMESPACE}/{backup}",
            f"{VELERO_NAMESPACE}/{copied}"]


def _label(value: str) -> str:
    try:
        return check_label(value)
    except BackupFailed as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True, help="the stack being deployed (for the record)")
    parser.add_argument("--context", required=True, help="the stack's kube context")
    parser.add_argument("--label", required=True, type=_label,
                        help=f"name prefix, a DNS label of at most {MAX_LABEL} characters")
    args = parser.parse_args(argv)
    try:
        taken = take(args.stack, args.context, args.label)
    except BackupFailed as exc:
        print(f"prebackup: {exc}", file=sys.stderr)
        return 1
    print(f"pre-deploy backups of {args.stack}, each verified: {', '.join(taken)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
