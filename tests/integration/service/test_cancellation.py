"""A cancelled request (a caller's timeout, shutdown) returns its connection or drops it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab import Settings
from sqla_lab.instruments.pool import PoolMonitor
from sqla_lab.service import create_app

from .conftest import running


async def test_cancel_during_a_query_discards_its_connection(
    seeded: AsyncEngine, db_url: URL
) -> None:
    url = db_url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, pool_size=2, max_overflow=0))
    async with running(app) as client:
        engine = app.state.database.engine
        async with seeded.connect() as blocker:
            await blocker.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            with PoolMonitor(engine) as monitor:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(client.get("/users/1"), 0.5)
                snapshot = monitor.snapshot()
            await blocker.rollback()
        # Cancelled mid-statement: the connection's state is unknown, so it is invalidated
        # (closed), never returned to the pool for the next request.
        assert (snapshot.checkouts, snapshot.checkins, snapshot.invalidations) == (1, 1, 1)
        assert snapshot.checked_out == 0
        assert (await client.get("/users/1")).status_code == 200


async def test_cancel_while_waiting_for_the_pool_takes_nothing(
    seeded: AsyncEngine, db_url: URL
) -> None:
    url = db_url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, pool_size=1, max_overflow=0, pool_timeout=5))
    async with running(app) as client:
        engine = app.state.database.engine
        with PoolMonitor(engine) as monitor:
            async with engine.connect():
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(client.get("/users/1"), 0.3)
            snapshot = monitor.snapshot()
        assert (snapshot.checkouts, snapshot.invalidations, snapshot.checked_out) == (1, 0, 0)
        assert (await client.get("/users/1")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", "/users", {"name": "cancelled"}, id="create-user"),
        pytest.param("POST", "/users/1/posts", {"title": "cancelled"}, id="create-post"),
    ],
)
async def test_cancelled_write_leaves_no_row(
    seeded: AsyncEngine, db_url: URL, method: str, path: str, body: dict[str, str]
) -> None:
    url = db_url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, pool_size=2, max_overflow=0))
    table, column = ("users", "name") if path == "/users" else ("posts", "title")
    async with running(app) as client:
        async with seeded.connect() as blocker:
            # Inserts wait on the lock; the cancel arrives while the INSERT waits.
            await blocker.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.request(method, path, json=body), 0.5)
            await blocker.rollback()
        async with seeded.connect() as conn:
            found = await conn.scalar(
                text(f"SELECT count(*) FROM {table} WHERE {column} = 'cancelled'")
            )
        assert found == 0
        assert (await client.request(method, path, json=body)).status_code == 201
