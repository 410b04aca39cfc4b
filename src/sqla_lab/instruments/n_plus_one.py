"""Find N+1 loads, and eager loads nobody read, in what one session does.

:class:`NPlusOneDetector` is a context manager on one ``Session`` or ``AsyncSession``::

    with NPlusOneDetector(session, mode="raise"):
        users = (await session.scalars(select(UserEntity))).all()
        for user in users:
            await user.awaitable_attrs.posts   # raises NPlusOneDetected at the second user

It reports three shapes:

``lazy_load``
    One relationship lazy-loaded for two or more sibling objects, i.e. objects that one
    statement loaded (``await obj.awaitable_attrs.rel`` or a sync attribute access in a loop).
    Siblings are told apart with the ``QueryContext`` the ORM passes to the mapper ``load``
    event (an object that its statement loaded alone, or that was loaded before the block, is
    told apart by the ORM's run id of the statement that loaded it); a lazy load is recognised
    by ``ORMExecuteState.lazy_loaded_from`` (set for lazy loads and ``immediateload``, never
    for ``selectinload``/``joinedload``/``subqueryload``).
    One ``.first()`` followed by one lazy load is one load, not an N+1.
``repeated_select``
    The same top-level ``SELECT`` of one entity run ``repeat_threshold`` times from one line
    of code: a loop of ``session.get()`` or of per-item queries.
``unused_eager_load``
    A collection that an eager loader (selectin, joined, subquery) filled and that nothing
    outside SQLAlchemy read before the block ended. Reads fire no SQLAlchemy event, so while
    the block runs each eagerly filled ``InstrumentedList``/``InstrumentedSet`` of the session
    is switched to a subclass that notes the first read (iteration, ``len``, indexing,
    membership) and switched back on exit; nothing global is patched and other sessions are
    untouched. Many-to-one eager loads (``joinedload(Post.user)``) hold an object, not a
    collection, and cannot be watched this way: they are not reported.

Modes: ``"warn"`` emits an :class:`NPlusOneWarning` per finding, ``"raise"`` raises
:class:`~sqla_lab.errors.NPlusOneDetected` (at the offending load for N+1s, on exit for
unused eager loads), ``"collect"`` only gathers :attr:`NPlusOneDetector.findings`. ``allow``
takes ``"Model"``, ``"Model.relationship"``, a mapped class or a relationship attribute.

Why our own code: the maintained peers (``queryspy``, ``pytest-queryguard``) detect the
N+1 shapes well but are pytest/ASGI tools with process-wide state; queryspy does not report
unused eager loads and pytest-queryguard does it experimentally by replacing
``InstrumentedAttribute.__get__`` for the whole process. This detector is scoped to one
session (its class-level listeners, mapper ``load`` and ``init_collection``, ignore other
sessions and are removed on exit), needs no pytest and patches nothing.
"""

from __future__ import annotations

import sys
import warnings
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    Mapper,
    ORMExecuteState,
    QueryableAttribute,
    RelationshipProperty,
    Session,
)
from sqlalchemy.orm.collections import InstrumentedList, InstrumentedSet

from sqla_lab.errors import NPlusOneDetected
from sqla_lab.instruments._core import (
    DEFAULT_IGNORED_MODULES,
    CallerFinder,
    Instrument,
    Listeners,
    sync_session,
)

__all__ = [
    "AllowEntry",
    "FindingKind",
    "LoadFinding",
    "Mode",
    "NPlusOneDetector",
    "NPlusOneWarning",
]

Mode = Literal["warn", "raise", "collect"]
FindingKind = Literal["lazy_load", "repeated_select", "unused_eager_load"]
AllowEntry = str | type | QueryableAttribute[Any]

_INFO_KEY = "sqla_lab.n_plus_one_detector"
_GROUP_KEY = ("sqla_lab", "load_group")
_READ_FLAG = "_sqla_lab_read"


