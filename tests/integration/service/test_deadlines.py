"""Every request has a deadline; a connection that timed out is thrown away, not reused.

Wide bounds only: the machine is shared, so the assertions are about behaviour (which status,
which connection) and that nothing waits for the next timeout up (a pool timeout, a client's).
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab import Database, FaultMode, FaultProxy, Settings
from sqla_lab.instruments.pool import PoolMonitor
from sqla_lab.service import create_app
from sqla_lab.service.engine import KEEPALIVE

from .conftest import running


def _settings(url: URL | str, **overrides: object) -> Settings:
    if isinstance(url, URL):
        url = url.render_as_string(hide_password=False)
    return Settings(database_url=url, **{"pool_size": 2, "max_overflow": 0, **overrides})


async def test_a_stuck_read_answers_504_at_its_deadline_and_its_connection_is_dropped(
    seeded: AsyncEngine, db_url: URL
) -> None:
    app = create_app(_settings(db_url, request_timeout=0.5))
    async with running(app) as client:
        async with seeded.connect() as blocker:
            await blocker.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            with PoolMonitor(app.state.database.engine) as monitor:
                started = time.perf_counter()
                response = await client.get("/users/1")
                waited = time.perf_counter() - started
                snapshot = monitor.snapshot()
            await blocker.rollback()
        assert response.status_code == 504
        assert response.json() == {
            "detail": "the request did not finish in time",
            "error": "deadline",
        }
        assert 0.4 <= waited <= 3.0
        assert (snapshot.invalidations, snapshot.checked_out) == (1, 0)
        assert (await client.get("/users/1")).status_code == 200


async def test_a_stuck_write_answers_504_and_leaves_no_row(
    seeded: AsyncEngine, db_url: URL
) -> None:
    app = create_app(_settings(db_url, request_timeout=0.5))
    async with running(app) as client:
        async with seeded.connect() as blocker:
            await blocker.execute(text("LOCK TABLE users IN EXCLUSIVE MODE"))
            response = await client.post("/users", json={"name": "stuck"})
            await blocker.rollback()
        # The INSERT waited on the lock, so the commit was never sent: a plain deadline.
        assert (response.status_code, response.json()["error"]) == (504, "deadline")
        async with seeded.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM users WHERE name = 'stuck'")) == 0


async def test_a_silent_server_fails_fast_on_connect(db_url: URL) -> None:
    async with FaultProxy.for_url(db_url, mode=FaultMode.BLACKHOLE) as proxy:
        settings = _settings(proxy.proxied_url(), connect_timeout=0.3, request_timeout=2.0)
        app = create_app(settings)
        async with running(app) as client:
            started = time.perf_counter()
            response = await client.get("/users/1")
            waited = time.perf_counter() - started
    # The connect timeout, not the request's deadline, ends it: the database is unavailable.
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
    assert response.headers["retry-after"]
    assert waited < 1.8


async def test_a_half_open_connection_ends_at_the_deadline_and_the_service_recovers(
    seeded: AsyncEngine, db_url: URL
) -> None:
    async with FaultProxy.for_url(db_url) as proxy:
        app = create_app(_settings(proxy.proxied_url(), pool_size=1, request_timeout=0.5))
        async with running(app) as client:
            assert (await client.get("/users/1")).status_code == 200
            proxy.set_mode(FaultMode.BLACKHOLE)
            started = time.perf_counter()
            response = await client.get("/users/1")
            # SQLAlchemy's graceful close of the cancelled connection would wait 2 s more
            # for a peer that never answers; the service terminates it at once.
            waited = time.perf_counter() - started
            proxy.set_mode(FaultMode.PASS)
            recovered = time.perf_counter()
            after = await client.get("/users/1")
            recovery = time.perf_counter() - recovered
    assert (response.status_code, response.json()["error"]) == (504, "deadline")
    assert 0.4 <= waited < 2.0
    assert after.status_code == 200
    assert recovery < 2.0


async def test_every_connection_gets_tcp_keepalives(db_url: URL) -> None:
    app = create_app(_settings(db_url))
    async with running(app):
        database: Database = app.state.database
        async with database.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            sock = raw.driver_connection._transport.get_extra_info("socket")  # type: ignore[union-attr]
            options = {
                "keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                "idle_s": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                "interval_s": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                "count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                "user_timeout_ms": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
            }
    assert options == {"keepalive": 1, **KEEPALIVE}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("inf", id="infinite"),
        pytest.param("0", id="zero"),
        pytest.param("nan", id="nan"),
    ],
)
def test_deadlines_must_be_finite_and_positive(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("SQLA_LAB_REQUEST_TIMEOUT", value)
    with pytest.raises(ValidationError):
        Settings()


async def test_the_warm_up_is_bounded_when_the_server_is_silent(db_url: URL) -> None:
    async with FaultProxy.for_url(db_url, mode=FaultMode.BLACKHOLE) as proxy:
        app = create_app(_settings(proxy.proxied_url(), connect_timeout=0.3))
        started = time.perf_counter()
        async with asyncio.timeout(10), running(app):
            pass
    assert time.perf_counter() - started < 5


async def test_an_exhausted_pool_answers_503_before_the_deadline(
    seeded: AsyncEngine, db_url: URL
) -> None:
    # pool_timeout 30 s would outlast the 1 s deadline: the service caps it at half of it.
    app = create_app(_settings(db_url, pool_size=1, pool_timeout=30, request_timeout=1.0))
    async with running(app) as client, app.state.database.engine.connect():
        started = time.perf_counter()
        response = await client.get("/users/1")
        waited = time.perf_counter() - started
    assert (response.status_code, response.json()["error"]) == (503, "pool_exhausted")
    assert response.headers["retry-after"] == "1"
    assert 0.4 <= waited <= 3.0
