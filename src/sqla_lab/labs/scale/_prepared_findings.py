"""The verdicts of the prepared-statement findings, from the runs of :mod:`._prepared`."""

from __future__ import annotations

import asyncpg

from sqla_lab.lab.messages import N_
from sqla_lab.lab.results import Finding, Measurement, Verdict
from sqla_lab.labs.scale._common import (
    ASYNCPG_FAQ,
    PGBOUNCER_CONFIG,
    PGBOUNCER_FEATURES,
    SQLA_PGBOUNCER,
    SQLA_PREPARED_CACHE,
    RunSummary,
    error_text,
    verdict_fields,
)
from sqla_lab.labs.scale._variants import (
    ASYNCPG_CACHE_ONLY,
    SA_CACHE_ONLY,
    WORKERS,
    Outcome,
)

__all__ = [
    "CLASH_CLAIM",
    "CLASH_DRIVER_ERRORS",
    "CLASH_SQLSTATES",
    "FIXES_CLAIM",
    "MISSING",
    "TAKEN",
    "is_clash",
    "judge_clash",
    "judge_fixes",
]

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


def is_clash(run: RunSummary) -> bool:
    """Whether any failure of ``run`` is a prepared-statement clash."""
    return any(
        e.sqlstate in CLASH_SQLSTATES or e.driver_error in CLASH_DRIVER_ERRORS for e in run.errors
    )


def judge_clash(one: RunSummary, many: RunSummary) -> Finding:
    """Did SQLAlchemy's defaults fail through the transaction pool, and how."""
    clash_one, clash_many = is_clash(one), is_clash(many)
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
        headline=N_("prepared statements clash in PgBouncer"),
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
        **verdict_fields(
            verdict,
            why,
            settle="a pooler in transaction mode where the defaults clash",
            depends_on=("state", "failures other than prepared statements"),
        ),
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


def judge_fixes(outcomes: list[Outcome], *, clashed: bool) -> Finding:
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
        headline=N_("each documented fix removes the clash"),
        claim=FIXES_CLAIM,
        source=f"{SQLA_PGBOUNCER}; {SQLA_PREPARED_CACHE}; {ASYNCPG_FAQ}; {PGBOUNCER_CONFIG}",
        measurements=tuple(measurements),
        **verdict_fields(
            verdict,
            why,
            settle="a pooler in transaction mode where the defaults clash",
            depends_on=("setting", "which fix"),
        ),
        explanation=" ".join(p for p in (f"{why}.{cost_text}", half_text, missing) if p),
    )
