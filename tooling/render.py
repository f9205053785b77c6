"""What a stack would apply, without a cluster: the program's own objects and every chart's objects.

    uv run python -m tooling.render --stack stg --out rendered/stg
    uv run python -m tooling.render --stack stg --out rendered/stg-new --diff rendered/stg

The program runs under Pulumi's mock runtime (`tooling.evaluate`) with stand-ins for secrets
(`placeholder-<key>`, `mock-<password>`: the real ones are never read, so nothing secret can be
printed or written). Each `kubernetes.helm.sh/v4.Chart` it registers is then rendered the way the
provider renders it: the chart source at the pinned version (`tooling.upstream`), the values the
program computed, release name = resource name, the Chart's namespace, install mode, CRDs from
`crds/` of the chart and its enabled subcharts included, hooks dropped (v4 Charts never run them;
they are listed so each can be matched with the program's compensation), Kubernetes 1.34 and the
API versions of the CRDs the stack installs. Namespaced objects without a namespace get the
Chart's, as the provider does.

Every object is then checked (`tooling.verify`): the command reports the problems and exits
non-zero when there are any. Ref: docs/facts.md#pulumi-helm-v4-chart.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.config import ConfigError, PlatformConfig, parse_platform_config
from components.kube import protect_stateful_children
from tooling import kubeschema, upstream, verify
from tooling.evaluate import (
    Recording,
    Registered,
    placeholder_secrets,
    run_program,
    stack_config,
    stack_file,
    unwrap,
)
from tooling.rendered import (  # noqa: F401 (re-exported: the render's model)
    PROGRAM,
    Hook,
    Obj,
    Release,
    RenderError,
    StackRender,
    to_yaml,
)

KUBERNETES_VERSION = f"v{kubeschema.KUBERNETES_VERSION}"
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
TIER_TYPES = {
    "plate:platform:ClusterServices",
    "plate:platform:DevTools",
    "plate:platform:Applications",
}
# Built-in kinds that have no namespace (custom kinds: the `scope` of their CRD).
CLUSTER_SCOPED = {
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding", "CSIDriver",
    "CSINode", "CustomResourceDefinition", "IngressClass", "MutatingWebhookConfiguration",
    "Namespace", "Node", "PersistentVolume", "PriorityClass", "RuntimeClass", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration", "VolumeAttachment",
}


# --- the program under the mock engine --------------------------------------------------------


def secure_keys(stack: str) -> set[str]:
    """The secret keys a committed stack file sets (`secure:` values; never decrypted here)."""
    config = (yaml.safe_load(stack_file(stack).read_text()) or {}).get("config") or {}
    return {
        key.split(":", 1)[1]
        for key, value in config.items()
        if ":" in key and isinstance(value, dict) and "secure" in value
    }


def evaluate(stack: str, config: dict[str, Any] | None = None) -> tuple[PlatformConfig, Recording]:
    """Run the program for `stack` with placeholder secrets. Raises ConfigError on bad config."""
    config = stack_config(stack) if config is None else config
    cfg = parse_platform_config(config)
    also = secure_keys(stack) if stack_file(stack).exists() else set()
    return cfg, run_program(stack, config, secrets=placeholder_secrets(config, also))


def _tier_of(rec: Recording, r: Registered) -> str:
    by_urn = {x.urn: x for x in rec.resources}
    node: Registered | None = r
    while node is not None:
        if node.type in TIER_TYPES:
            return node.name
        node = by_urn.get(node.parent)
    return "stack"


def releases(rec: Recording) -> list[Release]:
    return [
        Release(
            tier=_tier_of(rec, r),
            name=r.name,
            chart=r.plain("chart"),
            version=r.plain("version"),
            namespace=r.plain("namespace"),
            values=r.plain("values") if "values" in r.inputs else {},
        )
        for r in rec.by_type(CHART_TYPE)
    ]


def program_object(r: Registered) -> dict[str, Any]:
    """The Kubernetes object a registration describes (Pulumi inputs are the object's fields).

    Auto-named resources get their logical name here; Pulumi appends a random suffix at apply.
    """
    _, api, kind = r.type.split(":")
    body = {k: unwrap(v) for k, v in r.inputs.items()}
    # a `...Patch` resource (server-side apply onto an existing object) names the object's own
    # apiVersion and kind in its inputs, as every custom resource does
    body.setdefault("apiVersion", api.removeprefix("core/"))
    body.setdefault("kind", kind)
    metadata = body.setdefault("metadata", {})
    metadata.setdefault("name", r.name)
    return body


def program_objects(rec: Recording) -> list[Obj]:
    return [
        Obj(_tier_of(rec, r), PROGRAM, f"{r.type}::{r.name}", program_object(r), r.protect)
        for r in rec.resources
        if r.custom and r.type.startswith("kubernetes:") and r.type != CHART_TYPE
    ]


# --- charts -----------------------------------------------------------------------------------


@functools.cache
def _load_chart(path: str) -> Any:
    import helm_python

    return helm_python.Chart.load(path)


def _condition_holds(condition: str, values: dict[str, Any]) -> bool:
    """Helm's `condition:` of a dependency: the first path that resolves to a bool decides."""
    for path in (p.strip() for p in condition.split(",") if p.strip()):
        node: Any = values
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, bool):
            return node
    return True


