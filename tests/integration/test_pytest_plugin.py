"""The pytest plugin, tested from the outside: a user's project through every fixture.

The project (``_plugin_project.py``) has its own models, among them a ``users`` table unlike
sqla-lab's, a FastAPI app with its own session dependency, and tests of every fixture. It
runs three times in a pytest subprocess:

* on the embedded server, pytest-asyncio with ``function`` loop scope;
* with ``DATABASE_URL`` pointing at a server this module starts (never any other), as a role
  that may create databases, pytest-asyncio with ``session`` loop scope;
* with ``DATABASE_URL`` as a role without CREATEDB (the test database is a schema) and
  without pytest-asyncio (it cannot be imported): the sync fixtures.

After each run nothing of sqla-lab's is left on the server and the user's database is as it was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from sqla_lab.postgres import EmbeddedPostgres
from sqla_lab.pytest_plugin import TEST_SERVER_SETTINGS
from tests.helpers import orphaned_postmasters, postmaster_pids
from tests.integration import _plugin_project as project

pytestmark = pytest.mark.timeout(300)

USERS_ROWS = 25
ASYNC_FILES = {
    "test_models.py": project.TEST_ASYNC,
    "test_web.py": project.TEST_WEB,
    "test_own_factory.py": project.TEST_OWN_FACTORY,
}
SYNC_FILES = {
    "test_sync.py": project.TEST_SYNC,
    "test_sync_options.py": project.TEST_SYNC_OPTIONS,
}
# Tests expected to pass (parametrized ones counted per case).
ASYNC_PASSED = 15 + 2 + 2  # test_models.py, test_web.py, test_own_factory.py
SYNC_PASSED = 6 + 1  # test_sync.py, test_sync_options.py


NO_PYTEST_ASYNCIO = """
import sys


class NoPytestAsyncio:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pytest_asyncio":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoPytestAsyncio())
"""


def _ini(loop_scope: str | None) -> str:
    lines = [
        "[pytest]",
        "pythonpath = .",
        "sqla_lab_metadata = myapp.models:Base",
        "filterwarnings = error",
    ]
    if loop_scope is not None:
        lines += [
            "asyncio_mode = auto",
            f"asyncio_default_fixture_loop_scope = {loop_scope}",
            f"asyncio_default_test_loop_scope = {loop_scope}",
        ]
    return "\n".join(lines) + "\n"


def _write_project(
    pytester: pytest.Pytester, files: dict[str, str], loop_scope: str | None
) -> None:
    pytester.makefile(".ini", pytest=_ini(loop_scope))
    package = pytester.mkpydir("myapp")
    (package / "models.py").write_text(project.MODELS)
    (package / "web.py").write_text(project.WEB)
    pytester.makeconftest(project.CONFTEST)
    for name, source in files.items():
        (pytester.path / name).write_text(source)


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, url: str | None, *args: str
) -> pytest.RunResult:
    monkeypatch.delenv("SQLA_LAB_DATABASE_URL", raising=False)
    if url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", url)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfE", *args)


def _check_async_run(result: pytest.RunResult) -> None:
    # One test fails on purpose (the lazy route), one errors on purpose (another loop).
    result.assert_outcomes(passed=ASYNC_PASSED + SYNC_PASSED, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_web.py::test_lazy_route - sqla_lab.errors.NPlusOneDetected*",
            "ERROR test_models.py::test_a_loop_other_than_the_fixtures_is_refused - Failed*",
        ]
    )
    # The refusal is one line, without a traceback.
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_a_loop_other_than_the_fixtures_is_refused*",
            "sqla-lab: db_session runs in the *-scoped event loop "
            "(asyncio_default_fixture_loop_scope) but this test runs in a 'module'-scoped one*",
            "=*",
        ]
    )
    output = result.stdout.str()
    assert re.search(
        r"N\+1: Author\.books lazy-loaded for 3 sibling objects at \S+web\.py:\d+; "
        r"fix: \.options\(selectinload\(Author\.books\)\)",
        output,
    ), output


def test_a_project_on_the_embedded_server_with_function_loops(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_project(pytester, {**ASYNC_FILES, **SYNC_FILES}, loop_scope="function")
    result = _run(pytester, monkeypatch, None)
    _check_async_run(result)
    assert orphaned_postmasters() == []


@pytest.fixture(scope="module")
def user_server() -> Iterator[EmbeddedPostgres]:
    """A server of this module's own standing in for a developer's: their database ``app``
    with a ``users`` table of theirs, a role that may create databases and one that may not."""
    with EmbeddedPostgres(server_settings=TEST_SERVER_SETTINGS) as server:
        with psycopg.connect(server.conninfo, autocommit=True) as conn:
            conn.execute("CREATE DATABASE app")
            conn.execute("CREATE ROLE developer LOGIN PASSWORD 'pw' CREATEDB")
            conn.execute("CREATE ROLE restricted LOGIN PASSWORD 'pw' NOCREATEDB")
            conn.execute("GRANT CREATE ON DATABASE app TO restricted")
        with psycopg.connect(_conninfo(server, "postgres"), autocommit=True) as conn:
            conn.execute("CREATE TABLE users (id serial PRIMARY KEY, login text, age int)")
            conn.execute(
                "INSERT INTO users (login, age) SELECT 'user' || g, g "
                "FROM generate_series(1, %s) g",
                (USERS_ROWS,),
            )
            conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO developer, restricted")
        yield server


def _conninfo(server: EmbeddedPostgres, role: str) -> str:
    url = server.url.set(drivername="postgresql", database="app")
    if role != "postgres":
        url = url.set(username=role, password="pw")
    return url.render_as_string(hide_password=False)


def _server_state(server: EmbeddedPostgres) -> dict[str, Any]:
    """What must be the same before and after a run: databases, schemas, the user's table."""
    with psycopg.connect(_conninfo(server, "postgres"), autocommit=True) as conn:
        return {
            "databases": conn.execute("SELECT datname FROM pg_database ORDER BY 1").fetchall(),
            "schemas": conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall(),
            "tables": conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ).fetchall(),
            "users": conn.execute(
                "SELECT count(*), md5(string_agg(u::text, ',' ORDER BY u.id)) FROM users u"
            ).fetchone(),
        }


