"""How an image pushed by CI and a secret written to OpenBao reach a plate pod: the program's side.

Verifies, for both stacks, under the mock runtime: Traefik is the ingress controller on the fixed
MetalLB address and waits for it; OpenBao gets the generated server config, self-initialisation
and unseal key (secret, protected and retained in production), or none of them with the shamir
seal, or no key Secret when the operator keeps it; the operator-supplied key is used and a
malformed one is refused before any resource; External Secrets sits behind a webhook gate and each
environment's ClusterSecretStore reads plate/<env> as eso-<env>, only for plate-<env>, and is
awaited; the Harbor bootstrap Job gets what it needs and waits for Harbor and OpenBao; the root
Application waits for the stores and the bootstrap.
"""

from __future__ import annotations

import base64
import copy
import json

import pytest

from components import versions
from components.config import (
    IDENTITY_CLIENT_SECRETS,
    AlertThresholds,
    ConfigError,
    HarborConfig,
    IdentityConfig,
    parse_platform_config,
)
from components.gitops import apps as gitops
from components.observability import alerts, dashboards
from components.tools import openbao as openbao_tool
from components.tools.openbao import server as openbao
from tests.harness import refusal, supplying, with_settings
from tooling.evaluate import MOCK_CA_PEM, Recording, is_secret, run_program, stack_config

CHART = "kubernetes:helm.sh/v4:Chart"
SECRET = "kubernetes:core/v1:Secret"
STORE = "kubernetes:external-secrets.io/v1:ClusterSecretStore"
KEY = "0123456789abcdef" * 4
PASSWORDS = {
    "rfc2136_tsig_secret": "tsig",
    "fluentd_output_password": "es",
    "backup_s3_access_key_id": "key-id",
    "backup_s3_secret_access_key": "key",
    **{key: f"client-{key}" for key in IDENTITY_CLIENT_SECRETS},
}
APPS = ["plate-web", "plate-api", "plate-llm", "plate-cache"]


def _people_login(stack: str) -> openbao.PeopleLogin:
    """People's sign-in as the committed stack configures it (its `identity`, host `bao`)."""
    config = stack_config(stack)
    return openbao_tool.people_login(IdentityConfig.model_validate(config["identity"]),
                                     f"bao.{config['domain']}")


def with_openbao(**settings) -> dict:
    config = copy.deepcopy(stack_config("stg"))
    config["dev_tools"]["openbao"].update(settings)
    return config


def test_traefik_is_the_ingress_controller_on_its_fixed_address(stg, prod):
    for rec, address in ((stg, "10.20.0.200"), (prod, "10.30.0.200")):
        chart = rec.one(CHART, "traefik")
        pinned = ("traefik", versions.TRAEFIK.version)
        assert (chart.plain("chart"), chart.plain("version")) == pinned
        values = chart.plain("values")
        assert values["service"]["annotations"] == {"metallb.io/loadBalancerIPs": address}
        assert values["ingressClass"] == {
            "enabled": True, "isDefaultClass": True, "name": "traefik",
        }
        web = values["ports"]["web"]
        assert web["http"]["redirections"]["entryPoint"]["to"] == "websecure"
        assert "L2Advertisement/metallb-l2" in rec.deps("Chart/traefik")
    assert prod.one(CHART, "traefik").plain("values")["deployment"]["replicas"] == 2
    harbor = stg.one(CHART, "harbor").plain("values")["expose"]["ingress"]
    assert harbor["className"] == "traefik" and not any("nginx" in k for k in harbor["annotations"])


def test_an_external_ingress_controller_installs_nothing_and_is_admitted_instead_of_traefik():
    config = copy.deepcopy(stack_config("stg"))
    config["ingress"] = {"controller": "external", "namespace": "ingress-nginx",
                         "pod_labels": {"app.kubernetes.io/name": "ingress-nginx"}}
    rec = run_program("stg", config)
    assert not [r for r in rec.by_type(CHART) if r.name == "traefik"]
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}
    # the tools' policies and the apps' charts admit the external controller's pods
    argocd = rec.named("NetworkPolicy/argocd-allow-argocd-server-from-ingress").plain("spec")
    assert argocd["ingress"][0]["from"] == [peer]
    child = gitops.child_application(parse_platform_config(config), gitops.IN_HOUSE_APPS[0])
    assert child["spec"]["source"]["helm"]["valuesObject"]["networkPolicy"] == {
        "ingressFrom": [peer]
    }
    # with the platform's Traefik the children keep the charts' own default (and carry only
    # the facts and the app's OpenBao role)
    stg = parse_platform_config(stack_config("stg"))
    assert set(gitops.child_application(stg, gitops.IN_HOUSE_APPS[0])["spec"]["source"]["helm"][
        "valuesObject"]) == {"global", "externalSecrets"}


