"""Small helpers the ``pool`` lab's parts share: backend pids, killing a backend, timing."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sqla_lab.lab.sources import seed_section

__all__ = [
    "ASYNCPG_API",
    "SECTION",
    "SQLA_POOLING",
    "as_float",
    "backend_alive",
    "backend_pid",
    "count_backends",
    "pid_of_next_checkout",
    "select_one",
    "terminate_backend",
]

SQLA_POOLING = "https://docs.sqlalchemy.org/en/20/core/pooling.html"
ASYNCPG_API = "https://magicstack.github.io/asyncpg/current/api/index.html"
#: Where the pool lab's claims come from: the seed's section 1, and SQLAlchemy's pooling docs.
SECTION = f"{seed_section(1)}; {SQLA_POOLING}"


def as_float(flag: bool) -> float:
    """A yes/no observation as a measurement value (1.0 or 0.0)."""
    return 1.0 if flag else 0.0


async def backend_pid(conn: AsyncConnection) -> int:
    """The PostgreSQL backend process id behind ``conn``."""
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def select_one(engine: AsyncEngine) -> None:
    """One unit of work: check a connection out, run ``SELECT 1``, give it back."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def pid_of_next_checkout(engine: AsyncEngine) -> int:
    """Check a connection out, read its backend pid, give it back."""
    async with engine.connect() as conn:
        return await backend_pid(conn)


async def terminate_backend(dsn: str, pid: int, *, timeout: float = 5.0) -> bool:  # noqa: ASYNC109 - a bound on polling, not a cancellation scope
    """``pg_terminate_backend(pid)`` and wait until the backend has gone."""
    admin = await asyncpg.connect(dsn)
    try:
        if not await admin.fetchval("SELECT pg_terminate_backend($1)", pid):
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
            ):
                # Give the client's event loop a moment to notice the closed socket.
                await asyncio.sleep(0.05)
                return True
            await asyncio.sleep(0.02)
        return False
    finally:
        await admin.close()


async def count_backends(dsn: str, application_name: str) -> int:
    """How many server backends carry ``application_name``."""
    admin = await asyncpg.connect(dsn)
    try:
        return int(
            await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                application_name,
            )
        )
    finally:
        await admin.close()


async def backend_alive(dsn: str, pid: int) -> bool:
    """Whether the server still has backend ``pid``."""
    admin = await asyncpg.connect(dsn)
    try:
        return bool(
            await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)
        )
    finally:
        await admin.close()
