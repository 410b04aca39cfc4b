"""The ``states`` lab: an ORM object's journey through the session state machine, measured.

Seed, section 3, lists five states and the call that leads to each: ``add`` -> pending,
``flush`` -> persistent, ``commit`` -> "expired", ``refresh`` -> detached. Here every step of
that journey is run on a real session, for ``expire_on_commit=True`` and ``False``, and the
full state vector is read from ``sqlalchemy.inspect(obj)`` after each step, while a
:class:`~sqla_lab.StateTracer` records which lifecycle events fired. The
findings compare the seed's words with that vector. Further experiments: delete, expunge,
merge and make_transient; what async code raises when it touches an expired attribute or a
detached relationship, and the fixes; and the stale read ``expire_on_commit=False`` buys.
"""

from __future__ import annotations

import gc
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import delete, inspect
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import make_transient

from sqla_lab.database import Database
from sqla_lab.demo.models import UserEntity
from sqla_lab.instruments.states import StateTracer
from sqla_lab.lab import LabContext, LabOutput, lab
from sqla_lab.lab.messages import N_, Message, join
from sqla_lab.lab.outcome import warning_names
from sqla_lab.lab.results import Cell, Chart, Dependency, Finding, Measurement, Table, Verdict
from sqla_lab.lab.stats import decided
from sqla_lab.labs.states import _messages as words
from sqla_lab.labs.states._attribute_access import (
    DOCS_SOURCE,
    SEED_SOURCE,
    access_findings,
    async_access,
    stale_finding,
    stale_read,
)
from sqla_lab.labs.states._transactions import (
    flush_commit,
    flush_commit_finding,
    isolation_finding,
    isolation_levels,
)

__all__ = [
    "ACCESS_TABLE",
    "DOCUMENTED_STATES",
    "JOURNEY",
    "LAB_TITLE",
    "OPERATIONS_TABLE",
    "STATE_FLAGS",
    "STATE_TABLE",
    "state_vector",
    "states_lab",
]

#: The flags read after every step. ``expired`` means some column attribute is expired (its
#: next read would emit a SELECT); a relationship that was simply never loaded does not count.
STATE_FLAGS = ("transient", "pending", "persistent", "deleted", "detached", "expired")
JOURNEY = ("new", "add", "flush", "commit", "refresh", "close")
STATE_TABLE = "states.state-table"
OPERATIONS_TABLE = "states.operations"
ACCESS_TABLE = "states.async-access"


def state_vector(instance: object) -> dict[str, bool]:
    """Every state flag of ``instance`` as SQLAlchemy reports it right now."""
    state = inspect(instance)
    return {
        "transient": state.transient,
        "pending": state.pending,
        "persistent": state.persistent,
        "deleted": state.deleted,
        "detached": state.detached,
        "expired": bool(state.expired_attributes & set(state.mapper.column_attrs.keys())),
    }


def _row(prefix: tuple[Cell, ...], instance: object, events: str) -> tuple[Cell, ...]:
    flags = state_vector(instance)
    return (*prefix, *(flags[name] for name in STATE_FLAGS), events)


#: The claim the lab tests, as ``sqla-lab list`` and the report title it.
LAB_TITLE = N_("An ORM object goes transient -> pending -> persistent -> expired -> detached.")


