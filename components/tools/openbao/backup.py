"""OpenBao's raft snapshots as resources: a CronJob, the volume it writes to, and a shelf pod.

A CronJob in the openbao namespace, as ServiceAccount `openbao-snapshot`, logs in with Kubernetes
auth as role `raft-snapshot` (policy: read `sys/storage/raft/snapshot`, nothing else) and writes
a verified snapshot to the volume `openbao-snapshots`, keeping the newest `keep` (the script:
`snapshot`). The role and policy are created by OpenBao's self-initialisation (`server`). A small
pod, `openbao-snapshot-shelf`, keeps the volume mounted: Velero's file-system backup copies only
volumes of running pods, and the shelf is where an operator `kubectl cp`s a snapshot from
(docs/operations.md). OpenBao never comes back from a file copy of its raft volumes: Velero's
snapshot schedule takes only what carries `SNAPSHOT_POD_LABELS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config import OpenBaoSnapshots
from components.kube import (
    PROGRAM_POD_SKIPS,
    PULL_IF_NOT_PRESENT,
    RESTRICTED_CONTAINER,
    TAG_PINNED,
    TierKit,
    checkov_skips,
)
from components.names import INTERNAL_CA_CONFIGMAP, INTERNAL_CA_KEY, OPENBAO_ADDRESS
from components.tools.openbao import SNAPSHOT_POD_LABELS, server, snapshot

SNAPSHOT_DIR = "/snapshots"
SNAPSHOT_VOLUME = "openbao-snapshots"
SNAPSHOT_CRONJOB = server.SNAPSHOT_SERVICE_ACCOUNT  # also kube-state-metrics' `cronjob` label
CRONJOB_SELECTOR = f'cronjob="{SNAPSHOT_CRONJOB}"'
SHELF = "openbao-snapshot-shelf"
CA_DIR = "/ca"  # the internal CA (ConfigMap plate-internal-ca), which signed OpenBao's certificate


def _pod_security(fs_group: bool) -> k8s.core.v1.PodSecurityContextArgs:
    # fsGroup: csi-driver-nfs declares fsGroupPolicy File, so the kubelet hands the volume to
    # the group (the driver creates volume folders 0755 root); needs no_root_squash (README)
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=65532,
        run_as_group=65532,
        fs_group=65532 if fs_group else None,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


@dataclass(frozen=True)
class Snapshots:
    account: k8s.core.v1.ServiceAccount
    volume: k8s.core.v1.PersistentVolumeClaim
    cronjob: k8s.batch.v1.CronJob
    shelf: k8s.apps.v1.Deployment


def install(
    kit: TierKit,
    snapshots: OpenBaoSnapshots,
    ns: k8s.core.v1.Namespace,
    storage_class: pulumi.Input[str],
    wait_for: list[pulumi.Resource],
) -> Snapshots:
    namespace, labels = ns.metadata.name, SNAPSHOT_POD_LABELS
    account = k8s.core.v1.ServiceAccount(
        server.SNAPSHOT_SERVICE_ACCOUNT,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=server.SNAPSHOT_SERVICE_ACCOUNT, namespace=namespace, labels=labels
        ),
        opts=kit.opts,
    )
    # the snapshots outlive any `up`: production protects and keeps the claim
    volume = k8s.core.v1.PersistentVolumeClaim(
        SNAPSHOT_VOLUME,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=SNAPSHOT_VOLUME, namespace=namespace, labels=labels
        ),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteMany"],
            storage_class_name=storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                requests={"storage": snapshots.volume_size}
            ),
        ),
        opts=kit.child(wait_for, protect=True),
    )
    script = k8s.core.v1.ConfigMap(
        "openbao-snapshot-script",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels),
        data={snapshot.SCRIPT_NAME: snapshot.snapshot_script(snapshots.keep)},
        opts=kit.opts,
    )
    cronjob = k8s.batch.v1.CronJob(
        SNAPSHOT_CRONJOB,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=SNAPSHOT_CRONJOB, namespace=namespace, labels=labels,
            annotations=checkov_skips(*PROGRAM_POD_SKIPS),
        ),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=snapshots.schedule,
            time_zone="Etc/UTC",
            concurrency_policy="Forbid",
            successful_jobs_history_limit=3,
            # one failed Job kept for a day: enough to read its log, and KubeJobFailed
            # clears once it is gone (OpenBaoSnapshotTooOld watches the snapshots' age)
            failed_jobs_history_limit=1,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                spec=k8s.batch.v1.JobSpecArgs(
                    backoff_limit=2,
                    active_deadline_seconds=1800,
                    ttl_seconds_after_finished=86400,
                    template=_snapshot_pod(account, script, volume),
                ),
            ),
        ),
        opts=kit.child([*wait_for, volume, script]),
    )
    return Snapshots(account, volume, cronjob, _shelf(kit, namespace, volume))


def _volume(volume: k8s.core.v1.PersistentVolumeClaim) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name="snapshots",
        persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
            claim_name=volume.metadata.name
        ),
    )


def _snapshot_pod(
    account: k8s.core.v1.ServiceAccount,
    script: k8s.core.v1.ConfigMap,
    volume: k8s.core.v1.PersistentVolumeClaim,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """The snapshot Job's pod: the script in OpenBao's image, as the snapshot identity."""
    volumes = [
        ("/script", k8s.core.v1.VolumeArgs(
            name="script",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=script.metadata.name),
        )),
        (SNAPSHOT_DIR, _volume(volume)),
        ("/tmp", k8s.core.v1.VolumeArgs(
            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
        )),
        (CA_DIR, k8s.core.v1.VolumeArgs(
            name="internal-ca",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=INTERNAL_CA_CONFIGMAP),
        )),
    ]
    # the `bao` CLI verifies OpenBao's TLS certificate against BAO_CACERT
    env = {"BAO_ADDR": OPENBAO_ADDRESS, "BAO_CACERT": f"{CA_DIR}/{INTERNAL_CA_KEY}",
           "SNAPSHOT_DIR": SNAPSHOT_DIR, "HOME": "/tmp"}
    container = k8s.core.v1.ContainerArgs(
        name="snapshot",
        image=versions.OPENBAO_IMAGE,
        command=["/bin/sh", f"/script/{snapshot.SCRIPT_NAME}"],
        env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()],
        image_pull_policy="IfNotPresent",
        security_context=RESTRICTED_CONTAINER,
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "256Mi"}
        ),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name=v.name, mount_path=path) for path, v in volumes
        ],
    )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=SNAPSHOT_POD_LABELS),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=account.metadata.name,
            restart_policy="Never",
            security_context=_pod_security(fs_group=True),
            containers=[container],
            volumes=[v for _, v in volumes],
        ),
    )


# checkov CKV_K8S_8/9 (liveness and readiness probes) on the shelf
NOTHING_TO_PROBE = tuple(
    (check, "the shelf only sleeps to keep the volume mounted: no endpoint to probe, and the "
            "kubelet restarts it if its one process exits")
    for check in ("CKV_K8S_8", "CKV_K8S_9")
)


def _shelf(
    kit: TierKit, namespace: pulumi.Input[str], volume: k8s.core.v1.PersistentVolumeClaim
) -> k8s.apps.v1.Deployment:
    """The pod that keeps the snapshot volume mounted (read-only) for Velero and for
    `kubectl cp`; it only sleeps."""
    labels = SNAPSHOT_POD_LABELS
    shelf_labels = {**labels, "app.kubernetes.io/component": "shelf"}
    container = k8s.core.v1.ContainerArgs(
        name="shelf",
        image=versions.OPENBAO_IMAGE,
        # PID 1 ignores SIGTERM unless it handles it: stop at once
        command=["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"],
        image_pull_policy="IfNotPresent",
        security_context=RESTRICTED_CONTAINER,
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "1m", "memory": "8Mi"}, limits={"cpu": "50m", "memory": "32Mi"},
        ),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(
            name="snapshots", mount_path=SNAPSHOT_DIR, read_only=True
        )],
    )
    return k8s.apps.v1.Deployment(
        SHELF,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=SHELF, namespace=namespace, labels=labels,
            annotations=checkov_skips(TAG_PINNED, PULL_IF_NOT_PRESENT, *NOTHING_TO_PROBE),
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=shelf_labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=shelf_labels,
                    annotations={"backup.velero.io/backup-volumes": "snapshots"},
                ),
                spec=k8s.core.v1.PodSpecArgs(
                    automount_service_account_token=False,
                    security_context=_pod_security(fs_group=False),
                    containers=[container],
                    volumes=[_volume(volume)],
                ),
            ),
        ),
        opts=kit.child([volume]),
    )
