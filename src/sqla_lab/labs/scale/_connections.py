"""Findings 1 and 2: app processes overrun ``max_connections``; PgBouncer absorbs the load.

Each worker process has an engine with ``pool_size=4, max_overflow=4`` and runs 8 tasks
that each hold a connection for a 5 ms query, so every worker wants 8 server connections
at once. The sweep adds workers until their sum passes the primary's 20 slots (one is the
lab's own watcher): from then on some connection attempts are refused, and the run counts
them by exception, driver exception and SQLSTATE. The same sweep then goes through
PgBouncer's transaction pool of 6 server connections (with asyncpg's
``statement_cache_size=0``, the prepared-statement fix measured in finding 3).
"""

from __future__ import annotations

import math

from sqla_lab.lab import LabContext, LabOutput
from sqla_lab.lab.messages import N_, Message, Quantity
from sqla_lab.lab.results import Cell, Chart, Finding, Measurement, Table, Verdict
from sqla_lab.labs.scale import _messages as text
from sqla_lab.labs.scale._common import (
    PG_ERRCODES,
    PG_MAX_CONNECTIONS,
    PGBOUNCER_FEATURES,
    RunSummary,
    error_text,
    errors_table,
    measured_run,
    sentences,
    skipped,
    verdict_fields,
)
from sqla_lab.labs.scale._jobs import EngineSpec, Job
from sqla_lab.labs.scale._pgbouncer import NOT_FOUND
from sqla_lab.labs.scale._topology import MAX_CONNECTIONS, TXN_POOL, Topology
from sqla_lab.labs.scale._workers import WorkerPool

__all__ = [
    "CONCURRENCY",
    "HOLD_MS",
    "MAX_CONNECTIONS_CLAIM",
    "PER_WORKER",
    "PGBOUNCER_CLAIM",
    "PGBOUNCER_HEADLINE",
    "QUICK_WORKER_COUNTS",
    "TOO_MANY",
    "WATCHER_SLOTS",
    "WORKER_COUNTS",
    "connection_limits",
    "first_failing_workers",
    "judge_max_connections",
    "judge_pgbouncer",
]

#: One worker's engine: up to 8 connections.
PER_WORKER = EngineSpec(pool_size=4, max_overflow=4)
CONCURRENCY = 8
HOLD_MS = 5.0
WORKER_COUNTS = (1, 2, 3, 4, 5)
QUICK_WORKER_COUNTS = (1, 2, 3)
#: The lab's connection watcher holds one of the primary's slots.
WATCHER_SLOTS = 1
TOO_MANY = "53300"

MAX_CONNECTIONS_CLAIM = N_(
    "Once workers × (pool_size + max_overflow) passes max_connections, new connections are "
    "refused with 'sorry, too many clients already' (SQLSTATE 53300)."
)
PGBOUNCER_HEADLINE = N_("PgBouncer queues instead of refusing")
PGBOUNCER_CLAIM = N_(
    "The same load through PgBouncer in transaction mode with a small server pool succeeds: "
    "PgBouncer queues clients instead of refusing them, and the server sees only its pool."
)


def first_failing_workers(free_slots: int, per_worker: int) -> int:
    """The smallest number of workers whose connections no longer fit in ``free_slots``."""
    return math.floor(free_slots / per_worker) + 1


def _job(url: str, engine: EngineSpec, duration_s: float) -> Job:
    return Job(
        kind="select",
        url=url,
        engine=engine,
        concurrency=CONCURRENCY,
        duration_s=duration_s,
        hold_ms=HOLD_MS,
    )


def _row(route: str, per_worker: int, run: RunSummary) -> tuple[Cell, ...]:
    return (
        route,
        run.workers,
        run.workers * per_worker,
        run.server_peak,
        run.requests,
        run.failures,
        round(run.requests_per_s, 1),
        error_text(run.errors),
    )


