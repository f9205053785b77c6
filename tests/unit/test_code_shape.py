"""The shape the code keeps as it grows (issue: one method per tool, short functions, typed).

Verifies: no function or method in components/ is longer than 80 lines; `__main__.py` stays a tiny
entry point (config -> tiers -> outputs, no logic); the Renovate configuration's managers match
every chart pin in components/versions.py, the chart versions in upstream.lock.yaml and the
images the program runs (kubectl, Python), extracting exactly the pinned values, and the file
passes Renovate's JSON schema (check-jsonschema's vendored copy).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from components import versions
from tooling import upstream

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 80


def test_no_function_in_components_is_longer_than_80_lines():
    too_long = []
    for path in sorted((ROOT / "components").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.name}:{node.lineno} {node.name} ({length} lines)")
    assert too_long == []


def test_main_is_a_tiny_entry_point():
    tree = ast.parse((ROOT / "__main__.py").read_text())
    statements = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    assert len(statements) <= 4  # docstring, config, deploy, exports
    assert not any(isinstance(n, (ast.If, ast.For, ast.While, ast.FunctionDef)) for n in tree.body)


def _renovate() -> dict:
    return json.loads((ROOT / "renovate.json").read_text())


def _python_pattern(js_regex: str) -> re.Pattern[str]:
    """Renovate's regexes are JavaScript's: named groups are `(?<name>...)`."""
    return re.compile(js_regex.replace("(?<", "(?P<"))


def _extracted(manager_file: str) -> list[dict[str, str]]:
    found = []
    for manager in _renovate()["customManagers"]:
        patterns = [p.strip("/") for p in manager["managerFilePatterns"]]
        if not any(re.fullmatch(p, manager_file) for p in patterns):
            continue
        text = (ROOT / manager_file).read_text()
        for pattern in manager["matchStrings"]:
            for match in _python_pattern(pattern).finditer(text):
                groups = {k: v for k, v in match.groupdict().items() if v is not None}
                found.append({"datasource": manager.get("datasourceTemplate", ""), **groups})
    return found


def test_renovate_finds_every_chart_pin_and_the_kubectl_image():
    pins = {(p.chart, p.repo, p.version) for p in versions.CHARTS.values()}
    in_versions = _extracted("components/versions.py")
    charts = {(d["depName"], d["registryUrl"], d["currentValue"])
              for d in in_versions if d["datasource"] == "helm"}
    assert charts == pins
    images = {f"{d['depName']}:{d['currentValue']}" for d in in_versions
              if d["datasource"] == "docker"}
    assert images == {
        versions.KUBECTL_IMAGE, versions.PYTHON_IMAGE, versions.OPENBAO_IMAGE,
        versions.VELERO_IMAGE, versions.VELERO_AWS_PLUGIN_IMAGE, versions.METRICS_SERVER_IMAGE,
        versions.LOCAL_PATH_PROVISIONER_IMAGE, versions.LOCAL_PATH_HELPER_IMAGE,
        versions.OAUTH2_PROXY_IMAGE, versions.EXTERNAL_DNS_IMAGE,
    }
    # the lock moves with the pins (a test elsewhere fails when the two disagree)
    lock = upstream.load_lock()
    in_lock = {(d["depName"], d["registryUrl"], d["currentValue"])
               for d in _extracted("upstream.lock.yaml")}
    assert in_lock == {(c.chart, c.helm_repo, c.version) for c in lock.artefacts
                       if isinstance(c, upstream.ChartArchive)}
    assert pins <= in_lock


def test_renovate_config_passes_its_schema():
    result = subprocess.run(
        [Path(sys.executable).parent / "check-jsonschema", "--builtin-schema", "vendor.renovate",
         ROOT / "renovate.json"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stack_secrets_has_one_typed_attribute_per_secret_key():
    from dataclasses import fields

    from components.config import SECRET_KEYS, StackSecrets

    assert [f.name for f in fields(StackSecrets)] == list(SECRET_KEYS)


def _imports(path: Path, package_of: dict[Path, str]) -> set[str]:
    """The project modules `path` imports (top-level and inside functions), by dotted name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in package_of.values()}


def _project_modules() -> dict[Path, str]:
    out = {}
    for top in ("components", "tooling"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[path] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return out


def test_the_program_never_imports_the_tooling_and_no_modules_import_each_other():
    modules = _project_modules()
    graph = {name: _imports(path, modules) for path, name in modules.items()}
    program = {name for name in graph if name.startswith("components")}
    assert sorted(
        (name, dep) for name in program for dep in graph[name] if dep.startswith("tooling")
    ) == []

    # no cycle: a depth-first search over the import graph (a package importing its own
    # submodule, and that submodule importing the package's names, is not a cycle of modules)
    def edges(name: str) -> set[str]:
        return {d for d in graph[name] if d != name and not d.startswith(name + ".")}

    state: dict[str, int] = {}
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(edges(name)):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [name, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
