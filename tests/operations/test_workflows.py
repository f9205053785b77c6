"""The GitHub Actions workflows, the composite actions' scripts, and the settings the docs promise.

Verifies: every workflow and action passes the GitHub JSON schemas (`check-jsonschema`) and
`zizmor --offline`; least privilege (empty top-level permissions, no persisted checkout
credentials, actions pinned to commits, no expressions inside shell scripts).

And, each against GitHub's documented behaviour:
- environment rules: every job that names an environment is reached only from refs that
  environment admits, as docs/operations.md configures it ("Selected branches and tags", matched
  against GITHUB_REF; a schedule runs on the default branch; a dispatch on the ref chosen,
  https://docs.github.com/en/actions/reference/workflows-and-actions/deployments-and-environments);
- concurrency: GitHub cancels a *pending* run when a newer one joins its group, unless the group
  queues (`queue: max`); deploys have groups of their own that queue, no two workflows share a
  group (https://docs.github.com/en/actions/how-tos/write-workflows/choose-when-workflows-run/control-workflow-concurrency);
- approved = applied: prod's apply job downloads the plan job's artifact by id, checks its digest
  and applies it with `--expect-sha` of the commit the release check verified; the release check
  (run as a script against a real git repository and a stand-in `gh`) refuses an older tag, a
  moved tag, a commit off main or without a successful stg deploy, and waits for a running one;
- timeouts above `ops.deploy.TOTAL_BUDGET_MINUTES` plus setup;
- pull requests: no secret, environment or self-hosted runner; the graph beside the diff;
- the state export: the endpoint for MinIO/Ceph, credentials of its own, a failed upload a warning
  (the script run against a stand-in `aws`);
- the audit trail: the merged PR's number and title (the step run against a stand-in `gh`), the
  dispatch reason, the `<stack>-state-before-<sha>` artifacts;
- secrets in git: the encryptionsalt check (the script) runs before anything decrypts;
- docs/operations.md names every variable, secret, environment and pinned workflow used.
The health gate and the release check's pin comparison are tested as functions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ops import deploy as ops_deploy
from ops import drift as ops_drift
from ops.health_gate import application_problems, endpoint_problems, external_secret_problems
from ops.release_check import release_problem
from tests.harness import GIT_ENV

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
DOCS = (ROOT / "docs" / "operations.md").read_text()
BIN = Path(sys.executable).parent
# the sum of ops.deploy's command timeouts
BUDGET = ops_deploy.TOTAL_BUDGET_MINUTES


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict) -> list[dict]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def step_index(job: dict, predicate) -> int:
    return next(i for i, s in enumerate(job["steps"]) if predicate(s))


def jobs_of(name: str) -> dict:
    return load(ROOT / ".github/workflows" / name)["jobs"]


def runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in job.get("steps", []))


def uses(step: dict, action: str) -> bool:
    return step.get("uses", "").startswith(action)


def env_jobs() -> list[tuple[str, str, dict]]:
    """(workflow file, job id, job) of every job that names an environment."""
    return [(p.name, name, job) for p in WORKFLOWS for name, job in load(p)["jobs"].items()
            if "environment" in job]


def matrix_values(job: dict, text: str) -> list[str]:
    """`text` with `${{ matrix.stack }}` expanded over the job's matrix."""
    if "matrix." not in text:
        return [text]
    stacks = job["strategy"]["matrix"]["stack"]
    return [re.sub(r"\$\{\{\s*matrix\.stack\s*\}\}", stack, text) for stack in stacks]


# --- schemas, zizmor, least privilege -------------------------------------------------------


