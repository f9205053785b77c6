"""Node-local disks and metrics-server in what the cluster receives (the offline render of both
stacks; components/tools/local_path, components/tools/metrics_server).

Verifies: OpenBao's raft claim template, Prometheus' and Alertmanager's carry the local-path class
in the rendered StatefulSet and custom resources, and every other volume (Grafana, Harbor, the
OpenBao snapshot shelf) stays on NFS; the local-path namespace enforces `privileged` because the
helper pod the provisioner builds (its template from the rendered ConfigMap plus the hostPath and
script volumes provisioner.go adds) fails baseline on its hostPath volume and nothing else, while
the provisioner itself and metrics-server pass restricted in their namespaces; the helper
template is pinned and passes the provisioner's own safety rules; Velero still copies
Alertmanager's volume (not excluded, its namespace in the daily schedule) and leaves out
Prometheus' (`dev_tools.backup.prometheus` false) and OpenBao's raft volumes; metrics-server's
APIService names its Service and port, and the network policies admit the API server to its
secure port and nothing else, and nobody into the provisioner's namespace.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components import versions
from components.tools import kube_prometheus_stack, local_path, metrics_server
from tests.harness import STACKS, rendered
from tooling import netpol_check, podsecurity, render, verify
from tooling.netpol_check import Pod


@pytest.fixture(scope="module", params=STACKS)
def stack(request) -> render.StackRender:
    return rendered(request.param)


def one(stack: render.StackRender, kind: str, name: str) -> dict[str, Any]:
    found = [o.body for o in stack.objects if o.kind == kind and o.name == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)}"
    return found[0]


def claim_classes(stack: render.StackRender) -> dict[str, str]:
    """Every volume the stack asks for -> its StorageClass, as rendered."""
    out = {}
    for obj in stack.objects:
        spec = obj.body.get("spec") or {}
        if obj.kind == "PersistentVolumeClaim":
            out[f"PersistentVolumeClaim {obj.name}"] = spec["storageClassName"]
        for template in spec.get("volumeClaimTemplates") or []:
            out[f"{obj.kind} {obj.name}/{template['metadata']['name']}"] = (
                template["spec"]["storageClassName"]
            )
        if obj.kind in ("Prometheus", "Alertmanager"):
            claim = spec["storage"]["volumeClaimTemplate"]["spec"]
            out[f"{obj.kind} {obj.name}"] = claim["storageClassName"]
    return out


def test_raft_and_the_tsdb_are_on_local_disks_the_shared_volumes_on_nfs(stack):
    classes = claim_classes(stack)
    local = {k for k, v in classes.items() if v == "local-path"}
    assert local == {
        "StatefulSet openbao/data",
        "Prometheus kube-prometheus-stack-prometheus",
        "Alertmanager kube-prometheus-stack-alertmanager",
    }
    assert set(classes.values()) == {"local-path", "nfs"}
    for shared in ("PersistentVolumeClaim openbao-snapshots",
                   "PersistentVolumeClaim kube-prometheus-stack-grafana",
                   "PersistentVolumeClaim harbor-registry"):
        assert classes[shared] == "nfs", shared
    assert one(stack, "StorageClass", "local-path")["provisioner"] == local_path.PROVISIONER


def helper_pod(config_map: dict[str, Any]) -> dict[str, Any]:
    """The helper pod the provisioner creates for a volume: the template of the ConfigMap plus
    what createHelperPod adds. Ref: rancher/local-path-provisioner v0.0.37 provisioner.go
    (createHelperPod)."""
    pod = yaml.safe_load(config_map["data"]["helperPod.yaml"])
    spec = pod["spec"]
    spec |= {"nodeName": "node-1", "serviceAccountName": local_path.SERVICE_ACCOUNT,
             "restartPolicy": "Never"}
    spec["volumes"] = [
        {"name": "data", "hostPath": {"path": "/var/lib/local-path-provisioner/",
                                      "type": "DirectoryOrCreate"}},
        {"name": "script", "configMap": {"name": local_path.CONFIG_MAP, "items": [
            {"key": "setup", "path": "setup"}, {"key": "teardown", "path": "teardown"},
        ]}},
    ]
    (container,) = spec["containers"]
    container["volumeMounts"] = [{"name": "script", "mountPath": "/script"},
                                 {"name": "data", "mountPath": "/var/lib/local-path-provisioner/"}]
    container["command"] = ["/bin/sh", "/script/setup"]
    return pod


def test_the_helper_pods_need_a_privileged_namespace_and_only_for_their_hostpath(stack):
    levels = verify.namespace_levels(stack.objects)
    assert levels[local_path.NAMESPACE] == "privileged"
    pod = helper_pod(one(stack, "ConfigMap", local_path.CONFIG_MAP))
    baseline = podsecurity.violations(pod["metadata"], pod["spec"], "baseline")
    assert len(baseline) == 1 and "hostPath" in baseline[0], baseline
    assert podsecurity.violations(pod["metadata"], pod["spec"], "privileged") == []
    (container,) = pod["spec"]["containers"]
    assert container["image"] == versions.LOCAL_PATH_HELPER_IMAGE
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert container["resources"]["limits"] == {"memory": "64Mi"}


def test_the_helper_template_passes_the_provisioner_s_safety_rules(stack):
    """What the provisioner refuses without --allow-unsafe-helper-pod-template (util.go
    validateHelperPodTemplate at v0.0.37), restated."""
    pod = yaml.safe_load(one(stack, "ConfigMap", local_path.CONFIG_MAP)["data"]["helperPod.yaml"])
    spec = pod["spec"]
    (container,) = spec["containers"]
    forbidden_pod = {"initContainers", "ephemeralContainers", "volumes", "hostNetwork", "hostPID",
                     "hostIPC", "nodeName", "serviceAccountName"}
    forbidden_container = {"volumeMounts", "envFrom", "lifecycle", "livenessProbe",
                           "readinessProbe", "startupProbe"}
    assert not forbidden_pod & spec.keys() and not forbidden_container & container.keys()
    assert spec["securityContext"].keys() <= {"seccompProfile"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False}


def test_the_provisioner_and_metrics_server_run_restricted(stack):
    levels = verify.namespace_levels(stack.objects)
    assert levels[metrics_server.NAMESPACE] == "restricted"
    for name in (local_path.NAME, metrics_server.NAME):
        meta, spec = podsecurity.pod_template(one(stack, "Deployment", name))  # type: ignore[misc]
        assert podsecurity.violations(meta, spec, "restricted") == [], name
        for container in spec["containers"]:
            assert container["resources"]["requests"] and container["resources"]["limits"]
    images = {c["image"] for name in (local_path.NAME, metrics_server.NAME)
              for c in one(stack, "Deployment", name)["spec"]["template"]["spec"]["containers"]}
    assert images == {versions.LOCAL_PATH_PROVISIONER_IMAGE, versions.METRICS_SERVER_IMAGE}


def test_velero_still_copies_alertmanager_and_leaves_out_prometheus_and_raft(stack):
    alertmanager = one(stack, "Alertmanager", "kube-prometheus-stack-alertmanager")["spec"]
    annotations = (alertmanager.get("podMetadata") or {}).get("annotations") or {}
    assert "backup.velero.io/backup-volumes-excludes" not in annotations
    prometheus = one(stack, "Prometheus", "kube-prometheus-stack-prometheus")["spec"]
    assert prometheus["podMetadata"]["annotations"] == {
        "backup.velero.io/backup-volumes-excludes": kube_prometheus_stack.PROMETHEUS_DB_VOLUME,
    }
    schedules = {o.name: o.body["spec"] for o in stack.objects if o.kind == "Schedule"}
    tools = schedules["velero-tools"]["template"]
    assert "monitoring" in tools["includedNamespaces"]
    assert "openbao" not in tools["includedNamespaces"]
    assert tools["defaultVolumesToFsBackup"] is True
    assert one(stack, "StorageClass", "local-path")["metadata"]["annotations"][
        "defaultVolumeType"
    ] == "local"


def policies_of(stack: render.StackRender) -> list[dict[str, Any]]:
    return [o.body for o in stack.objects if o.kind == "NetworkPolicy"]


def test_only_the_api_server_s_port_is_open_into_metrics_server(stack):
    api = one(stack, "APIService", metrics_server.API_SERVICE)["spec"]["service"]
    service = one(stack, "Service", api["name"])
    assert service["metadata"]["namespace"] == api["namespace"] == metrics_server.NAMESPACE
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (api["port"], "https")
    meta, spec = podsecurity.pod_template(one(stack, "Deployment", metrics_server.NAME))  # type: ignore[misc]
    ports = {p["name"]: p["containerPort"] for p in spec["containers"][0]["ports"]}
    target = Pod(metrics_server.NAMESPACE, meta["labels"], ports)
    anyone = Pod("default", {"run": "probe"}, {})
    policies = policies_of(stack)
    assert netpol_check.admits(policies, anyone, target, metrics_server.SECURE_PORT)
    assert not netpol_check.admits(policies, anyone, target, 8080)
    provisioner_meta, provisioner = podsecurity.pod_template(  # type: ignore[misc]
        one(stack, "Deployment", local_path.NAME)
    )
    lpp = Pod(local_path.NAMESPACE, provisioner_meta["labels"],
              {p["name"]: p["containerPort"] for p in provisioner["containers"][0]["ports"]})
    helper = Pod(local_path.NAMESPACE, {}, {})
    for who in (anyone, target, helper):
        assert not netpol_check.admits(policies, who, lpp, local_path.HEALTH_PORT)


def test_the_kube_system_binding_is_the_api_server_s_client_ca_reader(stack):
    binding = one(stack, "RoleBinding", "metrics-server-auth-reader")
    assert binding["metadata"]["namespace"] == "kube-system"
    assert binding["roleRef"]["name"] == "extension-apiserver-authentication-reader"
    reader = one(stack, "ClusterRole", metrics_server.AGGREGATED_READER)
    assert {k for k, v in reader["metadata"]["labels"].items() if v == "true"} == {
        f"rbac.authorization.k8s.io/aggregate-to-{r}" for r in ("view", "edit", "admin")
    }
    assert reader["rules"] == [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"],
                                "verbs": ["get", "list", "watch"]}]
