"""The tests' view of the program under Pulumi's mock runtime: see `components.evaluate`."""

from components.evaluate import (  # noqa: F401 (re-exported for the test modules)
    ROOT,
    Recording,
    Registered,
    is_secret,
    run_program,
    stack_config,
    unwrap,
)
