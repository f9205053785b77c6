"""The program's resource identities: URNs that never change by accident, and test labels.

Verifies: the URNs both stacks register equal the committed lists in `tests/program/golden/` (a URN
is the resource's identity in the state: a changed one means delete-and-recreate, so a rename must
come with an alias and an updated list, deliberately); every resource's test label is `Kind/name`,
unique in each stack, and does not change when another resource shares its name.

To accept an intended change: `uv run python -m tests.program.test_registrations --write`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.harness import STACKS, recorded
from tooling.evaluate import Recording, Registered

GOLDEN = Path(__file__).resolve().parent / "golden"


def urns(stack: str) -> str:
    return "".join(sorted(f"{r.urn}\n" for r in recorded(stack).resources))


@pytest.mark.parametrize("stack", STACKS)
def test_urns_are_the_committed_ones(stack):
    assert urns(stack) == (GOLDEN / f"urns-{stack}.txt").read_text()


@pytest.mark.parametrize("stack", STACKS)
def test_labels_are_kind_and_name_and_unique(stack):
    rec = recorded(stack)
    labels = [Recording.label(r) for r in rec.resources]
    # prod also has the Alertmanager receivers' Secret; both the DNS-01 solver's TSIG Secret
    assert len(labels) == len(set(labels)) == {"stg": 260, "prod": 262}[stack]
    assert "Chart/cert-manager" in labels and "Namespace/cert-manager" in labels
    assert rec.named("Job/metallb-webhook-ready").type == "kubernetes:batch/v1:Job"


def _registered(type_: str, name: str) -> Registered:
    return Registered(type_, name, f"urn:{type_}::{name}", "", True, False, False, False, [], 0, {})


def test_a_label_does_not_change_when_another_resource_takes_the_same_name():
    alone = Recording([_registered("kubernetes:core/v1:Secret", "harbor")])
    crowded = Recording([*alone.resources, _registered("kubernetes:helm.sh/v4:Chart", "harbor")])
    assert [Recording.label(r) for r in alone.resources] == ["Secret/harbor"]
    assert [Recording.label(r) for r in crowded.resources] == ["Secret/harbor", "Chart/harbor"]
    assert crowded.named("Secret/harbor") is alone.resources[0]


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    for name in STACKS:
        (GOLDEN / f"urns-{name}.txt").write_text(urns(name))
