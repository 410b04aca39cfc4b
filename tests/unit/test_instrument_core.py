"""The instruments' one life cycle: entered once, exited once, never a listener left behind.

Each instrument is made to fail inside ``__enter__`` after some of its listeners are attached
(the last ``Listeners.add`` raises): none of them may stay attached, not even the one some
instruments put on the ``Mapper`` class, process-wide. No database: nothing here connects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from sqla_lab import (
    NPlusOneDetector,
    PoolMonitor,
    QueryRecorder,
    StatementCounter,
    StateTracer,
)
from sqla_lab.instruments._core import (
    DatabaseMatch,
    Instrument,
    InstrumentState,
    Listeners,
    database_key,
    resolve,
)

URL = "postgresql+psycopg://user:secret@127.0.0.1:1/never"


class Boom(Exception):
    """Raised by the failing ``Listeners.add``."""


@pytest.fixture
def engine() -> Iterator[Engine]:
    made = create_engine(URL)
    yield made
    made.dispose()


def _makers(engine: Engine) -> dict[str, Callable[[], Instrument]]:
    session = Session(bind=engine)
    return {
        "query-recorder-engine": lambda: QueryRecorder(engine),
        "query-recorder-session": lambda: QueryRecorder(session),
        "query-recorder-factory": lambda: QueryRecorder(sessionmaker(engine)),
        "query-recorder-database": lambda: QueryRecorder(engine.url),
        "statement-counter": lambda: StatementCounter(engine),
        "pool-monitor": lambda: PoolMonitor(engine),
        "state-tracer": lambda: StateTracer(session),
        "n-plus-one-detector": lambda: NPlusOneDetector(session),
        "n-plus-one-detector-database": lambda: NPlusOneDetector(engine.url),
    }


NAMES = list(_makers(create_engine(URL)))


def _count_adds(make: Callable[[], Instrument]) -> int:
    calls = 0
    original = Listeners.add

    def counting(self: Listeners, *args: Any, **kw: Any) -> None:
        nonlocal calls
        calls += 1
        original(self, *args, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Listeners, "add", counting)
        with make():
            pass
    return calls


@pytest.mark.parametrize("name", NAMES)
def test_a_failure_inside_enter_leaves_no_listener(engine: Engine, name: str) -> None:
    makers = _makers(engine)
    make = makers[name]
    total = _count_adds(make)
    assert total >= 1
    attached: list[tuple[Any, str, Callable[..., Any]]] = []
    original = Listeners.add

    def failing_last(self: Listeners, target: Any, identifier: str, fn: Any, **kw: Any) -> None:
        if len(attached) == total - 1:
            raise Boom
        original(self, target, identifier, fn, **kw)
        attached.append((target, identifier, fn))

    instrument = make()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Listeners, "add", failing_last)
        with pytest.raises(Boom):
            instrument.__enter__()
    assert len(attached) == total - 1
    left = [(t, i) for t, i, fn in attached if event.contains(t, i, fn)]
    assert left == []
    assert instrument.state is InstrumentState.CLOSED
    assert "raw_connection" not in vars(engine)  # PoolMonitor's wrapper went too


@pytest.mark.parametrize("name", NAMES)
def test_enter_once_exit_once(engine: Engine, name: str) -> None:
    makers = _makers(engine)  # holds the session the tracer only references weakly
    instrument = makers[name]()
    assert instrument.state is InstrumentState.UNOPENED
    with instrument:
        assert instrument.state is InstrumentState.OPENED
        with pytest.raises(RuntimeError, match="already in use"):
            instrument.__enter__()
    assert instrument.state is InstrumentState.CLOSED
    with pytest.raises(RuntimeError, match="create a new one"):
        instrument.__enter__()
    with pytest.raises(RuntimeError, match="is not open"):
        instrument.__exit__(None, None, None)


async def test_async_with_is_the_same_life_cycle(engine: Engine) -> None:
    recorder = QueryRecorder(engine)
    async with recorder:
        assert recorder.recording
    assert recorder.state is InstrumentState.CLOSED


def test_listeners_remove_newest_first_and_tolerate_collected_targets(engine: Engine) -> None:
    order: list[str] = []
    listeners = Listeners()
    listeners.add(engine, "connect", lambda *a: None)
    session = Session(bind=engine)
    listeners.add(session, "after_begin", lambda *a: order.append("x"))
    del session  # collected: its listeners went with it
    listeners.remove_all()
    assert len(listeners) == 0


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param("engine", "engine", id="engine"),
        pytest.param("async-engine", "engine", id="async-engine"),
        pytest.param("session", "session", id="session"),
        pytest.param("sessionmaker", "session_class", id="sessionmaker"),
    ],
)
def test_resolve_turns_what_users_hold_into_event_targets(
    engine: Engine, target: str, expected: str
) -> None:
    async_engine = create_async_engine(URL.replace("psycopg", "asyncpg"))
    given: object = {
        "engine": engine,
        "async-engine": async_engine,
        "session": Session(bind=engine),
        "sessionmaker": sessionmaker(engine),
    }[target]
    resolved = resolve(given, what="test")
    assert getattr(resolved, expected) is not None
    assert isinstance(resolved.engine, Engine)


def test_resolve_turns_a_url_into_a_database_target() -> None:
    resolved = resolve(make_url(URL), what="test")
    assert resolved.engine is None
    assert isinstance(resolved.database, DatabaseMatch)


@pytest.mark.parametrize(
    ("other", "same"),
    [
        pytest.param("postgresql+asyncpg://other:pw@127.0.0.1:1/never", True, id="driver-user"),
        pytest.param("postgresql://user@127.0.0.1:1/never?sslmode=disable", True, id="params"),
        pytest.param("postgresql+psycopg://user:secret@127.0.0.1:1/other", False, id="database"),
        pytest.param("postgresql+psycopg://user:secret@127.0.0.1:2/never", False, id="port"),
        pytest.param("postgresql+psycopg://user:secret@localhost:1/never", False, id="host"),
        pytest.param(URL + "?search_path=sqla_lab_x", False, id="schema"),
    ],
)
def test_a_database_is_host_port_name_and_schema(other: str, same: bool) -> None:
    assert (database_key(make_url(other)) == database_key(make_url(URL))) is same


def test_a_database_match_knows_the_engines_of_a_schema_workspace() -> None:
    # The sqla_lab URL plugin takes search_path out of the engine's URL; the match still
    # tells the schema's engines from the database's others.
    schema_url = make_url(URL).update_query_dict({"plugin": "sqla_lab", "search_path": "ws"})
    in_schema = create_async_engine(schema_url.set(drivername="postgresql+asyncpg"))
    in_schema_sync = create_engine(schema_url)
    plain = create_engine(URL)
    matches = DatabaseMatch(schema_url)
    try:
        assert "search_path" not in in_schema.sync_engine.url.query
        assert matches(in_schema.sync_engine)
        assert matches(in_schema_sync)
        assert not matches(plain)
        assert not DatabaseMatch(make_url(URL))(in_schema_sync)
    finally:
        for engine in (in_schema.sync_engine, in_schema_sync, plain):
            engine.dispose()


def test_resolve_refuses_what_it_cannot_watch() -> None:
    with pytest.raises(TypeError, match="cannot watch int"):
        resolve(42, what="test")
