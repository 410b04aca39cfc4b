"""Find N+1 loads, and eager loads nobody read, in what a session (or a whole scope) does.

:class:`NPlusOneDetector` is a context manager::

    with NPlusOneDetector(session, mode="raise"):
        users = (await session.scalars(select(UserEntity))).all()
        for user in users:
            await user.awaitable_attrs.posts   # raises NPlusOneDetected at the second user

What it watches (its ``target``; :func:`_resolve_scope` is the one place that decides):

* a ``Session``/``AsyncSession``: that session, and every other session or connection on its
  engine used *from this context* during the block (the current task and the tasks it starts,
  so a new session per item, a second session or ``asyncio.gather`` are seen; a concurrent
  request in another task is not), and sessions on other engines begun from this context;
* an ``Engine``/``AsyncEngine``, a ``sessionmaker``/``async_sessionmaker`` (through the engine
  it binds): every statement on that engine, from anywhere;
* a ``Connection``/``AsyncConnection``: the statements on that connection;
* a ``URL``: every engine connected to that database (engines created during the block
  included), from anywhere: "everything on the test database", what the pytest fixtures watch;
* ``None``: every engine, from this context: "everything during the block".

It listens where every statement passes (the engine's ``after_cursor_execute``: ORM
statements, Core ``select()`` and ``text()`` alike) and reports four kinds of finding:

``lazy_load``
    One relationship lazy-loaded for two or more sibling objects (loaded by one statement:
    the ORM's run id tells), or from one call site for ``repeat_threshold`` different parents.
``repeated_select``
    The same SELECT (same compiled statement: same cache key) sent from the same call site
    ``repeat_threshold`` times with a changing key: a loop of ``session.get()``, of per-item
    queries, of Core statements on a connection, on one session or on a new one per item.
    Not an N+1, never reported: the same parameters every time (a polling loop, a retry),
    a changing LIMIT/OFFSET or range bound (offset and keyset paging), a changing ``IN``
    list of two or more keys (chunks of a large list).
``column_load``
    Deferred or expired columns loaded one object at a time; the fix named depends on why:
    ``undefer``/``load_only``, ``expire_on_commit=False``, or one ``populate_existing``
    statement instead of a loop of ``refresh()``.
``unused_eager_load``
    A relationship an eager loader (``selectinload``, ``joinedload``, ``subqueryload``, also
    chained or configured on the mapping; collections and many-to-one alike) loaded and that
    nothing read before the block ended. A read is any access to the attribute on an instance
    (see :mod:`sqla_lab._n_plus_one_reads`: pydantic, ``repr``, ``==``, ``len``, ``getattr``
    all count), and a DELETE cascading through it counts too.

A *call site* is the user's innermost three frames (:mod:`sqla_lab._n_plus_one_stack`),
found inside ``run_sync`` and across SQLAlchemy's greenlets, so statements on separate lines
are separate even inside one ``run_sync(fn)``.

Modes: ``"warn"`` emits an :class:`NPlusOneWarning` per finding, ``"raise"`` raises
:class:`~sqla_lab.errors.NPlusOneDetected` (at the offending statement for N+1s, on exit for
unused eager loads), ``"collect"`` only gathers :attr:`NPlusOneDetector.findings`. ``allow``
takes ``"Model"``, ``"Model.relationship"``, a mapped class or a relationship attribute.

Why our own code: the maintained peers (``queryspy``, ``pytest-queryguard``) are pytest/ASGI
tools with process-wide state; neither watches many-to-one eager loads nor reads through the
C API, and both count Core statements by SQL text without knowing paging from a loop
(``benchmarks/n_plus_one.py`` compares the three on one corpus).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from sqlalchemy.orm import QueryableAttribute, RelationshipProperty, Session, sessionmaker

from sqla_lab.errors import NPlusOneDetected
from sqla_lab.instruments._core import (
    DEFAULT_IGNORED_MODULES,
    DatabaseMatch,
    Instrument,
    Listeners,
)
from sqla_lab.instruments._n_plus_one_reads import ReadWatch
from sqla_lab.instruments._n_plus_one_stack import CallSite, CallSiteFinder
from sqla_lab.instruments._n_plus_one_statements import (
    StatementInfo,
    describe,
    fold_parameters,
    relationship_label,
)
from sqla_lab.instruments._tap import is_harness_statement

__all__ = [
    "AllowEntry",
    "DetectorTarget",
    "FindingKind",
    "LoadFinding",
    "Mode",
    "NPlusOneDetector",
    "NPlusOneWarning",
]

Mode = Literal["warn", "raise", "collect"]
FindingKind = Literal["lazy_load", "repeated_select", "column_load", "unused_eager_load"]
AllowEntry = str | type | QueryableAttribute[Any]
DetectorTarget = (
    Session
    | AsyncSession
    | sessionmaker[Any]
    | async_sessionmaker[Any]
    | Engine
    | AsyncEngine
    | Connection
    | AsyncConnection
    | URL
    | None
)

# The detectors whose block the current context (task, and the tasks it started) is in.
_ACTIVE: ContextVar[tuple[object, ...]] = ContextVar("sqla_lab_n_plus_one", default=())


class NPlusOneWarning(UserWarning):
    """Emitted by a detector in ``"warn"`` mode."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadFinding:
    """One problem the detector found.

    Attributes:
        kind: ``lazy_load``, ``repeated_select``, ``column_load`` or ``unused_eager_load``.
        label: ``Model.relationship``, ``Model``, a table name or ``text: <sql>``.
        count: statements (N+1 kinds) or rows eagerly loaded for nothing.
        location: ``path:line`` of the code that caused it, when known.
        fix: the short name of the fix (``selectinload``, ``joinedload``, ``in_``,
            ``undefer``, ``expire_on_commit``, ``populate_existing``, ``drop_eager_load``).
        suggestion: the change that fixes it, in words.
    """

    kind: FindingKind
    label: str
    count: int
    location: str | None
    suggestion: str
    fix: str = ""

    @property
    def message(self) -> str:
        """One line for a human."""
        where = f" at {self.location}" if self.location else ""
        if self.kind == "lazy_load":
            what = f"N+1: {self.label} lazy-loaded for {self.count} sibling objects{where}"
        elif self.kind == "repeated_select":
            what = f"N+1: {self.count} separate SELECTs of {self.label}, one per key{where}"
        elif self.kind == "column_load":
            what = f"N+1: columns of {self.label} loaded for {self.count} objects one by one{where}"
        else:
            what = f"unused eager load: {self.label} loaded {self.count} row(s){where} nobody read"
        return f"{what}; fix: {self.suggestion}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "kind": self.kind,
            "label": self.label,
            "count": self.count,
            "location": self.location,
            "fix": self.fix,
            "suggestion": self.suggestion,
            "message": self.message,
        }