@lab("states", title=LAB_TITLE)
async def states_lab(ctx: LabContext) -> LabOutput:
    """An ORM object goes transient -> pending -> persistent -> expired -> detached."""
    db = ctx.database()
    tag = f"states-lab-{uuid.uuid4().hex[:8]}"
    ctx.progress.start(N_("states: journey, operations, async access, transactions"), 6)
    try:
        await db.create_schema(UserEntity.metadata)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            journey_rows = [
                row
                for expire in (True, False)
                for row in await _journey(db, expire_on_commit=expire, tag=tag)
            ]
            ctx.progress.advance()
            operation_rows = await _operations(db, tag)
            ctx.progress.advance()
            access_rows = await async_access(db, tag)
            ctx.progress.advance()
            stale = await stale_read(db, tag)
            ctx.progress.advance()
            flushed = await flush_commit(db, tag)
            ctx.progress.advance()
            isolation = await isolation_levels(db, tag)
            ctx.progress.advance()
        async with db.session() as session:
            await session.execute(delete(UserEntity).where(UserEntity.name.startswith(tag)))
    finally:
        await db.dispose()

    state_table = Table(
        key=STATE_TABLE,
        title=N_("State flags after each step of the seed's journey (inspect(obj))"),
        columns=(N_("expire_on_commit"), N_("step"), *STATE_FLAGS, N_("events")),
        rows=tuple(journey_rows),
    )
    operations_table = Table(
        key=OPERATIONS_TABLE,
        title=N_("delete, expunge, merge, make_transient: state flags after each call"),
        columns=(N_("operation"), N_("step"), *STATE_FLAGS, N_("events (any object)")),
        rows=tuple(operation_rows),
    )
    access_table = Table(
        key=ACCESS_TABLE,
        title=N_("Touching attributes from async code: what raises and what fixes it"),
        columns=(N_("case"), N_("access"), N_("outcome")),
        rows=tuple(access_rows),
    )
    stray = warning_names(caught)
    versions = ctx.versions("sqlalchemy")
    return LabOutput(
        findings=(
            _journey_finding(state_table, versions),
            _commit_finding(state_table, versions),
            _refresh_finding(state_table, versions),
            _operations_finding(operations_table, versions),
            *access_findings(access_table, stray, versions),
            stale_finding(stale, versions),
            flush_commit_finding(flushed, ctx.versions("postgresql", "sqlalchemy", "asyncpg")),
            isolation_finding(isolation, ctx.versions("postgresql")),
        ),
        tables=(state_table, operations_table, access_table, isolation),
        charts=(
            Chart(key="states.state-grid", title=state_table.title, kind="grid", table=STATE_TABLE),
            Chart(
                key="states.operations-grid",
                title=operations_table.title,
                kind="grid",
                table=OPERATIONS_TABLE,
            ),
        ),
    )


async def _journey(db: Database, *, expire_on_commit: bool, tag: str) -> list[tuple[Cell, ...]]:
    maker = async_sessionmaker(db.engine, expire_on_commit=expire_on_commit)
    rows: list[tuple[Cell, ...]] = []
    async with maker() as session:
        with StateTracer(session) as tracer:
            steps: dict[str, Callable[[], Awaitable[Any]]] = {
                "add": _sync(lambda: session.add(user)),
                "flush": session.flush,
                "commit": session.commit,
                "refresh": lambda: session.refresh(user),
                "close": session.close,
            }
            tracer.mark("new")
            user = UserEntity(name=f"{tag}-journey")
            for step in JOURNEY:
                if step != "new":
                    tracer.mark(step)
                    await steps[step]()
                events = ", ".join(s.event for s in tracer.steps if s.phase == step)
                rows.append(_row((expire_on_commit, step), user, events))
    return rows


