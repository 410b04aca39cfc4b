"""Findings 6 and 7: reads routed to a streaming replica; what ``remote_apply`` costs.

Reads go to the replica and writes to the primary through SQLAlchemy's documented
``Session.get_bind`` recipe (:func:`routing_session_class`), as an application that
"scales reads" does. While two worker processes write to the primary, the lab repeats a
probe: write a row through the routing session and commit; at once read it back in a new
session (routed to the replica); if it is not there, poll the replica until it is. The
probe runs interleaved under three ``synchronous_commit`` settings of the writing session:

* ``local``: the commit waits for nothing on the standby (asynchronous replication);
* ``on``: it waits until the standby has *flushed* the commit record;
* ``remote_apply``: it waits until the standby has *replayed* it, so it is visible there.

A miss is a read that did not find the row just committed (read-your-writes violated); the
lag is the time from the commit's return until the replica showed the row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Delete, Insert, MetaData, Table, Text, Update, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, registry
from sqlalchemy.sql import ClauseElement

from sqla_lab.errors import LabError
from sqla_lab.lab import LabContext, LabOutput, percentile
from sqla_lab.lab.messages import N_, Message, Quantity
from sqla_lab.lab.results import Cell, Chart, Finding, Measurement, Verdict
from sqla_lab.lab.results import Table as ResultTable
from sqla_lab.labs.scale import _messages as text
from sqla_lab.labs.scale._common import (
    PG_HOT_STANDBY,
    PG_SYNCHRONOUS_COMMIT,
    PG_SYNCHRONOUS_REPLICATION,
    SQLA_ROUTING,
    RunSummary,
    error_text,
    sentences,
    verdict_fields,
)
from sqla_lab.labs.scale._jobs import EngineSpec, Job
from sqla_lab.labs.scale._topology import Topology
from sqla_lab.labs.scale._workers import WorkerPool

__all__ = [
    "COST_CLAIM",
    "COST_RATIO",
    "MEASURABLE_COST",
    "MISSED_LOCAL",
    "MODES",
    "ROUTING_CLAIM",
    "WRITERS",
    "WRITER_CONCURRENCY",
    "ProbeRow",
    "judge_read_your_writes",
    "judge_remote_apply_cost",
    "read_replica",
    "routing_session_class",
]

MODES = ("local", "on", "remote_apply")
WRITERS = 2
WRITER_CONCURRENCY = 2
_VISIBLE_TIMEOUT_S = 10.0
#: remote_apply costing less than this over local is within this machine's noise.
MEASURABLE_COST = 1.1
MISSED_LOCAL = N_("missed reads, synchronous_commit=local")
COST_RATIO = N_("remote_apply / local commit time")

ROUTING_CLAIM = N_(
    "With asynchronous streaming replication a read routed to the replica right after a "
    "write can miss it; synchronous_commit = remote_apply makes that read always see it."
)
COST_CLAIM = N_(
    "synchronous_commit = remote_apply costs every write a wait until the standby has replayed it."
)


class ProbeRow:
    """One probe row; mapped per run onto that run's table."""

    id: int
    payload: str

    def __init__(self, payload: str) -> None:
        self.payload = payload


def routing_session_class(primary: Engine, replica: Engine) -> type[Session]:
    """A ``Session`` that writes (flushes, INSERT/UPDATE/DELETE) to ``primary`` and reads from
    ``replica``: SQLAlchemy's ``get_bind`` recipe, bound to these two engines."""

    class RoutingSession(Session):
        def get_bind(
            self,
            mapper: Any = None,
            *,
            clause: ClauseElement | None = None,
            **kw: Any,
        ) -> Engine | Connection:
            if self._flushing or isinstance(clause, Insert | Update | Delete):
                return primary
            return replica

    return RoutingSession


@dataclass(frozen=True, kw_only=True)
class _Probes:
    mode: str
    commit_ms: tuple[float, ...]
    lag_ms: tuple[float, ...]
    misses: int

    @property
    def count(self) -> int:
        return len(self.commit_ms)


async def _wait_visible(engine: AsyncEngine, table: str) -> None:
    deadline = time.monotonic() + 30.0
    async with engine.connect() as conn:
        while not (
            await conn.exec_driver_sql(f"SELECT to_regclass('{table}') IS NOT NULL")
        ).scalar():
            if time.monotonic() > deadline:
                raise LabError(
                    N_("table {table} did not reach the replica within 30 s"), table=table
                )
            await asyncio.sleep(0.02)
            await conn.rollback()


async def _probe(
    writer: async_sessionmaker[AsyncSession],
    reader: async_sessionmaker[AsyncSession],
    probe_class: type[ProbeRow],
    table: Table,
    n: int,
) -> tuple[float, float, bool]:
    """Write, commit, read back at once; poll until seen. (commit ms, lag ms, missed?)"""
    async with writer() as session:
        row = probe_class(f"probe {n}")
        session.add(row)
        started = time.perf_counter()
        await session.commit()
        committed = time.perf_counter()
        new_id = row.id
    query = select(table.c.id).where(table.c.id == new_id)
    async with reader() as session:
        found = await session.scalar(query)
        missed = found is None
        while found is None:
            if time.perf_counter() - committed > _VISIBLE_TIMEOUT_S:
                raise LabError(
                    N_("a committed row did not reach the replica in {seconds} s"),
                    seconds=_VISIBLE_TIMEOUT_S,
                )
            found = await session.scalar(query)
        seen = time.perf_counter()
    return (committed - started) * 1000.0, (seen - committed) * 1000.0, missed


