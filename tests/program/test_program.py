"""The whole program under Pulumi's mock runtime, for both committed stacks.

Verifies: every tier component and chart exists with the pinned chart/version/repo/namespace;
the custom resources' specs (ClusterIssuers, IPAddressPool, L2Advertisement, AppProjects, root
Application); the dependency edges (CRs wait for their webhook gate, tier-2 charts wait for the
tier-1 pieces they use and nothing else, the root app waits for every chart); production
protections; every secret-looking input is a Pulumi secret; invalid config registers nothing.
"""

from __future__ import annotations

import copy
import re

import pytest

from components import versions
from components.config import IDENTITY_CLIENT_SECRETS, ConfigError
from components.tools.kube_prometheus_stack import alertmanager
from tests.engines.test_openbao import TEST_CA
from tests.harness import (
    Recording,
    is_secret,
    placeholder,
    placeholder_secrets,
    run_program,
    stack_config,
    supplying,
)

CHART = "kubernetes:helm.sh/v4:Chart"
CR = {
    "ClusterIssuer": "kubernetes:cert-manager.io/v1:ClusterIssuer",
    "IPAddressPool": "kubernetes:metallb.io/v1beta1:IPAddressPool",
    "L2Advertisement": "kubernetes:metallb.io/v1beta1:L2Advertisement",
    "AppProject": "kubernetes:argoproj.io/v1alpha1:AppProject",
    "Application": "kubernetes:argoproj.io/v1alpha1:Application",
}
CHART_NAMESPACES = {
    "cert-manager": "cert-manager",
    "metallb": "metallb-system",
    "csi-driver-nfs": "nfs-provisioner",
    "argo-cd": "argocd",
    "harbor": "harbor",
    "kube-prometheus-stack": "monitoring",
    "fluentd": "logging",
    "openbao": "openbao",
    "traefik": "traefik",
    "external-secrets": "external-secrets",
    "velero": "velero",
}
# the S3 keys of the stacks' backup target (required with it)
BACKUP_KEYS = {"backup_s3_access_key_id": "key-id", "backup_s3_secret_access_key": "key"}
# the committed stacks' DNS-01 solver updates the zone with this TSIG key's secret
TSIG = {"rfc2136_tsig_secret": "tsig"}
# the committed stacks sign people in through an identity provider: one client secret per tool
IDENTITY = {key: f"client-{key}" for key in IDENTITY_CLIENT_SECRETS}


def deps_of(rec: Recording, label: str) -> set[str]:
    return rec.deps(label)


def chart_label(rec: Recording, chart: str) -> str:
    return Recording.label(rec.one(CHART, chart))


def test_tier_components_exist(rec):
    for type_, name in [
        ("plate:platform:ClusterServices", "cluster-services"),
        ("plate:platform:DevTools", "dev-tools"),
        ("plate:platform:Applications", "applications"),
    ]:
        component = rec.one(type_, name)
        assert not component.custom


def test_every_chart_is_pinned_in_its_namespace(rec):
    charts = {r.name: r for r in rec.by_type(CHART)}
    assert set(charts) == set(versions.CHARTS)
    for name, chart in charts.items():
        pin = versions.CHARTS[name]
        assert chart.remote
        assert chart.plain("chart") == pin.chart
        assert chart.plain("version") == pin.version
        assert chart.plain("repositoryOpts", "repo") == pin.repo
        assert chart.plain("namespace") == CHART_NAMESPACES[name]


def test_chart_version_override(stg):
    config = copy.deepcopy(stack_config("stg"))
    config["chart_versions"] = {"harbor": "1.19.2"}
    rec = run_program("stg", config)
    assert rec.one(CHART, "harbor").plain("version") == "1.19.2"
    assert rec.one(CHART, "openbao").plain("version") == versions.OPENBAO.version


def test_metallb_namespace_is_privileged(rec):
    labels = rec.one("kubernetes:core/v1:Namespace", "metallb-system").plain("metadata", "labels")
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"


