"""The verdicts of the prepared-statement findings, from the runs of :mod:`._prepared`."""

from __future__ import annotations

import asyncpg

from sqla_lab.lab.messages import N_, Message, Quantity, join
from sqla_lab.lab.results import Finding, Measurement, Verdict
from sqla_lab.labs.scale import _messages as text
from sqla_lab.labs.scale._common import (
    ASYNCPG_FAQ,
    PGBOUNCER_CONFIG,
    PGBOUNCER_FEATURES,
    SQLA_PGBOUNCER,
    SQLA_PREPARED_CACHE,
    RunSummary,
    error_text,
    sentences,
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
    "CLASH_HEADLINE",
    "CLASH_SQLSTATES",
    "FIXES_CLAIM",
    "FIXES_HEADLINE",
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
CLASH_CLAIM = N_(
    "asyncpg through PgBouncer in transaction mode with SQLAlchemy's defaults fails: a "
    "prepared statement is missing on the next server connection, or its name is taken."
)
FIXES_CLAIM = N_(
    "Each documented fix removes the clash: asyncpg's statement_cache_size=0 (with "
    "SQLAlchemy's prepared_statement_cache_size=0), unique prepared_statement_name_func "
    "names with NullPool, PgBouncer's session mode, or PgBouncer 1.21+'s "
    "max_prepared_statements."
)


CLASH_HEADLINE = N_("prepared statements clash in PgBouncer")
FIXES_HEADLINE = N_("each documented fix removes the clash")
_SETTLE = N_("a pooler in transaction mode where the defaults clash")


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
        why = Message(text.CLASH_DEFAULTS_FAILED, {"errors": kinds})
    elif one.failures or many.failures:
        verdict = Verdict.DEPENDS
        why = Message(text.CLASH_OTHER_FAILURES, {"errors": error_text(many.errors)})
    else:
        verdict = Verdict.REFUTED
        why = Message(text.CLASH_NONE, {"requests": one.requests + many.requests})
    return Finding(
        key="scale.prepared-statement-clash",
        headline=CLASH_HEADLINE,
        claim=CLASH_CLAIM,
        source=f"{SQLA_PGBOUNCER}; {ASYNCPG_FAQ}; {PGBOUNCER_FEATURES}",
        measurements=(
            Measurement.single(N_("failed requests, 1 worker"), one.failures, ""),
            Measurement.single(N_("successful requests, 1 worker"), one.requests, ""),
            Measurement.single(
                Message(N_("failed requests, {count} workers"), {"count": WORKERS}),
                many.failures,
                "",
            ),
            Measurement.single(
                Message(N_("successful requests, {count} workers"), {"count": WORKERS}),
                many.requests,
                "",
            ),
            *(
                Measurement.single(label, first, "")
                for label, first in (
                    (
                        Message(N_("successful requests before the first failure, 1 worker")),
                        one.first_error_after,
                    ),
                    (
                        Message(
                            N_("successful requests before the first failure, {count} workers"),
                            {"count": WORKERS},
                        ),
                        many.first_error_after,
                    ),
                )
                if first is not None
            ),
        ),
        **verdict_fields(
            verdict,
            why,
            settle=_SETTLE,
            depends_on=("state", N_("failures other than prepared statements")),
        ),
        explanation=sentences([why, *_clash_kinds(one, many)]),
    )


def _clash_kinds(one: RunSummary, many: RunSummary) -> list[Message]:
    """Say which of the two clashes showed up, from the SQLSTATEs seen."""
    kinds = []
    if any(e.sqlstate == MISSING for r in (one, many) for e in r.errors):
        kinds.append(Message(text.CLASH_MISSING))
    if any(e.sqlstate == TAKEN for r in (one, many) for e in r.errors):
        kinds.append(Message(text.CLASH_TAKEN))
    return kinds


def judge_fixes(outcomes: list[Outcome], *, clashed: bool) -> Finding:
    """Every documented fix that could run here must be error-free."""
    measured = [o for o in outcomes if o.variant.documented and o.run is not None]
    clean = [o for o in measured if o.run is not None and not o.run.failures]
    measurements: list[Measurement] = []
    for outcome in outcomes:
        if outcome.run is None:
            continue
        variant = {"variant": Message(outcome.variant.name)}
        measurements.append(
            Measurement.single(
                Message(N_("failed requests, {variant}"), variant), outcome.run.failures, ""
            )
        )
        if outcome.cost is not None:
            measurements.append(
                Measurement.single(
                    Message(N_("cost vs direct, {variant}"), variant), outcome.cost, "x"
                )
            )
    if not clashed:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.FIXES_NO_CLASH)
    elif not measured:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.FIXES_NOTHING_MEASURED)
    elif len(clean) == len(measured):
        verdict = Verdict.CONFIRMED
        why = Message(text.FIXES_ALL_CLEAN, {"count": len(measured)})
    elif clean:
        verdict = Verdict.DEPENDS
        failing = join([Message(o.variant.name) for o in measured if o not in clean], ", ")
        why = Message(
            text.FIXES_SOME_CLEAN,
            {"clean": len(clean), "measured": len(measured), "failing": failing},
        )
    else:
        verdict = Verdict.REFUTED
        why = Message(text.FIXES_NONE_CLEAN)
    halves = [o for o in outcomes if not o.variant.documented and o.run is not None]
    notes = [
        Message(
            text.FIXES_HALF,
            {
                "variant": Message(o.variant.name),
                "settings": Message(o.variant.settings),
                "failed": o.run.failures,
                "total": o.run.requests + o.run.failures,
            },
        )
        for o in halves
        if o.run is not None
    ]
    by_name = {o.variant.name: o for o in outcomes}
    asyncpg_only, sqlalchemy_only = by_name[ASYNCPG_CACHE_ONLY.name], by_name[SA_CACHE_ONLY.name]
    if (
        asyncpg_only.run is not None
        and sqlalchemy_only.run is not None
        and not asyncpg_only.run.failures
        and sqlalchemy_only.run.failures
    ):
        notes.append(Message(text.FIXES_HALF_WORKS, {"version": asyncpg.__version__}))
    notes += [
        Message(text.FIXES_MISSING, {"variant": Message(o.variant.name), "why": o.missing})
        for o in outcomes
        if o.missing
    ]
    priced = sorted(
        (o for o in outcomes if o.cost is not None and o.run is not None and not o.run.failures),
        key=lambda o: o.cost or 0.0,
    )
    if priced:
        costs = join(
            [
                Message(
                    text.FIXES_COST_ITEM,
                    {"variant": Message(o.variant.name), "cost": Quantity(o.cost or 0.0, "x")},
                )
                for o in priced
            ],
            ", ",
        )
        notes.insert(0, Message(text.FIXES_COSTS, {"costs": costs}))
    return Finding(
        key="scale.prepared-statement-fixes",
        headline=FIXES_HEADLINE,
        claim=FIXES_CLAIM,
        source=f"{SQLA_PGBOUNCER}; {SQLA_PREPARED_CACHE}; {ASYNCPG_FAQ}; {PGBOUNCER_CONFIG}",
        measurements=tuple(measurements),
        **verdict_fields(
            verdict,
            why,
            settle=_SETTLE,
            depends_on=("setting", N_("which fix")),
        ),
        explanation=sentences([why, *notes]),
    )
