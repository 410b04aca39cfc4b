"""Count the statements each session sends, with the engine listeners attached once.

:class:`StatementCounter` is the cheap sibling of :class:`~sqla_lab.query_recorder.QueryRecorder`
for code that runs a unit of work many times a second and needs only *how many* statements
each one sent, such as the demo service's ``sqla_lab_statements_per_request``::

    with StatementCounter(engine) as counter:          # for the life of the app
        ...
        async with sessionmaker() as session:
            with counter.session(session) as tally:    # per request
                await session.scalars(...)
            print(tally.count)

A ``QueryRecorder`` per request adds and removes four event listeners every time and keeps the
SQL, timing and caller of each statement; ``benchmarks/service.py`` measured that at about
0.15 ms of CPU per request. The counter listens on the engine once (``after_cursor_execute``
and ``handle_error``), and per session only on that session's ``after_begin``, which maps the
connection the session begins on to its :class:`Tally`. A statement on a connection no tracked
session holds is not counted. Why our own code: SQLAlchemy has the events but no counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from sqla_lab._instrument import Instrument

__all__ = ["StatementCounter", "Tally"]


class Tally:
    """How many statements one tracked session sent (failed ones included)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __repr__(self) -> str:
        return f"Tally(count={self.count})"


class StatementCounter(Instrument):
    """Count statements per session on ``engine`` while the block runs.

    Args:
        engine: the ``Engine`` or ``AsyncEngine`` the sessions are bound to.
    """

    def __init__(self, engine: Engine | AsyncEngine) -> None:
        self._engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        # Connection (the per-checkout wrapper, compared by identity) -> its session's tally.
        self._tallies: dict[Connection, Tally] = {}
        self._active = False

    def __enter__(self) -> Self:
        if self._active:
            raise RuntimeError("this StatementCounter is already counting")
        event.listen(self._engine, "after_cursor_execute", self._after)
        event.listen(self._engine, "handle_error", self._on_error)
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            event.remove(self._engine, "after_cursor_execute", self._after)
            event.remove(self._engine, "handle_error", self._on_error)
        finally:
            self._active = False
            self._tallies.clear()

    @property
    def counting(self) -> bool:
        """Whether the block runs."""
        return self._active

    @contextmanager
    def session(self, session: Session | AsyncSession) -> Iterator[Tally]:
        """Count the statements ``session`` sends inside this block into the yielded tally."""
        if not self._active:
            raise RuntimeError("enter the StatementCounter before tracking sessions")
        sync_session = session.sync_session if isinstance(session, AsyncSession) else session
        tally = Tally()
        mine: list[Connection] = []

        def adopt(connection: Connection) -> None:
            self._tallies[connection] = tally
            mine.append(connection)

        def on_begin(_: Session, transaction: SessionTransaction, connection: Connection) -> None:
            adopt(connection)

        event.listen(sync_session, "after_begin", on_begin)
        try:
            bind = sync_session.bind
            if isinstance(bind, Connection):
                adopt(bind)
            elif sync_session.in_transaction():
                # Already begun: its connection exists, so asking for it does no I/O.
                adopt(sync_session.connection())
            yield tally
        finally:
            event.remove(sync_session, "after_begin", on_begin)
            for connection in mine:
                if self._tallies.get(connection) is tally:
                    del self._tallies[connection]

    # -- listeners -------------------------------------------------------------------------

    def _after(self, conn: Connection, *args: Any) -> None:
        tally = self._tallies.get(conn)
        if tally is not None:
            tally.count += 1

    def _on_error(self, context: Any) -> None:
        if context.statement is None or context.connection is None:
            return
        tally = self._tallies.get(context.connection)
        if tally is not None:
            tally.count += 1

    def __repr__(self) -> str:
        state = "counting" if self._active else "idle"
        url = self._engine.url.render_as_string(hide_password=True)
        return f"StatementCounter({url!r}, {state})"
