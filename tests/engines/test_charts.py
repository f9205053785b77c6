"""The four in-house charts, their library chart and their child Applications, checked with real
engines.

The charts depend on the library chart `helm/plate-common` by `file://`; like Argo CD (which runs
`helm dependency build` when `charts/` lacks a dependency), the tests build each chart's
dependencies, in a temporary copy of `helm/` so the working tree gets no build products. Each
chart is rendered with exactly the values its child Application carries: `values-<env>.yaml`
plus the `global` block read from the generated Application file, so the tests prove the
environment facts flow from the stack file into the objects.

Verifies, for every chart and environment: strict `helm lint` passes with no warnings; every
rendered object passes the Kubernetes strict JSON schemas or, for ExternalSecrets, the upstream
CRD with unknown fields as errors; every workload runs under Pod Security "restricted" with
requests, limits and probes, pulls from the stack's Harbor through `harbor-pull` with a pinned tag
in prod, and mounts no ServiceAccount token; each app syncs its environment (`plate/<env>/<app>`)
and the pull secret (`plate/<env>/harbor-pull`) from OpenBao through `openbao-<env>`, in an
earlier Argo CD sync wave than its workload; Ingresses use the stack's IngressClass and
ClusterIssuer and no controller-specific (nginx) annotation; only (group, kind) pairs the
AppProject allows are rendered and no two Applications render the same object; a render without
the environment facts, or with a typo, is rejected by the schema; no values file repeats a stack
fact; the shared helpers live only in the library chart. Each release renders exactly the
NetworkPolicy expected of it (its pods admit only the ingress controller, its in-cluster callers,
Prometheus when its ServiceMonitor is on, and the extra rules), off when disabled; the
ServiceMonitor is absent by default, absent without the `monitoring.coreos.com/v1` API, and
otherwise exactly as expected (upstream CRD schema, one Service per pod); the schema rejects bad
policy and monitor values. Every child Application validates
against the upstream Argo CD CRD, carries the facts computed from the stack file, points at an
existing chart and value files, and equals what the generator produces.
"""

from __future__ import annotations

import atexit
import copy
import json
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from components import names, versions
from components import names as secret_paths
from components.config import PlatformConfig, parse_platform_config, read_stack_file
from components.gitops import apps as gitops
from components.tools import traefik
from tests.engines.test_openbao import TEST_CA
from tests.engines.test_upstream_schemas import deep_merge as merged
from tests.schemas import crd_errors, kubernetes_errors
from tooling import kubeschema, netpol_check, upstream, verify
from tooling.render import KUBERNETES_VERSION

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / "helm"
LIBRARY = HELM / "plate-common"
ENVS = ("stg", "prod")
APPS = [app.name for app in gitops.IN_HOUSE_APPS]
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}
PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+$")
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
# the helpers `helm create` writes into every chart's _helpers.tpl, now only in the library
SHARED_HELPERS = ("name", "fullname", "chart", "labels", "selectorLabels", "serviceAccountName",
                  "image", "podSecurityContext", "securityContext")
# API groups whose objects are checked against an upstream CRD instead of Kubernetes' schemas
CRD_GROUPS = {"external-secrets.io"}


@cache
def config(env: str) -> PlatformConfig:
    return parse_platform_config(read_stack_file(ROOT / f"Pulumi.{env}.yaml"))


def chart_dir(app: str) -> Path:
    """The chart's sources (values files, templates) in the working tree."""
    return HELM / "applications" / app


