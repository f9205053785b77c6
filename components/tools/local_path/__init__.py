"""local-path-provisioner (tier 1, with `local_path`): node-local volumes and their StorageClass,
for the data a network filesystem does not suit. OpenBao's raft store and Prometheus' TSDB need
fsync and file locking that NFS does not give them; the committed stacks put them, and
Alertmanager, on this class, while the shared volumes (model weights, Harbor's registry, the
OpenBao snapshot shelf) stay on NFS.

Why this provisioner: rancher/local-path-provisioner is one Deployment, its RBAC and a ConfigMap,
no CRDs, webhooks or node agents, so the program can write its few objects and the render can
check every one of them. OpenEBS LocalPV hostpath does the same job; its chart is not among the
offline artefacts either, and rancher's one manifest is the smaller set of objects to write and
keep right. Objects, not a chart (docs/deviations.md).
Ref: rancher/local-path-provisioner v0.0.37 deploy/local-path-storage.yaml.

Departures from that manifest, each for a reason:
- volumes are `local` PersistentVolumes (StorageClass annotation `defaultVolumeType: local`), not
  upstream's default `hostPath` ones: the kubelet mounts a local volume below
  /var/lib/kubelet/pods/<pod>/volumes/, where Velero's node-agent reads pod volumes, and Velero
  skips hostPath volumes. Ref: local-path-provisioner v0.0.37 provisioner.go
  (`defaultVolumeType` annotation, createPersistentVolumeSource); vmware-tanzu/velero v1.18.1
  pkg/podvolume/backupper.go (isHostPathVolume: skipped) and pkg/exposer/host_path.go (the
  /var/lib/kubelet/pods glob);
- the provisioner's pod runs restricted (it only talks to the API); the helper pods that create
  and delete a volume's directory mount the node's directory through hostPath, which Pod Security
  forbids from baseline up, so the namespace enforces `privileged`. Their template is pinned and
  hardened within what the provisioner accepts without `--allow-unsafe-helper-pod-template`
  (util.go validateHelperPodTemplate): no ServiceAccount token, no privilege escalation, the
  runtime's seccomp profile, requests and a memory limit. They keep root and its default
  capabilities: tearing down a volume deletes files its pod's user wrote;
- a reclaim policy from the stack (`local_path.reclaim_policy`: Retain in production), not
  cluster default, no `--debug`.

Order: namespace -> ServiceAccount, RBAC, ConfigMap -> Deployment -> StorageClass. The class binds
a volume when its first pod is scheduled (WaitForFirstConsumer), on that pod's node; the pod is
tied to that node from then on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import versions
from components.config import LocalPathConfig
from components.kube import (
    RESTRICTED_CONTAINER,
    SERVICE_POD_SKIPS,
    USES_TOKEN,
    TierKit,
    bind_role,
    checkov_skips,
    service_pod,
)

NAMESPACE = "local-path-storage"
NAME = "local-path-provisioner"
SERVICE_ACCOUNT = "local-path-provisioner-service-account"  # the provisioner's default name
CONFIG_MAP = "local-path-config"  # the provisioner's default (`--configmap-name`)
PROVISIONER = "rancher.io/local-path"
LABELS = {"app": NAME, "app.kubernetes.io/name": NAME}
HEALTH_PORT = 8080

SETUP = '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"'
TEARDOWN = '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"'


def helper_pod() -> dict[str, Any]:
    """The helper pod template (`helperPod.yaml`): upstream's, pinned and hardened. The
    provisioner adds the hostPath volume of the node's directory, the scripts, the node, the
    ServiceAccount and the command (provisioner.go createHelperPod)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            "tolerations": [{
                "key": "node.kubernetes.io/disk-pressure", "operator": "Exists",
                "effect": "NoSchedule",
            }],
            "automountServiceAccountToken": False,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "helper-pod",
                "image": versions.LOCAL_PATH_HELPER_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {"allowPrivilegeEscalation": False},
                "resources": {
                    "requests": {"cpu": "10m", "memory": "16Mi"},
                    "limits": {"memory": "64Mi"},
                },
            }],
        },
    }


def config_data(local: LocalPathConfig) -> dict[str, str]:
    """The ConfigMap the provisioner reads (and re-reads on change): every node keeps its
    volumes under `local.path`."""
    config = {"nodePathMap": [
        {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [local.path]},
    ]}
    return {
        "config.json": json.dumps(config, indent=2),
        "setup": SETUP,
        "teardown": TEARDOWN,
        "helperPod.yaml": yaml.safe_dump(helper_pod(), sort_keys=False),
    }


@dataclass(frozen=True)
class LocalPath:
    namespace: k8s.core.v1.Namespace
    deployment: k8s.apps.v1.Deployment
    storage_class: k8s.storage.v1.StorageClass


