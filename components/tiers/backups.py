"""Backups, composed from the tools that keep state: OpenBao's raft snapshots (always) and Velero's
scheduled file-system backups (with a `dev_tools.backup.target`), as one component of tier 2.

Two mechanisms, because OpenBao must never come back from a file copy of its raft volumes (a
restored but inconsistent raft log, or an empty volume on which pod 0 initialises a new, empty
cluster), while Harbor, Grafana, Alertmanager and the apps' volumes are plain files: see
`components/tools/openbao/backup.py` and `components/tools/velero`.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.config import DevToolsConfig, StackSecrets
from components.kube import TierKit
from components.names import OPENBAO_NAMESPACE
from components.tools import openbao, velero
from components.tools.openbao import backup as openbao_backup


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
        hook_namespaces: dict[str, k8s.core.v1.Namespace],
    ):
        super().__init__("plate:platform:Backups", name, None, kit.opts)
        kit = kit.under(self)
        self.snapshots = openbao_backup.install(
            kit, tools.openbao.snapshots, openbao_namespace, storage_class, wait_for
        )
        self.velero: velero.Velero | None = None
        target = tools.backup.target
        # the config model requires both keys with a target
        key_id, secret_key = secrets.backup_s3_access_key_id, secrets.backup_s3_secret_access_key
        if target is not None and key_id is not None and secret_key is not None:
            self.velero = velero.install(
                kit, tools.backup, target, environment, velero_namespaces,
                velero.Selection(OPENBAO_NAMESPACE, openbao.SNAPSHOT_POD_LABELS),
                (key_id, secret_key), secrets.velero_repository_password,
                hook_namespaces,
            )
        self.register_outputs({})