def test_the_ingress_peer_settings_belong_to_an_external_controller():
    config = with_settings("stg", {"ingress.namespace": "ingress-nginx"})
    assert refusal("stg", config) == [
        "ingress.namespace/ingress.pod_labels: only for ingress.controller 'external' (the "
        "platform's Traefik runs in namespace 'traefik'); remove them"
    ]


def test_openbao_unseals_and_initialises_itself(stg, prod):
    for rec, replicas, environment in ((stg, 1, "stg"), (prod, 3, "prod")):
        server = rec.one(CHART, "openbao").plain("values")["server"]
        key_file = "/openbao/userconfig/openbao-unseal-key/key"
        assert server["ha"]["raft"]["config"] == openbao.server_config(
            replicas=replicas, seal="static", key_file=key_file
        )
        assert server["extraArgs"] == "$(sh /openbao/userconfig/openbao-init/select-init.sh)"
        assert server["extraVolumes"] == [
            {"type": "secret", "name": "openbao-server-tls"},  # the listener's certificate
            {"type": "secret", "name": "openbao-unseal-key"},
            {"type": "configMap", "name": "openbao-init"},
            {"type": "secret", "name": "openbao-identity"},  # people's sign-in (`identity`)
        ]
        init = rec.one("kubernetes:core/v1:ConfigMap", "openbao-init").plain("data")
        assert init == {
            "init.hcl": openbao.init_config(
                environments=[environment], apps=APPS, people=_people_login(environment)),
            "select-init.sh": openbao.init_selector_script(replicas=replicas),
        }
        assert {"Secret/openbao-unseal-key", "ConfigMap/openbao-init"} <= rec.deps("Chart/openbao")
    key = stg.one(SECRET, "openbao-unseal-key")
    assert is_secret(key.inputs["stringData"]) or is_secret(key.inputs["stringData"]["key"])
    assert key.plain("stringData") == {"key": "00" * 32}  # the mock's stand-in for 32 bytes
    assert not key.protect
    prod_key = prod.one(SECRET, "openbao-unseal-key")
    assert prod_key.protect and prod_key.retain_on_delete


def test_an_operator_supplied_unseal_key_is_used_and_a_malformed_one_refused():
    config = supplying("stg", "openbao_unseal_key")
    rec = run_program("stg", config, secrets={**PASSWORDS, "openbao_unseal_key": KEY})
    assert not rec.by_type("random:index/randomBytes:RandomBytes")
    assert rec.one(SECRET, "openbao-unseal-key").plain("stringData") == {"key": KEY}
    recording = Recording()
    with pytest.raises(ConfigError) as exc:
        run_program("stg", config, secrets={**PASSWORDS, "openbao_unseal_key": KEY + "\n"},
                    recording=recording)
    assert exc.value.problems == [
        "openbao_unseal_key: not a 32-byte key (65 characters); use 64 hex or 44 base64 "
        "characters without a newline, e.g. `openssl rand -hex 32 | tr -d '\\n'`"
    ]
    assert recording.resources == []


def test_an_operator_kept_key_secret_never_enters_pulumi():
    rec = run_program("stg", with_openbao(unseal_key_secret="bao-key-kept-offline"))
    assert not [r for r in rec.by_type(SECRET) if r.name == "openbao-unseal-key"]
    server = rec.one(CHART, "openbao").plain("values")["server"]
    assert {"type": "secret", "name": "bao-key-kept-offline"} in server["extraVolumes"]
    assert "/openbao/userconfig/bao-key-kept-offline/key" in server["ha"]["raft"]["config"]


