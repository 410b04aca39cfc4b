"""The pytest plugin, tested from the outside as a user's project would use it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sqla_lab.postgres import PostgresServer
from sqla_lab.workspace import Workspace
from tests.helpers import orphaned_postmasters, postmasters

pytestmark = pytest.mark.timeout(180)

USER_TESTS = """
import pytest
from sqlalchemy import func, select, text

from sqla_lab import Database
from sqla_lab.demo import UserEntity


def test_postgres_is_running(postgres):
    assert postgres.status.value == "running"


async def test_database_has_the_tables(database: Database):
    async with database.session() as s:
        assert (await s.execute(text("SELECT count(*) FROM users"))).scalar_one() == 0


@pytest.mark.parametrize("name", ["first", "second"])
async def test_session_is_isolated(session, name):
    session.add(UserEntity(name=name))
    await session.commit()  # even a commit is rolled back after the test
    count = (await session.execute(select(func.count()).select_from(UserEntity))).scalar_one()
    assert count == 1
"""


def _run_inline(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, env_url: str | None
) -> pytest.RunResult:
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_user=USER_TESTS)
    if env_url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.delenv("SQLA_LAB_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", env_url)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")


def test_fixtures_on_the_embedded_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_inline(pytester, monkeypatch, env_url=None)
    result.assert_outcomes(passed=4)
    assert orphaned_postmasters() == []


@pytest.fixture
def throwaway_database(postgres: PostgresServer) -> Iterator[str]:
    """A database of its own on the test server: the inner run creates and drops tables."""
    with Workspace(postgres, purpose="plugintest") as workspace:
        yield workspace.url.render_as_string(hide_password=False)


def test_fixtures_on_an_existing_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, throwaway_database: str
) -> None:
    before = postmasters()
    result = _run_inline(pytester, monkeypatch, env_url=throwaway_database)
    result.assert_outcomes(passed=4)
    started = {pid: own for pid, own in postmasters().items() if pid not in before}
    assert orphaned_postmasters() == []
    assert started == {} or all(own != os.getpid() for own in started.values())


def test_plugin_is_registered_through_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_subprocess("--fixtures")
    for fixture in ("postgres", "database_url", "session"):
        result.stdout.fnmatch_lines([f"{fixture}*"])
