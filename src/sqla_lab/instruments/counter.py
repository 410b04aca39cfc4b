"""Count the statements each session sends, with the engine listeners attached once.

:class:`StatementCounter` is the cheap sibling of :class:`~sqla_lab.QueryRecorder`
for code that runs a unit of work many times a second and needs only *how many* statements
each one sent, such as the demo service's ``sqla_lab_statements_per_request``::

    with StatementCounter(engine) as counter:          # for the life of the app
        ...
        async with sessionmaker() as session:
            with counter.session(session) as tally:    # per request
                await session.scalars(...)
            print(tally.count)

Code that holds the request's connection itself can skip the per-session listener: it hands
the counter the connection and a tally (``counter.watch(connection, tally)``, then
``counter.unwatch(connection)``), two dictionary operations per unit of work. The demo service
does that (:mod:`sqla_lab.service.sessions`).

A ``QueryRecorder`` per request adds and removes four event listeners every time and keeps the
SQL, timing and caller of each statement; ``benchmarks/service.py`` measured that at about
0.15 ms of CPU per request. The counter listens once, on the engine's *dialect* events
(``do_execute``, ``do_execute_no_params``, ``do_executemany``: called just before the driver
runs a statement, so a failing one counts too), and per session only on that session's
``after_begin`` (:func:`~sqla_lab.instruments._tap.follow_session`, shared with the statement
tap), which maps the connection the session begins on to its :class:`Tally`. A statement on a
connection no tracked session holds is not counted.

Why dialect events and not the statement tap's ``after_cursor_execute``: any connection-level
listener on an engine makes every ``Connection`` build a joined event dispatcher as it runs
(seven listener collections per ORM request in the demo service), which cost about 0.17 M
instructions per request under callgrind, 7% of the request; the dialect events cost one call
per statement. The counter needs no statement text, row count or timing, which is all the tap
adds. Why our own code: SQLAlchemy has the events but no counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from sqla_lab.instruments._core import (
    Instrument,
    InstrumentState,
    Listeners,
    sync_engine,
    sync_session,
)
from sqla_lab.instruments._tap import follow_session

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
        self._engine = sync_engine(engine)
        # Connection (the per-checkout wrapper, compared by identity) -> its session's tally.
        self._tallies: dict[Connection, Tally] = {}

    def _attach(self, listeners: Listeners) -> None:
        # Dialect events: returning None lets the dialect run the statement as usual.
        listeners.add(self._engine, "do_execute", self._on_execute)
        listeners.add(self._engine, "do_execute_no_params", self._on_execute_no_params)
        listeners.add(self._engine, "do_executemany", self._on_execute)

    def _detach(self) -> None:
        self._tallies.clear()

    @property
    def counting(self) -> bool:
        """Whether the block runs."""
        return self.state is InstrumentState.OPENED

    @contextmanager
    def session(self, session: Session | AsyncSession) -> Iterator[Tally]:
        """Count the statements ``session`` sends inside this block into the yielded tally."""
        if not self.counting:
            raise RuntimeError("enter the StatementCounter before tracking sessions")
        tally = Tally()
        mine: list[Connection] = []
        tallies = self._tallies

        def adopt(connection: Connection) -> None:
            tallies[connection] = tally
            mine.append(connection)

        listeners = Listeners()
        try:
            follow_session(sync_session(session), listeners, adopt)
            yield tally
        finally:
            listeners.remove_all()
            for connection in mine:
                if tallies.get(connection) is tally:
                    del tallies[connection]

    def watch(self, connection: Connection, tally: Tally) -> None:
        """Count the statements ``connection`` sends into ``tally`` until :meth:`unwatch`.

        For a caller that already holds the connection its unit of work runs on (say, from
        ``session.connection()``): no per-session listener is added or removed.
        """
        if not self.counting:
            raise RuntimeError("enter the StatementCounter before watching connections")
        self._tallies[connection] = tally

    def unwatch(self, connection: Connection) -> None:
        """Stop counting ``connection``'s statements (no error if it was not watched)."""
        self._tallies.pop(connection, None)

    # -- listeners -------------------------------------------------------------------------

    def _on_execute(self, cursor: Any, statement: str, parameters: Any, context: Any) -> None:
        tally = self._tallies.get(context.root_connection) if context is not None else None
        if tally is not None:
            tally.count += 1

    def _on_execute_no_params(self, cursor: Any, statement: str, context: Any) -> None:
        tally = self._tallies.get(context.root_connection) if context is not None else None
        if tally is not None:
            tally.count += 1

    def __repr__(self) -> str:
        state = "counting" if self.counting else "idle"
        url = self._engine.url.render_as_string(hide_password=True)
        return f"StatementCounter({url!r}, {state})"
