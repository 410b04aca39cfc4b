"""sqla-lab on a user's server touches nothing it did not create.

A dedicated server stands in for the user's: its database ``canary`` holds tables named like
sqla-lab's (``users``, ``posts``, with other columns) and a third table with a foreign key to
``users``, 100 rows each. Every command sqla-lab has runs against it through ``DATABASE_URL``,
as a role that may create databases and as one that may only create schemas; afterwards the
canary's tables, rows and a checksum of their contents are identical, and no ``sqla_lab_*``
database or schema is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from sqla_lab.lab.results import load_results
from sqla_lab.labs import ALL_LABS
from sqla_lab.postgres import EmbeddedPostgres
from sqla_lab.workspace import WORKSPACE_MARK, Owner

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

ROWS = 100
ROLES = {
    "createdb": "CREATEDB",
    "schemaonly": "NOCREATEDB",
    "nothing": "NOCREATEDB",
}


@pytest.fixture(scope="module")
def user_server() -> Iterator[EmbeddedPostgres]:
    """The "user's" server, with the canary database and three roles."""
    with EmbeddedPostgres(server_settings={"fsync": "off"}) as server:
        with psycopg.connect(server.conninfo, autocommit=True) as conn:
            conn.execute("CREATE DATABASE canary")
            for role, createdb in ROLES.items():
                conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw' {createdb}")
            conn.execute("GRANT CREATE ON DATABASE canary TO schemaonly")
        with psycopg.connect(_conninfo(server, "postgres"), autocommit=True) as conn:
            conn.execute("CREATE TABLE users (id serial PRIMARY KEY, email text, age int)")
            conn.execute(
                "CREATE TABLE posts (id serial PRIMARY KEY, "
                "user_id int REFERENCES users (id), body text, score int)"
            )
            conn.execute(
                "CREATE TABLE audit (id serial PRIMARY KEY, "
                "user_id int NOT NULL REFERENCES users (id), note text)"
            )
            conn.execute(
                "INSERT INTO users (email, age) "
                "SELECT 'user' || g || '@example.org', g FROM generate_series(1, %s) g",
                (ROWS,),
            )
            for table, values in (("posts", "g, 'body ' || g, g * 7"), ("audit", "g, 'n' || g")):
                columns = "user_id, body, score" if table == "posts" else "user_id, note"
                conn.execute(
                    f"INSERT INTO {table} ({columns}) "
                    f"SELECT {values} FROM generate_series(1, %s) g",
                    (ROWS,),
                )
            for role in ROLES:
                conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        yield server


def _conninfo(server: EmbeddedPostgres, role: str, database: str = "canary") -> str:
    url = server.url.set(drivername="postgresql", database=database)
    if role != "postgres":
        url = url.set(username=role, password="pw")
    return url.render_as_string(hide_password=False)


def canary_state(server: EmbeddedPostgres) -> dict[str, Any]:
    """Everything about the canary that must not change, and what sqla-lab may have left."""
    state: dict[str, Any] = {}
    with psycopg.connect(_conninfo(server, "postgres"), autocommit=True) as conn:
        state["tables"] = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        for table in ("users", "posts", "audit"):
            state[table] = conn.execute(
                f"SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t.id)) FROM {table} t"
            ).fetchone()
            state[f"{table}_comment"] = conn.execute(
                "SELECT obj_description(%s::regclass, 'pg_class')", (table,)
            ).fetchone()
        state["schemas"] = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' ORDER BY 1"
        ).fetchall()
        state["databases"] = conn.execute("SELECT datname FROM pg_database ORDER BY 1").fetchall()
    return state


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.update(DATABASE_URL=url, COLUMNS="120", NO_COLOR="1", **extra)
    return env


def sqla_lab(
    *args: str, url: str, cwd: Path | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sqla_lab", *args],
        capture_output=True,
        text=True,
        env=_env(url),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


PYTESTER_TESTS = """
import pytest
from sqlalchemy import func, select
from sqla_lab.demo import UserEntity, PostEntity

async def test_writes_and_commits(db_session):
    db_session.add(UserEntity(name="fixture user", posts=[PostEntity(title="t")]))
    await db_session.commit()
    assert await db_session.scalar(select(func.count()).select_from(UserEntity)) == 1

async def test_isolated(db_session):
    assert await db_session.scalar(select(func.count()).select_from(UserEntity)) == 0
