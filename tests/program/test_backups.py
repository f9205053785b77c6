"""Backups as the program registers them (components/tiers/backups.py) and as the charts render
them.

Verifies: the OpenBao snapshot CronJob runs the generated script with the stack's schedule and
retention, as the snapshot-only ServiceAccount, against the active OpenBao node (the `-active`
Service, which the platform's HA-mode values render with one replica too), one run at a time, in
OpenBao's own pinned image; the snapshot volume and Velero's repository key are protected in
production; Velero gets the stack's bucket, schedule and retention, copies the tools' and apps'
namespaces and, from the openbao namespace, only the snapshot volume and its shelf - never the raft
volumes (checked on the rendered objects in tests/engines/test_render.py); the S3 keys reach Velero
only as a Pulumi secret in its credentials file; Prometheus' volume is left out unless asked for;
bad backup settings are config errors naming the key, before any resource. No backup holds a
Secret (both schedules exclude them; where each comes back from instead is in
docs/operations.md), the committed stacks write to one bucket each, and Velero is bound to the
program's read-only role (not `cluster-admin`) with exec only in Harbor's namespace (its backup
hook), waiting for both.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import versions
from components.tools import kube_prometheus_stack
from components.tools import velero as velero_tool
from components.tools.openbao import server as openbao
from components.tools.openbao import snapshot as openbao_snapshot
from tests.harness import is_secret, recorded, refusal, stack_config, with_settings
from tooling.evaluate import placeholder

CRONJOB = "kubernetes:batch/v1:CronJob"
SECRET = "kubernetes:core/v1:Secret"
CHART = "kubernetes:helm.sh/v4:Chart"


@pytest.mark.parametrize(("stack", "address", "schedule", "keep"), [
    ("stg", "https://openbao-active.openbao.svc:8200", "0 */6 * * *", 12),
    ("prod", "https://openbao-active.openbao.svc:8200", "0 * * * *", 72),
])
def test_the_snapshot_cronjob_runs_the_script_as_the_snapshot_identity(
    stack: str, address: str, schedule: str, keep: int
) -> None:
    rec = recorded(stack)
    job = rec.one(CRONJOB, "openbao-snapshot")
    spec = job.plain("spec")
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == (
        schedule, "Etc/UTC", "Forbid"
    )
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == openbao.SNAPSHOT_SERVICE_ACCOUNT
    (container,) = pod["containers"]
    assert container["image"] == versions.OPENBAO_IMAGE
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "BAO_ADDR": address, "BAO_CACERT": "/ca/ca.crt", "SNAPSHOT_DIR": "/snapshots",
        "HOME": "/tmp",
    }
    # the CA that signed OpenBao's certificate, from the ConfigMap of the openbao namespace
    assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]}["/ca"] == "internal-ca"
    assert {"name": "internal-ca", "configMap": {"name": "plate-internal-ca"}} in pod["volumes"]
    assert pod["securityContext"]["fsGroup"] == 65532  # the NFS volume is handed to the group
    script = rec.one("kubernetes:core/v1:ConfigMap", "openbao-snapshot-script").plain("data")
    assert script == {openbao_snapshot.SCRIPT_NAME: openbao_snapshot.snapshot_script(keep)}
    assert {"Chart/openbao", "PersistentVolumeClaim/openbao-snapshots"} <= rec.deps(
        "CronJob/openbao-snapshot"
    )


def test_production_protects_the_snapshots_and_velero_s_key() -> None:
    prod, stg = recorded("prod"), recorded("stg")
    for label in ("PersistentVolumeClaim/openbao-snapshots", "Secret/velero-repo-credentials",
                  "RandomPassword/velero-repository-password", "Namespace/velero"):
        assert prod.named(label).protect, label
        assert not stg.named(label).protect, label


@pytest.mark.parametrize("stack", ["stg", "prod"])
def test_velero_gets_the_stack_s_target_schedules_and_secrets(stack: str) -> None:
    rec = recorded(stack)
    cfg = stack_config(stack)["dev_tools"]["backup"]
    velero = rec.one(CHART, "velero").plain("values")
    location = velero["configuration"]["backupStorageLocation"]
    assert location == [{
        "name": "default", "provider": "aws", "bucket": f"plate-backups-{stack}", "prefix": stack,
        "default": True,
        "config": {"region": "us-east-1", "s3ForcePathStyle": "true",
                   "checksumAlgorithm": "CRC32", "s3Url": "https://s3.lan.plate.dev"},
    }]
    ttl = f"{cfg['retention_days'] * 24}h0m0s"
    schedules = velero["schedules"]
    assert set(schedules) == {"tools", "openbao-snapshots"}
    for schedule in schedules.values():
        assert schedule["schedule"] == cfg["schedule"]
        assert schedule["template"]["ttl"] == ttl
        assert schedule["template"]["snapshotVolumes"] is False
        assert schedule["useOwnerReferencesInBackup"] is False
    assert schedules["tools"]["template"]["includedNamespaces"] == [
        "argocd", "harbor", "monitoring", f"plate-{stack}"
    ]
    assert schedules["openbao-snapshots"]["template"]["includedNamespaces"] == ["openbao"]
    assert (velero["upgradeCRDs"], velero["snapshotsEnabled"], velero["deployNodeAgent"]) == (
        False, False, True
    )
    credentials = rec.one(SECRET, velero_tool.CREDENTIALS_SECRET)
    assert is_secret(credentials.inputs["stringData"])
    assert credentials.plain("stringData") == {"cloud": (
        f"[default]\naws_access_key_id={placeholder('backup_s3_access_key_id')}\n"
        f"aws_secret_access_key={placeholder('backup_s3_secret_access_key')}\n"
    )}
    assert is_secret(rec.one(SECRET, velero_tool.REPOSITORY_SECRET).inputs["stringData"])
    assert {"Secret/velero-s3-credentials", "Secret/velero-repo-credentials"} <= rec.deps(
        "Chart/velero"
    )
    kps = rec.one(CHART, "kube-prometheus-stack").plain("values")["prometheus"]["prometheusSpec"]
    assert kps["podMetadata"]["annotations"] == {
        "backup.velero.io/backup-volumes-excludes": kube_prometheus_stack.PROMETHEUS_DB_VOLUME
    }


BAD = [
    ("prod", {"dev_tools.backup.target": None},
     "dev_tools.backup.target: a production stack needs a backup target"),
    ("stg", {"dev_tools.backup.retention_days": 0}, "dev_tools.backup.retention_days"),
    ("stg", {"dev_tools.backup.schedule": "every night"},
     "dev_tools.backup.schedule: 'every night' is not a cron schedule"),
    ("stg", {"dev_tools.backup.schedule": "0 25 * * *"},
     "dev_tools.backup.schedule: '0 25 * * *' is not a cron schedule: hour '25'"),
    ("stg", {"dev_tools.openbao.snapshots.keep": 0}, "dev_tools.openbao.snapshots.keep"),
    ("stg", {"dev_tools.openbao.snapshots.schedule": "@sometimes"},
     "dev_tools.openbao.snapshots.schedule: '@sometimes' is not a cron schedule"),
    ("stg", {"dev_tools.backup.target.bucket": "Plate_Backups"},
     "dev_tools.backup.target.bucket: 'Plate_Backups' is not an S3 bucket name"),
]


@pytest.mark.parametrize(("stack", "change", "problem"), BAD)
def test_bad_backup_settings_are_config_errors_before_any_resource(
    stack: str, change: dict[str, Any], problem: str
) -> None:
    problems = refusal(stack, with_settings(stack, change))
    assert any(p.startswith(problem) for p in problems), problems


def test_a_backup_target_without_its_credentials_is_refused() -> None:
    problems = refusal("stg", stack_config("stg"), drop={"backup_s3_secret_access_key"})
    assert problems == [
        "backup_s3_secret_access_key: required when dev_tools.backup.target is set; run "
        "`pulumi config set --secret backup_s3_secret_access_key <value>`"
    ]


def test_backup_credentials_without_a_target_are_refused() -> None:
    problems = refusal("stg", with_settings("stg", {"dev_tools.backup.target": None}),
                       add={"backup_s3_access_key_id", "backup_s3_secret_access_key"})
    assert problems == [
        f"{key}: set, but dev_tools.backup.target is not; set dev_tools.backup.target or remove "
        f"the secret (`pulumi config rm {key}`)"
        for key in ("backup_s3_access_key_id", "backup_s3_secret_access_key")
    ]


def test_the_cronjob_keeps_one_failed_job_for_a_day_and_the_shelf_stops_on_sigterm() -> None:
    rec = recorded("stg")
    spec = rec.one(CRONJOB, "openbao-snapshot").plain("spec")
    assert (spec["failedJobsHistoryLimit"], spec["successfulJobsHistoryLimit"]) == (1, 3)
    assert spec["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] == 86400
    shelf = rec.one("kubernetes:apps/v1:Deployment", "openbao-snapshot-shelf").plain("spec")
    (container,) = shelf["template"]["spec"]["containers"]
    assert container["command"][-1].startswith("trap 'exit 0' TERM;")
    assert container["volumeMounts"] == [
        {"name": "snapshots", "mountPath": "/snapshots", "readOnly": True}
    ]


def test_harbor_s_database_is_dumped_before_velero_copies_it() -> None:
    values = recorded("prod").one(CHART, "harbor").plain("values")
    hook = values["database"]["podAnnotations"]
    assert hook["pre.hook.backup.velero.io/container"] == "database"
    command = json.loads(hook["pre.hook.backup.velero.io/command"])
    assert command[:2] == ["/bin/sh", "-c"]
    assert command[2] == (
        "pg_dumpall -U postgres --clean > /var/lib/postgresql/data/harbor-dumpall.sql.partial && "
        "mv /var/lib/postgresql/data/harbor-dumpall.sql.partial "
        "/var/lib/postgresql/data/harbor-dumpall.sql"
    )


@pytest.mark.parametrize("stack", ["stg", "prod"])
def test_no_backup_holds_a_secret(stack: str) -> None:
    schedules = recorded(stack).one(CHART, "velero").plain("values")["schedules"]
    for schedule in schedules.values():
        assert schedule["template"]["excludedResources"] == [
            "events", "events.events.k8s.io", "secrets"
        ]


def test_each_environment_writes_to_its_own_bucket() -> None:
    buckets = {
        stack: stack_config(stack)["dev_tools"]["backup"]["target"]["bucket"]
        for stack in ("stg", "prod")
    }
    assert buckets == {"stg": "plate-backups-stg", "prod": "plate-backups-prod"}


@pytest.mark.parametrize("stack", ["stg", "prod"])
def test_velero_is_bound_to_a_read_only_role_and_may_exec_only_into_harbor(stack: str) -> None:
    rec = recorded(stack)
    rbac = rec.one(CHART, "velero").plain("values")["rbac"]
    assert rbac == {"create": True, "clusterAdministrator": True,
                    "clusterAdministratorName": velero_tool.BACKUP_ROLE}
    role = rec.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", velero_tool.BACKUP_ROLE)
    assert role.plain("rules") == velero_tool.backup_rules()
    assert "secrets" not in velero_tool.CORE_READ
    binding = rec.one(
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "velero-backup-hooks-harbor"
    ).plain()
    assert binding["metadata"]["namespace"] == "harbor"
    assert binding["roleRef"]["name"] == velero_tool.HOOKS_ROLE
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "velero-server", "namespace": "velero"}
    ]
    assert {"ClusterRole/velero-backup", "ClusterRole/velero-backup-hooks",
            "RoleBinding/velero-backup-hooks-harbor"} <= rec.deps("Chart/velero")
