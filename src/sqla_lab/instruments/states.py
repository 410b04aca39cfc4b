"""Trace ORM objects through the session state machine, as a timeline of frozen steps.

SQLAlchemy announces every change of an object's state (transient, pending, persistent,
deleted, detached) through ten session lifecycle events. :class:`StateTracer` listens to all
of them on one session, a ``sessionmaker`` or a ``scoped_session`` (an ``AsyncSession`` is
traced through its ``sync_session``, because session events are sync-side events), and
removes its listeners when the ``with`` block ends, freezing what it saw into a
:class:`StateTimeline`::

    async with database.sessionmaker() as session:
        with StateTracer(session) as tracer:
            user = UserEntity(name="ann")
            session.add(user)
            await session.flush()
        tracer.timeline.transitions_of(user)
        # ('transient_to_pending', 'pending_to_persistent')

SQLAlchemy has no ready-made recorder for these events, hence this small module. Per-session
bookkeeping (the number the tracer gave a session) lives in ``session.info`` under a key
private to the tracer, never in a global.
"""

from __future__ import annotations

import itertools
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from sqla_lab.errors import ConfigurationError
from sqla_lab.instruments._core import Instrument, Listeners
from sqla_lab.translation import N_

__all__ = [
    "TRANSITIONS",
    "StateStep",
    "StateTimeline",
    "StateTracer",
    "TraceTarget",
]

#: Every session lifecycle event and the (before, after) states it stands for. An object
#: loaded from the database enters the session without a previous state: "loaded".
TRANSITIONS: dict[str, tuple[str, str]] = {
    "transient_to_pending": ("transient", "pending"),
    "pending_to_transient": ("pending", "transient"),
    "pending_to_persistent": ("pending", "persistent"),
    "loaded_as_persistent": ("loaded", "persistent"),
    "detached_to_persistent": ("detached", "persistent"),
    "persistent_to_transient": ("persistent", "transient"),
    "persistent_to_deleted": ("persistent", "deleted"),
    "deleted_to_persistent": ("deleted", "persistent"),
    "deleted_to_detached": ("deleted", "detached"),
    "persistent_to_detached": ("persistent", "detached"),
}

#: What may be traced.
TraceTarget = Session | AsyncSession | sessionmaker[Any] | scoped_session[Any]


@dataclass(frozen=True, kw_only=True)
class StateStep:
    """One transition of one object.

    Attributes:
        seq: position in the tracer's timeline, from 0.
        session: the tracer's number for the session it happened in, from 1.
        instance: a label for the object, ``ClassName#n``, stable for the tracer's lifetime.
        entity: the mapped class name.
        event: the SQLAlchemy lifecycle event, e.g. ``pending_to_persistent``.
        before: the state the object left (``loaded`` for objects loaded from the database).
        after: the state the object entered.
        identity: the primary key as text once the object has one, else ``None``.
        phase: the label of the last :meth:`StateTracer.mark` before this step.
        elapsed_ms: milliseconds since the tracer started.
    """

    seq: int
    session: int
    instance: str
    entity: str
    event: str
    before: str
    after: str
    identity: str | None
    phase: str | None
    elapsed_ms: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {field: getattr(self, field) for field in self.__dataclass_fields__}


@dataclass(frozen=True)
class StateTimeline:
    """The frozen log of a finished trace."""

    steps: tuple[StateStep, ...]
    labels: tuple[tuple[int, str], ...] = ()

    def for_instance(self, instance: object | str) -> tuple[StateStep, ...]:
        """The steps of one object, given the object itself (while traced) or its label."""
        label = instance if isinstance(instance, str) else self._label_of(instance)
        return tuple(step for step in self.steps if step.instance == label)

    def transitions_of(self, instance: object | str) -> tuple[str, ...]:
        """The event names one object went through, in order."""
        return tuple(step.event for step in self.for_instance(instance))

    def in_phase(self, phase: str) -> tuple[StateStep, ...]:
        """The steps recorded after ``mark(phase)`` and before the next mark."""
        return tuple(step for step in self.steps if step.phase == phase)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {"steps": [step.to_dict() for step in self.steps]}

    def _label_of(self, instance: object) -> str:
        for object_id, label in self.labels:
            if object_id == id(instance):
                return label
        return ""


