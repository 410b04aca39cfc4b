"""A session per test whose work is rolled back, commits included, on a shared engine.

SQLAlchemy's "join a session into an external transaction" recipe: the fixture checks a
connection out of the shared engine's pool, begins a transaction on it, and binds the test's
session to that connection with ``join_transaction_mode="create_savepoint"``. The code under
test may ``commit()`` (a ``RELEASE SAVEPOINT``) and ``rollback()`` (a ``ROLLBACK TO
SAVEPOINT``) as it would in production; after the test the outer transaction is rolled back
and the connection goes back to the pool. One pooled checkout, a ``BEGIN``, a ``SAVEPOINT``
and a ``ROLLBACK`` per test: no new engine, no new connection, no ``TRUNCATE``. (The outer
transaction is rolled back before the session closes, which ends the session's savepoint
with it: no ``ROLLBACK TO SAVEPOINT`` of its own.)

Those savepoints are the fixture's, not the test's: the connection is marked
(:func:`sqla_lab.instruments._tap.harness_savepoints`), so no instrument counts them and
``assert_num_queries(n)`` sees what production would send.

Imported by the fixtures when a test first asks for a session, never when pytest starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from sqla_lab.instruments._tap import harness_savepoints

__all__ = ["isolated_async_session", "isolated_session"]


def _rebinding(
    factory: sessionmaker[Any] | async_sessionmaker[Any],
    expected: type[sessionmaker[Any] | async_sessionmaker[Any]],
    fixture: str,
    bind: Any,
) -> dict[str, Any]:
    """The keywords that bind a session of ``factory`` to the test's connection only."""
    if not isinstance(factory, expected):
        pytest.fail(
            f"sqla-lab: the {fixture} fixture must return a {expected.__name__}, "
            f"not {type(factory).__name__}",
            pytrace=False,
        )
    keywords: dict[str, Any] = {"bind": bind, "join_transaction_mode": "create_savepoint"}
    if factory.kw.get("binds"):
        # Per-class binds would lead around the test's connection, out of the rollback.
        keywords["binds"] = {}
    return keywords


@contextmanager
def isolated_session(engine: Engine, factory: sessionmaker[Any]) -> Iterator[Session]:
    """A sync ``Session`` from ``factory`` whose work is rolled back on exit."""
    with engine.connect() as connection:
        outer = connection.begin()
        keywords = _rebinding(factory, sessionmaker, "db_sync_sessionmaker", connection)
        with harness_savepoints(connection):
            session = factory(**keywords)
            try:
                yield session
            finally:
                try:
                    if outer.is_active:
                        outer.rollback()
                finally:
                    session.close()


@asynccontextmanager
async def isolated_async_session(
    engine: AsyncEngine, factory: async_sessionmaker[Any]
) -> AsyncIterator[AsyncSession]:
    """An ``AsyncSession`` from ``factory`` whose work is rolled back on exit."""
    async with engine.connect() as connection:
        outer = await connection.begin()
        keywords = _rebinding(factory, async_sessionmaker, "db_sessionmaker", connection)
        sync_connection = connection.sync_connection
        assert sync_connection is not None  # started by connect()
        with harness_savepoints(sync_connection):
            session = factory(**keywords)
            try:
                yield session
            finally:
                try:
                    if outer.is_active:
                        await outer.rollback()
                finally:
                    await session.close()