"""


def _serve_a_few_requests(url: str, tmp_path: Path) -> None:
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "sqla_lab", "serve", "--users", "50", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=_env(url),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, (tmp_path / "serve.log").read_text()
        base = json.loads(line)["url"]
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert httpx.get(f"{base}/users/1", timeout=10).status_code == 200
        assert httpx.get(f"{base}/users", params={"limit": 5}, timeout=10).status_code == 200
        created = httpx.post(f"{base}/users", json={"name": "made by a test"}, timeout=10)
        assert created.status_code == 201, created.text
        process.send_signal(signal.SIGINT)
        process.wait(60)
    finally:
        process.kill()
        process.communicate()
        log.close()


@pytest.mark.parametrize("role", ["createdb", "schemaonly"])
def test_every_command_leaves_the_canary_untouched(
    user_server: EmbeddedPostgres, role: str, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    url = _conninfo(user_server, role)
    before = canary_state(user_server)

    # Every lab as a role that may create databases. As a role that may only create a
    # schema, every lab but `scale`, which works on servers of its own (its one write to a
    # user's server, with --replica-url, goes through the workspace like the others').
    labs = [lab.name for lab in ALL_LABS if role == "createdb" or lab.name != "scale"]
    run = sqla_lab("run", *labs, "--quick", "--json", "-", url=url)
    assert run.returncode == 0, run.stderr
    results = load_results(json.loads(run.stdout))
    assert [r.lab for r in results] == labs
    assert canary_state(user_server) == before

    seeded = sqla_lab("seed", "--users", "30", "--reset", "--json", url=url)
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)["users"] == 30
    assert canary_state(user_server) == before

    _serve_a_few_requests(url, tmp_path)
    assert canary_state(user_server) == before

    load = sqla_lab(
        "load", "--duration", "4", "--users", "2", "--seed-users", "20",
        "--out", str(tmp_path / "load"), url=url,
    )  # fmt: skip
    assert load.returncode == 0, load.stderr
    assert canary_state(user_server) == before

    report = sqla_lab("report", "connect", "--quick", "-o", str(tmp_path / "r.html"), url=url)
    assert report.returncode == 0, report.stderr
    assert canary_state(user_server) == before

    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "sqla_lab_metadata = sqla_lab.demo.models:Base\n"
    )
    pytester.makepyfile(test_user=PYTESTER_TESTS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url)
        patch.delenv("SQLA_LAB_DATABASE_URL", raising=False)
        outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    outcome.assert_outcomes(passed=2)
    assert canary_state(user_server) == before


def test_a_role_that_may_create_nothing_gets_one_line_and_exit_2(
    user_server: EmbeddedPostgres,
) -> None:
    before = canary_state(user_server)
    result = sqla_lab("run", "connect", "--quick", url=_conninfo(user_server, "nothing"))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "CREATEDB" in lines[0]
    assert "GRANT CREATE ON DATABASE canary TO nothing" in lines[0]
    assert "Traceback" not in result.stderr
    assert canary_state(user_server) == before


def _workspaces(server: EmbeddedPostgres) -> list[tuple[str, str]]:
    with psycopg.connect(_conninfo(server, "postgres"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname LIKE 'sqla\\_lab\\_%'"
        ).fetchall()
    return [(name, comment or "") for name, comment in rows]


def test_a_killed_run_leaves_only_its_workspace_and_the_next_run_removes_it(
    user_server: EmbeddedPostgres,
) -> None:
    url = _conninfo(user_server, "createdb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sqla_lab", "run", "loading", "--quick"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(url),
    )
    try:
        deadline = time.monotonic() + 60
        while not _workspaces(user_server) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # into the lab's work
        assert process.poll() is None, "the lab finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        process.kill()
    (orphan,) = _workspaces(user_server)
    _, comment = orphan
    assert comment.startswith(WORKSPACE_MARK)
    owner = Owner.parse(comment)
    assert owner is not None
    assert owner.pid == process.pid
    assert owner.is_gone()

    # A live owner's workspace is never swept: this test process opens one and keeps it.
    from sqla_lab.postgres import ExistingPostgres
    from sqla_lab.workspace import Workspace

    with ExistingPostgres(url) as existing, Workspace(existing, purpose="alive") as alive:
        result = sqla_lab("run", "connect", "--quick", url=url)
        assert result.returncode == 0, result.stderr
        left = [n for n, _ in _workspaces(user_server)]
        assert left == [alive.name], "the orphan must be gone and the live workspace kept"
    assert _workspaces(user_server) == []


def test_keep_database_holds_data_only_where_sqla_lab_may(user_server: EmbeddedPostgres) -> None:
    url = _conninfo(user_server, "createdb")
    before = canary_state(user_server)
    try:
        first = sqla_lab("seed", "--users", "10", "--keep-database", "kept_demo", "--json", url=url)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["database"] == "kept_demo"
        again = sqla_lab("seed", "--users", "5", "--keep-database", "kept_demo", "--json", url=url)
        assert json.loads(again.stdout)["users"] == 15  # kept, and appended to
        reset = sqla_lab(
            "seed", "--users", "3", "--reset", "--keep-database", "kept_demo", "--json", url=url
        )
        assert json.loads(reset.stdout)["users"] == 3

        # The user's database holds their tables: refused, untouched.
        refused = sqla_lab("seed", "--keep-database", "canary", url=url)
        assert refused.returncode == 2, refused.stderr
        assert "was not created by sqla-lab" in refused.stderr
        assert "Traceback" not in refused.stderr
        after = canary_state(user_server)
        after["databases"].remove(("kept_demo",))
        assert after == before

        # A table of the user's that references sqla-lab's: --reset refuses, nothing emptied.
        kept = _conninfo(user_server, "postgres", database="kept_demo")
        with psycopg.connect(kept, autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (user_id int REFERENCES users (id))")
            conn.execute("INSERT INTO notes VALUES (1)")
        blocked = sqla_lab("seed", "--reset", "--keep-database", "kept_demo", url=url)
        assert blocked.returncode == 2, blocked.stderr
        assert "another table references" in blocked.stderr
        with psycopg.connect(kept) as conn:
            assert conn.execute("SELECT count(*) FROM notes").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM users").fetchone() == (3,)
    finally:
        with psycopg.connect(_conninfo(user_server, "postgres", "postgres"), autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS kept_demo WITH (FORCE)")


def test_keep_database_may_use_an_empty_database_of_the_users(
    user_server: EmbeddedPostgres,
) -> None:
    admin = _conninfo(user_server, "postgres", "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE empty_one OWNER createdb")
    try:
        url = _conninfo(user_server, "createdb")
        result = sqla_lab("seed", "--users", "4", "--keep-database", "empty_one", "--json", url=url)
        assert result.returncode == 0, result.stderr
        again = sqla_lab("seed", "--users", "4", "--keep-database", "empty_one", "--json", url=url)
        assert json.loads(again.stdout)["users"] == 8  # its tables carry sqla-lab's mark now
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS empty_one WITH (FORCE)")
