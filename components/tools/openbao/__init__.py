"""OpenBao: the chart on raft, its static-seal key and self-initialisation (`server`), its raft
snapshots (`snapshot`, `backup`), its scrape target and the network-policy rows into its namespace.

With the static seal every pod unseals itself from the key Secret and pod 0 initialises the
cluster once (`server`); with shamir people do both by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.config import OpenBaoConfig
from components.contracts import ClusterServicesRefs
from components.kube import TierKit, as_secret, resources
from components.names import (
    EXTERNAL_SECRETS,
    HARBOR_BOOTSTRAP_POD_LABELS,
    HARBOR_NAMESPACE,
    OPENBAO_NAMESPACE,
    PROMETHEUS,
)
from components.netpol import Allowance, Peer
from components.observability.monitors import ScrapeTarget
from components.tools.openbao import server

INIT_CONFIGMAP = "openbao-init"  # init.hcl and the selector script (no secrets)
SERVER_SERVICE_ACCOUNT = "openbao"  # the chart's (`openbao.serviceAccount.name`: the release)
CLAIMS_READER = "openbao-claims-reader"  # Role and RoleBinding: the selector lists the PVCs
# sys/health answers 2xx when active, standby or uninitialised, 503 when sealed (a static-seal
# pod is sealed only while it cannot unseal)
READINESS_PATH = "/v1/sys/health?standbyok=true&uninitcode=204"
# ... and 2xx in every state: the liveness probe fails only on a server that does not answer
LIVENESS_PATH = "/v1/sys/health?standbyok=true&sealedcode=204&uninitcode=204"
# the selector may wait PEER_WAIT_SECONDS (and its last round of look-ups) before the server starts
LIVENESS_DELAY_SECONDS = server.PEER_WAIT_SECONDS + 60
UNSEAL_KEY_SECRET = "openbao-unseal-key"  # key `key`: the static seal key
PODS = {
    "app.kubernetes.io/name": "openbao", "app.kubernetes.io/instance": "openbao",
    "component": "server",
}
SNAPSHOT_POD_LABELS = {"app.kubernetes.io/name": "openbao-snapshot"}
"""The program's snapshot workloads (CronJob, volume, shelf); Velero's snapshot schedule selects
exactly these labels in the openbao namespace (never the raft volumes)."""
# the snapshot CronJob's pods, not the shelf Deployment that shares their name label
# (`backup`: `app.kubernetes.io/component: shelf`, no ServiceAccount token)
SNAPSHOT_PEER = Peer(
    OPENBAO_NAMESPACE, SNAPSHOT_POD_LABELS, absent=("app.kubernetes.io/component",)
)
JOB = 'job=~"openbao.*"'
"""OpenBao's scrape targets: `openbao-active` with the chart's ServiceMonitor in HA mode (the only
one it scrapes), `openbao-internal`/`openbao` with a ServiceMonitor over every pod."""


def values(
    bao: OpenBaoConfig, host: str, cluster: ClusterServicesRefs, unseal_key_secret: str
) -> dict[str, Any]:
    """OpenBao on raft in every environment (same storage engine in stg and prod; prod runs 3 or
    5 voters)."""
    names = cluster.names
    key_file = f"/openbao/userconfig/{unseal_key_secret}/{server.KEY_FILE_NAME}"
    spec: dict[str, Any] = {
        "ha": {
            "enabled": True,
            "replicas": bao.replicas,
            "raft": {
                "enabled": True,
                "setNodeId": True,
                "config": server.server_config(
                    replicas=bao.replicas, seal=bao.seal, key_file=key_file
                ),
            },
            "disruptionBudget": {"enabled": bao.replicas > 1},
        },
        "dataStorage": {
            "enabled": True,
            "size": bao.storage_size,
            "storageClass": names.storage_class,
        },
        "resources": resources("100m", "256Mi", "512Mi"),
        "ingress": {
            "enabled": True,
            "ingressClassName": names.ingress_class,
            "annotations": names.tls_ingress_annotations(),
            "hosts": [{"host": host, "paths": []}],
            "tls": [{"secretName": "openbao-tls", "hosts": [host]}],
        },
    }
    if bao.seal == "static":
        spec["extraVolumes"] = [
            {"type": "secret", "name": unseal_key_secret},
            {"type": "configMap", "name": INIT_CONFIGMAP},
        ]
        # Ref: docs/facts.md, "OpenBao chart: extraArgs": extraArgs is pasted unquoted into the
        # server's `sh -ec` command line; the script adds the self-initialisation file on pod 0
        # of a new cluster only (a node with `initialize` and `retry_join` would found a second
        # cluster).
        selector = f"{server.INIT_DIR}/{server.SELECTOR_FILE_NAME}"
        spec["extraArgs"] = f"$(sh {selector})"
        # a pod 0 that found a peer's volume but no peer answering starts uninitialised and
        # waits to join; the chart's default probe (`bao status`) would keep it unready, and
        # OrderedReady would then never start the peers it waits for
        spec["readinessProbe"] = {"enabled": True, "path": READINESS_PATH}
        # a server that refuses to unseal a half-done self-initialisation closes its listeners
        # but, with the Kubernetes service registration, never exits (it waits for a signal):
        # the kubelet restarts it, and the selector then redoes the self-initialisation
        spec["livenessProbe"] = {
            "enabled": True, "path": LIVENESS_PATH,
            "initialDelaySeconds": LIVENESS_DELAY_SECONDS, "periodSeconds": 10,
            "failureThreshold": 6,
        }
    chart: dict[str, Any] = {
        "injector": {"enabled": False}, "server": spec, "ui": {"enabled": True}
    }
    if bao.seal == "static":
        chart["extraObjects"] = claims_reader()
    return chart


def claims_reader() -> list[dict[str, Any]]:
    """A Role that may read the PersistentVolumeClaims of the openbao namespace, bound to the
    server's ServiceAccount: pod 0's selector (`server.init_selector_script`) must know whether a
    peer's volume exists before it may initialise. The chart's own Role (`serviceDiscovery`)
    covers pods only; `extraObjects` renders these with the release."""
    meta = {"name": CLAIMS_READER, "namespace": OPENBAO_NAMESPACE,
            "labels": {"app.kubernetes.io/name": "openbao",
                       "app.kubernetes.io/instance": "openbao"}}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
         "rules": [{"apiGroups": [""], "resources": ["persistentvolumeclaims"],
                    "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": CLAIMS_READER},
         "subjects": [{"kind": "ServiceAccount", "name": SERVER_SERVICE_ACCOUNT,
                       "namespace": OPENBAO_NAMESPACE}]},
    ]


@dataclass(frozen=True)
class OpenBao:
    namespace: k8s.core.v1.Namespace
    chart: pulumi.Resource


def install(
    kit: TierKit,
    bao: OpenBaoConfig,
    host: str,
    cluster: ClusterServicesRefs,
    environments: list[str],
    apps: list[str],
    unseal_key: pulumi.Output[str] | None,
) -> OpenBao:
    """OpenBao; with the static seal also its unseal key and self-initialisation. `unseal_key`:
    the stack's `openbao_unseal_key`, else one is generated (unless the operator supplies the
    Secret, `unseal_key_secret`)."""
    ns = kit.namespace(OPENBAO_NAMESPACE, "baseline")
    key_secret = bao.unseal_key_secret or UNSEAL_KEY_SECRET
    waits: list[pulumi.Resource] = list(cluster.tls_and_storage)
    if bao.seal == "static":
        init = {
            server.INIT_FILE_NAME: server.init_config(environments=environments, apps=apps),
            server.SELECTOR_FILE_NAME: server.init_selector_script(replicas=bao.replicas),
        }
        waits.append(
            k8s.core.v1.ConfigMap(
                INIT_CONFIGMAP,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=INIT_CONFIGMAP, namespace=ns.metadata.name
                ),
                data=init,
                opts=kit.opts,
            )
        )
        if bao.unseal_key_secret is None:  # else the operator keeps it out of Pulumi state
            waits.append(_unseal_key(kit, ns, unseal_key))
        # people log in as this account (`kubectl -n openbao create token platform-admin`):
        # after self-initialisation no root token exists
        kit.service_account(server.PLATFORM_ADMIN, ns)
    chart = kit.chart(
        "openbao", ns, values(bao, host, cluster, key_secret), depends_on=waits
    )
    return OpenBao(ns, chart)


def _unseal_key(
    kit: TierKit, ns: k8s.core.v1.Namespace, supplied: pulumi.Output[str] | None
) -> k8s.core.v1.Secret:
    """The static seal key: the stack's `openbao_unseal_key`, else 32 generated bytes (hex).
    Losing it loses every secret: production protects and retains it."""
    if supplied is not None:
        key = supplied
    else:
        generated = random.RandomBytes("openbao-unseal-key", length=32, opts=kit.opts)
        key = as_secret(generated.hex)
    return k8s.core.v1.Secret(
        UNSEAL_KEY_SECRET,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=UNSEAL_KEY_SECRET, namespace=ns.metadata.name),
        string_data={server.KEY_FILE_NAME: key},
        opts=kit.child(protect=True),
    )


def scrape_targets() -> list[ScrapeTarget]:
    # every pod, sealed ones included (they answer /v1/sys/metrics without a token)
    return [
        ScrapeTarget(
            "openbao", OPENBAO_NAMESPACE, "ServiceMonitor",
            {"app.kubernetes.io/instance": "openbao", "openbao-internal": "true"}, "http",
            path="/v1/sys/metrics", params={"format": ["prometheus"]},
        ),
    ]


def allowances(ingress: Peer) -> list[Allowance]:
    """Connections into the openbao namespace."""
    ns, peer = OPENBAO_NAMESPACE, Peer(OPENBAO_NAMESPACE, PODS)
    return [
        Allowance("openbao-from-ingress", ns, PODS, ("http",), (ingress,),
                  "OpenBao UI and API through the ingress controller (people, CI)"),
        Allowance("openbao-from-external-secrets", ns, PODS, ("http",),
                  (EXTERNAL_SECRETS,), "External Secrets reads plate/<env>/* for the apps"),
        Allowance("openbao-from-harbor-bootstrap", ns, PODS, ("http",),
                  (Peer(HARBOR_NAMESPACE, HARBOR_BOOTSTRAP_POD_LABELS),),
                  "the Harbor bootstrap Job writes the robot credentials"),
        Allowance("openbao-from-snapshot", ns, PODS, ("http",), (SNAPSHOT_PEER,),
                  "the raft snapshot CronJob takes snapshots through the API"),
        Allowance("openbao-peers", ns, PODS, ("http", "https-internal"), (peer,),
                  "raft replication and request forwarding (8201), join and init checks (8200)"),
        Allowance("openbao-metrics-from-prometheus", ns, PODS, ("http",),
                  (PROMETHEUS,), "scrapes /v1/sys/metrics on the API port"),
    ]
