"""Velero (with `dev_tools.backup.target`): file-system backups (kopia, node-agent) of the stateful
tools' volumes and objects to an S3-compatible bucket, no volume snapshots (csi-driver-nfs
snapshots are tarballs on the same NFS server), and its scrape targets.

Two schedules: `velero-tools` takes the namespaces the tools declare (Argo CD, Harbor, monitoring,
the apps; Prometheus' volume only when `dev_tools.backup.prometheus`); `velero-openbao-snapshots`
takes, in the openbao namespace, only what carries OpenBao's snapshot labels: the snapshot volume
and its shelf, never the raft volumes (OpenBao comes back only through a snapshot).

Credentials: the S3 keys are stack secrets, written as the AWS shared-credentials file Velero
reads; kopia's repository password is the stack's `velero_repository_password` or a generated
one - it lives in Pulumi state, and a cluster restoring these backups needs the same one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import versions
from components.config import BackupConfig, BackupTarget
from components.kube import TierKit, resources
from components.names import VELERO_NAMESPACE
from components.observability.monitors import ScrapeTarget

CREDENTIALS_SECRET = "velero-s3-credentials"  # key `cloud`: an AWS shared-credentials file
REPOSITORY_SECRET = "velero-repo-credentials"  # key `repository-password` (kopia's key)


@dataclass(frozen=True)
class Selection:
    """What a label-selected schedule takes: in `namespace`, only objects with `labels`."""

    namespace: str
    labels: Mapping[str, str]


def backed_up_namespaces(namespaces: Iterable[str]) -> list[str]:
    """The namespaces of the daily backup, as the tools declare them: the stateful tools and the
    apps. Not openbao (its own schedule takes only the snapshots), not what the program recreates
    from its own state."""
    return sorted(set(namespaces))


def values(
    backup: BackupConfig, target: BackupTarget, environment: str, namespaces: list[str],
    snapshots: Selection,
) -> dict[str, Any]:
    """Velero's values for the bucket `target` (the stack's `dev_tools.backup.target`)."""
    ttl = f"{backup.retention_days * 24}h0m0s"
    return {
        # Helm hooks a v4 Chart skips stay off; the CRDs come from the chart's crds/ folder
        "upgradeCRDs": False,
        "cleanUpCRDs": False,
        "kubectl": {"image": {"tag": versions.KUBECTL_IMAGE.rsplit(":", 1)[1]}},
        "initContainers": [{
            "name": "velero-plugin-for-aws",
            "image": versions.VELERO_AWS_PLUGIN_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
        }],
        "credentials": {"useSecret": True, "existingSecret": CREDENTIALS_SECRET},
        "backupsEnabled": True,
        "snapshotsEnabled": False,
        "deployNodeAgent": True,
        "configuration": {
            "backupStorageLocation": [_location(target, environment)],
            "volumeSnapshotLocation": [],
            "uploaderType": "kopia",
            "defaultVolumesToFsBackup": True,
            "defaultBackupTTL": ttl,
            "fsBackupTimeout": "4h",
            "logFormat": "json",
        },
        "schedules": _schedules(backup, ttl, namespaces, snapshots),
        # the file-system restore helper (an init container of restored pods), pinned
        "configMaps": {
            "fs-restore-action-config": {
                "labels": {
                    "velero.io/plugin-config": "",
                    "velero.io/pod-volume-restore": "RestoreItemAction",
                },
                "data": {"image": versions.VELERO_IMAGE},
            },
        },
        # metrics on; the program creates the monitors after the Prometheus Operator
        "metrics": {
            "enabled": True,
            "serviceMonitor": {"enabled": False},
            "nodeAgentPodMonitor": {"enabled": False},
            "prometheusRule": {"enabled": False},
        },
        "resources": resources("100m", "256Mi", "1Gi"),
        "nodeAgent": {"resources": resources("100m", "256Mi", "2Gi")},
    }


def _location(target: BackupTarget, environment: str) -> dict[str, Any]:
    """The BackupStorageLocation `default`: the stack's S3 bucket, one folder per environment."""
    config = {
        "region": target.region,
        "s3ForcePathStyle": "true" if target.path_style else "false",
        "checksumAlgorithm": "CRC32" if target.checksum else "",
    }
    if target.url is not None:
        config["s3Url"] = target.url
    return {
        "name": "default",
        "provider": "aws",
        "bucket": target.bucket,
        "prefix": target.prefix or environment,
        "default": True,
        "config": config,
    }