async def _synchronous_standbys(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')"
        )
        return int(result.scalar_one())


async def read_replica(ctx: LabContext, topology: Topology, workers: WorkerPool) -> LabOutput:
    """Probe read-your-writes under a write load in each synchronous_commit mode."""
    # The lab's own primary, or the run's workspace on the user's: a table of ours either way.
    table_name = "sqla_lab_scale_probe"
    metadata = MetaData()
    table = Table(
        table_name,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("payload", Text, nullable=False),
    )
    probe_class = type("ProbeRow", (ProbeRow,), {})
    registry().map_imperatively(probe_class, table)
    rounds = ctx.repetitions(full=200, quick=50)
    engines = {
        mode: create_async_engine(
            topology.write_server.url,
            **EngineSpec(pool_size=1, synchronous_commit=mode).engine_kwargs(),
        )
        for mode in MODES
    }
    replica = create_async_engine(topology.replica.url, pool_size=1, max_overflow=0)
    ctx.progress.start(N_("scale: read-your-writes on the replica"), rounds)
    try:
        async with engines["local"].begin() as conn:
            await conn.run_sync(table.create)
        await _wait_visible(replica, table_name)
        sync_standbys = await _synchronous_standbys(engines["local"])
        reader = async_sessionmaker(
            sync_session_class=routing_session_class(
                engines["local"].sync_engine, replica.sync_engine
            ),
            expire_on_commit=False,
        )
        writers = {
            mode: async_sessionmaker(
                sync_session_class=routing_session_class(engine.sync_engine, replica.sync_engine),
                expire_on_commit=False,
            )
            for mode, engine in engines.items()
        }
        load_job = Job(
            kind="insert",
            url=topology.write_server.url.render_as_string(hide_password=False),
            engine=EngineSpec(pool_size=WRITER_CONCURRENCY, synchronous_commit="local"),
            concurrency=WRITER_CONCURRENCY,
            duration_s=None,
            table=table_name,
        )
        running = await workers.begin([load_job] * WRITERS)
        samples: dict[str, list[tuple[float, float, bool]]] = {mode: [] for mode in MODES}
        try:
            for n in range(rounds):
                for mode in MODES:
                    samples[mode].append(await _probe(writers[mode], reader, probe_class, table, n))
                ctx.progress.advance()
        finally:
            running.stop()
            load = RunSummary.of(await running.results())
    finally:
        async with engines["local"].begin() as conn:
            await conn.run_sync(table.drop, checkfirst=True)
        for engine in (*engines.values(), replica):
            await engine.dispose()
    probes = [
        _Probes(
            mode=mode,
            commit_ms=tuple(s[0] for s in taken),
            lag_ms=tuple(s[1] for s in taken),
            misses=sum(1 for s in taken if s[2]),
        )
        for mode, taken in samples.items()
    ]
    return _output(probes, load, sync_standbys=sync_standbys, own=topology.own_replica)


def _output(
    probes: Sequence[_Probes], load: RunSummary, *, sync_standbys: int, own: bool
) -> LabOutput:
    by_mode = {p.mode: p for p in probes}
    rows: list[tuple[Cell, ...]] = [
        (
            p.mode,
            p.count,
            p.misses,
            round(p.misses / p.count, 3) if p.count else None,
            percentile(p.commit_ms, 50),
            percentile(p.commit_ms, 95),
            percentile(p.lag_ms, 50),
            percentile(p.lag_ms, 95),
        )
        for p in probes
        if p.count
    ]
    table = ResultTable(
        key="scale.replica",
        title=Message(
            text.REPLICA_TITLE,
            {"writers": WRITERS, "rows_per_s": Quantity(round(load.requests_per_s))},
        ),
        columns=(
            "synchronous_commit",
            N_("probes"),
            N_("missed_reads"),
            N_("miss_rate"),
            N_("commit_p50_ms"),
            N_("commit_p95_ms"),
            N_("seen_after_p50_ms"),
            N_("seen_after_p95_ms"),
        ),
        rows=tuple(rows),
    )
    charts = (
        Chart(
            key="scale.replica.misses",
            title=N_("Reads from the replica that missed the write just committed"),
            kind="bar",
            table=table.key,
            x="synchronous_commit",
            y=("missed_reads",),
            y_label=N_("missed reads"),
        ),
        Chart(
            key="scale.replica.commit",
            title=N_("Commit time by synchronous_commit"),
            kind="box",
            finding="scale.remote-apply-cost",
        ),
    )
    return LabOutput(
        findings=(
            judge_read_your_writes(by_mode, load, sync_standbys=sync_standbys, own=own),
            judge_remote_apply_cost(by_mode, sync_standbys=sync_standbys, own=own),
        ),
        tables=(table,),
        charts=charts,
    )


