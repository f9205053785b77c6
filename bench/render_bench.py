"""Times the offline render of each stack (not a test): the program under the mock engine, every
chart through the Helm engine, the checks, and the YAML files.

    uv run python bench/render_bench.py            # 3 rounds per stack, in one process

The first round of a process pays for parsing the charts' rendered YAML (the large CRDs above all);
later rounds hit the in-process cache, as the second stack and the determinism check do.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tooling import (
    render,
    verify,
)


def main(rounds: int = 3) -> None:
    print("stack  round  render s  checks s  files s  objects")
    for stack in ("stg", "prod"):
        totals = []
        for n in range(1, rounds + 1):
            t0 = time.perf_counter()
            result = render.render_stack(stack)
            t1 = time.perf_counter()
            problems = verify.problems(result)
            t2 = time.perf_counter()
            result.files()
            t3 = time.perf_counter()
            totals.append(t3 - t0)
            assert problems == [], problems
            objects = len(result.objects)
            print(f"{stack:<6} {n:>5} {t1 - t0:>9.2f} {t2 - t1:>9.2f} {t3 - t2:>8.2f} {objects:>8}")
        print(f"{stack:<6} median total {statistics.median(totals):.2f} s")


if __name__ == "__main__":
    main()
