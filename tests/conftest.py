"""Suite-wide guard: no PostgreSQL started during the run may outlive it."""

from __future__ import annotations

import time

import pytest

from tests.helpers import postmaster_pids

_BEFORE = pytest.StashKey[set[int]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[_BEFORE] = set(postmaster_pids())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.stash.get(_BEFORE, set())
    deadline = time.monotonic() + 10
    while (left := set(postmaster_pids()) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"ERROR: postgres processes outlived the test run: {sorted(left)}")
