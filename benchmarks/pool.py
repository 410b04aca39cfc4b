"""Pool benchmark: ratios measured side by side in one run.

Prints:

* new connection / pooled checkout (connect + SELECT 1 + release, interleaved);
* pool_pre_ping overhead per checkout, in microseconds and as a ratio;
* PoolMonitor overhead over 10,000 checkouts, as a ratio (goal: under 5 %).

Usage: ``python benchmarks/pool.py [--quick]``; uses ``DATABASE_URL`` when set, else starts
(and stops) an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from sqla_lab import PoolMonitor
from sqla_lab.labs._pool_support import select_one
from sqla_lab.measure import sample_interleaved
from sqla_lab.postgres import PostgresServer, server_from_url

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


async def _monitored_checkouts(engine: AsyncEngine, count: int, *, query: bool) -> float:
    with PoolMonitor(engine) as monitor:
        elapsed = await _checkouts(engine, count, query=query)
    if monitor.snapshot().checkouts != count:
        raise RuntimeError("PoolMonitor missed checkouts")
    return elapsed


async def monitor_overhead(server: PostgresServer, checkouts: int, *, query: bool) -> None:
    # One engine and one connection for both sides, so only the monitor differs; the monitor
    # is attached for every other block of checkouts.
    engine = create_async_engine(server.url, pool_size=1)
    plain_s = watched_s = 0.0
    try:
        await _checkouts(engine, 100, query=query)
        for block in range(checkouts // BLOCK):
            # Alternate which side goes first, so drift hits both sides alike.
            if block % 2:
                watched_s += await _monitored_checkouts(engine, BLOCK, query=query)
                plain_s += await _checkouts(engine, BLOCK, query=query)
            else:
                plain_s += await _checkouts(engine, BLOCK, query=query)
                watched_s += await _monitored_checkouts(engine, BLOCK, query=query)
    finally:
        await engine.dispose()
    what = "checkout + SELECT 1" if query else "bare checkout + release"
    print(
        f"PoolMonitor overhead ({what}): {watched_s / plain_s:.3f}x over {checkouts:,} "
        f"monitored checkouts ({plain_s / checkouts * 1e6:.1f} µs each without, "
        f"{watched_s / checkouts * 1e6:.1f} µs with; goal under 1.05x)"
    )


async def main(quick: bool) -> None:
    server = server_from_url(os.environ.get("DATABASE_URL"))
    async with server:
        print(f"PostgreSQL {server.server_version} at {server.display_url}")
        await new_vs_pooled(server, 50 if quick else 300)
        await pre_ping(server, 100 if quick else 1000)
        for query in (False, True):
            await monitor_overhead(server, 2_000 if quick else MONITOR_CHECKOUTS, query=query)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    asyncio.run(main(parser.parse_args().quick))
