"""What every instrument shares: one life cycle, listeners that always go, targets, callers.

* :class:`Instrument` is the life cycle, after httpx's ``ClientState``: an instrument is
  entered once and exited once (``with`` or ``async with``); entering twice, or after it
  closed, and exiting twice raise ``RuntimeError``. Subclasses implement :meth:`_attach`
  (add listeners through the given :class:`Listeners`) and :meth:`_detach` (freeze results);
  the base removes every listener on exit, *and when ``_attach`` fails half-way*, so no
  instrument can leave a listener behind, not even one on the ``Mapper`` class.
* :class:`Listeners` records what was attached where and removes it, newest first; a target
  that was garbage-collected took its listeners with it.
* :func:`sync_engine`, :func:`sync_session` and :func:`resolve` turn the async objects users
  hold (``AsyncEngine``, ``AsyncSession``, ``AsyncConnection``, ``async_sessionmaker``) into the
  sync objects SQLAlchemy's events live on; a ``URL`` means every engine connected to that
  database (:class:`DatabaseMatch`), existing ones and ones created during the block.
* :class:`CallerFinder` finds the user's line that caused a statement, across the greenlet
  boundary of SQLAlchemy's asyncio layer.

Why our own code: SQLAlchemy's event API has ``listen``/``remove`` but no notion of a set of
listeners owned by one object; its ``testing.assertsql`` does the same bookkeeping privately.
"""

from __future__ import annotations

import enum
import sys
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Self

import greenlet  # type: ignore[import-untyped]  # greenlet ships no type information
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_scoped_session,
    async_sessionmaker,
)
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from sqla_lab.urls import engine_search_path, search_path_of

__all__ = [
    "DEFAULT_IGNORED_MODULES",
    "AnyEngine",
    "AnySession",
    "AnySessionFactory",
    "CallerFinder",
    "DatabaseMatch",
    "Instrument",
    "InstrumentState",
    "Listeners",
    "Target",
    "database_key",
    "resolve",
    "sync_engine",
    "sync_session",
]

#: Modules whose frames are never "the caller": the ORM, sqla-lab itself and the glue between.
DEFAULT_IGNORED_MODULES: tuple[str, ...] = (
    "sqlalchemy",
    "sqla_lab",
    "asyncio",
    "contextlib",
    "greenlet",
)


class InstrumentState(enum.Enum):
    """Where an instrument is in its one life."""

    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class Listeners:
    """Event listeners one instrument attached, removed together (newest first)."""

    __slots__ = ("_attached",)

    def __init__(self) -> None:
        self._attached: list[tuple[Callable[[], Any], str, Callable[..., Any]]] = []

    def add(self, target: Any, identifier: str, fn: Callable[..., Any], **kw: Any) -> None:
        """``event.listen(target, identifier, fn, **kw)``, remembered for :meth:`remove_all`."""
        event.listen(target, identifier, fn, **kw)
        try:
            # Weakly: a listener set must not keep a user's session or connection alive.
            ref: Callable[[], Any] = weakref.ref(target)
        except TypeError:
            ref = _strong(target)
        self._attached.append((ref, identifier, fn))

    def __len__(self) -> int:
        return len(self._attached)

    def remove_all(self) -> None:
        """Remove every listener still attached, newest first."""
        while self._attached:
            ref, identifier, fn = self._attached.pop()
            target = ref()
            if target is None:
                continue  # collected: its listeners went with it
            try:
                if event.contains(target, identifier, fn):
                    event.remove(target, identifier, fn)
            except InvalidRequestError:
                continue  # a target SQLAlchemy no longer tracks


def _strong(target: Any) -> Callable[[], Any]:
    return lambda: target