@dataclass(slots=True)
class _Group:
    """Statements that may add up to one finding: siblings, or one call site's loop."""

    kind: FindingKind
    label: str
    fix: str
    suggestion: str
    site: CallSite
    count: int = 0
    first: dict[str, Any] | None = None
    varying: set[str] = field(default_factory=set)
    widest_in: int = 0
    lists: set[str] = field(default_factory=set)
    writes_at_last: int = 0
    interleaved: bool = False
    reported: bool = False


@dataclass(slots=True)
class _EagerLoad:
    """Eager loads of one relationship from one call site, and whether anything read them."""

    prop: RelationshipProperty[Any]
    site: CallSite
    rows: int = 0
    used: bool = False


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a target means: where to listen, and which statements there are ours."""

    listen_on: tuple[Any, ...]
    context_only: bool
    session: Session | None = None
    database: DatabaseMatch | None = None


def _sync_engine_of(bind: Any) -> Engine | Connection | None:
    if isinstance(bind, AsyncEngine):
        return bind.sync_engine
    if isinstance(bind, AsyncConnection):
        return bind.sync_connection
    if isinstance(bind, Engine | Connection):
        return bind
    return None


def _resolve_scope(target: DetectorTarget) -> _Scope:
    """Turn the detector's target into the objects to listen on (the one place that does)."""
    if target is None:
        return _Scope(listen_on=(Engine,), context_only=True)
    if isinstance(target, URL):
        return _Scope(listen_on=(Engine,), context_only=False, database=DatabaseMatch(target))
    if isinstance(target, AsyncSession):
        target = target.sync_session
    if isinstance(target, Session):
        bind = _sync_engine_of(target.bind)
        engine = bind.engine if isinstance(bind, Connection) else bind
        return _Scope(listen_on=(engine or Engine,), context_only=True, session=target)
    if isinstance(target, sessionmaker | async_sessionmaker):
        engines: list[Any] = []
        for bind in (target.kw.get("bind"), *(target.kw.get("binds") or {}).values()):
            sync = _sync_engine_of(bind)
            engine = sync.engine if isinstance(sync, Connection) else sync
            if engine is not None and not any(engine is known for known in engines):
                engines.append(engine)
        if not engines:
            raise TypeError("NPlusOneDetector needs a sessionmaker with a bind")
        return _Scope(listen_on=tuple(engines), context_only=False)
    if isinstance(target, AsyncConnection):
        if target.sync_connection is None:
            raise TypeError("NPlusOneDetector needs a started AsyncConnection")
        return _Scope(listen_on=(target.sync_connection,), context_only=False)
    if isinstance(target, AsyncEngine):
        return _Scope(listen_on=(target.sync_engine,), context_only=False)
    if isinstance(target, Engine | Connection):
        return _Scope(listen_on=(target,), context_only=False)
    raise TypeError(f"NPlusOneDetector cannot watch {type(target).__name__}")


