"""The asyncio fixtures: the shared ``AsyncEngine`` and the rolled-back ``AsyncSession``.

Registered only when pytest-asyncio is active (:mod:`.without_asyncio` stands in otherwise).

An asyncpg connection belongs to the event loop it was opened in. One ``AsyncEngine`` object
serves the whole test session, and ``db_engine`` closes its pooled connections when the
event loop they were opened in ends: ``db_engine`` is scoped like pytest-asyncio's loop for
fixtures (``asyncio_default_fixture_loop_scope``). With ``session`` loop scope one pool serves
every test (a checkout per test); with ``function`` loop scope (pytest-asyncio's default)
each test opens its connection anew, the price of a new loop per test. The fixtures and the
tests must run in the same loop: ``db_session`` says so in one line when the test's loop scope
(``asyncio_default_test_loop_scope`` or its ``asyncio`` mark) differs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Literal

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

__all__ = ["Scope", "db_engine", "db_session", "db_sessionmaker", "loop_scope"]

Scope = Literal["session", "package", "module", "class", "function"]
_SCOPES: tuple[Scope, ...] = ("session", "package", "module", "class", "function")


def loop_scope(fixture_name: str, config: pytest.Config) -> Scope:
    """The loop scope pytest-asyncio gives this plugin's async fixtures (and ``db_engine``'s scope).

    ``asyncio_default_fixture_loop_scope`` when it names a scope; unset (or
    ``fixture-scope``), a fixture's loop is scoped like the fixture, and ``function`` is the
    one that keeps ``db_engine`` and ``db_session`` in the same loop.
    """
    configured = config.getini("asyncio_default_fixture_loop_scope")
    for scope in _SCOPES:
        if configured == scope:
            return scope
    return "function"


def _test_loop_scope(item: pytest.Item) -> str:
    marker = item.get_closest_marker("asyncio")
    scope = (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")) if marker else None
    return str(scope or item.config.getini("asyncio_default_test_loop_scope") or "function")


@pytest.fixture(scope="session")
def _sqla_lab_async_engine(db_url: URL, db_engine_options: dict[str, Any]) -> Iterator[AsyncEngine]:
    """The one ``AsyncEngine`` object; ``db_engine`` empties its pool before each loop ends."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db_url, **db_engine_options)
    try:
        yield engine
    finally:
        # db_engine closed the connections in their loops; nothing is left to await here.
        engine.sync_engine.dispose(close=False)


@pytest_asyncio.fixture(scope=loop_scope)
async def db_engine(_sqla_lab_async_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The ``AsyncEngine`` on the test database, shared (see the module docstring).

    Built with ``db_engine_options``. Its connections are closed at the end of the event loop
    they were opened in, so the same object serves any pytest-asyncio loop scope.
    """
    try:
        yield _sqla_lab_async_engine
    finally:
        await _sqla_lab_async_engine.dispose()


@pytest.fixture
def db_sessionmaker(
    db_engine: AsyncEngine, db_session_options: dict[str, Any]
) -> async_sessionmaker[AsyncSession]:
    """``async_sessionmaker(db_engine, **db_session_options)``; override it with your own.

    ``db_session`` calls it with ``bind=`` the test's connection, so a project's own factory
    (its session class, ``expire_on_commit``, ``autoflush``, ``info``) is used as it is.
    """
    from sqlalchemy.ext.asyncio import async_sessionmaker

    return async_sessionmaker(db_engine, **db_session_options)


@pytest_asyncio.fixture
async def db_session(
    request: pytest.FixtureRequest,
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """An ``AsyncSession`` whose work is rolled back after the test, commits included."""
    _check_same_loop(request)
    from sqla_lab.pytest_plugin._isolation import isolated_async_session

    async with isolated_async_session(db_engine, db_sessionmaker) as session:
        yield session


def _check_same_loop(request: pytest.FixtureRequest) -> None:
    item = request.node
    if not isinstance(item, pytest.Item) or not pytest_asyncio.is_async_test(item):
        return  # a sync test never awaits the session
    fixtures = loop_scope("db_session", request.config)
    tests = _test_loop_scope(item)
    if fixtures != tests:
        pytest.fail(
            f"sqla-lab: db_session runs in the {fixtures!r}-scoped event loop "
            f"(asyncio_default_fixture_loop_scope) but this test runs in a {tests!r}-scoped "
            "one; an asyncpg connection works only in its own loop: set "
            f"asyncio_default_test_loop_scope = {fixtures} (or the fixture scope to {tests})",
            pytrace=False,
        )
