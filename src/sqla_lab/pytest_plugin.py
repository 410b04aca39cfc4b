"""pytest fixtures backed by a real PostgreSQL (registered through the ``pytest11`` entry point).

Fixtures:

``postgres`` (session)
    A running server: the embedded one, started on first use and stopped at the end of the
    session, or the one ``DATABASE_URL`` / ``SQLA_LAB_DATABASE_URL`` names.
``database_url`` (session)
    The SQLAlchemy URL (``postgresql+asyncpg``) of a database sqla-lab creates on that server
    for this test session (one per pytest-xdist worker), with the sqla-lab tables created
    once; it is dropped at the end. The database ``DATABASE_URL`` names is only connected to.
``database`` (function, async)
    A :class:`~sqla_lab.database.Database` on that server, disposed after the test.
``session`` (function, async)
    An ``AsyncSession`` inside an outer transaction that is rolled back after the test, so
    tests never see each other's rows, even when the code under test commits (SQLAlchemy's
    "join into an external transaction" recipe with ``create_savepoint``).

``query_recorder`` (function)
    A :class:`~sqla_lab.QueryRecorder` on ``session``, recording for the
    whole test.
``assert_max_queries`` (function)
    ``with assert_max_queries(n[, target]):`` fails the test with
    :class:`~sqla_lab.errors.QueryBudgetExceeded`, listing the statements, when the block
    sends more than ``n`` statements through ``target`` (default: ``session``).
``no_n_plus_one`` (function)
    ``with no_n_plus_one([target], allow=...):`` fails the test with
    :class:`~sqla_lab.errors.NPlusOneDetected` at the first N+1, or on leaving the block
    for an eager load that was never read (an :class:`~sqla_lab.NPlusOneDetector`
    in ``"raise"`` mode on ``target``, default: ``session``).

The async fixtures need ``pytest-asyncio`` (installed with ``sqla-lab[test]``); without it
only the sync fixtures are offered.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from sqla_lab.database import Database
from sqla_lab.demo.models import Base
from sqla_lab.errors import QueryBudgetExceeded
from sqla_lab.instruments.n_plus_one import AllowEntry, NPlusOneDetector
from sqla_lab.instruments.recorder import QueryRecorder, RecorderTarget
from sqla_lab.postgres import PostgresServer, server_from_url
from sqla_lab.workspace import Workspace

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without the [test] extra
    pytest_asyncio = None  # type: ignore[assignment]  # optional dependency

__all__ = [
    "TEST_SERVER_SETTINGS",
    "MaxQueries",
    "NoNPlusOne",
    "assert_max_queries",
    "database",
    "database_url",
    "no_n_plus_one",
    "postgres",
    "query_recorder",
    "session",
]

#: What the ``assert_max_queries`` fixture returns.
MaxQueries = Callable[..., AbstractContextManager[QueryRecorder]]
#: What the ``no_n_plus_one`` fixture returns.
NoNPlusOne = Callable[..., AbstractContextManager[NPlusOneDetector]]

#: Durability off: a test server's data is thrown away, and commits get much cheaper.
TEST_SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _database_url_from_env() -> str | None:
    return os.environ.get("SQLA_LAB_DATABASE_URL") or os.environ.get("DATABASE_URL") or None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL for the whole test session."""
    server = server_from_url(
        _database_url_from_env(),
        version=os.environ.get("SQLA_LAB_PG_VERSION", "18"),
        bin_dir=os.environ.get("SQLA_LAB_PG_BIN") or None,
        server_settings=TEST_SERVER_SETTINGS,
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def database_url(postgres: PostgresServer) -> Iterator[URL]:
    """The URL of this test session's own database, with the sqla-lab tables created once."""
    with Workspace(postgres, purpose="pytest") as workspace:
        # A sync engine here keeps this session-scoped fixture free of any event loop.
        engine = create_engine(workspace.sync_url, poolclass=NullPool)
        try:
            Base.metadata.create_all(engine)
        finally:
            engine.dispose()
        yield workspace.url


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def database(database_url: URL) -> AsyncIterator[Database]:
        """A :class:`Database` on the test server, disposed after the test."""
        db = Database(database_url)
        try:
            yield db
        finally:
            await db.dispose()

    @pytest_asyncio.fixture
    async def session(database: Database) -> AsyncIterator[AsyncSession]:
        """An ``AsyncSession`` whose work is rolled back after the test, commits included."""
        async with database.engine.connect() as connection:
            transaction = await connection.begin()
            async_session = AsyncSession(
                bind=connection,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
            )
            try:
                yield async_session
            finally:
                await async_session.close()
                if transaction.is_active:
                    await transaction.rollback()

    @pytest.fixture
    def query_recorder(session: AsyncSession) -> Iterator[QueryRecorder]:
        """A :class:`QueryRecorder` on ``session`` for the whole test."""
        with QueryRecorder(session) as recorder:
            yield recorder

    @pytest.fixture
    def assert_max_queries(session: AsyncSession) -> MaxQueries:
        """``with assert_max_queries(n[, target]):`` fails when the block sends more than n."""

        @contextmanager
        def check(limit: int, target: RecorderTarget | None = None) -> Iterator[QueryRecorder]:
            with QueryRecorder(session if target is None else target) as recorder:
                yield recorder
            if recorder.count > limit:
                raise QueryBudgetExceeded(
                    f"expected at most {limit} statement(s), the block sent {recorder.count}\n"
                    + recorder.log.format()
                )

        return check

    @pytest.fixture
    def no_n_plus_one(session: AsyncSession) -> NoNPlusOne:
        """``with no_n_plus_one([target], allow=...):`` fails on an N+1 or unused eager load."""

        @contextmanager
        def check(
            target: AsyncSession | Session | None = None, *, allow: Iterable[AllowEntry] = ()
        ) -> Iterator[NPlusOneDetector]:
            with NPlusOneDetector(
                session if target is None else target, mode="raise", allow=allow
            ) as detector:
                yield detector

        return check
