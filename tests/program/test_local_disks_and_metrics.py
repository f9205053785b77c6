"""Node-local disks and the metrics API as the program registers them (tier 1: components/tools/
local_path, components/tools/metrics_server) and the settings that choose them.

Verifies: each stack registers local-path-provisioner with its StorageClass (`local` volumes,
WaitForFirstConsumer, the stack's reclaim policy, protected in production) and metrics-server with
the APIService `v1beta1.metrics.k8s.io`, after their Deployments; the storage charts wait for both
classes; `cluster.metrics_server: distribution` installs no metrics-server and a stack without
`local_path` no provisioner; `cluster.kubelet_insecure_tls` adds exactly `--kubelet-insecure-tls`;
a per-tool class that the stack does not have, a node-local class named like the NFS class and
kubelet TLS settings without the platform's metrics-server are config errors naming the key,
before any resource.
"""

from __future__ import annotations

import base64

import pytest

from components.tools import local_path, metrics_server
from tests.harness import Recording, recorded, refusal, run_program, with_settings

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
API_SERVICE = "kubernetes:apiregistration.k8s.io/v1:APIService"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def names(rec: Recording, type_: str) -> list[str]:
    return [r.name for r in rec.by_type(type_)]


@pytest.mark.parametrize(("stack", "reclaim"), [("stg", "Delete"), ("prod", "Retain")])
def test_the_local_path_class_makes_local_volumes_on_the_pods_node(stack: str, reclaim: str):
    rec = recorded(stack)
    sc = rec.one(STORAGE_CLASS, "local-path-storage-class")
    assert sc.plain("metadata") == {
        "name": "local-path",
        "annotations": {
            "storageclass.kubernetes.io/is-default-class": "false",
            "defaultVolumeType": "local",
        },
    }
    assert (sc.plain("provisioner"), sc.plain("volumeBindingMode"), sc.plain("reclaimPolicy")) == (
        local_path.PROVISIONER, "WaitForFirstConsumer", reclaim
    )
    assert sc.protect is (stack == "prod")
    assert "Deployment/local-path-provisioner" in rec.deps("StorageClass/local-path-storage-class")
    # every chart that makes volumes waits for both classes
    for chart in ("openbao", "kube-prometheus-stack", "harbor"):
        assert {"StorageClass/local-path-storage-class", "StorageClass/nfs-storage-class"} <= (
            rec.deps(f"Chart/{chart}")
        ), chart


@pytest.mark.parametrize("stack", ["stg", "prod"])
def test_metrics_server_serves_the_resource_metrics_api(stack: str):
    rec = recorded(stack)
    api = rec.one(API_SERVICE, metrics_server.API_SERVICE)
    spec = api.plain("spec")
    ca_bundle = spec.pop("caBundle")
    assert spec == {
        "group": "metrics.k8s.io", "version": "v1beta1",
        "service": {"name": "metrics-server", "namespace": "metrics-server", "port": 443},
        "groupPriorityMinimum": 100, "versionPriority": 100,
    }
    # the API server verifies metrics-server against the internal CA, the same PEM every other
    # client of the internal CA trusts (OpenBao's clients read it from this ConfigMap)
    (openbao_ca,) = [r for r in rec.by_type("kubernetes:core/v1:ConfigMap")
                     if r.plain("metadata").get("name") == "plate-internal-ca"
                     and r.plain("metadata").get("namespace") == "openbao"]
    assert base64.b64decode(ca_bundle).decode() == openbao_ca.plain("data")["ca.crt"]
    assert "BEGIN CERTIFICATE" in openbao_ca.plain("data")["ca.crt"]
    assert {"Deployment/metrics-server", "Service/metrics-server"} <= rec.deps(
        f"APIService/{metrics_server.API_SERVICE}"
    )
    # its serving certificate: the Service's names, from the internal CA's ClusterIssuer
    certificate = rec.one("kubernetes:cert-manager.io/v1:Certificate", metrics_server.TLS_SECRET)
    assert certificate.plain("spec") == metrics_server.certificate_spec("plate-internal-ca")
    assert certificate.plain("spec")["dnsNames"] == [
        "metrics-server.metrics-server.svc", "metrics-server.metrics-server.svc.cluster.local"]
    assert f"Certificate/{metrics_server.TLS_SECRET}" in rec.deps("Deployment/metrics-server")
    deployment = rec.one(DEPLOYMENT, "metrics-server").plain("spec")
    assert deployment["replicas"] == (2 if stack == "prod" else 1)
    (container,) = deployment["template"]["spec"]["containers"]
    assert container["args"] == metrics_server.args(insecure_kubelet_tls=False)
    assert {"--tls-cert-file=/tls/tls.crt", "--tls-private-key-file=/tls/tls.key"} <= set(
        container["args"])
    assert {"name": "tls", "mountPath": "/tls", "readOnly": True} in container["volumeMounts"]
    assert {"name": "tls", "secret": {"secretName": "metrics-server-tls", "defaultMode": 0o440}} \
        in deployment["template"]["spec"]["volumes"]
    assert "--kubelet-insecure-tls" not in container["args"]
    # the root Application waits for the API its apps' HPAs read
    assert f"APIService/{metrics_server.API_SERVICE}" in rec.deps("Application/root-app")