async def connection_limits(ctx: LabContext, topology: Topology, workers: WorkerPool) -> LabOutput:
    """Sweep worker counts directly and through PgBouncer; judge both claims."""
    counts = QUICK_WORKER_COUNTS if ctx.quick else WORKER_COUNTS
    duration_s = 0.6 if ctx.quick else 2.0
    per_worker = PER_WORKER.connections
    assert per_worker is not None
    routes = 2 if topology.bouncer is not None else 1
    ctx.progress.start(N_("scale: workers against max_connections"), len(counts) * routes)
    direct: dict[int, RunSummary] = {}
    primary_url = topology.primary.url.render_as_string(hide_password=False)
    for count in counts:
        direct[count] = await measured_run(
            topology, workers, [_job(primary_url, PER_WORKER, duration_s)] * count, on_primary=True
        )
        ctx.progress.advance()
    pooled: dict[int, RunSummary] = {}
    if topology.bouncer is not None:
        url = topology.bouncer.url(TXN_POOL.name).render_as_string(hide_password=False)
        engine = EngineSpec(pool_size=4, max_overflow=4, statement_cache_size=0)
        for count in counts:
            pooled[count] = await measured_run(
                topology, workers, [_job(url, engine, duration_s)] * count, on_primary=True
            )
            ctx.progress.advance()
    rows = [_row(N_("direct"), per_worker, run) for run in direct.values()]
    rows += [_row(N_("PgBouncer"), per_worker, run) for run in pooled.values()]
    table = Table(
        key="scale.connections",
        title=Message(
            text.CONNECTIONS_TITLE,
            {
                "per_worker": per_worker,
                "tasks": CONCURRENCY,
                "hold": f"{HOLD_MS:.0f}",
                "max_connections": MAX_CONNECTIONS,
                "pool": TXN_POOL.pool_size,
            },
        ),
        columns=(
            N_("route"),
            N_("workers"),
            N_("app_connections"),
            N_("server_connections"),
            N_("requests"),
            N_("errors"),
            N_("requests_per_s"),
            N_("error_kinds"),
        ),
        rows=tuple(rows),
    )
    charts = (
        Chart(
            key="scale.connections.errors",
            title=N_("Failed requests against worker processes"),
            kind="bar",
            table=table.key,
            x="workers",
            y=("errors",),
            series="route",
            y_label=N_("failed requests"),
        ),
        Chart(
            key="scale.connections.server",
            title=N_("Server connections at peak against worker processes"),
            kind="bar",
            table=table.key,
            x="workers",
            y=("server_connections",),
            series="route",
            y_label=N_("client backends on the server"),
        ),
        Chart(
            key="scale.connections.throughput",
            title=N_("Requests/s against worker processes"),
            kind="bar",
            table=table.key,
            x="workers",
            y=("requests_per_s",),
            series="route",
            y_label=N_("requests/s"),
        ),
    )
    findings = (
        judge_max_connections(direct, per_worker=per_worker),
        judge_pgbouncer(pooled, direct)
        if topology.bouncer is not None
        else skipped(
            key="scale.pgbouncer-transaction-pool",
            headline=PGBOUNCER_HEADLINE,
            claim=PGBOUNCER_CLAIM,
            source=PGBOUNCER_FEATURES,
            reason=NOT_FOUND,
        ),
    )
    errors = errors_table(
        "scale.connections.errors",
        N_("Every failure of the sweep, by exception, driver exception and SQLSTATE"),
        [
            *((Message(text.DIRECT_RUN, {"count": c}), run) for c, run in direct.items()),
            *((Message(text.PGBOUNCER_RUN, {"count": c}), run) for c, run in pooled.items()),
        ],
    )
    return LabOutput(findings=findings, tables=(table, errors), charts=charts)