def test_a_project_on_the_developers_server_with_a_session_loop(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, user_server: EmbeddedPostgres
) -> None:
    before = _server_state(user_server)
    started_before = set(postmaster_pids(owner=os.getpid()))
    _write_project(pytester, {**ASYNC_FILES, **SYNC_FILES}, loop_scope="session")
    result = _run(pytester, monkeypatch, _conninfo(user_server, "developer"))
    _check_async_run(result)
    assert _server_state(user_server) == before
    # DATABASE_URL: the inner run started no server of its own.
    assert set(postmaster_pids(owner=os.getpid())) == started_before
    assert orphaned_postmasters() == []


def test_sync_fixtures_without_pytest_asyncio_in_a_schema(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, user_server: EmbeddedPostgres
) -> None:
    before = _server_state(user_server)
    _write_project(
        pytester,
        {**SYNC_FILES, "test_needs_asyncio.py": project.TEST_NEEDS_ASYNCIO},
        loop_scope=None,
    )
    # pytest-asyncio is installed here: make it impossible to import, as if it were not.
    blocker = pytester.mkdir("no_pytest_asyncio")
    (blocker / "sitecustomize.py").write_text(NO_PYTEST_ASYNCIO)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])
    )
    result = _run(pytester, monkeypatch, _conninfo(user_server, "restricted"), "-p", "no:asyncio")
    result.assert_outcomes(passed=SYNC_PASSED, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_async_fixture_without_pytest_asyncio*",
            "sqla-lab: the db_session fixture needs pytest-asyncio, which is not installed or "
            "is disabled (pip install pytest-asyncio); sync tests use db_sync_session*",
        ]
    )
    assert _server_state(user_server) == before


def test_the_plugin_lists_its_fixtures(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures")
    fixtures = (
        "postgres", "db_url", "db_engine_options", "db_session_options", "db_engine",
        "db_sessionmaker", "db_session", "db_sync_engine", "db_sync_sessionmaker",
        "db_sync_session", "query_recorder", "assert_num_queries", "assert_max_queries",
        "no_n_plus_one",
    )  # fmt: skip
    listed = result.stdout.str()
    for name in fixtures:
        assert re.search(rf"^{name} \[\w+ scope\] -- .*sqla_lab", listed, re.M) or re.search(
            rf"^{name} -- .*sqla_lab", listed, re.M
        ), name
    for old in ("database_url", "database", "session"):
        assert not re.search(rf"^{old}\b.*sqla_lab", listed, re.M), old
