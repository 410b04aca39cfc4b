"""Two asyncio tasks on one shared session: the ``sessions`` lab's collision experiment.

Collisions are made deterministic rather than timed: the first task's statement waits on a
lock held by another connection, :func:`collide` polls ``pg_locks`` until it really waits, and
only then lets the second task act on the same session. Split out of
:mod:`sqla_lab.labs.sessions` to keep that module about scoping.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import scoped_session, sessionmaker

from sqla_lab.demo.models import UserEntity
from sqla_lab.errors import LabError
from sqla_lab.lab.outcome import OK, attempt, warning_names
from sqla_lab.lab.results import Cell, Finding, Measurement, Table, Verdict

__all__ = [
    "COLLISIONS",
    "ORPHANED",
    "PID",
    "SEED_SOURCE",
    "SETTLE_S",
    "collide",
    "collision_finding",
    "seed_registry",
]

SEED_SOURCE = "seed §2 세션과 비동기 동작에서 스레드와 테스크"
PID = text("SELECT pg_backend_pid()")


#: (first task's operation, second task's operation) pairs run on one shared session.
COLLISIONS = (
    ("execute", "execute"),
    ("execute", "rollback"),
    ("execute", "commit"),
    ("execute", "close"),
    ("commit", "execute"),
    ("commit", "rollback"),
    ("commit", "commit"),
    ("commit", "close"),
)


#: How long the second task gets to finish while the first one is still waiting.
SETTLE_S = 0.2


def seed_registry(engine: AsyncEngine) -> scoped_session[Any]:
    """The seed's ``scoped_session(sessionmaker(engine, class_=AsyncSession))``."""
    factory = sessionmaker(engine, class_=AsyncSession)  # type: ignore[call-overload]  # the seed's pattern; sessionmaker is typed for sync sessions
    return scoped_session(factory)


async def _wait_until_blocked(monitor: AsyncConnection, pid: int) -> None:
    query = text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted")
    for _ in range(1000):
        if (await monitor.execute(query, {"pid": pid})).scalar_one():
            return
        await asyncio.sleep(0.005)
    raise LabError(f"backend {pid} never waited on the lab's lock")


ORPHANED = "non-checked-in connection"


