"""The service's error paths: exhausted pool, statement timeout, database down, secrets."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab import Database, Settings
from sqla_lab._process import free_port
from sqla_lab.service import create_app

from .conftest import ClientFactory, metrics_of, running, samples

FORBIDDEN_IN_BODIES = ("SELECT", "Traceback", "asyncpg", "sqlalchemy", 'File "')


def _assert_clean(response: httpx.Response, password: str) -> None:
    assert password not in response.text
    for fragment in FORBIDDEN_IN_BODIES:
        assert fragment.lower() not in response.text.lower()


async def test_exhausted_pool_answers_503_with_retry_after_within_pool_timeout(
    seeded: AsyncEngine, db_url: URL
) -> None:
    url = db_url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, pool_size=1, max_overflow=0, pool_timeout=1))
    async with running(app) as client:
        app_database: Database = app.state.database
        # Hold the pool's only connection: the request must wait pool_timeout, then give up.
        async with app_database.engine.connect():
            started = time.perf_counter()
            response = await client.get("/users/1")
            waited = time.perf_counter() - started
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"] == "pool_exhausted"
        assert 0.8 <= waited <= 3.0
        _assert_clean(response, db_url.password or "")
        # The connection is back: the same request now succeeds.
        assert (await client.get("/users/1")).status_code == 200
        families = metrics_of(await client.get("/metrics"))
    assert samples(families, "sqla_lab_pool_checkout_timeouts", "_total") == [1.0]
    assert samples(
        families, "sqla_lab_http_requests", "_total", route="/users/{user_id}", status="503"
    ) == [1.0]


async def test_statement_timeout_answers_504(
    make_client: ClientFactory,
    db_engine: AsyncEngine,
    db_url: URL,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="sqla_lab")
    async with make_client(statement_timeout_ms=300) as client:
        # Another transaction holds an exclusive lock: the request's SELECT waits on it until
        # PostgreSQL's statement_timeout cancels it (SQLSTATE 57014).
        async with db_engine.connect() as blocker:
            await blocker.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            started = time.perf_counter()
            response = await client.get("/users/1")
            waited = time.perf_counter() - started
            await blocker.rollback()
        assert response.status_code == 504
        assert response.json()["error"] == "statement_timeout"
        assert 0.2 <= waited <= 3.0
        _assert_clean(response, db_url.password or "")
        # Logged as one line naming the failure, without the statement or the driver message.
        (record,) = [r for r in caplog.records if r.name == "sqla_lab.service"]
        assert "statement_timeout" in record.getMessage()
        assert "57014" in record.getMessage()
        assert "SELECT" not in record.getMessage()
        assert record.exc_info is None
        assert (await client.get("/users/1")).status_code == 200


@pytest.mark.parametrize("path", ["/users/1", "/users", "/healthz"])
async def test_database_down_answers_503_and_never_leaks_the_password(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    password = "s3cret-Pa55word"
    # Nothing listens on this port: every connection attempt is refused.
    url = f"postgresql+asyncpg://app:{password}@127.0.0.1:{free_port()}/app"
    caplog.set_level(logging.DEBUG)
    async with running(create_app(Settings(database_url=url, pool_timeout=2))) as client:
        response = await client.get(path)
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert response.headers["retry-after"] == "2"
    _assert_clean(response, password)
    assert caplog.records, "the failure should be logged"
    assert password not in caplog.text


async def test_wrong_password_answers_503_without_echoing_it(
    db_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    password = "not-the-Real-one-42"
    url = db_url.set(password=password).render_as_string(hide_password=False)
    caplog.set_level(logging.DEBUG)
    async with running(create_app(Settings(database_url=url))) as client:
        response = await client.get("/users/1")
    assert response.status_code == 503
    _assert_clean(response, password)
    assert password not in caplog.text


async def test_no_password_in_logs_or_responses_on_success(
    client: httpx.AsyncClient, db_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = db_url.password
    assert password
    responses = await asyncio.gather(
        client.get("/users/1"),
        client.get("/users"),
        client.get("/users/999"),
        client.get("/users/x"),
        client.get("/healthz"),
        client.get("/metrics"),
        client.get("/openapi.json"),
    )
    for response in responses:
        assert password not in response.text
    assert password not in caplog.text