def test_workflow_files_exist():
    assert [p.name for p in WORKFLOWS] == [
        "deploy-prod.yml", "deploy-stg.yml", "drift.yml", "pull-request.yml"
    ]
    assert [p.parent.name for p in ACTIONS] == [
        "deployed-commit", "pulumi-setup", "release-check", "stack-file-check", "state-export",
        "upstream-cache",
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
        used = step.get("uses")
        if used and not used.startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", used), used
        if used and used.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        assert "${{" not in step.get("run", ""), f"expression inside a shell script: {step}"


def test_secrets_come_from_github_secrets_only():
    for path in WORKFLOWS:
        text = path.read_text()
        for match in re.finditer(r"(PASSPHRASE|KUBECONFIG|SECRET_ACCESS_KEY)[\w-]*: (.+)", text):
            assert match.group(2).startswith("${{ secrets."), (path.name, match.group(0))


def test_the_pulumi_version_comes_from_one_file():
    version = (ROOT / ".pulumi.version").read_text().strip()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"pulumi=={version}"' in pyproject
    for path in WORKFLOWS:
        for step in steps(load(path)):
            if step.get("uses", "").startswith("pulumi/actions@"):
                assert "pulumi-version" not in step["with"], path.name
                assert step["with"]["pulumi-version-file"] == ".pulumi.version", path.name


# --- 2. environment rules admit every job that names them -----------------------------------


def documented_environments() -> dict[str, dict[str, list[str]]]:
    """docs/operations.md's environment table: name -> {"branch": [...], "tag": [...]}."""
    found: dict[str, dict[str, list[str]]] = {}
    for line in DOCS.splitlines():
        match = re.match(r"\|\s*`([\w-]+)`\s*\|(.*)", line)
        if not match or "Selected branches and tags" not in line:
            continue
        cells = [c.strip() for c in match.group(2).split("|")]
        rule = next(c for c in cells if "Selected branches and tags" in c)
        found[match.group(1)] = {
            "branch": re.findall(r"branch `([^`]+)`", rule),
            "tag": re.findall(r"tag `([^`]+)`", rule),
        }
    return found


def admitted(rule: dict[str, list[str]], ref: str) -> bool:
    """GitHub matches the name patterns against GITHUB_REF; `*` does not match `/`."""
    kind, name = ("branch", ref[len("refs/heads/"):]) if ref.startswith("refs/heads/") else (
        ("tag", ref[len("refs/tags/"):]) if ref.startswith("refs/tags/") else ("other", ref))
    patterns = rule.get(kind, [])
    return any(re.fullmatch(re.escape(p).replace(r"\*", "[^/]*"), name) for p in patterns)


def trigger_refs(workflow: dict) -> dict[str, str]:
    """event -> the GITHUB_REF of its runs: a push's branch or tag; a schedule's default branch
    ("Scheduled workflows will only run on the default branch"); a dispatch's chosen ref, main
    (the UI's default; a deploy-prod run from elsewhere stops in its first job, tested below)."""
    refs = {}
    for event, spec in workflow["on"].items():
        if event == "push" and "branches" in spec:
            refs["push"] = f"refs/heads/{spec['branches'][0]}"
        elif event == "push":
            refs["push"] = "refs/tags/" + spec["tags"][0].replace("*", "1")
        elif event in ("schedule", "workflow_dispatch"):
            refs[event] = "refs/heads/main"
        elif event == "pull_request":
            refs[event] = "refs/pull/1/merge"
    return refs


def reachable(jobs: dict, name: str, event: str) -> bool:
    job = jobs[name]
    condition = str(job.get("if", ""))
    only = re.search(r"github\.event_name == '(\w+)'", condition)
    if only and only.group(1) != event:
        return False
    needs = job.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    return all(reachable(jobs, n, event) for n in needs)


def test_environment_rules_admit_every_job_that_names_them():
    environments = documented_environments()
    seen = set()
    for path in WORKFLOWS:
        workflow = load(path)
        for event, ref in trigger_refs(workflow).items():
            for name, job in workflow["jobs"].items():
                if "environment" not in job or not reachable(workflow["jobs"], name, event):
                    continue
                for environment in matrix_values(job, job["environment"]):
                    seen.add(environment)
                    assert environment in environments, f"{environment} is not in the docs' table"
                    assert admitted(environments[environment], ref), (
                        f"{path.name} {name} on {event} ({ref}) is refused by {environment}: "
                        f"{environments[environment]}")
    assert seen == {"stg-preview", "stg", "prod-preview", "prod"}
    # no environment admits a pull request's ref
    for rule in environments.values():
        assert not admitted(rule, "refs/pull/1/merge")


def test_prod_is_dispatched_from_main_and_refuses_other_refs_first():
    workflow = load(ROOT / ".github/workflows/deploy-prod.yml")
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    assert workflow["on"]["push"] == {"tags": ["v*.*.*"]}
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]) == {"tag", "reason"}
    jobs = workflow["jobs"]
    first = jobs["release-check"]["steps"][0]
    assert first["if"] == (
        "github.event_name == 'workflow_dispatch' && github.ref != 'refs/heads/main'")
    assert "exit 1" in first["run"] and "Use workflow from: main" in first["run"]
    # a tag push runs the release check alone: the deploy jobs need a dispatch
    assert jobs["plan"]["if"] == "github.event_name == 'workflow_dispatch'"
    assert not reachable(jobs, "apply", "push") and reachable(jobs, "apply", "workflow_dispatch")


def test_environment_settings_are_documented_exactly():
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\|\s*`([\w-]+)`\s*\|.*$", DOCS, re.M)
            if "Selected branches and tags" in m.group(0)}
    assert set(rows) == {"stg-preview", "stg", "prod-preview", "prod"}
    for name, row in rows.items():
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert "branch `main`" in row and "tag `" not in row, name
        # Required reviewers | Prevent self-review | Allow administrators to bypass
        reviewers, self_review, bypass = cells[3], cells[4], cells[5]
        assert bypass == "off", name
        if name == "prod":
            assert reviewers.startswith("required") and self_review == "on"
    assert "Allow administrators to bypass configured protection rules" in DOCS
    assert "Prevent self-review" in DOCS


# --- 3. concurrency: no deploy is ever dropped ------------------------------------------------


def concurrency_groups() -> dict[str, set[str]]:
    """workflow file -> its concurrency groups (matrix expanded)."""
    groups: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        workflow = load(path)
        found = set()
        if "concurrency" in workflow:
            found.add(workflow["concurrency"]["group"])
        for job in workflow["jobs"].values():
            if "concurrency" in job:
                found.update(matrix_values(job, job["concurrency"]["group"]))
        groups[path.name] = found
    return groups


def test_no_two_workflows_share_a_concurrency_group():
    groups = concurrency_groups()
    for a in groups:
        for b in groups:
            if a < b:
                assert not groups[a] & groups[b], (a, b, groups[a] & groups[b])
    assert groups["deploy-stg.yml"] == {"deploy-stg"}
    assert groups["deploy-prod.yml"] == {"deploy-prod-plan", "deploy-prod-apply"}
    assert groups["drift.yml"] == {"drift-stg", "drift-prod"}


def test_deploys_queue_instead_of_dropping_pending_runs():
    stg = load(ROOT / ".github/workflows/deploy-stg.yml")
    # whole runs, plan and apply together, every one waiting its turn
    assert stg["concurrency"] == {"group": "deploy-stg", "cancel-in-progress": False,
                                  "queue": "max"}
    prod = jobs_of("deploy-prod.yml")
    for name in ("plan", "apply"):
        assert prod[name]["concurrency"]["cancel-in-progress"] is False
        assert prod[name]["concurrency"]["queue"] == "max"
    for _, name, job in env_jobs():
        concurrency = job.get("concurrency", {})
        assert concurrency.get("cancel-in-progress", False) is False, name
    # pull requests cancel their own older runs only
    pr = load(ROOT / ".github/workflows/pull-request.yml")
    assert pr["concurrency"]["group"] == "pr-${{ github.event.pull_request.number }}"