class NPlusOneWarning(UserWarning):
    """Emitted by a detector in ``"warn"`` mode."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadFinding:
    """One problem the detector found.

    Attributes:
        kind: ``lazy_load``, ``repeated_select`` or ``unused_eager_load``.
        label: ``Model.relationship`` (or ``Model`` for repeated selects).
        count: lazy loads, statements, or objects eagerly loaded for nothing.
        location: ``path:line`` of the code that caused it, when known.
        suggestion: the change that fixes it.
    """

    kind: FindingKind
    label: str
    count: int
    location: str | None
    suggestion: str

    @property
    def message(self) -> str:
        """One line for a human."""
        where = f" at {self.location}" if self.location else ""
        if self.kind == "lazy_load":
            what = f"N+1: {self.label} lazy-loaded for {self.count} sibling objects{where}"
        elif self.kind == "repeated_select":
            what = f"N+1: {self.count} separate SELECTs of {self.label}{where}"
        else:
            what = f"unused eager load: {self.label} loaded for {self.count} object(s){where}"
        return f"{what}; fix: {self.suggestion}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "kind": self.kind,
            "label": self.label,
            "count": self.count,
            "location": self.location,
            "suggestion": self.suggestion,
            "message": self.message,
        }


@dataclass(slots=True)
class _Tally:
    count: int = 0
    location: str | None = None
    read: bool = False


@dataclass(slots=True)
class _Watched:
    """An eagerly filled collection whose class we switched, to be switched back."""

    collection: Any
    original_class: type
    prop: RelationshipProperty[Any]


def _note_read(collection: Any) -> None:
    # Only reads by application code count: SQLAlchemy reading its own collection (flush,
    # cascades) says nothing about whether the eager load was worth it.
    if not collection.__dict__.get(_READ_FLAG):
        caller = str(sys._getframe(2).f_globals.get("__name__", ""))
        if not caller.startswith("sqlalchemy."):
            collection.__dict__[_READ_FLAG] = True


class _ReadWatching:
    """Note the first read of a collection by application code (mixed into its class)."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        _note_read(self)
        return super().__iter__()  # type: ignore[misc, no-any-return]  # list/set's method

    def __len__(self) -> int:
        _note_read(self)
        return super().__len__()  # type: ignore[misc, no-any-return]  # list/set's method

    def __contains__(self, item: object) -> bool:
        _note_read(self)
        return super().__contains__(item)  # type: ignore[misc, no-any-return]  # list/set's


class _WatchedList(_ReadWatching, InstrumentedList[Any]):
    def __getitem__(self, index: Any) -> Any:
        _note_read(self)
        return super().__getitem__(index)

    def __reversed__(self) -> Iterator[Any]:
        _note_read(self)
        return super().__reversed__()


class _WatchedSet(_ReadWatching, InstrumentedSet[Any]):
    pass


_WATCHED_CLASSES: dict[type, type] = {InstrumentedList: _WatchedList, InstrumentedSet: _WatchedSet}


def _label(prop: RelationshipProperty[Any]) -> str:
    return f"{prop.parent.class_.__name__}.{prop.key}"


def _allow_label(entry: AllowEntry) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, QueryableAttribute):
        return f"{entry.class_.__name__}.{entry.key}"
    return entry.__name__


@dataclass(slots=True)
class _State:
    """Everything one detector tracks; lives in ``session.info`` while the block runs."""

    # Keyed by InstanceState (what the raw ``load`` event and ``lazy_loaded_from`` both give).
    groups: weakref.WeakKeyDictionary[Any, int] = field(default_factory=weakref.WeakKeyDictionary)
    next_group: int = 0
    lazy: dict[tuple[Any, RelationshipProperty[Any]], _Tally] = field(default_factory=dict)
    pending_lazy: set[tuple[int, str]] = field(default_factory=set)
    repeats: dict[tuple[str, Mapper[Any]], _Tally] = field(default_factory=dict)
    eager: dict[RelationshipProperty[Any], _Tally] = field(default_factory=dict)
    watched: list[_Watched] = field(default_factory=list)
    last_statement_location: str | None = None


