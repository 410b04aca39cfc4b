"""Benchmark: what N+1 costs at N=1,000 x M=10, and what the query instruments cost.

Run with ``python benchmarks/loading.py`` (an embedded PostgreSQL is started unless
``DATABASE_URL`` names one; its ``users``/``posts`` tables are re-seeded). Prints, measured
side by side in this one run, interleaved:

* the wall-time ratios lazy/selectinload and lazy/joinedload for loading 1,000 users with
  10 posts each, directly (+0 ms) and through :class:`~sqla_lab.FaultProxy` adding
  1 ms per direction;
* the overhead of :class:`~sqla_lab.QueryRecorder` and :class:`~sqla_lab.NPlusOneDetector`
  as a ratio over 10,000 simple ORM selects (goal: under 1.05): the median of per-round
  wall and client-CPU ratios over interleaved rounds, and (when valgrind is installed, unless
  ``--no-callgrind``) the ratio of instructions per select under callgrind (far steadier).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

import _instrument_cost
from _common import server as _common_server
from sqla_lab import FaultMode, FaultProxy, NPlusOneDetector, QueryRecorder
from sqla_lab.demo import UserEntity, seed
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.labs.loading._runs import load_users
from sqla_lab.postgres import PostgresServer

USERS = 1000
POSTS_PER_USER = 10
SELECTS = 10_000
SELECT_ROUNDS = 50


def _loader(engine: AsyncEngine, strategy: str) -> Callable[[], Awaitable[None]]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def run() -> None:
        async with sessions() as session:
            await load_users(session, strategy, USERS)

    return run


async def _strategy_ratios(engine: AsyncEngine, label: str, repetitions: int) -> None:
    samples = await sample_interleaved(
        {s: _loader(engine, s) for s in ("lazy", "selectinload", "joinedload")},
        repetitions=repetitions,
        warmup=1,
    )
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(
        f"{label:>28}: lazy {median['lazy']:8.1f} ms  selectin {median['selectinload']:7.1f} ms"
        f"  joined {median['joinedload']:7.1f} ms  ->  lazy/selectin "
        f"{median['lazy'] / median['selectinload']:5.1f}x  lazy/joined "
        f"{median['lazy'] / median['joinedload']:5.1f}x  ({repetitions} runs each)"
    )


async def _simple_selects(session: AsyncSession, count: int) -> None:
    for i in range(count):
        await session.scalar(select(UserEntity).where(UserEntity.id == 1 + i % 100))


def _variant(engine: AsyncEngine, instrument: str) -> Callable[[], Awaitable[None]]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    per_round = SELECTS // SELECT_ROUNDS

    async def run() -> None:
        async with sessions() as session:
            if instrument == "none":
                await _simple_selects(session, per_round)
            elif instrument == "QueryRecorder":
                with QueryRecorder(session):
                    await _simple_selects(session, per_round)
            else:
                with NPlusOneDetector(session, mode="collect"):
                    await _simple_selects(session, per_round)

    return run


async def _instrument_overhead(engine: AsyncEngine) -> None:
    names = ("none", "QueryRecorder", "NPlusOneDetector")
    variants = {name: _variant(engine, name) for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(SELECT_ROUNDS + 1):
        # Rotate who goes first, so that no variant always runs right after another.
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            await variants[name]()
            if round_number:  # round 0 warms up
                wall[name].append(time.perf_counter() - wall_start)
                cpu[name].append(time.process_time() - cpu_start)
    # Each round ran the variants back to back: per-round ratios cancel the drift of a
    # shared machine, their median the outliers. CPU time is this process only (client side:
    # where the instruments run); wall time also holds the server and the other tenants.
    base_ms = sum(wall["none"]) * 1000
    print(f"{'no instrument':>28}: {base_ms:8.0f} ms wall for {SELECTS:,} selects")
    for name in names[1:]:
        wall_ratio = statistics.median(a / b for a, b in zip(wall[name], wall["none"], strict=True))
        cpu_ratio = statistics.median(a / b for a, b in zip(cpu[name], cpu["none"], strict=True))
        print(
            f"{name:>28}: {sum(wall[name]) * 1000:8.0f} ms wall  ->  overhead ratio "
            f"{wall_ratio:.3f} wall, {cpu_ratio:.3f} client CPU (median of {SELECT_ROUNDS} rounds)"
        )


def _instrument_instructions(url: str) -> None:
    if not _instrument_cost.available():
        print(f"{'callgrind':>28}: skipped (valgrind is not installed)")
        return
    ratios = _instrument_cost.instruction_ratios(
        url, "select", ("QueryRecorder", "NPlusOneDetector")
    )
    for name, counted in ratios.items():
        print(
            f"{name:>28}: {counted.ratio:.3f}x instructions per select under callgrind "
            f"({counted.plain:,.0f} without, {counted.instrumented:,.0f} with; client side, "
            "repeat runs agree within ~2.5 %)"
        )


async def main(server: PostgresServer, callgrind: bool) -> None:
    engine = create_async_engine(server.url, pool_size=1, max_overflow=0)
    try:
        counts = await seed(engine, users=USERS, posts_per_user=POSTS_PER_USER, reset=True)
        print(f"data: {counts.users:,} users, {counts.posts:,} posts; {server.display_url}")
        print(f"load {USERS:,} users x {POSTS_PER_USER} posts and touch every user's posts:")
        await _strategy_ratios(engine, "+0 ms (direct)", repetitions=5)
        async with FaultProxy.for_url(server.url, mode=FaultMode.DELAY, delay_ms=1) as proxy:
            proxied = create_async_engine(proxy.proxied_url(), pool_size=1, max_overflow=0)
            try:
                async with proxied.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                await _strategy_ratios(proxied, "+1 ms per direction (proxy)", repetitions=3)
            finally:
                await proxied.dispose()
        print(f"instrument overhead over {SELECTS:,} simple ORM selects (goal < 1.05):")
        await _instrument_overhead(engine)
        if callgrind:
            url = server.url.render_as_string(hide_password=False)
            await asyncio.to_thread(_instrument_instructions, url)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-callgrind", action="store_true", help="skip the instruction counts under valgrind"
    )
    arguments = parser.parse_args()
    with _common_server() as running:
        asyncio.run(main(running, not arguments.no_callgrind))