def _schedules(
    backup: BackupConfig, ttl: str, namespaces: list[str], snapshots: Selection
) -> dict[str, Any]:
    """`velero-tools` (the namespaces' objects and volumes) and `velero-openbao-snapshots` (in
    the openbao namespace only what carries the snapshot labels)."""

    def schedule(template: dict[str, Any]) -> dict[str, Any]:
        return {
            "schedule": backup.schedule,
            # owner references would delete the backups with the Schedule
            "useOwnerReferencesInBackup": False,
            "template": {
                "ttl": ttl,
                "storageLocation": "default",
                "snapshotVolumes": False,
                "defaultVolumesToFsBackup": True,
                "excludedResources": ["events", "events.events.k8s.io"],
                **template,
            },
        }

    return {
        "tools": schedule({"includedNamespaces": namespaces}),
        "openbao-snapshots": schedule({
            "includedNamespaces": [snapshots.namespace],
            "labelSelector": {"matchLabels": dict(snapshots.labels)},
        }),
    }


@dataclass(frozen=True)
class Velero:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource


def install(
    kit: TierKit,
    backup: BackupConfig,
    target: BackupTarget,
    environment: str,
    namespaces: list[str],
    snapshots: Selection,
    s3_keys: tuple[pulumi.Output[str], pulumi.Output[str]],
    repository_password: pulumi.Output[str] | None,
) -> Velero:
    """Velero with the stack's S3 keys (`s3_keys`: access key id, secret key) and kopia's key
    (`repository_password`: the stack's, else generated once)."""
    # privileged: the node-agent reads pod volumes from the node (hostPath, root)
    ns = kit.namespace(VELERO_NAMESPACE, "privileged")
    key_id, secret_key = s3_keys
    credentials = kit.secret(
        CREDENTIALS_SECRET, ns,
        {"cloud": pulumi.Output.format(
            "[default]\naws_access_key_id={0}\naws_secret_access_key={1}\n", key_id, secret_key,
        )},
    )
    # kopia's key: created before Velero, which would otherwise write a fixed default. Losing
    # it (or generating a new one) makes every file-system backup unreadable, so production
    # protects and keeps both
    if repository_password is None:
        generated = random.RandomPassword(
            "velero-repository-password", length=32, special=False,
            opts=kit.child(protect=True),
        )
        repository_password = pulumi.Output.secret(generated.result)
    repository = k8s.core.v1.Secret(
        REPOSITORY_SECRET,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=REPOSITORY_SECRET, namespace=ns.metadata.name),
        string_data={"repository-password": repository_password},
        opts=kit.child(protect=True),
    )
    chart = kit.chart(
        "velero", ns, values(backup, target, environment, namespaces, snapshots),
        depends_on=[credentials, repository],
    )
    return Velero(ns, chart)


def scrape_targets(installed: bool) -> list[ScrapeTarget]:
    if not installed:
        return []
    return [
        ScrapeTarget(
            "velero", VELERO_NAMESPACE, "ServiceMonitor",
            {"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": "velero"},
            "http-monitoring",
        ),
        # the node-agent's file-system backups and restores (it has no Service)
        ScrapeTarget(
            "velero-node-agent", VELERO_NAMESPACE, "PodMonitor", {"name": "node-agent"},
            "http-monitoring",
        ),
    ]
