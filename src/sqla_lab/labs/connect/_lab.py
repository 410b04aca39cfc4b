"""The ``connect`` lab: what opening a connection costs next to reusing a pooled one.

Seed, section 1: "커넥션을 생성하는데 대부분의 시간이 소요됨 (로컬 테스트 20배)" (creating the
connection takes most of the time; 20x in a local test). The seed does not say what its 20x
compared, so both readings are measured, interleaved:

* getting a connection alone: a new one (connect, authenticate with scram-sha-256,
  SQLAlchemy's per-connection set-up for asyncpg, close) against a pooled checkout and checkin;
* a one-query unit of work (get a connection, ``SELECT 1``, give it back): new through
  SQLAlchemy (``NullPool``), new through raw asyncpg, and pooled (``QueuePool``);

and, in the same rounds, a pooled request shaped like the demo service's ``GET /users/{id}``,
whose statement time is recorded, for the seed's "in a three-tier service most of the time goes
to the database connection". :mod:`._echo` measures what ``echo=True``, set in every engine of
the seed, costs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import asyncpg
from sqlalchemy import bindparam, event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import joinedload
from sqlalchemy.pool import NullPool

from sqla_lab.demo.models import UserEntity
from sqla_lab.demo.seeding import seed
from sqla_lab.lab import LabContext, LabOutput, lab
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.lab.messages import N_
from sqla_lab.lab.results import Chart, Measurement
from sqla_lab.labs.connect import _messages as words
from sqla_lab.labs.connect._echo import echo_cost
from sqla_lab.labs.connect._findings import (
    NEW_ACQUIRE,
    NEW_ASYNCPG,
    NEW_SQLALCHEMY,
    POOLED,
    POOLED_ACQUIRE,
    REQUEST,
    RequestTimes,
    dominates_finding,
    speedup_finding,
)

__all__ = ["REQUEST_POSTS", "REQUEST_USERS", "connect_lab"]

#: The demo data the pooled request reads: users with this many posts each.
REQUEST_USERS, REQUEST_POSTS = 50, 10

#: The demo service's statement for ``GET /users/{id}``, built once as the service does.
_USER_WITH_POSTS = (
    select(UserEntity)
    .where(UserEntity.id == bindparam("user_id"))
    .options(joinedload(UserEntity.posts))
)


async def _unit_of_work(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _acquire_only(engine: AsyncEngine) -> None:
    async with engine.connect():
        pass


class _StatementClock:
    """Seconds spent executing statements and resetting returned connections on an engine.

    Listens to ``before/after_cursor_execute`` (round trip, driver, and BEGIN when asyncpg
    starts a transaction) and to the pool's ``reset``/``checkin`` (the ROLLBACK on return).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.seconds = 0.0
        self._engine = engine
        self._started: float | None = None
        self._reset: float | None = None

    def __enter__(self) -> _StatementClock:
        sync = self._engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        event.listen(sync.pool, "reset", self._reset_started)
        event.listen(sync.pool, "checkin", self._reset_done)
        return self

    def __exit__(self, *exc_info: object) -> None:
        sync = self._engine.sync_engine
        event.remove(sync, "before_cursor_execute", self._before)
        event.remove(sync, "after_cursor_execute", self._after)
        event.remove(sync.pool, "reset", self._reset_started)
        event.remove(sync.pool, "checkin", self._reset_done)

    def _before(self, *args: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, *args: Any) -> None:
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None

    def _reset_started(self, *args: Any) -> None:
        self._reset = time.perf_counter()

    def _reset_done(self, *args: Any) -> None:
        if self._reset is not None:
            self.seconds += time.perf_counter() - self._reset
            self._reset = None


@lab("connect", title=words.TITLE)
async def connect_lab(ctx: LabContext) -> LabOutput:
    """Reusing a pooled connection is about 20x faster than opening a new one."""
    repetitions = ctx.repetitions(full=200, quick=50)
    fresh_engine = ctx.engine(poolclass=NullPool)
    pooled_engine = ctx.engine(pool_size=1, max_overflow=0)
    service_engine = ctx.engine(pool_size=1, max_overflow=0)
    sessions = async_sessionmaker(service_engine, expire_on_commit=False)
    dsn = ctx.workspace.dsn
    request_times: list[tuple[float, float]] = []

    async def raw_asyncpg() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    clock = _StatementClock(service_engine)

    async def service_request() -> None:
        user_id = len(request_times) % REQUEST_USERS + 1
        clock.seconds = 0.0
        started = time.perf_counter()
        async with sessions() as session:
            result = await session.scalars(_USER_WITH_POSTS, {"user_id": user_id})
            user = result.unique().one()
            json.dumps(dataclasses.asdict(user.to_domain()))
        total = time.perf_counter() - started
        request_times.append((total * 1000.0, clock.seconds * 1000.0))

    try:
        await seed(service_engine, users=REQUEST_USERS, posts_per_user=REQUEST_POSTS, reset=True)
        warmup = 5
        samples = await sample_interleaved(
            {
                NEW_SQLALCHEMY: lambda: _unit_of_work(fresh_engine),
                NEW_ASYNCPG: raw_asyncpg,
                POOLED: lambda: _unit_of_work(pooled_engine),
                NEW_ACQUIRE: lambda: _acquire_only(fresh_engine),
                POOLED_ACQUIRE: lambda: _acquire_only(pooled_engine),
            },
            repetitions=repetitions,
            warmup=warmup,
            progress=ctx.progress,
            description=N_("connect: new vs pooled"),
        )
        # The pooled request's share is measured within each request, so it needs no pairing
        # with the new connections; it is cheap, and takes more rounds than they do.
        with clock:
            await sample_interleaved(
                {REQUEST: service_request},
                repetitions=ctx.repetitions(full=400, quick=200),
                warmup=warmup,
                progress=ctx.progress,
                description=N_("connect: a pooled service request"),
            )
        echo = await echo_cost(ctx)
    finally:
        await fresh_engine.dispose()
        await pooled_engine.dispose()
        await service_engine.dispose()

    timed = request_times[warmup:]
    request = RequestTimes(
        total_ms=tuple(t for t, _ in timed), database_ms=tuple(d for _, d in timed)
    )
    measured = {name: Measurement.from_samples(name, s, "ms") for name, s in samples.items()}
    versions = ctx.versions("postgresql", "sqlalchemy", "asyncpg")
    return LabOutput(
        findings=(
            speedup_finding(measured, versions=versions),
            dominates_finding(measured, request, posts=REQUEST_POSTS, versions=versions),
            echo.finding,
        ),
        charts=(
            Chart(
                key="connect.distributions",
                title=N_("Get a connection, SELECT 1, release (ms per repetition)"),
                kind="box",
                finding="connect.pooled-vs-new",
                measurements=(NEW_SQLALCHEMY, NEW_ASYNCPG, POOLED, NEW_ACQUIRE, POOLED_ACQUIRE),
                log_y=True,
                y_label=N_("ms"),
            ),
            echo.chart,
        ),
    )