def _sync(action: Callable[[], object]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        action()

    return run


async def _operations(db: Database, tag: str) -> list[tuple[Cell, ...]]:
    rows: list[tuple[Cell, ...]] = []
    for expire in (True, False):
        rows.extend(await _delete_journey(db, tag, expire_on_commit=expire))
    maker = async_sessionmaker(db.engine, expire_on_commit=False)
    async with maker() as session:
        with StateTracer(session) as tracer:
            recorder = _StepRecorder(tracer, rows)
            kept = UserEntity(name=f"{tag}-kept")
            session.add(kept)
            await session.commit()
            await recorder.run("expunge", kept, {"expunge": _sync(lambda: session.expunge(kept))})
            merged: list[UserEntity] = []

            async def merge() -> None:
                merged.append(await session.merge(kept))

            await recorder.run("merge (given object)", kept, {"merge": merge})
            rows.append(_row(("merge (returned copy)", "merge"), merged[0], ""))
            await recorder.run(
                "make_transient", kept, {"make_transient": _sync(lambda: make_transient(kept))}
            )
            fresh = UserEntity(name=f"{tag}-fresh")
            session.add(fresh)
            await recorder.run(
                "expunge (pending)", fresh, {"expunge": _sync(lambda: session.expunge(fresh))}
            )
            await session.rollback()
    return rows


async def _delete_journey(
    db: Database, tag: str, *, expire_on_commit: bool
) -> list[tuple[Cell, ...]]:
    rows: list[tuple[Cell, ...]] = []
    operation = f"delete, expire_on_commit={expire_on_commit}"
    doomed = UserEntity(name=f"{tag}-doomed")
    await _delete_in_session(db, doomed, rows, operation, expire_on_commit=expire_on_commit)
    # The state flags are read through the session registry: only once the closed session is
    # collected does nothing hold the object any more.
    gc.collect()
    rows.append(_row((operation, "session collected"), doomed, ""))
    return rows


async def _delete_in_session(
    db: Database,
    doomed: UserEntity,
    rows: list[tuple[Cell, ...]],
    operation: str,
    *,
    expire_on_commit: bool,
) -> None:
    maker = async_sessionmaker(db.engine, expire_on_commit=expire_on_commit)
    async with maker() as session:
        session.add(doomed)
        await session.commit()
        with StateTracer(session) as tracer:
            await _StepRecorder(tracer, rows).run(
                operation,
                doomed,
                {
                    "delete": lambda: session.delete(doomed),
                    "flush": session.flush,
                    "commit": session.commit,
                    "close": session.close,
                },
            )


class _StepRecorder:
    """Runs named steps on one object and appends its state vector after each."""

    def __init__(self, tracer: StateTracer, rows: list[tuple[Cell, ...]]) -> None:
        self._tracer = tracer
        self._rows = rows

    async def run(
        self, operation: str, instance: object, steps: dict[str, Callable[[], Awaitable[Any]]]
    ) -> None:
        for step, action in steps.items():
            phase = f"{operation}:{step}"
            self._tracer.mark(phase)
            await action()
            events = ", ".join(s.event for s in self._tracer.steps if s.phase == phase)
            self._rows.append(_row((operation, step), instance, events))


def _cell(table: Table, expire: bool, step: str, flag: str) -> bool:
    index = table.columns.index(flag)
    for row in table.rows:
        if row[0] is expire and row[1] == step:
            return bool(row[index])
    raise KeyError((expire, step, flag))


def _true_flags(table: Table, expire: bool, step: str) -> list[str]:
    return [f for f in STATE_FLAGS if _cell(table, expire, step, f)]


def _journey_finding(table: Table, versions: Mapping[str, str]) -> Finding:
    expected = {"new": "transient", "add": "pending", "flush": "persistent"}
    measured = {
        (expire, step): _true_flags(table, expire, step)
        for expire in (True, False)
        for step in expected
    }
    matches = sum(flags == [expected[step]] for (_, step), flags in measured.items())
    described = tuple(
        Message(
            words.JOURNEY_STEP,
            {"step": step, "flags": ", ".join(measured[(True, step)]) or Message(words.NO_FLAG)},
        )
        for step in expected
    )
    return Finding(
        key="states.journey",
        headline=N_("transient, pending, persistent as the seed"),
        deciding="steps matching the seed",
        claim=N_("new -> transient, add() -> pending, flush() -> persistent."),
        source=SEED_SOURCE,
        quote=(
            "transient: 세션에 추가되지 않은 상태 / pending: 세션에 추가된 상태 / persistent: flush"
        ),
        measurements=(Measurement.single(N_("steps matching the seed"), matches, "of 6"),),
        explanation=Message(words.JOURNEY, {"matches": matches, "described": described}),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if matches == len(measured) else Verdict.REFUTED,
            Message(words.DECIDED_BY_THE_STATE_FLAGS_INSPECT),
        ).fields(),
    )


def _commit_finding(table: Table, versions: Mapping[str, str]) -> Finding:
    expired = {e: _cell(table, e, "commit", "expired") for e in (True, False)}
    persistent = {e: _cell(table, e, "commit", "persistent") for e in (True, False)}
    still_persistent = all(persistent.values())
    explanation = join(
        [
            Message(
                words.COMMIT_EXPIRED,
                {
                    "expired_true": expired[True],
                    "expired_false": expired[False],
                    "persistent_true": persistent[True],
                    "persistent_false": persistent[False],
                },
            ),
            Message(words.COMMIT_STAYS if still_persistent else words.COMMIT_LEFT),
        ]
    )
    return Finding(
        key="states.commit-expired",
        headline=N_("commit() makes the object 'expired'"),
        deciding="persistent after commit (both settings)",
        claim=N_("commit() moves the object into a fifth state, 'expired'."),
        source=SEED_SOURCE,
        quote=(
            "4. expired : 변경이 적용된 Entity에 대한 상태를 보장할 수 없는 상태 (session.commit())"
        ),
        measurements=(
            Measurement.single(
                N_("expired after commit (expire_on_commit=True)"), expired[True], ""
            ),
            Measurement.single(
                N_("expired after commit (expire_on_commit=False)"), expired[False], ""
            ),
            Measurement.single(N_("persistent after commit (both settings)"), still_persistent, ""),
        ),
        explanation=explanation,
        versions=versions,
        **decided(
            Verdict.REFUTED if still_persistent else Verdict.CONFIRMED,
            Message(words.DECIDED_BY_THE_STATE_FLAGS_AFTER),
        ).fields(),
    )


