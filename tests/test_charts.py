"""The four in-house charts and their child Applications, checked with real engines.

Verifies, for every chart and environment: strict `helm lint` passes; the real Helm engine
renders it; every rendered object passes the Kubernetes strict JSON schemas; every workload runs
under Pod Security "restricted" with requests, limits and probes, pulls from the environment's
Harbor with a pinned tag in prod, and mounts no ServiceAccount token; Ingresses carry TLS from the
environment's ClusterIssuer; only kinds the AppProject allows are rendered; a value file with a
typo is rejected by the schema. Every child Application validates against the upstream Argo CD
CRD, points at an existing chart and value files, and equals what the generator produces.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import helm_python
import pytest
import yaml

from components import gitops
from components.config import PlatformConfig, parse_platform_config, read_stack_file
from tests.schemas import crd_errors, kubernetes_errors

ROOT = Path(__file__).resolve().parent.parent
ENVS = ("stg", "prod")
APPS = [app.name for app in gitops.IN_HOUSE_APPS]
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}
PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+$")


@cache
def config(env: str) -> PlatformConfig:
    return parse_platform_config(read_stack_file(ROOT / f"Pulumi.{env}.yaml"))


def chart_dir(app: str) -> Path:
    return ROOT / "helm" / "applications" / app


def env_values(app: str, env: str) -> dict:
    return yaml.safe_load((chart_dir(app) / f"values-{env}.yaml").read_text())


@cache
def rendered(app: str, env: str) -> tuple[dict, ...]:
    """Objects Argo CD would apply: values.yaml (chart defaults) + values-<env>.yaml."""
    cfg = config(env)
    files = helm_python.Chart.load(str(chart_dir(app))).render(
        env_values(app, env), name=app, namespace=gitops.apps_namespace(cfg), is_install=True
    )
    objects = []
    for path, text in sorted(files.items()):
        if path.endswith(".yaml"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return tuple(objects)


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


@pytest.fixture(params=[(a, e) for a in APPS for e in ENVS], ids=lambda p: f"{p[0]}-{p[1]}")
def chart_env(request) -> tuple[str, str]:
    return request.param


def test_strict_lint_passes(chart_env):
    app, env = chart_env
    result = helm_python.lint(
        str(chart_dir(app)), env_values(app, env), strict=True, namespace=f"plate-{env}"
    )
    assert [m for m in result["messages"] if m["severity"] >= 2] == []
    assert result["errors"] == []


def test_rendered_objects_pass_kubernetes_strict_schemas(chart_env):
    objects = rendered(*chart_env)
    assert objects
    for obj in objects:
        assert kubernetes_errors(obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"


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


def test_images_come_from_the_environments_harbor_and_prod_pins_tags(chart_env):
    app, env = chart_env
    cfg = config(env)
    registry = f"{cfg.dev_tools.harbor.host}.{cfg.domain}/plate/{app}"
    for workload in (o for o in rendered(app, env) if o["kind"] in WORKLOAD_KINDS):
        for container in pod_spec(workload)["containers"]:
            repo, _, tag = container["image"].rpartition(":")
            assert repo == registry
            assert tag != "latest"
            if cfg.production:
                assert PINNED_TAG.match(tag), f"{app} prod image {container['image']} is not pinned"


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


def test_scaling_and_disruption_objects(chart_env):
    app, env = chart_env
    kinds = [o["kind"] for o in rendered(app, env)]
    if app in ("plate-web", "plate-api"):
        assert kinds.count("HorizontalPodAutoscaler") == 1
    assert kinds.count("PodDisruptionBudget") == (
        0 if (app == "plate-llm" and env == "stg") else 1
    )


def test_only_kinds_the_app_project_allows(chart_env):
    allowed = {kind for _, kind in gitops.APP_NAMESPACED_KINDS}
    assert {o["kind"] for o in rendered(*chart_env)} <= allowed


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
        assert not [o for o in rendered("plate-api", env) if o["kind"] == "Secret"]


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"replicaCont": 2}, "additional properties 'replicaCont' not allowed"),
        ({"image": {"repository": "docker.io/plate/plate-web", "tag": "1.0.0"}}, "repository"),
        ({"image": {"repository": "harbor.plate.dev/plate/plate-web", "tag": "latest"}}, "tag"),
        ({"ingress": {"clusterIssuer": "letsencrypt-prod"}}, "clusterIssuer"),
        ({"service": {"type": "NodePort"}}, "type"),
    ],
)
def test_schema_rejects_bad_values(values, fragment):
    result = helm_python.lint(str(chart_dir("plate-web")), values, strict=True)
    errors = " ".join(result["errors"])
    assert result["errors"] and fragment in errors, errors


def test_a_value_file_with_a_typo_is_rejected(tmp_path):
    bad = dict(env_values("plate-cache", "prod"))
    bad["persistance"] = bad.pop("persistence")
    result = helm_python.lint(str(chart_dir("plate-cache")), bad, strict=True)
    assert "additional properties 'persistance' not allowed" in " ".join(result["errors"])


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
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert spec["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]


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
    assert committed == expected, "run `uv run python -m components.gitops --write`"


def test_root_app_path_holds_the_children():
    for env in ENVS:
        cfg = config(env)
        assert child_files(env)
        assert all(
            str(p.relative_to(ROOT)).startswith(cfg.apps_path + "/") for p in child_files(env)
        )
