"""checkov (Kubernetes framework) over the project's own objects: what the program creates and
what the plate charts render, for both stacks (not the upstream charts: their findings are their
projects').

The objects are written one per file to a temporary folder the way the cluster receives them:
the program's from the offline render (tooling/render.py), the charts' as Argo CD renders their
child Applications (tests/engines/test_charts.py), with the applications' namespace where a
namespaced object has none (Argo CD applies them into `plate-<env>`). checkov runs once for the
module.

Verifies: checkov parses every file and reports 0 failed checks; every finding it skips is
suppressed on the object itself (`checkov.io/skip<N>` annotations, components/kube.py
`checkov_skips` and helm/plate-common `plate-common.checkovSkips`) with a reason, and only the
checks the project has decided to accept are suppressed; the written objects carry integers as
integers (no `65532.0`), which checkov would otherwise misread; Renovate finds the pin below.

checkov runs in its own environment (`uv tool run`), pinned here: it requires packaging<24, which
the Pulumi SDKs of the project exclude, so it cannot be a dev dependency of the same environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.gitops import apps as gitops
from tests.engines import test_charts as charts
from tests.harness import STACKS, rendered
from tooling.render import CLUSTER_SCOPED, PROGRAM
from tooling.rendered import to_yaml

CHECKOV = "checkov==3.3.30"
# the findings the project accepts, each suppressed on its objects with the reason there
ACCEPTED = {
    "CKV_K8S_8", "CKV_K8S_9",  # the OpenBao snapshot shelf: nothing to probe
    "CKV_K8S_11",  # plate workloads and the sign-in proxy: no CPU limit
    "CKV_K8S_15", "CKV_K8S_43",  # tag-pinned images
    "CKV_K8S_35",  # secrets in the environment (plate apps, Harbor bootstrap, external-dns)
    "CKV_K8S_38",  # the program's Jobs use their ServiceAccount token
    "CKV2_K8S_2",  # Velero's pods/exec for backup hooks, in harbor only
}


def _objects(stack: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, object) of the program's objects and the plate charts' objects of `stack`."""
    for obj in rendered(stack).objects:
        if obj.source == PROGRAM:
            yield f"{PROGRAM}/{obj.kind}.{obj.namespace}.{obj.name}", obj.body
    namespace = gitops.apps_namespace(charts.config(stack))
    for app in charts.APPS:
        for body in charts.rendered(app, stack):
            metadata = dict(body["metadata"])
            if body["kind"] not in CLUSTER_SCOPED:
                metadata.setdefault("namespace", namespace)
            yield f"{app}/{body['kind']}.{metadata['name']}", {**body, "metadata": metadata}


@pytest.fixture(scope="module")
def written() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="plate-checkov-"))
    for stack in STACKS:
        for name, body in _objects(stack):
            path = folder / stack / f"{name}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(to_yaml(body))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def report(written: Path) -> dict[str, Any]:
    uv = shutil.which("uv")
    assert uv, "uv runs checkov in its own environment (.ci/run installs uv)"
    result = subprocess.run(
        [uv, "tool", "run", "--from", CHECKOV, "checkov", "--directory", str(written),
         "--framework", "kubernetes", "--output", "json", "--soft-fail", "--skip-download"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _where(check: dict[str, Any]) -> str:
    return f"{check['check_id']} {check['file_path']} {check['resource']}"


def test_checkov_parses_every_object_and_nothing_fails(report, written):
    summary = report["summary"]
    files = sorted(written.rglob("*.yaml"))
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= len(files) > 100
    scanned = {c["file_path"] for kind in ("passed_checks", "failed_checks", "skipped_checks")
               for c in report["results"][kind]}
    workloads = [f for f in files if f.name.split(".")[0] in {"Deployment", "StatefulSet", "Job",
                                                              "CronJob", "DaemonSet"}]
    assert workloads and {f"/{f.relative_to(written)}" for f in workloads} <= scanned
    assert [_where(c) for c in report["results"]["failed_checks"]] == []


def test_every_suppression_is_on_the_object_with_its_reason(report):
    skipped = report["results"]["skipped_checks"]
    assert skipped
    for check in skipped:
        comment = check["check_result"].get("suppress_comment", "")
        assert comment and comment != "No comment provided", _where(check)
    assert {c["check_id"] for c in skipped} <= ACCEPTED


def test_suppressions_are_exactly_the_accepted_ones_per_object(report):
    by_object: dict[str, set[str]] = {}
    for check in report["results"]["skipped_checks"]:
        stack, source = check["file_path"].split("/")[1:3]
        by_object.setdefault(f"{stack} {source} {check['resource']}", set()).add(
            check["check_id"]
        )
    program_pod = {"CKV_K8S_15", "CKV_K8S_38", "CKV_K8S_43"}
    for stack in STACKS:
        for namespace, name in (("cert-manager", "cert-manager"),
                                ("external-secrets", "external-secrets"),
                                ("metallb-system", "metallb")):
            webhook_gate = f"{stack} program Job.{namespace}.{name}-webhook-ready"
            assert by_object[webhook_gate] == program_pod
        assert by_object[f"{stack} program Job.harbor.harbor-bootstrap"] == {
            *program_pod, "CKV_K8S_35"
        }
        assert by_object[f"{stack} program CronJob.openbao.openbao-snapshot"] == program_pod
        assert by_object[f"{stack} program Deployment.openbao.openbao-snapshot-shelf"] == {
            "CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_15", "CKV_K8S_43"
        }
        assert by_object[f"{stack} program RoleBinding.harbor.velero-backup-hooks"] == {
            "CKV2_K8S_2"
        }
        assert by_object[f"{stack} program Deployment.monitoring.oauth2-proxy"] == {
            "CKV_K8S_11", "CKV_K8S_15", "CKV_K8S_43"
        }
        for app in charts.APPS:
            kind = "StatefulSet" if app == "plate-cache" else "Deployment"
            expected = {"CKV_K8S_11", "CKV_K8S_35"}
            if not charts.argo_values(app, stack).get("image", {}).get("digest"):
                expected |= {"CKV_K8S_15", "CKV_K8S_43"}
            assert by_object[f"{stack} {app} {kind}.plate-{stack}.{app}"] == expected


def _floats(node: Any, path: str = "") -> list[str]:
    if isinstance(node, float):
        return [path]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _floats(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _floats(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("stack", STACKS)
def test_written_objects_carry_integers_as_integers(stack):
    import yaml

    found = []
    for name, body in _objects(stack):
        found += [f"{name}{p}" for p in _floats(yaml.safe_load(to_yaml(body)))]
    assert found == []
    shelf = next(b for n, b in _objects(stack) if n.endswith("Deployment.openbao.openbao-"
                                                              "snapshot-shelf"))
    run_as = shelf["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert (type(run_as), run_as) == (int, 65532)


def test_renovate_finds_the_checkov_pin():
    from tests.unit.test_code_shape import _extracted

    assert _extracted("tests/engines/test_checkov.py") == [
        {"datasource": "pypi", "depName": "checkov", "currentValue": CHECKOV.split("==")[1]}
    ]