def _refresh_finding(table: Table, versions: Mapping[str, str]) -> Finding:
    detached = {e: _cell(table, e, "refresh", "detached") for e in (True, False)}
    after_refresh = ", ".join(_true_flags(table, True, "refresh"))
    after_close = ", ".join(_true_flags(table, True, "close"))
    verdict = Verdict.CONFIRMED if all(detached.values()) else Verdict.REFUTED
    values = {"after_refresh": after_refresh, "after_close": after_close}
    return Finding(
        key="states.refresh-detached",
        headline=N_("refresh() detaches the object"),
        deciding="detached after refresh (expire_on_commit=True)",
        claim=N_("session.refresh(obj) detaches the object (it is 'out of the session')."),
        source=SEED_SOURCE,
        quote="5. detached : 세션 아웃 (session.refresh(given_user0))",
        measurements=(
            Measurement.single(
                N_("detached after refresh (expire_on_commit=True)"), detached[True], ""
            ),
            Measurement.single(
                N_("detached after refresh (expire_on_commit=False)"), detached[False], ""
            ),
            Measurement.single(
                N_("detached after close"), _cell(table, True, "close", "detached"), ""
            ),
        ),
        explanation=Message(
            words.REFRESH_KEEPS if verdict is Verdict.REFUTED else words.REFRESH_DETACHES, values
        ),
        versions=versions,
        **decided(verdict, Message(words.DECIDED_BY_THE_DETACHED_FLAG_AFTER)).fields(),
    )


#: What SQLAlchemy's docs say each operation leaves behind: (operation, step) -> state.
DOCUMENTED_STATES = {
    **{
        (f"delete, expire_on_commit={expire}", step): state
        for expire in (True, False)
        for step, state in (
            ("delete", "persistent"),
            ("flush", "deleted"),
            ("commit", "detached"),
            ("close", "detached"),
            ("session collected", "detached"),
        )
    },
    ("expunge", "expunge"): "detached",
    ("merge (given object)", "merge"): "detached",
    ("merge (returned copy)", "merge"): "persistent",
    ("make_transient", "make_transient"): "transient",
    ("expunge (pending)", "expunge"): "transient",
}


def _flags_of(table: Table, operation: str, step: str) -> str:
    for row in table.rows:
        if row[0] == operation and row[1] == step:
            flags = [f for f in STATE_FLAGS if row[table.columns.index(f)]]
            return ", ".join(flags) or "no flag"
    raise KeyError((operation, step))


def _operations_finding(table: Table, versions: Mapping[str, str]) -> Finding:
    mismatches: list[tuple[str, Message]] = []
    for row in table.rows:
        expected = DOCUMENTED_STATES[(str(row[0]), str(row[1]))]
        flags = [f for f in STATE_FLAGS if f != "expired" and row[table.columns.index(f)]]
        if flags != [expected]:
            mismatches.append(
                (
                    str(row[0]),
                    Message(
                        words.OPERATIONS_MISMATCH,
                        {
                            "operation": str(row[0]),
                            "step": str(row[1]),
                            "expected": expected,
                            "measured": ", ".join(flags) or Message(words.NO_FLAG),
                        },
                    ),
                )
            )
    only_without_expiry = bool(mismatches) and all(
        operation.endswith("expire_on_commit=False") for operation, _ in mismatches
    )
    depends_on: tuple[Dependency, ...] = ()
    if not mismatches:
        verdict = Verdict.CONFIRMED
        explanation = Message(words.OPERATIONS_ALL, {"steps": len(table.rows)})
    else:
        verdict = Verdict.DEPENDS if only_without_expiry else Verdict.REFUTED
        differ = Message(words.OPERATIONS_DIFFER, {"mismatches": tuple(m for _, m in mismatches)})
        parts: list[Message] = [differ]
        if only_without_expiry:
            parts.append(
                Message(
                    words.OPERATIONS_ONLY_WITHOUT_EXPIRY,
                    {
                        "after_close": _flags_of(table, "delete, expire_on_commit=False", "close"),
                        "after_collect": _flags_of(
                            table, "delete, expire_on_commit=False", "session collected"
                        ),
                    },
                )
            )
            depends_on = (Dependency(on="setting", name=N_("expire_on_commit"), detail=differ),)
        explanation = join(parts, "")
    return Finding(
        key="states.operations",
        headline=N_("delete, expunge, merge, make_transient"),
        deciding="steps as documented",
        claim=N_(
            "delete() takes effect at flush (deleted) and commit (detached); expunge() detaches "
            "(or makes a pending object transient); merge() returns a persistent copy and "
            "leaves its argument detached; make_transient() makes an object transient."
        ),
        source=DOCS_SOURCE,
        measurements=(
            Measurement.single(N_("steps as documented"), len(table.rows) - len(mismatches), ""),
            Measurement.single(N_("steps measured"), len(table.rows), ""),
        ),
        explanation=explanation,
        versions=versions,
        **decided(verdict, Message(words.DECIDED_BY_THE_STATE_FLAGS_AFTER_2)).fields(
            depends_on=depends_on
        ),
    )