def _enabled_crds(chart: Any, root: Path, values: dict[str, Any]) -> list[tuple[str, str]]:
    """(file, text) of the `crds/` files of the chart and of every subchart Helm would keep."""
    merged = chart.merge_values(values)
    name = chart.metadata["name"]
    out = []
    for crd in chart.crds:
        # filename: <chart>/charts/<sub>/charts/<subsub>/crds/<file>
        parts = crd["filename"].split("/")[1:]
        node_values, meta_dir, enabled = merged, root, True
        while enabled and len(parts) > 2 and parts[0] == "charts":
            sub = parts[1]
            meta = yaml.safe_load((meta_dir / "Chart.yaml").read_text()) or {}
            dep: dict[str, Any] = next(
                (d for d in meta.get("dependencies") or [] if d["name"] == sub), {}
            )
            enabled = _condition_holds(dep.get("condition", ""), node_values)
            node_values = node_values.get(dep.get("alias", sub)) or {}
            meta_dir, parts = meta_dir / "charts" / sub, parts[2:]
        if enabled:
            out.append((f"{name}/{crd['filename'].split('/', 1)[1]}", crd["data"]))
    return out


def _load(chart_name: str, version: str) -> tuple[Any, Path]:
    """The chart at `version` and its folder (upstream.MissingArtefact, one line, when absent)."""
    path = upstream.chart_dir(chart_name, version)
    return _load_chart(str(path)), path


def _render_templates(chart: Any, rel: Release, api_versions: Iterable[str]) -> dict[str, str]:
    import helm_python

    options = {
        "name": rel.name,
        "namespace": rel.namespace,
        "is_install": True,
        "kube_version": KUBERNETES_VERSION,
        # what discovery lists on a 1.34 cluster, plus the stack's own CRDs
        "api_versions": sorted(kubeschema.builtin_api_versions() | set(api_versions)),
    }
    try:
        text = helm_python._native.call_string(
            "helm_render", chart._raw(), json.dumps(rel.values), json.dumps(options)
        )
    except helm_python.HelmError as exc:  # values the chart's schema rejects, template errors
        detail = " ".join(str(exc).split())
        raise RenderError(f"chart {rel.chart} {rel.version} ({rel.name}): {detail}") from None
    return dict(json.loads(text))


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.2 as Kubernetes reads it: a bare `=` is a string, not YAML 1.1's `!!value` (the
    Prometheus Operator's AlertmanagerConfig CRD has one in an enum)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# Helm's own manifest splitter (pkg/releaseutil) cuts at every line that starts with `---`, even
# `---# note`, which a YAML parser would not take for a document start.
_SEPARATOR = re.compile(r"(?m)^---")


PARSE_CACHE = upstream.ROOT / ".cache" / "render"
"""Large templates (the CRDs: megabytes of YAML, most of a first render's time) parsed once, kept
as JSON named by the text's SHA-256, which Python reads ~20 times faster than YAML."""
PARSE_CACHE_MIN = 64 * 1024


