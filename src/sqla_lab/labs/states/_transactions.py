"""Flush, commit and isolation: part of the ``states`` lab.

The seed: "flush: 세션에 추가된 Entity의 상태(CRUD)에 대한 모든 명령을 DB에 전달한다" (flush sends
every command to the database) and "commit: flush 통해 전달된 상태를 DB에 적용한다" (commit applies
what flush sent). Measured with a :class:`~sqla_lab.QueryRecorder` on the session (what SQL each
call sent), the engine's ``commit`` event, and a second connection that counts the row.

The seed repository's session notes list the isolation levels ("read commited, read
uncommited"); each level is run as a reader next to a writer, for the three read phenomena:
a dirty read (a row flushed, not committed), a non-repeatable read (a row updated and committed
in the middle of the reader's transaction) and a phantom (a row inserted and committed likewise).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from sqla_lab.database import Database
from sqla_lab.demo.models import UserEntity
from sqla_lab.instruments.recorder import QueryRecorder
from sqla_lab.lab.messages import N_, YES_NO, Message
from sqla_lab.lab.outcome import OK, attempt
from sqla_lab.lab.results import Cell, Finding, Measurement, Table, Verdict
from sqla_lab.lab.stats import decided
from sqla_lab.labs.states import _messages as words

__all__ = [
    "ISOLATION_LEVELS",
    "ISOLATION_SOURCE",
    "FlushCommit",
    "flush_commit",
    "flush_commit_finding",
    "isolation_finding",
    "isolation_levels",
]

ISOLATION_LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")
ISOLATION_SOURCE = (
    "seed repository (pai-jk/sqlalchemy-tutorial) tests/test_session.py: "
    "트랜잭션의 격리수준(isolation level)"
)
_SEED_SOURCE = "seed §3 orm Entity의 각 상태"


@dataclass(frozen=True, kw_only=True)
class FlushCommit:
    """What flush, commit and rollback did, and who could see the row after each."""

    flush_sql: tuple[str, ...]
    commit_sql: tuple[str, ...]
    commits: int
    own_after_flush: int
    other_after_flush: int
    other_after_commit: int
    other_after_rollback_flush: int
    rolled_back_kept: int


def _first_words(recorder: QueryRecorder) -> tuple[str, ...]:
    return tuple(q.sql.split()[0].upper() for q in recorder.queries)


async def _count(conn: AsyncConnection, name: str) -> int:
    stmt = select(func.count()).select_from(UserEntity).where(UserEntity.name == name)
    value = int((await conn.execute(stmt)).scalar_one())
    await conn.rollback()  # a fresh snapshot for the next look
    return value


async def flush_commit(db: Database, tag: str) -> FlushCommit:
    """Add a row, flush, look from outside, commit, look again; then flush and roll back."""
    maker = async_sessionmaker(db.engine, expire_on_commit=False)
    committed, rolled_back = f"{tag}-flushed", f"{tag}-rolled-back"
    commits = 0

    def count_commit(*args: Any) -> None:
        nonlocal commits
        commits += 1

    async with db.engine.connect() as other:
        async with maker() as session:
            # Recorder first: on a session that add() already began, but that holds no
            # connection yet, the recorder would ask for the connection synchronously.
            with QueryRecorder(session) as at_flush:
                session.add(UserEntity(name=committed))
                await session.flush()
            own = int(
                (
                    await session.execute(
                        select(func.count())
                        .select_from(UserEntity)
                        .where(UserEntity.name == committed)
                    )
                ).scalar_one()
            )
            other_after_flush = await _count(other, committed)
            event.listen(db.engine.sync_engine, "commit", count_commit)
            try:
                with QueryRecorder(session) as at_commit:
                    await session.commit()
            finally:
                event.remove(db.engine.sync_engine, "commit", count_commit)
        other_after_commit = await _count(other, committed)
        async with maker() as session:
            session.add(UserEntity(name=rolled_back))
            await session.flush()
            other_after_rollback_flush = await _count(other, rolled_back)
            await session.rollback()
        kept = await _count(other, rolled_back)
    async with db.engine.begin() as conn:
        await conn.execute(delete(UserEntity).where(UserEntity.name.in_([committed, rolled_back])))
    return FlushCommit(
        flush_sql=_first_words(at_flush),
        commit_sql=_first_words(at_commit),
        commits=commits,
        own_after_flush=own,
        other_after_flush=other_after_flush,
        other_after_commit=other_after_commit,
        other_after_rollback_flush=other_after_rollback_flush,
        rolled_back_kept=kept,
    )


def _sql(words_sent: tuple[str, ...], *, commits: int = 0) -> str:
    sent = [*words_sent, *(["COMMIT"] * commits)]
    return ", ".join(sent) if sent else "no statement"


def flush_commit_finding(result: FlushCommit, versions: Mapping[str, str]) -> Finding:
    """``states.flush-commit``: flush sends the SQL, commit applies it."""
    sends = "INSERT" in result.flush_sql and "INSERT" not in result.commit_sql
    applies = (
        result.own_after_flush == 1
        and result.other_after_flush == 0
        and result.other_after_commit == 1
        and result.commits == 1
    )
    undone = result.other_after_rollback_flush == 0 and result.rolled_back_kept == 0
    yes_no = YES_NO
    return Finding(
        key="states.flush-commit",
        headline=N_("flush sends, commit applies"),
        deciding="row seen by another connection after flush",
        claim=(
            N_(
                "flush() sends the session's changes to the database; commit() applies them, and "
                "only then do other connections see them."
            )
        ),
        source=_SEED_SOURCE,
        quote=(
            "flush : session에 추가된 Entity의 상태(CRUD)에 대한 모든 명령을 DB에 전달한다. / "
            "commit: flush 통해 전달된 상태를 DB에 적용한다."
        ),
        measurements=(
            Measurement.single(N_("statements sent by flush()"), len(result.flush_sql), ""),
            Measurement.single(N_("statements sent by commit()"), len(result.commit_sql), ""),
            Measurement.single(
                N_("row seen by the session after flush"), result.own_after_flush, ""
            ),
            Measurement.single(
                N_("row seen by another connection after flush"), result.other_after_flush, ""
            ),
            Measurement.single(
                N_("row seen by another connection after commit"), result.other_after_commit, ""
            ),
            Measurement.single(N_("flushed row kept after rollback"), result.rolled_back_kept, ""),
        ),
        explanation=Message(
            words.FLUSH_COMMIT,
            {
                "flush_sql": _sql(result.flush_sql),
                "own_after_flush": yes_no[result.own_after_flush == 1],
                "other_after_flush": yes_no[result.other_after_flush == 1],
                "commit_sql": _sql(result.commit_sql, commits=result.commits),
                "other_after_commit": yes_no[result.other_after_commit == 1],
                "other_after_rollback": yes_no[result.other_after_rollback_flush == 1],
                "rolled_back_kept": yes_no[result.rolled_back_kept == 1],
            },
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if sends and applies and undone else Verdict.REFUTED,
            Message(words.DECIDED_BY_THE_SQL_EACH_CALL),
        ).fields(),
    )


async def _isolation_row(engine: AsyncEngine, level: str, tag: str) -> tuple[Cell, ...]:
    slug = level.lower().replace(" ", "-")
    base = f"{tag}-iso-{slug}"
    async with engine.connect() as writer, engine.connect() as plain_reader:
        seeded = await writer.execute(
            insert(UserEntity).values(name=f"{base}-v1").returning(UserEntity.id)
        )
        row_id = int(seeded.scalar_one())
        await writer.commit()
        reader = plain_reader
        async with reader.begin():
            # Set on the server, as the transaction's first statement: SQLAlchemy's
            # isolation_level option refuses READ UNCOMMITTED for PostgreSQL altogether.
            await reader.execute(text(f"SET TRANSACTION ISOLATION LEVEL {level}"))
            reported = str((await reader.execute(text("SHOW transaction_isolation"))).scalar_one())
            name_before = (
                await reader.execute(select(UserEntity.name).where(UserEntity.id == row_id))
            ).scalar_one()
            phantoms_before = await _like(reader, f"{base}-phantom%")
            await writer.execute(insert(UserEntity).values(name=f"{base}-dirty"))
            dirty = await _like(reader, f"{base}-dirty") > 0
            await writer.rollback()
            await writer.execute(
                update(UserEntity).where(UserEntity.id == row_id).values(name=f"{base}-v2")
            )
            await writer.commit()
            name_after = (
                await reader.execute(select(UserEntity.name).where(UserEntity.id == row_id))
            ).scalar_one()
            await writer.execute(insert(UserEntity).values(name=f"{base}-phantom-1"))
            await writer.commit()
            phantom = await _like(reader, f"{base}-phantom%") != phantoms_before
        await writer.execute(delete(UserEntity).where(UserEntity.name.like(f"{base}%")))
        await writer.commit()
    return (level, reported, dirty, name_before != name_after, phantom)


async def _like(conn: AsyncConnection, pattern: str) -> int:
    stmt = select(func.count()).select_from(UserEntity).where(UserEntity.name.like(pattern))
    return int((await conn.execute(stmt)).scalar_one())


async def _sqlalchemy_option(engine: AsyncEngine, level: str) -> str:
    """What SQLAlchemy's ``isolation_level`` execution option does with ``level``."""

    async def use() -> None:
        async with engine.connect() as conn:
            chosen = await conn.execution_options(isolation_level=level)
            await chosen.execute(text("SELECT 1"))

    return (await attempt(use)).describe()