@cache
def built_helm_tree() -> Path:
    """A copy of helm/ in which every app chart's dependencies are built, as Argo CD builds them.

    The copy keeps the layout, so `file://../../plate-common` resolves; any `charts/` or
    `Chart.lock` left in the working tree by a local `helm dependency build` is not copied, so
    the build always packs the library as it is now. `dependency_build` without a Chart.lock
    resolves Chart.yaml (Helm falls back to `dependency update`), offline for file:// charts.
    """
    tmp = Path(tempfile.mkdtemp(prefix="plate-charts-"))
    atexit.register(shutil.rmtree, tmp, True)
    shutil.copytree(HELM, tmp / "helm", ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    for app in APPS:
        helm_python.dependency_build(str(tmp / "helm" / "applications" / app))
    return tmp / "helm"


def built_chart(app: str) -> Path:
    return built_helm_tree() / "applications" / app


def env_values(app: str, env: str) -> dict:
    return yaml.safe_load((chart_dir(app) / f"values-{env}.yaml").read_text())


def child_file(app: str, env: str) -> Path:
    return ROOT / config(env).apps_path / f"{app}.yaml"


@cache
def child_app(app: str, env: str) -> dict:
    return yaml.safe_load(child_file(app, env).read_text())


def app_globals(app: str, env: str) -> dict:
    """The `global` block of the committed child Application (what Argo CD passes)."""
    return child_app(app, env)["spec"]["source"]["helm"]["valuesObject"]["global"]


def argo_values(app: str, env: str) -> dict:
    """The values Argo CD hands Helm on top of the chart's values.yaml: the Application's
    valueFiles (`values-<env>.yaml`), then its valuesObject, which takes precedence."""
    helm = child_app(app, env)["spec"]["source"]["helm"]
    assert helm["valueFiles"] == ["values.yaml", f"values-{env}.yaml"]
    return merged(env_values(app, env), copy.deepcopy(helm["valuesObject"]))


def render(app: str, env: str, values: dict) -> tuple[dict, ...]:
    files = helm_python.Chart.load(str(built_chart(app))).render(
        values, name=app, namespace=gitops.apps_namespace(config(env)), is_install=True
    )
    objects = []
    for path, text in sorted(files.items()):
        if path.endswith(".yaml"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return tuple(objects)


@cache
def rendered(app: str, env: str) -> tuple[dict, ...]:
    """Objects Argo CD would apply for the child Application of `app` in `env`."""
    return render(app, env, argo_values(app, env))


def group_of(obj: dict) -> str:
    return obj["apiVersion"].rpartition("/")[0]


def of_kind(objects: tuple[dict, ...], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def sync_wave(obj: dict) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(SYNC_WAVE, "0"))


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


@pytest.fixture(params=[(a, e) for a in APPS for e in ENVS], ids=lambda p: f"{p[0]}-{p[1]}")
def chart_env(request) -> tuple[str, str]:
    return request.param


def test_strict_lint_passes(chart_env):
    app, env = chart_env
    result = helm_python.lint(
        str(built_chart(app)), argo_values(app, env), strict=True, namespace=f"plate-{env}"
    )
    assert [m for m in result["messages"] if m["severity"] >= 2] == []
    assert result["errors"] == []


def test_the_library_chart_lints_clean():
    chart = yaml.safe_load((LIBRARY / "Chart.yaml").read_text())
    assert (chart["name"], chart["type"]) == ("plate-common", "library")
    result = helm_python.lint(str(LIBRARY), {}, strict=True)
    assert [m for m in result["messages"] if m["severity"] >= 2] == []
    assert result["errors"] == []


def test_rendered_objects_pass_kubernetes_strict_schemas_and_upstream_crds(chart_env):
    objects = rendered(*chart_env)
    assert objects
    for obj in objects:
        errors = crd_errors(obj) if group_of(obj) in CRD_GROUPS else kubernetes_errors(obj)
        assert errors == [], f"{obj['kind']}/{obj['metadata']['name']}"


def test_workloads_run_restricted_with_resources_and_probes(chart_env):
    app, env = chart_env
    workloads = [o for o in rendered(app, env) if o["kind"] in WORKLOAD_KINDS]
    assert len(workloads) == 1
    spec = pod_spec(workloads[0])
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        assert container["readinessProbe"]["httpGet"]["port"]
        assert container["livenessProbe"]["httpGet"]["port"]
        assert "hostPath" not in str(spec.get("volumes", []))


def test_images_come_from_the_stacks_harbor_through_the_pull_secret_and_prod_pins_tags(chart_env):
    app, env = chart_env
    cfg = config(env)
    assert cfg.dev_tools is not None
    registry = f"{cfg.dev_tools.harbor.host}.{cfg.domain}"
    for workload in (o for o in rendered(app, env) if o["kind"] in WORKLOAD_KINDS):
        spec = pod_spec(workload)
        assert spec["imagePullSecrets"] == [{"name": secret_paths.PULL_SECRET_NAME}]
        for container in spec["containers"] + spec.get("initContainers", []):
            assert container["image"].startswith(registry + "/")
            # by digest once the release commit records one (ops/pin_digests.py), else by tag
            repo, at, digest = container["image"].partition("@")
            if at:
                assert re.fullmatch(r"sha256:[a-f0-9]{64}", digest)
            else:
                repo, _, tag = container["image"].rpartition(":")
                assert tag != "latest"
                if cfg.production:
                    assert PINNED_TAG.match(tag), f"{app} prod image {container['image']} unpinned"
            assert repo == f"{registry}/{secret_paths.HARBOR_PROJECT}/{app}"


def test_ingresses_have_tls_from_the_environments_issuer(chart_env):
    app, env = chart_env
    cfg = config(env)
    ingresses = [o for o in rendered(app, env) if o["kind"] == "Ingress"]
    assert len(ingresses) == (1 if app in ("plate-web", "plate-api") else 0)
    for ing in ingresses:
        assert ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == (
            f"letsencrypt-{cfg.acme_server}"
        )
        assert ing["spec"]["ingressClassName"] == cfg.ingress_class
        hosts = [rule["host"] for rule in ing["spec"]["rules"]]
        assert ing["spec"]["tls"][0]["hosts"] == hosts
        assert all(h.endswith("." + cfg.domain) for h in hosts)


def test_no_controller_specific_annotations(chart_env):
    """The ingress controller is a stack choice (Traefik now): no chart may assume nginx."""
    for obj in rendered(*chart_env):
        metas = [obj["metadata"]]
        if obj["kind"] in WORKLOAD_KINDS:
            metas.append(obj["spec"]["template"]["metadata"])
        for meta in metas:
            assert not [k for k in meta.get("annotations") or {} if "nginx." in k], obj["kind"]


def test_scaling_and_disruption_objects(chart_env):
    app, env = chart_env
    kinds = [o["kind"] for o in rendered(app, env)]
    if app in ("plate-web", "plate-api"):
        assert kinds.count("HorizontalPodAutoscaler") == 1
    assert kinds.count("PodDisruptionBudget") == (
        0 if (app == "plate-llm" and env == "stg") else 1
    )


def test_only_kinds_the_app_project_allows(chart_env):
    allowed = {(g, k) for g, k, _ in gitops.APP_NAMESPACED_KINDS}
    assert {(group_of(o), o["kind"]) for o in rendered(*chart_env)} <= allowed


# --- secrets from OpenBao ----------------------------------------------------------------------


def test_external_secrets_sync_the_apps_environment_and_the_pull_secret(chart_env):
    app, env = chart_env
    # the app's own store (tests/engines/test_app_confinement.py checks what it logs in as)
    store = {"kind": "SecretStore", "name": app}
    by_target = {es["spec"]["target"]["name"]: es
                 for es in of_kind(rendered(app, env), "ExternalSecret")}
    env_secret = secret_paths.app_env_secret_name(app)
    assert set(by_target) == {env_secret, secret_paths.PULL_SECRET_NAME}

    env_spec = by_target[env_secret]["spec"]
    assert env_spec["secretStoreRef"] == store
    # the store reads kv-v2 `plate`: this is plate/<env>/<app>
    assert env_spec["dataFrom"] == [{"extract": {"key": f"{env}/{app}"}}]
    assert env_spec["target"]["creationPolicy"] == "Owner"
    # an empty plate/<env>/<app> (what OpenBao's self-initialisation seeds) must still become the
    # Secret the pods' envFrom reads: External Secrets v2.9.0 returns before writing anything for
    # an empty result under Retain, and writes the (empty) Secret under Merge
    # (pkg/controllers/externalsecret/externalsecret_controller.go at v2.9.0, `len(dataMap) == 0`;
    # Merge with Owner passes its webhook, apis/externalsecrets/v1/externalsecret_validator.go)
    assert env_spec["target"]["deletionPolicy"] == "Merge"
    # no required key (the committed values): nothing is read on its own, the app starts with
    # whatever the entry holds
    assert "data" not in env_spec
    # a value written with `bao kv put` reaches the Secret within a minute
    assert env_spec["refreshInterval"] == "1m"

    pull_spec = by_target[secret_paths.PULL_SECRET_NAME]["spec"]
    assert pull_spec["secretStoreRef"] == store
    assert pull_spec["data"] == [{
        "secretKey": "dockerconfigjson",
        "remoteRef": {"key": f"{env}/harbor-pull", "property": "dockerconfigjson"},
    }]
    template = pull_spec["target"]["template"]
    assert template["type"] == "kubernetes.io/dockerconfigjson"
    # External Secrets' own Go template, which Helm must print verbatim
    assert template["data"] == {".dockerconfigjson": "{{ .dockerconfigjson }}"}
    # every app renders one; Owner would let only one of them hold the shared Secret
    assert pull_spec["target"]["creationPolicy"] == "Orphan"

    for workload in (o for o in rendered(app, env) if o["kind"] in WORKLOAD_KINDS):
        for container in pod_spec(workload)["containers"]:
            assert container["envFrom"] == [{"secretRef": {"name": env_secret}}]
        assert_env_secret_mounted(workload, env_secret)


def assert_env_secret_mounted(workload: dict, secret: str) -> None:
    """The environment Secret is also a read-only volume of its own (no subPath: the kubelet
    updates a mounted Secret's files in running pods, not environment variables or subPath
    mounts; kubernetes.io/docs/concepts/configuration/secret/)."""
    volumes = [v for v in pod_spec(workload)["volumes"] if "secret" in v]
    assert volumes == [{"name": "env-secret", "secret": {
        "secretName": secret, "optional": True, "defaultMode": 0o440}}]
    for container in pod_spec(workload)["containers"]:
        mounts = [m for m in container["volumeMounts"] if m["name"] == "env-secret"]
        assert mounts == [{"name": "env-secret", "mountPath": "/etc/plate/secrets",
                           "readOnly": True}]


def test_required_keys_are_read_one_by_one_so_a_missing_one_fails_the_sync(chart_env):
    """External Secrets v2.9.0 fails the whole sync when a `data` property is missing ("cannot
    find secret data for key", providers/v1/vault/client_get.go getSecretValue; not a
    NoSecretError, so no policy skips it): the Secret is not written and the pods wait."""
    app, env = chart_env
    values = merged(argo_values(app, env),
                    {"externalSecrets": {"requiredKeys": ["DATABASE_URL", "api.token"]}})
    (env_es,) = [es for es in of_kind(render(app, env, values), "ExternalSecret")
                 if es["spec"]["target"]["name"] == secret_paths.app_env_secret_name(app)]
    spec = env_es["spec"]
    assert spec["dataFrom"] == [{"extract": {"key": f"{env}/{app}"}}]
    assert spec["data"] == [
        {"secretKey": "DATABASE_URL",
         "remoteRef": {"key": f"{env}/{app}", "property": "DATABASE_URL"}},
        {"secretKey": "api.token", "remoteRef": {"key": f"{env}/{app}", "property": "api.token"}},
    ]
    # Retain: with Merge a missing entry (NoSecretError) is skipped for `data` too
    # (externalsecret_controller_secret.go GetProviderSecretData) and the Secret would be
    # written without the keys
    assert spec["target"] == {"name": secret_paths.app_env_secret_name(app),
                              "creationPolicy": "Owner", "deletionPolicy": "Retain"}


def test_external_secrets_sync_before_the_workloads(chart_env):
    objects = rendered(*chart_env)
    secrets = of_kind(objects, "ExternalSecret")
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    assert secrets and workloads
    assert max(map(sync_wave, secrets)) < min(map(sync_wave, workloads))


def test_external_secrets_can_be_turned_off(chart_env):
    app, env = chart_env
    values = merged(argo_values(app, env), {"externalSecrets": {"enabled": False},
                                            "existingSecret": "made-by-hand"})
    objects = render(app, env, values)
    assert not of_kind(objects, "ExternalSecret")
    for workload in (o for o in objects if o["kind"] in WORKLOAD_KINDS):
        assert "imagePullSecrets" not in pod_spec(workload)
        for container in pod_spec(workload)["containers"]:
            assert container["envFrom"] == [{"secretRef": {"name": "made-by-hand"}}]
        assert_env_secret_mounted(workload, "made-by-hand")
    # no environment Secret at all: no envFrom, no volume
    values["existingSecret"] = ""
    for workload in (o for o in render(app, env, values) if o["kind"] in WORKLOAD_KINDS):
        assert not [v for v in pod_spec(workload)["volumes"] if "secret" in v]
        for container in pod_spec(workload)["containers"]:
            assert "envFrom" not in container
            assert all(m["name"] != "env-secret" for m in container["volumeMounts"])


@pytest.mark.parametrize("env", ENVS)
def test_no_two_applications_render_the_same_object(env):
    """Argo CD lets one Application own an object; a shared one flaps between them."""
    seen: dict[tuple[str, str], str] = {}
    for app in APPS:
        for obj in rendered(app, env):
            key = (obj["kind"], obj["metadata"]["name"])
            assert key not in seen, f"{key} in {seen.get(key)} and {app}"
            seen[key] = app


def test_llm_weights_on_nfs_with_long_startup_and_gpu_in_prod():
    for env in ENVS:
        objects = rendered("plate-llm", env)
        (pvc,) = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
        assert pvc["spec"]["storageClassName"] == config(env).storage_class
        (deploy,) = [o for o in objects if o["kind"] == "Deployment"]
        container = pod_spec(deploy)["containers"][0]
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    prod_spec = pod_spec([o for o in rendered("plate-llm", "prod") if o["kind"] == "Deployment"][0])
    assert prod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert prod_spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert prod_spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    stg_spec = pod_spec([o for o in rendered("plate-llm", "stg") if o["kind"] == "Deployment"][0])
    assert "nvidia.com/gpu" not in stg_spec["containers"][0]["resources"]["limits"]
    assert "nodeSelector" not in stg_spec


def test_cache_is_a_statefulset_with_per_env_volumes_reachable_in_cluster():
    sizes = {}
    for env in ENVS:
        objects = rendered("plate-cache", env)
        (sts,) = [o for o in objects if o["kind"] == "StatefulSet"]
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["storageClassName"] == config(env).storage_class
        sizes[env] = claim["spec"]["resources"]["requests"]["storage"]
        services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
        assert services["plate-cache"]["spec"]["type"] == "ClusterIP"
        assert services["plate-cache-headless"]["spec"]["clusterIP"] == "None"
        assert sts["spec"]["serviceName"] == "plate-cache-headless"
    assert sizes == {"stg": "20Gi", "prod": "200Gi"}


def test_secrets_come_from_kubernetes_secrets_not_values():
    for env in ENVS:
        (deploy,) = [o for o in rendered("plate-api", env) if o["kind"] == "Deployment"]
        container = pod_spec(deploy)["containers"][0]
        assert container["envFrom"] == [{"secretRef": {"name": "plate-api-env"}}]
        assert all("valueFrom" not in e for e in container.get("env", []))
        for app in APPS:
            assert not of_kind(rendered(app, env), "Secret")


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"replicaCont": 2}, "additional properties 'replicaCont' not allowed"),
        ({"image": {"repository": "docker.io/plate/plate-web", "tag": "1.0.0"}}, "repository"),
        ({"image": {"repository": "plate/plate-web", "tag": "latest"}}, "tag"),
        ({"global": {"issuer": "letsencrypt-prod"}}, "issuer"),
        ({"global": {"registy": "harbor.plate.dev"}}, "additional properties 'registy'"),
        # the environment's facts are not chart values any more
        ({"ingress": {"className": "nginx"}}, "additional properties 'className' not allowed"),
        ({"service": {"type": "NodePort"}}, "type"),
        ({"externalSecrets": {"enabeld": False}}, "additional properties 'enabeld'"),
        # a Secret's key: [-._a-zA-Z0-9]+ (k8s.io/apimachinery IsConfigMapKey)
        ({"externalSecrets": {"requiredKeys": ["API KEY"]}}, "requiredKeys"),
        ({"externalSecrets": {"requiredKeys": ["A", "A"]}}, "requiredKeys"),
    ],
)
def test_schema_rejects_bad_values(values, fragment):
    result = helm_python.lint(
        str(built_chart("plate-web")), merged(argo_values("plate-web", "stg"), values), strict=True
    )
    errors = " ".join(result["errors"])
    assert result["errors"] and fragment in errors, errors


