"""Refuses a production deploy whose tag is not the revision the prod stack pins, or whose app
images are not pinned by digest.

    python -m ops.release_check --stack prod --tag v1.2.0

The prod app-of-apps follows `gitops.target_revision`; deploying tag v1.2.0 while the stack file
still pins v1.1.0 would roll the platform forward and the applications not (or back). The release
commit bumps the pin (and regenerates the child Applications), records the digest of every app
image the production values run (`python -m ops.pin_digests --stack prod`), and is the commit
that gets tagged. A production stack's release is refused while a values file lacks its digest
or names a digest resolved from another tag (`ops.pin_digests.digest_problems`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.config import parse_platform_config, read_stack_file
from ops.pin_digests import digest_problems

ROOT = Path(__file__).resolve().parent.parent


def release_problem(stack: str, tag: str) -> str | None:
    """Why `tag` may not be deployed to `stack` (one line per problem), or None."""
    cfg = parse_platform_config(read_stack_file(ROOT / f"Pulumi.{stack}.yaml"))
    problems = []
    if cfg.gitops.target_revision != tag:
        problems.append(
            f"tag {tag!r} does not match gitops.target_revision {cfg.gitops.target_revision!r} in "
            f"Pulumi.{stack}.yaml: bump the pin, run `python -m tooling.children --write`, "
            f"commit, then tag that commit"
        )
    if cfg.production:
        problems += digest_problems(cfg, ROOT)
    return "\n".join(problems) or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--tag", required=True)
    args = parser.parse_args(argv)
    problem = release_problem(args.stack, args.tag)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    print(f"tag {args.tag} matches the {args.stack} stack's GitOps pin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
