"""Findings 3 and 4: asyncpg's prepared statements through PgBouncer's transaction mode.

SQLAlchemy's asyncpg dialect prepares every statement (``connection.prepare()``) and keeps
the prepared statements per DBAPI connection; PostgreSQL keeps them per server session.
In transaction mode PgBouncer hands a client a different server connection per transaction,
so a statement prepared in one transaction is missing in the next, or its generated name
(``__asyncpg_stmt_N__``, counted per process) is already taken by another process.

Worker processes run two different parameterised statements per request through the
transaction pool, first with SQLAlchemy's defaults, then with each documented fix, and with
the two halves of the usual advice on their own (which half does the work). The cost of
each fix is timed in this process, interleaved with a direct connection, so the ratio holds
on a busy machine. PgBouncer 1.21+ can track prepared statements itself
(``max_prepared_statements``); with an older PgBouncer the lab says so and measures nothing.

The variants live in :mod:`._variants`, the verdicts in :mod:`._prepared_findings`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
from collections.abc import Awaitable, Callable, Iterator

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sqla_lab.lab import LabContext, LabOutput
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.lab.messages import N_, Message, Quantity
from sqla_lab.lab.results import Cell, Chart, Table
from sqla_lab.labs.scale._common import (
    SQLA_PGBOUNCER,
    RunSummary,
    error_text,
    errors_table,
    measured_run,
    skipped,
)
from sqla_lab.labs.scale._jobs import Job, select_pair
from sqla_lab.labs.scale._pgbouncer import (
    MAX_PREPARED_STATEMENTS_SINCE,
    NOT_FOUND,
    PgBouncer,
    PoolSpec,
    supports_max_prepared_statements,
)
from sqla_lab.labs.scale._prepared_findings import (
    CLASH_CLAIM,
    CLASH_HEADLINE,
    FIXES_CLAIM,
    FIXES_HEADLINE,
    is_clash,
    judge_clash,
    judge_fixes,
)
from sqla_lab.labs.scale._topology import SESSION_POOL, TXN_POOL, Topology
from sqla_lab.labs.scale._variants import (
    BASE,
    CONCURRENCY,
    DEFAULTS,
    HOLD_MS,
    MAX_PREPARED,
    VARIANTS,
    WORKERS,
    Outcome,
    Variant,
)
from sqla_lab.labs.scale._workers import WorkerPool

__all__ = ["prepared_statements"]


@contextlib.contextmanager
def _tracking_bouncer(topology: Topology) -> Iterator[PgBouncer]:
    """A second PgBouncer with ``max_prepared_statements`` (a global setting, so its own)."""
    assert topology.bouncer is not None
    primary = topology.primary
    assert primary.password is not None
    with PgBouncer(
        topology.bouncer.executable,
        server_host=primary.host,
        server_port=primary.port,
        server_database=primary.database,
        user=primary.user,
        password=primary.password,
        pools=(PoolSpec(name="tracked", pool_mode="transaction", pool_size=TXN_POOL.pool_size),),
        max_prepared_statements=MAX_PREPARED,
    ) as bouncer:
        yield bouncer


def _unavailable(variant: Variant, topology: Topology) -> Message | None:
    """Why ``variant`` cannot run here, or ``None``."""
    if variant.pool == "session" and not topology.pooler_is_ours:
        return Message(N_("not measured: needs the lab's own PgBouncer (its session pool)"))
    if variant.pool == "tracked":
        if not topology.pooler_is_ours or topology.bouncer_version is None:
            return Message(N_("not measured: needs the lab's own PgBouncer"))
        if not supports_max_prepared_statements(topology.bouncer_version):
            return Message(
                N_(
                    "not available: PgBouncer {installed} has no max_prepared_statements ({since}+)"
                ),
                {
                    "installed": ".".join(map(str, topology.bouncer_version)),
                    "since": ".".join(map(str, MAX_PREPARED_STATEMENTS_SINCE)),
                },
            )
    return None


async def prepared_statements(
    ctx: LabContext, topology: Topology, workers: WorkerPool
) -> LabOutput:
    """Reproduce the clash, try every fix, time the fixes against a direct connection."""
    pooler = topology.pooler
    if pooler is None:
        return LabOutput(
            findings=tuple(
                skipped(key=key, claim=claim, source=source, reason=NOT_FOUND, headline=headline)
                for key, claim, source, headline in (
                    ("scale.prepared-statement-clash", CLASH_CLAIM, SQLA_PGBOUNCER, CLASH_HEADLINE),
                    ("scale.prepared-statement-fixes", FIXES_CLAIM, SQLA_PGBOUNCER, FIXES_HEADLINE),
                )
            )
        )
    duration_s = 0.5 if ctx.quick else 2.0
    on_primary = topology.pooler_is_ours
    ctx.progress.start(N_("scale: prepared statements through PgBouncer"), 2 + len(VARIANTS))

    def jobs(url: URL, variant: Variant, count: int) -> list[Job]:
        job = Job(
            kind="select",
            url=url.render_as_string(hide_password=False),
            engine=variant.engine,
            concurrency=CONCURRENCY,
            duration_s=duration_s,
            hold_ms=HOLD_MS,
        )
        return [job] * count

    defaults_one = await measured_run(
        topology, workers, jobs(pooler, DEFAULTS, 1), on_primary=on_primary
    )
    ctx.progress.advance()
    defaults_many = await measured_run(
        topology, workers, jobs(pooler, DEFAULTS, WORKERS), on_primary=on_primary
    )
    ctx.progress.advance()
    outcomes: list[Outcome] = []
    for variant in VARIANTS:
        missing = _unavailable(variant, topology)
        if missing is not None:
            outcomes.append(Outcome(variant=variant, run=None, missing=missing))
        elif variant.pool == "tracked":
            with _tracking_bouncer(topology) as tracked:
                url = tracked.url("tracked")
                run = await measured_run(
                    topology, workers, jobs(url, variant, WORKERS), on_primary=True
                )
            outcomes.append(Outcome(variant=variant, run=run))
        else:
            url = pooler
            if variant.pool == "session":
                assert topology.bouncer is not None
                url = topology.bouncer.url(SESSION_POOL.name)
            run = await measured_run(
                topology, workers, jobs(url, variant, WORKERS), on_primary=on_primary
            )
            outcomes.append(Outcome(variant=variant, run=run))
        ctx.progress.advance()
    costs, direct_ms = await _costs(ctx, topology, [o for o in outcomes if o.run is not None])
    outcomes = [dataclasses.replace(o, cost=costs.get(o.variant.name)) for o in outcomes]
    return LabOutput(
        findings=(
            judge_clash(defaults_one, defaults_many),
            judge_fixes(outcomes, clashed=is_clash(defaults_many) or is_clash(defaults_one)),
        ),
        tables=(
            _table(defaults_one, defaults_many, outcomes, direct_ms),
            errors_table(
                "scale.prepared-statements.errors",
                N_("Every failure through the transaction pool, by exception and SQLSTATE"),
                [
                    (_defaults_label(1), defaults_one),
                    (_defaults_label(WORKERS), defaults_many),
                    *((o.variant.name, o.run) for o in outcomes),
                ],
            ),
        ),
        charts=(
            Chart(
                key="scale.prepared-statements.errors",
                title=Message(
                    N_("Failed requests through PgBouncer's transaction pool, {count} workers"),
                    {"count": WORKERS},
                ),
                kind="bar",
                table="scale.prepared-statements",
                x="variant",
                y=("errors",),
                y_label=N_("failed requests"),
            ),
            Chart(
                key="scale.prepared-statements.cost",
                title=N_("Request time with each fix, as a ratio to a direct connection"),
                kind="bar",
                table="scale.prepared-statements",
                x="variant",
                y=("cost_vs_direct",),
                y_label=N_("× direct"),
            ),
        ),
    )


async def _costs(
    ctx: LabContext, topology: Topology, outcomes: list[Outcome]
) -> tuple[dict[str, float], float]:
    """Median request time of each error-free variant over a direct connection's, interleaved."""
    engines: dict[str, AsyncEngine] = {
        "direct": create_async_engine(topology.primary.url, **BASE.engine_kwargs())
    }
    trackers = contextlib.ExitStack()
    try:
        for outcome in outcomes:
            if outcome.run is None or outcome.run.failures:
                continue
            variant = outcome.variant
            if variant.pool == "session":
                assert topology.bouncer is not None
                url = topology.bouncer.url(SESSION_POOL.name)
            elif variant.pool == "tracked":
                url = trackers.enter_context(_tracking_bouncer(topology)).url("tracked")
            else:
                pooler = topology.pooler
                assert pooler is not None
                url = pooler
            engines[variant.name] = create_async_engine(url, **variant.engine.engine_kwargs())
        counter = iter(range(10**9))

        def request(engine: AsyncEngine) -> Callable[[], Awaitable[None]]:
            return lambda: select_pair(engine, next(counter))

        samples = await sample_interleaved(
            {name: request(engine) for name, engine in engines.items()},
            repetitions=ctx.repetitions(full=200, quick=30),
            progress=ctx.progress,
            description=N_("scale: cost of each prepared-statement fix"),
        )
    finally:
        for engine in engines.values():
            await engine.dispose()
        trackers.close()
    direct = statistics.median(samples.pop("direct"))
    return (
        {name: statistics.median(s) / direct for name, s in samples.items()},
        direct,
    )


