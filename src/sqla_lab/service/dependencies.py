"""Request-scoped dependencies: the app's :class:`Database` and one session per request.

The session is opened for the request and closed after it (FastAPI's dependency with
``yield``); routes that write commit explicitly, so a failed commit is an ordinary error of
the route, answered by the error handlers like any other. A
:class:`~sqla_lab.query_recorder.QueryRecorder` on the session counts the statements the
request sent, for ``sqla_lab_statements_per_request``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from sqla_lab.database import Database
from sqla_lab.query_recorder import QueryRecorder
from sqla_lab.service.metrics import ServiceMetrics, route_template

__all__ = ["DatabaseDep", "SessionDep", "get_database", "get_session"]


def get_database(request: Request) -> Database:
    """The :class:`Database` the lifespan opened."""
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_session(request: Request, database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """Yield one session for the request; count the statements it sends."""
    metrics: ServiceMetrics = request.app.state.metrics
    async with database.sessionmaker() as session:
        recorder = QueryRecorder(session)
        with recorder:
            try:
                yield session
            finally:
                metrics.observe_statements(
                    route=route_template(request.scope), statements=recorder.count
                )


SessionDep = Annotated[AsyncSession, Depends(get_session)]
