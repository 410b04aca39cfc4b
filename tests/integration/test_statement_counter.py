"""StatementCounter against the real server: per-session counts, other sessions, cleanup."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from sqla_lab import Database
from sqla_lab.instruments.counter import StatementCounter


async def test_counts_each_session_apart_across_transactions(database: Database) -> None:
    with StatementCounter(database.engine) as counter:
        async with database.sessionmaker() as mine, database.sessionmaker() as other:
            await mine.execute(text("SELECT 'already begun'"))
            with counter.session(mine) as my_tally, counter.session(other) as other_tally:
                await other.execute(text("SELECT 'other'"))
                await mine.execute(text("SELECT 'mine'"))
                await mine.commit()
                await mine.execute(text("SELECT 'mine, new transaction'"))
            await mine.execute(text("SELECT 'after the block'"))
    assert (my_tally.count, other_tally.count) == (2, 1)


async def test_untracked_sessions_and_connections_are_not_counted(database: Database) -> None:
    with StatementCounter(database.engine) as counter:
        async with database.sessionmaker() as tracked, database.sessionmaker() as untracked:
            with counter.session(tracked) as tally:
                await untracked.execute(text("SELECT 1"))
                async with database.engine.connect() as conn:
                    await conn.execute(text("SELECT 2"))
    assert tally.count == 0


async def test_a_failed_statement_counts(database: Database) -> None:
    with StatementCounter(database.engine) as counter:
        async with database.sessionmaker() as session:
            with counter.session(session) as tally:
                with pytest.raises(DBAPIError):
                    await session.execute(text("SELECT 1 / 0"))
                await session.rollback()
                await session.execute(text("SELECT 1"))
    assert tally.count == 2


async def test_listeners_are_removed_on_exit(database: Database) -> None:
    engine = database.engine.sync_engine
    counter = StatementCounter(database.engine)
    async with database.sessionmaker() as session:
        with counter:
            assert counter.counting
            assert event.contains(engine, "after_cursor_execute", counter._after)
            with counter.session(session):
                await session.execute(text("SELECT 1"))
                assert session.sync_session.dispatch.after_begin
                assert counter._tallies
            assert not counter._tallies
            assert not session.sync_session.dispatch.after_begin
        assert not counter.counting
    assert not event.contains(engine, "after_cursor_execute", counter._after)
    assert not event.contains(engine, "handle_error", counter._on_error)


async def test_misuse_is_a_runtime_error(database: Database) -> None:
    counter = StatementCounter(database.engine)
    async with database.sessionmaker() as session:
        with (
            pytest.raises(RuntimeError, match="enter the StatementCounter"),
            counter.session(session),
        ):
            pass
        with counter, pytest.raises(RuntimeError, match="already in use"):
            counter.__enter__()