class Instrument:
    """Base of the instruments: entered once, exited once, never leaves a listener behind.

    Usable as ``with`` and ``async with`` (nothing in entering or leaving awaits).
    """

    _lifecycle: InstrumentState = InstrumentState.UNOPENED
    _listeners: Listeners

    @property
    def state(self) -> InstrumentState:
        """:class:`InstrumentState` of this instrument."""
        return self._lifecycle

    def _attach(self, listeners: Listeners) -> None:
        """Attach the instrument's listeners (through ``listeners``) and start observing."""
        raise NotImplementedError

    def _detach(self) -> None:
        """Stop observing: undo what :meth:`_attach` did besides listeners, freeze results."""

    def __enter__(self) -> Self:
        name = type(self).__name__
        if self._lifecycle is InstrumentState.OPENED:
            raise RuntimeError(f"this {name} is already in use")
        if self._lifecycle is InstrumentState.CLOSED:
            raise RuntimeError(f"a {name} observes one block; create a new one")
        self._listeners = Listeners()
        self._lifecycle = InstrumentState.OPENED
        try:
            self._attach(self._listeners)
        except BaseException:
            self._lifecycle = InstrumentState.CLOSED
            try:
                self._listeners.remove_all()
            finally:
                self._detach()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lifecycle is not InstrumentState.OPENED:
            raise RuntimeError(f"this {type(self).__name__} is not open")
        self._lifecycle = InstrumentState.CLOSED
        try:
            self._listeners.remove_all()
        finally:
            self._detach()

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


# -- targets -----------------------------------------------------------------------------

AnyEngine = Engine | AsyncEngine
AnySession = Session | AsyncSession
AnySessionFactory = (
    sessionmaker[Any] | async_sessionmaker[Any] | scoped_session[Any] | async_scoped_session[Any]
)


def sync_engine(engine: AnyEngine) -> Engine:
    """The sync ``Engine`` events live on."""
    return engine.sync_engine if isinstance(engine, AsyncEngine) else engine


def sync_session(session: AnySession) -> Session:
    """The sync ``Session`` events live on."""
    return session.sync_session if isinstance(session, AsyncSession) else session


class DatabaseMatch:
    """Tell whether an engine is connected to one database: "everything on the test database".

    Two URLs name the same database when host, port, database name and the workspace's
    ``search_path`` (:mod:`sqla_lab.urls`) are equal; the driver and the credentials do not
    matter. The verdict is kept per engine, so a statement costs one dict lookup.

    Args:
        url: a URL of the database.
    """

    __slots__ = ("_verdicts", "key")

    def __init__(self, url: URL) -> None:
        self.key = database_key(url)
        self._verdicts: dict[Engine, bool] = {}

    def __call__(self, engine: Engine) -> bool:
        """Whether ``engine`` connects to this database."""
        verdict = self._verdicts.get(engine)
        if verdict is None:
            key = database_key(engine.url, search_path=engine_search_path(engine))
            verdict = self._verdicts[engine] = key == self.key
        return verdict

    def forget(self) -> None:
        """Drop the verdicts (and the references to the engines they were about)."""
        self._verdicts.clear()

    def __repr__(self) -> str:
        host, port, database, schema = self.key
        where = f"{host}:{port}/{database}" + (f" (schema {schema})" if schema else "")
        return f"DatabaseMatch({where!r})"


def database_key(
    url: URL, *, search_path: str | None = None
) -> tuple[str | None, int, str | None, str | None]:
    """What names a database in ``url``: host (or socket directory), port, name, schema.

    ``search_path`` stands in for the URL's own (an engine's URL has lost it, see
    :func:`sqla_lab.urls.engine_search_path`).
    """
    host = url.host
    if host is None:
        socket_dir = url.query.get("host")
        host = socket_dir if isinstance(socket_dir, str) else None
    schema = search_path if search_path is not None else search_path_of(url)
    return (host, url.port or 5432, url.database or url.username, schema)


@dataclass(frozen=True, slots=True)
class Target:
    """What an instrument watches, in the sync objects events live on.

    Exactly one of ``connection``, ``session``, ``session_class`` and ``database`` is set, or
    none of them (then everything on ``engine`` is watched). ``engine`` is ``None`` only for a
    ``database`` target, which watches every engine connected to one database.

    Attributes:
        engine: the engine statements go through.
        connection: watch only this connection.
        session: watch only this session.
        session_class: watch every session of a factory (its ``Session`` class).
        database: watch every engine this matches, existing or created during the block.
    """

    engine: Engine | None
    connection: Connection | None = None
    session: Session | None = None
    session_class: type[Session] | None = None
    database: DatabaseMatch | None = None