def test_cluster_issuers(stg, prod):
    for rec, zone, key in ((stg, "stg.plate.dev", "acme-stg.plate.dev"),
                           (prod, "plate.dev", "acme-prod.plate.dev")):
        specs = {r.name: r.plain("spec") for r in rec.by_type(CR["ClusterIssuer"])}
        # the ingress address is private: DNS-01 by RFC 2136 update of the zone's primary
        solver = {
            "selector": {"dnsZones": [zone]},
            "dns01": {"rfc2136": {
                "nameserver": "ns-primary.plate.dev:53",
                "tsigKeyName": key,
                "tsigAlgorithm": "HMACSHA256",
                "tsigSecretSecretRef": {"name": "rfc2136-tsig", "key": "secret"},
            }},
        }
        assert specs == {
            "letsencrypt-staging": {
                "acme": {
                    "email": "platform-team@plate.dev",
                    "server": "https://acme-staging-v02.api.letsencrypt.org/directory",
                    "privateKeySecretRef": {"name": "letsencrypt-staging-account-key"},
                    "solvers": [solver],
                }
            },
            "letsencrypt-production": {
                "acme": {
                    "email": "platform-team@plate.dev",
                    "server": "https://acme-v02.api.letsencrypt.org/directory",
                    "privateKeySecretRef": {"name": "letsencrypt-production-account-key"},
                    "solvers": [solver],
                }
            },
            # the internal CA (components/tools/cert_manager: generated in both stacks)
            "plate-internal-ca": {"ca": {"secretName": "plate-internal-ca"}},
        }
        tsig = rec.one("kubernetes:core/v1:Secret", "rfc2136-tsig")
        data = tsig.inputs["stringData"]
        assert is_secret(data) or is_secret(data["secret"])
        assert tsig.plain("stringData") == {"secret": placeholder("rfc2136_tsig_secret")}
        assert "Secret/rfc2136-tsig" in deps_of(rec, "ClusterIssuer/letsencrypt-production")


def test_tools_use_the_environments_issuer(stg, prod):
    def issuer(rec):
        values = rec.one(CHART, "argo-cd").plain("values")
        return values["server"]["ingress"]["annotations"]["cert-manager.io/cluster-issuer"]

    # production in every stack: no browser, runtime or health check trusts staging certificates
    assert issuer(stg) == "letsencrypt-production"
    assert issuer(prod) == "letsencrypt-production"
    config = copy.deepcopy(stack_config("stg"))
    config["acme"]["server"] = "staging"  # trying a new domain
    assert issuer(run_program("stg", config)) == "letsencrypt-staging"


def test_metallb_pool_and_advertisement(stg, prod):
    pool = prod.one(CR["IPAddressPool"], "metallb-pool")
    assert pool.plain("metadata") == {"name": "prod-pool", "namespace": "metallb-system"}
    assert pool.plain("spec") == {
        "addresses": ["10.30.0.200-10.30.0.239", "10.30.1.0/28"],
        "autoAssign": True,
    }
    l2 = stg.one(CR["L2Advertisement"], "metallb-l2")
    assert l2.plain("spec") == {"ipAddressPools": ["stg-pool"]}


def test_storage_class(stg, prod):
    sc = prod.one("kubernetes:storage.k8s.io/v1:StorageClass", "nfs-storage-class")
    assert sc.plain("provisioner") == "nfs.csi.k8s.io"
    assert sc.plain("parameters") == {
        "server": "nfs-prod.lan.plate.dev",
        "share": "/srv/nfs/k8s-prod",
    }
    assert sc.plain("reclaimPolicy") == "Retain"
    assert sc.plain("mountOptions") == ["nfsvers=4.1", "hard"]
    assert stg.named("StorageClass/nfs-storage-class").plain("reclaimPolicy") == "Delete"


