"""The deploy-order picture (`tooling/graph.py`) of both committed stacks, under the mock runtime.

Verifies: the kept nodes are exactly the charts, gates, Jobs, CronJob, ClusterIssuers, MetalLB pool
and advertisement, StorageClasses, secret store, AppProjects and root Application, each in its tier,
and every chart has a modeled duration of its own; the order between kept nodes is the recorded
one (whatever the recording orders, directly or through collapsed resources, the graph orders
too); the ClusterIssuers come right after the cert-manager gate; there is no cycle and no
redundant edge; the critical path is a path of the graph, its total is the sum of its nodes'
durations and no path is longer, it ends at the root Application, and for prod it is the
MetalLB-Traefik-Harbor chain; the Mermaid parses structurally (ids unique, every edge's ends and
every class member declared, subgraphs balanced, the linkStyle indices are the critical path's
edges); the SVG is well-formed XML with one box per node and one arrow per edge; the command's
output is byte-identical across two runs and its stdout is the Mermaid file. Also the collapse on a
small hand-made recording.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.harness import STACKS, recorded
from tooling import graph as g
from tooling.evaluate import Recording, Registered

SVG = "{http://www.w3.org/2000/svg}"

COMMON = {
    # tier 1
    "Chart/cert-manager": "ClusterServices",
    "Chart/metallb": "ClusterServices",
    "Chart/csi-driver-nfs": "ClusterServices",
    "Chart/traefik": "ClusterServices",
    "WebhookGate/cert-manager-webhook-ready": "ClusterServices",
    "WebhookGate/metallb-webhook-ready": "ClusterServices",
    "ClusterIssuer/letsencrypt-production": "ClusterServices",
    "ClusterIssuer/letsencrypt-staging": "ClusterServices",
    "ClusterIssuer/plate-internal-ca": "ClusterServices",
    "IPAddressPool/metallb-pool": "ClusterServices",
    "L2Advertisement/metallb-l2": "ClusterServices",
    "StorageClass/nfs-storage-class": "ClusterServices",
    "StorageClass/local-path-storage-class": "ClusterServices",
    # tier 2
    "Chart/argo-cd": "DevTools",
    "Chart/harbor": "DevTools",
    "Chart/kube-prometheus-stack": "DevTools",
    "Chart/fluentd": "DevTools",
    "Chart/openbao": "DevTools",
    "Chart/external-secrets": "DevTools",
    "WebhookGate/external-secrets-webhook-ready": "DevTools",
    "Job/harbor-bootstrap": "DevTools",
    "CronJob/harbor-bootstrap-rotate-push": "DevTools",
    "Job/break-glass-escrow": "DevTools",
    "Chart/velero": "Backups",
    "CronJob/openbao-snapshot": "Backups",
    # tier 3
    "AppProject/apps-project": "Applications",
    "AppProject/bootstrap-project": "Applications",
    "AppProjectPatch/default-project-locked": "Applications",
    "Application/root-app": "Applications",
}
EXPECTED = {stack: COMMON | {f"ClusterSecretStore/openbao-{stack}": "DevTools"} for stack in STACKS}
PROD_CRITICAL = [
    ("Chart/metallb", 60),
    ("WebhookGate/metallb-webhook-ready", 30),
    ("IPAddressPool/metallb-pool", 1),
    ("L2Advertisement/metallb-l2", 1),
    ("Chart/traefik", 45),
    ("Chart/harbor", 300),
    ("Job/harbor-bootstrap", 60),
    ("AppProject/apps-project", 1),
    ("Application/root-app", 1),
]


@functools.cache
def graph(stack: str) -> g.Graph:
    return g.build(recorded(stack), stack)


def by_label(gr: g.Graph) -> dict[str, g.Node]:
    return {n.label: n for n in gr.nodes}


def reachable(gr: g.Graph) -> dict[str, set[str]]:
    """Node id -> the ids that come after it (transitively)."""
    after: dict[str, set[str]] = {n.id: set() for n in gr.nodes}
    for node_id in reversed(g.topological([n.id for n in gr.nodes], gr.edges)):
        for a, b in gr.edges:
            if a == node_id:
                after[node_id] |= {b} | after[b]
    return after


# --- what is drawn ------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_nodes_are_what_orders_a_deploy_each_in_its_tier(stack):
    gr = graph(stack)
    tiers = {t.urn: t.title for t in gr.tiers}
    assert {n.label: tiers[n.tier] for n in gr.nodes} == EXPECTED[stack]
    assert [t.title for t in gr.tiers] == ["ClusterServices", "DevTools", "Backups", "Applications"]
    backups = next(t for t in gr.tiers if t.title == "Backups")
    assert tiers[backups.parent] == "DevTools"  # as the program registers it


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_is_a_node_with_a_duration_of_its_own(stack):
    rec = recorded(stack)
    charts = {r.name for r in rec.by_type(g.CHART_TYPE)}
    assert len(charts) == 11
    assert {n.name for n in graph(stack).nodes if n.kind == "Chart"} == charts
    assert charts <= set(g.CHART_ROLLOUT)  # a new chart needs its row in the table
    assert all(n.seconds > 0 and n.model.why for n in graph(stack).nodes)


@pytest.mark.parametrize("stack", STACKS)
def test_durations_come_from_the_table_by_kind(stack):
    nodes = by_label(graph(stack))
    assert nodes["Chart/harbor"].model == g.CHART_ROLLOUT["harbor"]
    assert nodes["WebhookGate/cert-manager-webhook-ready"].model == g.KIND_MODEL["WebhookGate"]
    assert nodes["Job/harbor-bootstrap"].model == g.KIND_MODEL["Job"]
    assert nodes["CronJob/openbao-snapshot"].model == g.KIND_MODEL["CronJob"]
    # the store carries pulumi.com/waitFor; the issuers do not
    assert nodes[f"ClusterSecretStore/openbao-{stack}"].model == g.AWAITED_RESOURCE
    assert nodes["ClusterIssuer/letsencrypt-production"].model == g.CREATED
    assert nodes["Application/root-app"].model == g.CREATED


# --- order --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_no_cycle_no_self_loop_no_redundant_edge(stack):
    gr = graph(stack)
    ids = [n.id for n in gr.nodes]
    assert sorted(g.topological(ids, gr.edges)) == sorted(ids)  # raises on a cycle
    assert all(a != b for a, b in gr.edges)
    assert len(set(gr.edges)) == len(gr.edges)
    after = reachable(gr)
    for a, b in gr.edges:  # no edge is implied by a longer path
        assert not any(b in after[c] for x, c in gr.edges if x == a and c != b), (a, b)


@pytest.mark.parametrize("stack", STACKS)
def test_the_recorded_order_between_kept_nodes_is_kept(stack):
    """Whenever a resource of kept node B waits (transitively, through anything) for a resource of
    kept node A, B comes after A in the graph."""
    rec, gr = recorded(stack), graph(stack)
    rep = g.representatives(rec)
    id_of = {n.label: n.id for n in gr.nodes}
    by_urn = {r.urn: r for r in rec.resources}
    node_of = {urn: id_of[Recording.label(by_urn[k])] for urn, k in rep.items()}

    @functools.cache
    def upstream(urn: str) -> frozenset[str]:
        r = by_urn.get(urn)
        deps = r.dependencies if r else []
        return frozenset(deps).union(*(upstream(d) for d in deps))

    after = reachable(gr)
    checked = 0
    for urn, node_id in node_of.items():
        for before in upstream(urn):
            if before in node_of and node_of[before] != node_id:
                assert node_id in after[node_of[before]], (Recording.label(by_urn[before]), urn)
                checked += 1
    assert checked > 100


@pytest.mark.parametrize("stack", STACKS)
def test_the_cluster_issuers_come_right_after_the_cert_manager_gate(stack):
    gr = graph(stack)
    nodes = by_label(gr)
    chart, gate = nodes["Chart/cert-manager"].id, nodes["WebhookGate/cert-manager-webhook-ready"].id
    issuers = {n.id for n in gr.nodes if n.kind == "ClusterIssuer"}
    assert len(issuers) == 3  # Let's Encrypt staging and production, the internal CA
    assert {(gate, i) for i in issuers} <= set(gr.edges)
    assert (chart, gate) in gr.edges and gr.preds(gate) == [chart]
    assert all(gr.preds(i) == [gate] for i in issuers)
    # the gate's Job and its RBAC are folded into the gate
    rep = g.representatives(recorded(stack))
    rec = recorded(stack)
    job = rec.named("Job/cert-manager-webhook-ready")
    assert rep[job.urn] == rec.named("WebhookGate/cert-manager-webhook-ready").urn


@pytest.mark.parametrize("stack", STACKS)
def test_the_charts_wait_for_what_the_readme_says(stack):
    gr = graph(stack)
    nodes = by_label(gr)
    after = reachable(gr)

    def before(a: str, b: str) -> bool:
        return nodes[b].id in after[nodes[a].id]

    assert before("L2Advertisement/metallb-l2", "Chart/traefik")
    for chart in ("argo-cd", "harbor", "kube-prometheus-stack", "openbao"):
        assert before("Chart/traefik", f"Chart/{chart}")
        assert before("ClusterIssuer/letsencrypt-production", f"Chart/{chart}")
    for chart in ("harbor", "kube-prometheus-stack", "openbao"):
        assert before("StorageClass/nfs-storage-class", f"Chart/{chart}")
    assert before("Chart/harbor", "Job/harbor-bootstrap")
    assert before("Chart/openbao", "Job/harbor-bootstrap")
    assert before("Chart/openbao", "Job/break-glass-escrow")
    assert before("Chart/openbao", f"ClusterSecretStore/openbao-{stack}")
    store = f"ClusterSecretStore/openbao-{stack}"
    assert before("WebhookGate/external-secrets-webhook-ready", store)
    assert gr.preds(nodes["Chart/fluentd"].id) == [] == gr.preds(nodes["Chart/external-secrets"].id)
    root = nodes["Application/root-app"].id
    assert all(root in after[n.id] for n in gr.nodes if n.kind == "Chart")
    assert not after[root]  # nothing waits for it


# --- the critical path --------------------------------------------------------------------------


def longest_by_search(gr: g.Graph) -> int:
    """The longest path's total, by trying every path (independent of `g.critical_path`)."""
    seconds = {n.id: n.seconds for n in gr.nodes}

    @functools.cache
    def longest_from(node_id: str) -> int:
        nexts = [b for a, b in gr.edges if a == node_id]
        return seconds[node_id] + max((longest_from(b) for b in nexts), default=0)

    return max(longest_from(n.id) for n in gr.nodes)