def _parse_yaml(text: str) -> list[Any]:
    return [yaml.load(part, Loader=_Loader) for part in _SEPARATOR.split(text) if part.strip()]


def _parse_cached(text: str) -> list[Any]:
    """`_parse_yaml(text)` through the JSON cache; a cache that cannot be written is skipped."""
    path = PARSE_CACHE / f"{hashlib.sha256(text.encode()).hexdigest()}.json"
    try:
        loaded: list[Any] = json.loads(path.read_text())
        return loaded
    except (OSError, ValueError):
        pass
    docs = _parse_yaml(text)
    try:
        dumped = json.dumps(docs)
        if json.loads(dumped) != docs:  # e.g. integer keys, which JSON turns into strings
            return docs
        PARSE_CACHE.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(f".{os.getpid()}.partial")
        staging.write_text(dumped)
        staging.replace(path)  # atomic: a concurrent reader sees the whole file or none
    except (OSError, TypeError, ValueError):
        pass  # read-only tree, or a value JSON cannot hold: parse again next time
    return docs


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[dict[str, Any], ...]:
    """The documents of one rendered template (cached: CRDs are large and render the same in
    both passes and both stacks; callers copy before they change anything)."""
    docs = _parse_cached(text) if len(text) >= PARSE_CACHE_MIN else _parse_yaml(text)
    return tuple(doc for doc in docs if isinstance(doc, dict) and doc)


def _shared_documents(text: str) -> list[dict[str, Any]]:
    """The documents of `text`, each shallow-copied with its metadata: the bodies are shared
    with the parse cache, so nothing may change them below `metadata`."""
    return [{**doc, "metadata": dict(doc.get("metadata") or {})} for doc in _parse(text)]


def _documents(path: str, text: str) -> list[dict[str, Any]]:
    return [] if path.endswith(".txt") else _shared_documents(text)


def render_release(
    rel: Release, api_versions: Iterable[str], cluster_scoped: set[str], production: bool
) -> tuple[list[Obj], list[Hook]]:
    chart, root = _load(rel.chart, rel.version)
    templates = _render_templates(chart, rel, api_versions)
    sources = [*_enabled_crds(chart, root, rel.values), *sorted(templates.items())]
    objects, hooks = [], []
    for path, text in sources:
        for body in _documents(path, text):
            metadata = body.setdefault("metadata", {})
            hook = (metadata.get("annotations") or {}).get("helm.sh/hook")
            if hook:
                hooks.append(Hook(rel.name, body.get("kind", ""), metadata.get("name", ""), hook))
                continue
            if body.get("kind") not in cluster_scoped and not metadata.get("namespace"):
                metadata["namespace"] = rel.namespace
            obj = Obj(rel.tier, rel.name, path, body)
            if production and _protected_type(obj.pulumi_type):
                obj = dataclasses.replace(obj, protect=True)
            objects.append(obj)
    return objects, hooks


@functools.cache
def _protected_type(pulumi_type: str) -> bool:
    """Whether the program's production transform protects a chart child of this type."""
    args = pulumi.ResourceTransformArgs(
        custom=True, type_=pulumi_type, name="child", props={}, opts=pulumi.ResourceOptions()
    )
    result = protect_stateful_children(args)
    return bool(result and result.opts.protect)


def _crd_facts(objects: Iterable[Obj]) -> tuple[set[str], set[str]]:
    """API versions ("group/version" and "group/version/Kind") and cluster-scoped kinds the
    CustomResourceDefinitions among `objects` add."""
    versions, scoped = set(), set()
    for obj in objects:
        if obj.kind != "CustomResourceDefinition":
            continue
        spec = obj.body.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind", "")
        if spec.get("scope") == "Cluster":
            scoped.add(kind)
        for version in spec.get("versions") or []:
            if version.get("served", True):
                group_version = f"{spec['group']}/{version['name']}"
                versions |= {group_version, f"{group_version}/{kind}"}
    return versions, scoped