def _allow_label(entry: AllowEntry) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, QueryableAttribute):
        return f"{entry.class_.__name__}.{entry.key}"
    return entry.__name__


def _lazy_fix(prop: RelationshipProperty[Any]) -> tuple[str, str]:
    loader = "selectinload" if prop.uselist else "joinedload"
    label = relationship_label(prop)
    return loader, f".options({loader}({label})) on the statement that loaded the parents"


def _statement_parameters(context: Any, parameters: Any) -> Mapping[str, Any]:
    compiled_parameters = getattr(context, "compiled_parameters", None)
    if context.compiled is not None and compiled_parameters:
        return compiled_parameters[0]  # type: ignore[no-any-return]  # a dict of binds
    if isinstance(parameters, Mapping):
        return parameters
    if isinstance(parameters, list | tuple):
        return {str(i): value for i, value in enumerate(parameters)}
    return {}


class NPlusOneDetector(Instrument):
    """Detect N+1 loads and unused eager loads while the block runs (see the module doc).

    Args:
        target: a session, sessionmaker, engine or connection (sync or async) to watch, a
            ``URL`` for every statement on that database, or ``None`` for every statement
            sent from this context during the block.
        mode: ``"warn"``, ``"raise"`` or ``"collect"``.
        allow: models or relationships never reported.
        threshold: sibling objects lazy-loading one relationship (or loading columns one by
            one) that make an N+1 (at least 2).
        repeat_threshold: executions of one statement from one call site, each with another
            key, that make an N+1 (at least 2).
        ignored_modules: module prefixes that are never the offending code.
    """

    def __init__(
        self,
        target: DetectorTarget = None,
        *,
        mode: Mode = "warn",
        allow: Iterable[AllowEntry] = (),
        threshold: int = 2,
        repeat_threshold: int = 3,
        ignored_modules: Sequence[str] = DEFAULT_IGNORED_MODULES,
    ) -> None:
        if mode not in ("warn", "raise", "collect"):
            raise ValueError(f"mode must be 'warn', 'raise' or 'collect', not {mode!r}")
        if threshold < 2 or repeat_threshold < 2:
            raise ValueError("thresholds must be at least 2")
        self._scope = _resolve_scope(target)
        self._context_only = self._scope.context_only
        self._database = self._scope.database
        self.mode: Mode = mode
        self.allowed = frozenset(_allow_label(entry) for entry in allow)
        self.threshold = threshold
        self.repeat_threshold = repeat_threshold
        self._sites = CallSiteFinder(ignored_modules)
        self._find_site = self._sites.find
        self._find_innermost = self._sites.find_innermost
        # (innermost frame, statement) of reported repeated selects: their next turns only count.
        self._known_loops: dict[tuple[CallSite, Any], _Group] = {}
        self._infos: dict[Any, StatementInfo] = {}
        self._siblings: dict[tuple[Any, ...], _Group] = {}
        self._loops: dict[tuple[CallSite, Any], _Group] = {}
        self._eager: dict[tuple[RelationshipProperty[Any], str | None], _EagerLoad] = {}
        self._pending: dict[RelationshipProperty[Any], list[_EagerLoad]] = {}
        self._reads = ReadWatch(self._on_read)
        self._session_connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._listening: list[Any] = []  # what after_cursor_execute is attached to
        self._listeners_of_block = Listeners()
        # Statements other than SELECT so far: a refresh loop with writes in between is a
        # loop of "write, then read it back", not an N+1 of reads.
        self._writes = 0
        self._token: Token[tuple[object, ...]] | None = None
        self._reported: set[tuple[str, str, str | None]] = set()
        self._frozen: tuple[LoadFinding, ...] | None = None
        self._active = False

    # -- life cycle (the shared core: listeners always removed) ----------------------------

    def _attach(self, listeners: Listeners) -> None:
        self._listeners_of_block = listeners
        self._active = True
        session = self._scope.session
        if session is not None:
            bind = session.bind
            if isinstance(bind, Connection):
                self._session_connections.add(bind)
            elif session.in_transaction():
                # Already begun: its connection exists, so asking for it does no I/O.
                self._session_connections.add(session.connection())
        for target in self._scope.listen_on:
            self._listen_on(target)
        if session is not None:
            # One class-level listener for the watched session's new connections and for
            # per-item sessions on another engine, begun from this context.
            listeners.add(Session, "after_begin", self._on_session_begin)
        self._token = _ACTIVE.set((*_ACTIVE.get(), self))

    def _detach(self) -> None:
        self._active = False
        try:
            self._listening.clear()
            self._reads.close()
            if self._token is not None:
                try:
                    _ACTIVE.reset(self._token)
                except ValueError:  # left in another context than it was entered in
                    _ACTIVE.set(tuple(d for d in _ACTIVE.get() if d is not self))
                self._token = None
        finally:
            self._frozen = self._collect(final=True)
            self._infos.clear()
            if self._database is not None:
                self._database.forget()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        if exc_type is None and self._frozen is not None:
            self._report([f for f in self._frozen if f.kind == "unused_eager_load"])

    # -- results ---------------------------------------------------------------------------

    @property
    def findings(self) -> tuple[LoadFinding, ...]:
        """What was found: frozen after the block, a snapshot while it runs.

        While the block runs, unused eager loads are not known yet and not listed.
        """
        if self._frozen is not None:
            return self._frozen
        return self._collect(final=False)

    @property
    def watching(self) -> bool:
        """Whether the block runs."""
        return self._active

    def _collect(self, *, final: bool) -> tuple[LoadFinding, ...]:
        merged: dict[tuple[str, str, str | None], LoadFinding] = {}
        for group in (*self._siblings.values(), *self._loops.values()):
            if not group.reported:
                continue
            finding = self._finding(group)
            key = (finding.kind, finding.label, finding.location)
            known = merged.get(key)
            if known is None or known.count < finding.count:
                merged[key] = finding
        found = list(merged.values())
        if final:
            for load in self._eager.values():
                label = relationship_label(load.prop)
                if load.used or self._is_allowed(label):
                    continue
                found.append(
                    LoadFinding(
                        kind="unused_eager_load",
                        label=label,
                        count=load.rows,
                        location=self._sites.location(load.site),
                        fix="drop_eager_load",
                        suggestion=(
                            f"drop the eager load of {label} from this statement (or use "
                            f"lazyload/raiseload({label}) here)"
                        ),
                    )
                )
        return tuple(found)

    def _finding(self, group: _Group) -> LoadFinding:
        return LoadFinding(
            kind=group.kind,
            label=group.label,
            count=group.count,
            location=self._sites.location(group.site),
            fix=group.fix,
            suggestion=group.suggestion,
        )

    def _is_allowed(self, label: str) -> bool:
        return label in self.allowed or label.split(".", 1)[0] in self.allowed

    def _report(self, findings: Iterable[LoadFinding]) -> None:
        fresh = [f for f in findings if (f.kind, f.label, f.location) not in self._reported]
        self._reported.update((f.kind, f.label, f.location) for f in fresh)
        if not fresh or self.mode == "collect":
            return
        if self.mode == "raise":
            raise NPlusOneDetected("; ".join(f.message for f in fresh))
        for finding in fresh:
            # Attributed to the offending line, not to the listener that noticed it.
            path, _, line = (finding.location or "").rpartition(":")
            if path and line.isdigit():
                warnings.warn_explicit(finding.message, NPlusOneWarning, path, int(line))
            else:
                warnings.warn(finding.message, NPlusOneWarning, stacklevel=2)

    def _crossed(self, group: _Group) -> None:
        group.reported = True
        if not self._is_allowed(group.label):
            self._report([self._finding(group)])
        else:
            group.reported = False

    # -- listeners -------------------------------------------------------------------------

    def _listen_on(self, target: Any) -> None:
        if any(known is target for known in self._listening):
            return
        self._listeners_of_block.add(target, "after_cursor_execute", self._on_statement)
        self._listening.append(target)

    def _on_session_begin(self, session: Session, transaction: Any, connection: Any) -> None:
        if session is self._scope.session:
            self._session_connections.add(connection)
            self._listen_on(connection.engine)
        elif self in _ACTIVE.get():
            self._listen_on(connection.engine)

    def _on_statement(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        # Runs once per statement on the watched engine(s): the common path is kept short.
        if (
            self._context_only
            and self not in _ACTIVE.get()
            and conn not in self._session_connections
        ):
            return
        database = self._database
        if database is not None and not database(conn.engine):
            return
        compiled = context.compiled
        shape = compiled if compiled is not None else statement
        info = self._infos.get(shape)
        if info is None:
            info = self._infos[shape] = self._describe(compiled, statement)
        kind = info.kind
        if kind == "delete" or kind == "other":
            if kind == "other" and is_harness_statement(conn, context):
                return  # a test fixture's savepoint: no statement in production
            self._writes += 1
            if kind == "delete" and self._pending:
                self._on_delete(info)
            return
        if executemany:
            return
        if kind == "select" and not info.joined and self._known_loops:
            # Another turn of a loop already reported: count it, without the deep walk.
            known = self._known_loops.get((self._find_innermost(), shape))
            if known is not None:
                known.count += 1
                return
        site = self._find_site()
        if info.joined:
            for prop in info.joined:
                self._eager_load(prop, site, cursor)
        if kind == "select":
            self._on_loop(info, site, shape, context, parameters, "repeated_select")
            return
        load_options = context.execution_options.get("_sa_orm_load_options")
        if kind == "relationship":
            parent = getattr(load_options, "_lazy_loaded_from", None)
            if parent is None:  # selectinload / subqueryload: an eager load
                assert info.prop is not None
                self._eager_load(info.prop, site, cursor)
                return
            self._on_lazy_load(info, parent, site)
            self._on_loop(info, site, shape, context, parameters, "lazy_load")
        else:  # column
            refreshed = getattr(load_options, "_refresh_state", None)
            user_refresh = bool(getattr(load_options, "_is_user_refresh", False))
            if refreshed is not None and not user_refresh:
                self._on_column_load(info, refreshed, site)
            # An explicit refresh() loop needs another fix than expired or deferred columns.
            why = None if user_refresh else refreshed
            self._on_loop(info, site, shape, context, parameters, "column_load", why)

    def _describe(self, compiled: Any, statement: str) -> StatementInfo:
        try:
            return describe(compiled, statement)
        except Exception as exc:  # a statement shape the detector does not know
            # Never break the application's statement over it: say so, and ignore it.
            warnings.warn(
                f"NPlusOneDetector cannot read this statement ({type(exc).__name__}: {exc}); "
                f"it is not watched: {' '.join(statement.split())[:120]}",
                NPlusOneWarning,
                stacklevel=2,
            )
            return StatementInfo(kind="other", label="")

    def _on_lazy_load(self, info: StatementInfo, parent: Any, site: CallSite) -> None:
        assert info.prop is not None
        runid = parent.runid
        key = (runid if runid is not None else ("alone", id(parent)), info.prop)
        group = self._siblings.get(key)
        if group is None:
            fix, suggestion = _lazy_fix(info.prop)
            group = self._siblings[key] = _Group("lazy_load", info.label, fix, suggestion, site)
        group.count += 1
        if group.count >= self.threshold and not group.reported:
            self._crossed(group)

    def _on_column_load(self, info: StatementInfo, refreshed: Any, site: CallSite) -> None:
        runid = refreshed.runid
        key = (runid if runid is not None else ("alone", id(refreshed)), info.mapper, "columns")
        group = self._siblings.get(key)
        if group is None:
            fix, suggestion = self._column_fix(info, refreshed)
            group = self._siblings[key] = _Group("column_load", info.label, fix, suggestion, site)
        group.count += 1
        if group.count >= self.threshold and not group.reported:
            self._crossed(group)

    @staticmethod
    def _column_fix(info: StatementInfo, refreshed: Any) -> tuple[str, str]:
        if refreshed is None:
            return (
                "populate_existing",
                f"refresh them in one statement: select({info.label}).where(... .in_(keys))"
                ".execution_options(populate_existing=True)",
            )
        columns = ", ".join(sorted(info.only_load_props)) or "its columns"
        expired = set(getattr(refreshed, "expired_attributes", ()) or ())
        if getattr(refreshed, "expired", False) or expired & set(info.only_load_props):
            return (
                "expire_on_commit",
                f"{columns} of {info.label} were expired (by a commit): use "
                "expire_on_commit=False, or reload them in one statement with "
                "populate_existing",
            )
        return (
            "undefer",
            f"{columns} of {info.label} are deferred: undefer() or load_only() them on the "
            "statement that loads the objects",
        )

    def _on_loop(
        self,
        info: StatementInfo,
        site: CallSite,
        shape: Any,
        context: Any,
        parameters: Any,
        kind: FindingKind,
        refreshed: Any = None,
    ) -> None:
        key = (site, shape)
        group = self._loops.get(key)
        if group is not None and group.reported:
            group.count += 1  # known to be a loop: only the count grows
            return
        params = _statement_parameters(context, parameters)
        if info.expanding:
            params = fold_parameters(params, info.expanding)
        if group is None:
            if kind == "lazy_load":
                assert info.prop is not None
                fix, suggestion = _lazy_fix(info.prop)
            elif kind == "column_load":
                fix, suggestion = self._column_fix(info, refreshed)
            else:
                fix = "in_"
                suggestion = (
                    f"load them in one statement: select({info.label}).where(... .in_(keys)), "
                    "or with their parents through a relationship loader"
                    if info.mapper is not None
                    else "send one statement for all keys (.where(column.in_(keys)) or a JOIN)"
                )
            group = self._loops[key] = _Group(kind, info.label, fix, suggestion, site)
            group.first = dict(params)
            group.count = 1
            group.writes_at_last = self._writes
            return
        group.count += 1
        if kind == "column_load" and group.writes_at_last != self._writes:
            group.interleaved = True  # create/update, then refresh: once per item by design
        group.writes_at_last = self._writes
        first = group.first
        assert first is not None
        varying = group.varying
        for name, value in params.items():
            if name not in varying and first.get(name, varying) != value:
                varying.add(name)
        for name in varying:
            # An IN list, or an array parameter (= ANY(:keys)): a list of keys per execution.
            value = params.get(name)
            if isinstance(value, list | tuple):
                group.lists.add(name)
                if len(value) > group.widest_in:
                    group.widest_in = len(value)
        if (
            group.count >= self.repeat_threshold
            and not group.reported
            and not group.interleaved
            and self._is_loop(info, group)
        ):
            self._crossed(group)
            if group.reported and kind == "repeated_select":
                self._known_loops[site[:2], shape] = group

    @staticmethod
    def _is_loop(info: StatementInfo, group: _Group) -> bool:
        """Whether one call site's executions are one per key (not paging, not chunks)."""
        varying = group.varying
        if not varying:
            return False  # the same parameters every time: polling or repeating, not N+1
        roles = info.roles
        if any(roles.get(name) == "paging" for name in varying):
            return False  # offset or keyset pages
        lists = group.lists
        return not (
            all(roles.get(name) == "in" or name in lists for name in varying)
            and group.widest_in >= 2
        )  # chunks of a large IN list (or array)

    def _eager_load(self, prop: RelationshipProperty[Any], site: CallSite, cursor: Any) -> None:
        location = self._sites.location(site)
        load = self._eager.get((prop, location))
        if load is None:
            load = self._eager[prop, location] = _EagerLoad(prop, site)
        rows = getattr(cursor, "rowcount", -1)
        if rows is not None and rows > 0:
            load.rows += rows
        if not load.used:
            pending = self._pending.setdefault(prop, [])
            if not pending:
                self._reads.watch(prop)
            if load not in pending:
                pending.append(load)
        else:
            # Read once already: a new load from the same line waits for its own read.
            load.used = False
            self._pending.setdefault(prop, []).append(load)
            self._reads.watch(prop)

    def _on_read(self, prop: RelationshipProperty[Any]) -> None:
        for load in self._pending.pop(prop, ()):
            load.used = True

    def _on_delete(self, info: StatementInfo) -> None:
        # Deleting a parent, its children or its association rows, SQLAlchemy reads the
        # relationship for the user (cascades, foreign keys set to NULL, secondary rows).
        for prop in list(self._pending):
            tables = (prop.parent.local_table, prop.mapper.local_table, prop.secondary)
            if any(getattr(table, "name", None) in info.tables for table in tables):
                self._on_read(prop)
