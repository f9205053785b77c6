"""Times the start of the program, whole process (not a test): evaluating a stack's real program
against evaluating a one-Namespace Pulumi program, both under the same mock runtime.

    uv run python bench/startup.py                       # prod, 7 paired runs, fails above 2.0x
    uv run python bench/startup.py --stack stg --runs 11 --max-ratio 2.0

Each run is a fresh interpreter (this venv's Python), timed from the parent around the whole
child process (start-up, imports, evaluation, exit):

  a) program:   `tooling.evaluate.run_program(<stack>, config, secrets)`, the evaluation the tests
                use (the program as `pulumi up` runs it, here under Pulumi's mock runtime). The
                parent reads Pulumi.<stack>.yaml and makes the placeholder secrets, as the CLI
                reads the stack file before it starts the program: the child does the program's
                work only;
  b) namespace: the same `run_program`, same mocks, monitor and event loop, on a `__main__.py`
                that is only `import pulumi_kubernetes as k8s; k8s.core.v1.Namespace("ns")`.
                `tooling.evaluate` imports `components.config` for its defaults (stack file,
                placeholder secrets); b passes its config and secrets, so the child stands in an
                empty `components.config` to keep the project's modules out of the baseline.

Runs alternate a, b, a, b... after one unmeasured warm-up pair (bytecode caches, page cache).
Prints each pair, the median of a and of b and the ratio; exits 1 when the wall-clock ratio exceeds
--max-ratio (the requirement: at most 2x). Each child's CPU time (user + system, all its threads)
is printed beside it, and the load average when the machine was busy: other work on the machine
stretches wall times more than CPU times, so a CPU ratio far from the wall ratio, or the load
warning, says to run again on a quiet machine.

Bytecode: Python caches compiled modules in `__pycache__`, so a second `pulumi up` does not compile
the program again. This environment sets PYTHONDONTWRITEBYTECODE=1, with which every run compiles
the project's modules (and any dependency installed without bytecode) again: about 0.1 s more for
a. By default the children cache bytecode in a temporary directory (PYTHONPYCACHEPREFIX: nothing is
written in the work tree; the warm-up pair fills it, a few seconds); `--bytecode env` keeps the
environment as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tooling import evaluate  # the parent reads the stack file with it

ROOT = evaluate.ROOT

NAMESPACE_PROGRAM = 'import pulumi_kubernetes as k8s\nk8s.core.v1.Namespace("ns")\n'

PROGRAM_CHILD = """\
import json, sys
sys.path.insert(0, {root!r})
from tooling.evaluate import run_program
config, secrets = json.loads({settings!r})
print(len(run_program({stack!r}, config=config, secrets=secrets).resources))
"""

NAMESPACE_CHILD = """\
import sys, types
sys.path.insert(0, {root!r})
sys.modules["components.config"] = types.ModuleType("components.config")  # see the docstring
for name in ("SECRET_KEYS", "ConfigError", "parse_platform_config", "read_stack_file",
             "required_secrets"):
    setattr(sys.modules["components.config"], name, None)
from pathlib import Path
from tooling import evaluate
evaluate.ROOT = Path({program_dir!r})
print(len(evaluate.run_program("bench", config={{}}, secrets={{}}).resources))
"""


def timed(code: str, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds the child process took, start to exit; its CPU seconds (user + system, all
    threads: less sensitive to other load on the machine); the number of resources it registered.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"child failed ({done.returncode}):\n{done.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, int(done.stdout.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=7, help="paired runs (default 7)")
    parser.add_argument("--max-ratio", type=float, default=2.0)
    parser.add_argument(
        "--bytecode", choices=("cache", "env"), default="cache",
        help="cache (default): the children cache bytecode, in a temporary directory, as Python"
        " does by default; env: as this environment says (PYTHONDONTWRITEBYTECODE=1 here: the"
        " project's modules are compiled again in every run)",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="startup-bench-") as program_dir:
        (Path(program_dir) / "__main__.py").write_text(NAMESPACE_PROGRAM)
        config = evaluate.stack_config(args.stack)
        secrets = evaluate.placeholder_secrets(config)
        program = PROGRAM_CHILD.format(
            root=str(ROOT), stack=args.stack, settings=json.dumps([config, secrets])
        )
        namespace = NAMESPACE_CHILD.format(root=str(ROOT), program_dir=program_dir)
        env = dict(os.environ)
        if args.bytecode == "cache":
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(program_dir) / "pycache")

        def timed_a() -> tuple[float, float, int]:
            return timed(program, env)

        def timed_b() -> tuple[float, float, int]:
            return timed(namespace, env)

        timed_a(), timed_b()  # warm-up pair, not counted (with --bytecode cache: fills the cache)
        a_wall, b_wall, a_cpu, b_cpu = [], [], [], []
        print(f"run   a: {args.stack} program s (cpu)   b: one Namespace s (cpu)   a/b")
        for n in range(1, args.runs + 1):
            a, a_c, a_count = timed_a()
            b, b_c, b_count = timed_b()
            a_wall.append(a)
            a_cpu.append(a_c)
            b_wall.append(b)
            b_cpu.append(b_c)
            print(f"{n:>3}  {a:>17.3f} ({a_c:.3f})  {b:>16.3f} ({b_c:.3f})  {a / b:>4.2f}")

    a_med, b_med = statistics.median(a_wall), statistics.median(b_wall)
    ratio = a_med / b_med
    cpu_ratio = statistics.median(a_cpu) / statistics.median(b_cpu)
    print(f"bytecode: {args.bytecode}")
    print(f"median a ({args.stack} program, {a_count} resources): {a_med:.3f} s"
          f" (cpu {statistics.median(a_cpu):.3f} s)")
    print(f"median b (one Namespace, {b_count} resource): {b_med:.3f} s"
          f" (cpu {statistics.median(b_cpu):.3f} s)")
    load = os.getloadavg()[0]
    busy = f"; load average {load:.1f} on {os.cpu_count()} CPUs: timings are noisy" if (
        load > (os.cpu_count() or 1)) else ""
    verdict = "ok" if ratio <= args.max_ratio else "FAIL"
    print(f"ratio a/b: {ratio:.2f} wall (max {args.max_ratio:.2f}) {verdict};"
          f" {cpu_ratio:.2f} cpu{busy}")
    return 0 if ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