def judge_read_your_writes(
    by_mode: dict[str, _Probes], load: RunSummary, *, sync_standbys: int, own: bool
) -> Finding:
    """Misses under asynchronous replication, none under remote_apply."""
    local, flushed, applied = by_mode["local"], by_mode["on"], by_mode["remote_apply"]
    measurements = [
        Measurement.single(N_("probes per mode"), local.count, ""),
        Measurement.single(MISSED_LOCAL, local.misses, ""),
        Measurement.single(N_("missed reads, synchronous_commit=on"), flushed.misses, ""),
        Measurement.single(N_("missed reads, synchronous_commit=remote_apply"), applied.misses, ""),
        Measurement.from_samples(
            N_("commit to a replica read that sees it (local)"), local.lag_ms, "ms"
        ),
        Measurement.single(N_("writer load"), load.requests_per_s, "rows/s"),
    ]
    if sync_standbys == 0:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.REPLICA_NO_STANDBY)
    elif applied.misses:
        verdict = Verdict.REFUTED
        why = Message(text.REPLICA_REFUTED, {"misses": applied.misses, "count": applied.count})
    elif not local.misses:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.REPLICA_NOT_SHOWN, {"count": local.count})
    else:
        verdict = Verdict.CONFIRMED
        flushed_text = (
            Message(text.REPLICA_FLUSHED_MISSES, {"misses": flushed.misses})
            if flushed.misses
            else Message(text.REPLICA_FLUSHED_NONE)
        )
        why = Message(
            text.REPLICA_CONFIRMED,
            {
                "misses": local.misses,
                "count": local.count,
                "flushed": flushed_text,
                "applied": applied.count,
            },
        )
    lag = measurements[4]
    setup = Message(text.REPLICA_OWN if own else text.REPLICA_USERS)
    lag_text = Message(
        text.REPLICA_LAG,
        {
            "rows_per_s": Quantity(round(load.requests_per_s)),
            "p50": Quantity(lag.p50 if lag.p50 is not None else lag.value, "ms"),
            "p95": Quantity(lag.p95 if lag.p95 is not None else lag.value, "ms"),
        },
    )
    writer_errors = (
        [Message(text.REPLICA_WRITER_ERRORS, {"errors": error_text(load.errors)})]
        if load.errors
        else []
    )
    return Finding(
        key="scale.replica-read-your-writes",
        headline=N_("a replica read can miss a fresh write"),
        deciding=MISSED_LOCAL,
        claim=ROUTING_CLAIM,
        source=f"{SQLA_ROUTING}; {PG_HOT_STANDBY}; {PG_SYNCHRONOUS_COMMIT}",
        measurements=tuple(measurements),
        **verdict_fields(
            verdict,
            why,
            settle=N_("a primary with a synchronous standby, and more reads under a write load"),
            depends_on=("state", N_("replication")),
        ),
        explanation=sentences([why, lag_text, setup, *writer_errors]),
    )


def judge_remote_apply_cost(
    by_mode: dict[str, _Probes], *, sync_standbys: int, own: bool = True
) -> Finding:
    """How much longer a commit takes when it waits for the standby to replay it."""
    local = Measurement.from_samples(
        N_("commit, synchronous_commit=local"), by_mode["local"].commit_ms, "ms"
    )
    flushed = Measurement.from_samples(
        N_("commit, synchronous_commit=on"), by_mode["on"].commit_ms, "ms"
    )
    applied = Measurement.from_samples(
        N_("commit, synchronous_commit=remote_apply"), by_mode["remote_apply"].commit_ms, "ms"
    )
    ratio = applied.value / local.value
    if sync_standbys == 0:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.REMOTE_APPLY_NO_STANDBY)
    elif ratio >= MEASURABLE_COST:
        verdict = Verdict.CONFIRMED
        why = Message(text.REMOTE_APPLY_COST, {"ratio": Quantity(ratio, "x")})
    else:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.REMOTE_APPLY_NOISE, {"ratio": Quantity(ratio, "x")})
    return Finding(
        key="scale.remote-apply-cost",
        headline=N_("remote_apply makes every commit wait"),
        deciding=COST_RATIO,
        claim=COST_CLAIM,
        source=f"{PG_SYNCHRONOUS_COMMIT}; {PG_SYNCHRONOUS_REPLICATION}",
        measurements=(
            local,
            flushed,
            applied,
            Measurement.single(COST_RATIO, ratio, "x"),
        ),
        **verdict_fields(
            verdict,
            why,
            settle=N_("more commits, on a quieter machine (the full run)"),
            depends_on=("machine", N_("load")),
        ),
        explanation=sentences(
            [
                why,
                Message(
                    text.REMOTE_APPLY_ON, {"ratio": Quantity(flushed.value / local.value, "x")}
                ),
                *([Message(text.REMOTE_APPLY_SHARED)] if own else []),
            ]
        ),
    )