def test_a_value_file_with_a_typo_is_rejected():
    bad = argo_values("plate-cache", "prod")
    bad["persistance"] = bad.pop("persistence")
    result = helm_python.lint(str(built_chart("plate-cache")), bad, strict=True)
    assert "additional properties 'persistance' not allowed" in " ".join(result["errors"])


@pytest.mark.parametrize("app", APPS)
def test_a_render_without_the_environment_facts_fails(app):
    """values-<env>.yaml alone (no Application) must not render with guessed facts."""
    result = helm_python.lint(str(built_chart(app)), env_values(app, "stg"), strict=True)
    errors = " ".join(result["errors"])
    for key in gitops.app_globals(config("stg")):
        assert f"/global/{key}" in errors, errors


def leaf_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in leaf_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in leaf_strings(v)]
    return [value] if isinstance(value, str) else []


def test_no_values_file_repeats_a_stack_fact():
    """Domains, registry, issuer, classes and store reach the charts from the Application only."""
    hosts, names = {"nginx"}, {"nginx"}
    for env in ENVS:
        facts = gitops.app_globals(config(env))
        hosts |= {facts["domain"], facts["registry"]}
        names |= {facts[k] for k in ("issuer", "ingressClass", "storageClass")}
        hosts |= {facts["openbao"]["address"]}
        names |= {facts["openbao"]["caConfigMap"]}
    for app in APPS:
        for path in sorted(chart_dir(app).glob("values*.yaml")):
            values = yaml.safe_load(path.read_text())
            if path.name != "values.yaml":
                assert "global" not in values, path
            else:
                # the namespace and pod label of the Traefik that tier 1 installs (a platform
                # constant, traefik.PEER; see test_the_charts_peers_are_the_platforms), not the
                # stack's IngressClass, which happens to share the name
                values["networkPolicy"].pop("ingressFrom", None)
            strings = leaf_strings(values)
            assert [s for s in strings if s in names or any(h in s for h in hosts)] == [], path


