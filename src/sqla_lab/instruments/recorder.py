"""Record every SQL statement an engine, connection or session sends, with its caller.

:class:`QueryRecorder` is a context manager in the style of SQLAlchemy's own
``testing.assertsql.assert_engine``: on enter it attaches ``before_cursor_execute`` /
``after_cursor_execute`` / ``handle_error`` listeners, on exit it removes them in ``finally``
and freezes what it saw into a :class:`QueryLog`::

    with QueryRecorder(session) as recorder:
        users = (await session.scalars(select(UserEntity))).all()
        for user in users:
            await user.awaitable_attrs.posts
    assert recorder.count == 1 + len(users)
    print(recorder.log.format())

Each :class:`RecordedQuery` carries the SQL, the number of bound parameters, the rows the
database returned or changed, the duration and the ``file:line`` of the first caller outside
SQLAlchemy and sqla-lab (found by walking the stack, across the greenlet boundary SQLAlchemy's
asyncio layer puts between your coroutine and the driver call). :meth:`QueryLog.shapes`
groups statements that differ only in their parameters (``IN ($1, $2)`` and ``IN ($1)`` are
one shape), which is what an N+1 looks like in a log: one shape, many times.

A test harness's own savepoints (the pytest plugin's isolation of each test in an outer
transaction) are never recorded: see :func:`sqla_lab.instruments._tap.is_harness_statement`.

Why our own code: SQLAlchemy's ``assert_engine``/``CompiledSQL`` lives in its test suite
(not a public API) and records no rows, timings or callers; the maintained peers are
pytest-only counters. This module is the small piece that is missing; it uses nothing but
SQLAlchemy's public event API.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_scoped_session,
    async_sessionmaker,
)
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from sqla_lab.instruments._core import (
    DEFAULT_IGNORED_MODULES,
    CallerFinder,
    Instrument,
    Listeners,
    resolve,
)
from sqla_lab.instruments._tap import StatementTap, is_harness_statement

__all__ = [
    "QueryLog",
    "QueryRecorder",
    "RecordedQuery",
    "RecorderTarget",
    "StatementShape",
    "statement_shape",
]

RecorderTarget = (
    Engine
    | AsyncEngine
    | Connection
    | AsyncConnection
    | Session
    | AsyncSession
    | sessionmaker[Any]
    | async_sessionmaker[Any]
    | scoped_session[Any]
    | async_scoped_session[Any]
    | URL
)

# Bound parameters of every paramstyle PostgreSQL drivers use, with an optional cast.
_PARAMETER = re.compile(r"(\$\d+|%\(\w+\)s|%s|\?|(?<![:\w]):\w+)(::[\w ]+(\[\])?)?")
_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(\.\d+)?\b")
_PARAMETER_LIST = re.compile(r"\?(\s*,\s*\?)+")
_WHITESPACE = re.compile(r"\s+")


def statement_shape(sql: str) -> str:
    """Reduce ``sql`` to its shape: parameters and literals become ``?``, lists ``(?, ...)``."""
    shape = _WHITESPACE.sub(" ", sql).strip()
    shape = _PARAMETER.sub("?", shape)
    shape = _LITERAL.sub("?", shape)
    return _PARAMETER_LIST.sub("?, ...", shape)


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedQuery:
    """One statement as the driver ran it.

    Attributes:
        sql: the SQL text sent to the driver.
        parameter_count: bound parameters in the (first) parameter set.
        parameter_sets: how many parameter sets were sent (> 1 for ``executemany``).
        rows: rows returned (SELECT) or changed (DML) as the driver reports it; ``None``
            when the driver does not know (server-side cursors, failed statements).
        duration_ms: wall time from handing the statement to the driver until it returned.
        location: ``path:line`` of the first caller outside the ignored modules, or ``None``.
        error: the exception's class name when the statement failed.
    """

    sql: str
    parameter_count: int
    parameter_sets: int
    rows: int | None
    duration_ms: float
    location: str | None
    error: str | None = None

    @property
    def shape(self) -> str:
        """The statement with parameters and literals replaced (see :func:`statement_shape`)."""
        return statement_shape(self.sql)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "sql": self.sql,
            "parameter_count": self.parameter_count,
            "parameter_sets": self.parameter_sets,
            "rows": self.rows,
            "duration_ms": self.duration_ms,
            "location": self.location,
            "error": self.error,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class StatementShape:
    """Statements of one shape: how often they ran, how many rows, how long in total."""

    shape: str
    count: int
    rows: int
    total_ms: float
    locations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueryLog:
    """An immutable list of recorded statements with a few summaries."""

    queries: tuple[RecordedQuery, ...] = ()

    @property
    def count(self) -> int:
        """Number of statements."""
        return len(self.queries)

    @property
    def rows(self) -> int:
        """Rows returned or changed, summed over the statements that reported a count."""
        return sum(q.rows for q in self.queries if q.rows is not None and q.rows > 0)

    @property
    def total_ms(self) -> float:
        """Time spent in the driver, summed."""
        return sum(q.duration_ms for q in self.queries)

    def shapes(self) -> tuple[StatementShape, ...]:
        """Group by :attr:`RecordedQuery.shape`, most frequent first (ties: first seen)."""
        groups: dict[str, list[RecordedQuery]] = {}
        for query in self.queries:
            groups.setdefault(query.shape, []).append(query)
        summaries = [
            StatementShape(
                shape=shape,
                count=len(members),
                rows=sum(q.rows for q in members if q.rows is not None and q.rows > 0),
                total_ms=sum(q.duration_ms for q in members),
                locations=tuple(dict.fromkeys(q.location for q in members if q.location)),
            )
            for shape, members in groups.items()
        ]
        return tuple(sorted(summaries, key=lambda s: -s.count))

    def matching(self, pattern: str) -> tuple[RecordedQuery, ...]:
        """The statements whose SQL matches the regular expression ``pattern``."""
        compiled = re.compile(pattern, re.IGNORECASE)
        return tuple(q for q in self.queries if compiled.search(q.sql))

    def format(self, *, limit: int = 50) -> str:
        """A numbered, human-readable listing (used in assertion messages)."""
        lines = [f"{self.count} statement(s):"]
        for number, query in enumerate(self.queries[:limit], start=1):
            where = f"  [{query.location}]" if query.location else ""
            rows = "?" if query.rows is None else str(query.rows)
            sql = _WHITESPACE.sub(" ", query.sql).strip()
            lines.append(f"{number:>4}. {sql}  -- rows={rows} {query.duration_ms:.2f} ms{where}")
        if self.count > limit:
            lines.append(f"      ... {self.count - limit} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {"count": self.count, "queries": [q.to_dict() for q in self.queries]}


class QueryRecorder(Instrument):
    """Record the statements sent through ``target`` while the block runs.

    Args:
        target: an ``Engine``/``AsyncEngine`` (every statement on it), a ``Connection``/
            ``AsyncConnection`` (statements on that connection only), a ``Session``/
            ``AsyncSession`` (statements on the connections that session uses), or a session
            factory (``sessionmaker``, ``async_sessionmaker``, a scoped one: the statements
            of every session it makes, such as those a web request opens), or a ``URL``:
            every statement on that database, through any engine, including engines created
            during the block (an application under test that builds its own).
        ignored_modules: module prefixes skipped when looking for the caller's location.

    The recorder is usable as ``with`` or ``async with``; nothing in it awaits. While
    recording, :attr:`queries`, :attr:`count` and :attr:`log` are snapshots; after the block
    :attr:`log` is frozen and no listener is left behind.
    """

    def __init__(
        self,
        target: RecorderTarget,
        *,
        ignored_modules: Sequence[str] = DEFAULT_IGNORED_MODULES,
    ) -> None:
        self._target = resolve(target, what="QueryRecorder")
        # Bound once: called per statement.
        self._find_caller = CallerFinder(ignored_modules).find
        # Raw tuples while recording (a frozen dataclass per statement costs more than the
        # rest of the listener); turned into RecordedQuery objects when somebody looks.
        self._raw: list[tuple[str, int, int, int | None, float, str | None, str | None]] = []
        self._built: list[RecordedQuery] = []
        self._started: dict[int, float] = {}
        self._tap: StatementTap | None = None
        self._frozen: QueryLog | None = None

    # -- life cycle ------------------------------------------------------------------------

    def _attach(self, listeners: Listeners) -> None:
        self._tap = StatementTap(
            self._target, listeners, before=self._before, after=self._after, error=self._on_error
        )
        self._tap.open()

    def _detach(self) -> None:
        if self._tap is not None:
            self._tap.close()
        self._frozen = QueryLog(self._build())
        self._started.clear()

    # -- results ---------------------------------------------------------------------------

    @property
    def log(self) -> QueryLog:
        """The frozen log after the block; a snapshot while it runs."""
        return self._frozen if self._frozen is not None else QueryLog(self._build())

    @property
    def queries(self) -> tuple[RecordedQuery, ...]:
        """The statements recorded so far, in order."""
        return self.log.queries

    @property
    def count(self) -> int:
        """How many statements were recorded so far."""
        return len(self._raw)

    @property
    def recording(self) -> bool:
        """Whether the block is running."""
        return self._frozen is None and self._tap is not None

    def shapes(self) -> tuple[StatementShape, ...]:
        """Statements grouped by shape (see :meth:`QueryLog.shapes`)."""
        return self.log.shapes()

    def clear(self) -> None:
        """Forget what was recorded so far (only while recording)."""
        if not self.recording:
            raise RuntimeError("the log of a finished QueryRecorder is frozen")
        self._raw.clear()
        self._built.clear()

    # -- listeners -------------------------------------------------------------------------

    def _before(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> tuple[str, Any]:
        if not is_harness_statement(conn, context):
            self._started[id(context)] = time.perf_counter()
        return statement, parameters

    def _after(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        started = self._started.pop(id(context), None)
        if started is None:
            return
        rowcount = getattr(cursor, "rowcount", -1)
        self._record(statement, parameters, executemany, started, rowcount, None)

    def _on_error(self, exception_context: Any) -> None:
        started = self._started.pop(id(exception_context.execution_context), None)
        if started is None or exception_context.statement is None:
            return
        error = type(exception_context.original_exception).__name__
        self._record(
            exception_context.statement,
            exception_context.parameters,
            False,
            started,
            None,
            error,
        )

    def _record(
        self,
        statement: str,
        parameters: Any,
        executemany: bool,
        started: float,
        rowcount: int | None,
        error: str | None,
    ) -> None:
        duration_ms = (time.perf_counter() - started) * 1000.0
        if executemany and isinstance(parameters, (list, tuple)):
            parameter_sets = len(parameters)
            first = parameters[0] if parameters else ()
        else:
            parameter_sets = 1
            first = parameters
        self._raw.append(
            (
                statement,
                len(first) if first is not None else 0,
                parameter_sets,
                rowcount if rowcount is not None and rowcount >= 0 else None,
                duration_ms,
                self._find_caller(),
                error,
            )
        )

    def _build(self) -> tuple[RecordedQuery, ...]:
        for sql, count, sets, rows, duration_ms, location, error in self._raw[len(self._built) :]:
            self._built.append(
                RecordedQuery(
                    sql=sql,
                    parameter_count=count,
                    parameter_sets=sets,
                    rows=rows,
                    duration_ms=duration_ms,
                    location=location,
                    error=error,
                )
            )
        return tuple(self._built)