@pytest.mark.parametrize("stack", STACKS)
def test_the_critical_path_is_a_longest_path_and_ends_at_the_root(stack):
    gr = graph(stack)
    path = gr.critical
    assert len(path) == len(set(path)) >= 2
    assert all(edge in gr.edges for edge in zip(path, path[1:]))
    assert gr.preds(path[0]) == []  # starts where nothing is awaited
    assert gr.total == sum(gr.node(n).seconds for n in path)
    assert gr.total == longest_by_search(gr) == max(g.finish_times(gr).values())
    assert gr.node(path[-1]).label == "Application/root-app"


def test_the_critical_path_of_prod():
    gr = graph("prod")
    assert [(gr.node(n).label, gr.node(n).seconds) for n in gr.critical] == PROD_CRITICAL
    assert gr.total == 499
    summary = g.path_summary(gr)
    assert summary[0] == "critical path: 499 s (8 min 19 s), modeled, not measured"
    assert summary[-1].split() == ["9.", "Application/root-app", "1", "s", "done", "at", "499", "s"]


# --- Mermaid ------------------------------------------------------------------------------------

NODE = re.compile(r'^\s*([A-Za-z][A-Za-z0-9_]*)\["([^"]*)"\]$')
EDGE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*) --> ([A-Za-z][A-Za-z0-9_]*)$")
SUBGRAPH = re.compile(r'^\s*subgraph ([A-Za-z][A-Za-z0-9_]*)\["([^"]*)"\]$')


