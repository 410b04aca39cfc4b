"""Request-scoped dependencies: the app's :class:`Database` and one session per request.

The session is opened for the request and closed after it (FastAPI's dependency with
``yield``); routes that write commit explicitly, so a failed commit is an ordinary error of
the route, answered by the error handlers like any other. The app's
:class:`~sqla_lab.StatementCounter` counts the statements the request's
session sent, for ``sqla_lab_statements_per_request`` (a ``QueryRecorder`` per request cost
about 0.15 ms of CPU per request in ``benchmarks/service.py``: four listeners added and removed
each time, and SQL, timing and caller kept that nobody reads here).

Read-only routes take :data:`ReadSessionDep`: its connection runs in DBAPI autocommit, so a
``GET`` costs no ``BEGIN``/``ROLLBACK`` round trips. Nothing is lost: under PostgreSQL's default
READ COMMITTED every statement takes its own snapshot inside a transaction too, so the two
``SELECT`` of ``GET /users/{id}`` were never one snapshot. (SQLAlchemy docs, "Setting
Transaction Isolation Levels including DBAPI Autocommit".)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from sqla_lab.database import Database
from sqla_lab.instruments.counter import StatementCounter
from sqla_lab.service.metrics import ServiceMetrics, route_template

__all__ = [
    "DatabaseDep",
    "ReadSessionDep",
    "SessionDep",
    "get_database",
    "get_read_session",
    "get_session",
]


async def get_database(request: Request) -> Database:
    """The :class:`Database` the lifespan opened.

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in a
    worker thread, a thread hop per request for a dictionary lookup.
    """
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


@asynccontextmanager
async def _recorded_session(
    request: Request, database: Database, *, autocommit: bool
) -> AsyncIterator[AsyncSession]:
    metrics: ServiceMetrics = request.app.state.metrics
    counter: StatementCounter = request.app.state.statement_counter
    async with database.sessionmaker() as session:
        with counter.session(session) as tally:
            try:
                if autocommit:
                    await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                yield session
            finally:
                metrics.observe_statements(
                    method=request.method,
                    route=route_template(request.scope),
                    statements=tally.count,
                )


async def get_session(request: Request, database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """Yield one session for the request; count the statements it sends."""
    async with _recorded_session(request, database, autocommit=False) as session:
        yield session


async def get_read_session(request: Request, database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """Yield one autocommit session for a read-only request; count its statements."""
    async with _recorded_session(request, database, autocommit=True) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]
