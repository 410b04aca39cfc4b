"""pytest fixtures backed by a real PostgreSQL (registered through the ``pytest11`` entry point).

Fixtures:

``postgres`` (session)
    A running server: the embedded one, started on first use and stopped at the end of the
    session, or the one ``DATABASE_URL`` / ``SQLA_LAB_DATABASE_URL`` names.
``database_url`` (session)
    Its SQLAlchemy URL (``postgresql+asyncpg``), with the sqla-lab tables created once.
``database`` (function, async)
    A :class:`~sqla_lab.database.Database` on that server, disposed after the test.
``session`` (function, async)
    An ``AsyncSession`` inside an outer transaction that is rolled back after the test, so
    tests never see each other's rows, even when the code under test commits (SQLAlchemy's
    "join into an external transaction" recipe with ``create_savepoint``).

The async fixtures need ``pytest-asyncio`` (installed with ``sqla-lab[test]``); without it
only the sync fixtures are offered.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from sqla_lab.database import Database
from sqla_lab.models import Base
from sqla_lab.postgres import PostgresServer, server_from_url

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without the [test] extra
    pytest_asyncio = None  # type: ignore[assignment]  # optional dependency

__all__ = ["TEST_SERVER_SETTINGS"]

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
    """The server's asyncpg URL, with the sqla-lab tables created once for the session."""
    # A sync engine here keeps this session-scoped fixture free of any event loop.
    engine = create_engine(postgres.sync_url, poolclass=NullPool)
    try:
        Base.metadata.create_all(engine)
        yield postgres.url
        Base.metadata.drop_all(engine)
    finally:
        engine.dispose()


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
