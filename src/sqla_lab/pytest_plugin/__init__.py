"""pytest fixtures on a real PostgreSQL, for the user's own models (the ``pytest11`` entry point).

pytest loads this plugin in every run of every project where sqla-lab is installed, so this
module and the fixture modules it registers import nothing but pytest and the standard library:
SQLAlchemy, the drivers, the server and the instruments are imported by the fixtures that
need them, when a test asks for one.

=========================  ===========  ====================================================
fixture                    scope        what
=========================  ===========  ====================================================
``postgres``               session      the server: embedded, or the one ``DATABASE_URL``
                                        (``SQLA_LAB_DATABASE_URL``) names
``db_url``                 session      ``URL`` (asyncpg) of the test session's own database
                                        (one per xdist worker) holding the tables of
                                        ``sqla_lab_metadata``; dropped at the end
``db_engine_options``      session      ``dict`` for ``create_async_engine``/``create_engine``
                                        (default ``{}``: SQLAlchemy's defaults); override it
``db_session_options``     session      ``dict`` for the session factories (default ``{}``:
                                        ``expire_on_commit=True``, as in production)
``db_engine``              event loop   the shared ``AsyncEngine`` (pytest-asyncio); its
                                        connections are closed when its event loop ends
``db_sessionmaker``        function     ``async_sessionmaker(db_engine, **db_session_options)``;
                                        override it with the project's own factory
``db_session``             function     an ``AsyncSession`` in an outer transaction rolled back
                                        after the test, the test's commits included
``db_sync_engine``         session      the shared ``Engine`` (psycopg)
``db_sync_sessionmaker``   function     ``sessionmaker(db_sync_engine, **db_session_options)``
``db_sync_session``        function     the same isolation for a sync ``Session``
``query_recorder``         function     a ``QueryRecorder`` on the test database for the test
``assert_num_queries``     function     ``with assert_num_queries(n, target=None):`` exactly n
``assert_max_queries``     function     ``with assert_max_queries(n, target=None):`` at most n
``no_n_plus_one``          function     ``with no_n_plus_one(target=None, allow=...):``
=========================  ===========  ====================================================

The instrument fixtures watch "everything on the test database during the block" by default
(every engine connected to it, the application's own included), and never count the
savepoints the session fixtures use to isolate a test. ``db_engine``, ``db_sessionmaker`` and
``db_session`` need pytest-asyncio; without it they fail with a one-line message, and every
other fixture works (:mod:`.sync_fixtures`, :mod:`.assertions`).

The ini option ``sqla_lab_metadata`` names the models, one ``module:attribute`` per line
(:mod:`._metadata`). For annotations: :class:`AssertQueries` (``assert_num_queries``,
``assert_max_queries``) and :class:`NoNPlusOne` (``no_n_plus_one``).
"""

from __future__ import annotations

import pytest

from sqla_lab.pytest_plugin.assertions import (
    AssertQueries,
    NoNPlusOne,
    NoNPlusOneBlock,
    QueryCountBlock,
)
from sqla_lab.pytest_plugin.sync_fixtures import TEST_SERVER_SETTINGS

__all__ = [
    "TEST_SERVER_SETTINGS",
    "AssertQueries",
    "NoNPlusOne",
    "NoNPlusOneBlock",
    "QueryCountBlock",
    "pytest_addoption",
    "pytest_configure",
]

#: The names pytest-asyncio's plugin registers under (entry point; ``-p`` by module name).
_ASYNCIO_PLUGINS = ("asyncio", "pytest_asyncio.plugin")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``sqla_lab_metadata`` ini option."""
    from sqla_lab.pytest_plugin._metadata import INI_OPTION

    parser.addini(
        INI_OPTION,
        type="linelist",
        default=[],
        help="sqla-lab: the models whose tables the test database gets, one "
        "'module:attribute' per line (a MetaData or a declarative base)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check the ini option and register the fixtures (async ones only with pytest-asyncio)."""
    from sqla_lab.errors import ConfigurationError
    from sqla_lab.pytest_plugin._metadata import INI_OPTION, parse_specs

    try:
        parse_specs(config.getini(INI_OPTION))
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None
    # The fixture modules are plugins of their own, registered here so that the async ones
    # can be left out when pytest-asyncio is missing or disabled (-p no:asyncio).
    from sqla_lab.pytest_plugin import assertions, sync_fixtures

    manager = config.pluginmanager
    manager.register(sync_fixtures, "sqla_lab.sync_fixtures")
    manager.register(assertions, "sqla_lab.assertions")
    if any(manager.has_plugin(name) for name in _ASYNCIO_PLUGINS):
        from sqla_lab.pytest_plugin import async_fixtures

        manager.register(async_fixtures, "sqla_lab.async_fixtures")
    else:
        from sqla_lab.pytest_plugin import without_asyncio

        manager.register(without_asyncio, "sqla_lab.async_fixtures")
