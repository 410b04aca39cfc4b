"""One unit of work per request: a session, one greenlet, a deadline and a statement count.

A route hands :class:`RequestSessions` a plain (synchronous) function of a
:class:`~sqlalchemy.orm.Session`; ``read`` or ``write`` runs it on a fresh session through
``AsyncSession.run_sync``, so the whole unit of work (checkout, statements, loading the
entities, building the response model, commit, close) crosses into SQLAlchemy's greenlet
once. What each choice saves was measured, with the ``request`` lab and
``benchmarks/service.py`` (docs/service.md):

* the session is opened here, by the route, not by a FastAPI dependency with ``yield``
  (FastAPI runs those in an exit stack of their own), and no ``dependency_overrides`` are
  needed to swap it (any override makes FastAPI re-inspect every dependency on every request);
* one greenlet per request instead of one per awaited call (``scalars``, ``close``, ...);
* the session is closed inside that greenlet on success. ``async with AsyncSession`` would
  close it in a new task behind ``asyncio.shield``; that protection matters when the close
  can be interrupted, so on any failure or cancellation the session is closed that way
  (:func:`_close_to_completion`, as SQLAlchemy does);
* reads run on the engine's default DBAPI autocommit (set once per connection at connect,
  see :mod:`sqla_lab.service.app`), not via per-request execution options; writes ask for a
  ``READ COMMITTED`` transaction, which SQLAlchemy resets when the connection is returned.

Every unit of work has a deadline (``request_timeout``): ``asyncio.timeout`` around it, so a
half-open connection cannot hold a request forever. Cancelling a statement makes SQLAlchemy
invalidate its connection (it is closed, never returned to the pool).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from sqla_lab.database import Database
from sqla_lab.instruments.counter import StatementCounter, Tally
from sqla_lab.service.errors import CommitOutcomeUnknown, DeadlineExceeded, commit_may_have_happened
from sqla_lab.service.metrics import ServiceMetrics

__all__ = ["WRITE_OPTIONS", "RequestSessions", "Work"]

T = TypeVar("T")

#: A unit of work: a synchronous function of the request's session (and the route's arguments).
Work = Callable[..., T]

#: Writes run in a transaction on an engine whose connections default to autocommit.
WRITE_OPTIONS: Final = {"isolation_level": "READ COMMITTED"}


class _Request(Tally):
    """A request's statement tally, plus whether its COMMIT is in flight."""

    __slots__ = ("committing",)

    def __init__(self) -> None:
        super().__init__()
        self.committing = False


async def _close_to_completion(session: AsyncSession) -> None:
    """Close ``session`` in a task of its own that a cancellation cannot abandon half-way.

    What ``AsyncSession.__aexit__`` does: a cancellation that arrives meanwhile is re-raised
    once the close has finished, so a connection is never left half returned.
    """
    closing = asyncio.create_task(session.close())
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError as error:
            if closing.done():
                raise
            cancelled = error
        else:
            break
    if cancelled is not None:
        raise cancelled


class RequestSessions:
    """Run each request's unit of work on its own session, with a deadline and a count.

    Args:
        database: the app's engine and session factory.
        deadline_s: seconds a unit of work may take, checkout and commit included.
        counter: counts the statements of each unit of work (``None``: not counted).
        metrics: receives those counts as ``sqla_lab_statements_per_request``.
    """

    def __init__(
        self,
        database: Database,
        *,
        deadline_s: float,
        counter: StatementCounter | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._database = database
        self._sessionmaker = database.sessionmaker
        self.deadline_s = deadline_s
        self._counter = counter
        self._metrics = metrics if counter is not None else None

    async def read(self, route: tuple[str, str], work: Work[T], *args: Any) -> T:
        """Run ``work(session, *args)`` on an autocommit session; ``route`` is (method, path)."""
        return await self._run(route, work, args, write=False)

    async def write(self, route: tuple[str, str], work: Work[T], *args: Any) -> T:
        """Run ``work(session, *args)`` in a transaction and commit it.

        Raises:
            CommitOutcomeUnknown: the COMMIT was sent but not confirmed.
        """
        return await self._run(route, work, args, write=True)

    async def ping(self) -> None:
        """``SELECT 1`` on a pooled connection, within the deadline."""
        deadline = asyncio.timeout(self.deadline_s)
        try:
            async with deadline:
                await self._database.ping()
        except TimeoutError as error:
            if deadline.expired():
                raise DeadlineExceeded(self.deadline_s) from error
            raise

    async def _run(self, route: tuple[str, str], work: Work[T], args: Any, *, write: bool) -> T:
        session = self._sessionmaker()
        request = _Request()
        deadline = asyncio.timeout(self.deadline_s)
        try:
            async with deadline:
                return await session.run_sync(self._unit_of_work, request, work, args, write)
        except BaseException as error:
            await _close_to_completion(session)
            if isinstance(error, TimeoutError) and deadline.expired():
                exceeded = DeadlineExceeded(self.deadline_s)
                if request.committing:
                    raise CommitOutcomeUnknown(exceeded) from error
                raise exceeded from error
            unconfirmed = request.committing and isinstance(error, Exception)
            if unconfirmed and commit_may_have_happened(error):
                raise CommitOutcomeUnknown(error) from error
            raise
        finally:
            if self._metrics is not None:
                self._metrics.observe_statements(route[0], route[1], request.count)

    def _unit_of_work(
        self, session: Session, request: _Request, work: Work[T], args: Any, write: bool
    ) -> T:
        # Runs inside SQLAlchemy's greenlet: every call below may do I/O implicitly.
        connection = (
            session.connection(execution_options=WRITE_OPTIONS) if write else session.connection()
        )
        counter = self._counter
        if counter is not None:
            counter.watch(connection, request)
        try:
            result = work(session, *args)
            if write:
                request.committing = True
                session.commit()
                request.committing = False
        finally:
            if counter is not None:
                counter.unwatch(connection)
        # No I/O is left (autocommit, or committed): this close cannot be cut in half.
        session.close()
        return result