def test_the_shared_helpers_live_only_in_the_library():
    library = " ".join(p.read_text() for p in (LIBRARY / "templates").iterdir())
    for helper in SHARED_HELPERS:
        assert f'define "plate-common.{helper}"' in library
    shared = re.compile(r'define\s+"[\w-]+\.(' + "|".join(SHARED_HELPERS) + r')"')
    for app in APPS:
        templates = sorted((chart_dir(app) / "templates").iterdir())
        assert "_helpers.tpl" not in [p.name for p in templates], app
        for path in templates:
            text = path.read_text()
            assert not shared.search(text), path
            assert "nginx" not in text, path


def test_app_charts_depend_on_the_library_by_path():
    library = yaml.safe_load((LIBRARY / "Chart.yaml").read_text())
    for app in APPS:
        chart = yaml.safe_load((chart_dir(app) / "Chart.yaml").read_text())
        (dep,) = chart["dependencies"]
        assert (dep["name"], dep["version"]) == (library["name"], library["version"])
        assert (chart_dir(app) / dep["repository"].removeprefix("file://")).resolve() == LIBRARY
        assert chart["version"] != "0.1.0", f"{app}: bump the chart version on every change"


def undocumented_keys(text: str) -> list[str]:
    """Leaf keys of a values.yaml with no helm-docs `# --` line above them or above an ancestor."""
    missing, stack, comments = [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):(.*)$", line)
        if match:
            indent, key, rest = len(match.group(1)), match.group(2), match.group(3).strip()
            while stack and stack[-1][0] >= indent:
                stack.pop()
            documented = any(c.startswith("# --") for c in comments)
            if rest and not documented and not any(doc for _, doc in stack):
                missing.append(f"{number}:{key}")
            stack.append((indent, documented))
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(stripped)
        elif stripped:
            comments = []
    return missing