def test_custom_resources_wait_for_their_webhook(rec):
    def gate(name):
        return {f"ServiceAccount/{name}-sa", f"Role/{name}-role", f"RoleBinding/{name}-binding",
                f"ConfigMap/{name}-probe", f"Job/{name}"}

    for issuer in ("letsencrypt-staging", "letsencrypt-production"):
        assert gate("cert-manager-webhook-ready") <= deps_of(rec, f"ClusterIssuer/{issuer}")
    for kind, name in (("IPAddressPool", "metallb-pool"), ("L2Advertisement", "metallb-l2")):
        assert gate("metallb-webhook-ready") <= deps_of(rec, f"{kind}/{name}")
    # the gate's Job runs only once the chart is up
    assert "Chart/cert-manager" in deps_of(rec, "WebhookGate/cert-manager-webhook-ready")
    assert chart_label(rec, "metallb") in deps_of(rec, "WebhookGate/metallb-webhook-ready")
    assert "Chart/cert-manager" in deps_of(rec, "Job/cert-manager-webhook-ready")
    assert chart_label(rec, "csi-driver-nfs") in deps_of(rec, "StorageClass/nfs-storage-class")


def test_webhook_gate_job_dry_runs_the_probe(stg):
    job = stg.one("kubernetes:batch/v1:Job", "cert-manager-webhook-ready")
    container = job.plain("spec", "template", "spec", "containers")[0]
    assert container["image"] == versions.KUBECTL_IMAGE
    assert container["args"] == ["create", "--dry-run=server", "-f", "/probe/probe.json"]
    assert container["securityContext"]["runAsNonRoot"] is True
    role = stg.named("Role/cert-manager-webhook-ready-role")
    assert role.plain("rules") == [
        {"apiGroups": ["cert-manager.io"], "resources": ["issuers"], "verbs": ["create"]}
    ]


# what a certificate needs: its issuer, and the ingress controller that answers HTTP-01
TLS = {"ClusterIssuer/letsencrypt-staging", "ClusterIssuer/letsencrypt-production",
       "Chart/traefik"}
STORAGE = {"StorageClass/nfs-storage-class"}


def test_tier2_charts_wait_for_exactly_the_tier1_pieces_they_use(rec):
    gate = {"Job/cert-manager-webhook-ready", "ServiceAccount/cert-manager-webhook-ready-sa"}
    tier1 = TLS | STORAGE | gate | {"L2Advertisement/metallb-l2", "IPAddressPool/metallb-pool",
                                   "Job/metallb-webhook-ready", "Chart/cert-manager",
                                   "Chart/metallb", "Chart/csi-driver-nfs"}
    expected = {
        "argo-cd": TLS,
        "harbor": TLS | STORAGE,
        "kube-prometheus-stack": TLS | STORAGE | gate,
        "openbao": TLS | STORAGE,
        "fluentd": set(),
        "external-secrets": set(),
    }
    for chart, wanted in expected.items():
        assert deps_of(rec, chart_label(rec, chart)) & tier1 == wanted, chart


def test_independent_charts_stay_parallel(rec):
    """Charts wait for no other chart, except the ingress controller, which a chart with a TLS
    Ingress needs to answer its HTTP-01 challenge."""
    charts = {chart_label(rec, c) for c in versions.CHARTS}
    for chart in charts:
        assert not deps_of(rec, chart) & (charts - {"Chart/traefik"}), f"{chart} waits"
    assert deps_of(rec, "Chart/traefik") & {"L2Advertisement/metallb-l2"}  # its address


def test_root_app_is_last_and_waits_for_every_chart(rec):
    deps = deps_of(rec, "Application/root-app")
    assert {chart_label(rec, c) for c in versions.CHARTS} <= deps
    assert {"AppProject/apps-project", "AppProject/bootstrap-project"} <= deps
    # it comes after every chart and nothing waits for it (resources that do not feed it may
    # register after it: the order of independent registrations is the runtime's)
    root = rec.named("Application/root-app")
    order = [r.urn for r in rec.resources]
    assert all(order.index(rec.urn_of(label)) < order.index(root.urn)
               for label in deps if label.startswith("Chart/"))
    assert not [r.name for r in rec.resources if root.urn in r.dependencies]


