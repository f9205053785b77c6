"""Backups: OpenBao's raft snapshots and Velero's scheduled backups of the stateful tools.

Two mechanisms, because OpenBao must never come back from a file copy of its raft volumes (a
restored but inconsistent raft log, or an empty volume on which pod 0 initialises a new, empty
cluster), while Harbor, Grafana, Alertmanager and the apps' volumes are plain files:

- **OpenBao snapshots.** A CronJob in the openbao namespace, as ServiceAccount `openbao-snapshot`,
  logs in with Kubernetes auth as role `raft-snapshot` (policy: read `sys/storage/raft/snapshot`,
  nothing else) and writes a verified snapshot to the volume `openbao-snapshots`, keeping the
  newest `keep` (components/tools/openbao/snapshot.py). The role and policy are created by OpenBao's
  self-initialisation (components/tools/openbao/server.py). A small pod, `openbao-snapshot-shelf`,
  keeps the volume mounted: Velero's file-system backup copies only volumes of running pods, and
  the shelf is where an operator `kubectl cp`s a snapshot from (docs/operations.md).
- **Velero** (with `dev_tools.backup.target`): file-system backups (kopia, node-agent) to an
  S3-compatible bucket, no volume snapshots. Schedule `velero-tools` takes the Argo CD, Harbor,
  monitoring and apps namespaces (Prometheus' volume only when `dev_tools.backup.prometheus`);
  schedule `velero-openbao-snapshots` takes, in the openbao namespace, only what carries the
  snapshot labels: the snapshot volume and its shelf, never the raft volumes.

Credentials: the S3 keys are stack secrets, written as the AWS shared-credentials file Velero
reads; kopia's repository password is the stack's `velero_repository_password` or a generated
one - it lives in Pulumi state, and a cluster restoring these backups needs the same one.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import versions
from components.config import DevToolsConfig, StackSecrets
from components.kube import RESTRICTED_CONTAINER, TierKit, protected
from components.tools import values
from components.tools.openbao import server as openbao
from components.tools.openbao import snapshot as openbao_snapshot

SNAPSHOT_DIR = "/snapshots"
SNAPSHOT_VOLUME = "openbao-snapshots"
# kube-state-metrics' `cronjob` label (components/observability/alerts.py)
SNAPSHOT_CRONJOB = "openbao-snapshot"
SHELF = "openbao-snapshot-shelf"
VELERO_NAMESPACE = "velero"


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


class Backups(pulumi.ComponentResource):
    """OpenBao's snapshot CronJob, volume and shelf; Velero when the stack has a backup target."""

    def __init__(
        self,
        name: str,
        tools: DevToolsConfig,
        environment: str,
        secrets: StackSecrets,
        kit: TierKit,
        openbao_namespace: k8s.core.v1.Namespace,
        storage_class: pulumi.Input[str],
        wait_for: list[pulumi.Resource],
        velero_namespaces: list[str],
    ):
        super().__init__("plate:platform:Backups", name, None, kit.opts)
        self._kit = dataclasses.replace(
            kit, opts=pulumi.ResourceOptions.merge(kit.opts, pulumi.ResourceOptions(parent=self))
        )
        self._child = pulumi.ResourceOptions(parent=self)
        self._openbao_snapshots(tools, openbao_namespace, storage_class, wait_for)
        self.velero: k8s.helm.v4.Chart | None = None
        if tools.backup.target is not None:
            self._velero(tools, environment, secrets, velero_namespaces)
        self.register_outputs({})

    # --- OpenBao ---------------------------------------------------------------------------------

    def _openbao_snapshots(
        self,
        tools: DevToolsConfig,
        ns: k8s.core.v1.Namespace,
        storage_class: pulumi.Input[str],
        wait_for: list[pulumi.Resource],
    ) -> None:
        snapshots, namespace = tools.openbao.snapshots, ns.metadata.name
        labels = values.VELERO_SNAPSHOT_LABELS
        self.snapshot_account = k8s.core.v1.ServiceAccount(
            openbao.SNAPSHOT_SERVICE_ACCOUNT,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=openbao.SNAPSHOT_SERVICE_ACCOUNT, namespace=namespace, labels=labels
            ),
            opts=self._child,
        )
        # the snapshots outlive any `up`: production protects and keeps the claim
        self.snapshot_volume = k8s.core.v1.PersistentVolumeClaim(
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
            opts=pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions(parent=self, depends_on=wait_for),
                protected(self._kit.production),
            ),
        )
        script = k8s.core.v1.ConfigMap(
            "openbao-snapshot-script",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels),
            data={
                openbao_snapshot.SCRIPT_NAME: openbao_snapshot.snapshot_script(snapshots.keep)
            },
            opts=self._child,
        )
        self.snapshot_job = k8s.batch.v1.CronJob(
            SNAPSHOT_CRONJOB,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SNAPSHOT_CRONJOB, namespace=namespace, labels=labels
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
                        template=self._snapshot_pod(tools, script, labels),
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*wait_for, self.snapshot_volume, script]
            ),
        )
        self._shelf(namespace, labels)

    def _snapshot_pod(
        self, tools: DevToolsConfig, script: k8s.core.v1.ConfigMap, labels: dict[str, str]
    ) -> k8s.core.v1.PodTemplateSpecArgs:
        """The snapshot Job's pod: the script in OpenBao's image, as the snapshot identity."""
        volumes = [
            ("/script", k8s.core.v1.VolumeArgs(
                name="script",
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=script.metadata.name),
            )),
            (SNAPSHOT_DIR, self._snapshot_volume_args()),
            ("/tmp", k8s.core.v1.VolumeArgs(
                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
            )),
        ]
        env = {
            "BAO_ADDR": values.OPENBAO_ADDRESS,
            "SNAPSHOT_DIR": SNAPSHOT_DIR,
            "HOME": "/tmp",
        }
        container = k8s.core.v1.ContainerArgs(
            name="snapshot",
            image=versions.OPENBAO_IMAGE,
            command=["/bin/sh", f"/script/{openbao_snapshot.SCRIPT_NAME}"],
            env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()],
            security_context=RESTRICTED_CONTAINER,
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "256Mi"}
            ),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name=volume.name, mount_path=path)
                for path, volume in volumes
            ],
        )
        return k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
            spec=k8s.core.v1.PodSpecArgs(
                service_account_name=self.snapshot_account.metadata.name,
                restart_policy="Never",
                security_context=_pod_security(fs_group=True),
                containers=[container],
                volumes=[volume for _, volume in volumes],
            ),
        )

    def _snapshot_volume_args(self) -> k8s.core.v1.VolumeArgs:
        return k8s.core.v1.VolumeArgs(
            name="snapshots",
            persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=self.snapshot_volume.metadata.name
            ),
        )

    def _shelf(self, namespace: pulumi.Input[str], labels: dict[str, str]) -> None:
        """The pod that keeps the snapshot volume mounted (read-only) for Velero and for
        `kubectl cp`; it only sleeps."""
        shelf_labels = {**labels, "app.kubernetes.io/component": "shelf"}
        self.shelf = k8s.apps.v1.Deployment(
            SHELF,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SHELF, namespace=namespace, labels=labels),
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
                        containers=[k8s.core.v1.ContainerArgs(
                            name="shelf",
                            image=versions.OPENBAO_IMAGE,
                            # PID 1 ignores SIGTERM unless it handles it: stop at once
                            command=[
                                "/bin/sh", "-c",
                                "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done",
                            ],
                            security_context=RESTRICTED_CONTAINER,
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "1m", "memory": "8Mi"},
                                limits={"memory": "32Mi"},
                            ),
                            volume_mounts=[k8s.core.v1.VolumeMountArgs(
                                name="snapshots", mount_path=SNAPSHOT_DIR, read_only=True
                            )],
                        )],
                        volumes=[self._snapshot_volume_args()],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.snapshot_volume]),
        )

    # --- Velero ----------------------------------------------------------------------------------

    def _velero(
        self,
        tools: DevToolsConfig,
        environment: str,
        secrets: StackSecrets,
        namespaces: list[str],
    ) -> None:
        kit = self._kit
        # privileged: the node-agent reads pod volumes from the node (hostPath, root)
        self.velero_namespace = kit.namespace(VELERO_NAMESPACE, "privileged")
        key_id = secrets.get("backup_s3_access_key_id")
        secret_key = secrets.get("backup_s3_secret_access_key")
        assert key_id is not None and secret_key is not None  # required by the config model
        credentials = kit.secret(
            values.VELERO_CREDENTIALS_SECRET, self.velero_namespace,
            {"cloud": pulumi.Output.format(
                "[default]\naws_access_key_id={0}\naws_secret_access_key={1}\n",
                key_id, secret_key,
            )},
        )
        # kopia's key: the stack's, else generated once; created before Velero, which would
        # otherwise write a fixed default. Losing it (or generating a new one) makes every
        # file-system backup unreadable, so production protects and keeps both
        repository_password = secrets.get("velero_repository_password")
        if repository_password is None:
            generated = random.RandomPassword(
                "velero-repository-password", length=32, special=False,
                opts=pulumi.ResourceOptions.merge(self._child, protected(kit.production)),
            )
            repository_password = pulumi.Output.secret(generated.result)
        repository = k8s.core.v1.Secret(
            values.VELERO_REPOSITORY_SECRET,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=values.VELERO_REPOSITORY_SECRET,
                namespace=self.velero_namespace.metadata.name,
            ),
            string_data={"repository-password": repository_password},
            opts=pulumi.ResourceOptions.merge(kit.opts, protected(kit.production)),
        )
        self.velero = kit.chart(
            "velero", self.velero_namespace,
            values.velero_values(tools.backup, environment, namespaces),
            depends_on=[credentials, repository],
        )