class StateTracer(Instrument):
    """Record every state transition of the objects of a session (or of a session factory).

    Args:
        target: a ``Session``, an ``AsyncSession`` (traced via ``sync_session``), a sync
            ``sessionmaker`` or a ``scoped_session`` over one. An ``async_sessionmaker``
            cannot be traced (its sessions share the global ``Session`` class for events);
            trace each ``AsyncSession`` instead.

    Raises:
        ConfigurationError: ``target`` is none of the above.
    """

    def __init__(self, target: TraceTarget) -> None:
        # A weak reference: a finished tracer must not keep the user's session alive.
        self._target = weakref.ref(_event_target(target))
        self._steps: list[StateStep] = []
        self._labels: dict[int, tuple[weakref.ref[Any], str]] = {}
        self._counters: dict[str, itertools.count[int]] = {}
        self._session_key = f"sqla_lab.instruments.states.{id(self)}"
        self._sessions = itertools.count(1)
        self._phase: str | None = None
        self._started = 0.0
        self._timeline: StateTimeline | None = None

    @property
    def steps(self) -> tuple[StateStep, ...]:
        """A snapshot of the steps recorded so far."""
        return tuple(self._steps)

    @property
    def timeline(self) -> StateTimeline:
        """The frozen timeline; while tracing, a snapshot of it."""
        if self._timeline is not None:
            return self._timeline
        return self._freeze()

    def mark(self, phase: str) -> None:
        """Label the steps that follow (e.g. ``"flush"``), until the next mark."""
        self._phase = phase

    def label(self, instance: object) -> str:
        """The label this tracer gives ``instance`` (``ClassName#n``)."""
        known = self._labels.get(id(instance))
        if known is not None and known[0]() is instance:
            return known[1]
        entity = type(instance).__name__
        number = next(self._counters.setdefault(entity, itertools.count(1)))
        label = f"{entity}#{number}"
        self._labels[id(instance)] = (weakref.ref(instance), label)
        return label

    def _attach(self, listeners: Listeners) -> None:
        self._started = time.perf_counter()
        target = self._target()
        if target is None:
            raise ConfigurationError(N_("StateTracer: the session to trace no longer exists"))
        for name in TRANSITIONS:
            listeners.add(target, name, self._listener(name))

    def _detach(self) -> None:
        self._timeline = self._freeze()

    def _freeze(self) -> StateTimeline:
        labels = tuple(
            (object_id, label) for object_id, (ref, label) in self._labels.items() if ref()
        )
        return StateTimeline(steps=tuple(self._steps), labels=labels)

    def _session_number(self, session: Session) -> int:
        number = session.info.get(self._session_key)
        if not isinstance(number, int):
            number = next(self._sessions)
            session.info[self._session_key] = number
        return number

    def _listener(self, name: str) -> Callable[[Session, object], None]:
        before, after = TRANSITIONS[name]

        def record(session: Session, instance: object) -> None:
            identity = inspect(instance).identity
            self._steps.append(
                StateStep(
                    seq=len(self._steps),
                    session=self._session_number(session),
                    instance=self.label(instance),
                    entity=type(instance).__name__,
                    event=name,
                    before=before,
                    after=after,
                    identity=None if identity is None else ",".join(map(str, identity)),
                    phase=self._phase,
                    elapsed_ms=(time.perf_counter() - self._started) * 1000.0,
                )
            )

        return record


def _event_target(target: object) -> Session | type[Session]:
    if isinstance(target, AsyncSession):
        return target.sync_session
    if isinstance(target, Session):
        return target
    if isinstance(target, scoped_session):
        target = target.session_factory
    if isinstance(target, sessionmaker):
        session_class = target.class_
        if isinstance(session_class, type) and issubclass(session_class, Session):
            return session_class
    raise ConfigurationError(
        N_(
            "StateTracer cannot trace {kind}: pass a Session, an AsyncSession, "
            "or a sync sessionmaker/scoped_session (for an async_sessionmaker, "
            "trace each session)"
        ),
        kind=type(target).__name__,
    )
