"""QueryRecorder against the real server: what it records, for which target, and cleanup."""

from __future__ import annotations

import asyncio
import sys

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import NullPool

from sqla_lab import NPlusOneDetector, QueryRecorder, StatementCounter
from sqla_lab.demo import UserEntity
from sqla_lab.instruments._tap import harness_savepoints
from sqla_lab.postgres import PostgresServer
from tests.helpers import psycopg_url
from tests.integration._loading_data import fill


async def test_engine_target_records_sql_parameters_rows_and_caller(db_engine: AsyncEngine) -> None:
    async with QueryRecorder(db_engine) as recorder, db_engine.connect() as conn:
        line = sys._getframe().f_lineno + 1
        await conn.execute(text("SELECT g FROM generate_series(1, :n) g"), {"n": 7})
    (query,) = recorder.queries
    assert query.sql == "SELECT g FROM generate_series(1, $1) g"
    assert query.parameter_count == 1
    assert query.parameter_sets == 1
    assert query.rows == 7
    assert query.duration_ms > 0
    assert query.error is None
    assert query.location == f"{__file__}:{line}"


async def test_session_lazy_loop_is_one_plus_n_statements_of_two_shapes(
    db_session: AsyncSession,
) -> None:
    await fill(db_session, users=5, posts_per_user=3)
    async with QueryRecorder(db_session) as recorder:
        users = (await db_session.scalars(select(UserEntity).order_by(UserEntity.id))).all()
        for user in users:
            await user.awaitable_attrs.posts
    assert recorder.count == 1 + 5
    shapes = recorder.shapes()
    assert [s.count for s in shapes] == [5, 1]
    assert "FROM posts" in shapes[0].shape
    assert shapes[0].rows == 15
    assert shapes[1].rows == 5
    (location,) = shapes[0].locations
    assert location.startswith(f"{__file__}:")


