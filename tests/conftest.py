"""Shared pytest hooks.

A test that needs an upstream artefact (`components.upstream.find` / `chart_dir`) this machine does
not have fails with the one-line `MissingArtefact` message (artefact, upstream version, where it was
looked for, the fetch command) in place of a traceback. It fails, never skips: a clone without the
data must not pass silently.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from components.upstream import MissingArtefact


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(MissingArtefact):
        report.longrepr = str(call.excinfo.value)
    return report