def test_every_values_key_is_documented():
    for app in APPS:
        assert undocumented_keys((chart_dir(app) / "values.yaml").read_text()) == [], app
    assert undocumented_keys("a:\n  # -- doc\n  b: 1\n  c: 2\n") == ["4:c"]


# --- network policy and ServiceMonitor ---------------------------------------------------------

MONITORING_API = "monitoring.coreos.com/v1"
TRAEFIK_PEERS = [{
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
}]
PROMETHEUS_PEERS = [{
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}]
# who each release admits by default, on its container port
DEFAULT_PEERS = {
    "plate-web": TRAEFIK_PEERS,
    "plate-api": TRAEFIK_PEERS,
    "plate-llm": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "plate-api"}}}],
    "plate-cache": [{"podSelector": {"matchLabels": {"plate.dev/cache-client": "true"}}}],
}
CONTAINER_PORTS = {"plate-web": 8080, "plate-api": 8080, "plate-llm": 8000, "plate-cache": 5000}
METRICS_PORT_NAMES = {"plate-web": "http", "plate-api": "http", "plate-llm": "http",
                      "plate-cache": "cache"}


def render_with_apis(app: str, env: str, values: dict, api_versions: set[str]) -> tuple[dict, ...]:
    """Like `render`, with the cluster's API list as Argo CD passes it (built-in + `api_versions`);
    the library's native call (docs/facts.md#helm-offline)."""
    chart = helm_python.Chart.load(str(built_chart(app)))
    options = {
        "name": app, "namespace": gitops.apps_namespace(config(env)), "is_install": True,
        "kube_version": KUBERNETES_VERSION,
        "api_versions": sorted(kubeschema.builtin_api_versions() | api_versions),
    }
    files = json.loads(helm_python._native.call_string(
        "helm_render", chart._raw(), json.dumps(values), json.dumps(options)
    ))
    return tuple(doc for path, text in sorted(files.items()) if path.endswith(".yaml")
                 for doc in yaml.safe_load_all(text) if doc)