def test_a_stg_run_that_waited_behind_a_newer_one_does_not_roll_back():
    plan = jobs_of("deploy-stg.yml")["plan"]
    guard = step_index(plan, lambda s: uses(s, "./.github/actions/deployed-commit"))
    assert plan["steps"][guard]["with"] == {"stack": "stg", "mode": "not-ahead",
                                            "head-sha": "${{ github.sha }}"}
    assert guard < step_index(plan, lambda s: "--plan-only" in s.get("run", ""))


# --- 4. approved = applied --------------------------------------------------------------------


def test_prod_applies_exactly_the_plan_the_reviewers_saw():
    jobs = jobs_of("deploy-prod.yml")
    check, plan, apply = jobs["release-check"], jobs["plan"], jobs["apply"]
    (release,) = [s for s in check["steps"] if uses(s, "./.github/actions/release-check")]
    assert check["outputs"]["sha"] == "${{ steps.check.outputs.sha }}" and release["id"] == "check"
    assert plan["needs"] == "release-check" and plan["environment"] == "prod-preview"
    assert apply["needs"] == ["release-check", "plan"] and apply["environment"] == "prod"
    for job in (plan, apply):  # the verified commit, never the tag name (a tag can move)
        checkout = next(s for s in job["steps"] if uses(s, "actions/checkout@"))
        assert checkout["with"]["ref"] == "${{ needs.release-check.outputs.sha }}"
    assert "ops.deploy --stack prod --plan-only --plan-file \"$PLAN\"" in runs(plan)
    upload = next(s for s in plan["steps"] if uses(s, "actions/upload-artifact@"))
    assert plan["outputs"]["artifact-id"] == f"${{{{ steps.{upload['id']}.outputs.artifact-id }}}}"
    assert "$GITHUB_STEP_SUMMARY" in runs(plan)

    recheck = step_index(apply, lambda s: uses(s, "./.github/actions/release-check"))
    assert apply["steps"][recheck]["with"]["expect-sha"] == "${{ needs.release-check.outputs.sha }}"
    download = step_index(apply, lambda s: uses(s, "actions/download-artifact@"))
    assert apply["steps"][download]["with"]["artifact-ids"] == (
        "${{ needs.plan.outputs.artifact-id }}")
    run = step_index(apply, lambda s: "ops.deploy --stack prod --yes" in s.get("run", ""))
    step = apply["steps"][run]
    assert 'sha256sum --check' in step["run"]
    assert '--apply-plan "$PLAN" --expect-sha "$SHA"' in step["run"]
    assert step["env"]["SHA"] == "${{ needs.release-check.outputs.sha }}"
    assert step["env"]["PLAN_SHA256"] == "${{ needs.plan.outputs.plan-sha256 }}"
    assert recheck < download < run


def test_stg_applies_its_own_plan_of_the_pushed_commit():
    jobs = jobs_of("deploy-stg.yml")
    plan, apply = jobs["plan"], jobs["apply"]
    assert plan["environment"] == "stg-preview" and apply["environment"] == "stg"
    assert "ops.deploy --stack stg --plan-only --plan-file \"$PLAN\"" in runs(plan)
    download = next(s for s in apply["steps"] if uses(s, "actions/download-artifact@"))
    assert download["with"]["artifact-ids"] == "${{ needs.plan.outputs.artifact-id }}"
    assert ('ops.deploy --stack stg --yes --apply-plan "$PLAN" --expect-sha "$GITHUB_SHA"'
            in runs(apply))
    assert "sha256sum --check" in runs(apply)


# --- the release check, run -------------------------------------------------------------------

RELEASE_CHECK = ROOT / ".github/actions/release-check/release-check.sh"

# The `gh api` contract the scripts rely on, from cli/cli pkg/cmd/api/api.go (processResponse):
# the body (filtered by --jq) on stdout; an HTTP status above 299 whose body is not JSON prints
# "gh: HTTP <status>" on stderr and returns cmdutil.SilentError, i.e. exit status 1 (a JSON
# error body: "gh: <message> (HTTP <status>)", also exit 1).
FAKE_GH = """#!/usr/bin/env bash
# stand-in gh: logs its arguments, prints the next canned answer (already --jq filtered)
echo "$*" >> "$FAKE_GH_LOG"
n=$(( $(cat "$FAKE_GH_COUNT" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$FAKE_GH_COUNT"
answer="$FAKE_GH_ANSWERS/$n"
[ -f "$answer" ] || answer="$FAKE_GH_ANSWERS/last"
[ -f "$answer.fail" ] && { echo "gh: HTTP 502" >&2; exit 1; }
cat "$answer"
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


@pytest.fixture
def released(tmp_path) -> dict:
    """A repository: main with v1.0.0, v1.1.0 (newest) and a later commit; a branch commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = {}
    for name in ("one", "two", "three"):
        (repo / name).write_text(name)
        git(repo, "add", name)
        git(repo, "commit", "-q", "-m", name)
        shas[name] = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "v1.0.0", shas["one"])
    git(repo, "tag", "-a", "-m", "release", "v1.1.0", shas["two"])
    git(repo, "tag", "v1.1.0-rc1", shas["three"])  # not a release tag: ignored
    git(repo, "update-ref", "refs/remotes/origin/main", shas["three"])
    git(repo, "checkout", "-q", "-b", "feature", shas["one"])
    (repo / "four").write_text("four")
    git(repo, "add", "four")
    git(repo, "commit", "-q", "-m", "four")
    git(repo, "tag", "v9.0.0")  # newest by number, but not on main
    shas["branch"] = git(repo, "rev-parse", "HEAD")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    (bin_dir / "uv").write_text("#!/usr/bin/env bash\necho \"uv $*\" >> \"$FAKE_GH_LOG\"\n"
                                "exit \"${FAKE_UV_EXIT:-0}\"\n")
    (bin_dir / "uv").chmod(0o755)
    answers = tmp_path / "answers"
    answers.mkdir()
    return {"repo": repo, "shas": shas, "bin": bin_dir, "answers": answers, "tmp": tmp_path}