def test_root_application_spec(stg, prod):
    app = prod.one(CR["Application"], "root-app")
    assert app.plain("metadata") == {
        "name": "plate-prod-apps",
        "namespace": "argocd",
        "finalizers": ["resources-finalizer.argocd.argoproj.io"],
    }
    assert app.plain("spec") == {
        "project": "plate-prod-bootstrap",
        "source": {
            "repoURL": "https://github.com/plate-dev/plate-platform.git",
            "targetRevision": "v1.0.0",
            "path": "environments/argocd/apps/prod",
            "directory": {"recurse": False, "include": "*.yaml"},
        },
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
        # the argocd namespace exists: no CreateNamespace, which the root's namespaced sync
        # identity could not do (components/gitops/apps.py)
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
    }
    root_path = stg.named("Application/root-app").plain("spec", "source", "path")
    assert root_path == "environments/argocd/apps/stg"


def test_app_projects(stg):
    apps = stg.one(CR["AppProject"], "apps-project")
    assert apps.plain("metadata", "name") == "plate-stg"
    assert apps.plain("spec", "destinations") == [
        {"server": "https://kubernetes.default.svc", "namespace": "plate-stg"}
    ]
    assert apps.plain("spec", "sourceRepos") == ["https://github.com/plate-dev/plate-platform.git"]
    boot = stg.one(CR["AppProject"], "bootstrap-project")
    assert boot.plain("spec", "namespaceResourceWhitelist") == [
        {"group": "argoproj.io", "kind": "Application"}
    ]


PROTECTED_IN_PROD = {
    # CRD-bearing charts, PVC-holding tools, the GitOps root, storage, namespaces
    *(f"Chart/{chart}" for chart in ("cert-manager", "metallb", "csi-driver-nfs", "argo-cd",
                                     "harbor", "kube-prometheus-stack", "fluentd", "openbao")),
    "Application/root-app", "AppProject/apps-project", "AppProject/bootstrap-project",
    "StorageClass/nfs-storage-class",
}


def test_production_protects_stateful_and_critical_resources(prod):
    for name in PROTECTED_IN_PROD:
        assert prod.named(name).protect, name
    for name in ("Application/root-app", "StorageClass/nfs-storage-class"):
        assert prod.named(name).retain_on_delete, name
    for ns in prod.by_type("kubernetes:core/v1:Namespace"):
        assert ns.protect and ns.retain_on_delete, ns.name
    for chart in prod.by_type(CHART):
        # the transform that protects and retains the chart's CRDs and PVCs
        assert chart.transforms == 1, chart.name


def test_staging_is_not_protected(stg):
    assert not [r.name for r in stg.resources if r.protect]
    # only the apps' namespace outlives the stack (it holds the apps' volumes)
    assert [r.name for r in stg.resources if r.retain_on_delete] == ["plate-stg"]
    assert all(chart.transforms == 0 for chart in stg.by_type(CHART))


SECRET_NAME = re.compile(r"(password|secret|token|auth|key|htpasswd|credential)", re.I)


def _secret_looking_leaves(value, path=()):
    if isinstance(value, dict) and not is_secret(value):
        for k, v in value.items():
            yield from _secret_looking_leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _secret_looking_leaves(v, (*path, i))
    else:
        yield path, value


def test_every_secret_looking_input_is_a_secret(rec):
    checked = 0
    for r in rec.by_type("kubernetes:core/v1:Secret"):
        data = r.inputs["stringData"]
        assert is_secret(data) or all(is_secret(v) for v in data.values()), r.name
        checked += 1
    for chart in rec.by_type(CHART):
        for path, value in _secret_looking_leaves(chart.inputs.get("values", {})):
            leaf = str(path[-1]) if path else ""
            if (
                SECRET_NAME.search(leaf)
                and not leaf.startswith("existing")
                and isinstance(value, str)
            ):
                # only names of Secrets may appear in clear; a name ends the path
                assert (
                    leaf in {"existingSecret", "passwordKey", "userKey", "existingSecretKey",
                             "existingXsrfSecretKey", "existingSecretAdminPasswordKey",
                             "secretName", "argocdServerAdminPasswordMtime"}
                    or "secretKeyRef" in path
                    # Alertmanager reads credentials from files of its mounted Secret
                    or (leaf.endswith("_file") and value.startswith(alertmanager.SECRETS_DIR))
                    or leaf == "auth_username"  # the SMTP login's name, not its password
                    # Grafana reads its OIDC client secret from its environment (a Secret)
                    or (leaf == "client_secret" and value.startswith("$__env{"))
                    # the provider's public endpoints, and whether the login form shows
                    or (path[:3] == ("grafana", "grafana.ini", "auth.generic_oauth")
                        and leaf in ("auth_url", "token_url"))
                    or is_secret(value)
                ), (chart.name, path)
    assert checked >= 9
    argocd = rec.one(CHART, "argo-cd").inputs["values"]
    assert is_secret(argocd) or is_secret(
        argocd["configs"]["secret"]["argocdServerAdminPassword"]
    )
    harbor = rec.one(CHART, "harbor").inputs["values"]
    assert is_secret(harbor) or is_secret(harbor["database"]["internal"]["password"])