def selector_labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": app}


def rule(peers: list[dict], port: int) -> dict:
    return {"from": peers, "ports": [{"port": port, "protocol": "TCP"}]}


# the connections each app opens by default (`networkPolicy.egress`): plate-api calls plate-llm
DEFAULT_EGRESS = {
    "plate-api": [{
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "plate-llm"}}}],
        "ports": [{"protocol": "TCP", "port": 8000}],
    }],
}


def test_the_default_network_policy_admits_only_the_apps_peers(chart_env):
    app, env = chart_env
    (policy,) = of_kind(rendered(app, env), "NetworkPolicy")
    assert policy["metadata"]["name"] == app
    egress = DEFAULT_EGRESS.get(app)
    assert policy["spec"] == {
        "podSelector": {"matchLabels": selector_labels(app)},
        "policyTypes": ["Ingress", "Egress"] if egress else ["Ingress"],
        "ingress": [rule(DEFAULT_PEERS[app], CONTAINER_PORTS[app])],
        **({"egress": egress} if egress else {}),
    }
    # the policy selects the workload's pods and its port is the container's
    (workload,) = [o for o in rendered(app, env) if o["kind"] in WORKLOAD_KINDS]
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    assert netpol_check.selector_matches(policy["spec"]["podSelector"], pod_labels)
    ports = [p["containerPort"] for c in pod_spec(workload)["containers"] for p in c["ports"]]
    assert ports == [CONTAINER_PORTS[app]]


def test_the_network_policy_follows_ingress_metrics_and_extra_rules():
    app, env = "plate-web", "stg"
    extra = {"from": [{"podSelector": {"matchLabels": {"role": "smoke-test"}}}],
             "ports": [{"port": "http", "protocol": "TCP"}]}
    values = merged(argo_values(app, env), {
        "ingress": {"enabled": False},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "networkPolicy": {"clients": [{"podSelector": {"matchLabels": {"role": "bff"}}}],
                          "extraIngress": [extra]},
    })
    (policy,) = of_kind(render(app, env, values), "NetworkPolicy")
    assert policy["spec"]["ingress"] == [
        rule([{"podSelector": {"matchLabels": {"role": "bff"}}}], 8080),
        rule(PROMETHEUS_PEERS, 8080),
        extra,
    ]
    assert kubernetes_errors(policy) == []