def release_check(released: dict, answers: list[str] | None = None,
                  **env: str) -> subprocess.CompletedProcess[str]:
    for i, answer in enumerate(answers or [], start=1):
        (released["answers"] / str(i)).write_text(answer)
    if answers:
        (released["answers"] / "last").write_text(answers[-1])
    output = released["tmp"] / "output"
    output.write_text("")
    full_env = {
        **os.environ, **GIT_ENV,
        "PATH": f"{released['bin']}:{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output), "REPO": "plate/platform", "GH_TOKEN": "t",
        "FAKE_GH_LOG": str(released["tmp"] / "gh.log"),
        "FAKE_GH_COUNT": str(released["tmp"] / "gh.count"),
        "FAKE_GH_ANSWERS": str(released["answers"]), "POLL_SECONDS": "0",
        **env,
    }
    return subprocess.run(["bash", str(RELEASE_CHECK)], cwd=released["repo"], env=full_env,
                          capture_output=True, text=True, timeout=60)


def outputs(released: dict) -> dict[str, str]:
    lines = (released["tmp"] / "output").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


SUCCESS = "completed success https://github.com/plate/platform/actions/runs/7\n"


def test_release_check_passes_the_newest_tag_deployed_to_stg(released):
    result = release_check(released, [SUCCESS], TAG="v1.1.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs(released) == {"sha": released["shas"]["two"], "tag": "v1.1.0"}
    log = (released["tmp"] / "gh.log").read_text()
    assert "uv run python -m ops.release_check --stack prod --tag v1.1.0" in log
    assert f"head_sha={released['shas']['two']}" in log
    assert "event=push" in log and "branch=main" in log
    assert "repos/plate/platform/actions/workflows/deploy-stg.yml/runs" in log


def test_release_check_waits_for_a_running_stg_deploy(released):
    running = "in_progress  https://github.com/plate/platform/actions/runs/8\n"
    result = release_check(released, [running, running, SUCCESS], TAG="v1.1.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("waiting for the stg deploy") == 2
    result = release_check(released, [running], TAG="v1.1.0", STG_WAIT_MINUTES="0")
    assert result.returncode == 1 and "still running" in result.stdout
    assert "re-run this workflow" in result.stdout


@pytest.mark.parametrize(("tag", "answers", "env", "message"), [
    ("v1.1.0", ["completed cancelled u\ncompleted failure v\n"], {},
     "has no successful stg deploy"),
    ("v1.1.0", [""], {}, "has no successful stg deploy"),
    ("v1.0.0", [SUCCESS], {}, "is not the newest release tag on main (v1.1.0 is)"),
    ("v9.0.0", [SUCCESS], {}, "is not on main"),
    ("main", [SUCCESS], {}, "'main' is not a release tag"),
    ("v1.1.0-rc1", [SUCCESS], {}, "is not a release tag"),
    ("v2.0.0", [SUCCESS], {}, "tag v2.0.0 does not exist"),
    ("v1.1.0", [SUCCESS], {"FAKE_UV_EXIT": "1"}, "ops.release_check refused v1.1.0"),
])
def test_release_check_refuses(released, tag, answers, env, message):
    result = release_check(released, answers, TAG=tag, **env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"::error::release check: {message}" in result.stdout.replace("\n", " ") or (
        message in result.stdout), result.stdout
    assert outputs(released) == {}


def test_release_check_after_the_approval_is_git_only(released):
    """The apply job's check: still the newest tag, still at the planned commit; no gh, no uv."""
    env = {"RUN_RELEASE_CHECK": "false", "REQUIRE_STG_DEPLOY": "false", "TAG": "v1.1.0"}
    result = release_check(released, None, EXPECT_SHA=released["shas"]["two"], **env)
    assert result.returncode == 0, result.stdout
    assert not (released["tmp"] / "gh.log").exists()
    result = release_check(released, None, EXPECT_SHA=released["shas"]["one"], **env)
    assert result.returncode == 1 and "the commit that was planned and approved" in result.stdout
    # a newer release tagged while this run waited for its approval: no rollback
    git(released["repo"], "tag", "v1.2.0", released["shas"]["three"])
    result = release_check(released, None, EXPECT_SHA=released["shas"]["two"], **env)
    assert result.returncode == 1
    assert "not the newest release tag on main (v1.2.0 is)" in result.stdout


def test_release_check_gh_failure_is_an_error(released):
    (released["answers"] / "last.fail").write_text("")
    (released["answers"] / "last").write_text("")
    result = release_check(released, None, TAG="v1.1.0")
    assert result.returncode == 1 and "could not list the deploy-stg runs" in result.stdout


# --- the deployed commit, run -----------------------------------------------------------------

DEPLOYED = ROOT / ".github/actions/deployed-commit/deployed-commit.sh"


def deployed_commit(released: dict, stack: str, mode: str, deployed: str | None,
                    head: str = "") -> subprocess.CompletedProcess[str]:
    uv = released["bin"] / "uv"
    if deployed is None:
        uv.write_text("#!/usr/bin/env bash\necho 'stg: error, not drift: no history' >&2\nexit 1\n")
    else:
        uv.write_text(f"#!/usr/bin/env bash\necho {deployed}\n")
    output = released["tmp"] / "output"
    output.write_text("")
    env = {**os.environ, **GIT_ENV, "PATH": f"{released['bin']}:{os.environ['PATH']}",
           "STACK": stack, "MODE": mode, "HEAD_SHA": head, "GITHUB_OUTPUT": str(output)}
    return subprocess.run(["bash", str(DEPLOYED)], cwd=released["repo"], env=env,
                          capture_output=True, text=True, timeout=60)


def test_deployed_commit_guards(released):
    shas = released["shas"]
    # drift runs only reviewed code: on main; for prod, a release tag
    assert deployed_commit(released, "stg", "reviewed", shas["three"]).returncode == 0
    assert outputs(released) == {"sha": shas["three"]}
    result = deployed_commit(released, "stg", "reviewed", shas["branch"])
    assert result.returncode == 1 and "not on main" in result.stdout
    result = deployed_commit(released, "prod", "reviewed", shas["three"])
    assert result.returncode == 1 and "carries no release tag" in result.stdout
    assert deployed_commit(released, "prod", "reviewed", shas["two"][:12]).returncode == 0
    result = deployed_commit(released, "stg", "reviewed", "0" * 40)
    assert result.returncode == 1 and "not in this repository" in result.stdout
    result = deployed_commit(released, "stg", "reviewed", None)
    assert result.returncode == 1 and "an error, not drift" in result.stdout
    # a deploy never moves a stack back to an older commit of main
    result = deployed_commit(released, "stg", "not-ahead", shas["three"], head=shas["two"])
    assert result.returncode == 1 and "would roll stg back" in result.stdout
    for deployed, head in (("two", "three"), ("two", "two")):
        result = deployed_commit(released, "stg", "not-ahead", shas[deployed], head=shas[head])
        assert result.returncode == 0, result.stdout
    result = deployed_commit(released, "stg", "not-ahead", None, head=shas["two"])
    assert result.returncode == 0 and "no deployed commit known" in result.stdout
    result = deployed_commit(released, "stg", "not-ahead", "f" * 40, head=shas["two"])
    assert result.returncode == 0 and "deploying over it" in result.stdout


# --- 5. timeouts above the deploy's own budget ------------------------------------------------


def test_every_job_has_a_timeout():
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            assert isinstance(job.get("timeout-minutes"), int), (path.name, name)


def test_deploy_jobs_outlast_the_commands_budget():
    """A job's timeout-minutes must exceed ops.deploy's own budget plus setup, or GitHub cancels
    the job while ops.deploy still waits for a command (and leaves the stack locked)."""
    seen = 0
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            text = runs(job)
            if "ops.deploy" in text:
                seen += 1
                setup = 45 if "bash .ci/run" in text else 30  # the tests, or setup alone
                assert job["timeout-minutes"] >= BUDGET + setup, (path.name, name, BUDGET)
    assert seen == 4  # stg plan and apply, prod plan and apply
    drift = jobs_of("drift.yml")["drift"]
    assert drift["timeout-minutes"] >= 3 * ops_drift.TIMEOUT / 60 + 15
    assert jobs_of("deploy-prod.yml")["release-check"]["timeout-minutes"] >= 45 + 10


# --- 6. unreviewed code never meets a credential ----------------------------------------------


def test_pull_requests_get_no_secret_environment_or_self_hosted_runner():
    workflow = load(ROOT / ".github/workflows/pull-request.yml")
    assert list(workflow["on"]) == ["pull_request"]
    for name, job in workflow["jobs"].items():
        text = yaml.safe_dump(job)
        assert "secrets." not in text and "environment" not in job, name
        assert job["runs-on"] == "ubuntu-24.04", name
        assert "pull-requests: write" not in text, name
    assert [s["run"] for s in workflow["jobs"]["test"]["steps"] if "run" in s] == ["bash .ci/run"]
    assert set(workflow["jobs"]) == {"test", "rendered-diff"}
    # no workflow runs on pull_request_target (which would hand a pull request the secrets)
    for path in WORKFLOWS:
        assert "pull_request_target" not in load(path)["on"], path.name


def test_self_hosted_runners_serve_only_jobs_of_main_and_are_pinned_in_the_docs():
    for path in WORKFLOWS:  # cluster jobs on the configured runners, the rest on GitHub's
        for name, job in load(path)["jobs"].items():
            if "environment" in job:
                assert "vars.RUNNER_" in job["runs-on"], (path.name, name)
            else:
                assert job["runs-on"] == "ubuntu-24.04", (path.name, name)
    for variable, row_key in (("RUNNER_STG", "`RUNNER_STG`"), ("RUNNER_PROD", "`RUNNER_PROD`")):
        users = {p.name for p in WORKFLOWS for job in load(p)["jobs"].values()
                 if f"vars.{variable}" in str(job["runs-on"])}
        row = next(line for line in DOCS.splitlines()
                   if line.lstrip().startswith("|") and row_key in line
                   and "@refs/heads/main" in line)
        pinned = set(re.findall(r"\.github/workflows/([\w-]+\.yml)@refs/heads/main", row))
        assert pinned == users, (variable, pinned, users)
    assert "pull-request.yml" not in {p.name for p in WORKFLOWS
                                      if "vars.RUNNER_" in p.read_text()}


def test_the_pull_request_summary_shows_the_graph_when_it_changes():
    job = jobs_of("pull-request.yml")["rendered-diff"]
    diff = step_index(job, lambda s: ".ci/rendered-diff" in s.get("run", ""))
    graph = step_index(job, lambda s: "tooling.graph" in s.get("run", ""))
    text = job["steps"][graph]["run"]
    assert diff < graph and job["steps"][graph]["if"] == "${{ !cancelled() }}"
    assert 'uv run python -m tooling.graph --stack "$stack" --out "$out/head-$stack"' in text
    assert 'cmp -s "$out/base-$stack/graph.mmd" "$out/head-$stack/graph.mmd"' in text
    assert "```mermaid" in text and '"$GITHUB_STEP_SUMMARY"' in text


def test_the_graph_step_compares_base_and_head(tmp_path):
    """The step's script, run with a stand-in `uv` whose graph differs per checkout."""
    job = jobs_of("pull-request.yml")["rendered-diff"]
    script = next(s["run"] for s in job["steps"] if "tooling.graph" in s.get("run", ""))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text(
        "#!/usr/bin/env bash\n"
        "out=${@: -1}; mkdir -p \"$out\"\n"
        "stack=$6\n"
        # the base's prod graph differs; stg is the same on both sides
        "if [[ $PWD == */.base && $stack == prod ]]; then graph='graph TD; a-->b';\n"
        "else graph='graph TD; a-->c'; fi\n"
        "echo \"$graph\" > \"$out/graph.mmd\"\n"
        "echo svg > \"$out/graph.svg\"\n")
    (bin_dir / "uv").chmod(0o755)
    work = tmp_path / "work"
    (work / ".base" / "tooling").mkdir(parents=True)
    (work / ".base" / "tooling" / "graph.py").write_text("")
    summary = tmp_path / "summary.md"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "RUNNER_TEMP": str(tmp_path), "GITHUB_STEP_SUMMARY": str(summary)}
    result = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = summary.read_text()
    assert "### Deploy order: `stg` unchanged" in text
    assert ("### Deploy order: `prod` (changed against the base)\n\n"
            "```mermaid\ngraph TD; a-->c\n```") in text
    # a base without the graph command: the head's graph, labelled
    (work / ".base" / "tooling" / "graph.py").unlink()
    summary.write_text("")
    subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, check=True,
                   capture_output=True, timeout=60)
    assert summary.read_text().count("(the base has no graph to compare)") == 2


# --- 7. the state export upload ---------------------------------------------------------------

UPLOAD = ROOT / ".github/actions/state-export/upload.sh"


def export_steps() -> list[tuple[str, dict, dict]]:
    found = []
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            for step in job.get("steps", []):
                if uses(step, "./.github/actions/state-export"):
                    found.append((f"{path.name}:{name}", job, step))
    return found


def test_deploys_keep_the_export_with_its_own_bucket_endpoint_and_credentials():
    found = export_steps()
    assert [where for where, _, _ in found] == ["deploy-prod.yml:apply", "deploy-stg.yml:apply"]
    for where, job, step in found:
        deploy = step_index(job, lambda s: "--apply-plan" in s.get("run", ""))
        assert job["steps"].index(step) > deploy and step["if"] == "always()", where
        assert step["env"] == {
            "AWS_ACCESS_KEY_ID": "${{ secrets.EXPORT_ACCESS_KEY_ID }}",
            "AWS_SECRET_ACCESS_KEY": "${{ secrets.EXPORT_SECRET_ACCESS_KEY }}",
        }, where
        assert step["with"]["bucket-url"] == "${{ vars.EXPORT_BUCKET_URL }}"
        assert step["with"]["endpoint-url"] == "${{ vars.S3_ENDPOINT_URL }}"
        assert step["with"]["directory"] == "${{ runner.temp }}/state-backups"
        deploy_env = job["steps"][deploy]["env"]
        assert deploy_env["PLATE_BACKUP_DIR"] == "${{ runner.temp }}/state-backups"
        assert deploy_env["AWS_ACCESS_KEY_ID"] == "${{ secrets.STATE_ACCESS_KEY_ID }}"
    for path in WORKFLOWS:
        assert "aws s3" not in path.read_text(), path.name  # only through the action


def upload(tmp_path, aws_exit: int = 0, files: bool = True, **env: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    # stand-in aws: `aws s3 cp SRC DST` whose transfer fails exits 1 ("at least one or more s3
    # transfers failed", aws/aws-cli awscli/topics/return-codes.rst) and reports "upload failed:
    # <src> to <dst> <error>" (awscli/customizations/s3/results.py, the failed-upload format)
    (bin_dir / "aws").write_text(
        "#!/usr/bin/env bash\n"
        "echo \"$AWS_DEFAULT_REGION aws $*\" >> \"$AWS_LOG\"\n"
        f"[ {aws_exit} -eq 0 ] || echo \"upload failed: ${{@: -2:1}} to ${{@: -1}} Could not "
        "connect to the endpoint URL: \\\"$S3_ENDPOINT_URL\\\"\" >&2\n"
        f"exit {aws_exit}\n")
    (bin_dir / "aws").chmod(0o755)
    backups = tmp_path / "backups"
    backups.mkdir(exist_ok=True)
    if files:
        (backups / "prod-state-before-abc123.json").write_text("{}")
    log = tmp_path / "aws.log"
    log.write_text("")
    full_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AWS_LOG": str(log),
                "STACK": "prod", "BACKUP_DIR": str(backups),
                "EXPORT_BUCKET_URL": "s3://plate-state-exports/", **env}
    result = subprocess.run(["bash", str(UPLOAD)], env=full_env, capture_output=True, text=True,
                            timeout=60)
    return result, log.read_text()


def test_the_export_upload_names_the_endpoint_for_minio_and_ceph(tmp_path):
    result, log = upload(tmp_path, S3_ENDPOINT_URL="https://minio.lan:9000")
    assert result.returncode == 0, result.stderr
    assert log == (f"us-east-1 aws s3 cp --endpoint-url https://minio.lan:9000 --only-show-errors "
                   f"{tmp_path}/backups/prod-state-before-abc123.json "
                   f"s3://plate-state-exports/prod/prod-state-before-abc123.json\n")
    result, log = upload(tmp_path, S3_ENDPOINT_URL="", S3_REGION="eu-central-1")
    assert log.startswith("eu-central-1 aws s3 cp --only-show-errors ")  # AWS itself


@pytest.mark.parametrize(("kwargs", "warning"), [
    ({"aws_exit": 1}, "failed (exit 1): the export is still in this run's artifact"),
    ({"files": False}, "the deploy stopped before its export"),
    ({"EXPORT_BUCKET_URL": ""}, "EXPORT_BUCKET_URL is not set"),
])
def test_an_upload_problem_is_a_warning_not_a_failed_deploy(tmp_path, kwargs, warning):
    result, _ = upload(tmp_path, **kwargs)
    assert result.returncode == 0
    assert "::warning::state export upload:" in result.stdout and warning in result.stdout


# --- 8. the audit trail -----------------------------------------------------------------------


def test_stg_updates_name_the_merged_pull_request(tmp_path):
    jobs = jobs_of("deploy-stg.yml")
    audit, apply = jobs["audit"], jobs["apply"]
    assert audit["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert apply["if"] == "${{ !cancelled() && needs.plan.result == 'success' }}"
    step = next(s for s in apply["steps"] if "--apply-plan" in s.get("run", ""))
    assert step["env"]["PLATE_AUDIT_PR"] == "${{ needs.audit.outputs.pr }}"
    assert step["env"]["PLATE_AUDIT_PR_TITLE"] == "${{ needs.audit.outputs.title }}"
    script = audit["steps"][0]["run"]
    assert "repos/$REPO/commits/$SHA/pulls" in script

    def look_up(answer: str, code: int = 0) -> dict[str, str]:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        # what `gh api --jq` prints, and its exit status (see FAKE_GH for the contract)
        (tmp_path / "answer").write_text(answer)
        (bin_dir / "gh").write_text(f"#!/usr/bin/env bash\ncat {tmp_path / 'answer'}\n"
                                    f"exit {code}\n")
        (bin_dir / "gh").chmod(0o755)
        output = tmp_path / "output"
        output.write_text("")
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "REPO": "plate/platform",
               "SHA": "abc", "GITHUB_OUTPUT": str(output)}
        subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], env=env, check=True,
                       capture_output=True, timeout=60)
        return dict(line.split("=", 1) for line in output.read_text().splitlines())

    assert look_up("42 Bump harbor to 1.19.2\n") == {"number": "42",
                                                     "title": "Bump harbor to 1.19.2"}
    # a title cannot add lines to the step's outputs
    assert look_up("7 Two\nlines=x\n") == {"number": "7", "title": "Twolines=x"}
    assert look_up("") == {"number": "", "title": ""}
    assert look_up("", code=1) == {"number": "", "title": ""}  # never blocks the deploy


