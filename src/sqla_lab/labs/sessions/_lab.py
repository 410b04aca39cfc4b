"""The ``sessions`` lab: which session does each thread and each asyncio task get?

Seed, section 2, builds ``scoped_session(sessionmaker(engine, class_=AsyncSession))``, notes
that sessions are per thread so concurrent tasks collide, and switches to
``async_scoped_session(..., scopefunc=asyncio.current_task)``. This lab measures each step on
the real server: which session object and which backend (``pg_backend_pid()``) every task or
thread gets, what this SQLAlchemy and asyncpg raise when two tasks use one session at once,
how many sessions a task-scoped registry keeps when ``remove()`` is forgotten, and what a plain
``async_sessionmaker`` per unit of work (SQLAlchemy's advice for new code) costs next to it.

The collision experiment (two tasks on one session, made deterministic with a lock) lives in
:mod:`sqla_lab.labs.sessions._collisions`.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, delete, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_scoped_session,
    async_sessionmaker,
)
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import NullPool

from sqla_lab.demo.models import UserEntity
from sqla_lab.lab import LabContext, LabOutput, lab
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.lab.messages import N_, YES_NO, Message, Quantity
from sqla_lab.lab.outcome import warning_names
from sqla_lab.lab.results import Cell, Dependency, Finding, Measurement, Table, Verdict
from sqla_lab.lab.stats import (
    Band,
    Scale,
    combine,
    decided,
    describe_estimate,
    judge,
    paired_difference,
    paired_ratio,
)
from sqla_lab.labs.sessions import _messages as words
from sqla_lab.labs.sessions._await_order import (
    await_order,
    await_order_finding,
    await_table,
)
from sqla_lab.labs.sessions._collisions import (
    COLLISIONS,
    PID,
    SEED_SOURCE,
    collide,
    collide_while_opening,
    collision_finding,
    opening_row,
    seed_registry,
)

__all__ = [
    "COLLISION_TABLE",
    "CONCURRENT",
    "DOCS_SOURCE",
    "LAB_TITLE",
    "OPENING_TABLE",
    "PLAIN",
    "PLAIN_CLOSE",
    "PLAIN_EMPTY",
    "SCOPED",
    "SCOPED_EMPTY",
    "session_cost_variants",
    "sessions_lab",
]

DOCS_SOURCE = "https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html"
#: How many tasks or threads hold a session at the same time in the scoping experiments.
CONCURRENT = 4
COLLISION_TABLE = "sessions.collisions"
OPENING_TABLE = "sessions.collisions-opening"


@dataclass(frozen=True)
class _Holder:
    """Which session and which backend one task or thread used."""

    session_id: int
    pid: int


#: The claim the lab tests, as ``sqla-lab list`` and the report title it.
LAB_TITLE = N_(
    "scoped_session is per thread: asyncio tasks need async_scoped_session or one session each."
)


@lab("sessions", title=LAB_TITLE)
async def sessions_lab(ctx: LabContext) -> LabOutput:
    """scoped_session is per thread: asyncio tasks need async_scoped_session or one session each."""
    tag = f"sessions-lab-{uuid.uuid4().hex[:8]}"
    engine = ctx.engine(pool_size=CONCURRENT + 2, max_overflow=2)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(UserEntity.metadata.create_all)
        trials = ctx.repetitions(full=10, quick=3)
        ctx.progress.start(N_("sessions: scoping and collisions"), 4 + 2 * len(COLLISIONS))
        shared, shared_warnings = await _thread_scoped_in_asyncio(engine)
        ctx.progress.advance()
        rows: list[tuple[Cell, ...]] = []
        seen: dict[str, None] = {}
        wreckable = ctx.engine(poolclass=NullPool)
        try:
            for first, second in COLLISIONS:
                row, row_warnings = await collide(engine, wreckable, first, second, tag)
                rows.append(row)
                seen.update(dict.fromkeys(row_warnings))
                ctx.progress.advance()
        finally:
            await wreckable.dispose()
        opening_rows: list[tuple[Cell, ...]] = []
        for first, second in COLLISIONS:
            outcomes = [
                await collide_while_opening(
                    ctx.workspace.url, ctx.workspace.dsn, first, second, tag
                )
                for _ in range(trials)
            ]
            opening_rows.append(opening_row(first, second, outcomes))
            ctx.progress.advance()
        collision_warnings = tuple(seen)
        order = await await_order()
        threads = await asyncio.to_thread(_threads_with_sync_engine, ctx.workspace.sync_url)
        ctx.progress.advance()
        per_task = await _task_scoped(engine)
        ctx.progress.advance()
        per_request = await _per_request(engine)
        ctx.progress.advance()
        leak = await _registry_leak(ctx, engine)
        costs = await _costs(ctx, engine)
        async with engine.begin() as conn:
            await conn.execute(delete(UserEntity).where(UserEntity.name.startswith(tag)))
    finally:
        await engine.dispose()
    table = Table(
        key=COLLISION_TABLE,
        title=N_("Two tasks on one shared AsyncSession: the second acts while the first waits"),
        columns=(
            N_("first (waiting)"),
            N_("second"),
            N_("second's outcome"),
            N_("second done while first waited"),
            N_("first's outcome"),
            N_("close() afterwards"),
            N_("connections orphaned"),
        ),
        rows=tuple(rows),
    )
    opening = Table(
        key=OPENING_TABLE,
        title=(
            N_(
                "Two tasks on one shared AsyncSession: the second acts while the first's "
                "connection is being opened"
            )
        ),
        columns=(
            N_("first (opening)"),
            N_("second"),
            N_("second's outcome"),
            N_("trials the second failed"),
            N_("trials"),
            N_("first's outcome"),
            N_("trials the second finished while the first waited"),
        ),
        rows=tuple(opening_rows),
    )
    sqlalchemy_asyncpg = ctx.versions("sqlalchemy", "asyncpg")
    return LabOutput(
        findings=(
            _shared_finding(shared, shared_warnings, ctx.versions("sqlalchemy")),
            collision_finding(table, opening, collision_warnings, versions=sqlalchemy_asyncpg),
            await_order_finding(order, ctx.versions("python")),
            _threads_finding(threads, ctx.versions("sqlalchemy", "psycopg")),
            _task_scoped_finding(per_task, ctx.versions("sqlalchemy")),
            _leak_finding(leak, ctx.versions("sqlalchemy", "python")),
            _per_request_finding(per_request, costs, sqlalchemy_asyncpg),
        ),
        tables=(table, opening, await_table(order)),
    )


async def _thread_scoped_in_asyncio(engine: AsyncEngine) -> tuple[list[_Holder], tuple[str, ...]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = seed_registry(engine)

        async def task() -> _Holder:
            session = registry()
            pid = (await session.execute(PID)).scalar_one()
            return _Holder(id(session), pid)

        holders = await asyncio.gather(*(task() for _ in range(CONCURRENT)))
        await registry().close()
        # scoped_session.remove() calls the AsyncSession's close() without awaiting it.
        registry.remove()
        gc.collect()
    return list(holders), warning_names(caught)


def _threads_with_sync_engine(sync_url: Any) -> list[tuple[_Holder, bool]]:
    engine = create_engine(sync_url, pool_size=CONCURRENT, max_overflow=0)
    registry = scoped_session(sessionmaker(engine))
    barrier = threading.Barrier(CONCURRENT)
    results: list[tuple[_Holder, bool]] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            session: Session = registry()
            pid = session.execute(PID).scalar_one()
            same_again = registry() is session
            barrier.wait(timeout=30)
            with lock:
                results.append((_Holder(id(session), pid), same_again))
        finally:
            registry.remove()

    try:
        threads = [threading.Thread(target=worker) for _ in range(CONCURRENT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        engine.dispose()
    return results


async def _task_scoped(engine: AsyncEngine) -> tuple[list[_Holder], int]:
    registry = async_scoped_session(async_sessionmaker(engine), scopefunc=asyncio.current_task)
    barrier = asyncio.Barrier(CONCURRENT)

    async def task() -> _Holder:
        try:
            session = registry()
            pid = (await session.execute(PID)).scalar_one()
            await barrier.wait()
            return _Holder(id(session), pid)
        finally:
            await registry.remove()

    holders = await asyncio.gather(*(asyncio.create_task(task()) for _ in range(CONCURRENT)))
    return list(holders), len(registry.registry.registry)


async def _per_request(engine: AsyncEngine) -> list[_Holder]:
    maker = async_sessionmaker(engine)
    barrier = asyncio.Barrier(CONCURRENT)

    async def request() -> _Holder:
        async with maker() as session:
            pid = (await session.execute(PID)).scalar_one()
            await barrier.wait()
            return _Holder(id(session), pid)

    return list(await asyncio.gather(*(request() for _ in range(CONCURRENT))))


@dataclass(frozen=True)
class _Leak:
    tasks: int
    kept_without_remove: int
    kept_with_remove: int
    bytes_without_remove: int
    bytes_with_remove: int


async def _registry_leak(ctx: LabContext, engine: AsyncEngine) -> _Leak:
    tasks = ctx.repetitions(full=10_000, quick=500)
    batch = 500
    ctx.progress.start(N_("sessions: task-scoped registry without and with remove()"), 2 * tasks)

    async def run(remove: bool) -> tuple[int, int]:
        registry = async_scoped_session(async_sessionmaker(engine), scopefunc=asyncio.current_task)

        async def task() -> None:
            registry()
            if remove:
                await registry.remove()

        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for start in range(0, tasks, batch):
                count = min(batch, tasks - start)
                await asyncio.gather(*(asyncio.create_task(task()) for _ in range(count)))
                ctx.progress.advance(count)
            gc.collect()
            retained = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        return len(registry.registry.registry), max(0, retained)

    kept, kept_bytes = await run(remove=False)
    removed, removed_bytes = await run(remove=True)
    return _Leak(tasks, kept, removed, kept_bytes, removed_bytes)


PLAIN = "async_sessionmaker per request"
PLAIN_CLOSE = "async_sessionmaker per request, await session.close()"
SCOPED = "async_scoped_session + remove()"
PLAIN_EMPTY = "async_sessionmaker per request, no query"
SCOPED_EMPTY = "async_scoped_session + remove(), no query"


def session_cost_variants(engine: AsyncEngine) -> dict[str, Callable[[], Awaitable[None]]]:
    """One unit of work per way of getting a session, for :func:`sample_interleaved`.

    Shared with ``benchmarks/sessions.py`` so the lab and the benchmark time the same code.
    """
    maker = async_sessionmaker(engine)
    registry = async_scoped_session(async_sessionmaker(engine), scopefunc=asyncio.current_task)

    async def plain() -> None:
        async with maker() as session:
            await session.execute(text("SELECT 1"))

    async def scoped() -> None:
        await registry().execute(text("SELECT 1"))
        await registry.remove()

    async def plain_close() -> None:
        session = maker()
        try:
            await session.execute(text("SELECT 1"))
        finally:
            await session.close()

    async def plain_empty() -> None:
        async with maker():
            pass

    async def scoped_empty() -> None:
        registry()
        await registry.remove()

    return {
        PLAIN: plain,
        PLAIN_CLOSE: plain_close,
        SCOPED: scoped,
        PLAIN_EMPTY: plain_empty,
        SCOPED_EMPTY: scoped_empty,
    }


async def _costs(ctx: LabContext, engine: AsyncEngine) -> dict[str, Measurement]:
    samples = await sample_interleaved(
        session_cost_variants(engine),
        repetitions=ctx.repetitions(full=500, quick=120),
        warmup=5,
        progress=ctx.progress,
        description=N_("sessions: per-request vs scoped cost"),
    )
    return {
        name: Measurement.from_samples(name, [ms * 1000.0 for ms in values], "µs")
        for name, values in samples.items()
    }


def _distinct(holders: list[_Holder]) -> tuple[int, int]:
    return len({h.session_id for h in holders}), len({h.pid for h in holders})


def _scoping_measurements(holders: list[_Holder], who: str) -> tuple[Measurement, ...]:
    sessions, pids = _distinct(holders)
    return (
        Measurement.single(who, len(holders), ""),
        Measurement.single(N_("distinct sessions"), sessions, ""),
        Measurement.single(N_("distinct backend pids"), pids, ""),
    )


def _shared_finding(
    holders: list[_Holder], caught: tuple[str, ...], versions: Mapping[str, str]
) -> Finding:
    sessions, pids = _distinct(holders)
    shared = sessions == 1 and pids == 1
    deprecated = [w for w in caught if w.startswith("SADeprecationWarning")]
    return Finding(
        key="sessions.scoped-session-shared",
        headline=N_("scoped_session: one session per thread"),
        deciding="distinct sessions",
        claim=N_(
            "scoped_session with AsyncSession gives every asyncio task of a thread one session."
        ),
        source=SEED_SOURCE,
        quote="기본적으로 세션은 쓰레드 별로 할당되기 때문",
        measurements=(
            *_scoping_measurements(holders, "tasks"),
            Measurement.single(N_("distinct deprecation warnings"), len(deprecated), ""),
        ),
        explanation=Message(
            words.SCOPED_SHARED,
            {
                "tasks": len(holders),
                "sessions": sessions,
                "pids": pids,
                "warnings": "; ".join(caught) or Message(words.NONE),
            },
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if shared else Verdict.REFUTED,
            Message(words.DECIDED_BY_DISTINCT_SESSIONS_AND_BACKEND),
        ).fields(),
    )


def _threads_finding(results: list[tuple[_Holder, bool]], versions: Mapping[str, str]) -> Finding:
    holders = [holder for holder, _ in results]
    sessions, pids = _distinct(holders)
    stable = all(same for _, same in results)
    ok = sessions == len(holders) == pids and stable
    return Finding(
        key="sessions.scoped-session-threads",
        headline=N_("threads get a session each"),
        deciding="distinct sessions",
        claim=N_(
            "scoped_session with threads and a sync engine gives each thread its own session."
        ),
        source="https://docs.sqlalchemy.org/en/20/orm/contextual.html",
        measurements=(
            *_scoping_measurements(holders, "threads"),
            Measurement.single(N_("same session on a second call in a thread"), stable, ""),
        ),
        explanation=Message(
            words.THREADS,
            {
                "threads": len(holders),
                "sessions": sessions,
                "pids": pids,
                "stable": YES_NO[stable],
            },
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if ok else Verdict.REFUTED,
            Message(words.DECIDED_BY_DISTINCT_SESSIONS_AND_BACKEND_2),
        ).fields(),
    )


def _task_scoped_finding(result: tuple[list[_Holder], int], versions: Mapping[str, str]) -> Finding:
    holders, left = result
    sessions, pids = _distinct(holders)
    ok = sessions == pids == len(holders)
    return Finding(
        key="sessions.async-scoped-per-task",
        headline=N_("async_scoped_session: a session per task"),
        deciding="distinct sessions",
        claim=N_(
            "async_scoped_session(scopefunc=asyncio.current_task) gives each task its session."
        ),
        source=SEED_SOURCE,
        quote="세션을 테스크 별 할당으로 전환 하여 사용한다.",
        measurements=(
            *_scoping_measurements(holders, "tasks"),
            Measurement.single(N_("sessions left in the registry"), left, ""),
        ),
        explanation=Message(
            words.TASK_SCOPED,
            {"tasks": len(holders), "sessions": sessions, "pids": pids, "left": left},
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if ok else Verdict.REFUTED,
            Message(words.DECIDED_BY_DISTINCT_SESSIONS_AND_BACKEND),
        ).fields(),
    )


def _leak_finding(leak: _Leak, versions: Mapping[str, str]) -> Finding:
    per_task = leak.bytes_without_remove / leak.tasks
    leaks = leak.kept_without_remove == leak.tasks and leak.kept_with_remove == 0
    return Finding(
        key="sessions.forgotten-remove",
        headline=N_("no remove(): every session is kept"),
        deciding="sessions kept without remove()",
        claim=N_(
            "Without await Scoped.remove() a task-scoped registry keeps every finished task's "
            "session."
        ),
        source=DOCS_SOURCE,
        measurements=(
            Measurement.single(N_("tasks"), leak.tasks, ""),
            Measurement.single(N_("sessions kept without remove()"), leak.kept_without_remove, ""),
            Measurement.single(N_("sessions kept with remove()"), leak.kept_with_remove, ""),
            Measurement.single(
                N_("memory retained without remove()"), leak.bytes_without_remove, "B"
            ),
            Measurement.single(N_("memory retained with remove()"), leak.bytes_with_remove, "B"),
        ),
        explanation=Message(
            words.LEAK,
            {
                "tasks": f"{leak.tasks:,}",
                "kept": f"{leak.kept_without_remove:,}",
                "retained": f"{leak.bytes_without_remove / 1e6:.1f} MB",
                "per_task": f"{per_task / 1024:.1f} KiB",
                "kept_removed": leak.kept_with_remove,
                "retained_removed": f"{leak.bytes_with_remove / 1e3:.1f} kB",
            },
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if leaks else Verdict.REFUTED,
            Message(words.DECIDED_BY_SESSIONS_LEFT_IN_THE),
        ).fields(),
    )


def _similar_cost() -> Scale:
    return Scale(
        (
            Band(2 / 3, Verdict.REFUTED, words.SCOPED_CHEAPER),
            Band(1.5, Verdict.CONFIRMED, words.SIMILAR),
            Band(float("inf"), Verdict.REFUTED, words.PER_REQUEST_CHEAPER),
        )
    )


def _close_matters(verdicts: Mapping[str, Verdict]) -> Verdict:
    """The cost claim holds for the usual 'async with', or depends on how the session closes."""
    if verdicts["async with"] is Verdict.CONFIRMED:
        return Verdict.CONFIRMED
    if verdicts["close()"] is Verdict.CONFIRMED:
        return Verdict.DEPENDS
    return Verdict.REFUTED


def _per_request_finding(
    holders: list[_Holder], costs: dict[str, Measurement], versions: Mapping[str, str]
) -> Finding:
    sessions, pids = _distinct(holders)
    correct = sessions == pids == len(holders)

    def samples(name: str) -> tuple[float, ...]:
        return costs[name].samples

    ratio = paired_ratio(samples(SCOPED), samples(PLAIN))
    close_ratio = paired_ratio(samples(SCOPED), samples(PLAIN_CLOSE))
    empty_ratio = paired_ratio(samples(SCOPED_EMPTY), samples(PLAIN_EMPTY))
    with_cost = paired_difference(samples(PLAIN), samples(PLAIN_CLOSE))
    judgement = combine(
        {
            "async with": judge(ratio, _similar_cost(), what=N_("scoped / per-request"), unit="x"),
            "close()": judge(
                close_ratio, _similar_cost(), what=N_("scoped / per-request with close()"), unit="x"
            ),
        },
        _close_matters,
    )
    if not correct:
        judgement = decided(Verdict.REFUTED, Message(words.DECIDED_BY_THE_REQUESTS_DID_NOT))
    ratios = {
        "ratio": describe_estimate(ratio, "x"),
        "close_ratio": describe_estimate(close_ratio, "x"),
    }
    return Finding(
        key="sessions.session-per-request",
        headline=N_("a session per request costs the same"),
        deciding="scoped / per-request, with SELECT 1",
        claim=N_(
            "A plain async_sessionmaker per unit of work is as correct as "
            "async_scoped_session, at a similar cost."
        ),
        source=DOCS_SOURCE,
        measurements=(
            *_scoping_measurements(holders, "requests"),
            *costs.values(),
            ratio.measurement(N_("scoped / per-request, with SELECT 1"), "x"),
            close_ratio.measurement(
                N_("scoped / per-request closed with close(), with SELECT 1"), "x"
            ),
            empty_ratio.measurement(N_("scoped / per-request, no query"), "x"),
            with_cost.measurement(
                N_("'async with' over 'await session.close()'"), "µs", kind="difference"
            ),
        ),
        explanation=Message(
            words.PER_REQUEST,
            {
                **ratios,
                "requests": len(holders),
                "sessions": sessions,
                "pids": pids,
                "rounds": ratio.n,
                "plain": Quantity(costs[PLAIN].value, "µs"),
                "plain_close": Quantity(costs[PLAIN_CLOSE].value, "µs"),
                "scoped": Quantity(costs[SCOPED].value, "µs"),
                "plain_empty": Quantity(costs[PLAIN_EMPTY].value, "µs"),
                "scoped_empty": Quantity(costs[SCOPED_EMPTY].value, "µs"),
                "empty_ratio": describe_estimate(empty_ratio, "x"),
                "with_cost": describe_estimate(with_cost, "µs", kind="difference"),
            },
        ),
        versions=versions,
        **judgement.fields(
            depends_on=(
                Dependency(
                    on="setting",
                    name=N_("how the session is closed"),
                    detail=Message(words.PER_REQUEST_CLOSE, ratios),
                ),
            )
        ),
    )
