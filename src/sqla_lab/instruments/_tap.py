"""One statement tap: where an instrument sees the SQL a target sends, for any consumer.

:class:`QueryRecorder` (every statement, with rows, timing and caller) and
:class:`StatementCounter` (how many, per session) consume the same observation: the cursor
events of the connections a target uses. The tap owns *where* to listen, the part both need
and neither should write twice:

* an engine: its ``before/after_cursor_execute``, for every connection;
* one connection: the same events on that connection only;
* a session: the connection it holds, and each one it begins on later (``after_begin``);
* a session factory: the connection of each of its sessions that begins on its engine;
* a database (a ``URL``): every engine's events, class-wide (engines created during the block
  included), passed on only for the engines connected to that database.

Failed statements come through ``handle_error``, which SQLAlchemy 2.x keeps per engine (its
dialect): the consumer tells its own statements from others'.

Per connection, a consumer never sees (nor pays for) the statements of other sessions: with
one recorder per web request, N concurrent requests would otherwise call N recorders per
statement, and listening on the engine per request rewrites the engine's listener lists.

**A harness's savepoints are not the code's statements.** A test fixture that isolates each
test in an outer transaction ("join a session into an external transaction",
``join_transaction_mode="create_savepoint"``) turns every ``commit()`` of the code under test
into ``RELEASE SAVEPOINT`` + ``SAVEPOINT``, where production sends no statement at all (BEGIN
and COMMIT never pass the cursor events). :func:`harness_savepoints` marks such a connection
(an execution option, so the mark goes with the ``Connection`` object and nothing needs
cleaning up in the pool), and :func:`is_harness_statement` tells consumers which statements to
leave out: a ``SAVEPOINT`` begun directly in the outer transaction, and the ``RELEASE`` or
``ROLLBACK TO`` of one. Savepoints the code begins itself (``begin_nested()``) are nested one
level deeper and are counted, as they would be in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.elements import (
    ReleaseSavepointClause,
    RollbackToSavepointClause,
    SavepointClause,
)

from sqla_lab.instruments._core import DatabaseMatch, Listeners, Target

__all__ = [
    "HARNESS_SAVEPOINTS",
    "CursorListener",
    "StatementTap",
    "follow_session",
    "harness_savepoints",
    "held_connections",
    "is_harness_statement",
]

CursorListener = Callable[[Connection, Any, str, Any, Any, bool], Any]

#: The execution option that marks a harness's connection; its value is the set of the
#: names of the harness's own savepoints.
HARNESS_SAVEPOINTS = "sqla_lab_harness_savepoints"
# Compared by type, not isinstance(): SQLAlchemy's statement classes make isinstance() cost
# several hundred nanoseconds, and this runs for every statement an instrument sees.
_SAVEPOINT_STATEMENTS = frozenset(
    {SavepointClause, ReleaseSavepointClause, RollbackToSavepointClause}
)


def is_harness_statement(conn: Connection, context: Any) -> bool:
    """Whether the statement of ``context`` is a harness's savepoint (see the module doc)."""
    compiled = context.compiled
    if compiled is None:
        return False
    statement = compiled.statement
    kind = type(statement)
    if kind not in _SAVEPOINT_STATEMENTS:
        return False
    names = context.execution_options.get(HARNESS_SAVEPOINTS)
    if names is None:
        return False
    if kind is SavepointClause:
        # Sent while the savepoint is begun: the connection's innermost savepoint is still
        # the enclosing one, none for a savepoint directly in the outer transaction.
        return not conn.in_nested_transaction()
    return statement.ident in names