def test_insecure_kubelet_tls_is_one_flag_and_only_when_asked():
    assert metrics_server.args(insecure_kubelet_tls=True) == [
        *metrics_server.args(insecure_kubelet_tls=False), "--kubelet-insecure-tls"
    ]
    rec = run_program("stg", with_settings("stg", {"cluster.kubelet_insecure_tls": True}))
    (container,) = rec.one(DEPLOYMENT, "metrics-server").plain("spec")["template"]["spec"][
        "containers"
    ]
    assert container["args"][-1] == "--kubelet-insecure-tls"


def test_a_distribution_s_metrics_server_and_no_local_path_install_nothing():
    config = with_settings("stg", {
        "cluster.metrics_server": "distribution", "cluster.kubelet_insecure_tls": None,
        "local_path": None, "dev_tools.openbao.storage_class": None,
        "dev_tools.monitoring.prometheus_storage_class": None,
        "dev_tools.monitoring.alertmanager_storage_class": None,
    })
    rec = run_program("stg", config)
    assert names(rec, API_SERVICE) == []
    assert not {"metrics-server", "local-path-provisioner"} & set(names(rec, DEPLOYMENT))
    assert names(rec, STORAGE_CLASS) == ["nfs-storage-class"]


@pytest.mark.parametrize(("changes", "problem"), [
    (
        {"dev_tools.openbao.storage_class": "local-paht"},
        "dev_tools.openbao.storage_class: 'local-paht' is not a StorageClass of this stack (nfs, "
        "local-path); set local_path for the node-local class, or list a class the cluster "
        "already has in existing_storage_classes",
    ),
    (
        {"local_path": None},
        "dev_tools.monitoring.prometheus_storage_class: 'local-path' is not a StorageClass of "
        "this stack (nfs); set local_path for the node-local class, or list a class the cluster "
        "already has in existing_storage_classes",
    ),
    (
        {"local_path.storage_class": "nfs"},
        "local_path.storage_class: 'nfs' is already the NFS class (storage_class); name the "
        "node-local class differently (e.g. 'local-path')",
    ),
    (
        {"cluster.metrics_server": "distribution", "cluster.kubelet_insecure_tls": True},
        "cluster.kubelet_insecure_tls: only for the platform's metrics-server "
        "(cluster.metrics_server 'platform'); remove it, the distribution configures its own",
    ),
    (
        {"local_path.path": "var/lib/volumes"},
        "local_path.path: 'var/lib/volumes' is not an absolute directory on the nodes (e.g. "
        "'/var/lib/local-path-provisioner'; not '/')",
    ),
    (
        {"cluster.metrics_server": "k3s"},
        "cluster.metrics_server: 'k3s' is not allowed; expected 'platform' or 'distribution'",
    ),
])
def test_storage_and_metrics_settings_are_checked_before_any_resource(changes, problem):
    assert problem in refusal("stg", with_settings("stg", changes))


def test_a_class_the_cluster_already_has_may_be_named():
    config = with_settings("stg", {
        "existing_storage_classes": ["fast-nvme"],
        "dev_tools.monitoring.prometheus_storage_class": "fast-nvme",
    })
    rec = run_program("stg", config)
    prometheus = rec.one("kubernetes:helm.sh/v4:Chart", "kube-prometheus-stack").plain("values")
    spec = prometheus["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]
    assert spec["spec"]["storageClassName"] == "fast-nvme"
