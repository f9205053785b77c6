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

No Secret goes into a backup (`excludedResources`): the objects of a backup are stored as they
are (kopia encrypts only the volumes' files), and every Secret comes back without them - the
program's and the charts' with `pulumi up`, the apps' from OpenBao through External Secrets,
certificates from cert-manager (docs/operations.md, "What is backed up").

Rights: not `cluster-admin` (the chart's default). Velero reads every object of every kind the
platform has except Secrets (`BACKUP_ROLE`, cluster-wide: RBAC cannot say "all but one
namespace", and Velero lists kinds across the cluster), may exec into pods of the namespaces
whose pods carry backup hooks (Harbor's database dump), and has every right only in its own
namespace (the chart's Role). A restore needs more: the operator binds `cluster-admin` to Velero
for its duration (docs/operations.md, section 9). So outside its namespace Velero can start no
pod, mint no token and read no Secret, and runs commands only in Harbor's pods.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import versions
from components.config import BackupConfig, BackupTarget
from components.kube import TierKit, checkov_skips, resources
from components.names import PROMETHEUS, VELERO_NAMESPACE
from components.netpol import Allowance
from components.observability.monitors import ScrapeTarget

CREDENTIALS_SECRET = "velero-s3-credentials"  # key `cloud`: an AWS shared-credentials file
REPOSITORY_SECRET = "velero-repo-credentials"  # key `repository-password` (kopia's key)
SERVER_ACCOUNT = "velero-server"  # the chart's ServiceAccount of the server and the node-agents
BACKUP_ROLE = "velero-backup"
HOOKS_ROLE = "velero-backup-hooks"
# what no backup holds (events expire anyway; Secrets: see the module docstring)
EXCLUDED_RESOURCES = ["events", "events.events.k8s.io", "secrets"]
# Every kind of the core group Velero backs up: all that a namespace can hold but Secrets, and
# the cluster-scoped ones a backup refers to (namespaces, nodes, persistent volumes).
# Ref: velero-io/velero v1.18.1 site/content/docs/v1.18/rbac.md (namespaces and persistent
# volumes; "list" of every kind, e.g. ClusterRoles for a ServiceAccount's backup)
CORE_READ = [
    "configmaps", "endpoints", "limitranges", "namespaces", "nodes", "persistentvolumeclaims",
    "persistentvolumes", "pods", "podtemplates", "replicationcontrollers", "resourcequotas",
    "serviceaccounts", "services",
]
# The other API groups: Kubernetes 1.34's own and those of the platform's CRDs (the render test
# checks every group the stack serves is here: a kind Velero may not list fails the backup)
GROUPS_READ = [
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "apps",
    "autoscaling", "batch", "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
    "events.k8s.io", "flowcontrol.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io",
    "policy", "rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io",
    "storage.k8s.io",
    # the tools' custom resources
    "acme.cert-manager.io", "argoproj.io", "cert-manager.io", "external-secrets.io",
    "generators.external-secrets.io", "hub.traefik.io", "metallb.io", "monitoring.coreos.com",
    "traefik.io", "velero.io",
]
READ = ["get", "list", "watch"]


def backup_rules() -> list[dict[str, Any]]:
    """`BACKUP_ROLE`: read every kind of `CORE_READ` and `GROUPS_READ`, nothing else."""
    return [
        {"apiGroups": [""], "resources": CORE_READ, "verbs": READ},
        {"apiGroups": GROUPS_READ, "resources": ["*"], "verbs": READ},
    ]


def hooks_rules() -> list[dict[str, Any]]:
    """`HOOKS_ROLE`: run a backup hook's command in a pod (Velero execs with POST: `create`).
    Ref: velero-io/velero v1.18.1 pkg/podexec/pod_command_executor.go"""
    return [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]


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
        # the chart's ClusterRoleBinding names the program's read-only role, not cluster-admin
        # (the module docstring). Ref: velero chart 12.1.0 values.yaml `rbac`,
        # templates/clusterrolebinding.yaml, templates/role.yaml
        "rbac": {"create": True, "clusterAdministrator": True,
                 "clusterAdministratorName": BACKUP_ROLE},
        "serviceAccount": {"server": {"create": True, "name": SERVER_ACCOUNT}},
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
    location: dict[str, Any] = {
        "name": "default",
        "provider": "aws",
        "bucket": target.bucket,
        "prefix": target.prefix or environment,
        "default": True,
        "config": config,
    }
    if target.ca_bundle is not None:
        # a store whose certificate a private CA signed: Velero verifies its connections to this
        # location with the bundle (no file in the pods).
        # Ref: vmware-tanzu/helm-charts velero-12.1.0 charts/velero/values.yaml and
        # templates/backupstoragelocation.yaml (`caCert`, base64, into objectStorage.caCert; the
        # CRD's newer `caCertRef` is not templated); docs/facts.md
        location["caCert"] = base64.b64encode(target.ca_bundle.encode()).decode()
    return location


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
                "excludedResources": EXCLUDED_RESOURCES,
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
    hook_namespaces: Mapping[str, k8s.core.v1.Namespace] | None = None,
) -> Velero:
    """Velero with the stack's S3 keys (`s3_keys`: access key id, secret key) and kopia's key
    (`repository_password`: the stack's, else generated once); it may run backup hooks in the
    pods of `hook_namespaces`."""
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
    rights = _rights(kit, ns, hook_namespaces or {})
    chart = kit.chart(
        "velero", ns, values(backup, target, environment, namespaces, snapshots),
        depends_on=[credentials, repository, *rights],
    )
    return Velero(ns, chart)


def _rights(
    kit: TierKit, ns: k8s.core.v1.Namespace, hook_namespaces: Mapping[str, k8s.core.v1.Namespace]
) -> list[pulumi.Resource]:
    """`BACKUP_ROLE` (the chart binds it) and `HOOKS_ROLE`, bound in each of `hook_namespaces`."""
    rbac = k8s.rbac.v1

    def policy(rules: list[dict[str, Any]]) -> list[k8s.rbac.v1.PolicyRuleArgs]:
        return [rbac.PolicyRuleArgs(api_groups=r["apiGroups"], resources=r["resources"],
                                    verbs=r["verbs"]) for r in rules]

    backup_role = rbac.ClusterRole(
        BACKUP_ROLE, metadata=k8s.meta.v1.ObjectMetaArgs(name=BACKUP_ROLE),
        rules=policy(backup_rules()), opts=kit.opts,
    )
    hooks_role = rbac.ClusterRole(
        HOOKS_ROLE, metadata=k8s.meta.v1.ObjectMetaArgs(name=HOOKS_ROLE),
        rules=policy(hooks_rules()), opts=kit.opts,
    )
    bindings = [
        rbac.RoleBinding(
            f"{HOOKS_ROLE}-{name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=HOOKS_ROLE, namespace=hooked.metadata.name,
                annotations=checkov_skips((
                    "CKV2_K8S_2",
                    "Velero runs the backup hooks of this namespace's pods (Harbor's database "
                    "dump) through pods/exec; bound here only",
                )),
            ),
            role_ref=rbac.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=HOOKS_ROLE
            ),
            subjects=[rbac.SubjectArgs(
                kind="ServiceAccount", name=SERVER_ACCOUNT, namespace=ns.metadata.name
            )],
            opts=kit.child([hooks_role, hooked]),
        )
        for name, hooked in sorted(hook_namespaces.items())
    ]
    return [backup_role, hooks_role, *bindings]


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


def allowances() -> list[Allowance]:
    """Connections into velero (when the stack installs it): only Prometheus. The server and
    the node-agents work through the API (PodVolumeBackup objects), never calling each other."""
    return [
        Allowance("velero-metrics-from-prometheus", VELERO_NAMESPACE,
                  {"app.kubernetes.io/name": "velero", "app.kubernetes.io/instance": "velero"},
                  ("http-monitoring",), (PROMETHEUS,),
                  "scrapes the server and every node-agent (monitors.py)"),
    ]
