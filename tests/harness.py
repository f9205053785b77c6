"""The tests' view of the program under Pulumi's mock runtime: see `tooling.evaluate`.

`recorded(stack)` is the committed stack's evaluation (about a second for ~150 resources).

`rendered(stack)` is the committed stack's offline render (tooling/render.py). Both are made
once per test *run*: the first pytest-xdist worker that needs one makes it (a render takes about
5 s a stack) and leaves a pickle for the others in the run's share folder (tests/conftest.py),
behind a file lock, so each is made once however the files are spread over the workers. Read
them, never change them.
"""

import copy
import fcntl
import functools
import os
import pickle
import subprocess
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import pytest

from components.config import ConfigError, parse_platform_config
from tooling import render
from tooling.evaluate import (  # noqa: F401 (re-exported for the test modules)
    ROOT,
    Recording,
    Registered,
    is_secret,
    placeholder,
    placeholder_secrets,
    run_program,
    stack_config,
    unwrap,
)

T = TypeVar("T")
STACKS = ("stg", "prod")  # the committed stack files
# git for the tests' own repositories: no user or system configuration, a fixed identity
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
}


@functools.cache
def recorded(stack: str) -> Recording:
    """The committed stack file's evaluation with placeholder secrets, shared by the workers of
    one run like `rendered`. Read it, never change it."""
    return _shared(f"recorded-{stack}", lambda: run_program(stack))


@functools.cache
def rendered(stack: str) -> render.StackRender:
    """The committed stack's render, shared by the workers of one run (see the module docstring)."""
    return _shared(f"rendered-{stack}", lambda: render.render_stack(stack))


def _shared(name: str, make: Callable[[], T]) -> T:
    """`make()`, made by the first worker of this run that asks and pickled for the others
    (behind a file lock); made in-process without the share folder."""
    share = os.environ.get("PLATE_TEST_SHARE")  # tests/conftest.py makes it per run
    if share is None:
        return make()
    folder = Path(share)
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait while one makes it
        cached = folder / f"{name}.pickle"
        if cached.exists():
            loaded: T = pickle.loads(cached.read_bytes())
            return loaded
        result = make()
        staging = cached.with_suffix(".partial")
        staging.write_bytes(pickle.dumps(result))
        staging.rename(cached)
        return result


def with_settings(stack: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The committed stack file with `changes` applied: dotted key -> new value, None to remove
    the key (missing parents are created)."""
    config = copy.deepcopy(stack_config(stack))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return config


def refusal(
    stack: str,
    config: dict[str, Any],
    drop: Collection[str] = (),
    add: Collection[str] = (),
) -> list[str]:
    """The config problems of evaluating `config` with the secrets it requires minus `drop`
    plus `add` (placeholders); fails unless it is refused before any resource is registered."""
    secrets = {k: v for k, v in placeholder_secrets(config).items() if k not in drop}
    secrets |= {key: placeholder(key) for key in add}
    recording = Recording()
    with pytest.raises(ConfigError) as exc:
        run_program(stack, config, secrets=secrets, recording=recording)
    assert recording.resources == []
    return exc.value.problems


def supplying(stack: str, *keys: str) -> dict[str, Any]:
    """The committed stack's config with `keys` taken out of `generated_secrets`: the stack supplies
    those secrets itself (a secret both set and listed as generated is refused)."""
    config = copy.deepcopy(stack_config(stack))
    config["generated_secrets"] = [k for k in config.get("generated_secrets", []) if k not in keys]
    return config


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a server a test started: SIGTERM, then SIGKILL after 10 s; None is a no-op."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def config_problems(raw: dict[str, Any]) -> list[str]:
    """The problems `parse_platform_config` refuses `raw` with (it must refuse it)."""
    with pytest.raises(ConfigError) as exc:
        parse_platform_config(raw)
    return exc.value.problems
