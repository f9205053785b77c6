"""Who can read OpenBao's unseal key in the rendered stacks (tooling/rbac.py over every Role,
ClusterRole and binding the charts and the program render), against the allow-list in
docs/secret-readers.md.

Verifies, for both stacks: the readers of the unseal-key Secret are exactly the table's
identities, each row with its reasons; the scoping that removed readers holds in the render -
Grafana has a Role in its namespace and no ClusterRole, its sidecars watch ConfigMaps of that
namespace only, kube-state-metrics may not list Secrets, Velero is bound to the program's
read-only role instead of `cluster-admin`, that role reads no Secret and every API group of the
stack's CRDs, Velero may exec only into Harbor's pods (its backup hook) and has every right only
in its own namespace.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.tools import openbao
from components.tools import velero as velero_tool
from tests.harness import ROOT, STACKS, rendered
from tooling import rbac
from tooling.render import StackRender

TABLE = ROOT / "docs" / "secret-readers.md"
ROW = re.compile(r"^\| `(?P<who>[^`]+)` \| (?P<how>[^|]+) \| (?P<why>[^|]+) \|$")


def allowed(path: Path = TABLE) -> dict[str, str]:
    """identity -> reason, from the table's rows."""
    rows = [ROW.match(line) for line in path.read_text().splitlines()]
    return {m["who"]: m["why"].strip() for m in rows if m}


@pytest.fixture(scope="module", params=STACKS)
def stack(request) -> StackRender:
    return rendered(request.param)


def bodies(stack: StackRender) -> list[dict]:
    return [o.body for o in stack.objects]


def key_secret(stack: StackRender) -> str:
    return stack.cfg.dev_tools.openbao.unseal_key_secret or openbao.UNSEAL_KEY_SECRET


def test_the_table_parses_with_a_reason_for_every_row():
    table = allowed()
    assert len(table) == 11
    assert all(len(reason) > 20 for reason in table.values())


def test_readers_of_the_unseal_key_are_exactly_the_allowed_ones(stack):
    found = {str(s) for s in rbac.readers(bodies(stack), "openbao", key_secret(stack))}
    assert found == set(allowed())


def test_the_command_prints_the_readers(capsys):
    assert rbac.main(["--stack", "stg"]) == 0
    assert capsys.readouterr().out.splitlines() == sorted(allowed())


def _one(stack: StackRender, kind: str, name: str, namespace: str = "") -> dict:
    found = [o.body for o in stack.objects
             if o.kind == kind and o.name == name and o.namespace == namespace]
    assert len(found) == 1, f"{kind} {namespace}/{name}: {len(found)}"
    return found[0]


def test_grafana_reads_configmaps_of_its_namespace_only(stack):
    grafana = [o for o in stack.objects if o.source == "kube-prometheus-stack"
               and o.kind in ("Role", "ClusterRole") and "grafana" in o.name]
    assert [(o.kind, o.namespace) for o in grafana] == [("Role", "monitoring")]
    deployment = _one(stack, "Deployment", "kube-prometheus-stack-grafana", "monitoring")
    sidecars = {c["name"]: {e["name"]: e.get("value") for e in c.get("env", [])}
                for c in deployment["spec"]["template"]["spec"]["containers"]
                if c["name"].startswith("grafana-sc-")}
    assert set(sidecars) == {"grafana-sc-dashboard", "grafana-sc-datasources"}
    for env in sidecars.values():
        assert (env["NAMESPACE"], env["RESOURCE"]) == ("monitoring", "configmap")


def test_kube_state_metrics_may_not_list_secrets(stack):
    role = _one(stack, "ClusterRole", "kube-prometheus-stack-kube-state-metrics")
    assert not any(rbac.allows(r, "list", "", "secrets") for r in role["rules"])


def test_velero_backs_up_with_a_read_only_role_and_no_secret(stack):
    crb = _one(stack, "ClusterRoleBinding", "velero-server")
    assert crb["roleRef"]["name"] == velero_tool.BACKUP_ROLE
    assert crb["subjects"] == [
        {"kind": "ServiceAccount", "namespace": "velero", "name": velero_tool.SERVER_ACCOUNT}
    ]
    rules = _one(stack, "ClusterRole", velero_tool.BACKUP_ROLE)["rules"]
    assert all(set(r["verbs"]) == {"get", "list", "watch"} for r in rules)
    assert not any(rbac.allows(r, verb, "", "secrets") for r in rules
                   for verb in ("get", "list", "watch"))
    served = {o.body["spec"]["group"] for o in stack.objects
              if o.kind == "CustomResourceDefinition"}
    assert served <= set(velero_tool.GROUPS_READ)
    # what the server account holds, binding by binding
    held = [g for g in rbac.grants(bodies(stack))
            if g.subject == rbac.Subject("ServiceAccount", velero_tool.SERVER_ACCOUNT, "velero")]
    assert sorted({g.namespace for g in held}) == ["", "harbor", "velero"]
    assert [g.rule for g in held if g.namespace == "harbor"] == velero_tool.hooks_rules()
    assert not rbac.runs_code_in(held, "openbao")
    for schedule in (o.body for o in stack.objects if o.kind == "Schedule"):
        assert "secrets" in schedule["spec"]["template"]["excludedResources"]
