"""The ``connect`` lab: what opening a connection costs next to reusing a pooled one.

Seed, section 1: "커넥션을 생성하는데 대부분의 시간이 소요됨 (로컬 테스트 20배)" (creating the
connection takes most of the time; 20x in a local test). Each repetition is one unit of work:
get a connection, run ``SELECT 1``, give it back. Three ways, measured interleaved:

* ``new (SQLAlchemy, NullPool)``: connect, authenticate (scram-sha-256), SQLAlchemy's
  per-connection set-up for asyncpg, the query, then close.
* ``new (raw asyncpg)``: the same without SQLAlchemy.
* ``pooled (QueuePool)``: check a warm connection out of the pool and back in.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from sqla_lab.lab import LabContext, LabOutput, lab
from sqla_lab.measure import sample_interleaved
from sqla_lab.results import Chart, Finding, Measurement, Verdict, judge_ratio

__all__ = ["CLAIMED_SPEEDUP", "connect_lab"]

#: The seed's "20배".
CLAIMED_SPEEDUP = 20.0
SEED_SOURCE = "seed §1 데이터베이스 connection 동작과 connection pool의 동작"
SEED_QUOTE = "데이터베이스 사용시 커넥션을 생성하는데 대부분의 시간이 소요됨(로컬 테스트 20배)"

NEW_SQLALCHEMY = "new connection (SQLAlchemy, NullPool)"
NEW_ASYNCPG = "new connection (raw asyncpg)"
POOLED = "pooled checkout (QueuePool)"


async def _unit_of_work(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


@lab("connect")
async def connect_lab(ctx: LabContext) -> LabOutput:
    """Reusing a pooled connection is about 20x faster than opening a new one."""
    repetitions = ctx.repetitions(full=200, quick=30)
    fresh_engine = ctx.engine(poolclass=NullPool)
    pooled_engine = ctx.engine(pool_size=1, max_overflow=0)
    dsn = ctx.server.dsn

    async def raw_asyncpg() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    try:
        samples = await sample_interleaved(
            {
                NEW_SQLALCHEMY: lambda: _unit_of_work(fresh_engine),
                NEW_ASYNCPG: raw_asyncpg,
                POOLED: lambda: _unit_of_work(pooled_engine),
            },
            repetitions=repetitions,
            warmup=5,
            progress=ctx.progress,
            description="connect: new vs pooled",
        )
    finally:
        await fresh_engine.dispose()
        await pooled_engine.dispose()

    new_sa = Measurement.from_samples(NEW_SQLALCHEMY, samples[NEW_SQLALCHEMY], "ms")
    new_raw = Measurement.from_samples(NEW_ASYNCPG, samples[NEW_ASYNCPG], "ms")
    pooled = Measurement.from_samples(POOLED, samples[POOLED], "ms")
    return LabOutput(
        findings=(
            _speedup_finding(new_sa, new_raw, pooled),
            _share_finding(new_sa, pooled),
        ),
        charts=(
            Chart(
                key="connect.distributions",
                title="Get a connection, SELECT 1, release (ms per repetition)",
                kind="box",
                finding="connect.pooled-vs-new",
                measurements=(NEW_SQLALCHEMY, NEW_ASYNCPG, POOLED),
                log_y=True,
                y_label="ms",
            ),
        ),
    )


def _speedup_finding(new_sa: Measurement, new_raw: Measurement, pooled: Measurement) -> Finding:
    ratio = new_sa.value / pooled.value
    raw_ratio = new_raw.value / pooled.value
    verdict = judge_ratio(ratio, CLAIMED_SPEEDUP)
    if verdict is Verdict.CONFIRMED:
        summary = (
            f"Confirmed: here the pooled path is {ratio:.1f}x faster, close to the seed's 20x."
        )
    elif verdict is Verdict.REFUTED:
        summary = f"Refuted: here the pooled path is only {ratio:.1f}x faster."
    else:
        direction = "more" if ratio > CLAIMED_SPEEDUP else "less"
        summary = (
            f"It depends: pooling wins by {ratio:.1f}x here, {direction} than the seed's 20x; "
            "the factor depends on the machine, the network and the authentication method."
        )
    explanation = (
        f"{summary} Median over {len(pooled.samples)} interleaved repetitions of "
        f"'get a connection, SELECT 1, release': a new connection through SQLAlchemy took "
        f"{new_sa.value:.2f} ms (p95 {new_sa.p95:.2f}), a raw asyncpg connect "
        f"{new_raw.value:.2f} ms (p95 {new_raw.p95:.2f}, {raw_ratio:.1f}x the pooled path), "
        f"and a pooled checkout {pooled.value:.3f} ms (p95 {pooled.p95:.3f}). SQLAlchemy adds "
        f"{new_sa.value - new_raw.value:.2f} ms to a raw connect for its per-connection "
        "set-up of asyncpg."
    )
    return Finding(
        key="connect.pooled-vs-new",
        claim="Reusing a pooled connection is about 20x faster than opening a new one.",
        source=SEED_SOURCE,
        quote=SEED_QUOTE,
        measurements=(
            new_sa,
            new_raw,
            pooled,
            Measurement.single("speed-up, SQLAlchemy new / pooled", ratio, "x"),
            Measurement.single("speed-up, raw asyncpg new / pooled", raw_ratio, "x"),
        ),
        verdict=verdict,
        explanation=explanation,
    )


def _share_finding(new_sa: Measurement, pooled: Measurement) -> Finding:
    # The pooled path is the query alone (plus a checkout), so what a new connection costs
    # beyond it is the price of connecting.
    connect_share = max(0.0, (new_sa.value - pooled.value) / new_sa.value)
    verdict = Verdict.CONFIRMED if connect_share > 0.5 else Verdict.REFUTED
    explanation = (
        f"For a one-query unit of work on a new connection, {connect_share:.0%} of its "
        f"{new_sa.value:.2f} ms went to opening and closing the connection; the query itself "
        f"and the pool's bookkeeping took {pooled.value:.3f} ms. "
        + (
            "So connecting is most of the time, as the seed says."
            if verdict is Verdict.CONFIRMED
            else "So connecting is not most of the time here."
        )
        + " With slower queries the share falls; with a network between client and server "
        "it rises, since a connect costs several round trips."
    )
    return Finding(
        key="connect.connect-dominates",
        claim="Opening the connection takes most of the time of a short database request.",
        source=SEED_SOURCE,
        quote="데이터베이스 사용시 커넥션을 생성하는데 대부분의 시간이 소요됨",
        measurements=(
            Measurement.single("share of time spent connecting", connect_share, "ratio"),
        ),
        verdict=verdict,
        explanation=explanation,
    )