def test_prod_updates_carry_the_reason_and_keep_the_state_before():
    apply = jobs_of("deploy-prod.yml")["apply"]
    step = next(s for s in apply["steps"] if "--apply-plan" in s.get("run", ""))
    assert step["env"]["PLATE_AUDIT_REASON"] == "${{ inputs.reason }}"
    keep = next(s for s in apply["steps"] if uses(s, "./.github/actions/state-export"))
    assert keep["with"]["stack"] == "prod"
    assert keep["with"]["sha"] == "${{ needs.release-check.outputs.sha }}"
    action = load(ROOT / ".github/actions/state-export/action.yml")
    artifact = next(s for s in action["runs"]["steps"] if uses(s, "actions/upload-artifact@"))
    assert artifact["with"]["name"].startswith(
        "${{ inputs.stack }}-state-before-${{ inputs.sha }}")
    assert artifact["with"]["path"] == (
        "${{ inputs.directory }}/${{ inputs.stack }}-state-*.json")
    assert "prod-state-before-<sha>" in DOCS


# --- 9. secrets in git: the stack file's encryptionsalt ---------------------------------------

STACK_CHECK = ROOT / ".github/actions/stack-file-check/check.sh"


def test_the_stack_file_check_names_the_file_and_the_command(tmp_path):
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "config:\n  plate-platform:grafana_admin_password:\n    secure: v1:abc\n")
    result = subprocess.run(["bash", str(STACK_CHECK), "prod", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stdout.startswith("::error file=Pulumi.prod.yaml::Pulumi.prod.yaml has no "
                                    "encryptionsalt line")
    assert "`pulumi stack init prod --secrets-provider passphrase`" in result.stdout
    assert "`pulumi stack change-secrets-provider passphrase --stack prod`" in result.stdout
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "encryptionsalt: v1:c2FsdA==:v1:aXY=:dGFn\n" + (tmp_path / "Pulumi.prod.yaml").read_text())
    result = subprocess.run(["bash", str(STACK_CHECK), "prod", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "1 secure: values" in result.stdout
    result = subprocess.run(["bash", str(STACK_CHECK), "qa", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Pulumi.qa.yaml does not exist" in result.stdout


def test_every_job_with_the_passphrase_checks_the_stack_file_first():
    seen = 0
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            if "PULUMI_CONFIG_PASSPHRASE" not in yaml.safe_dump(job):
                continue
            seen += 1
            check = step_index(job, lambda s: uses(s, "./.github/actions/stack-file-check"))
            stacks = matrix_values(job, job["steps"][check]["with"]["stack"])
            assert stacks == matrix_values(job, job["environment"].split("-")[0]), (path, name)
            first = min(i for i, s in enumerate(job["steps"])
                        if re.search(r"\b(ops\.deploy|ops\.drift check|pulumi (up|preview))\b",
                                     s.get("run", "")))
            assert check < first, (path.name, name)
    assert seen == 5  # stg plan and apply, prod plan and apply, drift


# --- drift ------------------------------------------------------------------------------------


def test_drift_checks_the_reviewed_deployed_commit_and_reports_one_issue_per_stack():
    jobs = jobs_of("drift.yml")
    drift, report = jobs["drift"], jobs["report"]
    assert drift["strategy"]["matrix"]["stack"] == ["stg", "prod"]
    assert drift["environment"] == "${{ matrix.stack }}-preview"
    deployed = next(s for s in drift["steps"] if uses(s, "./.github/actions/deployed-commit"))
    assert deployed["with"]["mode"] == "reviewed"
    assert "ops.drift check" in runs(drift) and "ops.drift deployed-commit" in runs(drift)
    assert drift["permissions"] == {"contents": "read"}  # no issue rights where credentials are
    assert report["permissions"] == {"issues": "write"} and "environment" not in report
    assert "gh issue create" in report["steps"][-1]["run"]
    assert jobs["deploying"]["permissions"] == {"actions": "read"}


def test_drift_issues_are_assigned_and_closed_when_the_stack_is_back_in_line():
    """Before, drift issues were unassigned and stayed open after the drift was fixed."""
    jobs = jobs_of("drift.yml")
    check = next(s for s in jobs["drift"]["steps"] if s.get("id") == "check")
    # exit 0 of ops.drift check (no drift) leaves a marker the report job acts on
    assert '"$code" -eq 0' in check["run"] and 'drift-$STACK.clean' in check["run"]
    keep = next(s for s in jobs["drift"]["steps"] if uses(s, "actions/upload-artifact"))
    assert keep["if"] == (
        "steps.check.outputs.drifted == 'true' || steps.check.outputs.clean == 'true'"
    )
    script = jobs["report"]["steps"][-1]["run"]
    assert 'gh issue close "$number"' in script and 'if [ -f "drift-$STACK.clean" ]' in script
    assert '--assignee "$ASSIGNEES"' in script and "--label drift" in script
    assert jobs["report"]["steps"][-1]["env"]["ASSIGNEES"] == "${{ vars.DRIFT_ASSIGNEES }}"


# --- 10. the docs name every setting the workflows read ---------------------------------------


def test_docs_name_every_variable_secret_and_setting():
    used: set[str] = set()
    for path in [*WORKFLOWS, *ACTIONS]:
        used.update(re.findall(r"\b(?:vars|secrets)\.([A-Z0-9_]+)", path.read_text()))
    assert used >= {"EXPORT_BUCKET_URL", "S3_ENDPOINT_URL", "EXPORT_ACCESS_KEY_ID",
                    "EXPORT_SECRET_ACCESS_KEY", "STATE_ACCESS_KEY_ID", "PULUMI_BACKEND_URL"}
    for name in used:
        assert f"`{name}`" in DOCS, name
    for phrase in (
        "passwordless sudo", ".ci/install-debian-tools", ".pulumi.version", "encryptionsalt",
        "Selected workflows", "queue: max", "artifact-ids", "--expect-sha", "TOTAL_BUDGET_MINUTES",
        "Failed preview", "Failed `up`", "Failed health gate",
        "never import the pre-`up` export after a successful `up`",
    ):
        assert phrase in DOCS, phrase
    assert "STATE_BACKUP_URL" not in DOCS  # the old single-bucket variable is gone


# --- ops scripts ------------------------------------------------------------------------------


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
    # the tag matches the pin; the image digests a prod release also needs are
    # tests/operations/test_pin_digests.py's
    assert not any("gitops.target_revision" in line
                   for line in (release_problem("prod", "v1.0.0") or "").splitlines())
    problem = release_problem("prod", "v1.1.0")
    assert problem is not None
    assert problem.splitlines()[0] == (
        "tag 'v1.1.0' does not match gitops.target_revision 'v1.0.0' in Pulumi.prod.yaml: bump the "
        "pin, run `python -m tooling.children --write`, commit, then tag that commit"
    )


def test_scripts_are_executable_shell():
    for script in (RELEASE_CHECK, DEPLOYED, UPLOAD, STACK_CHECK):
        assert os.access(script, os.X_OK), script
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert shutil.which("bash")


def test_review_fixes_release_check_from_main_tests_before_credentials_exec_and_pipefail():
    """Found in review: the prod release check ran the tag's own copy of itself (a tag could
    vouch for an unmerged commit); the plan jobs ran the test suite (and its package installs)
    with the kubeconfig written and state keys in the environment; a cancelled apply's signal
    never reached ops.deploy; a failed re-read of the deployed commit hid real drift; the stg
    gate could not fetch a commit merged during the deploy."""
    check = jobs_of("deploy-prod.yml")["release-check"]
    checkout = next(s for s in check["steps"] if uses(s, "actions/checkout"))
    assert checkout["with"]["ref"] == (
        "${{ github.event_name == 'workflow_dispatch' && github.sha || github.ref }}"
    )
    for path, job in (("deploy-prod.yml", "plan"), ("deploy-stg.yml", "plan")):
        steps = jobs_of(path)[job]["steps"]
        names = [s.get("name") or s.get("uses", "") for s in steps]
        tests = names.index("Tests")
        setup = next(i for i, n in enumerate(names) if "pulumi-setup" in n)
        assert tests < setup, path
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(
            jobs_of(path)[job].get("env", {})
        ), path
    for path in ("deploy-prod.yml", "deploy-stg.yml"):
        assert "exec uv run python -m ops.deploy" in runs(jobs_of(path)["apply"]), path
    stg_apply = runs(jobs_of("deploy-stg.yml")["apply"])
    assert 'GIT_CONFIG_KEY_0="http.${GITHUB_SERVER_URL}/.extraheader"' in stg_apply
    drift = next(s for s in jobs_of("drift.yml")["drift"]["steps"] if s.get("id") == "check")
    assert "set -o pipefail" in drift["run"] and 'if [ -z "$now" ]' in drift["run"]
