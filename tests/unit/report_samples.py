"""Fixed lab results for the report tests: made here, never measured.

They imitate the labs the report has to draw (connect, pool, loading, states) closely enough
to use every chart kind and option: a box of samples on a log axis, lines with a series
column on log axes, grouped bars, a grid of booleans with an empty cell, every verdict, and
comparisons with intervals: a ratio, a difference inside the noise and a negative difference.
"""

from __future__ import annotations

import math

from sqla_lab.lab.results import (
    Chart,
    Dependency,
    Environment,
    Finding,
    Interval,
    LabResult,
    Measurement,
    Table,
    Verdict,
)

ENVIRONMENT = Environment(
    postgresql="18.4",
    sqlalchemy="2.1.9",
    asyncpg="0.32.0",
    python="3.11.7",
    platform="linux-x86_64",
    cpu_count=2,
    embedded=True,
)


def _samples(centre: float, spread: float, count: int) -> tuple[float, ...]:
    """A deterministic, skewed cloud of timings around ``centre``."""
    return tuple(centre * (1 + spread * math.sin(i * 2.3) ** 2) for i in range(count))


def connect_result(*, scale: float = 1.0, verdict: Verdict = Verdict.DEPENDS) -> LabResult:
    """A connect-like lab: a box chart of three sample sets on a log axis."""
    new = Measurement.from_samples("new connection", _samples(4.2 * scale, 0.4, 30), "ms")
    raw = Measurement.from_samples("raw asyncpg connect", _samples(3.1 * scale, 0.3, 30), "ms")
    pooled = Measurement.from_samples("pooled checkout", _samples(0.11 * scale, 0.5, 30), "ms")
    speedup = new.value / pooled.value
    depends = (
        (
            Dependency(
                on="reading",
                name="what is compared",
                detail="a connection alone or a one-query unit of work",
            ),
        )
        if verdict is Verdict.DEPENDS
        else ()
    )
    return LabResult(
        lab="connect",
        title="Reusing a pooled connection is about 20x faster than opening a new one.",
        environment=ENVIRONMENT,
        duration_s=3.2,
        findings=(
            Finding(
                key="connect.pooled-vs-new",
                claim="Reusing a pooled connection is about 20x faster than opening a new one.",
                source="seed §1",
                quote="커넥션을 생성하는데 대부분의 시간이 소요됨(로컬 테스트 20배)",
                measurements=(
                    new,
                    raw,
                    pooled,
                    Measurement(
                        name="speed-up",
                        value=speedup,
                        unit="x",
                        interval=Interval(
                            low=speedup * 0.9,
                            high=speedup * 1.1,
                            level=0.95,
                            method="order statistics",
                            n=30,
                        ),
                    ),
                    Measurement(
                        name="SQLAlchemy adds to a new connection",
                        value=-0.4,
                        unit="ms",
                        kind="difference",
                        interval=Interval(
                            low=-0.6, high=-0.2, level=0.95, method="order statistics", n=30
                        ),
                    ),
                ),
                verdict=verdict,
                explanation="An example explanation <b>with markup</b> that must be escaped.",
                depends_on=depends,
                versions={"sqlalchemy": "2.1.9", "asyncpg": "0.32.0"},
            ),
            Finding(
                key="connect.connect-dominates",
                claim="Opening the connection takes most of the time of a short request.",
                source="seed §1",
                measurements=(Measurement.single("share of time spent connecting", 0.97, "ratio"),),
                verdict=Verdict.CONFIRMED,
                explanation="Connecting is most of the time.",
            ),
        ),
        charts=(
            Chart(
                key="connect.distributions",
                title="Get a connection, SELECT 1, release",
                kind="box",
                finding="connect.pooled-vs-new",
                measurements=("new connection", "raw asyncpg connect", "pooled checkout"),
                log_y=True,
                y_label="ms",
            ),
        ),
    )


