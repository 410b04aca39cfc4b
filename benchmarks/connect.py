"""New connection versus pooled checkout, side by side in one run.

Prints medians and p95 of "get a connection, SELECT 1, release" for a new connection through
SQLAlchemy (NullPool), a raw asyncpg connect and a pooled checkout, then their ratios.
Usage: ``python benchmarks/connect.py [REPETITIONS]`` (``DATABASE_URL`` for your own server).
"""

from __future__ import annotations

import asyncio
import sys

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from _common import row, server
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.lab.results import percentile


async def measure(url: object, dsn: str, repetitions: int) -> dict[str, list[float]]:
    fresh = create_async_engine(url, poolclass=NullPool)  # type: ignore[call-overload]
    pooled = create_async_engine(url, pool_size=1, max_overflow=0)  # type: ignore[call-overload]

    async def through(engine: object) -> None:
        async with engine.connect() as conn:  # type: ignore[attr-defined]
            await conn.execute(text("SELECT 1"))

    async def raw() -> None:
        conn = await asyncpg.connect(dsn)
        await conn.fetchval("SELECT 1")
        await conn.close()

    async def acquire_only(engine: object) -> None:
        async with engine.connect():  # type: ignore[attr-defined]
            pass

    try:
        return await sample_interleaved(
            {
                "new (SQLAlchemy, NullPool)": lambda: through(fresh),
                "new (raw asyncpg)": raw,
                "pooled (QueuePool) + SELECT 1": lambda: through(pooled),
                "new connection alone (SQLAlchemy)": lambda: acquire_only(fresh),
                "pooled checkout alone": lambda: acquire_only(pooled),
            },
            repetitions=repetitions,
            warmup=10,
        )
    finally:
        await fresh.dispose()
        await pooled.dispose()


def main(repetitions: int) -> None:
    with server() as pg:
        samples = asyncio.run(measure(pg.url, pg.dsn, repetitions))
        print(f"PostgreSQL {pg.server_version}, {repetitions} interleaved repetitions each")
    medians = {}
    for name, values in samples.items():
        medians[name] = percentile(values, 50)
        row(name, f"median {medians[name]:8.3f} ms   p95 {percentile(values, 95):8.3f} ms")
    pooled = medians["pooled (QueuePool) + SELECT 1"]
    row(
        "ratio new SQLAlchemy / pooled (one-query unit of work)",
        f"{medians['new (SQLAlchemy, NullPool)'] / pooled:.1f}x",
    )
    row("ratio new raw asyncpg / pooled", f"{medians['new (raw asyncpg)'] / pooled:.1f}x")
    row(
        "ratio new connection alone / pooled checkout alone",
        f"{medians['new connection alone (SQLAlchemy)'] / medians['pooled checkout alone']:.1f}x",
    )
    row(
        "ratio new SQLAlchemy / new raw asyncpg",
        f"{medians['new (SQLAlchemy, NullPool)'] / medians['new (raw asyncpg)']:.2f}x",
    )
    row("seed's claim", "20x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
