"""A picture of a stack's deploy order: the resources that matter for it, their dependencies and
the critical path, as Mermaid and SVG.

    uv run python -m tooling.graph --stack prod    # rendered/graph-prod/graph.mmd and .svg
    uv run python -m tooling.graph --stack stg --out /tmp/graph

The program runs under Pulumi's mock runtime (`tooling.evaluate`, as `tooling.render` runs it) and
every registration is read with its recorded dependencies (`depends_on` and the data edges the
engine receives). Kept as nodes: the charts (`kubernetes:helm.sh/v4:Chart`), the webhook gates
(`WebhookGate` components, their Job and its RBAC folded into one node), the other Jobs (the
Harbor bootstrap), the CronJobs (the OpenBao snapshot), the ClusterIssuers, MetalLB's
IPAddressPool and L2Advertisement (what Traefik's address waits for), the StorageClass, the
secret stores, the AppProjects (with the patch that locks `default`) and the root Application.
Every other resource (namespaces, Secrets, NetworkPolicies, monitors...) is collapsed: an edge
runs from kept node A to kept node B when B (or a resource folded into B) depends on A (or one
folded into A) directly or through collapsed resources only, so the order between kept nodes is
the program's. Edges implied
by others are then dropped (transitive reduction: same order, fewer arrows). The tier components
(ClusterServices, DevTools with Backups inside it, Applications) are the Mermaid subgraphs and
the SVG's colours. Arrows point from what deploys first to what waits for it.

Durations are MODELS, NOT MEASUREMENTS: nobody timed a deploy to write them. Each node gets the
seconds of one row of the tables below, chosen by its kind; a collapsed resource counts as 0 s
(one API call each, and most run in parallel with the charts). The numbers come from:

- what Pulumi waits for (pulumi-kubernetes await logic, as the pinned SDK's resource docstrings
  state): what depends on a v4 Chart waits for every object it renders to be ready (Deployments
  available, StatefulSets and DaemonSets rolled out, a LoadBalancer Service with an address), on
  a Job for it to be Complete, on a custom resource only when that carries `pulumi.com/waitFor`;
  a StorageClass, a CronJob or a custom resource without it is one API call;
- what each chart renders for the committed stacks (`tooling.render`): its workloads, replicas,
  readiness and startup probes (initial delays, periods), ordered StatefulSets and the PVCs on NFS
  it waits for; the reason beside each chart names the facts used;
- an assumed 10-30 s for a pod on a bare-metal node to pull its image and start on a first
  install (an order of magnitude, not a benchmark).

So the critical path (the longest path by summed modeled seconds: with unlimited parallelism, the
shortest a first `pulumi up` could take) shows which chain decides the deploy time and how a new
dependency moves it; its total is an estimate. To replace a number with a measurement, time a
real `pulumi up --event-log <file>` (per-resource start and finish events) and edit the table.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from components.config import ConfigError
from tooling.evaluate import Recording, Registered, stack_file

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
GATE_TYPE = "plate:platform:WebhookGate"
# tier component type -> title, in deploy order (Backups is registered inside DevTools)
TIERS = {
    "plate:platform:ClusterServices": "ClusterServices",
    "plate:platform:DevTools": "DevTools",
    "plate:platform:Backups": "Backups",
    "plate:platform:Applications": "Applications",
}
# the kinds (last part of the Pulumi type) drawn as nodes; anything else is collapsed
KEPT_KINDS = frozenset({
    "Chart", "WebhookGate", "Job", "CronJob", "ClusterIssuer", "IPAddressPool",
    "L2Advertisement", "StorageClass", "ClusterSecretStore", "SecretStore", "AppProject",
    "AppProjectPatch", "Application",
})
WAIT_FOR = "pulumi.com/waitFor"


# --- the duration model (seconds; models, not measurements: see the module docstring) ---------


@dataclass(frozen=True)
class Model:
    seconds: int
    why: str


# A v4 Chart's rollout, by Chart resource name: until its slowest workload is ready.
CHART_ROLLOUT: dict[str, Model] = {
    "cert-manager": Model(60, "3 small Deployments; webhook readiness probe after 5 s"),
    "metallb": Model(60, "controller Deployment and speaker DaemonSet; probes after 10 s"),
    "csi-driver-nfs": Model(45, "controller Deployment and node DaemonSet; no probes"),
    "traefik": Model(45, "one Deployment; its LoadBalancer Service waits for MetalLB's address"),
    "external-secrets": Model(60, "3 Deployments; webhook and cert-controller probes after 20 s"),
    "fluentd": Model(60, "a DaemonSet on every node"),
    "velero": Model(90, "Deployment with plugin init containers (probe every 30 s), node agent"),
    "argo-cd": Model(120, "5 workloads (controller StatefulSet, repo-server, server, redis)"),
    "kube-prometheus-stack": Model(
        180, "operator, Grafana on an NFS PVC, node exporter, kube-state-metrics; large CRDs"
    ),
    "openbao": Model(
        180, "raft StatefulSet, OrderedReady: pods start one by one, each unseals and joins"
    ),
    "harbor": Model(
        300, "10 workloads; database and redis on NFS PVCs, core's startup probe waits for them"
    ),
}
CHART_DEFAULT = Model(90, "a chart not in the table: a few Deployments")
KIND_MODEL: dict[str, Model] = {
    "WebhookGate": Model(
        30, "a kubectl pod retrying a server-side dry run until the webhook answers"
    ),
    "Job": Model(60, "a run-once Job: pulls the Python image, runs its script; awaited Complete"),
    "CronJob": Model(1, "created; Pulumi does not wait for a run"),
    "StorageClass": Model(1, "one API call; nothing to await"),
}
AWAITED_RESOURCE = Model(30, f"custom resource with {WAIT_FOR}: its controller's first reconcile")
CREATED = Model(1, "custom resource without await: one API call")


def kind_of(r: Registered) -> str:
    return r.type.split(":")[-1]


def modeled(r: Registered) -> Model:
    """The row of the duration table that models `r`."""
    kind = kind_of(r)
    if r.type == CHART_TYPE or kind == "Chart":
        return CHART_ROLLOUT.get(r.name, CHART_DEFAULT)
    if kind in KIND_MODEL:
        return KIND_MODEL[kind]
    metadata = r.plain("metadata") if "metadata" in r.inputs else None
    annotations = (metadata or {}).get("annotations") or {}
    return AWAITED_RESOURCE if WAIT_FOR in annotations else CREATED


# --- the graph --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    id: str  # Mermaid id: `<kind>_<name>`, lower case, `_` for anything else
    label: str  # `Kind/name` (Recording.label)
    kind: str
    name: str
    tier: str  # URN of the innermost tier component, "" at the stack's level
    model: Model

    @property
    def seconds(self) -> int:
        return self.model.seconds


@dataclass(frozen=True)
class Tier:
    urn: str
    id: str
    title: str
    parent: str  # URN of the enclosing tier, "" for none


@dataclass
class Graph:
    stack: str
    nodes: list[Node]  # sorted: tier order, then id
    edges: list[tuple[str, str]]  # (first, then) by node id, transitively reduced, sorted
    tiers: list[Tier]
    critical: list[str] = field(default_factory=list)  # node ids, first to last

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def preds(self, node_id: str) -> list[str]:
        return [a for a, b in self.edges if b == node_id]

    @property
    def total(self) -> int:
        return sum(self.node(n).seconds for n in self.critical)

    def critical_edges(self) -> set[tuple[str, str]]:
        return set(zip(self.critical, self.critical[1:], strict=False))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def representatives(rec: Recording) -> dict[str, str]:
    """URN -> URN of the kept node it belongs to: itself when kept, else its outermost kept
    ancestor (a gate's Job, ServiceAccount, Role...); resources of no kept node are absent."""
    by_urn = {r.urn: r for r in rec.resources}
    rep = {}
    for r in rec.resources:
        node: Registered | None = r
        outermost = ""
        while node is not None:
            if kind_of(node) in KEPT_KINDS:
                outermost = node.urn
            node = by_urn.get(node.parent)
        if outermost:
            rep[r.urn] = outermost
    return rep


def kept_predecessors(rec: Recording, rep: dict[str, str]) -> dict[str, set[str]]:
    """Kept URN -> the kept URNs it waits for, directly or through collapsed resources only."""
    by_urn = {r.urn: r for r in rec.resources}
    through: dict[str, frozenset[str]] = {}

    def reached(urn: str) -> frozenset[str]:
        if urn in rep:
            return frozenset({rep[urn]})
        if urn not in through:
            through[urn] = frozenset()  # guards a cycle (there is none in a Pulumi program)
            r = by_urn.get(urn)
            through[urn] = frozenset().union(*(reached(d) for d in r.dependencies)) if r else (
                frozenset()
            )
        return through[urn]

    preds: dict[str, set[str]] = {urn: set() for urn in set(rep.values())}
    for r in rec.resources:
        if r.urn in rep:
            for dep in r.dependencies:
                preds[rep[r.urn]] |= reached(dep)
    for urn, found in preds.items():
        found.discard(urn)
    return preds


def topological(ids: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """`ids` in dependency order, ties in the order of `ids`. ValueError on a cycle."""
    rank = {node: i for i, node in enumerate(ids)}
    waiting = {node: 0 for node in ids}
    after: dict[str, list[str]] = {node: [] for node in ids}
    for a, b in edges:
        waiting[b] += 1
        after[a].append(b)
    ready = [(rank[n], n) for n in ids if waiting[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for nxt in after[node]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, (rank[nxt], nxt))
    if len(order) != len(ids):
        raise ValueError(f"dependency cycle among {sorted(set(ids) - set(order))}")
    return order


def transitive_reduction(order: list[str], preds: dict[str, set[str]]) -> dict[str, set[str]]:
    """The transitive reduction of a DAG given in topological `order`: the same reachability."""
    ancestors: dict[str, set[str]] = {}
    for node in order:
        ancestors[node] = set().union(*({p} | ancestors[p] for p in preds[node]))
    return {
        node: {p for p in preds[node] if not any(p in ancestors[q] for q in preds[node] - {p})}
        for node in order
    }


def critical_path(
    order: list[str], preds: dict[str, set[str]], seconds: dict[str, int]
) -> list[str]:
    """The longest path by summed `seconds` (ties: the earlier node in `order`)."""
    rank = {node: i for i, node in enumerate(order)}
    finish: dict[str, int] = {}
    best: dict[str, str] = {}
    for node in order:
        before = sorted(preds[node], key=lambda p: (-finish[p], rank[p]))
        finish[node] = seconds[node] + (finish[before[0]] if before else 0)
        if before:
            best[node] = before[0]
    if not order:
        return []
    last = min(order, key=lambda n: (-finish[n], rank[n]))
    path = [last]
    while path[-1] in best:
        path.append(best[path[-1]])
    return path[::-1]


def _tiers(rec: Recording) -> list[Tier]:
    found = [r for r in rec.resources if r.type in TIERS]
    found.sort(key=lambda r: (list(TIERS).index(r.type), r.name))
    urns = {r.urn for r in found}
    return [
        Tier(r.urn, f"tier_{slug(r.name)}", TIERS[r.type], r.parent if r.parent in urns else "")
        for r in found
    ]


def _tier_of(rec: Recording, r: Registered) -> str:
    by_urn = {x.urn: x for x in rec.resources}
    node = by_urn.get(r.parent)
    while node is not None and node.type not in TIERS:
        node = by_urn.get(node.parent)
    return node.urn if node is not None else ""


def build(rec: Recording, stack: str) -> Graph:
    """The deploy-order graph of a recorded evaluation (see the module docstring)."""
    rep = representatives(rec)
    preds_by_urn = kept_predecessors(rec, rep)
    tiers = _tiers(rec)
    tier_rank = {t.urn: i for i, t in enumerate(tiers)}
    nodes, id_of, used = [], {}, set()
    for r in (r for r in rec.resources if r.urn in preds_by_urn):
        node_id = slug(f"{kind_of(r)}_{r.name}")
        while node_id in used:
            node_id += "_"
        used.add(node_id)
        id_of[r.urn] = node_id
        nodes.append(
            Node(node_id, Recording.label(r), kind_of(r), r.name, _tier_of(rec, r), modeled(r))
        )
    nodes.sort(key=lambda n: (tier_rank.get(n.tier, len(tiers)), n.id))
    ids = [n.id for n in nodes]
    preds = {id_of[urn]: {id_of[p] for p in found} for urn, found in preds_by_urn.items()}
    order = topological(ids, [(p, n) for n in ids for p in preds[n]])
    reduced = transitive_reduction(order, preds)
    rank = {node: i for i, node in enumerate(ids)}
    edges = sorted(
        ((p, n) for n in ids for p in reduced[n]), key=lambda e: (rank[e[0]], rank[e[1]])
    )
    graph = Graph(stack, nodes, edges, tiers)
    graph.critical = critical_path(order, reduced, {n.id: n.seconds for n in nodes})
    return graph


def finish_times(graph: Graph) -> dict[str, int]:
    """Node id -> when it is done, in modeled seconds from the start, with unlimited parallelism."""
    order = topological([n.id for n in graph.nodes], graph.edges)
    finish: dict[str, int] = {}
    for node_id in order:
        start = max((finish[p] for p in graph.preds(node_id)), default=0)
        finish[node_id] = start + graph.node(node_id).seconds
    return finish


def human(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def path_summary(graph: Graph) -> list[str]:
    """The critical path as lines: total, then each step with its modeled seconds and end time."""
    lines = [f"critical path: {graph.total} s ({human(graph.total)}), modeled, not measured"]
    elapsed = 0
    for step, node_id in enumerate(graph.critical, 1):
        node = graph.node(node_id)
        elapsed += node.seconds
        lines.append(f"{step:>3}. {node.label:<46} {node.seconds:>4} s  done at {elapsed:>4} s")
    return lines


# --- Mermaid ----------------------------------------------------------------------------------

CRITICAL_COLOUR = "#c0392b"


def _mermaid_label(node: Node) -> str:
    return f"{node.name}<br/>{node.kind}, {node.seconds} s".replace('"', "#quot;")


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart: tiers as subgraphs, critical path as class `critical` and linkStyle.
    The critical path's summary is in `%%` comments (Mermaid ignores them)."""
    lines = [
        "flowchart LR",
        f"  %% {graph.stack}: deploy order (python -m tooling.graph --stack {graph.stack})",
        "  %% durations are models, not measurements: see tooling/graph.py",
        *(f"  %% {line}" for line in path_summary(graph)),
    ]

    def emit(tier_urn: str, indent: str) -> None:
        for node in (n for n in graph.nodes if n.tier == tier_urn):
            lines.append(f'{indent}{node.id}["{_mermaid_label(node)}"]')
        for tier in (t for t in graph.tiers if t.parent == tier_urn):
            lines.append(f'{indent}subgraph {tier.id}["{tier.title}"]')
            emit(tier.urn, indent + "  ")
            lines.append(f"{indent}end")

    emit("", "  ")
    lines += [f"  {a} --> {b}" for a, b in graph.edges]
    on_path = graph.critical_edges()
    links = [str(i) for i, edge in enumerate(graph.edges) if edge in on_path]
    lines.append(f"  classDef critical fill:#fdecea,stroke:{CRITICAL_COLOUR},stroke-width:3px")
    if graph.critical:
        lines.append(f"  class {','.join(graph.critical)} critical")
    if links:
        lines.append(f"  linkStyle {','.join(links)} stroke:{CRITICAL_COLOUR},stroke-width:3px")
    return "\n".join(lines) + "\n"


# --- SVG: a layered layout, left to right -----------------------------------------------------

TIER_FILL = {
    "ClusterServices": "#e3f0fb",
    "DevTools": "#e6f4e6",
    "Backups": "#fdf3d8",
    "Applications": "#f1e6f5",
    "": "#eeeeee",
}
BOX_H, GAP_X, GAP_Y, MARGIN, HEADER = 44, 70, 16, 20, 96
WAYPOINT_H = 12  # the slot of an arrow passing through a layer
CHAR_W = 7  # 11.5 px monospace, rounded up


def layers(graph: Graph) -> dict[str, int]:
    """Node id -> its depth: the most edges on a path from a node with no predecessor."""
    depth: dict[str, int] = {}
    for node_id in topological([n.id for n in graph.nodes], graph.edges):
        depth[node_id] = max((depth[p] + 1 for p in graph.preds(node_id)), default=0)
    return depth


def routes(graph: Graph, depth: dict[str, int]) -> dict[tuple[str, str], list[str]]:
    """Edge -> the slots it passes: its ends and, in each layer between, a waypoint `~a~layer`
    that every arrow leaving `a` through that layer shares (long arrows go around the boxes)."""
    return {
        (a, b): [a, *(f"~{a}~{layer}" for layer in range(depth[a] + 1, depth[b])), b]
        for a, b in graph.edges
    }


def columns(graph: Graph) -> list[list[str]]:
    """Slots (node ids and waypoints) per layer, ordered to keep arrows short and few crossing:
    two barycentre sweeps (mean position of the neighbours in the layer before, then in the layer
    after), ties in the graph's order."""
    depth = layers(graph)
    cols: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in graph.nodes:
        cols[depth[node.id]].append(node.id)
    before: dict[str, set[str]] = {}
    after: dict[str, set[str]] = {}
    for route in routes(graph, depth).values():
        for slot in route[1:-1]:
            if slot not in before:
                cols[int(slot.rsplit("~", 1)[1])].append(slot)
        for a, b in zip(route, route[1:], strict=False):
            after.setdefault(a, set()).add(b)
            before.setdefault(b, set()).add(a)
    for _ in range(2):
        for near, sweep in (
            (before, range(1, len(cols))), (after, range(len(cols) - 2, -1, -1))
        ):
            for i in sweep:
                where = {slot: y for col in cols for y, slot in enumerate(col)}
                cols[i] = sorted(cols[i], key=functools.partial(_rank, near, where))
    return cols


def _rank(near: dict[str, set[str]], where: dict[str, int], slot: str) -> tuple[float, int]:
    """Sort key of `slot`: the mean position of its neighbours (`near`), then its own."""
    others = near.get(slot)
    centre = sum(where[s] for s in others) / len(others) if others else where[slot]
    return centre, where[slot]


def _box_width(graph: Graph) -> int:
    longest = max((len(t) for n in graph.nodes for t in _box_text(n)), default=10)
    return longest * CHAR_W + 20


def _box_text(node: Node) -> tuple[str, str]:
    return node.name, f"{node.kind}, {node.seconds} s"


def _height(slot: str) -> int:
    return WAYPOINT_H if slot.startswith("~") else BOX_H + GAP_Y


def _positions(cols: list[list[str]], width: int) -> dict[str, tuple[int, int]]:
    """Slot -> (x, y) of its top left corner; each column centred on the tallest."""
    tallest = max((sum(map(_height, col)) for col in cols), default=0)
    place = {}
    for x, col in enumerate(cols):
        y = HEADER + (tallest - sum(map(_height, col))) // 2
        for slot in col:
            place[slot] = (MARGIN + x * (width + GAP_X), y)
            y += _height(slot)
    return place


def _edge_path(route: list[str], place: dict[str, tuple[int, int]], width: int) -> str:
    """Right side of the first box, through each waypoint's slot, to the last box's left side."""
    (ax, ay), (bx, by) = place[route[0]], place[route[-1]]
    x, y = ax + width, ay + BOX_H // 2
    bend = GAP_X // 2
    d = [f"M{x},{y}"]
    for slot in route[1:-1]:
        wx, wy = place[slot]
        wy += WAYPOINT_H // 2
        d += [f"C{x + bend},{y} {wx - bend},{wy} {wx},{wy}", f"L{wx + width},{wy}"]
        x, y = wx + width, wy
    ex, ey = bx - 2, by + BOX_H // 2
    d.append(f"C{x + bend},{y} {ex - bend},{ey} {ex},{ey}")
    return " ".join(d)


def _svg_edges(graph: Graph, place: dict[str, tuple[int, int]], width: int) -> list[str]:
    on_path = graph.critical_edges()
    out = []
    # the critical path's arrows last, on top of the others
    ordered = sorted(routes(graph, layers(graph)).items(), key=lambda item: item[0] in on_path)
    for (a, b), route in ordered:
        style = (
            f'stroke="{CRITICAL_COLOUR}" stroke-width="2.5" marker-end="url(#arrow-critical)"'
            if (a, b) in on_path
            else 'stroke="#8c8c8c" stroke-width="1.2" marker-end="url(#arrow)"'
        )
        out.append(
            f'<path d="{_edge_path(route, place, width)}" fill="none" {style}><title>'
            f"{escape(graph.node(a).label)} before {escape(graph.node(b).label)}</title></path>"
        )
    return out


def _svg_nodes(graph: Graph, place: dict[str, tuple[int, int]], width: int) -> list[str]:
    titles = {t.urn: t.title for t in graph.tiers}
    on_path = set(graph.critical)
    finish = finish_times(graph)
    out = []
    for node in graph.nodes:
        x, y = place[node.id]
        stroke = (
            f'stroke="{CRITICAL_COLOUR}" stroke-width="3"'
            if node.id in on_path
            else 'stroke="#5f6b7a" stroke-width="1"'
        )
        name, detail = _box_text(node)
        tip = f"{node.label}: {node.seconds} s ({node.model.why}); done at {finish[node.id]} s"
        out += [
            f"<g id={quoteattr(node.id)}><title>{escape(tip)}</title>",
            f'<rect x="{x}" y="{y}" width="{width}" height="{BOX_H}" rx="6" '
            f'fill="{TIER_FILL.get(titles.get(node.tier, ""), "#eeeeee")}" {stroke}/>',
            f'<text x="{x + 10}" y="{y + 18}" font-weight="bold">{escape(name)}</text>',
            f'<text x="{x + 10}" y="{y + 35}" fill="#444444">{escape(detail)}</text>',
            "</g>",
        ]
    return out


def _path_line(graph: Graph) -> str:
    steps = " > ".join(graph.node(n).name for n in graph.critical)
    return f"critical path {graph.total} s ({human(graph.total)}): {steps}"


def _svg_header(graph: Graph) -> list[str]:
    out = [
        f'<text x="{MARGIN}" y="24" font-size="15" font-weight="bold">{escape(graph.stack)}: '
        "deploy order (durations are models, not measurements: tooling/graph.py)</text>",
        f'<text x="{MARGIN}" y="44" fill="{CRITICAL_COLOUR}">{escape(_path_line(graph))}</text>',
    ]
    x = MARGIN
    for title in [t.title for t in graph.tiers] + ["critical path"]:
        fill = TIER_FILL.get(title, "#ffffff")
        stroke = CRITICAL_COLOUR if title == "critical path" else "#5f6b7a"
        out += [
            f'<rect x="{x}" y="58" width="14" height="14" fill="{fill}" stroke="{stroke}"/>',
            f'<text x="{x + 20}" y="70">{escape(title)}</text>',
        ]
        x += 20 + len(title) * CHAR_W + 24
    return out


def to_svg(graph: Graph) -> str:
    """The graph as a standalone SVG document (deterministic: integer coordinates, fixed order)."""
    width = _box_width(graph)
    place = _positions(columns(graph), width)
    right = max((x + width for x, _ in place.values()), default=400) + MARGIN
    right = max(right, 2 * MARGIN + len(_path_line(graph)) * CHAR_W)
    bottom = max((y + _height(s) for s, (_, y) in place.items()), default=HEADER) + MARGIN
    arrow = (
        '<marker id="{}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{}"/></marker>'
    )
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{right}" height="{bottom}" '
        f'viewBox="0 0 {right} {bottom}" font-family="DejaVu Sans Mono, Menlo, monospace" '
        'font-size="11.5">',
        f"<title>{escape(graph.stack)}: deploy order</title>",
        "<defs>",
        arrow.format("arrow", "#8c8c8c"),
        arrow.format("arrow-critical", CRITICAL_COLOUR),
        "</defs>",
        f'<rect width="{right}" height="{bottom}" fill="#ffffff"/>',
        *_svg_header(graph),
        *_svg_edges(graph, place, width),
        *_svg_nodes(graph, place, width),
        "</svg>",
        "",
    ])


# --- command ----------------------------------------------------------------------------------


def graph_of(stack: str) -> Graph:
    """The committed stack's graph (the program under the mock runtime, as `tooling.render`
    evaluates it). Raises ConfigError on a bad stack file."""
    from tooling import render  # its evaluation: the secrets the stack file sets, as placeholders

    _, rec = render.evaluate(stack)
    return build(rec, stack)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.graph", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--out", type=Path,
        help="folder for graph.mmd and graph.svg (default: rendered/graph-<stack>)",
    )
    args = parser.parse_args(argv)
    if not stack_file(args.stack).exists():
        print(f"error: no stack file {stack_file(args.stack).name} (--stack)", file=sys.stderr)
        return 2
    try:
        graph = graph_of(args.stack)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path("rendered") / f"graph-{args.stack}"
    out.mkdir(parents=True, exist_ok=True)
    mermaid = to_mermaid(graph)
    (out / "graph.mmd").write_text(mermaid)
    (out / "graph.svg").write_text(to_svg(graph))
    sys.stdout.write(mermaid)
    print(f"wrote {out / 'graph.mmd'} and {out / 'graph.svg'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