def test_a_release_with_no_peers_admits_nothing_and_the_policy_can_be_turned_off():
    app, env = "plate-api", "prod"
    closed = merged(argo_values(app, env), {"ingress": {"enabled": False}})
    (policy,) = of_kind(render(app, env, closed), "NetworkPolicy")
    assert policy["spec"]["ingress"] == []
    assert kubernetes_errors(policy) == []
    off = merged(argo_values(app, env), {"networkPolicy": {"enabled": False}})
    assert of_kind(render(app, env, off), "NetworkPolicy") == []


@cache
def service_monitor_validator():
    crd_file = (upstream.chart_dir("kube-prometheus-stack", versions.KUBE_PROMETHEUS_STACK.version)
                / "charts" / "crds" / "crds" / "crd-servicemonitors.yaml")
    return verify.crd_schema_validator(yaml.safe_load(crd_file.read_text()), "v1")


def with_service_monitor(app: str, env: str) -> dict:
    return merged(argo_values(app, env), {"metrics": {"serviceMonitor": {"enabled": True}}})


def test_no_service_monitor_by_default_even_where_the_api_exists(chart_env):
    app, env = chart_env
    assert of_kind(render_with_apis(app, env, argo_values(app, env), {MONITORING_API}),
                   "ServiceMonitor") == []


def test_an_enabled_service_monitor_needs_the_prometheus_operator_api(chart_env):
    app, env = chart_env
    assert of_kind(render_with_apis(app, env, with_service_monitor(app, env), set()),
                   "ServiceMonitor") == []


def test_the_enabled_service_monitor_scrapes_each_pod_once(chart_env):
    app, env = chart_env
    objects = render_with_apis(app, env, with_service_monitor(app, env), {MONITORING_API})
    (monitor,) = of_kind(objects, "ServiceMonitor")
    assert monitor["metadata"]["name"] == app
    assert monitor["spec"] == {
        "selector": {
            "matchLabels": selector_labels(app),
            "matchExpressions": [{"key": "plate.dev/headless", "operator": "DoesNotExist"}],
        },
        "endpoints": [{"port": METRICS_PORT_NAMES[app], "path": "/metrics", "interval": "30s",
                       "followRedirects": False}],
    }
    assert verify.validation_errors(service_monitor_validator(), monitor) == []
    selected = [s for s in of_kind(objects, "Service")
                if netpol_check.selector_matches(
                    monitor["spec"]["selector"], s["metadata"]["labels"]
                )]
    assert [s["metadata"]["name"] for s in selected] == [app]
    assert METRICS_PORT_NAMES[app] in [p["name"] for p in selected[0]["spec"]["ports"]]
    # and the release's NetworkPolicy admits Prometheus on the port behind it
    (policy,) = of_kind(objects, "NetworkPolicy")
    assert rule(PROMETHEUS_PEERS, CONTAINER_PORTS[app]) in policy["spec"]["ingress"]


def test_service_monitor_settings_and_labels():
    values = merged(argo_values("plate-llm", "prod"), {"metrics": {"serviceMonitor": {
        "enabled": True, "path": "/v1/metrics", "interval": "1m", "labels": {"team": "ml"},
    }}})
    (monitor,) = of_kind(render_with_apis("plate-llm", "prod", values, {MONITORING_API}),
                         "ServiceMonitor")
    assert monitor["metadata"]["labels"]["team"] == "ml"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/v1/metrics",
                                             "interval": "1m", "followRedirects": False}]


def test_an_enabled_service_monitor_is_a_kind_the_app_project_allows():
    objects = render_with_apis("plate-web", "stg", with_service_monitor("plate-web", "stg"),
                               {MONITORING_API})
    assert {(group_of(o), o["kind"]) for o in objects} <= {
        (g, k) for g, k, _ in gitops.APP_NAMESPACED_KINDS
    }


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"networkPolicy": {"enabeld": True}}, "additional properties 'enabeld'"),
        ({"networkPolicy": {"enabled": "yes"}}, "enabled"),
        ({"networkPolicy": {"clients": [{}]}}, "clients"),
        ({"networkPolicy": {"ingressFrom": [{"namespaceSelector": {"matchLabel": {}}}]}},
         "additional properties 'matchLabel'"),
        ({"networkPolicy": {"extraIngress": [{"ports": [{"port": 80, "protocl": "TCP"}]}]}},
         "additional properties 'protocl'"),
        ({"metrics": {"serviceMonitor": {"port": "metrics"}}}, "port"),
        ({"metrics": {"serviceMonitor": {"interval": "30 seconds"}}}, "interval"),
        ({"metrics": {"servicemonitor": {"enabled": True}}}, "additional properties"),
    ],
)
def test_schema_rejects_bad_policy_and_monitor_values(values, fragment):
    result = helm_python.lint(
        str(built_chart("plate-web")), merged(argo_values("plate-web", "stg"), values), strict=True
    )
    errors = " ".join(result["errors"])
    assert result["errors"] and fragment in errors, errors