def install(kit: TierKit, local: LocalPathConfig) -> LocalPath:
    """The provisioner and the StorageClass `local.storage_class`."""
    # privileged: the helper pods mount the node's volume directory (hostPath), see above
    ns = kit.namespace(NAMESPACE, "privileged")
    # its network policy (deny all ingress) comes with the tier's (components/tools/catalog.py)
    account = k8s.core.v1.ServiceAccount(
        SERVICE_ACCOUNT,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=SERVICE_ACCOUNT, namespace=ns.metadata.name, labels=LABELS
        ),
        opts=kit.opts,
    )
    config = k8s.core.v1.ConfigMap(
        CONFIG_MAP,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=CONFIG_MAP, namespace=ns.metadata.name, labels=LABELS
        ),
        data=config_data(local),
        opts=kit.opts,
    )
    bindings = _rbac(kit, ns, account)
    deployment = _deployment(kit, ns, account, [config, *bindings])
    storage_class = k8s.storage.v1.StorageClass(
        "local-path-storage-class",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=local.storage_class,
            annotations={
                "storageclass.kubernetes.io/is-default-class": "false",
                # `local` volumes, which Velero's file-system backup reads (module docstring)
                "defaultVolumeType": "local",
            },
        ),
        provisioner=PROVISIONER,
        reclaim_policy=local.reclaim_policy,
        volume_binding_mode="WaitForFirstConsumer",
        opts=kit.child([deployment], protect=True),
    )
    return LocalPath(ns, deployment, storage_class)


def _rbac(
    kit: TierKit, ns: k8s.core.v1.Namespace, account: k8s.core.v1.ServiceAccount
) -> list[pulumi.Resource]:
    """Upstream's Role (the helper pods in its namespace) and ClusterRole (claims, volumes,
    nodes, classes, events), bound to the provisioner."""
    subject = [k8s.rbac.v1.SubjectArgs(
        kind="ServiceAccount", name=account.metadata.name, namespace=ns.metadata.name
    )]
    rule = k8s.rbac.v1.PolicyRuleArgs
    read = ["get", "list", "watch"]
    role = k8s.rbac.v1.Role(
        "local-path-provisioner-role",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name="local-path-provisioner-role", namespace=ns.metadata.name, labels=LABELS
        ),
        rules=[rule(api_groups=[""], resources=["pods"],
                    verbs=[*read, "create", "patch", "update", "delete"])],
        opts=kit.opts,
    )
    cluster_role = k8s.rbac.v1.ClusterRole(
        "local-path-provisioner-role",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="local-path-provisioner-role", labels=LABELS),
        rules=[
            rule(api_groups=[""], verbs=read, resources=[
                "nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log",
            ]),
            rule(api_groups=[""], resources=["persistentvolumes"],
                 verbs=[*read, "create", "patch", "update", "delete"]),
            rule(api_groups=[""], resources=["events"], verbs=["create", "patch"]),
            rule(api_groups=["storage.k8s.io"], resources=["storageclasses"], verbs=read),
        ],
        opts=kit.opts,
    )
    bind = "local-path-provisioner-bind"
    return [
        bind_role(bind, bind, ("Role", role.metadata.name), subject, kit.opts,
                  namespace=ns.metadata.name, labels=LABELS),
        bind_role(bind, bind, ("ClusterRole", cluster_role.metadata.name), subject, kit.opts,
                  labels=LABELS),
    ]


def _deployment(
    kit: TierKit,
    ns: k8s.core.v1.Namespace,
    account: k8s.core.v1.ServiceAccount,
    wait_for: list[pulumi.Resource],
) -> k8s.apps.v1.Deployment:
    """Upstream's Deployment, run restricted (the image is a static binary on scratch)."""

    def probe(path: str, delay: int, period: int, failures: int = 3) -> k8s.core.v1.ProbeArgs:
        return k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="health"),
            initial_delay_seconds=delay, period_seconds=period, failure_threshold=failures,
        )

    env = k8s.core.v1.EnvVarArgs
    container = k8s.core.v1.ContainerArgs(
        name=NAME,
        image=versions.LOCAL_PATH_PROVISIONER_IMAGE,
        image_pull_policy="IfNotPresent",
        command=["local-path-provisioner", "start", "--config", "/etc/config/config.json"],
        ports=[k8s.core.v1.ContainerPortArgs(
            name="health", container_port=HEALTH_PORT, protocol="TCP"
        )],
        startup_probe=probe("/health", delay=5, period=5, failures=12),
        liveness_probe=probe("/health", delay=10, period=10),
        readiness_probe=probe("/ready", delay=5, period=5),
        env=[
            env(name="POD_NAMESPACE", value_from=k8s.core.v1.EnvVarSourceArgs(
                field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.namespace")
            )),
            env(name="CONFIG_MOUNT_PATH", value="/etc/config/"),
            env(name="HEALTH_PORT", value=str(HEALTH_PORT)),
        ],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "10m", "memory": "32Mi"}, limits={"memory": "128Mi"},
        ),
        security_context=RESTRICTED_CONTAINER,
        volume_mounts=[k8s.core.v1.VolumeMountArgs(
            name="config-volume", mount_path="/etc/config/"
        )],
    )
    return k8s.apps.v1.Deployment(
        NAME,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=NAME, namespace=ns.metadata.name, labels=LABELS,
            annotations=checkov_skips(*SERVICE_POD_SKIPS, USES_TOKEN),
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=LABELS),
            template=service_pod(account, LABELS, [container], volumes=[k8s.core.v1.VolumeArgs(
                name="config-volume",
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=CONFIG_MAP),
            )]),
        ),
        opts=kit.child(wait_for),
    )