def pool_result() -> LabResult:
    """A pool-like lab: checkout wait over time per pool size (line) and status steps (bar)."""
    waits = Table(
        key="pool.waits",
        title="Checkout wait while the pool is exhausted",
        columns=("pool_size", "t_s", "wait_ms"),
        rows=tuple(
            (size, round(t * 0.1, 1), (0.0 if t < size else 100.0 * (t - size) / size))
            for size in (2, 5)
            for t in range(10)
        ),
    )
    steps = Table(
        key="pool.status",
        title="pool.status() after each step",
        columns=("step", "checked_out", "overflow"),
        rows=(("start", 0, 0), ("2 checked out", 2, 0), ("overflow", 3, 1), ("returned", 0, 0)),
    )
    return LabResult(
        lab="pool",
        title="A full pool makes callers wait up to pool_timeout.",
        environment=ENVIRONMENT,
        duration_s=5.0,
        findings=(
            Finding(
                key="pool.timeout",
                claim="A checkout from an exhausted pool fails after pool_timeout seconds.",
                source="https://docs.sqlalchemy.org/en/20/core/pooling.html",
                measurements=(Measurement.single("time to TimeoutError", 1.02, "s"),),
                verdict=Verdict.CONFIRMED,
                explanation="The timeout fired after 1.02 s.",
            ),
            Finding(
                key="pool.pre-ping-cost",
                claim="pool_pre_ping costs about 0.01 s per checkout.",
                source="seed §1",
                measurements=(
                    Measurement(
                        name="pre-ping overhead",
                        value=-3.0,
                        unit="µs",
                        kind="difference",
                        interval=Interval(
                            low=-40.0, high=35.0, level=0.95, method="order statistics", n=30
                        ),
                    ),
                ),
                verdict=Verdict.INCONCLUSIVE,
                explanation="The ping made no measurable difference.",
                reason="the interval reaches across both verdicts",
                settle="more rounds than the 30 taken here",
                versions={"asyncpg": "0.32.0"},
            ),
        ),
        tables=(waits, steps),
        charts=(
            Chart(
                key="pool.wait-over-time",
                title="Checkout wait over time",
                kind="line",
                table="pool.waits",
                x="t_s",
                y=("wait_ms",),
                series="pool_size",
                x_label="seconds since start",
                y_label="wait (ms)",
            ),
            Chart(
                key="pool.status-steps",
                title="pool.status() steps",
                kind="bar",
                table="pool.status",
                x="step",
                y=("checked_out", "overflow"),
            ),
        ),
    )


def loading_result() -> LabResult:
    """A loading-like lab: time versus N per strategy, on log axes."""
    strategies = {"lazy": 1.0, "selectinload": 0.05, "joinedload": 0.04}
    rows = tuple(
        (strategy, n, round(0.3 + factor * n * 0.8, 3), n + 1 if strategy == "lazy" else 2)
        for strategy, factor in strategies.items()
        for n in (1, 10, 100, 1000)
    )
    return LabResult(
        lab="loading",
        title="Lazy loading in a loop issues N+1 queries.",
        environment=ENVIRONMENT,
        duration_s=12.5,
        findings=(
            Finding(
                key="loading.n-plus-one",
                claim="Lazy loading issues one query per parent (N+1).",
                source="seed §4",
                measurements=(Measurement.single("statements for 100 parents", 101, ""),),
                verdict=Verdict.CONFIRMED,
                explanation="101 statements for 100 parents.",
            ),
            Finding(
                key="loading.joined-always-faster",
                claim="joinedload is always faster than selectinload.",
                source="seed §4",
                measurements=(Measurement.single("joined / selectin at N=1000", 0.8, "x"),),
                verdict=Verdict.REFUTED,
                explanation="Only marginally different.",
            ),
        ),
        tables=(
            Table(
                key="loading.sweep",
                title="Time versus N per strategy",
                columns=("strategy", "n", "ms", "statements"),
                rows=rows,
            ),
        ),
        charts=(
            Chart(
                key="loading.time-vs-n",
                title="Time versus N per strategy",
                kind="line",
                table="loading.sweep",
                x="n",
                y=("ms",),
                series="strategy",
                log_x=True,
                log_y=True,
                x_label="parents (N)",
                y_label="ms",
            ),
        ),
    )


def states_result() -> LabResult:
    """A states-like lab: the state table as a coloured grid of booleans."""
    columns = ("state", "in session", "has identity", "row in database", "note")
    rows = (
        ("transient", False, False, False, None),
        ("pending", True, False, False, "after add()"),
        ("persistent", True, True, True, "after flush()"),
        ("deleted", True, True, False, None),
        ("detached", False, True, True, "after close()"),
    )
    return LabResult(
        lab="states",
        title="An object moves through five states.",
        environment=ENVIRONMENT,
        duration_s=0.4,
        findings=(
            Finding(
                key="states.expire-on-commit",
                claim="Attributes expire on commit, so async code must refresh.",
                source="seed §3",
                measurements=(Measurement.single("extra SELECTs after commit", 1, ""),),
                verdict=Verdict.DEPENDS,
                explanation="Only with expire_on_commit=True.",
                depends_on=(
                    Dependency(
                        on="setting",
                        name="expire_on_commit",
                        detail="True: one SELECT after commit; False: none",
                    ),
                ),
            ),
        ),
        tables=(Table(key="states.table", title="States", columns=columns, rows=rows),),
        charts=(
            Chart(key="states.grid", title="Object states", kind="grid", table="states.table"),
        ),
    )


def all_results() -> list[LabResult]:
    """One result per lab kind, in report order."""
    return [connect_result(), pool_result(), loading_result(), states_result()]


#: Every chart key the samples declare, in page order.
ALL_CHART_KEYS = tuple(c.key for r in all_results() for c in r.charts)