class _OrphanFilter(logging.Filter):
    """Drop (and count) the pool's log line about a connection the GC had to terminate.

    A collision can orphan the shared session's connection on purpose; the lab reports that
    as a measurement instead of letting the pool print it to stderr.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if ORPHANED in record.getMessage():
            self.dropped += 1
            return False
        return True


async def collide(
    engine: AsyncEngine, wreckable: AsyncEngine, first: str, second: str, tag: str
) -> tuple[tuple[Cell, ...], tuple[str, ...]]:
    """Run ``second`` on a session while ``first`` on the same session waits on a lock.

    The shared session runs on ``wreckable`` (a NullPool engine): a collision can leave its
    connection inside a transaction SQLAlchemy no longer knows about, so it must never go
    back to a pool.

    Returns:
        The table row, and the warnings raised other than the orphaned-connection one.
    """
    pool_logger = logging.getLogger(f"sqlalchemy.pool.impl.{type(wreckable.pool).__name__}")
    orphans = _OrphanFilter()
    pool_logger.addFilter(orphans)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            row = await _collision(engine, wreckable, first, second, tag)
            # An orphaned connection is only noticed when the GC collects it: collect now.
            gc.collect()
    finally:
        pool_logger.removeFilter(orphans)
    orphaned = [w for w in caught if ORPHANED in str(w.message)]
    others = [w for w in caught if ORPHANED not in str(w.message)]
    return (*row, len(orphaned)), warning_names(others)


async def _collision(
    engine: AsyncEngine, wreckable: AsyncEngine, first: str, second: str, tag: str
) -> tuple[Cell, ...]:
    registry = seed_registry(wreckable)
    lock_key = 4242
    blocked_id = -(uuid.uuid4().int % 1_000_000_000) - 1
    async with engine.connect() as blocker:
        await blocker.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
        await blocker.execute(
            text("INSERT INTO users (id, name) VALUES (:id, :name)"),
            {"id": blocked_id, "name": f"{tag}-blocker"},
        )
        session = registry()
        pid = (await session.execute(PID)).scalar_one()

        async def run_first() -> None:
            if first == "execute":
                await registry().execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
            else:
                registry().add(UserEntity(id=blocked_id, name=f"{tag}-first"))
                await registry().commit()

        async def run_second() -> None:
            target = registry()
            operation: Any = getattr(target, second)
            await (operation(text("SELECT 1")) if second == "execute" else operation())

        first_task = asyncio.create_task(_described(run_first))
        await _wait_until_blocked(blocker, pid)
        second_task = asyncio.create_task(_described(run_second))
        done, _ = await asyncio.wait({second_task}, timeout=SETTLE_S)
        await blocker.rollback()
        first_outcome, second_outcome = await asyncio.gather(first_task, second_task)
    closing = await _close_wrecked(session)
    # Not registry.remove(): that would call AsyncSession.close() without awaiting it.
    registry.registry.clear()
    async with engine.begin() as conn:
        # A collision can leave the shared session's backend alive and holding locks: end it.
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await conn.execute(delete(UserEntity).where(UserEntity.id == blocked_id))
    return (first, second, second_outcome, bool(done), first_outcome, closing)


async def _described(action: Callable[[], Awaitable[object]]) -> str:
    """What ``action`` did, as a table cell: ``ok`` or ``module.Error: first line``."""
    return (await attempt(action)).describe(detail=True)


async def _close_wrecked(session: AsyncSession) -> str:
    """Close a session a collision may have wrecked; invalidate its connection if need be."""
    outcome = await _described(session.close)
    if outcome != OK:
        await attempt(session.invalidate)
    return outcome


def collision_finding(table: Table, caught: tuple[str, ...]) -> Finding:
    failed = [row for row in table.rows if row[2] != OK or row[4] != OK]
    kinds = sorted(
        {str(cell).split(":")[0] for row in table.rows for cell in (row[2], row[4]) if cell != OK}
    )
    verdict = (
        Verdict.CONFIRMED
        if len(failed) == len(table.rows)
        else Verdict.DEPENDS
        if failed
        else Verdict.REFUTED
    )
    quiet = [f"{row[0]}+{row[1]}" for row in table.rows if row not in failed]
    queued = [f"{row[0]}+{row[1]}" for row in table.rows if row not in failed and not row[3]]
    orphaned = {f"{row[0]}+{row[1]}": int(str(row[6])) for row in table.rows if row[6]}
    notes = ""
    if queued:
        notes += (
            f" In {', '.join(queued)} the second task simply waited for the first: SQLAlchemy's "
            "asyncpg adapter serialises statements on one connection with a lock."
        )
    if orphaned:
        notes += (
            f" In {', '.join(orphaned)} the failed call left the connection checked out with "
            "no session holding it: only the garbage collector terminated it."
        )
    return Finding(
        key="sessions.shared-session-collides",
        claim="Two asyncio tasks using one shared session at the same time fail.",
        source=SEED_SOURCE,
        quote="동일 세션에 대한 task가 비동기 적으로 동시에 처리된다면 에러 발생",
        measurements=(
            Measurement.single("pairs with an error", len(failed), ""),
            Measurement.single("pairs tried", len(table.rows), ""),
            Measurement.single("connections orphaned", sum(orphaned.values()), ""),
        ),
        verdict=verdict,
        explanation=(
            f"{len(failed)} of {len(table.rows)} operation pairs raised. Exceptions seen: "
            + (", ".join(kinds) or "none")
            + ". Pairs without an error: "
            + (", ".join(quiet) or "none")
            + "."
            + notes
            + (f" Warnings: {'; '.join(w.rstrip('.') for w in caught)}." if caught else "")
        ),
    )
