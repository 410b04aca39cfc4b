"""Request-scoped dependencies: the app's :class:`Database` and one session per request.

The session is opened for the request and closed after it (FastAPI's dependency with
``yield``); routes that write commit explicitly, so a failed commit is an ordinary error of
the route, answered by the error handlers like any other.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from sqla_lab.database import Database
from sqla_lab.service.metrics import current_request_stats

__all__ = ["DatabaseDep", "SessionDep", "get_database", "get_session"]


def get_database(request: Request) -> Database:
    """The :class:`Database` the lifespan opened."""
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_session(database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """Yield one session for the request, with its connection already checked out.

    Checking the connection out up front times the pool wait for ``/metrics`` and makes an
    exhausted pool fail here, before the route starts any work.
    """
    async with database.sessionmaker() as session:
        started = time.perf_counter()
        await session.connection()
        stats = current_request_stats()
        if stats is not None:
            stats.checkout_wait_s = time.perf_counter() - started
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
