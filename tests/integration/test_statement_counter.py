"""StatementCounter against the real server: per-session counts, other sessions, cleanup."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from sqla_lab.instruments.counter import StatementCounter


async def test_counts_each_session_apart_across_transactions(
    db_engine: AsyncEngine, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    with StatementCounter(db_engine) as counter:
        async with db_sessionmaker() as mine, db_sessionmaker() as other:
            await mine.execute(text("SELECT 'already begun'"))
            with counter.session(mine) as my_tally, counter.session(other) as other_tally:
                await other.execute(text("SELECT 'other'"))
                await mine.execute(text("SELECT 'mine'"))
                await mine.commit()
                await mine.execute(text("SELECT 'mine, new transaction'"))
            await mine.execute(text("SELECT 'after the block'"))
    assert (my_tally.count, other_tally.count) == (2, 1)


async def test_untracked_sessions_and_connections_are_not_counted(
    db_engine: AsyncEngine, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    with StatementCounter(db_engine) as counter:
        async with db_sessionmaker() as tracked, db_sessionmaker() as untracked:
            with counter.session(tracked) as tally:
                await untracked.execute(text("SELECT 1"))
                async with db_engine.connect() as conn:
                    await conn.execute(text("SELECT 2"))
    assert tally.count == 0


async def test_a_failed_statement_counts(
    db_engine: AsyncEngine, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    with StatementCounter(db_engine) as counter:
        async with db_sessionmaker() as session:
            with counter.session(session) as tally:
                with pytest.raises(DBAPIError):
                    await session.execute(text("SELECT 1 / 0"))
                await session.rollback()
                await session.execute(text("SELECT 1"))
    assert tally.count == 2


async def test_listeners_are_removed_on_exit(
    db_engine: AsyncEngine, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    engine = db_engine.sync_engine
    counter = StatementCounter(db_engine)
    async with db_sessionmaker() as session:
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


async def test_misuse_is_a_runtime_error(
    db_engine: AsyncEngine, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    counter = StatementCounter(db_engine)
    async with db_sessionmaker() as session:
        with (
            pytest.raises(RuntimeError, match="enter the StatementCounter"),
            counter.session(session),
        ):
            pass
        with counter, pytest.raises(RuntimeError, match="already in use"):
            counter.__enter__()
