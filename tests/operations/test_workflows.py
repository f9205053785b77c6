"""The GitHub Actions workflows and the operations scripts they run.

Verifies: every workflow passes the GitHub workflow JSON schema (`check-jsonschema
--builtin-schema vendor.github-workflows`) and `zizmor --offline`; least privilege (empty
top-level permissions, no persisted checkout credentials, actions pinned to commits, no
expressions inside shell scripts); no pull-request job can read a production secret (only a
same-repository stg preview with read-only credentials); every job has a timeout; cluster jobs
run on the configured self-hosted runners, one concurrency group per stack; one Pulumi version
file; deploys go through the operator command and keep the state export; prod is release-checked,
planned, then applied behind its environment; drift checks the deployed commit and reports one
issue per stack. The health gate and the release check are
tested as functions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ops.health_gate import application_problems, endpoint_problems, external_secret_problems
from ops.release_check import release_problem

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
BIN = Path(sys.executable).parent


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict) -> list[dict]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def step_index(job: dict, predicate) -> int:
    return next(i for i, s in enumerate(job["steps"]) if predicate(s))


def test_workflow_files_exist():
    assert [p.name for p in WORKFLOWS] == [
        "deploy-prod.yml", "deploy-stg.yml", "drift.yml", "pull-request.yml"
    ]


def test_workflows_pass_the_github_workflow_schema():
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *WORKFLOWS],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-actions", *ACTIONS],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline_finds_nothing():
    result = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", ROOT / ".github"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_would_catch_an_unpinned_action(tmp_path):
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "x.yml").write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
    )
    result = subprocess.run([BIN / "zizmor", "--offline", "--no-progress", tmp_path / ".github"],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_least_privilege_and_pinning(path):
    data = load(path)
    if path in WORKFLOWS:
        assert data["permissions"] == {}
        for job in data["jobs"].values():
            assert "permissions" in job
            assert "write-all" not in str(job["permissions"])
    all_steps = data["runs"]["steps"] if path in ACTIONS else steps(data)
    for step in all_steps:
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses
        if uses and uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        assert "${{" not in step.get("run", ""), f"expression inside a shell script: {step}"


def jobs_of(name: str) -> dict:
    return load(ROOT / ".github/workflows" / name)["jobs"]


def test_no_pull_request_job_can_read_a_production_secret():
    wf = load(ROOT / ".github/workflows/pull-request.yml")
    assert list(wf["on"]) == ["pull_request"]
    for name, job in wf["jobs"].items():
        text = yaml.safe_dump(job)
        if "secrets." in text:
            # only the read-only stg preview environment, and never for a fork's code
            assert job["environment"] == "stg-preview", name
            assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
        assert "prod" not in str(job.get("environment", "")), name
    preview = wf["jobs"]["preview-stg"]
    (pulumi,) = [s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert (pulumi["with"]["command"], pulumi["with"]["stack-name"]) == ("preview", "stg")
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["edit-pr-comment"] is True
    assert [s["run"] for s in wf["jobs"]["test"]["steps"] if "run" in s] == ["bash .ci/run"]
    assert "secrets." not in yaml.safe_dump(wf["jobs"]["rendered-diff"])  # runs for forks too


def test_secrets_come_from_github_secrets_only():
    for path in WORKFLOWS:
        text = path.read_text()
        for match in re.finditer(r"(PASSPHRASE|KUBECONFIG|SECRET_ACCESS_KEY)[\w-]*: (.+)", text):
            assert match.group(2).startswith("${{ secrets."), (path.name, match.group(0))


def test_every_job_has_a_timeout():
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            assert isinstance(job.get("timeout-minutes"), int), (path.name, name)


def test_cluster_jobs_run_on_the_configured_runners_one_concurrency_group_per_stack():
    seen = 0
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            if "environment" not in job:
                assert job["runs-on"] == "ubuntu-24.04", (path.name, name)
                continue
            seen += 1
            assert "vars.RUNNER_" in job["runs-on"], (path.name, name)
            group = job["concurrency"]["group"]
            assert group in ("pulumi-stg", "pulumi-prod", "pulumi-${{ matrix.stack }}"), name
            assert job["concurrency"]["cancel-in-progress"] is False
    assert seen == 5  # stg preview, stg deploy, prod plan and apply, drift


def test_the_pulumi_version_comes_from_one_file():
    version = (ROOT / ".pulumi.version").read_text().strip()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"pulumi=={version}"' in pyproject
    for path in WORKFLOWS:
        for step in steps(load(path)):
            if step.get("uses", "").startswith("pulumi/actions@"):
                assert "pulumi-version" not in step["with"], path.name
                assert step["with"]["pulumi-version-file"] == ".pulumi.version", path.name


def test_deploys_use_the_operator_command_and_keep_the_export():
    for name, stack in (("deploy-stg.yml", "stg"), ("deploy-prod.yml", "prod")):
        jobs = jobs_of(name)
        job = jobs["up"] if stack == "stg" else jobs["apply"]
        deploy = step_index(job, lambda s: f"ops.deploy --stack {stack} --yes" in s.get("run", ""))
        keep = step_index(job, lambda s: "aws s3 cp" in s.get("run", ""))
        assert deploy < keep and job["steps"][keep]["if"] == "always()"
    wf = load(ROOT / ".github/workflows/deploy-stg.yml")
    assert wf["on"] == {"push": {"branches": ["main"]}}


def test_prod_is_checked_then_planned_then_applied_behind_its_environment():
    wf = load(ROOT / ".github/workflows/deploy-prod.yml")
    assert set(wf["on"]) == {"push", "workflow_dispatch"}
    assert wf["on"]["push"] == {"tags": ["v*.*.*"]}
    jobs = wf["jobs"]
    check = "\n".join(s.get("run", "") for s in jobs["release-check"]["steps"])
    assert "ops.release_check --stack prod" in check and "merge-base --is-ancestor" in check
    assert "deploy-stg.yml/runs?head_sha=" in check
    assert jobs["plan"]["needs"] == "release-check" and jobs["apply"]["needs"] == "plan"
    assert jobs["plan"]["environment"] == "prod-preview" and jobs["apply"]["environment"] == "prod"
    (plan,) = [s for s in jobs["plan"]["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert plan["with"]["command"] == "preview" and plan["with"]["comment-on-summary"] is True
    assert plan["with"]["diff"] is True


def test_drift_checks_the_deployed_commit_and_reports_one_issue_per_stack():
    jobs = jobs_of("drift.yml")
    drift, report = jobs["drift"], jobs["report"]
    assert drift["strategy"]["matrix"]["stack"] == ["stg", "prod"]
    runs = "\n".join(s.get("run", "") for s in drift["steps"])
    assert "ops.drift deployed-commit" in runs and "ops.drift check" in runs
    assert drift["permissions"] == {"contents": "read"}  # no issue rights where credentials are
    assert report["permissions"] == {"issues": "write"} and "environment" not in report
    assert "gh issue create" in report["steps"][-1]["run"]


# --- ops scripts -------------------------------------------------------------------------------


def app(name: str, sync: str, health: str) -> dict:
    return {
        "metadata": {"name": name},
        "status": {"sync": {"status": sync}, "health": {"status": health}},
    }


def test_health_gate_application_problems():
    apps = {"items": [
        app("plate-prod-apps", "Synced", "Healthy"),
        app("plate-web-prod", "Synced", "Healthy"),
        app("plate-llm-prod", "OutOfSync", "Progressing"),
        app("plate-web-stg", "OutOfSync", "Degraded"),  # another environment: ignored
        {"metadata": {"name": "plate-api-prod"}},
    ]}
    assert application_problems(apps, "prod") == [
        "Application plate-api-prod: sync=Unknown health=Unknown",
        "Application plate-llm-prod: sync=OutOfSync health=Progressing",
    ]
    assert application_problems({"items": []}, "prod") == [
        "no Argo CD Applications found for environment 'prod'"
    ]


def test_health_gate_endpoint_problems():
    outputs = {"argocd_url": "https://argocd.plate.dev", "grafana_url": "https://grafana.plate.dev",
               "harbor_url": "https://harbor.plate.dev", "openbao_url": "https://bao.plate.dev",
               "environment": "prod"}
    asked = []
    harbor = {"status": "unhealthy", "components": [
        {"name": "core", "status": "healthy"}, {"name": "registry", "status": "unhealthy"}]}

    def fetch(url):
        asked.append(url)
        if "grafana" in url:
            raise ConnectionError("refused")
        if "argocd" in url:
            return 401, ""  # a login page is not health
        if "bao" in url:
            return 503, ""
        return 200, json.dumps(harbor)

    assert endpoint_problems(outputs, fetch) == [
        "https://argocd.plate.dev/healthz: HTTP 401",
        "https://grafana.plate.dev/api/health: ConnectionError: refused",
        "https://harbor.plate.dev/api/v2.0/health: unhealthy, unhealthy: registry",
        "https://bao.plate.dev/v1/sys/health?standbyok=true: HTTP 503 (sealed)",
    ]
    assert len(asked) == 4
    healthy = {"status": "healthy", "components": [{"name": "core", "status": "healthy"}]}
    assert endpoint_problems(outputs, lambda url: (200, json.dumps(healthy))) == []


def test_health_gate_external_secret_problems():
    def es(name, conditions):
        return {"metadata": {"name": name, "namespace": "plate-prod"},
                "status": {"conditions": conditions}}

    secrets = {"items": [
        es("plate-web-env", [{"type": "Ready", "status": "True"}]),
        es("plate-api-env", [{"type": "Ready", "status": "False",
                              "message": "could not get secret data from provider"}]),
        {"metadata": {"name": "harbor-pull", "namespace": "plate-prod"}},
    ]}
    assert external_secret_problems(secrets) == [
        "ExternalSecret plate-prod/harbor-pull: not Ready (no Ready condition yet)",
        "ExternalSecret plate-prod/plate-api-env: not Ready (could not get secret data from "
        "provider)",
    ]


def test_release_check():
    assert release_problem("prod", "v1.0.0") is None
    assert release_problem("prod", "v1.1.0") == (
        "tag 'v1.1.0' does not match gitops.target_revision 'v1.0.0' in Pulumi.prod.yaml: bump the "
        "pin, run `python -m tooling.children --write`, commit, then tag that commit"
    )