def parse_mermaid(text: str) -> dict:
    """A structural parse of the flowchart `tooling.graph` writes; fails on any other line."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    found: dict = {"nodes": [], "edges": [], "subgraphs": [], "class": [], "links": [], "depth": 0}
    depth = 0
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("%%"):
            assert not stripped.startswith("%%{")  # a comment, never a directive
        elif m := SUBGRAPH.match(line):
            found["subgraphs"].append(m.group(1))
            depth += 1
        elif stripped == "end":
            depth -= 1
            assert depth >= 0
        elif m := NODE.match(line):
            found["nodes"].append(m.group(1))
        elif m := EDGE.match(line):
            found["edges"].append((m.group(1), m.group(2)))
        elif stripped.startswith("classDef critical "):
            pass
        elif stripped.startswith("class "):
            ids, name = stripped.removeprefix("class ").split(" ")
            assert name == "critical"
            found["class"] = ids.split(",")
        elif stripped.startswith("linkStyle "):
            found["links"] = [int(i) for i in stripped.split(" ")[1].split(",")]
        else:
            raise AssertionError(f"unexpected Mermaid line: {line!r}")
    assert depth == 0
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_the_mermaid_parses_structurally(stack):
    gr = graph(stack)
    text = g.to_mermaid(gr)
    parsed = parse_mermaid(text)
    declared = parsed["nodes"]
    assert len(declared) == len(set(declared)) == len(gr.nodes)
    assert len(parsed["subgraphs"]) == len(set(parsed["subgraphs"])) == 4
    assert not set(declared) & set(parsed["subgraphs"])
    assert all(a in declared and b in declared for a, b in parsed["edges"])
    assert parsed["edges"] == gr.edges
    assert parsed["class"] == gr.critical
    styled = [parsed["edges"][i] for i in parsed["links"]]
    assert len(styled) == len(set(styled)) == len(gr.critical) - 1
    assert set(styled) == set(zip(gr.critical, gr.critical[1:]))
    assert "  %% critical path: " in text and text.endswith("\n")


def test_the_mermaid_nests_backups_in_dev_tools():
    lines = g.to_mermaid(graph("prod")).splitlines()
    start = lines.index('  subgraph tier_dev_tools["DevTools"]')
    inner = lines.index('    subgraph tier_backups["Backups"]')
    assert start < inner < lines.index("  end", start)
    assert '      chart_velero["velero<br/>Chart, 90 s"]' in lines


# --- SVG ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_svg_is_well_formed_with_a_box_per_node_and_an_arrow_per_edge(stack):
    gr = graph(stack)
    root = ET.fromstring(g.to_svg(gr).encode())
    assert root.tag == f"{SVG}svg"
    boxes = {el.get("id"): el for el in root.iter(f"{SVG}g")}
    assert set(boxes) == {n.id for n in gr.nodes}
    arrows = [p for p in root.iter(f"{SVG}path") if p.get("marker-end")]
    assert len(arrows) == len(gr.edges)
    red = [p for p in arrows if p.get("stroke") == g.CRITICAL_COLOUR]
    assert len(red) == len(gr.critical) - 1
    for node in gr.nodes:
        rect = boxes[node.id].find(f"{SVG}rect")
        assert rect is not None
        assert (rect.get("stroke") == g.CRITICAL_COLOUR) == (node.id in gr.critical)
        texts = [t.text for t in boxes[node.id].iter(f"{SVG}text")]
        assert texts == [node.name, f"{node.kind}, {node.seconds} s"]
    width, height = int(root.get("width", "0")), int(root.get("height", "0"))
    for rect in root.iter(f"{SVG}rect"):  # everything inside the canvas
        assert int(rect.get("x", "0")) + int(rect.get("width", "0")) <= width
        assert int(rect.get("y", "0")) + int(rect.get("height", "0")) <= height


def test_the_layers_are_longest_path_depths():
    gr = graph("prod")
    depth = g.layers(gr)
    nodes = by_label(gr)
    assert depth[nodes["Chart/metallb"].id] == 0
    assert depth[nodes["Chart/traefik"].id] == 4  # metallb, gate, pool, advertisement
    assert all(depth[b] > depth[a] for a, b in gr.edges)
    assert depth[nodes["Application/root-app"].id] == max(depth.values())


# --- the command --------------------------------------------------------------------------------


def test_the_command_writes_the_same_bytes_twice_and_prints_the_mermaid(tmp_path: Path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert g.main(["--stack", "prod", "--out", str(first)]) == 0
    printed = capsys.readouterr().out
    assert g.main(["--stack", "prod", "--out", str(second)]) == 0
    capsys.readouterr()
    for name in ("graph.mmd", "graph.svg"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert printed == (first / "graph.mmd").read_text() == g.to_mermaid(graph("prod"))
    assert (first / "graph.svg").read_text() == g.to_svg(graph("prod"))


def test_the_command_refuses_an_unknown_stack(capsys):
    assert g.main(["--stack", "nope"]) == 2
    assert "no stack file Pulumi.nope.yaml" in capsys.readouterr().err


# --- the collapse, on a hand-made recording -----------------------------------------------------


def registered(type_: str, name: str, parent: str = "", deps: tuple[str, ...] = ()) -> Registered:
    return Registered(
        type=type_, name=name, urn=f"urn:{type_}::{name}", parent=parent, custom=True,
        remote=False, protect=False, retain_on_delete=False,
        dependencies=[f"urn:{d}" for d in deps], transforms=0, inputs={},
    )


def test_minor_resources_are_collapsed_transitively_and_gates_fold_their_children():
    tier = registered("plate:platform:ClusterServices", "t")
    chart, secret = "kubernetes:helm.sh/v4:Chart", "kubernetes:core/v1:Secret"
    rec = Recording([
        tier,
        registered(chart, "a", tier.urn),
        registered(g.GATE_TYPE, "gate", tier.urn, (f"{chart}::a",)),
        registered("kubernetes:core/v1:ConfigMap", "probe", "urn:plate:platform:WebhookGate::gate"),
        registered(
            "kubernetes:batch/v1:Job", "gate-job", "urn:plate:platform:WebhookGate::gate",
            (f"{chart}::a", "kubernetes:core/v1:ConfigMap::probe"),
        ),
        registered(secret, "s1", tier.urn, ("kubernetes:batch/v1:Job::gate-job",)),
        registered(secret, "s2", tier.urn, (f"{secret}::s1",)),
        registered(chart, "b", tier.urn, ("kubernetes:core/v1:Secret::s2", f"{chart}::a")),
    ])
    gr = g.build(rec, "test")
    assert [n.label for n in gr.nodes] == ["Chart/a", "Chart/b", "WebhookGate/gate"]
    # b -> a is implied by b -> gate -> a: dropped
    assert gr.edges == [("chart_a", "webhookgate_gate"), ("webhookgate_gate", "chart_b")]
    assert gr.critical == ["chart_a", "webhookgate_gate", "chart_b"]
    assert gr.total == 2 * g.CHART_DEFAULT.seconds + g.KIND_MODEL["WebhookGate"].seconds