async def test_session_target_ignores_other_sessions_on_the_same_engine(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessionmaker() as mine, db_sessionmaker() as other:
        await mine.execute(text("SELECT 'already begun'"))
        with QueryRecorder(mine) as recorder:
            await other.execute(text("SELECT 'other'"))
            await mine.execute(text("SELECT 'mine'"))
            await mine.commit()
            await mine.execute(text("SELECT 'mine, new transaction'"))
    assert [q.sql for q in recorder.queries] == [
        "SELECT 'mine'",
        "SELECT 'mine, new transaction'",
    ]


@pytest.mark.parametrize(
    "sqlalchemy_map",
    [
        pytest.param("public", id="SessionTransaction.connections"),
        pytest.param("private", id="before-2.1.7"),
    ],
)
async def test_a_session_begun_without_a_connection_is_recorded_from_its_first_statement(
    db_sessionmaker: async_sessionmaker[AsyncSession],
    sqlalchemy_map: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if sqlalchemy_map == "private" and hasattr(SessionTransaction, "connections"):
        monkeypatch.delattr(SessionTransaction, "connections")
    # add() begins the session's transaction but connects nothing yet: attaching must not
    # ask for a connection (that would be I/O outside the greenlet: MissingGreenlet).
    async with db_sessionmaker() as session:
        session.add(UserEntity(name="begun, not connected"))
        assert session.in_transaction()
        with QueryRecorder(session) as recorder:
            await session.execute(text("SELECT 'first'"))
            await session.execute(text("SELECT 'held'"))  # adopted when it began
            if sqlalchemy_map == "private":
                # Attached while the connection is held: found in the map, recorded once.
                with QueryRecorder(session) as later:
                    await session.execute(text("SELECT 'later'"))
                assert [q.sql for q in later.queries] == ["SELECT 'later'"]
        await session.rollback()
    assert [q.sql.split()[0] for q in recorder.queries][:3] == ["INSERT", "SELECT", "SELECT"]


async def test_a_counted_session_begun_without_a_connection_counts_from_its_first_statement(
    db_engine: AsyncEngine,
) -> None:
    async with AsyncSession(db_engine) as session:
        session.add(UserEntity(name="begun, not connected"))
        with StatementCounter(db_engine) as counter, counter.session(session) as tally:
            await session.execute(text("SELECT 'first'"))
        await session.rollback()
    assert tally.count == 2  # the autoflush INSERT, then the SELECT


async def test_connection_target_records_only_that_connection(db_engine: AsyncEngine) -> None:
    async with (
        db_engine.connect() as mine,
        db_engine.connect() as other,
        QueryRecorder(mine) as recorder,
    ):
        await other.execute(text("SELECT 2"))
        await mine.execute(text("SELECT 1"))
    assert [q.sql for q in recorder.queries] == ["SELECT 1"]


async def test_session_recorder_listens_on_its_connections_not_on_the_engine(
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    engine = db_engine.sync_engine
    async with db_sessionmaker() as session:
        with QueryRecorder(session) as recorder:
            await session.execute(text("SELECT 1"))
            connection = (await session.connection()).sync_connection
            assert connection is not None
            # Per connection: concurrent requests' recorders never see each other's statements.
            assert event.contains(connection, "before_cursor_execute", recorder._before)
            assert not event.contains(engine, "before_cursor_execute", recorder._before)
            assert not event.contains(engine, "after_cursor_execute", recorder._after)
        assert not event.contains(connection, "before_cursor_execute", recorder._before)
        assert not event.contains(connection, "after_cursor_execute", recorder._after)
        assert not event.contains(engine, "handle_error", recorder._on_error)
    assert recorder.count == 1


async def test_exit_removes_listeners_and_freezes_the_log(db_engine: AsyncEngine) -> None:
    engine = db_engine
    recorder = QueryRecorder(engine)
    async with recorder:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        assert recorder.recording
        assert event.contains(engine.sync_engine, "before_cursor_execute", recorder._before)
    assert not recorder.recording
    for name, listener in [
        ("before_cursor_execute", recorder._before),
        ("after_cursor_execute", recorder._after),
        ("handle_error", recorder._on_error),
    ]:
        assert not event.contains(engine.sync_engine, name, listener)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 2"))
    assert recorder.count == 1
    assert recorder.log.count == 1
    with pytest.raises(RuntimeError, match="frozen"):
        recorder.clear()
    with pytest.raises(RuntimeError, match="one block"):
        recorder.__enter__()


async def test_listeners_are_removed_when_the_block_raises(db_engine: AsyncEngine) -> None:
    recorder = QueryRecorder(db_engine)
    with pytest.raises(ZeroDivisionError):
        async with recorder:
            _ = 1 / 0
    assert not event.contains(db_engine.sync_engine, "after_cursor_execute", recorder._after)


async def test_failed_statement_is_recorded_with_its_error(db_engine: AsyncEngine) -> None:
    async with QueryRecorder(db_engine) as recorder, db_engine.connect() as conn:
        with pytest.raises(DBAPIError):
            await conn.execute(text("SELECT * FROM no_such_table"))
    (query,) = recorder.queries
    assert query.error == "ProgrammingError"
    assert query.rows is None


async def test_executemany_counts_parameter_sets(db_session: AsyncSession) -> None:
    await fill(db_session, users=0, posts_per_user=0)
    async with QueryRecorder(db_session) as recorder:
        await db_session.execute(
            text("INSERT INTO users (id, name) VALUES (:id, :name)"),
            [{"id": i, "name": f"u{i}"} for i in range(1, 4)],
        )
    (query,) = recorder.queries
    assert query.parameter_sets == 3
    assert query.parameter_count == 2


def test_sync_engine_and_session_with_psycopg(db_url: URL) -> None:
    engine = create_engine(psycopg_url(db_url), poolclass=NullPool)
    try:
        with Session(engine) as sync_session, QueryRecorder(sync_session) as recorder:
            sync_session.execute(text("SELECT CAST(:x AS integer)"), {"x": 1})
            sync_session.scalars(select(UserEntity).limit(1)).all()
        assert recorder.count == 2
        assert recorder.queries[0].parameter_count == 1
        assert recorder.queries[0].location is not None
        assert recorder.queries[0].location.startswith(f"{__file__}:")
    finally:
        engine.dispose()


async def test_a_database_target_sees_every_engine_on_it_and_no_other(
    db_url: URL, postgres: PostgresServer
) -> None:
    other_database = create_async_engine(postgres.url)
    async with QueryRecorder(db_url) as recorder:
        made_in_the_block = create_async_engine(db_url)
        sync_engine = create_engine(psycopg_url(db_url), poolclass=NullPool)
        try:
            async with made_in_the_block.connect() as conn:
                await conn.execute(text("SELECT 'async'"))

            def in_a_thread() -> None:
                with sync_engine.connect() as sync_conn:
                    sync_conn.execute(text("SELECT 'sync, in a thread'"))

            await asyncio.to_thread(in_a_thread)
            async with other_database.connect() as conn:
                await conn.execute(text("SELECT 'another database'"))
            async with made_in_the_block.connect() as conn:
                with pytest.raises(DBAPIError):
                    await conn.execute(text("SELECT * FROM no_such_table"))
        finally:
            await made_in_the_block.dispose()
            sync_engine.dispose()
            await other_database.dispose()
    assert [q.sql for q in recorder.queries] == [
        "SELECT 'async'",
        "SELECT 'sync, in a thread'",
        "SELECT * FROM no_such_table",
    ]
    assert recorder.queries[-1].error == "ProgrammingError"


async def test_a_harness_outer_savepoints_are_never_recorded(
    db_engine: AsyncEngine, db_url: URL
) -> None:
    async with db_engine.connect() as conn:
        outer = await conn.begin()
        assert conn.sync_connection is not None
        with harness_savepoints(conn.sync_connection):
            session = AsyncSession(bind=conn, join_transaction_mode="create_savepoint")
            with (
                QueryRecorder(db_url) as recorder,
                QueryRecorder(conn) as on_connection,
                NPlusOneDetector(db_url, mode="collect") as detector,
            ):
                await session.execute(text("SELECT 'first'"))  # after the harness SAVEPOINT
                await session.commit()  # RELEASE SAVEPOINT: the harness's
                async with session.begin_nested():  # the code's own: SAVEPOINT, RELEASE
                    await session.execute(text("SELECT 'nested'"))
                await session.rollback()  # ROLLBACK TO SAVEPOINT: the harness's
            await session.close()
        await outer.rollback()
    expected = [
        "SELECT 'first'",
        "SAVEPOINT sa_savepoint_3",
        "SELECT 'nested'",
        "RELEASE SAVEPOINT sa_savepoint_3",
    ]
    assert [q.sql for q in recorder.queries] == expected
    assert [q.sql for q in on_connection.queries] == expected
    assert detector.findings == ()


def test_unsupported_target_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="cannot watch str"):
        QueryRecorder("postgresql://")  # type: ignore[arg-type]  # the point of the test
