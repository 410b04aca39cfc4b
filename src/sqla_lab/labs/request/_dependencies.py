"""Session dependencies written the usual way, for the variants that use them.

A module of its own, with ``from __future__ import annotations`` as most code has it now:
FastAPI evaluates these string annotations whenever it inspects the functions, which with a
``dependency_overrides`` entry is on every request. Like the demo service's old dependencies,
the session dependency takes the app's session factory from a nested dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Final

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

__all__ = [
    "AUTOCOMMIT",
    "SessionsDep",
    "closing_session",
    "get_sessions",
    "session",
]

AUTOCOMMIT: Final = {"isolation_level": "AUTOCOMMIT"}


async def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """The app's session factory."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]


async def session(sessions: SessionsDep) -> AsyncIterator[AsyncSession]:
    """A session for the request; the route closes it, this closes it only on failure."""
    opened = sessions()
    try:
        yield opened
    except BaseException:
        await opened.close()
        raise


async def closing_session(request: Request, sessions: SessionsDep) -> AsyncIterator[AsyncSession]:
    """A session in ``async with``, AUTOCOMMIT set per request (the old "bare ORM")."""
    async with sessions() as opened:
        await opened.connection(execution_options=AUTOCOMMIT)
        yield opened