def test_configured_secrets_are_used_and_stay_secret():
    rec = run_program(
        "stg", supplying("stg", "grafana_admin_password"),
        secrets={**IDENTITY, "grafana_admin_password": "from-config",
                 "fluentd_output_password": "es-pass", **BACKUP_KEYS, **TSIG},
    )
    grafana = rec.one("kubernetes:core/v1:Secret", "grafana-admin")
    assert is_secret(grafana.inputs["stringData"])
    assert grafana.plain("stringData", "admin-password") == "from-config"
    assert not [r for r in rec.resources if r.name == "grafana-admin-password"]
    fluentd = rec.one("kubernetes:core/v1:Secret", "fluentd-output")
    assert fluentd.plain("stringData", "password") == "es-pass"
    assert "Secret/fluentd-output" in deps_of(rec, chart_label(rec, "fluentd"))


def test_a_secret_set_in_plaintext_is_refused_before_any_resource():
    with pytest.raises(ConfigError) as exc:
        run_program(
            "stg", supplying("stg", "harbor_admin_password"),
            plain_keys={"harbor_admin_password": "hunter2"},
        )
    assert exc.value.problems == [
        "harbor_admin_password: must be encrypted; run `pulumi config set --secret "
        "harbor_admin_password <value>`"
    ]


def test_invalid_config_registers_no_resource():
    config = copy.deepcopy(stack_config("prod"))
    config["acme"]["server"] = "staging"
    config["metallb"]["addresses"] = ["10.0.0.0/24", "10.0.0.5-10.0.0.6"]
    recording = Recording()
    with pytest.raises(ConfigError) as exc:
        run_program("prod", config, recording=recording)
    assert exc.value.problems == [
        "metallb.addresses[1]: '10.0.0.5-10.0.0.6' overlaps addresses[0] '10.0.0.0/24'"
    ]
    assert recording.resources == []


def test_dns01_solver_uses_cloudflare_token_secret():
    config = copy.deepcopy(stack_config("stg"))
    config["acme"] = {"email": "platform-team@plate.dev", "solver": "dns01",
                      "dns_provider": "cloudflare", "dns_zones": ["plate.dev"]}
    config["dns"] = {"provider": "cloudflare"}  # external-dns with the same token
    recording = Recording()
    with pytest.raises(ConfigError) as exc:
        run_program("stg", config,
                    secrets={"fluentd_output_password": "es", **BACKUP_KEYS, **IDENTITY},
                    recording=recording)
    assert exc.value.problems == [
        "cloudflare_api_token: required when acme.solver is 'dns01' with dns_provider "
        "'cloudflare'; run `pulumi config set --secret cloudflare_api_token <value>`"
    ]
    assert recording.resources == []
    rec = run_program(
        "stg", config,
        secrets={**IDENTITY, "cloudflare_api_token": "cf-token", "fluentd_output_password": "es",
                 **BACKUP_KEYS},
    )
    assert not [r for r in rec.resources if r.name == "rfc2136-tsig"]
    assert rec.one("kubernetes:core/v1:Secret", "external-dns-credentials").plain(
        "stringData") == {"CF_API_TOKEN": "cf-token"}
    issuer = rec.one(CR["ClusterIssuer"], "letsencrypt-production")
    assert issuer.plain("spec", "acme", "solvers") == [
        {
            "selector": {"dnsZones": ["plate.dev"]},
            "dns01": {
                "cloudflare": {
                    "apiTokenSecretRef": {"name": "cloudflare-api-token", "key": "api-token"}
                }
            },
        }
    ]
    assert "Secret/cloudflare-api-token" in deps_of(rec, "ClusterIssuer/letsencrypt-production")


