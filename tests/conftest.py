"""Shared pytest hooks.

A test that needs an upstream artefact (`tooling.upstream.find` / `chart_dir`) this machine does
not have fails with the one-line `MissingArtefact` message (artefact, upstream version, where it was
looked for, the fetch command) in place of a traceback. It fails, never skips: a clone without the
data must not pass silently.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Generator

import pytest

from tests.harness import STACKS, Recording, recorded
from tooling.upstream import MissingArtefact


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(MissingArtefact):
        report.longrepr = str(call.excinfo.value)
    return report


# The slowest modules, slowest first. pytest-xdist (`--dist loadfile`) hands modules to the
# workers in collection order; starting the long ones first keeps one of them from running alone
# at the end (longest-processing-time-first scheduling). Only the order changes, never a result.
SLOWEST_FIRST = (
    "test_render.py",
    "test_openbao_snapshot.py",
    "test_alerts.py",
    "test_netpol.py",
    "test_program.py",
    "test_openbao.py",
    "test_config_fuzz.py",
    "test_upstream_schemas.py",
    "test_platform_wiring.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# tests/harness.py shares one render and one evaluation per stack between the workers of a run
# through this folder: made by the controlling process (the workers inherit its environment),
# removed at its end.
SHARE_ENV = "PLATE_TEST_SHARE"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and SHARE_ENV not in os.environ:
        share = tempfile.mkdtemp(prefix="plate-tests-")
        os.environ[SHARE_ENV] = share
        config.stash[_share_key] = share


def pytest_unconfigure(config: pytest.Config) -> None:
    share = config.stash.get(_share_key, None)
    if share is not None:
        shutil.rmtree(share, ignore_errors=True)
        os.environ.pop(SHARE_ENV, None)


_share_key = pytest.StashKey[str]()


# --- the committed stacks under the mock runtime, shared by every test module -------------------
# (tests/harness.py makes each evaluation once per run and shares it between the workers)


@pytest.fixture(scope="module")
def stg() -> Recording:
    return recorded("stg")


@pytest.fixture(scope="module")
def prod() -> Recording:
    return recorded("prod")


@pytest.fixture(params=STACKS)
def rec(request: pytest.FixtureRequest, stg: Recording, prod: Recording) -> Recording:
    """Each committed stack's evaluation in turn."""
    return {"stg": stg, "prod": prod}[request.param]


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Generator[None, None, None]:
    """The program freezes what is alive out of garbage collection and collects less often
    (components/platform.py: right for the one evaluation of a `pulumi up`); a test process
    evaluates many times, so each test gives the collector back as it found it."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
