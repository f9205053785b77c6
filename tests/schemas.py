"""Validators built from artefacts nobody here wrote: upstream CRDs and Kubernetes JSON schemas.

The CRDs and chart schemas come through `tooling.upstream` (pinned in upstream.lock.yaml);
`kubernetes-validate` bundles the Kubernetes strict JSON schemas. The validators are the ones
the offline render uses (`tooling.verify`).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import yaml

from tooling import upstream, verify


def upstream_yaml(relpath: str) -> Any:
    return yaml.safe_load(upstream.find(relpath).read_text())


def upstream_json(relpath: str) -> Any:
    return json.loads(upstream.find(relpath).read_text())


@functools.cache
def crd_validator(group: str, kind: str, version: str):
    return verify.crd_schema_validator(upstream_yaml(f"crds/{group}/{kind}.yaml"), version)


def crd_errors(obj: dict[str, Any]) -> list[str]:
    group, version = obj["apiVersion"].split("/")
    return verify.validation_errors(crd_validator(group, obj["kind"], version), obj)


def kubernetes_errors(obj: dict[str, Any]) -> list[str]:
    validator = verify.kubernetes_validator(obj["apiVersion"], obj["kind"])
    assert validator is not None, f"no Kubernetes schema for {obj['apiVersion']} {obj['kind']}"
    return verify.validation_errors(validator, obj)
