"""The ``pool`` lab, finding 4: the pool's limits, ``pool_timeout`` and overflow.

With the seed's ``pool_size=10, max_overflow=0, pool_timeout=1`` ten connections are held and
an 11th is asked for; then thirty requests holding a connection for 0.1 s each show, through
:class:`~sqla_lab.PoolMonitor`, how checkout waits pile up in waves. With
``pool_size=2, max_overflow=2`` the pool is walked up to its maximum and back, reading
``pool.status()``, the pool's counters, the monitor's connects and closes and the number of
server backends after each step.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool

from sqla_lab.instruments.pool import PoolMonitor
from sqla_lab.lab import LabContext, LabOutput
from sqla_lab.lab.messages import N_, NOTHING, Message, Quantity
from sqla_lab.lab.outcome import attempt
from sqla_lab.lab.results import Cell, Chart, Finding, Measurement, Table, Verdict
from sqla_lab.lab.stats import decided
from sqla_lab.labs.pool import _messages as words
from sqla_lab.labs.pool._support import SECTION, as_float, count_backends

__all__ = [
    "OVERFLOW_QUOTE",
    "POOL_SIZE",
    "POOL_TIMEOUT_S",
    "limits",
]

#: The seed's example: pool_size=10, max_overflow=0, pool_timeout=1.
POOL_SIZE, POOL_TIMEOUT_S = 10, 1.0
OVERFLOW_QUOTE = (
    "Max Overflow: 커넥션 풀의 최대 풀 크기를 초과하여 생성할 수 있는 추가 커넥션의 최대 수"
)


async def _hold(engine: AsyncEngine, count: int) -> list[AsyncConnection]:
    held = []
    for _ in range(count):
        conn = await engine.connect()
        await conn.execute(text("SELECT 1"))
        held.append(conn)
    return held


async def _release(held: list[AsyncConnection]) -> None:
    for conn in held:
        await conn.close()


async def _busy_request(engine: AsyncEngine, hold_s: float) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_sleep(:s)"), {"s": hold_s})


async def limits(ctx: LabContext) -> LabOutput:
    ctx.progress.start(N_("pool: limits and overflow"), 3)
    engine = ctx.engine(pool_size=POOL_SIZE, max_overflow=0, pool_timeout=POOL_TIMEOUT_S)
    try:
        held = await _hold(engine, POOL_SIZE)
        eleventh = await attempt(engine.connect())
        if eleventh.value is not None:  # only if the pool does not do what it says
            await eleventh.value.close()
        await _release(held)
        ctx.progress.advance()
        # Three waves of requests for ten connections, each holding one for 0.1 s.
        with PoolMonitor(engine) as monitor:
            await asyncio.gather(*(_busy_request(engine, 0.1) for _ in range(3 * POOL_SIZE)))
        ctx.progress.advance()
    finally:
        await engine.dispose()
    overflow_table, overflow_ok, overflow_text = await _overflow_steps(ctx)
    ctx.progress.advance()
    waits = monitor.checkout_log()
    wait_table = Table(
        key="pool.exhausted-waits",
        title=Message(
            N_("{requests} concurrent requests, pool_size={size}, each holding 0.1 s"),
            {"requests": 3 * POOL_SIZE, "size": POOL_SIZE},
        ),
        columns=(N_("request"), N_("asked at s"), N_("wait ms"), N_("got a connection")),
        rows=tuple(
            (i + 1, round(w.started_s, 4), round(w.wait_ms, 2), w.ok)
            for i, w in enumerate(sorted(waits, key=lambda w: w.started_s))
        ),
    )
    snapshot = monitor.snapshot()
    in_bounds = 0.8 <= eleventh.elapsed_s <= 3.0
    timed_out = isinstance(eleventh.error, exc.TimeoutError)
    timeout_finding = Finding(
        key="pool.timeout",
        headline=N_("11th checkout times out after 1 s"),
        deciding="11th checkout gave up after",
        # The seed's numbers: pool_size=10 (POOL_SIZE), pool_timeout=1.
        claim=N_(
            "With pool_size=10, max_overflow=0, pool_timeout=1 the 11th concurrent "
            "checkout fails after about 1 s."
        ),
        source=SECTION,
        quote="10의 커넥션을 poool에 저장하고 11개째의 요청은 1초만에 timeout",
        measurements=(
            Measurement.single(
                N_("11th checkout raised sqlalchemy.exc.TimeoutError"), as_float(timed_out), "bool"
            ),
            Measurement.single(N_("11th checkout gave up after"), eleventh.elapsed_s, "s"),
            Measurement.single(
                N_("peak checked out (30 requests)"), snapshot.peak_checked_out, "connections"
            ),
            Measurement.single(
                N_("new connections opened (30 requests)"), snapshot.connects, "connections"
            ),
            Measurement.single(
                N_("checkout wait p95 (30 requests)"), snapshot.wait_p95_ms or 0.0, "ms"
            ),
            Measurement.single(
                N_("checkout wait max (30 requests)"), snapshot.wait_max_ms or 0.0, "ms"
            ),
        ),
        explanation=Message(
            words.TIMEOUT,
            {
                "error": eleventh.error_name or NOTHING,
                "elapsed": Quantity(eleventh.elapsed_s, "s"),
                "peak": snapshot.peak_checked_out,
                "p50": Quantity(snapshot.wait_p50_ms or 0.0, "ms"),
                "p95": Quantity(snapshot.wait_p95_ms or 0.0, "ms"),
                "max": Quantity(snapshot.wait_max_ms or 0.0, "ms"),
            },
        ),
        versions=ctx.versions("sqlalchemy"),
        **decided(
            Verdict.CONFIRMED if timed_out and in_bounds else Verdict.REFUTED,
            Message(words.DECIDED_BY_THE_11TH_CHECKOUT_S),
        ).fields(),
    )
    overflow_finding = Finding(
        key="pool.overflow",
        headline=N_("overflow connections close on return"),
        deciding="overflow closed on return",
        claim=N_("Overflow connections are opened beyond pool_size and closed again on return."),
        source=SECTION,
        quote=OVERFLOW_QUOTE,
        measurements=(
            Measurement.single(N_("overflow closed on return"), as_float(overflow_ok), "bool"),
        ),
        explanation=overflow_text,
        versions=ctx.versions("sqlalchemy"),
        **decided(
            Verdict.CONFIRMED if overflow_ok else Verdict.REFUTED,
            Message(words.DECIDED_BY_THE_POOL_S_CONNECTS),
        ).fields(),
    )
    return LabOutput(
        findings=(timeout_finding, overflow_finding),
        tables=(wait_table, overflow_table),
        charts=(
            Chart(
                key="pool.exhausted-waits-chart",
                title=N_("Checkout wait when the pool is exhausted (ms, by arrival)"),
                kind="line",
                table=wait_table.key,
                x="request",
                y=("wait ms",),
                finding=timeout_finding.key,
                x_label=N_("request, in arrival order"),
                y_label=N_("wait ms"),
            ),
            Chart(
                key="pool.overflow-steps-chart",
                title=N_("Connections at each step (pool_size=2, max_overflow=2)"),
                kind="bar",
                table=overflow_table.key,
                x="step",
                y=("checked out", "checked in", "server backends"),
                finding=overflow_finding.key,
                y_label=N_("connections"),
            ),
        ),
    )


async def _overflow_steps(ctx: LabContext) -> tuple[Table, bool, Message]:
    """Check out pool_size + max_overflow connections and give them back, step by step."""
    size, overflow, app = 2, 2, "sqla-lab-pool-overflow"
    engine = ctx.engine(
        pool_size=size,
        max_overflow=overflow,
        pool_timeout=POOL_TIMEOUT_S,
        connect_args={"server_settings": {"application_name": app}},
    )
    rows: list[tuple[Cell, ...]] = []
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    try:
        with PoolMonitor(engine) as monitor:

            async def step(label: str | Message) -> None:
                snap = monitor.snapshot()
                backends = await count_backends(ctx.workspace.dsn, app)
                rows.append(
                    (
                        label,
                        pool.status(),
                        pool.checkedout(),
                        pool.checkedin(),
                        pool.overflow(),
                        snap.connects,
                        snap.closes,
                        backends,
                    )
                )

            await step(N_("start"))
            held: list[AsyncConnection] = []
            for n in range(size + overflow):
                held.extend(await _hold(engine, 1))
                await step(Message(N_("check out #{n}"), {"n": n + 1}))
            for n in range(len(held), 0, -1):
                await held.pop().close()
                await step(Message(N_("return #{n}"), {"n": n}))
    finally:
        await engine.dispose()
    final = rows[-1]
    ok = final[5] == size + overflow and final[6] == overflow and final[7] == size
    text_ = Message(
        words.OVERFLOW,
        {
            "size": size,
            "overflow": overflow,
            "total": size + overflow,
            "connects": final[5],
            "closes": final[6],
            "backends": final[7],
            "status": final[1],
        },
    )
    table = Table(
        key="pool.overflow-steps",
        title=Message(
            N_("pool.status() step by step (pool_size={size}, max_overflow={overflow})"),
            {"size": size, "overflow": overflow},
        ),
        columns=(
            N_("step"),
            N_("pool.status()"),
            N_("checked out"),
            N_("checked in"),
            N_("overflow"),
            N_("connects so far"),
            N_("closes so far"),
            N_("server backends"),
        ),
        rows=tuple(rows),
    )
    return table, ok, text_
