"""The internal CA and the CA bundles, verified in the rendered output (tooling/render.py: the
program under the mock engine plus every chart through the real Helm engine), which is what the
cluster receives.

Verifies:
1. the internal CA (committed stacks: generated): its key pair Secret in cert-manager's namespace
   and the CA ClusterIssuer `plate-internal-ca` reading it; its certificate is never protected
   (its renewal in its last year is a replacement), its key and Secret are in production; the
   supplied-CA case puts the
   operator's certificate and the stack secret there instead, and generates nothing;
2. OpenBao over TLS in both stacks: the Certificate from that issuer names every Service and
   every pod the raft joins dial; the StatefulSet mounts its Secret where the rendered HCL's
   `tls_cert_file`/`tls_key_file`/`leader_ca_cert_file` point; BAO_ADDR, the API address and
   the probes use https; the clients trust the CA: the ClusterSecretStores' caBundle, the Harbor
   bootstrap Job and push-rotation CronJob, the snapshot CronJob and the break-glass escrow Job
   (BAO_CACERT in a mounted ConfigMap holding the CA), Prometheus' scrape (ca from a ConfigMap of
   its namespace) and Traefik (a ServersTransport the active Service names);
3. each `ca_bundle` (stg with all of them set): the file every configuration names exists in the
   rendered pod spec as a mount of an object that holds exactly the bundle: Fluentd's `ca_file`,
   Alertmanager's `tls_config.ca_file` (the Alertmanager resource's `configMaps`, which the
   Prometheus Operator mounts at the path its CRD documents; `amtool check-config` accepts it),
   Harbor's caBundleSecretName in core, jobservice, registry, Trivy and the exporter; Velero's
   BackupStorageLocation carries the bundle as `caCert`; without the settings none of these
   objects or mounts exists.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import versions
from components.tools.kube_prometheus_stack import alertmanager
from components.tools.openbao import server
from tests.engines.test_openbao import TEST_CA
from tests.harness import STACKS, rendered, with_settings
from tooling import render
from tooling.evaluate import MOCK_CA_PEM, MOCK_PRIVATE_KEY_PEM, is_secret, placeholder
from tooling.render import Obj
from tooling.upstream import chart_dir

EMAIL = {"to": ["ops@plate.dev"], "sender": "alerts@plate.dev",
         "smarthost": "smtp.lan.plate.dev:587", "ca_bundle": TEST_CA}


def one(objects: list[Obj], kind: str, name: str, namespace: str | None = None) -> Obj:
    found = [o for o in objects if o.kind == kind and o.name == name
             and (namespace is None or o.namespace == namespace)]
    assert len(found) == 1, f"{kind} {namespace}/{name}: {len(found)}"
    return found[0]


def pod(obj: Obj) -> dict[str, Any]:
    spec = obj.body["spec"]
    if obj.kind == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def mounted(obj: Obj, container: str | None = None) -> dict[str, dict[str, Any]]:
    """mount path -> the volume behind it, in `container` (the pod's only one by default)."""
    spec = pod(obj)
    (c,) = [c for c in spec["containers"] if container is None or c["name"] == container]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    # (a StatefulSet's claim templates are no pod volume: {})
    return {m["mountPath"]: volumes.get(m["name"], {}) for m in c.get("volumeMounts", [])}


def env(obj: Obj, container: str | None = None) -> dict[str, str]:
    (c,) = [c for c in pod(obj)["containers"] if container is None or c["name"] == container]
    return {e["name"]: e.get("value") for e in c.get("env", [])}


@pytest.fixture(scope="module")
def bundles() -> render.StackRender:
    """stg with every ca_bundle set."""
    return render.render_stack("stg", with_settings("stg", {
        "dev_tools.fluentd.output.ca_bundle": TEST_CA,
        "dev_tools.backup.target.ca_bundle": TEST_CA,
        "dev_tools.harbor.ca_bundle": TEST_CA,
        "dev_tools.monitoring.alerts.email": EMAIL,
    }))


# 1 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_the_generated_internal_ca_becomes_a_ca_cluster_issuer(stack: str) -> None:
    objects = rendered(stack).objects
    pair = one(objects, "Secret", "plate-internal-ca", "cert-manager")
    assert pair.body["type"] == "kubernetes.io/tls"
    assert pair.body["stringData"] == {"tls.crt": MOCK_CA_PEM, "tls.key": MOCK_PRIVATE_KEY_PEM}
    issuer = one(objects, "ClusterIssuer", "plate-internal-ca")
    assert issuer.body["spec"] == {"ca": {"secretName": "plate-internal-ca"}}
    recording = rendered(stack).recording
    (secret,) = [r for r in recording.resources
                 if r.type == "kubernetes:core/v1:Secret" and r.name == "plate-internal-ca"]
    assert is_secret(secret.inputs["stringData"])  # the key, and so the map, is secret
    (key,) = recording.by_type("tls:index/privateKey:PrivateKey")
    (cert,) = recording.by_type("tls:index/selfSignedCert:SelfSignedCert")
    assert key.inputs["algorithm"] == "ECDSA" and cert.inputs["isCaCertificate"] is True
    assert cert.inputs["allowedUses"] == ["cert_signing", "crl_signing", "digital_signature"]
    # renewal: from a year before the end of its ten years pulumi-tls plans a replacement of the
    # certificate (terraform-provider-tls common_cert.go modifyPlanIfCertificateReadyForRenewal),
    # re-signed by the same key; a protected certificate would refuse it and fail every `up`, so
    # only the key and the key pair Secret are protected, in production
    assert (cert.inputs["validityPeriodHours"], cert.inputs["earlyRenewalHours"]) == (
        10 * 365 * 24, 365 * 24)
    assert not cert.protect
    assert (key.protect, secret.protect) == ((True, True) if stack == "prod" else (False, False))


def test_a_supplied_internal_ca_is_used_and_nothing_is_generated() -> None:
    config = with_settings("stg", {"tls.internal_ca": {"certificate": TEST_CA}})
    stack = render.render_stack("stg", config)
    pair = one(stack.objects, "Secret", "plate-internal-ca", "cert-manager")
    assert pair.body["stringData"] == {"tls.crt": TEST_CA,
                                       "tls.key": placeholder("internal_ca_key")}
    assert not [r for r in stack.recording.resources if r.type.startswith("tls:")]
    (recorded,) = [r for r in stack.recording.resources
                   if r.type == "kubernetes:core/v1:Secret" and r.name == "plate-internal-ca"]
    assert is_secret(recorded.inputs["stringData"])  # the key, secret end to end
    store = one(stack.objects, "ClusterSecretStore", "openbao-stg")
    assert base64.b64decode(store.body["spec"]["provider"]["vault"]["caBundle"]).decode() == TEST_CA
    for namespace in ("openbao", "harbor"):
        ca = one(stack.objects, "ConfigMap", "plate-internal-ca", namespace)
        assert ca.body["data"] == {"ca.crt": TEST_CA}


# 2 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_openbao_serves_tls_from_the_internal_ca_to_every_name_it_is_reached_by(
        stack: str) -> None:
    render_ = rendered(stack)
    objects, replicas = render_.objects, render_.cfg.dev_tools.openbao.replicas
    cert = one(objects, "Certificate", server.TLS_SECRET, "openbao").body["spec"]
    assert cert["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer",
                                 "name": "plate-internal-ca"}
    assert cert["secretName"] == server.TLS_SECRET and cert["ipAddresses"] == ["127.0.0.1"]
    names = set(cert["dnsNames"])
    for service in ("openbao", "openbao-active", "openbao-internal"):
        assert {service, f"{service}.openbao.svc"} <= names
    # the rendered server HCL: TLS listener, https joins trusting the CA next to the certificate
    hcl = one(objects, "ConfigMap", "openbao-config", "openbao").body["data"][
        "extraconfig-from-values.hcl"]
    tls_dir = f"/openbao/userconfig/{server.TLS_SECRET}"
    assert re.findall(r"^  (tls_\w+) = (.+)$", hcl, re.MULTILINE) == [
        ("tls_disable", "false"), ("tls_cert_file", f'"{tls_dir}/tls.crt"'),
        ("tls_key_file", f'"{tls_dir}/tls.key"'), ("tls_min_version", '"tls12"')]
    joins = re.findall(r'leader_api_addr = "https://([^:"]+):8200"\s*'
                       r'leader_ca_cert_file = "([^"]+)"', hcl)
    assert len(joins) == (replicas if replicas > 1 else 0)
    for host, ca_file in joins:
        assert host in names and ca_file == f"{tls_dir}/ca.crt"
    statefulset = one(objects, "StatefulSet", "openbao", "openbao")
    volume = mounted(statefulset, "openbao")[tls_dir]
    assert volume["secret"]["secretName"] == server.TLS_SECRET
    variables = env(statefulset, "openbao")
    assert variables["BAO_ADDR"] == "https://127.0.0.1:8200"
    assert variables["BAO_API_ADDR"] == "https://$(BAO_K8S_POD_NAME).openbao-internal:8200"
    assert variables["BAO_CACERT"] == f"{tls_dir}/ca.crt"
    (container,) = [c for c in pod(statefulset)["containers"] if c["name"] == "openbao"]
    assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert {p["name"] for p in container["ports"]} >= {"https", "https-internal"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_client_of_openbao_trusts_the_internal_ca(stack: str) -> None:
    objects = rendered(stack).objects
    for namespace in ("openbao", "harbor"):
        ca = one(objects, "ConfigMap", "plate-internal-ca", namespace)
        assert ca.body["data"] == {"ca.crt": MOCK_CA_PEM}
    for env_name in rendered(stack).cfg.dev_tools.openbao.environments or [stack]:
        vault = one(objects, "ClusterSecretStore", f"openbao-{env_name}").body["spec"][
            "provider"]["vault"]
        assert vault["server"] == "https://openbao-active.openbao.svc:8200"
        assert base64.b64decode(vault["caBundle"]).decode() == MOCK_CA_PEM
    clients = [o for o in objects if o.namespace in ("harbor", "openbao")
               and o.kind in ("Job", "CronJob") and "BAO_ADDR" in env(o)]
    assert sorted((o.kind, o.namespace) for o in clients) == [
        ("CronJob", "harbor"), ("CronJob", "openbao"), ("Job", "harbor"), ("Job", "openbao")]
    for client in clients:
        variables = env(client)
        assert variables["BAO_ADDR"] == "https://openbao-active.openbao.svc:8200"
        directory, file = variables["BAO_CACERT"].rsplit("/", 1)
        assert mounted(client)[directory]["configMap"]["name"] == "plate-internal-ca"
        assert file == "ca.crt"
    (monitor,) = [o for o in objects if o.kind == "ServiceMonitor" and o.namespace == "openbao"]
    (endpoint,) = monitor.body["spec"]["endpoints"]
    assert endpoint["scheme"] == "https" and endpoint["port"] == "https"
    assert endpoint["tlsConfig"]["ca"] == {"configMap": {"name": "plate-internal-ca",
                                                         "key": "ca.crt"}}
    assert endpoint["tlsConfig"]["serverName"] in one(
        objects, "Certificate", server.TLS_SECRET, "openbao").body["spec"]["dnsNames"]
    transport = one(objects, "ServersTransport", "openbao-internal-ca", "openbao").body["spec"]
    assert transport["rootCAs"] == [{"configMap": "plate-internal-ca"}]
    active = one(objects, "Service", "openbao-active", "openbao").body["metadata"]["annotations"]
    assert active["traefik.ingress.kubernetes.io/service.serverstransport"] == (
        "openbao-openbao-internal-ca@kubernetescrd")
    assert active["traefik.ingress.kubernetes.io/service.serversscheme"] == "https"


# 3 ------------------------------------------------------------------------------------------------

def _holds_the_bundle(objects: list[Obj], volume: dict[str, Any], namespace: str) -> None:
    """The object behind `volume` exists in `namespace` and its ca.crt is the bundle."""
    if "configMap" in volume:
        data = one(objects, "ConfigMap", volume["configMap"]["name"], namespace).body["data"]
    else:
        data = one(objects, "Secret", volume["secret"]["secretName"], namespace).body["stringData"]
    assert data == {"ca.crt": TEST_CA}


def test_fluentd_verifies_the_log_backend_with_its_bundle(bundles: render.StackRender) -> None:
    objects = bundles.objects
    outputs = one(objects, "ConfigMap", "fluentd-config-fluentd", "logging").body["data"]
    (ca_file,) = re.findall(r"^\s*ca_file (\S+)$", "".join(outputs.values()), re.MULTILINE)
    assert re.search(r"^\s*ssl_verify true$", "".join(outputs.values()), re.MULTILINE)
    directory, file = ca_file.rsplit("/", 1)
    volume = mounted(one(objects, "DaemonSet", "fluentd", "logging"), "fluentd")[directory]
    assert file == "ca.crt"
    _holds_the_bundle(objects, volume, "logging")


def test_alertmanager_verifies_the_relay_with_its_bundle(bundles: render.StackRender,
                                                        tmp_path: Path) -> None:
    objects = bundles.objects
    secret = one(objects, "Secret", "alertmanager-kube-prometheus-stack-alertmanager",
                 "monitoring")
    config = yaml.safe_load(base64.b64decode(secret.body["data"]["alertmanager.yaml"]))
    files = {c["tls_config"]["ca_file"] for r in config["receivers"]
             for c in r.get("email_configs", [])}
    assert files == {"/etc/alertmanager/configmaps/alertmanager-smtp-ca/ca.crt"}
    # Alertmanager's own parser (amtool 0.25, strict about unknown keys) takes the setting
    routing = tmp_path / "alertmanager.yaml"
    routing.write_text(yaml.safe_dump(alertmanager.alertmanager_config(
        bundles.cfg.dev_tools.monitoring.alerts, set())))
    amtool = shutil.which("amtool")
    assert amtool, "amtool not found on PATH: .ci/run installs it (prometheus-alertmanager)"
    checked = subprocess.run([amtool, "check-config", str(routing)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout
    spec = one(objects, "Alertmanager", "kube-prometheus-stack-alertmanager", "monitoring").body[
        "spec"]
    assert spec["configMaps"] == ["alertmanager-smtp-ca"]
    _holds_the_bundle(objects, {"configMap": {"name": "alertmanager-smtp-ca"}}, "monitoring")
    # where the operator mounts a listed ConfigMap (it builds the StatefulSet, not the chart)
    source = chart_dir("kube-prometheus-stack", versions.CHARTS["kube-prometheus-stack"].version)
    crd = yaml.safe_load((source / "charts" / "crds" / "crds" / "crd-alertmanagers.yaml")
                         .read_text())
    described = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]["configMaps"]["description"]
    assert "mounted into `/etc/alertmanager/configmaps/<configmap-name>`" in described


def test_harbor_trusts_its_bundle_in_every_component_that_calls_out(
        bundles: render.StackRender) -> None:
    objects = bundles.objects
    workloads = [o for o in objects if o.source == "harbor"
                 and o.kind in ("Deployment", "StatefulSet")]
    trusting = sorted(o.name for o in workloads
                      if "/harbor_cust_cert/custom-ca.crt" in mounted(o, o.name.replace(
                          "harbor-", "", 1)) or "/harbor_cust_cert/custom-ca.crt" in mounted(o))
    assert trusting == ["harbor-core", "harbor-exporter", "harbor-jobservice", "harbor-registry",
                        "harbor-trivy"]
    for workload in workloads:
        for volume in pod(workload).get("volumes", []):
            if volume["name"] == "ca-bundle-certs":
                _holds_the_bundle(objects, volume, "harbor")


def test_velero_verifies_the_store_with_its_bundle(bundles: render.StackRender) -> None:
    location = one(bundles.objects, "BackupStorageLocation", "default", "velero").body["spec"]
    assert base64.b64decode(location["objectStorage"]["caCert"]).decode() == TEST_CA


def test_without_bundles_nothing_is_mounted_or_created() -> None:
    objects = rendered("stg").objects
    for kind, name, namespace in (("ConfigMap", "fluentd-output-ca", "logging"),
                                  ("ConfigMap", "alertmanager-smtp-ca", "monitoring"),
                                  ("Secret", "harbor-ca-bundle", "harbor")):
        assert not [o for o in objects if (o.kind, o.name, o.namespace) == (kind, name, namespace)]
    assert "ca_file" not in "".join(
        one(objects, "ConfigMap", "fluentd-config-fluentd", "logging").body["data"].values())
    assert "caCert" not in one(objects, "BackupStorageLocation", "default", "velero").body[
        "spec"]["objectStorage"]
    assert not [o for o in objects if o.source == "harbor"
                and any(v["name"] == "ca-bundle-certs" for v in (
                    pod(o).get("volumes", []) if o.kind in ("Deployment", "StatefulSet") else []))]
