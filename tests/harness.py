"""The tests' view of the program under Pulumi's mock runtime: see `components.evaluate`.

`recorded(stack)` is the committed stack's evaluation, made once per test process and shared by
every module that only reads it (an evaluation of ~80 resources costs about a second).
"""

import functools

from components.evaluate import (  # noqa: F401 (re-exported for the test modules)
    ROOT,
    Recording,
    Registered,
    is_secret,
    run_program,
    stack_config,
    unwrap,
)


@functools.cache
def recorded(stack: str) -> Recording:
    """The committed stack file's evaluation with placeholder secrets. Read it, never change it."""
    return run_program(stack)
