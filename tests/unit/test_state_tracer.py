"""StateTracer without a database: targets, listener clean-up, labels and phases."""

from __future__ import annotations

import gc
import weakref

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from sqla_lab import ConfigurationError, StateTracer
from sqla_lab.demo import UserEntity
from sqla_lab.instruments.states import TRANSITIONS


def test_covers_every_session_lifecycle_event() -> None:
    assert set(TRANSITIONS) == {
        "transient_to_pending",
        "pending_to_transient",
        "pending_to_persistent",
        "loaded_as_persistent",
        "detached_to_persistent",
        "persistent_to_transient",
        "persistent_to_deleted",
        "deleted_to_persistent",
        "deleted_to_detached",
        "persistent_to_detached",
    }


def test_add_and_expunge_are_traced_without_a_database() -> None:
    session = Session()
    user = UserEntity(name="ann")
    with StateTracer(session) as tracer:
        tracer.mark("add")
        session.add(user)
        tracer.mark("expunge")
        session.expunge(user)
    timeline = tracer.timeline
    assert timeline.transitions_of(user) == ("transient_to_pending", "pending_to_transient")
    assert [(s.phase, s.before, s.after) for s in timeline.steps] == [
        ("add", "transient", "pending"),
        ("expunge", "pending", "transient"),
    ]
    assert [s.instance for s in timeline.steps] == ["UserEntity#1", "UserEntity#1"]
    assert [s.session for s in timeline.steps] == [1, 1]
    assert timeline.steps[0].identity is None
    assert timeline.in_phase("expunge") == (timeline.steps[1],)


def test_listeners_are_removed_on_exit_even_after_an_error() -> None:
    session = Session()
    tracer = StateTracer(session)
    with pytest.raises(RuntimeError), tracer:
        raise RuntimeError("boom")
    # After exit nothing is recorded any more: the listeners are gone.
    session.add(UserEntity(name="late"))
    assert tracer.timeline.steps == ()
    assert not session.dispatch.transient_to_pending


def test_steps_are_frozen_and_serialisable() -> None:
    session = Session()
    with StateTracer(session) as tracer:
        session.add(UserEntity(name="ann"))
    step = tracer.timeline.steps[0]
    with pytest.raises(AttributeError):
        step.event = "other"  # type: ignore[misc]  # checking that the dataclass is frozen
    assert tracer.timeline.to_dict()["steps"][0]["event"] == "transient_to_pending"


def test_each_session_of_a_sessionmaker_gets_its_own_number() -> None:
    maker = sessionmaker()
    with StateTracer(maker) as tracer:
        first, second = maker(), maker()
        first.add(UserEntity(name="a"))
        second.add(UserEntity(name="b"))
    assert [(s.session, s.instance) for s in tracer.timeline.steps] == [
        (1, "UserEntity#1"),
        (2, "UserEntity#2"),
    ]
    # Another factory's sessions are not traced.
    other = sessionmaker()()
    with StateTracer(maker) as tracer:
        other.add(UserEntity(name="c"))
    assert tracer.timeline.steps == ()


def test_scoped_session_and_async_session_are_accepted() -> None:
    registry = scoped_session(sessionmaker())
    with StateTracer(registry) as tracer:
        registry().add(UserEntity(name="a"))
    registry.remove()
    assert len(tracer.timeline.steps) == 1

    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    async_session = AsyncSession(engine)
    with StateTracer(async_session) as tracer:
        async_session.add(UserEntity(name="b"))
    assert tracer.timeline.transitions_of("UserEntity#1") == ("transient_to_pending",)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda: async_sessionmaker(), id="async_sessionmaker"),
        pytest.param(lambda: "not a session", id="string"),
        pytest.param(lambda: Session, id="session-class"),
    ],
)
def test_untraceable_targets_raise_a_configuration_error(target: object) -> None:
    with pytest.raises(ConfigurationError, match="StateTracer cannot trace"):
        StateTracer(target())  # type: ignore[operator]  # the lambdas build the target


def test_a_finished_tracer_does_not_keep_the_session_alive() -> None:
    session = Session()
    with StateTracer(session) as tracer:
        session.add(UserEntity(name="a"))
    alive = weakref.ref(session)
    del session
    gc.collect()
    assert alive() is None
    assert len(tracer.timeline.steps) == 1