def test_shamir_keeps_the_manual_mode():
    rec = run_program("stg", with_openbao(seal="shamir"))
    server = rec.one(CHART, "openbao").plain("values")["server"]
    assert "extraArgs" not in server
    assert server["extraVolumes"] == [{"type": "secret", "name": "openbao-server-tls"}]
    assert 'seal "static"' not in server["ha"]["raft"]["config"]
    names = {r.name for r in rec.resources}
    assert not names & {"openbao-init", "openbao-unseal-key", "harbor-bootstrap"}
    # nothing initialises OpenBao during `up`: its store is created but not awaited
    store = rec.one(STORE, "openbao-stg")
    assert "annotations" not in store.plain("metadata")
    assert "ClusterSecretStore/openbao-stg" not in rec.deps("Application/root-app")


def test_each_environment_gets_a_read_only_store_for_its_namespace_only(stg):
    gate = "Job/external-secrets-webhook-ready"
    assert "Chart/external-secrets" in stg.deps(gate)
    store = stg.one(STORE, "openbao-stg")
    assert store.plain("metadata", "annotations") == {
        "pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "900",
    }
    assert store.plain("spec") == {
        "conditions": [{"namespaces": ["plate-stg"]}],
        "provider": {"vault": {
            "server": "https://openbao-active.openbao.svc:8200", "path": "plate", "version": "v2",
            # the internal CA (the mock's stand-in of the generated one), base64
            "caBundle": base64.b64encode(MOCK_CA_PEM.encode()).decode(),
            "auth": {"kubernetes": {
                "mountPath": "kubernetes", "role": "eso-stg",
                "serviceAccountRef": {"name": "eso-stg", "namespace": "external-secrets"},
            }},
        }},
    }
    store_deps = stg.deps("ClusterSecretStore/openbao-stg")
    assert {gate, "Chart/openbao", "ServiceAccount/eso-stg"} <= store_deps
    shared = run_program("stg", with_openbao(environments=["stg", "qa"]))
    with pytest.raises(ConfigError) as exc:
        run_program("stg", with_openbao(environments=["qa"]))
    assert exc.value.problems == [
        "dev_tools.openbao.environments: must include this stack's environment 'stg' (its apps "
        "read their secrets through openbao-stg)"
    ]
    assert {r.name for r in shared.by_type(STORE)} == {"openbao-stg", "openbao-qa"}
    init = shared.one("kubernetes:core/v1:ConfigMap", "openbao-init").plain("data")["init.hcl"]
    assert init == openbao.init_config(environments=["stg", "qa"], apps=APPS,
                                       people=_people_login("stg"))


def test_the_harbor_bootstrap_job(stg):
    job = stg.one("kubernetes:batch/v1:Job", "harbor-bootstrap")
    pod = job.plain("spec", "template", "spec")
    assert pod["serviceAccountName"] == "harbor-bootstrap"
    (container,) = pod["containers"]
    assert container["image"] == versions.PYTHON_IMAGE
    assert container["command"] == ["python", "-I", "/script/harbor_bootstrap.py"]
    # the sign-in settings (OIDC_*): tests/operations/test_harbor_bootstrap.py
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]
           if not e["name"].startswith("OIDC_")}
    assert env == {
        "HARBOR_URL": "http://harbor-core.harbor.svc",
        "BAO_ADDR": "https://openbao-active.openbao.svc:8200",
        "BAO_CACERT": "/ca/ca.crt",  # the internal CA, from the ConfigMap plate-internal-ca
        "ENVIRONMENTS": "stg",
        "REGISTRY": "harbor.stg.plate.dev",
        "ROTATE": "false",
        # the CI push robot lives 30 days and is replaced 10 days before; prod-style tags are
        # immutable in Harbor (dev_tools.harbor defaults)
        "PUSH_ROBOT_DAYS": "30",
        "PUSH_RENEW_DAYS": "10",
        "IMMUTABLE_TAGS": json.dumps(HarborConfig().immutable_tags),
        "HARBOR_PASSWORD": {
            "secretKeyRef": {"name": "harbor-admin", "key": "HARBOR_ADMIN_PASSWORD"},
        },
    }
    script = stg.one("kubernetes:core/v1:ConfigMap", "harbor-bootstrap-script").plain("data")
    assert script["harbor_bootstrap.py"].startswith('"""')
    assert {"Chart/harbor", "Chart/openbao"} <= stg.deps("Job/harbor-bootstrap")


def test_the_root_application_waits_for_stores_and_the_bootstrap(stg, prod):
    for rec, environment in ((stg, "stg"), (prod, "prod")):
        deps = rec.deps("Application/root-app")
        assert {f"ClusterSecretStore/openbao-{environment}",
                "Job/harbor-bootstrap", "Chart/external-secrets", "Chart/traefik"} <= deps