def judge_max_connections(direct: dict[int, RunSummary], *, per_worker: int) -> Finding:
    """Where did refusals start, with what error, against where they should start."""
    leftovers = [run.leftover or 0 for run in direct.values()]
    free_slots = MAX_CONNECTIONS - WATCHER_SLOTS - max(leftovers, default=0)
    predicted = first_failing_workers(free_slots, per_worker)
    failing = [count for count, run in sorted(direct.items()) if run.failures]
    observed = failing[0] if failing else None
    refusals = sum(
        e.count
        for run in direct.values()
        for e in run.errors
        if e.sqlstate == TOO_MANY and "too many clients" in e.message
    )
    others = sum(run.failures for run in direct.values()) - refusals
    largest = max(direct)
    if largest < predicted:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.MAX_CONNECTIONS_STOPPED, {"largest": largest, "predicted": predicted})
    elif observed == predicted and refusals and not others:
        verdict = Verdict.CONFIRMED
        why = Message(
            text.MAX_CONNECTIONS_EXACT,
            {"observed": observed, "connections": observed * per_worker, "free": free_slots},
        )
    elif observed is None:
        verdict = Verdict.REFUTED
        why = Message(text.MAX_CONNECTIONS_NONE, {"largest": largest})
    else:
        verdict = Verdict.DEPENDS
        why = Message(
            text.MAX_CONNECTIONS_DEPENDS,
            {"observed": observed, "predicted": predicted, "others": others},
        )
    example = next(
        (e for run in direct.values() for e in run.errors if e.sqlstate == TOO_MANY), None
    )
    parts = [why]
    if example is not None:
        parts.append(
            Message(
                text.MAX_CONNECTIONS_SAID,
                {
                    "error": example.error,
                    "driver_error": example.driver_error,
                    "sqlstate": example.sqlstate,
                    "message": example.message,
                },
            )
        )
    return Finding(
        key="scale.max-connections",
        headline=N_("workers overrun max_connections"),
        deciding="requests refused with SQLSTATE 53300",
        claim=MAX_CONNECTIONS_CLAIM,
        source=f"{PG_MAX_CONNECTIONS}; {PG_ERRCODES}",
        measurements=(
            Measurement.single(N_("max_connections"), MAX_CONNECTIONS, ""),
            Measurement.single(N_("slots free for the workers"), free_slots, ""),
            Measurement.single(N_("connections per worker"), per_worker, ""),
            Measurement.single(N_("first failing worker count, predicted"), predicted, "workers"),
            Measurement.single(
                N_("first failing worker count, observed"), observed or 0, "workers"
            ),
            Measurement.single(N_("requests refused with SQLSTATE 53300"), refusals, ""),
            Measurement.single(N_("other failures"), others, ""),
        ),
        **verdict_fields(
            verdict,
            why,
            settle=N_("a sweep reaching the predicted worker count (the full run)"),
            depends_on=("state", N_("other connections to the server")),
        ),
        explanation=sentences(parts),
    )


def judge_pgbouncer(pooled: dict[int, RunSummary], direct: dict[int, RunSummary]) -> Finding:
    """No failures through PgBouncer, and never more server connections than its pool."""
    failures = sum(run.failures for run in pooled.values())
    peaks = [run.server_peak for run in pooled.values() if run.server_peak is not None]
    peak = max(peaks, default=0)
    largest = max(pooled)
    direct_failures = direct[largest].failures if largest in direct else 0
    ratio = (
        pooled[largest].requests_per_s / direct[largest].requests_per_s
        if largest in direct and direct[largest].requests_per_s
        else 0.0
    )
    if failures:
        verdict = Verdict.REFUTED
        why = Message(
            text.PGBOUNCER_FAILED,
            {"failures": failures, "errors": error_text(pooled[largest].errors)},
        )
    elif peak > TXN_POOL.pool_size:
        verdict = Verdict.DEPENDS
        why = Message(text.PGBOUNCER_OVER_POOL, {"peak": peak, "pool": TXN_POOL.pool_size})
    elif not direct_failures:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.PGBOUNCER_DIRECT_FINE)
    else:
        verdict = Verdict.CONFIRMED
        why = Message(
            text.PGBOUNCER_CONFIRMED,
            {"largest": largest, "direct_failures": direct_failures, "peak": peak},
        )
    return Finding(
        key="scale.pgbouncer-transaction-pool",
        headline=PGBOUNCER_HEADLINE,
        deciding="failures through PgBouncer",
        claim=PGBOUNCER_CLAIM,
        source=PGBOUNCER_FEATURES,
        measurements=(
            Measurement.single(N_("PgBouncer server pool"), TXN_POOL.pool_size, ""),
            Measurement.single(N_("server connections at peak"), peak, ""),
            Measurement.single(N_("failures through PgBouncer"), failures, ""),
            Measurement.single(
                Message(N_("failures directly at {count} workers"), {"count": largest}),
                direct_failures,
                "",
            ),
            Measurement.single(
                Message(
                    N_("requests/s through PgBouncer / direct at {count} workers"),
                    {"count": largest},
                ),
                ratio,
                "x",
            ),
        ),
        **verdict_fields(
            verdict,
            why,
            settle=N_("more workers than the server has free slots (the full run)"),
            depends_on=("state", N_("other clients of the server")),
        ),
        explanation=sentences(
            [
                why,
                Message(
                    text.PGBOUNCER_THROUGHPUT,
                    {
                        "ratio": Quantity(ratio, "x"),
                        "largest": largest,
                        "pool": TXN_POOL.pool_size,
                        "tasks": largest * CONCURRENCY,
                    },
                ),
            ]
        ),
    )
