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
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sqla_lab.lab import LabContext, LabOutput
from sqla_lab.labs.scale._common import (
    ASYNCPG_FAQ,
    PGBOUNCER_CONFIG,
    PGBOUNCER_FEATURES,
    SQLA_PGBOUNCER,
    SQLA_PREPARED_CACHE,
    RunSummary,
    error_text,
    errors_table,
    measured_run,
    skipped,
)
from sqla_lab.labs.scale._jobs import EngineSpec, Job, select_pair
from sqla_lab.labs.scale._pgbouncer import (
    MAX_PREPARED_STATEMENTS_SINCE,
    NOT_FOUND,
    PgBouncer,
    PoolSpec,
    supports_max_prepared_statements,
)
from sqla_lab.labs.scale._topology import SESSION_POOL, TXN_POOL, Topology
from sqla_lab.labs.scale._workers import WorkerPool
from sqla_lab.measure import sample_interleaved
from sqla_lab.results import Cell, Chart, Finding, Measurement, Table, Verdict

__all__ = ["CLASH_SQLSTATES", "VARIANTS", "Variant", "prepared_statements"]

#: 26000 "prepared statement ... does not exist", 42P05 "... already exists", 08P01 a bind
#: for a statement of another shape.
MISSING, TAKEN = "26000", "42P05"
CLASH_SQLSTATES = frozenset({MISSING, TAKEN, "08P01"})
CLASH_DRIVER_ERRORS = frozenset(
    {
        "asyncpg.exceptions.InvalidSQLStatementNameError",
        "asyncpg.exceptions.DuplicatePreparedStatementError",
        "asyncpg.exceptions.ProtocolViolationError",
        "asyncpg.exceptions._base.InternalClientError",
    }
)
WORKERS = 3
CONCURRENCY = 4
HOLD_MS = 1.0
_BASE = EngineSpec(pool_size=4, max_overflow=0)
_MAX_PREPARED = 200