def test_every_scraped_tool_and_the_alert_rules_wait_for_the_prometheus_operator(stg):
    monitors = [r for r in stg.resources if r.type.startswith("kubernetes:monitoring.coreos.com")]
    assert sorted(Recording.label(r) for r in monitors) == [
        "PodMonitor/external-dns-podmonitor",
        "PodMonitor/traefik-podmonitor",
        "PodMonitor/velero-node-agent-podmonitor",
        "PrometheusRule/platform-alerts",
        "ServiceMonitor/argo-cd-servicemonitor",
        "ServiceMonitor/cert-manager-servicemonitor",
        "ServiceMonitor/external-secrets-servicemonitor",
        "ServiceMonitor/fluentd-servicemonitor",
        "ServiceMonitor/harbor-servicemonitor",
        "ServiceMonitor/metallb-metrics-servicemonitor",
        "ServiceMonitor/openbao-servicemonitor",
        "ServiceMonitor/velero-servicemonitor",
    ]
    for r in monitors:  # after the CRDs, and no chart waits for a monitor
        assert "Chart/kube-prometheus-stack" in stg.deps(Recording.label(r))
    for chart in stg.by_type(CHART):
        assert not any(label.endswith("monitor") for label in stg.deps(Recording.label(chart)))
    rules = stg.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "platform-alerts")
    assert rules.plain("spec") == {"groups": alerts.platform_rule_groups()}
    openbao_monitor = stg.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
                              "openbao-servicemonitor").plain("spec")
    assert openbao_monitor["endpoints"] == [{
        "port": "https", "path": "/v1/sys/metrics", "interval": "30s",
        "params": {"format": ["prometheus"]}, "scheme": "https",
        "tlsConfig": {"ca": {"configMap": {"name": "plate-internal-ca", "key": "ca.crt"}},
                      "serverName": "openbao-internal.openbao.svc"},
    }]
    # MetalLB: HTTPS with Prometheus' own token, through the Service the program adds
    metallb = stg.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
                      "metallb-metrics-servicemonitor").plain("spec")
    labels = {"app.kubernetes.io/name": "metallb", "app.kubernetes.io/instance": "metallb"}
    assert metallb == {
        "selector": {"matchLabels": labels},
        "endpoints": [{
            "port": "metricshttps", "path": "/metrics", "interval": "30s", "scheme": "https",
            "bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
            "tlsConfig": {"insecureSkipVerify": True},
        }],
    }
    service = stg.one("kubernetes:core/v1:Service", "metallb-metrics-service")
    assert service.plain("metadata") == {
        "name": "metallb-metrics", "namespace": "metallb-system", "labels": labels,
    }
    assert service.plain("spec") == {
        "clusterIP": "None", "selector": labels,
        "ports": [{"name": "metricshttps", "port": 9120, "targetPort": "metricshttps"}],
    }
    kps = stg.one(CHART, "kube-prometheus-stack").plain("values")["prometheus"]["prometheusSpec"]
    assert kps["ruleSelectorNilUsesHelmValues"] is False


def test_every_dashboard_is_a_configmap_grafana_s_sidecar_loads(stg):
    boards = dashboards.dashboards(
        apps_namespace="plate-stg", argocd_namespace="argocd", storage_class="nfs", traefik=True,
        thresholds=AlertThresholds(),
    )
    maps = {r.plain("metadata")["name"]: r for r in stg.by_type("kubernetes:core/v1:ConfigMap")
            if r.name.startswith("dashboard-")}
    assert sorted(maps) == sorted(f"dashboard-{name.removesuffix('.json')}" for name in boards)
    for file_name, board in boards.items():
        cm = maps[f"dashboard-{file_name.removesuffix('.json')}"]
        assert cm.plain("metadata")["namespace"] == "monitoring"
        assert cm.plain("metadata")["labels"] == {"grafana_dashboard": "1"}
        assert json.loads(cm.plain("data")[file_name]) == board
    kps = stg.one(CHART, "kube-prometheus-stack").plain("values")
    # the chart's default label (grafana_dashboard); ConfigMaps of the monitoring namespace only
    assert kps["grafana"]["sidecar"]["dashboards"] == {
        "searchNamespace": ["monitoring"], "resource": "configmap"
    }

