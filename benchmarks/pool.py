"""Pool benchmark: ratios measured side by side in one run.

Prints:

* new connection / pooled checkout (connect + SELECT 1 + release, interleaved);
* pool_pre_ping overhead per checkout, in microseconds and as a ratio;
* PoolMonitor overhead over 10,000 checkouts, as a ratio (goal: under 5 %): the median of
  interleaved per-block wall and client-CPU ratios, and (when valgrind is installed) the ratio
  of instructions this process executes per checkout under callgrind, which barely drifts.

Usage: ``python benchmarks/pool.py [--quick] [--no-callgrind]``; uses ``DATABASE_URL`` when
set, else starts (and stops) an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

import _instrument_cost
from _common import server as _common_server
from sqla_lab import PoolMonitor
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.labs.pool._support import select_one
from sqla_lab.postgres import PostgresServer

MONITOR_CHECKOUTS = 10_000
BLOCK = 250


async def _checkouts(engine: AsyncEngine, count: int, *, query: bool = False) -> float:
    """Seconds for ``count`` checkouts and releases (each running SELECT 1 if ``query``)."""
    started = time.perf_counter()
    for _ in range(count):
        async with engine.connect() as conn:
            if query:
                await conn.execute(text("SELECT 1"))
    return time.perf_counter() - started


async def _medians(
    server: PostgresServer, repetitions: int, **engines: dict[str, Any]
) -> dict[str, float]:
    """Median ms of checkout + SELECT 1 + release per engine, measured interleaved."""
    created = {name: create_async_engine(server.url, **kw) for name, kw in engines.items()}
    try:
        samples = await sample_interleaved(
            {name: functools.partial(select_one, engine) for name, engine in created.items()},
            repetitions=repetitions,
        )
    finally:
        for engine in created.values():
            await engine.dispose()
    return {name: statistics.median(values) for name, values in samples.items()}


async def new_vs_pooled(server: PostgresServer, repetitions: int) -> None:
    ms = await _medians(server, repetitions, new={"poolclass": NullPool}, pooled={"pool_size": 1})
    print(
        f"new connection / pooled checkout: {ms['new'] / ms['pooled']:.1f}x "
        f"(new {ms['new']:.3f} ms, pooled {ms['pooled']:.3f} ms, medians of {repetitions})"
    )


async def pre_ping(server: PostgresServer, repetitions: int) -> None:
    ms = await _medians(
        server, repetitions, plain={"pool_size": 1}, pinged={"pool_size": 1, "pool_pre_ping": True}
    )
    without, with_ping = ms["plain"], ms["pinged"]
    print(
        f"pool_pre_ping overhead: {(with_ping - without) * 1000:.0f} µs per checkout, "
        f"{with_ping / without:.2f}x (checkout + SELECT 1: {without:.3f} ms without, "
        f"{with_ping:.3f} ms with; medians of {repetitions}; the seed says 10,000 µs)"
    )


async def _timed(
    engine: AsyncEngine, count: int, *, query: bool, monitor: bool
) -> tuple[float, float]:
    """(wall s, client CPU s) of ``count`` checkouts, with a fresh PoolMonitor if ``monitor``."""
    wall, cpu = time.perf_counter(), time.process_time()
    if monitor:
        with PoolMonitor(engine) as watching:
            await _checkouts(engine, count, query=query)
        if watching.snapshot().checkouts != count:
            raise RuntimeError("PoolMonitor missed checkouts")
    else:
        await _checkouts(engine, count, query=query)
    return time.perf_counter() - wall, time.process_time() - cpu


async def monitor_overhead(server: PostgresServer, checkouts: int, *, query: bool) -> None:
    # One engine and one connection for both sides, so only the monitor differs. Blocks of
    # checkouts alternate with and without a monitor (which one goes first alternates too);
    # each pair gives a ratio, and the median of the ratios shrugs off the pairs that another
    # tenant of this machine disturbed. CPU time is this process only: the client side, where
    # the monitor runs.
    engine = create_async_engine(server.url, pool_size=1)
    wall_ratios: list[float] = []
    cpu_ratios: list[float] = []
    plain_s = watched_s = 0.0
    try:
        await _checkouts(engine, 100, query=query)
        for block in range(checkouts // BLOCK):
            order = (True, False) if block % 2 else (False, True)
            measured = {
                monitor: await _timed(engine, BLOCK, query=query, monitor=monitor)
                for monitor in order
            }
            (plain_wall, plain_cpu), (watched_wall, watched_cpu) = measured[False], measured[True]
            plain_s += plain_wall
            watched_s += watched_wall
            wall_ratios.append(watched_wall / plain_wall)
            cpu_ratios.append(watched_cpu / plain_cpu)
    finally:
        await engine.dispose()
    what = "checkout + SELECT 1" if query else "bare checkout + release"
    print(
        f"PoolMonitor overhead ({what}): {statistics.median(wall_ratios):.3f}x wall, "
        f"{statistics.median(cpu_ratios):.3f}x client CPU (medians of {len(wall_ratios)} "
        f"interleaved pairs of {BLOCK}; {checkouts:,} monitored checkouts, "
        f"{plain_s / checkouts * 1e6:.1f} µs each without, {watched_s / checkouts * 1e6:.1f} µs "
        f"with; goal under 1.05x)"
    )


def monitor_instructions(server: PostgresServer, quick: bool) -> None:
    if not _instrument_cost.available():
        print("PoolMonitor instruction count: skipped (valgrind is not installed)")
        return
    url = server.url.render_as_string(hide_password=False)
    small, large = (100, 400) if quick else (200, 1000)
    (counted,) = _instrument_cost.instruction_ratios(
        url, "checkout", ("PoolMonitor",), small=small, large=large
    ).values()
    print(
        f"PoolMonitor overhead (bare checkout + release, callgrind): {counted.ratio:.3f}x "
        f"instructions ({counted.plain:,.0f} per checkout without, "
        f"{counted.instrumented:,.0f} with; client side; repeat runs agree within ~0.2 %)"
    )


async def main(quick: bool, callgrind: bool) -> None:
    with _common_server() as server:
        print(f"PostgreSQL {server.server_version} at {server.display_url}")
        await new_vs_pooled(server, 50 if quick else 300)
        await pre_ping(server, 100 if quick else 1000)
        for query in (False, True):
            await monitor_overhead(server, 2_000 if quick else MONITOR_CHECKOUTS, query=query)
        if callgrind:
            await asyncio.to_thread(monitor_instructions, server, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--no-callgrind", action="store_true", help="skip the instruction count under valgrind"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, not arguments.no_callgrind))
