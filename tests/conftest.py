"""Suite-wide guard: no PostgreSQL, PgBouncer or scale-lab process started during the run
may outlive it."""

from __future__ import annotations

import os
import time

import pytest

from tests.helpers import leaked_scale_processes, orphaned_postmasters, postmaster_pids


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # By now every fixture is torn down: anything we own, or whose owner died, is a leak.
    deadline = time.monotonic() + 10
    while postmaster_pids(owner=os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = sorted(set(postmaster_pids(owner=os.getpid())) | set(orphaned_postmasters(wait_s=0)))
    left += leaked_scale_processes(os.getpid(), wait_s=5)
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"ERROR: postgres, pgbouncer or scale-lab processes outlived the test run: {left}"
            )
