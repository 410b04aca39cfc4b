"""Two asyncio tasks on one shared session: the ``sessions`` lab's collision experiment.

Collisions are made deterministic rather than timed, in both windows where they can happen:

* **connection held** (:func:`collide`): the session already has its connection; the first
  task's statement waits on a lock held by another connection, ``pg_locks`` is polled until it
  really waits, and only then does the second task act on the same session;
* **connection being opened** (:func:`collide_while_opening`): the session has no connection
  yet; the engine's ``async_creator`` holds the first task's connect at a gate until the second
  task has acted.

Split out of :mod:`sqla_lab.labs.sessions` to keep that module about scoping.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import scoped_session, sessionmaker
from sqlalchemy.pool import NullPool

from sqla_lab.demo.models import UserEntity
from sqla_lab.errors import LabError
from sqla_lab.lab.messages import N_, Message, join
from sqla_lab.lab.outcome import OK, attempt, warning_names
from sqla_lab.lab.results import Cell, Dependency, Finding, Measurement, Table, Verdict
from sqla_lab.lab.stats import decided
from sqla_lab.labs.sessions import _messages as words

__all__ = [
    "COLLISIONS",
    "ORPHANED",
    "PID",
    "SEED_SOURCE",
    "SETTLE_S",
    "collide",
    "collide_while_opening",
    "collision_finding",
    "opening_row",
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
    raise LabError(N_("backend {pid} never waited on the lab's lock"), pid=pid)


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


async def collide_while_opening(
    url: Any, dsn: str, first: str, second: str, tag: str
) -> tuple[str, bool, str]:
    """Run ``second`` on a session while ``first`` on it waits for its connection to open.

    Returns:
        The second's outcome, whether it finished while the first still waited, the first's
        outcome.
    """
    gate, opening = asyncio.Event(), asyncio.Event()

    async def creator() -> Any:
        opening.set()
        await gate.wait()
        return await asyncpg.connect(dsn)

    engine = create_async_engine(url, poolclass=NullPool, async_creator=creator)
    row_id = -(uuid.uuid4().int % 1_000_000_000) - 1
    try:
        session = AsyncSession(engine)

        async def run_first() -> None:
            if first == "execute":
                await session.execute(text("SELECT 1"))
            else:
                session.add(UserEntity(id=row_id, name=f"{tag}-opening"))
                await session.commit()

        async def run_second() -> None:
            operation: Any = getattr(session, second)
            await (operation(text("SELECT 1")) if second == "execute" else operation())

        first_task = asyncio.create_task(_described(run_first))
        await opening.wait()
        second_task = asyncio.create_task(_described(run_second))
        done, _ = await asyncio.wait({second_task}, timeout=SETTLE_S)
        gate.set()
        first_outcome, second_outcome = await asyncio.gather(first_task, second_task)
        await _close_wrecked(session)
    finally:
        gate.set()
        await engine.dispose()
    return second_outcome, bool(done), first_outcome


def _kinds(outcomes: list[str]) -> list[str]:
    return sorted({o.split(":")[0] for o in outcomes if o != OK})


def collision_finding(
    held: Table,
    opening: Table,
    caught: tuple[str, ...],
    *,
    versions: Mapping[str, str] | None = None,
) -> Finding:
    """``sessions.shared-session-collides``, in both windows."""
    held_failed = [row for row in held.rows if row[2] != OK or row[4] != OK]
    held_quiet = [f"{row[0]}+{row[1]}" for row in held.rows if row not in held_failed]
    queued = [f"{row[0]}+{row[1]}" for row in held.rows if row not in held_failed and not row[3]]
    orphaned = {f"{row[0]}+{row[1]}": int(str(row[6])) for row in held.rows if row[6]}
    trials_failed = [int(str(row[3])) for row in opening.rows]
    trials = [int(str(row[4])) for row in opening.rows]
    open_failed = [
        row
        for row, failed, n in zip(opening.rows, trials_failed, trials, strict=True)
        if failed == n
    ]
    tried = len(held.rows) + len(opening.rows)
    failed = len(held_failed) + len(open_failed)
    if failed == tried:
        verdict = Verdict.CONFIRMED
    elif failed == 0:
        verdict = Verdict.REFUTED
    else:
        verdict = Verdict.DEPENDS
    windows = {
        "held_failed": len(held_failed),
        "held_tried": len(held.rows),
        "open_failed": len(open_failed),
        "open_tried": len(opening.rows),
    }
    notes: list[Message] = []
    if queued:
        notes.append(Message(words.COLLISIONS_HELD_QUEUED, {"pairs": ", ".join(queued)}))
    if orphaned:
        notes.append(Message(words.COLLISIONS_ORPHANED, {"pairs": ", ".join(orphaned)}))
    if caught:
        notes.append(
            Message(
                words.COLLISIONS_WARNINGS, {"warnings": "; ".join(w.rstrip(".") for w in caught)}
            )
        )
    none = Message(words.NONE)
    held_outcomes = [str(c) for row in held.rows for c in (row[2], row[4])]
    open_outcomes = [str(c) for row in opening.rows for c in (row[2], row[5])]
    explanation = Message(
        words.COLLISIONS,
        {
            **windows,
            "held_kinds": ", ".join(_kinds(held_outcomes)) or none,
            "held_quiet": ", ".join(held_quiet) or none,
            "open_kinds": ", ".join(_kinds(open_outcomes)) or none,
            "trials": max(trials, default=0),
            "open_trials_failed": sum(trials_failed),
            "open_trials": sum(trials),
            "notes": join(notes, ""),
        },
    )
    depends_on = [
        Dependency(
            on="state",
            name=N_("whether the session already holds a connection"),
            detail=Message(words.COLLISIONS_WINDOWS, windows),
        )
    ]
    if held_quiet:
        depends_on.append(
            Dependency(
                on="state",
                name=N_("which operations collide"),
                detail=Message(words.COLLISION_QUIET, {"pairs": ", ".join(held_quiet)}),
            )
        )
    return Finding(
        key="sessions.shared-session-collides",
        headline=N_("two tasks on one session fail"),
        deciding="pairs with an error, connection held",
        claim=N_("Two asyncio tasks using one shared session at the same time fail."),
        source=SEED_SOURCE,
        quote="동일 세션에 대한 task가 비동기 적으로 동시에 처리된다면 에러 발생",
        measurements=(
            Measurement.single(N_("pairs with an error, connection held"), len(held_failed), ""),
            Measurement.single(N_("pairs tried, connection held"), len(held.rows), ""),
            Measurement.single(N_("connections orphaned"), sum(orphaned.values()), ""),
            Measurement.single(N_("pairs with an error, connection opening"), len(open_failed), ""),
            Measurement.single(N_("pairs tried, connection opening"), len(opening.rows), ""),
            Measurement.single(
                N_("second tasks failed, connection opening (all trials)"), sum(trials_failed), ""
            ),
            Measurement.single(N_("second tasks tried, connection opening"), sum(trials), ""),
        ),
        explanation=explanation,
        versions=versions or {},
        **decided(verdict, Message(words.COLLISIONS_WINDOWS, windows)).fields(
            depends_on=depends_on
        ),
    )


def opening_row(first: str, second: str, outcomes: list[tuple[str, bool, str]]) -> tuple[Cell, ...]:
    """The opening-window table row for one pair, from its trials."""
    seconds = Counter(o[0] for o in outcomes)
    firsts = Counter(o[2] for o in outcomes)
    failed = sum(o[0] != OK for o in outcomes)
    return (
        first,
        second,
        seconds.most_common(1)[0][0],
        failed,
        len(outcomes),
        firsts.most_common(1)[0][0],
        sum(o[1] for o in outcomes),
    )