def test_fluentd_user_without_its_password_is_refused_before_any_resource():
    """The output config reads the password from the environment; without the secret nothing
    defines it and log shipping stalls at the backend's 401."""
    recording = Recording()
    with pytest.raises(ConfigError) as exc:
        run_program("stg", secrets={**BACKUP_KEYS, **TSIG, **IDENTITY}, recording=recording)
    assert exc.value.problems == [
        "fluentd_output_password: required when dev_tools.fluentd.output.user is set (or remove "
        "dev_tools.fluentd.output.user); run `pulumi config set --secret fluentd_output_password "
        "<value>`"
    ]
    assert recording.resources == []
    config = copy.deepcopy(stack_config("stg"))
    del config["dev_tools"]["fluentd"]["output"]["user"]
    rec = run_program("stg", config, secrets={**BACKUP_KEYS, **TSIG, **IDENTITY})
    values = rec.one(CHART, "fluentd").plain("values")
    assert "env" not in values and "ENV[" not in values["fileConfigs"]["04_outputs.conf"]


def test_a_stack_that_owns_only_applications_on_a_shared_cluster():
    config = copy.deepcopy(stack_config("stg"))
    config["tiers"] = ["applications"]
    del config["dns"]  # external-dns belongs to the stack that owns cluster_services
    # the other stack's internal CA, which the apps' SecretStores verify OpenBao against
    config["tls"] = {"internal_ca": {"certificate": TEST_CA}}
    rec = run_program("stg", config)
    assert not rec.by_type(CHART)
    assert {r.type for r in rec.resources if r.custom} == {
        "pulumi:providers:kubernetes", CR["AppProject"], CR["Application"],
        "kubernetes:argoproj.io/v1alpha1:AppProjectPatch",  # Argo CD's `default`, locked
        # plate-<env> with its default-deny and cert-manager solver policies
        "kubernetes:core/v1:Namespace", "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        # the internal CA for the apps' SecretStores, the sync identities (and the people's
        # RoleBinding in plate-<env>), the admission policies of plate-<env>
        "kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:ServiceAccount",
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
    }
    ca = rec.named("ConfigMap/plate-internal-ca-plate-stg")
    assert ca.plain("data") == {"ca.crt": TEST_CA}
    assert rec.named("Application/root-app").plain("spec", "project") == "plate-stg-bootstrap"


def test_protect_stateful_children_transform():
    import pulumi

    from components.kube import protect_stateful_children

    def run(type_):
        return protect_stateful_children(
            pulumi.ResourceTransformArgs(True, type_, "x", {"spec": {}}, pulumi.ResourceOptions())
        )

    for type_ in ("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
                  "kubernetes:core/v1:PersistentVolumeClaim"):
        result = run(type_)
        assert (result.opts.protect, result.opts.retain_on_delete) == (True, True)
        assert result.props == {"spec": {}}
    assert run("kubernetes:apps/v1:Deployment") is None
    assert run("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding") is None


def test_a_generatable_secret_is_either_committed_or_listed_as_generated():
    """A value set on one machine and missing on another (CI) would silently become a newly
    generated password: the stack says which secrets the program generates."""
    with pytest.raises(ConfigError) as exc:
        run_program("stg", supplying("stg", "harbor_admin_password"))
    assert exc.value.problems == [
        "harbor_admin_password: not set and not in generated_secrets: set it (`pulumi config set "
        "--secret harbor_admin_password` and commit the `secure:` value) or add it to "
        "generated_secrets to have the program generate it and keep it in state"
    ]
    with pytest.raises(ConfigError) as exc:
        run_program("stg", secrets={**placeholder_secrets(stack_config("stg")),
                                    "grafana_admin_password": "x"})
    assert exc.value.problems == [
        "grafana_admin_password: set, and listed in generated_secrets; keep one (remove it from "
        "generated_secrets to use the value you set)"
    ]