def _defaults_label(workers: int) -> Message:
    if workers == 1:
        return Message(N_("{variant}, 1 worker"), {"variant": Message(DEFAULTS.name)})
    return Message(
        N_("{variant}, {count} workers"), {"variant": Message(DEFAULTS.name), "count": workers}
    )


def _row(
    variant: Variant,
    label: Message | str,
    run: RunSummary | None,
    cost: float | None,
    note: Message | str,
) -> tuple[Cell, ...]:
    return (
        label,
        variant.settings,
        variant.documented,
        run.workers if run else None,
        run.requests if run else None,
        run.failures if run else None,
        run.first_error_after if run else None,
        round(cost, 2) if cost is not None else None,
        note or (error_text(run.errors) if run else ""),
    )


def _table(one: RunSummary, many: RunSummary, outcomes: list[Outcome], direct_ms: float) -> Table:
    rows = [
        _row(DEFAULTS, _defaults_label(1), one, None, ""),
        _row(DEFAULTS, _defaults_label(WORKERS), many, None, ""),
    ]
    rows += [_row(o.variant, o.variant.name, o.run, o.cost, o.missing or "") for o in outcomes]
    return Table(
        key="scale.prepared-statements",
        title=Message(
            N_(
                "Prepared statements through PgBouncer's transaction pool: {tasks} tasks per "
                "worker, two statements per request; cost = median request time / a direct "
                "connection's ({direct})"
            ),
            {"tasks": CONCURRENCY, "direct": Quantity(direct_ms, "ms")},
        ),
        columns=(
            N_("variant"),
            N_("settings"),
            N_("documented_fix"),
            N_("workers"),
            N_("requests"),
            N_("errors"),
            N_("first_error_after"),
            N_("cost_vs_direct"),
            N_("error_kinds"),
        ),
        rows=tuple(rows),
    )
