"""The offline render's data model: the objects a stack would apply and where they come from.

`tooling.render` produces a `StackRender`; `tooling.verify` checks one. Both import this module and
neither imports the other's internals, so the two never form an import cycle.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.config import PlatformConfig
from tooling.evaluate import Recording

PROGRAM = "program"  # the folder of the program's own objects inside each tier


class RenderError(Exception):
    """A chart cannot be rendered (missing source, values its schema rejects): one line."""


@dataclass(frozen=True)
class Obj:
    """One object the stack would apply, and where it comes from."""

    tier: str  # the tier component's name, e.g. "dev-tools"
    source: str  # the chart's release name, or PROGRAM
    origin: str  # the template path, or the program's resource type and name
    body: dict[str, Any]
    protect: bool = False  # what `pulumi up` would register as protected

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.body.get("metadata") or {}).get("namespace") or "")

    @property
    def ref(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    @property
    def pulumi_type(self) -> str:
        group_version = self.api_version if "/" in self.api_version else f"core/{self.api_version}"
        return f"kubernetes:{group_version}:{self.kind}"


@dataclass(frozen=True)
class Hook:
    """An object a chart renders as a Helm hook: Helm would run it, a v4 Chart skips it."""

    source: str
    kind: str
    name: str
    events: str  # the helm.sh/hook annotation, e.g. "pre-install,pre-upgrade"


@dataclass(frozen=True)
class Release:
    """A v4 Chart as the program registers it."""

    tier: str
    name: str
    chart: str
    version: str
    namespace: str
    values: dict[str, Any]


@dataclass
class StackRender:
    stack: str
    cfg: PlatformConfig
    recording: Recording
    releases: list[Release]
    objects: list[Obj] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)

    def files(self) -> dict[str, str]:
        """Relative path -> YAML text, one file per object, in folders by tier and source."""
        out: dict[str, str] = {}
        for obj in sorted(self.objects, key=_sort_key):
            folder = f"{obj.tier}/{obj.source}"
            path = f"{folder}/{obj.kind}.{obj.name}.yaml"
            if path in out:
                path = f"{folder}/{obj.kind}.{obj.namespace}.{obj.name}.yaml"
            out[path] = to_yaml(obj.body)
        return out


def _sort_key(obj: Obj) -> tuple[str, ...]:
    return (obj.tier, obj.source, obj.kind, obj.namespace, obj.name, obj.origin)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Multi-line strings (configuration files in ConfigMaps) as literal blocks, so a diff of
    the rendered objects shows the lines that changed."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(body: dict[str, Any]) -> str:
    return _yaml_of(json.dumps(body, sort_keys=True))


@functools.lru_cache(maxsize=8192)
def _yaml_of(canonical: str) -> str:
    """YAML of an object given as canonical JSON (cached: dumping a CRD takes ~50 ms)."""
    body = json.loads(canonical)
    return yaml.dump(body, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)
