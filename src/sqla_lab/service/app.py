"""The demo service's app factory: ``create_app(settings)``.

The lifespan owns the :class:`~sqla_lab.database.Database`: it is built from the settings
when the app starts and disposed when it stops, so nothing database-related lives at module
level and two apps never share a pool or a metrics registry.

``create_app(settings, tune_gc=True)`` (what ``sqla-lab serve`` runs) also tunes the garbage
collector once the app has started: :data:`GC_THRESHOLDS` and ``gc.freeze()``. A request of
this service leaves no cyclic garbage behind (tests/integration/service/test_memory.py serves
10,000 requests and compares memory), so collections only re-scan live objects: with
Python's default thresholds the ORM app ran a full collection of its whole start-up heap
about every 1,300 requests. Frozen objects are never scanned again; the higher generation-0
threshold makes the young collections rarer. An app built for tests leaves the process's
collector alone.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Final

from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from sqla_lab.database import Database
from sqla_lab.errors import ConfigurationError
from sqla_lab.instruments.counter import StatementCounter
from sqla_lab.instruments.pool import PoolMonitor
from sqla_lab.service.engine import pool_timeout_for, service_database
from sqla_lab.service.errors import classify, install_error_handlers
from sqla_lab.service.metrics import MetricsMiddleware, ServiceMetrics
from sqla_lab.service.routes import add_routes
from sqla_lab.service.sessions import RequestSessions
from sqla_lab.settings import Settings
from sqla_lab.translation import N_

__all__ = ["GC_THRESHOLDS", "create_app", "tuned_gc"]

logger = logging.getLogger("sqla_lab.service")

#: Generation thresholds while the service runs (Python's defaults: 700, 10, 10).
GC_THRESHOLDS: Final = (50_000, 20, 100)


async def _warm_up(database: Database, seconds: float) -> None:
    """Open the first connection now, so its one-off dialect set-up is not billed to a request.

    A database that is down (or silent) at start-up is not fatal: requests answer 503 until
    it is back.
    """
    try:
        async with asyncio.timeout(seconds):
            await database.ping()
    except (sa_exc.SQLAlchemyError, OSError, TimeoutError) as error:
        logger.warning(
            "database not reachable at start-up (%s: %s); requests will answer 503 until it is",
            type(error).__name__,
            classify(error).value,
        )


@contextmanager
def tuned_gc() -> Iterator[None]:
    """Freeze everything alive now and raise the thresholds; undo both on exit."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def create_app(settings: Settings, *, tune_gc: bool = False) -> FastAPI:
    """Build the demo FastAPI app on ``settings.database_url`` with the pool it describes.

    Args:
        settings: database URL, pool, deadlines.
        tune_gc: tune this process's garbage collector while the app runs (module docstring);
            for a process that serves this app and nothing else.

    Raises:
        ConfigurationError: ``settings.database_url`` is not set.
    """
    if settings.database_url is None:
        raise ConfigurationError(N_("the service needs a database URL (settings.database_url)"))
    database_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = service_database(database_url, settings)
        metrics: ServiceMetrics = app.state.metrics
        try:
            # The metrics read counts and the histogram, not the window of recent waits:
            # a small one keeps a long-running service's memory flat.
            with (
                PoolMonitor(database.engine, window=1_000) as monitor,
                StatementCounter(database.engine) as counter,
            ):
                app.state.database = database
                app.state.sessions = RequestSessions(
                    database,
                    deadline_s=settings.request_timeout,
                    counter=counter,
                    metrics=metrics,
                )
                metrics.bind(database.engine, monitor)
                await _warm_up(database, settings.request_timeout)
                try:
                    if tune_gc:
                        with tuned_gc():
                            yield
                    else:
                        yield
                finally:
                    metrics.bind(None, None)
        finally:
            await database.dispose()

    app = FastAPI(
        title="sqla-lab demo service",
        summary="Users and their posts on SQLAlchemy 2.x async ORM, with metrics.",
        lifespan=lifespan,
    )
    app.state.metrics = ServiceMetrics()
    app.state.settings = settings
    routes = add_routes(app.router)
    install_error_handlers(app, pool_timeout=pool_timeout_for(settings), routes=routes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app
