"""The four apps ``benchmarks/service.py`` compares, and the child processes that run them.

* ``service``: the demo service as shipped (``create_app``): ORM, statements counted,
  ``PoolMonitor``, metrics middleware;
* ``orm-bare``: the same router and :class:`RequestSessions` with every instrument left out
  (no ``StatementCounter``, ``PoolMonitor`` or middleware), built directly, without
  ``dependency_overrides``;
* ``orm-best``: the cheapest ORM form of the endpoint, from the ``request`` lab
  (:mod:`sqla_lab.labs.request._endpoints`): no instrument, no deadline, no error contract;
  the issue's "best bare ORM";
* ``raw``: ``GET /users/{id}`` on raw asyncpg with its own pool: same FastAPI, same
  ``UserOut`` response model, same path validation, the same single LEFT JOIN; no metrics;
* ``raw-metrics``: ``raw`` with the same metrics: the service's ``MetricsMiddleware``, the
  statements histogram and a timed pool acquire.

As a script it is the child process the benchmark starts::

    python benchmarks/_service_apps.py serve KIND PORT GC     # uvicorn on 127.0.0.1:PORT
    python benchmarks/_service_apps.py asgi KIND COUNT GC     # COUNT in-process ASGI requests

with the database in ``BENCHMARK_DSN`` (asyncpg) and ``BENCHMARK_URL`` (SQLAlchemy). ``GC``
is ``tuned`` (the service's :func:`~sqla_lab.service.app.tuned_gc` once started, for every
app alike), ``default`` (Python's thresholds, nothing frozen) or ``off`` (frozen and
disabled while the counted requests run: for instruction counts of the code alone, without
collections whose timing depends on allocation counts).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any

from fastapi import FastAPI, HTTPException
from sqlalchemy.engine import make_url

from sqla_lab.demo.schemas import UserOut
from sqla_lab.labs.request._endpoints import JOIN_SQL, build_app, user_from_rows
from sqla_lab.labs.request._measure import Call, asgi_get, collector_paused, concurrently
from sqla_lab.service.app import create_app, tuned_gc
from sqla_lab.service.engine import service_database
from sqla_lab.service.errors import install_error_handlers
from sqla_lab.service.metrics import MetricsMiddleware, ServiceMetrics
from sqla_lab.service.routes import add_routes
from sqla_lab.service.schemas import UserId
from sqla_lab.service.sessions import RequestSessions
from sqla_lab.settings import Settings

POOL_SIZE = 10
SEED_USERS = 1000
POSTS_PER_USER = 10
LOOPBACK = "127.0.0.1"
KINDS = ("service", "orm-bare", "orm-best", "raw", "raw-metrics")


def _gc_context(gc_mode: str) -> AbstractContextManager[None]:
    if gc_mode == "off":
        return collector_paused()
    return tuned_gc() if gc_mode == "tuned" else nullcontext()


def _settings(url: str) -> Settings:
    # Generous timeouts: under valgrind a connect takes seconds; the deadline machinery
    # (asyncio.timeout per request) runs all the same.
    return Settings(
        database_url=url,
        pool_size=POOL_SIZE,
        max_overflow=0,
        request_timeout=120,
        connect_timeout=120,
    )


def raw_asyncpg_app(dsn: str, *, metrics: bool = False) -> FastAPI:
    """``raw`` (or ``raw-metrics``): ``GET /users/{id}`` on raw asyncpg."""
    import asyncpg

    pool: asyncpg.Pool | None = None
    service_metrics = ServiceMetrics()
    acquire_waits: list[float] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        try:
            yield
        finally:
            await pool.close()

    async def fetch(user_id: int) -> list[Any]:
        assert pool is not None
        if not metrics:
            return await pool.fetch(JOIN_SQL, user_id)
        started = time.perf_counter()
        async with pool.acquire() as connection:
            acquire_waits.append(time.perf_counter() - started)
            rows = await connection.fetch(JOIN_SQL, user_id)
        service_metrics.observe_statements("GET", "/users/{user_id}", 1)
        return rows

    app = FastAPI(lifespan=lifespan)

    @app.get("/users/{user_id}")
    async def get_user(user_id: UserId) -> UserOut:
        # The same single LEFT JOIN the ORM endpoint sends (joinedload).
        rows = await fetch(user_id)
        if not rows:
            raise HTTPException(404, f"user {user_id} not found")
        # The service's own response models, as the service answers with them.
        return user_from_rows(rows)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if metrics:
        app.add_middleware(MetricsMiddleware, metrics=service_metrics)
    return app


def orm_bare_app(url: str) -> FastAPI:
    """``orm-bare``: the service's router and unit of work, no instrument at all."""
    settings = _settings(url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = service_database(url, settings)
        app.state.database = database
        app.state.sessions = RequestSessions(database, deadline_s=settings.request_timeout)
        try:
            await database.ping()
            yield
        finally:
            await database.dispose()

    app = FastAPI(lifespan=lifespan)
    app.state.metrics = ServiceMetrics()
    routes = add_routes(app.router)
    install_error_handlers(app, pool_timeout=settings.pool_timeout, routes=routes)
    return app


def build(kind: str, dsn: str, url: str, gc_mode: str) -> FastAPI:
    """One of :data:`KINDS`, with the collector set as ``gc_mode`` says once it has started."""
    if kind == "service":
        # Exactly as sqla-lab serve builds it (which tunes the collector itself).
        return create_app(_settings(url), tune_gc=gc_mode == "tuned")
    if kind == "orm-bare":
        app = orm_bare_app(url)
    elif kind == "orm-best":
        app = build_app(make_url(url), dsn, "best")
    elif kind in ("raw", "raw-metrics"):
        app = raw_asyncpg_app(dsn, metrics=kind == "raw-metrics")
    else:
        raise ValueError(f"unknown app {kind!r}")
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with started(app):
            with _gc_context(gc_mode):
                yield

    app.router.lifespan_context = lifespan
    return app


def asgi_caller(app: FastAPI) -> Call:
    """A ``GET /users/{id}`` straight into ``app`` through ASGI: no server, no socket."""
    return asgi_get(app, [f"/users/{user_id}" for user_id in range(1, SEED_USERS + 1)])


async def _asgi_requests(kind: str, count: int, gc_mode: str) -> None:
    app = build(kind, os.environ["BENCHMARK_DSN"], os.environ["BENCHMARK_URL"], "default")
    async with app.router.lifespan_context(app):
        call = asgi_caller(app)
        # The same warm-up for every count, so that it cancels in the difference.
        await concurrently(call, 300)
        with _gc_context(gc_mode):
            await concurrently(call, count)


def _serve(kind: str, port: int, gc_mode: str) -> None:
    import uvicorn

    app = build(kind, os.environ["BENCHMARK_DSN"], os.environ["BENCHMARK_URL"], gc_mode)
    uvicorn.run(app, host=LOOPBACK, port=port, access_log=False, log_level="warning")


if __name__ == "__main__":
    command, kind_arg, number, gc_arg = sys.argv[1:5]
    if command == "serve":
        _serve(kind_arg, int(number), gc_arg)
    else:
        asyncio.run(_asgi_requests(kind_arg, int(number), gc_arg))
