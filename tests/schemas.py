"""Validators built from artefacts nobody here wrote: upstream CRDs and Kubernetes JSON schemas.

`../shared/upstream/` holds the CRDs (Argo CD, cert-manager, MetalLB) and chart schemas;
`kubernetes-validate` bundles the Kubernetes strict JSON schemas.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

UPSTREAM = Path(__file__).resolve().parent.parent.parent / "shared" / "upstream"
KUBERNETES_VERSION = "1.34.0"


def _forbid_unknown(schema: Any) -> Any:
    """Mirror the API server's strict field validation: objects with declared properties and no
    x-kubernetes-preserve-unknown-fields reject undeclared fields."""
    if isinstance(schema, dict):
        out = {k: _forbid_unknown(v) for k, v in schema.items()}
        if (
            "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_forbid_unknown(v) for v in schema]
    return schema


@functools.cache
def crd_validator(group: str, kind: str, version: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((UPSTREAM / "crds" / group / f"{kind}.yaml").read_text())
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = copy.deepcopy(entry["schema"]["openAPIV3Schema"])
    # metadata is validated by the API server itself; the CRD only says `type: object`
    schema = _forbid_unknown(schema)
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def crd_errors(obj: dict[str, Any]) -> list[str]:
    group, version = obj["apiVersion"].split("/")
    validator = crd_validator(group, obj["kind"], version)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(obj)
    )


def kubernetes_errors(obj: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"]
    return []
