"""The fixtures that need no event loop: the server, the test database, sync engine and session.

Registered in every run (see the package docstring); nothing here imports SQLAlchemy or the
server until a fixture runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL, Engine
    from sqlalchemy.orm import Session, sessionmaker

    from sqla_lab.postgres import PostgresServer

__all__ = [
    "TEST_SERVER_SETTINGS",
    "db_engine_options",
    "db_session_options",
    "db_sync_engine",
    "db_sync_session",
    "db_sync_sessionmaker",
    "db_url",
    "postgres",
]

#: Durability off: a test server's data is thrown away, and commits get much cheaper.
TEST_SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL server of the test session: embedded, or the one DATABASE_URL names.

    The embedded server (127.0.0.1, a random port and password, durability off) is stopped
    and its data deleted at the end; a server named by ``SQLA_LAB_DATABASE_URL`` or
    ``DATABASE_URL`` is only connected to.
    """
    from sqla_lab.pytest_plugin._server import test_server

    with test_server(TEST_SERVER_SETTINGS) as server:
        yield server


@pytest.fixture(scope="session")
def _sqla_lab_metadata(pytestconfig: pytest.Config) -> list[MetaData]:
    """The ``MetaData`` objects the ``sqla_lab_metadata`` ini option names, imported."""
    from sqla_lab.errors import ConfigurationError
    from sqla_lab.pytest_plugin._failure import one_line
    from sqla_lab.pytest_plugin._metadata import INI_OPTION, load_metadata, parse_specs

    try:
        return load_metadata(parse_specs(pytestconfig.getini(INI_OPTION)))
    except ConfigurationError as exc:
        raise one_line(exc) from None


@pytest.fixture(scope="session")
def db_url(_sqla_lab_metadata: list[MetaData], postgres: PostgresServer) -> Iterator[URL]:
    """The URL (``postgresql+asyncpg``) of the test session's own database, with the tables.

    A database ``sqla_lab_pytest_<random>`` created for this session (one per xdist worker),
    or, where the role lacks CREATEDB, a schema of that name in the DATABASE_URL database;
    the tables of ``sqla_lab_metadata`` are created once, and the whole of it is dropped at
    the end. The database DATABASE_URL names is never written to.
    """
    from sqla_lab.pytest_plugin._server import test_database

    with test_database(postgres, _sqla_lab_metadata) as workspace:
        yield workspace.url


@pytest.fixture(scope="session")
def db_engine_options() -> dict[str, Any]:
    """Keyword arguments for the test engines (default: none, SQLAlchemy's defaults).

    Passed to ``create_async_engine`` (``db_engine``) and ``create_engine``
    (``db_sync_engine``). Override it (session-scoped) in the root ``conftest.py``.
    """
    return {}


@pytest.fixture(scope="session")
def db_session_options() -> dict[str, Any]:
    """Keyword arguments for the session factories (default: none, ``expire_on_commit=True``).

    Passed to ``async_sessionmaker`` (``db_sessionmaker``) and ``sessionmaker``
    (``db_sync_sessionmaker``). Override it in a ``conftest.py``.
    """
    return {}


@pytest.fixture(scope="session")
def db_sync_engine(db_url: URL, db_engine_options: dict[str, Any]) -> Iterator[Engine]:
    """A sync ``Engine`` (psycopg) on the test database, shared by the whole session."""
    from sqlalchemy import create_engine

    engine = create_engine(db_url.set(drivername="postgresql+psycopg"), **db_engine_options)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def db_sync_sessionmaker(
    db_sync_engine: Engine, db_session_options: dict[str, Any]
) -> sessionmaker[Session]:
    """``sessionmaker(db_sync_engine, **db_session_options)``; override it with your own."""
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(db_sync_engine, **db_session_options)


@pytest.fixture
def db_sync_session(
    db_sync_engine: Engine, db_sync_sessionmaker: sessionmaker[Session]
) -> Iterator[Session]:
    """A sync ``Session`` whose work is rolled back after the test, commits included."""
    from sqla_lab.pytest_plugin._isolation import isolated_session

    with isolated_session(db_sync_engine, db_sync_sessionmaker) as session:
        yield session