class NPlusOneDetector(Instrument):
    """Detect N+1 loads and unused eager loads in one session while the block runs.

    Args:
        session: the ``Session`` or ``AsyncSession`` to watch.
        mode: ``"warn"``, ``"raise"`` or ``"collect"``.
        allow: models or relationships never reported.
        threshold: sibling lazy loads of one relationship that make an N+1 (at least 2).
        repeat_threshold: top-level SELECTs of one entity from one line that make an N+1.
        ignored_modules: module prefixes skipped when locating the offending code.
    """

    def __init__(
        self,
        session: Session | AsyncSession,
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
        self._session = sync_session(session)
        self.mode: Mode = mode
        self.allowed = frozenset(_allow_label(entry) for entry in allow)
        self.threshold = threshold
        self.repeat_threshold = repeat_threshold
        self._caller = CallerFinder(ignored_modules)
        self._state = _State()
        self._attributes: list[QueryableAttribute[Any]] = []
        self._listeners_of_block = Listeners()
        self._seen_mappers: set[Mapper[Any]] = set()
        self._reported: set[tuple[str, str, str | None]] = set()
        self._frozen: tuple[LoadFinding, ...] | None = None
        self._active = False

    # -- context management -------------------------------------------------------------

    def _attach(self, listeners: Listeners) -> None:
        if _INFO_KEY in self._session.info:
            raise RuntimeError("this session already has an active NPlusOneDetector")
        self._listeners_of_block = listeners
        self._active = True
        self._session.info[_INFO_KEY] = self._state
        listeners.add(self._session, "do_orm_execute", self._on_execute)
        # raw=True: the listener gets the InstanceState, sparing SQLAlchemy a wrapper call
        # and ``state.obj()`` per loaded row.
        listeners.add(Mapper, "load", self._on_load, raw=True)

    def _detach(self) -> None:
        self._active = False
        if self._session.info.get(_INFO_KEY) is self._state:
            del self._session.info[_INFO_KEY]
        for watched in self._state.watched:
            if watched.collection.__dict__.get(_READ_FLAG):
                self._state.eager[watched.prop].read = True
            watched.collection.__dict__.pop(_READ_FLAG, None)
            watched.collection.__class__ = watched.original_class
        self._state.watched.clear()
        self._frozen = self._collect()

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
        return tuple(f for f in self._collect() if f.kind != "unused_eager_load")

    def _collect(self) -> tuple[LoadFinding, ...]:
        state = self._state
        found: list[LoadFinding] = []
        for (_, prop), tally in state.lazy.items():
            if tally.count >= self.threshold and not self._is_allowed(prop):
                found.append(self._lazy_finding(prop, tally))
        for (_, mapper), tally in state.repeats.items():
            if tally.count >= self.repeat_threshold and not self._is_allowed_model(mapper):
                found.append(self._repeat_finding(mapper, tally))
        if not self._active:
            for prop, tally in state.eager.items():
                if not tally.read and not self._is_allowed(prop):
                    found.append(
                        LoadFinding(
                            kind="unused_eager_load",
                            label=_label(prop),
                            count=tally.count,
                            location=tally.location,
                            suggestion=(
                                f"drop the eager loader option for {_label(prop)}, or use "
                                f"lazyload/raiseload({_label(prop)}) here"
                            ),
                        )
                    )
        return tuple(found)

    def _lazy_finding(self, prop: RelationshipProperty[Any], tally: _Tally) -> LoadFinding:
        loader = "selectinload" if prop.uselist else "joinedload"
        return LoadFinding(
            kind="lazy_load",
            label=_label(prop),
            count=tally.count,
            location=tally.location,
            suggestion=f".options({loader}({_label(prop)})) on the statement loading them",
        )

    def _repeat_finding(self, mapper: Mapper[Any], tally: _Tally) -> LoadFinding:
        name = mapper.class_.__name__
        return LoadFinding(
            kind="repeated_select",
            label=name,
            count=tally.count,
            location=tally.location,
            suggestion=f"load them in one statement, e.g. select({name}).where(... .in_(keys))",
        )

    def _is_allowed(self, prop: RelationshipProperty[Any]) -> bool:
        return _label(prop) in self.allowed or self._is_allowed_model(prop.parent)

    def _is_allowed_model(self, mapper: Mapper[Any]) -> bool:
        return mapper.class_.__name__ in self.allowed

    def _report(self, findings: Iterable[LoadFinding]) -> None:
        fresh = [f for f in findings if (f.kind, f.label, f.location) not in self._reported]
        self._reported.update((f.kind, f.label, f.location) for f in fresh)
        if not fresh or self.mode == "collect":
            return
        if self.mode == "raise":
            raise NPlusOneDetected("; ".join(f.message for f in fresh))
        for finding in fresh:
            warnings.warn(finding.message, NPlusOneWarning, stacklevel=2)

    # -- listeners -------------------------------------------------------------------------

    def _on_load(self, state: Any, context: Any) -> None:
        # Runs once per loaded row of every session while the block runs: kept minimal.
        if context.session is not self._session:
            return
        attributes = context.attributes
        seen = attributes.get(_GROUP_KEY)
        if seen is None:
            # The statement's first object is only remembered on its context: an object
            # without siblings needs no group (see _group_of), so a one-row statement, the
            # most common kind, costs no weak reference.
            attributes[_GROUP_KEY] = state
            return
        groups = self._state.groups
        if type(seen) is not int:  # the second object: now the statement makes a group
            group = self._state.next_group
            self._state.next_group += 1
            groups[seen] = attributes[_GROUP_KEY] = group
            seen = group
        groups[state] = seen

    def _group_of(self, state: Any) -> Any:
        """The sibling group of ``state``: objects loaded by the same statement share it."""
        group = self._state.groups.get(state)
        if group is not None:
            return group
        # Alone in its statement (see _on_load), or loaded before the block: the ORM's
        # run id of the statement that loaded it tells such objects apart just as well.
        return ("run", getattr(state, "runid", None))

    def _on_execute(self, execute_state: ORMExecuteState) -> None:
        if not execute_state.is_select:
            return
        # bind_mapper is already known to the session; all_mappers would re-inspect the
        # statement on every execution, which is most of this listener's cost.
        mapper = execute_state.bind_mapper
        if mapper is not None and mapper not in self._seen_mappers:
            self._watch_collections(mapper)
        parent = execute_state.lazy_loaded_from
        if parent is not None:
            path = execute_state.loader_strategy_path
            prop = path[-1] if path is not None and len(path) else None
            if isinstance(prop, RelationshipProperty):
                self._count_lazy_load(parent, prop)
        elif mapper is not None:
            # is_relationship_load, without computing loader_strategy_path twice.
            path = execute_state.loader_strategy_path
            if path is not None and not path.is_root:
                return
            location = self._caller.find()
            self._state.last_statement_location = location
            if location is not None:
                repeats = self._state.repeats
                tally = repeats.get((location, mapper))
                if tally is None:  # not setdefault: that builds a _Tally on every call
                    tally = repeats[location, mapper] = _Tally()
                tally.count += 1
                tally.location = location
                if tally.count == self.repeat_threshold and not self._is_allowed_model(mapper):
                    self._report([self._repeat_finding(mapper, tally)])

    def _count_lazy_load(self, parent: Any, prop: RelationshipProperty[Any]) -> None:
        self._state.pending_lazy.add((id(parent), prop.key))
        group = self._group_of(parent)
        lazy = self._state.lazy
        tally = lazy.get((group, prop))
        if tally is None:
            tally = lazy[group, prop] = _Tally()
        tally.count += 1
        if tally.location is None:
            tally.location = self._caller.find()
        if tally.count == self.threshold and not self._is_allowed(prop):
            self._report([self._lazy_finding(prop, tally)])

    def _watch_collections(self, start: Mapper[Any]) -> None:
        """Listen for collections being filled on every relationship reachable from here."""
        todo = [start]
        watched = {(a.class_, a.key) for a in self._attributes}
        while todo:
            mapper = todo.pop()
            if mapper in self._seen_mappers:
                continue
            self._seen_mappers.add(mapper)
            for prop in mapper.relationships:
                todo.append(prop.mapper)
                attribute = prop.class_attribute
                if prop.uselist and (attribute.class_, attribute.key) not in watched:
                    self._listeners_of_block.add(
                        attribute, "init_collection", self._on_init_collection
                    )
                    self._attributes.append(attribute)
                    watched.add((attribute.class_, attribute.key))

    def _on_init_collection(self, target: Any, collection: Any, adapter: Any) -> None:
        state = inspect(target)
        if state.session_id != self._session.hash_key or state.key is None:
            return
        prop = adapter.attr.parent_token
        if (id(state), prop.key) in self._state.pending_lazy:
            # Filled by a lazy load: it was loaded because somebody read it.
            self._state.pending_lazy.discard((id(state), prop.key))
            return
        watched_class = _WATCHED_CLASSES.get(type(collection))
        if watched_class is None or not isinstance(prop, RelationshipProperty):
            return  # a custom collection class: its reads cannot be watched
        tally = self._state.eager.setdefault(prop, _Tally())
        tally.count += 1
        if tally.location is None:
            tally.location = self._state.last_statement_location
        self._state.watched.append(_Watched(collection, type(collection), prop))
        collection.__class__ = watched_class