async def isolation_levels(db: Database, tag: str) -> Table:
    """The read phenomena each isolation level allows here, as a table."""
    rows = [
        (
            *await _isolation_row(db.engine, level, f"{tag}-{uuid.uuid4().hex[:6]}"),
            await _sqlalchemy_option(db.engine, level),
        )
        for level in ISOLATION_LEVELS
    ]
    return Table(
        key="states.isolation",
        title=N_("What a reader sees while a writer works, per isolation level"),
        columns=(
            N_("isolation level"),
            N_("server reports"),
            N_("dirty read"),
            N_("non-repeatable read"),
            N_("phantom"),
            N_("SQLAlchemy isolation_level option"),
        ),
        rows=tuple(rows),
    )


def isolation_finding(table: Table, versions: Mapping[str, str]) -> Finding:
    """``states.isolation-levels``: READ UNCOMMITTED and dirty reads."""
    rows = {str(row[0]): row for row in table.rows}
    uncommitted = rows["READ UNCOMMITTED"]
    dirty = bool(uncommitted[2])
    levels = tuple(
        Message(
            words.ISOLATION_LEVEL,
            {
                "level": str(row[0]),
                "dirty": YES_NO[bool(row[2])],
                "non_repeatable": YES_NO[bool(row[3])],
                "phantom": YES_NO[bool(row[4])],
            },
        )
        for row in table.rows
    )
    committed = rows["READ COMMITTED"]
    same_as_committed = tuple(uncommitted[2:5]) == tuple(committed[2:5])
    explanation = Message(
        words.ISOLATION,
        {
            "levels": levels,
            "reported": str(uncommitted[1]),
            "dirty": YES_NO[dirty],
            "option": str(uncommitted[5]),
        },
    )
    return Finding(
        key="states.isolation-levels",
        headline=N_("READ UNCOMMITTED allows dirty reads"),
        deciding="dirty read under READ UNCOMMITTED",
        claim=(
            N_(
                "READ UNCOMMITTED lets a transaction read rows another transaction has not "
                "committed (a dirty read); READ COMMITTED does not."
            )
        ),
        source=ISOLATION_SOURCE,
        quote="트랜잭션의 격리수준(isolation level) - read commited - read uncommited",
        measurements=(
            Measurement.single(N_("dirty read under READ UNCOMMITTED"), float(dirty), "bool"),
            Measurement.single(
                N_("READ UNCOMMITTED behaves as READ COMMITTED"), float(same_as_committed), "bool"
            ),
            Measurement.single(
                N_("SQLAlchemy accepts isolation_level='READ UNCOMMITTED'"),
                float(uncommitted[5] == OK),
                "bool",
            ),
            *(
                Measurement.single(
                    Message(N_("dirty reads, {isolation}"), {"isolation": row[0]}),
                    float(bool(row[2])),
                    "bool",
                )
                for row in table.rows
                if row[0] != "READ UNCOMMITTED"
            ),
        ),
        explanation=explanation,
        versions=versions,
        **decided(
            Verdict.CONFIRMED if dirty and not committed[2] else Verdict.REFUTED,
            levels[ISOLATION_LEVELS.index("READ UNCOMMITTED")],
        ).fields(),
    )
