"""The query fixtures of the pytest plugin, tested from the outside with ``pytester``.

The inner test run points ``SQLA_LAB_DATABASE_URL`` at a database of its own on the session's
server; its ``db_url`` fixture creates (and drops) its test database next to it, with the demo
models' tables (``sqla_lab_metadata``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sqla_lab.postgres import PostgresServer
from tests.integration._loading_data import separate_database

INNER_DATABASE = "sqla_lab_pytester_loading"

INNER_TESTS = """
from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from sqla_lab import QueryRecorder
from sqla_lab.demo import PostEntity, UserEntity


async def _fill(session, users):
    await session.execute(text("DELETE FROM posts"))
    await session.execute(text("DELETE FROM users"))
    session.add_all(
        [UserEntity(name=f"u{i}", posts=[PostEntity(title="t")]) for i in range(users)]
    )
    await session.flush()
    session.expunge_all()


async def test_recorder_counts(db_session, query_recorder):
    await db_session.execute(text("SELECT 1"))
    await db_session.execute(text("SELECT 2"))
    assert isinstance(query_recorder, QueryRecorder)
    # The db_session fixture's SAVEPOINT is its own: never counted.
    assert [q.sql.split()[0] for q in query_recorder.queries] == ["SELECT", "SELECT"]


async def test_budget_kept(db_session, assert_max_queries):
    await _fill(db_session, 3)
    with assert_max_queries(2):
        stmt = select(UserEntity).options(selectinload(UserEntity.posts))
        users = (await db_session.scalars(stmt)).all()
    assert len(users) == 3


async def test_budget_exceeded(db_session, assert_max_queries):
    await _fill(db_session, 3)
    with assert_max_queries(2):
        for user in (await db_session.scalars(select(UserEntity))).all():
            await user.awaitable_attrs.posts


async def test_eager_is_clean(db_session, no_n_plus_one):
    await _fill(db_session, 3)
    with no_n_plus_one():
        stmt = select(UserEntity).options(selectinload(UserEntity.posts))
        assert sum(len(u.posts) for u in (await db_session.scalars(stmt)).all()) == 3


async def test_lazy_loop_fails(db_session, no_n_plus_one):
    await _fill(db_session, 3)
    with no_n_plus_one():
        for user in (await db_session.scalars(select(UserEntity))).all():
            await user.awaitable_attrs.posts


async def test_unused_eager_fails(db_session, no_n_plus_one):
    await _fill(db_session, 3)
    with no_n_plus_one():
        await db_session.scalars(select(UserEntity).options(selectinload(UserEntity.posts)))


async def test_allowed_lazy_loop_passes(db_session, no_n_plus_one):
    await _fill(db_session, 3)
    with no_n_plus_one(allow=["UserEntity.posts"]):
        for user in (await db_session.scalars(select(UserEntity))).all():
            await user.awaitable_attrs.posts
"""


@pytest.fixture(scope="module")
def inner_database_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh database on the session's server for the inner runs, dropped afterwards."""
    with separate_database(postgres, INNER_DATABASE) as url:
        yield url.render_as_string(hide_password=False)


def test_fixtures_from_the_outside(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, inner_database_url: str
) -> None:
    monkeypatch.setenv("SQLA_LAB_DATABASE_URL", inner_database_url)
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "sqla_lab_metadata = sqla_lab.demo.models:Base\n"
    )
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(passed=4, failed=3)
    result.stdout.fnmatch_lines(
        [
            "E *QueryBudgetExceeded: expected at most 2 statement(s) on the test database, "
            "the block sent 4",
            "E *NPlusOneDetected: 1 finding(s) in the block:",
            "E *N+1: UserEntity.posts lazy-loaded for 3 sibling objects*",
            "E *NPlusOneDetected: 1 finding(s) in the block:",
            "E *unused eager load: UserEntity.posts loaded 3 row(s)*",
        ]
    )
    # The budget failure lists the statements it counted.
    result.stdout.fnmatch_lines(["E *4 statement(s):", "E *1. SELECT users.id, users.name*"])
