"""Finding 5: the application's own pool behind PgBouncer, QueuePool against NullPool.

SQLAlchemy's asyncpg documentation pairs PgBouncer with ``NullPool`` (the pooler pools, so
the application need not). Two worker processes send the same requests through the
transaction pool, once with a QueuePool of 4 per worker and once with NullPool, both with
asyncpg's ``statement_cache_size=0`` so neither fails on prepared statements. Each run
reports its latency, its server connections at peak, and how many client connections its
pools opened to PgBouncer (each NullPool checkout is a new one, with its authentication).
"""

from __future__ import annotations

from sqla_lab.lab import LabContext, LabOutput
from sqla_lab.lab.messages import N_, Message, Quantity
from sqla_lab.lab.results import Cell, Chart, Finding, Measurement, Table, Verdict
from sqla_lab.labs.scale import _messages as text
from sqla_lab.labs.scale._common import (
    PGBOUNCER_FEATURES,
    SQLA_PGBOUNCER,
    SQLA_POOL_SWITCHING,
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
from sqla_lab.labs.scale._topology import TXN_POOL, Topology
from sqla_lab.labs.scale._workers import WorkerPool

__all__ = [
    "CHEAP",
    "CLAIM",
    "CONCURRENCY",
    "DEAR",
    "HEADLINE",
    "HOLD_MS",
    "NULL",
    "QUEUE",
    "RATIO",
    "WORKERS",
    "app_pool",
    "judge_app_pool",
]

WORKERS = 2
CONCURRENCY = 4
HOLD_MS = 1.0
QUEUE = EngineSpec(pool="queue", pool_size=4, max_overflow=0, statement_cache_size=0)
NULL = EngineSpec(pool="null", statement_cache_size=0)
#: NullPool costing at most this much more per request is "little"; twice as much is not.
CHEAP, DEAR = 1.25, 2.0
RATIO = N_("NullPool / QueuePool median request time")
HEADLINE = N_("behind PgBouncer NullPool is enough")
_SETTLE = N_("a run without failed requests")

CLAIM = N_(
    "Behind PgBouncer the application needs no pool of its own: NullPool uses no more server "
    "connections than a QueuePool and costs little per request."
)


async def app_pool(ctx: LabContext, topology: Topology, workers: WorkerPool) -> LabOutput:
    """Run QueuePool and NullPool workers through the pooler; judge the claim."""
    pooler = topology.pooler
    if pooler is None:
        return LabOutput(
            findings=(
                skipped(
                    key="scale.app-pool-behind-pgbouncer",
                    headline=HEADLINE,
                    claim=CLAIM,
                    source=SQLA_PGBOUNCER,
                    reason=NOT_FOUND,
                ),
            )
        )
    url = pooler.render_as_string(hide_password=False)
    duration_s = 0.6 if ctx.quick else 3.0
    ctx.progress.start(N_("scale: QueuePool against NullPool behind PgBouncer"), 2)
    runs: dict[str, RunSummary] = {}
    for name, engine in (("QueuePool", QUEUE), ("NullPool", NULL)):
        job = Job(
            kind="select",
            url=url,
            engine=engine,
            concurrency=CONCURRENCY,
            duration_s=duration_s,
            hold_ms=HOLD_MS,
        )
        runs[name] = await measured_run(
            topology, workers, [job] * WORKERS, on_primary=topology.pooler_is_ours
        )
        ctx.progress.advance()
    rows: list[tuple[Cell, ...]] = [
        (
            name,
            run.requests,
            run.failures,
            round(run.requests_per_s, 1),
            run.latency(50),
            run.latency(95),
            run.connections_opened,
            run.server_peak,
            error_text(run.errors),
        )
        for name, run in runs.items()
    ]
    table = Table(
        key="scale.app-pool",
        title=Message(
            text.APP_POOL_TITLE,
            {"workers": WORKERS, "tasks": CONCURRENCY, "bouncer": topology.bouncer_description},
        ),
        columns=(
            N_("app_pool"),
            N_("requests"),
            N_("errors"),
            N_("requests_per_s"),
            N_("p50_ms"),
            N_("p95_ms"),
            N_("client_connections_opened"),
            N_("server_connections"),
            N_("error_kinds"),
        ),
        rows=tuple(rows),
    )
    chart = Chart(
        key="scale.app-pool.latency",
        title=N_("Request time behind PgBouncer: the application's own pool or none"),
        kind="bar",
        table=table.key,
        x="app_pool",
        y=("p50_ms", "p95_ms"),
        y_label=N_("ms"),
    )
    return LabOutput(
        findings=(judge_app_pool(runs["QueuePool"], runs["NullPool"]),),
        tables=(
            table,
            errors_table(
                "scale.app-pool.errors",
                N_("Failures behind PgBouncer, by kind"),
                [(Message(name), run) for name, run in runs.items()],
            ),
        ),
        charts=(chart,),
    )


def judge_app_pool(queue: RunSummary, null: RunSummary) -> Finding:
    """Compare server connections and median latency of the two runs."""
    queue_p50, null_p50 = queue.latency(50), null.latency(50)
    measurements = [
        Measurement.single(N_("server connections at peak, QueuePool"), queue.server_peak or 0, ""),
        Measurement.single(N_("server connections at peak, NullPool"), null.server_peak or 0, ""),
        Measurement.single(
            N_("client connections opened, QueuePool"), queue.connections_opened, ""
        ),
        Measurement.single(N_("client connections opened, NullPool"), null.connections_opened, ""),
        Measurement.single(N_("failed requests"), queue.failures + null.failures, ""),
    ]
    if queue_p50 is None or null_p50 is None or queue.failures or null.failures:
        return Finding(
            key="scale.app-pool-behind-pgbouncer",
            headline=HEADLINE,
            claim=CLAIM,
            source=f"{SQLA_PGBOUNCER}; {SQLA_POOL_SWITCHING}; {PGBOUNCER_FEATURES}",
            measurements=tuple(measurements),
            verdict=Verdict.INCONCLUSIVE,
            explanation=Message(
                N_("{reason}: {errors}"),
                {
                    "reason": Message(text.APP_POOL_FAILED),
                    "errors": error_text((*queue.errors, *null.errors)),
                },
            ),
            reason=Message(text.APP_POOL_FAILED),
            settle=Message(_SETTLE),
        )
    ratio = null_p50 / queue_p50
    measurements[:0] = [
        Measurement.from_samples(N_("request time, QueuePool"), queue.latencies_ms, "ms"),
        Measurement.from_samples(N_("request time, NullPool"), null.latencies_ms, "ms"),
        Measurement.single(RATIO, ratio, "x"),
    ]
    more_server = (
        null.server_peak is not None
        and queue.server_peak is not None
        and null.server_peak > queue.server_peak
    )
    shown = Quantity(ratio, "x")
    if more_server:
        verdict = Verdict.REFUTED
        why = Message(
            text.APP_POOL_MORE_SERVER, {"null": null.server_peak, "queue": queue.server_peak}
        )
    elif ratio <= CHEAP:
        verdict = Verdict.CONFIRMED
        why = Message(text.APP_POOL_CHEAP, {"ratio": shown})
    elif ratio >= DEAR:
        verdict = Verdict.REFUTED
        why = Message(
            text.APP_POOL_DEAR,
            {"ratio": shown, "null": null.connections_opened, "queue": queue.connections_opened},
        )
    else:
        verdict = Verdict.DEPENDS
        why = Message(text.APP_POOL_BETWEEN, {"ratio": shown})
    server = (
        Message(
            text.APP_POOL_SERVER,
            {"queue": queue.server_peak, "null": null.server_peak, "pool": TXN_POOL.pool_size},
        )
        if queue.server_peak is not None
        else Message(text.APP_POOL_SERVER_UNCOUNTED)
    )
    return Finding(
        key="scale.app-pool-behind-pgbouncer",
        headline=HEADLINE,
        deciding=RATIO,
        claim=CLAIM,
        source=f"{SQLA_PGBOUNCER}; {SQLA_POOL_SWITCHING}; {PGBOUNCER_FEATURES}",
        measurements=tuple(measurements),
        **verdict_fields(
            verdict,
            why,
            settle=_SETTLE,
            depends_on=("machine", N_("load and connection cost")),
        ),
        explanation=sentences([why, server]),
    )
