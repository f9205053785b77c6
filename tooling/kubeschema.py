"""The Kubernetes API of the version the platform targets, from kubernetes-validate's bundled
OpenAPI-derived JSON schemas: the folder of strict schemas and the built-in API versions and kinds
(what a cluster's discovery would list, and Helm's `.Capabilities.APIVersions` with it).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "1.34.0"


@functools.cache
def strict_schema_folder() -> Path:
    major_minor = ".".join(KUBERNETES_VERSION.split(".")[:2])
    base = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    (folder,) = [p for p in base.iterdir() if p.name == f"v{major_minor}.0-local-strict"]
    return Path(str(folder))


@functools.cache
def definitions() -> dict[str, Any]:
    return dict(json.loads((strict_schema_folder() / "_definitions.json").read_text()))


@functools.cache
def builtin_api_versions() -> frozenset[str]:
    """Every built-in "group/version" and "group/version/Kind" ("v1", "v1/Pod" for the core
    group), as API discovery reports them: charts test `.Capabilities.APIVersions.Has` on both."""
    found: set[str] = set()
    for schema in definitions()["$defs"].values():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            group_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            found |= {group_version, f"{group_version}/{gvk['kind']}"}
    return frozenset(found)
