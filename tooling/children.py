"""Writes the child Applications of every committed stack (`environments/argocd/apps/<env>/`).

`python -m tooling.children` lists the stale files and exits 1; `--write` rewrites them. A test
fails when the committed files differ from what the stack files generate.
"""

from __future__ import annotations

import sys
from pathlib import Path

from components.config import parse_platform_config, read_stack_file
from components.gitops.apps import child_manifests

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    expected: dict[str, str] = {}
    for stack_file in sorted(ROOT.glob("Pulumi.*.yaml")):
        expected.update(child_manifests(parse_platform_config(read_stack_file(stack_file))))
    if "--write" in argv:
        for rel, text in expected.items():
            (ROOT / rel).parent.mkdir(parents=True, exist_ok=True)
            (ROOT / rel).write_text(text)
        return 0
    stale = [rel for rel, text in expected.items()
             if not (ROOT / rel).exists() or (ROOT / rel).read_text() != text]
    for rel in stale:
        print(f"stale: {rel}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