def resolve(target: object, *, what: str) -> Target:
    """Turn what a user passes to an instrument into a :class:`Target`.

    Raises:
        TypeError: ``target`` is none of the supported kinds.
    """
    if isinstance(target, URL):
        return Target(engine=None, database=DatabaseMatch(target))
    if isinstance(target, AsyncEngine | Engine):
        return Target(engine=sync_engine(target))
    if isinstance(target, AsyncConnection):
        if target.sync_connection is None:
            raise TypeError(f"{what} needs a started AsyncConnection")
        return Target(engine=target.sync_connection.engine, connection=target.sync_connection)
    if isinstance(target, Connection):
        return Target(engine=target.engine, connection=target)
    if isinstance(target, AsyncSession | Session):
        session = sync_session(target)
        return Target(engine=_session_engine(session, what), session=session)
    if isinstance(target, async_scoped_session | scoped_session):
        target = target.session_factory
    if isinstance(target, async_sessionmaker | sessionmaker):
        return _factory_target(target, what)
    raise TypeError(f"{what} cannot watch {type(target).__name__}")


def _session_engine(session: Session, what: str) -> Engine:
    bind = session.bind
    if isinstance(bind, Connection):
        return bind.engine
    if isinstance(bind, Engine):
        return bind
    raise TypeError(f"{what} needs a session bound to one engine or connection")


def _factory_target(factory: sessionmaker[Any] | async_sessionmaker[Any], what: str) -> Target:
    bind = factory.kw.get("bind")
    if isinstance(bind, AsyncEngine | Engine):
        engine = sync_engine(bind)
    elif isinstance(bind, AsyncConnection) and bind.sync_connection is not None:
        engine = bind.sync_connection.engine
    elif isinstance(bind, Connection):
        engine = bind.engine
    else:
        raise TypeError(f"{what} needs a session factory bound to one engine")
    if isinstance(factory, async_sessionmaker):
        session_class = factory.kw.get("sync_session_class", Session)
    else:
        session_class = factory.class_
    if not (isinstance(session_class, type) and issubclass(session_class, Session)):
        raise TypeError(f"{what}: the factory's session class is not a Session")
    return Target(engine=engine, session_class=session_class)


# -- callers -----------------------------------------------------------------------------


class CallerFinder:
    """Find the first stack frame outside ``ignored`` modules, caching the verdict per code."""

    __slots__ = ("_ignored", "_verdicts")

    def __init__(self, ignored: Iterable[str] = DEFAULT_IGNORED_MODULES) -> None:
        self._ignored = tuple(ignored)
        self._verdicts: dict[Any, bool] = {}

    def _classify(self, frame: FrameType) -> bool:
        module = str(frame.f_globals.get("__name__", ""))
        verdict = any(module == m or module.startswith(m + ".") for m in self._ignored)
        self._verdicts[frame.f_code] = verdict
        return verdict

    def find(self) -> str | None:
        """``path:line`` of the first caller outside the ignored modules, or ``None``."""
        # Runs once per statement: the loop is kept flat, with one dict lookup per frame.
        verdicts = self._verdicts
        current: greenlet.greenlet | None = greenlet.getcurrent()
        frame: FrameType | None
        parent = current.parent if current is not None else None
        if parent is not None and type(current).__name__ == "_AsyncIoGreenlet":
            # Inside SQLAlchemy's asyncio bridge every frame of this greenlet belongs to
            # SQLAlchemy (or to a function handed to run_sync(), reported at its run_sync()
            # call): start in the suspended caller instead of walking them all.
            current = parent
            frame = parent.gr_frame
        else:
            frame = sys._getframe(1)
        while True:
            while frame is not None:
                ignored = verdicts.get(frame.f_code)
                if ignored is None:
                    ignored = self._classify(frame)
                if not ignored:
                    return f"{frame.f_code.co_filename}:{frame.f_lineno}"
                frame = frame.f_back
            # Under SQLAlchemy's asyncio layer the driver call runs in a child greenlet whose
            # stack ends in greenlet_spawn; the caller's coroutine is suspended in the parent.
            current = current.parent if current is not None else None
            if current is None:
                return None
            frame = current.gr_frame