def test_the_charts_peers_are_the_platforms():
    """The defaults name the same Traefik and Prometheus pods as the platform's policies."""
    for app in APPS:
        policy = yaml.safe_load((chart_dir(app) / "values.yaml").read_text())["networkPolicy"]
        assert policy["prometheusFrom"] == [names.PROMETHEUS.selector()] == PROMETHEUS_PEERS
        if app in ("plate-web", "plate-api"):
            assert policy["ingressFrom"] == [traefik.PEER.selector()] == TRAEFIK_PEERS


def test_charts_without_an_ingress_take_no_ingress_controller_peers():
    values = merged(argo_values("plate-llm", "stg"), {"networkPolicy": {"ingressFrom": []}})
    result = helm_python.lint(str(built_chart("plate-llm")), values, strict=True)
    assert "additional properties 'ingressFrom'" in " ".join(result["errors"])


# --- child Applications ------------------------------------------------------------------------


def child_files(env: str) -> list[Path]:
    return sorted((ROOT / "environments" / "argocd" / "apps" / env).glob("*.yaml"))


@pytest.mark.parametrize("env", ENVS)
def test_child_applications_validate_against_the_upstream_crd(env):
    files = child_files(env)
    assert [f.stem for f in files] == sorted(APPS)
    for path in files:
        app = yaml.safe_load(path.read_text())
        assert crd_errors(app) == [], path.name


@pytest.mark.parametrize("env", ENVS)
def test_child_applications_point_at_existing_charts_and_value_files(env):
    cfg = config(env)
    for path in child_files(env):
        spec = yaml.safe_load(path.read_text())["spec"]
        chart = ROOT / spec["source"]["path"]
        assert (chart / "Chart.yaml").is_file()
        assert spec["source"]["helm"]["valueFiles"] == ["values.yaml", f"values-{env}.yaml"]
        for value_file in spec["source"]["helm"]["valueFiles"]:
            assert (chart / value_file).is_file()
        assert spec["project"] == f"plate-{env}"
        assert spec["destination"]["namespace"] == f"plate-{env}"
        assert spec["source"]["targetRevision"] == cfg.gitops.target_revision
        # the program owns plate-<env>: Argo CD neither creates nor labels it
        assert spec["syncPolicy"] == {"automated": {"prune": True, "selfHeal": True}}


@pytest.mark.parametrize("env", ENVS)
def test_child_applications_carry_the_facts_of_the_stack_file(env):
    cfg = config(env)
    assert cfg.dev_tools is not None
    expected = {
        "environment": env,
        "domain": cfg.domain,
        "registry": f"{cfg.dev_tools.harbor.host}.{cfg.domain}",
        "issuer": f"letsencrypt-{cfg.acme_server}",
        "ingressClass": cfg.ingress_class,
        "storageClass": cfg.storage_class,
        "openbao": {"address": "https://openbao-active.openbao.svc:8200", "mount": "plate",
                    "authMount": "kubernetes", "caConfigMap": "plate-internal-ca"},
    }
    for app in APPS:
        assert app_globals(app, env) == expected


def test_a_stack_without_dev_tools_pulls_from_the_default_harbor_host():
    raw = read_stack_file(ROOT / "Pulumi.stg.yaml")
    raw["tiers"] = ["applications"]
    raw.pop("dev_tools")
    raw.pop("dns", None)  # external-dns is tier 1's
    # the apps' SecretStores verify OpenBao against the other stack's internal CA
    raw.setdefault("tls", {})["internal_ca"] = {"certificate": TEST_CA}
    cfg = parse_platform_config(raw)
    assert gitops.app_globals(cfg)["registry"] == cfg.fqdn("harbor")


def test_prod_children_are_pinned():
    for path in child_files("prod"):
        revision = yaml.safe_load(path.read_text())["spec"]["source"]["targetRevision"]
        assert PINNED_TAG.match(revision) or re.fullmatch(r"[0-9a-f]{40}", revision)


def test_committed_child_applications_equal_the_generators_output():
    expected = {}
    for env in ENVS:
        expected.update(gitops.child_manifests(config(env)))
    committed = {
        str(p.relative_to(ROOT)): p.read_text()
        for p in (ROOT / "environments" / "argocd" / "apps").rglob("*.yaml")
    }
    assert committed == expected, "run `uv run python -m tooling.children --write`"


def test_root_app_path_holds_the_children():
    for env in ENVS:
        cfg = config(env)
        assert child_files(env)
        assert all(
            str(p.relative_to(ROOT)).startswith(cfg.apps_path + "/") for p in child_files(env)
        )
