"""The demo service's app factory: ``create_app(settings)``.

The lifespan owns the :class:`~sqla_lab.database.Database`: it is built from the settings
when the app starts and disposed when it stops, so nothing database-related lives at module
level and two apps never share a pool or a metrics registry.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from sqla_lab.database import Database
from sqla_lab.errors import ConfigurationError
from sqla_lab.instruments.counter import StatementCounter
from sqla_lab.instruments.pool import PoolMonitor
from sqla_lab.service.errors import classify, install_error_handlers
from sqla_lab.service.metrics import MetricsMiddleware, ServiceMetrics
from sqla_lab.service.routes import router
from sqla_lab.settings import Settings
from sqla_lab.translation import N_

__all__ = ["create_app"]

logger = logging.getLogger("sqla_lab.service")


async def _warm_up(database: Database) -> None:
    """Open the first connection now, so its one-off dialect set-up is not billed to a request.

    A database that is down at start-up is not fatal: requests answer 503 until it is back.
    """
    try:
        await database.ping()
    except (sa_exc.SQLAlchemyError, OSError, TimeoutError) as error:
        logger.warning(
            "database not reachable at start-up (%s: %s); requests will answer 503 until it is",
            type(error).__name__,
            classify(error).value,
        )


def create_app(settings: Settings) -> FastAPI:
    """Build the demo FastAPI app on ``settings.database_url`` with the pool it describes.

    Raises:
        ConfigurationError: ``settings.database_url`` is not set.
    """
    if settings.database_url is None:
        raise ConfigurationError(N_("the service needs a database URL (settings.database_url)"))
    database_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.from_settings(database_url, settings)
        try:
            # A bounded window: a long-running service keeps the last 10k waits for percentiles.
            with (
                PoolMonitor(database.engine, window=10_000) as monitor,
                StatementCounter(database.engine) as counter,
            ):
                app.state.database = database
                app.state.statement_counter = counter
                app.state.metrics.bind(database.engine, monitor)
                await _warm_up(database)
                try:
                    yield
                finally:
                    app.state.metrics.bind(None, None)
        finally:
            await database.dispose()

    app = FastAPI(
        title="sqla-lab demo service",
        summary="Users and their posts on SQLAlchemy 2.x async ORM, with metrics.",
        lifespan=lifespan,
    )
    app.state.metrics = ServiceMetrics()
    app.state.settings = settings
    app.include_router(router)
    install_error_handlers(app, pool_timeout=settings.pool_timeout)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app
