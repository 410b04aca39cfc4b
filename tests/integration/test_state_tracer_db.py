"""StateTracer on real sessions against PostgreSQL: async, sync, loads, deletes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from sqla_lab import StateTracer
from sqla_lab.demo import UserEntity
from tests.helpers import psycopg_url


@pytest.fixture(scope="module")
def db_session_options() -> dict[str, Any]:
    """These journeys trace sessions that keep their objects loaded after a commit."""
    return {"expire_on_commit": False}


async def test_async_session_journey(db_sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with db_sessionmaker() as session:
        await _journey(session)


async def _journey(session: AsyncSession) -> None:
    with StateTracer(session) as tracer:
        user = UserEntity(name="traced")
        session.add(user)
        await session.flush()
        await session.delete(user)
        await session.flush()
        await session.rollback()
    assert tracer.timeline.transitions_of(user) == (
        "transient_to_pending",
        "pending_to_persistent",
        "persistent_to_deleted",
        # rollback: inserted and deleted in the same transaction, the object leaves detached
        "deleted_to_detached",
    )
    pending, persistent = tracer.timeline.steps[:2]
    assert pending.identity is None
    assert persistent.identity == str(user.id)


async def test_loading_and_closing(db_sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with db_sessionmaker() as setup:
        setup.add(UserEntity(name="loaded"))
        await setup.commit()
    async with db_sessionmaker() as s:
        with StateTracer(s) as tracer:
            tracer.mark("load")
            user = (
                await s.execute(select(UserEntity).where(UserEntity.name == "loaded"))
            ).scalar_one()
            tracer.mark("close")
            await s.close()
            tracer.mark("delete")
            await s.delete(await s.merge(user))
            await s.commit()
    timeline = tracer.timeline
    assert [step.event for step in timeline.in_phase("load")] == ["loaded_as_persistent"]
    assert [step.event for step in timeline.in_phase("close")] == ["persistent_to_detached"]
    assert [(step.instance, step.event) for step in timeline.in_phase("delete")] == [
        ("UserEntity#2", "loaded_as_persistent"),
        ("UserEntity#2", "persistent_to_deleted"),
        # expire_on_commit=False: no deleted_to_detached at commit.
    ]


async def test_detached_object_added_back(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessionmaker() as first:
        user = UserEntity(name="returning")
        first.add(user)
        await first.commit()
    async with db_sessionmaker() as second:
        with StateTracer(second) as tracer:
            second.add(user)
            await second.delete(user)
            await second.commit()
    assert tracer.timeline.transitions_of(user) == (
        "detached_to_persistent",
        "persistent_to_deleted",
        # expire_on_commit=False: the deleted object is not detached at commit...
    )
    assert tracer.timeline.steps[-1].session == 1


@pytest.mark.parametrize(
    "expire_on_commit", [pytest.param(True, id="expire"), pytest.param(False, id="keep")]
)
def test_sync_sessionmaker_with_psycopg(db_url: URL, expire_on_commit: bool) -> None:
    engine = create_engine(psycopg_url(db_url), poolclass=NullPool)
    maker = sessionmaker(engine, expire_on_commit=expire_on_commit)
    try:
        with StateTracer(maker) as tracer:
            with maker() as s:
                user = UserEntity(name="sync")
                s.add(user)
                s.commit()
                s.delete(user)
                s.commit()
            with Session(engine) as untraced:
                untraced.add(UserEntity(name="not traced"))
                untraced.rollback()
    finally:
        engine.dispose()
    expected = ("transient_to_pending", "pending_to_persistent", "persistent_to_deleted")
    if expire_on_commit:
        expected += ("deleted_to_detached",)
    assert tracer.timeline.transitions_of("UserEntity#1") == expected
    assert {step.session for step in tracer.timeline.steps} == {1}


async def test_state_tracer_works_as_async_context_manager(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessionmaker() as session, StateTracer(session) as tracer:
        user = UserEntity(name="traced-async")
        session.add(user)
        await session.flush()
        await session.rollback()
    assert tracer.timeline.transitions_of(user)[:2] == (
        "transient_to_pending",
        "pending_to_persistent",
    )
