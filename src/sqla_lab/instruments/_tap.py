"""One statement tap: where an instrument sees the SQL a target sends, for any consumer.

:class:`QueryRecorder` (every statement, with rows, timing and caller) and
:class:`StatementCounter` (how many, per session) consume the same observation: the cursor
events of the connections a target uses. The tap owns *where* to listen, the part both need
and neither should write twice:

* an engine: its ``before/after_cursor_execute``, for every connection;
* one connection: the same events on that connection only;
* a session: the connection it holds, and each one it begins on later (``after_begin``);
* a session factory: the connection of each of its sessions that begins on its engine.

Failed statements come through ``handle_error``, which SQLAlchemy 2.x keeps per engine (its
dialect): the consumer tells its own statements from others'.

Per connection, a consumer never sees (nor pays for) the statements of other sessions: with
one recorder per web request, N concurrent requests would otherwise call N recorders per
statement, and listening on the engine per request rewrites the engine's listener lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction

from sqla_lab.instruments._core import Listeners, Target

__all__ = [
    "CursorListener",
    "StatementTap",
    "follow_session",
]

CursorListener = Callable[[Connection, Any, str, Any, Any, bool], Any]


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
    elif session.in_transaction():
        # Already begun: its connection exists, so asking for it does no I/O.
        on_connection(session.connection())


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