@functools.lru_cache(maxsize=16)
def _installed_crds(releases: str) -> tuple[frozenset[str], frozenset[str]]:
    """Pass 1: the API versions and cluster-scoped kinds of the CRDs the releases (as JSON)
    install, so that pass 2 renders as the provider does against a cluster that has them.
    Cached: a second render of the same releases re-runs pass 2 only."""
    first = [
        obj
        for rel in (Release(**fields) for fields in json.loads(releases))
        for obj in render_release(rel, (), CLUSTER_SCOPED, production=False)[0]
    ]
    versions, scoped = _crd_facts(first)
    return frozenset(versions), frozenset(scoped)


def render_stack(stack: str, config: dict[str, Any] | None = None) -> StackRender:
    """Everything `stack` would apply. Raises ConfigError, RenderError or
    upstream.MissingArtefact (one line each)."""
    cfg, rec = evaluate(stack, config)
    result = StackRender(stack, cfg, rec, releases(rec))
    own = program_objects(rec)
    api_versions, scoped = _installed_crds(
        json.dumps([dataclasses.asdict(rel) for rel in result.releases], sort_keys=True)
    )
    for rel in result.releases:
        objects, hooks = render_release(rel, api_versions, CLUSTER_SCOPED | scoped, cfg.production)
        result.objects += objects
        result.hooks += hooks
    result.objects += own
    return result


# --- output -----------------------------------------------------------------------------------


def write_tree(files: dict[str, str], out: Path) -> None:
    """Write `files` under `out`, replacing it whole; on failure `out` is left as it was."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        if out.exists():
            backup = out.with_name(f".{out.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(out, backup)
            os.replace(staging, out)
            shutil.rmtree(backup)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*.yaml"))
        if p.is_file()
    }


def diff_trees(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Object-by-object differences, as lines: `+ path`, `- path`, `~ path` and a unified diff."""
    lines = []
    for path in sorted(old.keys() | new.keys()):
        if path not in old:
            lines.append(f"+ {path}")
        elif path not in new:
            lines.append(f"- {path}")
        elif old[path] != new[path]:
            lines.append(f"~ {path}")
            body = difflib.unified_diff(
                old[path].splitlines(), new[path].splitlines(), "before", "after", lineterm="", n=2
            )
            lines += [f"    {line}" for line in list(body)[2:]]
    return lines


def summary(render: StackRender) -> list[str]:
    """Objects per tier and source, with the count of each kind."""
    groups: dict[tuple[str, str], Counter[str]] = {}
    for obj in render.objects:
        groups.setdefault((obj.tier, obj.source), Counter())[obj.kind] += 1
    width = max((len(f"{t}/{s}") for t, s in groups), default=10)
    rows = [f"{'tier/source':<{width}}  objects  kinds"]
    for (tier, source), kinds in sorted(groups.items()):
        detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        rows.append(f"{tier + '/' + source:<{width}}  {sum(kinds.values()):>7}  {detail}")
    rows.append(f"{'total':<{width}}  {len(render.objects):>7}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.render", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help="write one YAML file per object under this folder")
    parser.add_argument(
        "--diff", type=Path, help="print what changed against an earlier --out folder"
    )
    args = parser.parse_args(argv)
    if not stack_file(args.stack).exists():
        print(f"error: no stack file {stack_file(args.stack).name} (--stack)", file=sys.stderr)
        return 2
    try:
        render = render_stack(args.stack)
        problems = verify.problems(render)
    except (ConfigError, RenderError, upstream.MissingArtefact) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = render.files()
    if args.out:
        write_tree(files, args.out)
    print("\n".join(summary(render)))
    print(f"\nhooks skipped (v4 Charts do not run them): {len(render.hooks)}")
    for hook in sorted(render.hooks, key=lambda h: (h.source, h.kind, h.name)):
        answer = verify.hook_compensation(hook)
        print(f"  {hook.source}: {hook.kind} {hook.name} ({hook.events}) -> {answer}")
    if args.diff:
        changes = diff_trees(read_tree(args.diff), files)
        print(f"\nchanges against {args.diff}: {sum(1 for c in changes if c[0] in '+-~')} objects")
        print("\n".join(changes))
    print(f"\n{len(problems)} problems")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
