"""In CI (the environment variable CI is set, as .ci/run runs) nothing skips for a missing tool: a test
that would skip (no Chromium, no Java, no pyspark) fails instead, naming what was missing. Skips are for
developers' own machines."""

from __future__ import annotations

import os

import pytest

IN_CI = bool(os.environ.get("CI"))


def _fail_skip(rep) -> None:
    if IN_CI and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"would have skipped, but nothing skips in CI: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip(outcome.get_result())