CLASH_CLAIM = (
    "asyncpg through PgBouncer in transaction mode with SQLAlchemy's defaults fails: a "
    "prepared statement is missing on the next server connection, or its name is taken."
)
FIXES_CLAIM = (
    "Each documented fix removes the clash: asyncpg's statement_cache_size=0 (with "
    "SQLAlchemy's prepared_statement_cache_size=0), unique prepared_statement_name_func "
    "names with NullPool, PgBouncer's session mode, or PgBouncer 1.21+'s "
    "max_prepared_statements."
)


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One way to run the same requests.

    Attributes:
        name: a short name for tables and charts.
        settings: what exactly it sets.
        pool: ``txn`` (the transaction pool), ``session`` (the lab's session pool) or
            ``tracked`` (a PgBouncer with ``max_prepared_statements``).
        engine: the engine each worker builds.
        documented: a fix the documentation gives (the others are halves of one).
    """

    name: str
    settings: str
    pool: str
    engine: EngineSpec
    documented: bool


DEFAULTS = Variant(
    name="defaults",
    settings="SQLAlchemy's and asyncpg's defaults",
    pool="txn",
    engine=_BASE,
    documented=False,
)
BOTH_CACHES = Variant(
    name="both caches off",
    settings="statement_cache_size=0 + prepared_statement_cache_size=0",
    pool="txn",
    engine=dataclasses.replace(_BASE, statement_cache_size=0, prepared_statement_cache_size=0),
    documented=True,
)
UNIQUE_NULLPOOL = Variant(
    name="unique names + NullPool",
    settings="prepared_statement_name_func (UUIDs) + NullPool",
    pool="txn",
    engine=EngineSpec(pool="null", unique_statement_names=True),
    documented=True,
)
SESSION_MODE = Variant(
    name="session mode",
    settings="PgBouncer pool_mode=session, SQLAlchemy's defaults",
    pool="session",
    engine=_BASE,
    documented=True,
)
TRACKED = Variant(
    name="max_prepared_statements",
    settings=f"PgBouncer max_prepared_statements={_MAX_PREPARED}, SQLAlchemy's defaults",
    pool="tracked",
    engine=_BASE,
    documented=True,
)
SA_CACHE_ONLY = Variant(
    name="SQLAlchemy cache off only",
    settings="prepared_statement_cache_size=0",
    pool="txn",
    engine=dataclasses.replace(_BASE, prepared_statement_cache_size=0),
    documented=False,
)
ASYNCPG_CACHE_ONLY = Variant(
    name="asyncpg cache off only",
    settings="statement_cache_size=0",
    pool="txn",
    engine=dataclasses.replace(_BASE, statement_cache_size=0),
    documented=False,
)
UNIQUE_QUEUEPOOL = Variant(
    name="unique names, QueuePool",
    settings="prepared_statement_name_func (UUIDs), QueuePool kept",
    pool="txn",
    engine=dataclasses.replace(_BASE, unique_statement_names=True),
    documented=False,
)
#: Every variant after the defaults, documented fixes first.
VARIANTS = (
    BOTH_CACHES,
    UNIQUE_NULLPOOL,
    SESSION_MODE,
    TRACKED,
    SA_CACHE_ONLY,
    ASYNCPG_CACHE_ONLY,
    UNIQUE_QUEUEPOOL,
)


@dataclass(frozen=True, kw_only=True)
class _Outcome:
    variant: Variant
    run: RunSummary | None
    cost: float | None = None
    missing: str | None = None


def _is_clash(run: RunSummary) -> bool:
    return any(
        e.sqlstate in CLASH_SQLSTATES or e.driver_error in CLASH_DRIVER_ERRORS for e in run.errors
    )


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
        max_prepared_statements=_MAX_PREPARED,
    ) as bouncer:
        yield bouncer


def _unavailable(variant: Variant, topology: Topology) -> str | None:
    """Why ``variant`` cannot run here, or ``None``."""
    if variant.pool == "session" and not topology.pooler_is_ours:
        return "not measured: needs the lab's own PgBouncer (its session pool)"
    if variant.pool == "tracked":
        if not topology.pooler_is_ours or topology.bouncer_version is None:
            return "not measured: needs the lab's own PgBouncer"
        if not supports_max_prepared_statements(topology.bouncer_version):
            installed = ".".join(map(str, topology.bouncer_version))
            since = ".".join(map(str, MAX_PREPARED_STATEMENTS_SINCE))
            return f"not available: PgBouncer {installed} has no max_prepared_statements ({since}+)"
    return None


async def prepared_statements(
    ctx: LabContext, topology: Topology, workers: WorkerPool
) -> LabOutput:
    """Reproduce the clash, try every fix, time the fixes against a direct connection."""
    pooler = topology.pooler
    if pooler is None:
        return LabOutput(
            findings=tuple(
                skipped(key=key, claim=claim, source=source, reason=NOT_FOUND)
                for key, claim, source in (
                    ("scale.prepared-statement-clash", CLASH_CLAIM, SQLA_PGBOUNCER),
                    ("scale.prepared-statement-fixes", FIXES_CLAIM, SQLA_PGBOUNCER),
                )
            )
        )
    duration_s = 0.5 if ctx.quick else 2.0
    on_primary = topology.pooler_is_ours
    ctx.progress.start("scale: prepared statements through PgBouncer", 2 + len(VARIANTS))

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
    outcomes: list[_Outcome] = []
    for variant in VARIANTS:
        missing = _unavailable(variant, topology)
        if missing is not None:
            outcomes.append(_Outcome(variant=variant, run=None, missing=missing))
        elif variant.pool == "tracked":
            with _tracking_bouncer(topology) as tracked:
                url = tracked.url("tracked")
                run = await measured_run(
                    topology, workers, jobs(url, variant, WORKERS), on_primary=True
                )
            outcomes.append(_Outcome(variant=variant, run=run))
        else:
            url = pooler
            if variant.pool == "session":
                assert topology.bouncer is not None
                url = topology.bouncer.url(SESSION_POOL.name)
            run = await measured_run(
                topology, workers, jobs(url, variant, WORKERS), on_primary=on_primary
            )
            outcomes.append(_Outcome(variant=variant, run=run))
        ctx.progress.advance()
    costs, direct_ms = await _costs(ctx, topology, [o for o in outcomes if o.run is not None])
    outcomes = [dataclasses.replace(o, cost=costs.get(o.variant.name)) for o in outcomes]
    return LabOutput(
        findings=(
            judge_clash(defaults_one, defaults_many),
            judge_fixes(outcomes, clashed=_is_clash(defaults_many) or _is_clash(defaults_one)),
        ),
        tables=(
            _table(defaults_one, defaults_many, outcomes, direct_ms),
            errors_table(
                "scale.prepared-statements.errors",
                "Every failure through the transaction pool, by exception and SQLSTATE",
                {
                    f"{DEFAULTS.name}, 1 worker": defaults_one,
                    f"{DEFAULTS.name}, {WORKERS} workers": defaults_many,
                    **{o.variant.name: o.run for o in outcomes},
                },
            ),
        ),
        charts=(
            Chart(
                key="scale.prepared-statements.errors",
                title=f"Failed requests through PgBouncer's transaction pool, {WORKERS} workers",
                kind="bar",
                table="scale.prepared-statements",
                x="variant",
                y=("errors",),
                y_label="failed requests",
            ),
            Chart(
                key="scale.prepared-statements.cost",
                title="Request time with each fix, as a ratio to a direct connection",
                kind="bar",
                table="scale.prepared-statements",
                x="variant",
                y=("cost_vs_direct",),
                y_label="× direct",
            ),
        ),
    )


async def _costs(
    ctx: LabContext, topology: Topology, outcomes: list[_Outcome]
) -> tuple[dict[str, float], float]:
    """Median request time of each error-free variant over a direct connection's, interleaved."""
    engines: dict[str, AsyncEngine] = {
        "direct": create_async_engine(topology.primary.url, **_BASE.engine_kwargs())
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
            description="scale: cost of each prepared-statement fix",
        )
    finally:
        for engine in engines.values():
            await engine.dispose()
        trackers.close()
    direct = Measurement.from_samples("direct", samples.pop("direct"), "ms").value
    return (
        {
            name: Measurement.from_samples(name, s, "ms").value / direct
            for name, s in samples.items()
        },
        direct,
    )


def _row(
    variant: Variant, label: str, run: RunSummary | None, cost: float | None, note: str
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


def _table(one: RunSummary, many: RunSummary, outcomes: list[_Outcome], direct_ms: float) -> Table:
    rows = [
        _row(DEFAULTS, f"{DEFAULTS.name}, 1 worker", one, None, ""),
        _row(DEFAULTS, f"{DEFAULTS.name}, {WORKERS} workers", many, None, ""),
    ]
    rows += [_row(o.variant, o.variant.name, o.run, o.cost, o.missing or "") for o in outcomes]
    return Table(
        key="scale.prepared-statements",
        title=(
            f"Prepared statements through PgBouncer's transaction pool: {CONCURRENCY} tasks per "
            f"worker, two statements per request; cost = median request time / a direct "
            f"connection's ({direct_ms:.2f} ms)"
        ),
        columns=(
            "variant",
            "settings",
            "documented_fix",
            "workers",
            "requests",
            "errors",
            "first_error_after",
            "cost_vs_direct",
            "error_kinds",
        ),
        rows=tuple(rows),
    )


def judge_clash(one: RunSummary, many: RunSummary) -> Finding:
    """Did SQLAlchemy's defaults fail through the transaction pool, and how."""
    clash_one, clash_many = _is_clash(one), _is_clash(many)
    if clash_one or clash_many:
        verdict = Verdict.CONFIRMED
        kinds = error_text(many.errors if clash_many else one.errors)
        why = f"the defaults failed: {kinds}"
    elif one.failures or many.failures:
        verdict = Verdict.DEPENDS
        why = f"requests failed, but not with a prepared-statement error: {error_text(many.errors)}"
    else:
        verdict = Verdict.REFUTED
        why = (
            f"{one.requests + many.requests} requests succeeded with the defaults: this pooler "
            "does not break prepared statements (session mode, or tracking them)"
        )
    return Finding(
        key="scale.prepared-statement-clash",
        claim=CLASH_CLAIM,
        source=f"{SQLA_PGBOUNCER}; {ASYNCPG_FAQ}; {PGBOUNCER_FEATURES}",
        measurements=(
            Measurement.single("failed requests, 1 worker", one.failures, ""),
            Measurement.single("successful requests, 1 worker", one.requests, ""),
            Measurement.single(f"failed requests, {WORKERS} workers", many.failures, ""),
            Measurement.single(f"successful requests, {WORKERS} workers", many.requests, ""),
            *(
                Measurement.single(
                    f"successful requests before the first failure, {label}", first, ""
                )
                for label, first in (
                    ("1 worker", one.first_error_after),
                    (f"{WORKERS} workers", many.first_error_after),
                )
                if first is not None
            ),
        ),
        verdict=verdict,
        explanation=f"{why}.{_clash_kinds(one, many)}",
    )


def _clash_kinds(one: RunSummary, many: RunSummary) -> str:
    """Say which of the two clashes showed up, from the SQLSTATEs seen."""
    text = ""
    if any(e.sqlstate == MISSING for r in (one, many) for e in r.errors):
        text += (
            " 'does not exist' (26000): a statement prepared on one server connection was "
            "executed on another, where it was never prepared."
        )
    if any(e.sqlstate == TAKEN for r in (one, many) for e in r.errors):
        text += (
            " 'already exists' (42P05): a server connection already held a statement of that "
            "name, left by another client; asyncpg numbers its statement names per process, so "
            "processes repeat each other's."
        )
    return text


def judge_fixes(outcomes: list[_Outcome], *, clashed: bool) -> Finding:
    """Every documented fix that could run here must be error-free."""
    measured = [o for o in outcomes if o.variant.documented and o.run is not None]
    clean = [o for o in measured if o.run is not None and not o.run.failures]
    measurements: list[Measurement] = []
    for outcome in outcomes:
        if outcome.run is None:
            continue
        measurements.append(
            Measurement.single(f"failed requests, {outcome.variant.name}", outcome.run.failures, "")
        )
        if outcome.cost is not None:
            measurements.append(
                Measurement.single(f"cost vs direct, {outcome.variant.name}", outcome.cost, "x")
            )
    if not clashed:
        verdict = Verdict.INCONCLUSIVE
        why = "the defaults did not clash here, so no fix had anything to remove"
    elif not measured:
        verdict = Verdict.INCONCLUSIVE
        why = "no documented fix could be measured here"
    elif len(clean) == len(measured):
        verdict = Verdict.CONFIRMED
        why = f"all {len(measured)} documented fixes measured ran without a failure"
    elif clean:
        verdict = Verdict.DEPENDS
        failing = [o.variant.name for o in measured if o not in clean]
        why = (
            f"{len(clean)} of {len(measured)} fixes ran clean; still failing: {', '.join(failing)}"
        )
    else:
        verdict = Verdict.REFUTED
        why = "every documented fix still failed"
    halves = [o for o in outcomes if not o.variant.documented and o.run is not None]
    half_text = " ".join(
        f"{o.variant.name} ({o.variant.settings}): {o.run.failures} failed of "
        f"{o.run.requests + o.run.failures}."
        for o in halves
        if o.run is not None
    )
    by_name = {o.variant.name: o for o in outcomes}
    asyncpg_only, sqlalchemy_only = by_name[ASYNCPG_CACHE_ONLY.name], by_name[SA_CACHE_ONLY.name]
    if (
        asyncpg_only.run is not None
        and sqlalchemy_only.run is not None
        and not asyncpg_only.run.failures
        and sqlalchemy_only.run.failures
    ):
        half_text += (
            " asyncpg's setting is the half that works: with its statement cache off, asyncpg "
            f"{asyncpg.__version__} prepares unnamed statements, re-parsed on each execution, "
            "which nothing on a shared server connection can collide with."
        )
    missing = " ".join(f"{o.variant.name}: {o.missing}." for o in outcomes if o.missing)
    priced = sorted(
        (o for o in outcomes if o.cost is not None and o.run is not None and not o.run.failures),
        key=lambda o: o.cost or 0.0,
    )
    cost_text = (
        " Request time against a direct connection's, error-free variants, cheapest first: "
        + ", ".join(f"{o.variant.name} {o.cost:.2f}x" for o in priced)
        + "."
        if priced
        else ""
    )
    return Finding(
        key="scale.prepared-statement-fixes",
        claim=FIXES_CLAIM,
        source=f"{SQLA_PGBOUNCER}; {SQLA_PREPARED_CACHE}; {ASYNCPG_FAQ}; {PGBOUNCER_CONFIG}",
        measurements=tuple(measurements),
        verdict=verdict,
        explanation=" ".join(p for p in (f"{why}.{cost_text}", half_text, missing) if p),
    )
