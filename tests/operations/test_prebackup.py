"""Pre-deploy backups (`ops/prebackup.py`) against the kubectl stand-in (standins/kubectl.py).

The cluster holds the CronJob `openbao-snapshot` and the Schedules `velero-openbao-snapshots` and
`velero-tools` exactly as the committed prod stack renders them (tests.harness.rendered); the Job
controller and Velero are timelines of the statuses they report (Kubernetes 1.34 batch/v1 Job
conditions, Velero v1.18.1 Backup phases, see the fixtures). Velero's timelines are queued in
creation order: the snapshot copy's first, then the tools backup's.

Verifies: `take()` creates the snapshot Job from the CronJob (kubectl's own `--from` object: the
manual annotation, the owner reference, the template's spec), waits for Complete, then creates the
snapshot's copy and then the tools backup, each the Backup `velero backup create --from-schedule`
would (the template as spec, the schedule-name label, checked against the pinned Velero CRD),
waits for each to be Completed and returns all three as namespace/name, every kubectl call with
the stack's context and a request timeout; it waits for a running scheduled snapshot first; a
Failed Job stops it before Velero, naming the reason; a failed copy stops it before the tools
backup; each failed Backup phase (of either backup) is one line with the counts and the reason,
and so is a Completed backup without items; a Job or Backup that never ends, a hanging kubectl,
a missing CronJob, Velero not installed, an unknown context and an unreachable cluster are
one-line BackupFailed; a bad label is refused before any call; the names are the program's (and
the tools schedule indeed leaves the snapshots out); the CLI's exit codes; the stand-in's own
contract (List shape, NotFound, create messages).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from components.tools.openbao import backup as openbao_backup
from ops import prebackup
from ops.prebackup import BackupFailed, backup_from_schedule, main, take
from tests.harness import rendered
from tests.operations.standins.kubectl import Cluster
from tests.schemas import crd_errors

CONTEXT = "plate-prod"
LABEL = "predeploy-1a2b3c4"
NAME = re.compile(rf"{LABEL}-\d{{14}}")
COPY = "-bao"  # the snapshot copy's Backup: <NAME>-bao


def _api_numbers(value: Any) -> Any:
    """The rendered objects hold Pulumi's numbers (floats); the API server stores integers."""
    if isinstance(value, dict):
        return {k: _api_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_api_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def rendered_object(kind: str, name: str) -> dict[str, Any]:
    found = next(o for o in rendered("prod").objects if o.kind == kind and o.name == name)
    obj: dict[str, Any] = _api_numbers(copy.deepcopy(found.body))
    obj["metadata"].setdefault("uid", f"uid-of-{name}")
    return obj


# what the controllers report (Kubernetes 1.34 k8s.io/api batch/v1 types.go: JobConditionType
# SuccessCriteriaMet then Complete, FailureTarget then Failed; JobReasonBackoffLimitExceeded)
JOB_RUNNING = {"active": 1, "ready": 1, "startTime": "2026-01-01T00:00:02Z", "terminating": 0}
JOB_COMPLETE = {
    "completionTime": "2026-01-01T00:00:30Z", "ready": 0, "startTime": "2026-01-01T00:00:02Z",
    "succeeded": 1, "terminating": 0,
    "conditions": [{"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
                   {"type": "Complete", "status": "True"}],
}
JOB_FAILING = {"failed": 3, "ready": 0, "startTime": "2026-01-01T00:00:02Z", "conditions": [
    {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"}]}
JOB_FAILED = {**JOB_FAILING, "conditions": [
    *JOB_FAILING["conditions"],
    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}


# Velero v1.18.1: "" -> Queued (queuePosition, backup_queue_controller.go) -> ReadyToStart ->
# InProgress (startTimestamp, expiration, version 1, formatVersion 1.1.0, backup_controller.go)
# -> Finalizing -> Completed / PartiallyFailed / Failed (failureReason); FailedValidation with
# validationErrors instead of InProgress
def backup_status(phase: str, **fields: Any) -> dict[str, Any]:
    started = {"startTimestamp": "2026-01-01T00:01:00Z", "expiration": "2026-01-31T00:01:00Z",
               "version": 1, "formatVersion": "1.1.0"}
    if phase in ("Queued", "ReadyToStart"):
        return {"phase": phase, "queuePosition": 1}
    if phase == "FailedValidation":
        return {"phase": phase, **fields}
    if phase in ("InProgress", "Finalizing"):
        return {"phase": phase, **started, "progress": {"totalItems": 812, "itemsBackedUp": 400}}
    return {"phase": phase, **started, "completionTimestamp": "2026-01-01T00:09:00Z",
            "progress": {"totalItems": 812, "itemsBackedUp": 812}, **fields}


BACKUP_RUNNING = [{}, backup_status("Queued"), backup_status("ReadyToStart"),
                  backup_status("InProgress"), backup_status("Finalizing")]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    """The prod cluster with the rendered CronJob and Schedule, `kubectl` first on PATH."""
    made = Cluster(tmp_path / "cluster.json", contexts=[CONTEXT, "plate-stg"])
    made.add(rendered_object("CronJob", "openbao-snapshot"), timeline=[{"lastScheduleTime": (
        "2026-01-01T00:00:00Z"), "lastSuccessfulTime": "2026-01-01T00:00:40Z"}])
    made.add(rendered_object("Schedule", "velero-openbao-snapshots"))
    made.add(rendered_object("Schedule", "velero-tools"))
    made.install(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setattr(prebackup, "POLL_INTERVAL", 0.0)
    return made


def lines() -> tuple[list[str], Any]:
    logged: list[str] = []
    return logged, logged.append


def backups_end(cluster: Cluster, copy_end: list[dict[str, Any]],
                tools_end: list[dict[str, Any]] | None = None) -> None:
    """What Velero reports for the snapshot copy (created first), then for the tools backup."""
    cluster.on_create("Backup", "velero", copy_end)
    if tools_end is not None:
        cluster.on_create("Backup", "velero", tools_end)


def creates(cluster: Cluster) -> list[dict[str, Any]]:
    """The objects sent with `kubectl create -f -`, in order."""
    made = cluster.calls()
    return [json.loads(cluster.stdin_of(i) or "") for i, c in enumerate(made)
            if c[5:8] == ["create", "-f", "-"]]


# --- the whole run ------------------------------------------------------------------------------


def test_take_snapshots_copies_it_then_backs_up_and_returns_all_three(cluster: Cluster):
    cluster.on_create("Job", "openbao", [JOB_RUNNING, JOB_RUNNING, JOB_COMPLETE])
    snapshot_files = {"totalItems": 9, "itemsBackedUp": 9}  # the volume, the shelf pod, ...
    backups_end(cluster, [*BACKUP_RUNNING, {**backup_status("Completed"),
                                            "progress": snapshot_files}],
                [*BACKUP_RUNNING, backup_status("Completed", warnings=2)])
    logged, log = lines()
    job_ref, backup_ref, copy_ref = take("prod", CONTEXT, LABEL, log=log)

    namespace, job_name = job_ref.split("/")
    assert namespace == "openbao" and NAME.fullmatch(job_name)
    assert backup_ref == f"velero/{job_name}"  # one stamp for all three
    assert copy_ref == f"velero/{job_name}{COPY}"
    job = cluster.get("Job", "openbao", job_name)
    assert job is not None
    cronjob = rendered_object("CronJob", "openbao-snapshot")
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "openbao-snapshot",
        "uid": "uid-of-openbao-snapshot", "controller": True}]
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]

    for name, schedule_name in ((f"{job_name}{COPY}", "velero-openbao-snapshots"),
                                (job_name, "velero-tools")):
        backup = cluster.get("Backup", "velero", name)
        assert backup is not None, name
        schedule = rendered_object("Schedule", schedule_name)
        assert backup["spec"] == schedule["spec"]["template"]
        assert backup["metadata"]["labels"] == {
            **schedule["metadata"]["labels"], "velero.io/schedule-name": schedule_name}
        assert backup["metadata"]["annotations"] == {"plate.dev/pre-deploy": f"prod {LABEL}"}
    sent = creates(cluster)
    assert [b["metadata"]["name"] for b in sent] == [f"{job_name}{COPY}", job_name]
    assert [crd_errors(b) for b in sent] == [[], []]  # valid velero.io/v1 Backups
    # the copy takes only the snapshot volume and its shelf, in the openbao namespace
    assert sent[0]["spec"]["includedNamespaces"] == ["openbao"]
    assert sent[0]["spec"]["labelSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "openbao-snapshot"}}
    assert logged == [
        f"OpenBao snapshot Job openbao/{job_name} created from cronjob/openbao-snapshot",
        f"OpenBao snapshot Job openbao/{job_name} complete: snapshot saved and its checksums "
        "verified",
        f"Velero backup velero/{job_name}{COPY} created from schedule velero-openbao-snapshots",
        f"Velero backup velero/{job_name}{COPY} Completed: 9/9 items, 0 errors, 0 warnings",
        f"Velero backup velero/{job_name} created from schedule velero-tools",
        f"Velero backup velero/{job_name} Completed: 812/812 items, 0 errors, 2 warnings",
    ]


def test_every_kubectl_call_names_the_context_and_a_request_timeout(cluster: Cluster):
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    backups_end(cluster, [backup_status("Completed")], [backup_status("Completed")])
    _, backup_ref, copy_ref = take("prod", CONTEXT, LABEL, log=lambda line: None)
    name = backup_ref.split("/")[1]
    assert copy_ref == f"velero/{name}{COPY}"
    made = cluster.calls()
    assert [c[:5] for c in made] == [
        ["kubectl", "--context", CONTEXT, "--request-timeout", "30s"]] * 9
    assert [c[5:] for c in made] == [
        ["get", "cronjobs.batch", "openbao-snapshot", "-n", "openbao", "-o", "json"],
        ["create", "job", name, "--from=cronjob/openbao-snapshot", "-n", "openbao", "-o", "json"],
        ["get", "jobs.batch", name, "-n", "openbao", "-o", "json"],
        ["get", "schedules.velero.io", "velero-openbao-snapshots", "-n", "velero", "-o", "json"],
        ["create", "-f", "-", "-n", "velero", "-o", "json"],
        ["get", "backups.velero.io", f"{name}{COPY}", "-n", "velero", "-o", "json"],
        ["get", "schedules.velero.io", "velero-tools", "-n", "velero", "-o", "json"],
        ["create", "-f", "-", "-n", "velero", "-o", "json"],
        ["get", "backups.velero.io", name, "-n", "velero", "-o", "json"],
    ]
    assert [b["metadata"]["name"] for b in creates(cluster)] == [f"{name}{COPY}", name]


def test_a_running_scheduled_snapshot_is_waited_for_first(cluster: Cluster):
    busy = {"active": [{"apiVersion": "batch/v1", "kind": "Job", "name": "openbao-snapshot-2961",
                        "namespace": "openbao", "uid": "u1"}],
            "lastScheduleTime": "2026-01-01T00:00:00Z"}
    cronjob = rendered_object("CronJob", "openbao-snapshot")
    cluster.add(cronjob, timeline=[busy, busy, {"lastScheduleTime": "2026-01-01T00:00:00Z"}])
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    backups_end(cluster, [backup_status("Completed")], [backup_status("Completed")])
    logged, log = lines()
    take("prod", CONTEXT, LABEL, log=log)
    assert logged[0] == "waiting for the running snapshot Job openbao-snapshot-2961 to end"
    assert logged[1].startswith("OpenBao snapshot Job openbao/predeploy-1a2b3c4-")
    kinds = [c[6] for c in cluster.calls()[:4]]
    assert kinds == ["cronjobs.batch"] * 3 + ["job"]  # created only once the CronJob is idle


# --- failures -----------------------------------------------------------------------------------


def test_a_failed_snapshot_job_stops_before_velero_and_names_the_reason(cluster: Cluster):
    cluster.on_create("Job", "openbao", [JOB_RUNNING, JOB_FAILING, JOB_FAILED])
    with pytest.raises(BackupFailed) as failed:
        take("prod", CONTEXT, LABEL, log=lambda line: None)
    message = str(failed.value)
    assert "\n" not in message
    assert re.fullmatch(
        rf"OpenBao snapshot Job openbao/({NAME.pattern}) failed \(BackoffLimitExceeded, 3 failed "
        r"pods\): kubectl logs -n openbao job/\1", message)
    # FailureTarget alone is not the end: the Job was read until Failed
    assert [c[6] for c in cluster.calls()].count("jobs.batch") == 3
    assert cluster.objects("Backup") == []


def test_a_failed_snapshot_copy_stops_before_the_tools_backup(cluster: Cluster):
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    failed_copy = {**backup_status("Failed", failureReason="rpc error: code = Unavailable desc = "
                                    "connection refused"),
                   "progress": {"totalItems": 9, "itemsBackedUp": 4}}
    backups_end(cluster, [{}, backup_status("Queued"), backup_status("InProgress"), failed_copy],
                [backup_status("Completed")])
    with pytest.raises(BackupFailed) as failed:
        take("prod", CONTEXT, LABEL, log=lambda line: None)
    match = re.fullmatch(
        rf"Velero backup velero/({NAME.pattern}{COPY}): Failed: 4/9 items, 0 errors, 0 warnings: "
        r"rpc error: code = Unavailable desc = connection refused \(velero backup describe "
        r"\1 --details\)", str(failed.value))
    assert match is not None, str(failed.value)
    # the copy was read until Failed; the tools schedule never read, no second Backup
    made = [c[5:8] for c in cluster.calls()]
    assert made[-6:] == [["get", "schedules.velero.io", "velero-openbao-snapshots"],
                         ["create", "-f", "-"]] + [["get", "backups.velero.io", match.group(1)]] * 4
    assert ["get", "schedules.velero.io", "velero-tools"] not in made
    assert [b["metadata"]["name"] for b in cluster.objects("Backup")] == [match.group(1)]


@pytest.mark.parametrize("which", ["copy", "tools"])
@pytest.mark.parametrize(("end", "expected"), [
    (backup_status("PartiallyFailed", errors=3, warnings=1),
     "PartiallyFailed: 812/812 items, 3 errors, 1 warnings"),
    (backup_status("Failed", failureReason="rpc error: code = Unknown desc = upload failed\nmore"),
     "Failed: 812/812 items, 0 errors, 0 warnings: rpc error: code = Unknown desc = upload "
     "failed"),
    (backup_status("FailedValidation", validationErrors=[
        "an existing backup storage location was not specified at backup creation time and the "
        "default default was not found."]),
     "FailedValidation: 0/0 items, 0 errors, 0 warnings: an existing backup storage location "
     "was not specified at backup creation time and the default default was not found."),
])
def test_each_failed_backup_phase_is_one_line_with_counts_and_reason(
    cluster: Cluster, end: dict[str, Any], expected: str, which: str,
):
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    if which == "copy":
        backups_end(cluster, [{}, end])
    else:
        backups_end(cluster, [backup_status("Completed")], [{}, end])
    with pytest.raises(BackupFailed) as failed:
        take("prod", CONTEXT, LABEL, log=lambda line: None)
    suffix = COPY if which == "copy" else ""
    match = re.fullmatch(rf"Velero backup velero/({NAME.pattern}{suffix}): (.*) \(velero backup "
                         r"describe \1 --details\)", str(failed.value))
    assert match is not None, str(failed.value)
    assert match.group(2) == expected


def test_a_completed_backup_without_items_is_not_a_backup(cluster: Cluster):
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    empty = {**backup_status("Completed"), "progress": {}}  # Velero omits zero counts (omitempty)
    backups_end(cluster, [backup_status("Completed")], [empty])
    with pytest.raises(BackupFailed, match=rf"^Velero backup velero/{NAME.pattern}: Completed but "
                       r"backed up no items \(0/0 items, 0 errors, 0 warnings\): check the "
                       r"schedule velero-tools's includedNamespaces$"):
        take("prod", CONTEXT, LABEL, log=lambda line: None)
    # an empty copy: the selector matched nothing (the volume's or the shelf's labels changed)
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    backups_end(cluster, [empty], [backup_status("Completed")])
    with pytest.raises(BackupFailed, match=r"^Velero backup velero/predeploy-empty-\d{14}-bao: "
                       r"Completed but backed up no items \(0/0 items, 0 errors, 0 warnings\): "
                       r"check the schedule velero-openbao-snapshots's includedNamespaces and "
                       r"labelSelector$"):
        take("prod", CONTEXT, "predeploy-empty", log=lambda line: None)


def test_a_job_or_backup_that_never_ends_times_out(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(prebackup, "POLL_INTERVAL", 0.05)
    monkeypatch.setattr(prebackup, "SNAPSHOT_TIMEOUT", 0.3)
    cluster.on_create("Job", "openbao", [JOB_RUNNING])
    with pytest.raises(BackupFailed, match=rf"^OpenBao snapshot Job openbao/{NAME.pattern}: not "
                       r"done after 0\.3 s$"):
        take("prod", CONTEXT, LABEL, log=lambda line: None)
    monkeypatch.setattr(prebackup, "SNAPSHOT_COPY_TIMEOUT", 0.2)
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    backups_end(cluster, [backup_status("Queued")])
    with pytest.raises(BackupFailed, match=r"^Velero backup velero/predeploy-copy-\d{14}-bao: not "
                       r"done after 0\.2 s$"):
        take("prod", CONTEXT, "predeploy-copy", log=lambda line: None)
    monkeypatch.setattr(prebackup, "BACKUP_TIMEOUT", 0.3)
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    backups_end(cluster, [backup_status("Completed")], [backup_status("InProgress")])
    with pytest.raises(BackupFailed, match=r"^Velero backup velero/predeploy-again-\d{14}: not "
                       r"done after 0\.3 s$"):
        take("prod", CONTEXT, "predeploy-again", log=lambda line: None)


def test_kubectl_failures_are_one_line_with_command_exit_and_message(cluster: Cluster):
    prefix = f"kubectl --context {CONTEXT} --request-timeout 30s"
    cluster.unserve("Schedule")  # Velero not installed
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    with pytest.raises(BackupFailed) as no_velero:
        take("prod", CONTEXT, LABEL, log=lambda line: None)
    assert str(no_velero.value) == (
        f"{prefix} get schedules.velero.io velero-openbao-snapshots -n velero -o json: exit 1: "
        "error: the server doesn't have a resource type \"schedules\"")
    with pytest.raises(BackupFailed) as no_context:
        take("prod", "plate-prd", LABEL, log=lambda line: None)
    assert str(no_context.value) == (
        "kubectl --context plate-prd --request-timeout 30s get cronjobs.batch openbao-snapshot "
        "-n openbao -o json: exit 1: Error in configuration: context was not found for specified "
        "context: plate-prd")
    cluster.unreachable("dial tcp 192.168.10.2:6443: i/o timeout")
    with pytest.raises(BackupFailed, match=r": exit 1: Unable to connect to the server: dial tcp "
                       r"192\.168\.10\.2:6443: i/o timeout$"):
        take("prod", CONTEXT, LABEL, log=lambda line: None)


def test_a_missing_cronjob_is_the_api_servers_not_found(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    empty = Cluster(tmp_path / "cluster.json", contexts=[CONTEXT])
    empty.install(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    with pytest.raises(BackupFailed, match=r'exit 1: Error from server \(NotFound\): '
                       r'cronjobs\.batch "openbao-snapshot" not found$'):
        take("prod", CONTEXT, LABEL, log=lambda line: None)


def test_a_hanging_kubectl_is_killed_after_its_timeout(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # an API server that never answers: kubectl blocks (until --request-timeout, 30 s)
    (bin_dir / "kubectl").write_text("#!/bin/sh\nexec sleep 30\n")
    (bin_dir / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(prebackup, "KUBECTL_TIMEOUT", 0.3)
    with pytest.raises(BackupFailed, match=r"^kubectl --context plate-prod --request-timeout 30s "
                       r"get cronjobs\.batch .*: timed out after 0\.3 s$"):
        take("prod", CONTEXT, LABEL, log=lambda line: None)


@pytest.mark.parametrize("label", ["", "Predeploy", "predeploy_1", "-predeploy", "predeploy-",
                                   "p" * 45, "prédeploy"])
def test_a_label_that_is_not_a_short_dns_label_is_refused_before_any_call(
    cluster: Cluster, label: str,
):
    with pytest.raises(BackupFailed, match=r"is not a DNS label of at most 44 characters"):
        take("prod", CONTEXT, label, log=lambda line: None)
    assert cluster.calls() == []
    # the longest name, the snapshot copy's, still fits a label value
    assert len(f"{'p' * 44}-20260101000000{COPY}") == 63


def test_the_longest_label_makes_names_that_are_label_values(cluster: Cluster):
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    backups_end(cluster, [backup_status("Completed")], [backup_status("Completed")])
    taken = take("prod", CONTEXT, "p" * 44, log=lambda line: None)
    names = [ref.split("/")[1] for ref in taken]
    assert [len(n) for n in names] == [59, 59, 63]
    assert len(set(taken)) == 3
    assert all(prebackup.LABEL.fullmatch(n) for n in names)


# --- the Backup from the schedule ---------------------------------------------------------------


def test_the_backup_follows_velero_s_from_schedule_rules():
    schedule = {
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "nightly", "namespace": "velero", "uid": "s-uid",
                     "labels": {"team": "a"}, "annotations": {"note": "x"}},
        "spec": {"schedule": "@daily", "useOwnerReferencesInBackup": True, "template": {
            "metadata": {"labels": {"from": "template"}},
            "includedNamespaces": ["harbor"], "ttl": "24h0m0s",
            "resourcePolicy": {"kind": "ConfigMap", "name": "policy"}}},
    }
    backup = backup_from_schedule(schedule, "b-1", {"plate.dev/pre-deploy": "prod l"})
    # the template's labels win over the schedule's (backup_builder.go FromSchedule)
    assert backup["metadata"]["labels"] == {"from": "template",
                                            "velero.io/schedule-name": "nightly"}
    assert backup["metadata"]["annotations"] == {"note": "x", "plate.dev/pre-deploy": "prod l"}
    assert backup["metadata"]["ownerReferences"] == [{
        "apiVersion": "velero.io/v1", "kind": "Schedule", "name": "nightly", "uid": "s-uid",
        "controller": True}]
    assert backup["spec"]["resourcePolicy"] == {"kind": "configmap", "name": "policy"}
    assert backup["spec"]["metadata"] == {"labels": {"from": "template"}}  # the spec is a copy
    assert crd_errors(backup) == []
    assert schedule["spec"]["template"]["resourcePolicy"]["kind"] == "ConfigMap"  # untouched


def test_the_names_are_the_programs():
    assert prebackup.SNAPSHOT_CRONJOB == openbao_backup.SNAPSHOT_CRONJOB
    cronjob = rendered_object("CronJob", prebackup.SNAPSHOT_CRONJOB)
    assert cronjob["metadata"]["namespace"] == prebackup.SNAPSHOT_NAMESPACE
    schedule = rendered_object("Schedule", prebackup.VELERO_SCHEDULE)
    assert schedule["metadata"]["namespace"] == prebackup.VELERO_NAMESPACE
    # the tools schedule leaves the openbao namespace out: only the snapshot schedule copies the
    # snapshot volume, and its selector takes the volume and the pod that mounts it
    assert prebackup.SNAPSHOT_NAMESPACE not in schedule["spec"]["template"]["includedNamespaces"]
    copier = rendered_object("Schedule", prebackup.SNAPSHOT_SCHEDULE)
    assert copier["metadata"]["namespace"] == prebackup.VELERO_NAMESPACE
    template = copier["spec"]["template"]
    assert template["includedNamespaces"] == [prebackup.SNAPSHOT_NAMESPACE]
    wanted = template["labelSelector"]["matchLabels"]
    volume = rendered_object("PersistentVolumeClaim", openbao_backup.SNAPSHOT_VOLUME)
    shelf = rendered_object("Deployment", openbao_backup.SHELF)
    for labels in (volume["metadata"]["labels"], shelf["spec"]["template"]["metadata"]["labels"]):
        assert wanted.items() <= labels.items()
    assert volume["metadata"]["namespace"] == prebackup.SNAPSHOT_NAMESPACE
    # the Job's deadline fits the wait
    assert cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] < (
        prebackup.SNAPSHOT_TIMEOUT)


# --- the command line ---------------------------------------------------------------------------


def test_main_exits_0_with_all_three_names_and_1_with_one_line(
    cluster: Cluster, capsys: pytest.CaptureFixture[str],
):
    cluster.on_create("Job", "openbao", [JOB_COMPLETE])
    backups_end(cluster, [backup_status("Completed")], [backup_status("Completed")])
    assert main(["--stack", "prod", "--context", CONTEXT, "--label", LABEL]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"pre-deploy backups of prod, each verified: openbao/({NAME.pattern}), "
                        rf"velero/\1, velero/\1{COPY}", out[-1]), out[-1]
    cluster.on_create("Job", "openbao", [JOB_FAILED])
    assert main(["--stack", "prod", "--context", CONTEXT, "--label", "predeploy-2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("prebackup: OpenBao snapshot Job openbao/predeploy-2-")
    assert err.count("\n") == 1
    with pytest.raises(SystemExit) as usage:
        main(["--stack", "prod", "--context", CONTEXT, "--label", "Not_A_Label"])
    assert usage.value.code == 2
    assert "is not a DNS label" in capsys.readouterr().err


# --- the stand-in's own contract ----------------------------------------------------------------


def test_the_stand_in_answers_as_kubectl_does(cluster: Cluster):
    import subprocess

    def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--context", CONTEXT, *args], input=stdin,
                              capture_output=True, text=True, timeout=30)

    empty = kubectl("get", "backups.velero.io", "-n", "velero", "-o", "json")
    assert (empty.returncode, empty.stderr) == (0, "")
    assert json.loads(empty.stdout) == {"apiVersion": "v1", "items": [], "kind": "List",
                                        "metadata": {"resourceVersion": ""}}
    assert empty.stdout.startswith('{\n    "apiVersion": "v1",')  # 4-space MarshalIndent
    one = kubectl("get", "schedule/velero-tools", "-n", "velero", "-o", "json")
    assert json.loads(one.stdout)["kind"] == "Schedule"
    missing = kubectl("get", "backups.velero.io", "x", "-n", "velero", "-o", "json")
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        1, "", 'Error from server (NotFound): backups.velero.io "x" not found\n')
    body = json.dumps({"apiVersion": "velero.io/v1", "kind": "Backup",
                       "metadata": {"name": "b"}, "spec": {}})
    created = kubectl("create", "-f", "-", "-n", "velero", stdin=body)
    assert (created.returncode, created.stdout) == (0, "backup.velero.io/b created\n")
    again = kubectl("create", "-f", "-", "-n", "velero", stdin=body)
    assert (again.returncode, again.stderr) == (1, 'Error from server (AlreadyExists): error when '
                                                'creating "STDIN": backups.velero.io "b" already '
                                                'exists\n')
    job = kubectl("create", "job", "j", "--from=cronjob/openbao-snapshot", "-n", "openbao",
                  "-o", "name")
    assert (job.returncode, job.stdout) == (0, "job.batch/j\n")
    dup = kubectl("create", "job", "j", "--from=cronjob/openbao-snapshot", "-n", "openbao")
    assert (dup.returncode, dup.stderr) == (
        1, 'error: failed to create job: jobs.batch "j" already exists\n')
    table = kubectl("get", "pods")
    assert table.returncode == 2 and table.stderr.startswith("kubectl stand-in: not modelled")
