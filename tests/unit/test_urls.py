"""Database URLs: libpq parameters reach asyncpg and psycopg; a bad URL is one clear error."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.ext.asyncio import create_async_engine

from sqla_lab.errors import ConfigurationError
from sqla_lab.urls import (
    asyncpg_dsn,
    libpq_conninfo,
    parse_database_url,
    search_path_of,
    with_search_path,
)
from sqla_lab.workspace import WORKSPACE_MARK, Owner

BASE = "postgresql://me:secret@db.example:5433/app"


class _Captured(Exception):
    """Raised from do_connect: the arguments are seen and no connection is attempted."""


def _connect_args(url: str, driver: str = "asyncpg") -> tuple[list[object], dict[str, object]]:
    """What the engine passes to the driver's connect(), captured before any network I/O."""
    parsed = parse_database_url(url)
    seen: dict[str, object] = {}

    def capture(dialect: object, conn_rec: object, cargs: list[object], cparams: dict) -> None:  # type: ignore[type-arg]  # SQLAlchemy's event signature
        seen.update(cparams)
        raise _Captured

    if driver == "asyncpg":
        async_engine = create_async_engine(parsed)
        event.listen(async_engine.sync_engine, "do_connect", capture)

        async def attempt() -> None:
            try:
                async with async_engine.connect():
                    pass
            finally:
                await async_engine.dispose()

        with pytest.raises(_Captured):
            asyncio.run(attempt())
    else:
        engine = create_engine(parsed.set(drivername="postgresql+psycopg"))
        event.listen(engine, "do_connect", capture)
        with pytest.raises(_Captured):
            engine.connect()
        engine.dispose()
    return [], seen


def test_plain_url_gets_the_asyncpg_driver_and_no_plugin() -> None:
    url = parse_database_url(BASE)
    assert url.drivername == "postgresql+asyncpg"
    assert dict(url.query) == {}


def test_libpq_parameters_become_asyncpg_arguments() -> None:
    query = "?sslmode=disable&connect_timeout=7&application_name=demo"
    _, params = _connect_args(BASE + query)
    assert params["timeout"] == 7.0
    dsn = str(params["dsn"])
    assert dsn.startswith("postgresql://?")
    assert "sslmode=disable" in dsn
    assert "application_name=demo" in dsn
    assert "connect_timeout" not in params
    assert "sslmode" not in params


def test_libpq_parameters_stay_libpq_for_psycopg() -> None:
    _, params = _connect_args(BASE + "?sslmode=disable&connect_timeout=7", driver="psycopg")
    assert params["sslmode"] == "disable"
    assert params["connect_timeout"] == "7"


def test_search_path_reaches_every_client() -> None:
    url = with_search_path(parse_database_url(BASE), "sqla_lab_x")
    assert search_path_of(url) == "sqla_lab_x"
    assert asyncpg_dsn(url).endswith("/app?search_path=sqla_lab_x")
    assert libpq_conninfo(url).endswith("/app?options=-c%20search_path%3Dsqla_lab_x")
    _, params = _connect_args(url.render_as_string(hide_password=False), driver="psycopg")
    assert params["options"] == "-c search_path=sqla_lab_x"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("mysql://a@b/c", "must be a PostgreSQL URL", id="not-postgres"),
        pytest.param("not a url", "not a valid database URL", id="garbage"),
        pytest.param(BASE + "?keepalives=1", "asyncpg does not support", id="libpq-only"),
        pytest.param(BASE + "?frobnicate=1", "unknown parameter 'frobnicate'", id="unknown"),
        pytest.param(BASE + "?connect_timeout=soon", "is not a number", id="not-a-number"),
        pytest.param(BASE + "?connect_timeout=inf", "out of range", id="infinite"),
        pytest.param("postgresql://a@b:99999/c", "invalid port", id="bad-port"),
    ],
)
def test_bad_urls_are_one_line(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        parse_database_url(url)
    assert "\n" not in str(caught.value)


def test_a_url_keeps_asyncpgs_own_arguments_typed() -> None:
    _, params = _connect_args(BASE + "?command_timeout=2.5&prepared_statement_cache_size=0")
    assert params["command_timeout"] == 2.5
    assert params["prepared_statement_cache_size"] == 0


def test_owner_comment_round_trip() -> None:
    me = Owner.current()
    comment = f"{WORKSPACE_MARK} (run) {me.describe()} created=2026-01-01T00:00:00Z"
    assert Owner.parse(comment) == me
    assert not me.is_gone()
    assert Owner.parse("somebody's database") is None
    assert Owner.parse(None) is None


def test_a_dead_owner_is_gone_and_another_hosts_never_is() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = Owner(host=Owner.current().host, pid=child.pid, start=1)
    assert dead.is_gone()
    elsewhere = Owner(host="another-host.invalid", pid=child.pid, start=1)
    assert not elsewhere.is_gone()
    # A recycled pid (same number, another start time) is not the owner.
    recycled = Owner(host=Owner.current().host, pid=os.getpid(), start=1)
    assert recycled.is_gone()
