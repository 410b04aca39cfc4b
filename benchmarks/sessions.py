"""Benchmark: session-per-request vs async_scoped_session, and StateTracer's overhead.

Run with ``python benchmarks/sessions.py [--repetitions N]``. Everything is measured
interleaved in one run on an embedded PostgreSQL, and reported as ratios, because absolute
times on a shared machine move too much to compare across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from sqla_lab import Database, EmbeddedPostgres, StateTracer
from sqla_lab.demo import UserEntity
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.labs.sessions._lab import (
    PLAIN,
    PLAIN_EMPTY,
    SCOPED,
    SCOPED_EMPTY,
    session_cost_variants,
)

OBJECTS = 20


async def _session_costs(db: Database, repetitions: int) -> dict[str, float]:
    samples = await sample_interleaved(
        session_cost_variants(db.engine), repetitions=repetitions, warmup=20
    )
    return {name: statistics.median(values) * 1000.0 for name, values in samples.items()}


async def _tracer_costs(db: Database, repetitions: int) -> dict[str, float]:
    async def flush(traced: bool) -> None:
        async with db.sessionmaker() as session:
            users = [UserEntity(name=f"bench-{i}") for i in range(OBJECTS)]
            if traced:
                with StateTracer(session):
                    await _add_flush_rollback(session, users)
            else:
                await _add_flush_rollback(session, users)

    async def plain_flush() -> None:
        await flush(traced=False)

    async def traced_flush() -> None:
        await flush(traced=True)

    async def orm_only(traced: bool) -> None:
        session = Session()
        users = [UserEntity(name=f"bench-{i}") for i in range(OBJECTS)]
        if traced:
            with StateTracer(session):
                session.add_all(users)
                session.expunge_all()
        else:
            session.add_all(users)
            session.expunge_all()

    async def plain_orm() -> None:
        await orm_only(traced=False)

    async def traced_orm() -> None:
        await orm_only(traced=True)

    samples = await sample_interleaved(
        {
            "add+flush+rollback": plain_flush,
            "add+flush+rollback, traced": traced_flush,
            "add+expunge, no database": plain_orm,
            "add+expunge, no database, traced": traced_orm,
        },
        repetitions=repetitions,
        warmup=20,
    )
    return {name: statistics.median(values) * 1000.0 for name, values in samples.items()}


async def _add_flush_rollback(session: AsyncSession, users: list[UserEntity]) -> None:
    session.add_all(users)
    await session.flush()
    await session.rollback()


async def main(repetitions: int, server: EmbeddedPostgres) -> None:
    db = Database(server.url, pool_size=2)
    try:
        await db.create_schema(UserEntity.metadata)
        costs = await _session_costs(db, repetitions)
        tracer = await _tracer_costs(db, repetitions // 2)
    finally:
        await db.dispose()
    print(f"Median µs per unit of work, {repetitions} interleaved repetitions")
    for name, value in {**costs, **tracer}.items():
        print(f"  {name:<40} {value:10.1f} µs")
    print("Ratios")
    print(f"  scoped + remove() / per-request, SELECT 1: {costs[SCOPED] / costs[PLAIN]:.2f}x")
    print(
        "  scoped + remove() / per-request, no query: "
        f"{costs[SCOPED_EMPTY] / costs[PLAIN_EMPTY]:.2f}x"
    )
    print(
        f"  StateTracer overhead, add {OBJECTS} + flush + rollback: "
        f"{tracer['add+flush+rollback, traced'] / tracer['add+flush+rollback']:.2f}x"
    )
    print(
        f"  StateTracer overhead, add {OBJECTS} + expunge (no database): "
        f"{tracer['add+expunge, no database, traced'] / tracer['add+expunge, no database']:.2f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=2000)
    args = parser.parse_args()
    started = time.perf_counter()
    with EmbeddedPostgres(server_settings={"fsync": "off"}) as pg:
        asyncio.run(main(args.repetitions, pg))
    print(f"({time.perf_counter() - started:.1f} s)")
