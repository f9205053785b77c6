"""The GitHub Actions workflows and the operations scripts they run.

Verifies: every workflow passes the GitHub workflow JSON schema (`check-jsonschema
--builtin-schema vendor.github-workflows`) and `zizmor --offline`; least privilege (empty
top-level permissions, no persisted checkout credentials, actions pinned to commits, no
expressions inside shell scripts); PR previews per stack with the policy pack and one edited
comment; stg deploys on main with the PR in the update message; prod deploys behind its
Environment with a state export kept before `up` and a health gate after; deploys never overlap;
the drift check refreshes and expects no changes. The health gate and the release check are
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

ROOT = Path(__file__).resolve().parent.parent
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


def test_pull_request_previews_each_stack_with_policy_and_one_comment():
    wf = load(ROOT / ".github/workflows/pull-request.yml")
    assert list(wf["on"]) == ["pull_request"]
    preview = wf["jobs"]["preview"]
    assert preview["needs"] == "test"
    assert preview["strategy"]["matrix"]["stack"] == ["stg", "prod"]
    assert preview["permissions"] == {"contents": "read", "pull-requests": "write"}
    (pulumi,) = [s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["edit-pr-comment"] is True
    test_run = [s["run"] for s in wf["jobs"]["test"]["steps"] if "run" in s]
    assert test_run == ["bash .ci/run"]


def test_secrets_come_from_github_secrets_only():
    for path in WORKFLOWS:
        text = path.read_text()
        for match in re.finditer(r"(PASSPHRASE|KUBECONFIG|SECRET_ACCESS_KEY)[\w-]*: (.+)", text):
            assert match.group(2).startswith("${{ secrets."), (path.name, match.group(0))


def test_stg_deploys_on_main_with_the_pr_in_the_update_message():
    wf = load(ROOT / ".github/workflows/deploy-stg.yml")
    assert wf["on"] == {"push": {"branches": ["main"]}}
    assert wf["concurrency"] == {"group": "deploy-stg", "cancel-in-progress": False}
    job = wf["jobs"]["up"]
    assert job["environment"] == "stg"
    up = job["steps"][step_index(job, lambda s: s.get("with", {}).get("command") == "up")]
    assert up["with"]["stack-name"] == "stg"
    assert up["with"]["message"] == "${{ github.sha }} ${{ steps.meta.outputs.pr }}"


def test_prod_deploy_is_gated_exported_and_health_checked():
    wf = load(ROOT / ".github/workflows/deploy-prod.yml")
    assert set(wf["on"]) == {"push", "workflow_dispatch"}
    assert wf["on"]["push"] == {"tags": ["v*.*.*"]}
    assert wf["concurrency"] == {"group": "deploy-prod", "cancel-in-progress": False}
    job = wf["jobs"]["up"]
    assert job["environment"] == "prod"
    export = step_index(job, lambda s: "pulumi stack export --stack prod" in s.get("run", ""))
    keep = step_index(job, lambda s: s.get("uses", "").startswith("actions/upload-artifact@"))
    up = step_index(job, lambda s: s.get("with", {}).get("command") == "up")
    gate = step_index(job, lambda s: "ops.health_gate --stack prod" in s.get("run", ""))
    check = step_index(job, lambda s: "ops.release_check" in s.get("run", ""))
    assert check < export < keep < up < gate
    assert "--show-secrets" not in job["steps"][export]["run"]
    assert job["steps"][keep]["with"]["if-no-files-found"] == "error"


def test_drift_check_refreshes_and_expects_no_changes():
    wf = load(ROOT / ".github/workflows/drift.yml")
    assert "schedule" in wf["on"]
    job = wf["jobs"]["drift"]
    assert job["strategy"]["matrix"]["stack"] == ["stg", "prod"]
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["refresh"] is True and pulumi["with"]["expect-no-changes"] is True


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
        "pin, run `python -m components.gitops --write`, commit, then tag that commit"
    )
