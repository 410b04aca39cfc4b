"""Suite-wide guard: no PostgreSQL, PgBouncer or scale-lab process started during the run
may outlive it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from sqla_lab.demo.models import Base
from sqla_lab.postgres import PostgresServer
from sqla_lab.workspace import Workspace
from tests.helpers import leaked_scale_processes, orphaned_postmasters, postmaster_pids


@pytest.fixture(scope="session")
def workspace(postgres: PostgresServer) -> Iterator[Workspace]:
    """A database of the suite's own on the test server (never the one DATABASE_URL names)."""
    with Workspace(postgres, purpose="tests") as created:
        engine = create_engine(created.sync_url, poolclass=NullPool)
        try:
            Base.metadata.create_all(engine)
        finally:
            engine.dispose()
        yield created


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