@contextmanager
def harness_savepoints(connection: Connection) -> Iterator[None]:
    """Mark the savepoints begun directly in ``connection``'s transaction as a harness's own.

    For the block, no instrument counts them (nor their ``RELEASE``/``ROLLBACK TO``).
    """
    names: set[str] = set()

    def remember(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        compiled = context.compiled
        if (
            compiled is not None
            and type(compiled.statement) is SavepointClause
            and not conn.in_nested_transaction()
        ):
            names.add(compiled.statement.ident)

    connection.execution_options(**{HARNESS_SAVEPOINTS: names})
    event.listen(connection, "after_cursor_execute", remember)
    try:
        yield
    finally:
        if event.contains(connection, "after_cursor_execute", remember):
            event.remove(connection, "after_cursor_execute", remember)


def follow_session(
    session: Session, listeners: Listeners, on_connection: Callable[[Connection], None]
) -> None:
    """Call ``on_connection`` with the connection ``session`` holds now and each it begins on."""

    def on_begin(_: Session, transaction: SessionTransaction, connection: Connection) -> None:
        on_connection(connection)

    listeners.add(session, "after_begin", on_begin)
    bind = session.bind
    if isinstance(bind, Connection):
        on_connection(bind)
        return
    for connection in held_connections(session):
        on_connection(connection)


def held_connections(session: Session) -> frozenset[Connection]:
    """The connections ``session``'s transaction holds now, without ever acquiring one.

    A session can be begun without a connection (``add()`` autobegins; the connection comes
    with the first statement): ``session.connection()`` would connect, which for an
    ``AsyncSession`` is I/O outside its greenlet (``MissingGreenlet``). SQLAlchemy 2.1.7 reads
    them with ``SessionTransaction.connections``; earlier 2.x keep the same map privately.
    """
    transaction = session.get_transaction()
    if transaction is None:
        return frozenset()
    connections = getattr(transaction, "connections", None)
    if connections is not None:
        return frozenset(connections)
    # SQLAlchemy < 2.1.7: the root transaction (what get_transaction() returns) keeps every
    # connection of the session, keyed by engine and by connection, in this map.
    held = transaction._connections
    return frozenset(entry[0] for entry in held.values())


class StatementTap:
    """Cursor events of a :class:`~sqla_lab.instruments._core.Target`, fed to one consumer.

    Args:
        target: what to watch.
        listeners: the owning instrument's listener set (removed with the instrument).
        after: called as ``after_cursor_execute`` for each statement.
        before: called as ``before_cursor_execute`` (attached with ``retval=True``: it must
            return ``(statement, parameters)``), if the consumer needs it.
        error: called as ``handle_error`` for failed statements on the engine.
    """

    __slots__ = ("_after", "_before", "_error", "_listened", "_listeners", "target")

    def __init__(
        self,
        target: Target,
        listeners: Listeners,
        *,
        after: CursorListener,
        before: CursorListener | None = None,
        error: Callable[[Any], None] | None = None,
    ) -> None:
        self.target = target
        self._listeners = listeners
        self._after = after
        self._before = before
        self._error = error
        self._listened: list[Engine | Connection] = []

    def open(self) -> None:
        """Attach to the target (through the instrument's listener set)."""
        target = self.target
        if target.database is not None:
            self._open_database(target.database)
            return
        assert target.engine is not None  # only a database target has none
        if self._error is not None:
            self._listeners.add(target.engine, "handle_error", self._error)
        if target.session is not None:
            follow_session(target.session, self._listeners, self.listen_on)
        elif target.session_class is not None:
            engine = target.engine

            def on_begin(session: Session, transaction: Any, connection: Connection) -> None:
                if connection.engine is engine:
                    self.listen_on(connection)

            self._listeners.add(target.session_class, "after_begin", on_begin)
        elif target.connection is not None:
            self.listen_on(target.connection)
        else:
            self.listen_on(target.engine)

    def _open_database(self, matches: DatabaseMatch) -> None:
        # Class-wide, so that engines created during the block are seen; each statement of
        # another database costs one dict lookup.
        after, before, error = self._after, self._before, self._error

        def after_on_database(conn: Connection, *rest: Any) -> None:
            if matches(conn.engine):
                after(conn, *rest)

        self._listeners.add(Engine, "after_cursor_execute", after_on_database)
        if before is not None:

            def before_on_database(
                conn: Connection,
                cursor: Any,
                statement: str,
                parameters: Any,
                context: Any,
                executemany: bool,
            ) -> Any:
                if matches(conn.engine):
                    return before(conn, cursor, statement, parameters, context, executemany)
                return statement, parameters

            self._listeners.add(Engine, "before_cursor_execute", before_on_database, retval=True)
        if error is not None:

            def error_on_database(context: Any) -> None:
                if context.engine is not None and matches(context.engine):
                    error(context)

            self._listeners.add(Engine, "handle_error", error_on_database)

    def listen_on(self, where: Engine | Connection) -> None:
        """Watch the cursor events of ``where`` too (once)."""
        if any(where is known for known in self._listened):
            return
        if self._before is not None:
            # retval=True: SQLAlchemy calls the listener as is instead of through a wrapper
            # that adds the (statement, parameters) return value.
            self._listeners.add(where, "before_cursor_execute", self._before, retval=True)
        self._listeners.add(where, "after_cursor_execute", self._after)
        self._listened.append(where)

    def close(self) -> None:
        """Forget the connections (the instrument removes the listeners)."""
        self._listened.clear()
        if self.target.database is not None:
            self.target.database.forget()
