"""Generates `policy/platform.json`, what the CrossGuard policy pack knows of the platform.

    uv run python -m tooling.policy_data --write    # without --write: exit 1 when stale

The pack runs outside the program (its own virtualenv, no access to the stack's config), so it
reads this file: the chart repositories `components/versions.py` allows, and for every committed
`Pulumi.<stack>.yaml` whether it sets `production: true`. A production stack is held to the
production rules whatever its name; a stack with no committed file counts as production.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from components import versions
from components.config import read_stack_file

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "policy" / "platform.json"


def platform_data(stack_configs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """stack name -> its config (keys without the project prefix) => the pack's data."""
    return {
        "allowed_chart_repos": sorted({pin.repo for pin in versions.CHARTS.values()}),
        "production_by_stack": {
            stack: config.get("production") is True
            for stack, config in sorted(stack_configs.items())
        },
    }


def committed_stacks() -> dict[str, dict[str, Any]]:
    return {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml"): read_stack_file(path)
        for path in sorted(ROOT.glob("Pulumi.*.yaml"))
    }


def render() -> str:
    return json.dumps(platform_data(committed_stacks()), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--write" in argv:
        OUTPUT.write_text(text)
        return 0
    if not OUTPUT.exists() or OUTPUT.read_text() != text:
        fix = "uv run python -m tooling.policy_data --write"
        print(f"{OUTPUT.relative_to(ROOT)} is stale: run `{fix}`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
