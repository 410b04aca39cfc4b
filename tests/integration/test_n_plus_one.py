"""NPlusOneDetector: positives, negatives, modes, allow-list and cleanup, on the real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, delete, event, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import (
    InstrumentedAttribute,
    Session,
    immediateload,
    joinedload,
    selectinload,
    sessionmaker,
    subqueryload,
)
from sqlalchemy.orm.collections import InstrumentedList
from sqlalchemy.pool import NullPool

from sqla_lab import NPlusOneDetected, NPlusOneDetector
from sqla_lab.demo import PostEntity, UserEntity
from sqla_lab.instruments.n_plus_one import NPlusOneWarning
from tests.helpers import psycopg_url
from tests.integration._loading_data import fill

USERS = 6
EAGER_OPTIONS = [
    pytest.param(selectinload, id="selectinload"),
    pytest.param(joinedload, id="joinedload"),
    pytest.param(subqueryload, id="subqueryload"),
]


@pytest.fixture
async def filled(db_session: AsyncSession) -> AsyncSession:
    await fill(db_session, users=USERS, posts_per_user=3)
    return db_session


async def _lazy_loop(session: AsyncSession) -> list[UserEntity]:
    users = (await session.scalars(select(UserEntity).order_by(UserEntity.id))).all()
    for user in users:
        await user.awaitable_attrs.posts
    return list(users)


async def test_lazy_loop_is_flagged_with_relationship_count_location_and_fix(
    filled: AsyncSession,
) -> None:
    with NPlusOneDetector(filled, mode="collect") as detector:
        await _lazy_loop(filled)
    (finding,) = detector.findings
    assert finding.kind == "lazy_load"
    assert finding.label == "UserEntity.posts"
    assert finding.count == USERS
    assert finding.location is not None
    assert finding.location.startswith(f"{__file__}:")
    assert "selectinload(UserEntity.posts)" in finding.suggestion
    assert finding.message.startswith("N+1: UserEntity.posts lazy-loaded for 6 sibling objects")


async def test_raise_mode_stops_at_the_second_sibling(filled: AsyncSession) -> None:
    users = (await filled.scalars(select(UserEntity).order_by(UserEntity.id))).all()
    loaded: list[int] = []

    async def load_each() -> None:
        for user in users:
            await user.awaitable_attrs.posts
            loaded.append(user.id)

    with NPlusOneDetector(filled, mode="raise"):  # noqa: SIM117 - the raise must leave it
        with pytest.raises(NPlusOneDetected, match=r"UserEntity\.posts lazy-loaded for 2"):
            await load_each()
    assert loaded == [1]
    assert isinstance(NPlusOneDetected("x"), AssertionError)


async def test_warn_mode_warns_once_per_finding(filled: AsyncSession) -> None:
    with pytest.warns(NPlusOneWarning, match="UserEntity.posts") as caught:
        async with NPlusOneDetector(filled, mode="warn"):
            await _lazy_loop(filled)
    assert len(caught) == 1
    # The warning points at the offending line, not into SQLAlchemy.
    assert caught[0].filename == __file__


@pytest.mark.parametrize("option", EAGER_OPTIONS)
async def test_eager_loads_that_are_read_are_not_flagged(filled: AsyncSession, option: Any) -> None:
    with NPlusOneDetector(filled, mode="raise") as detector:
        result = await filled.scalars(select(UserEntity).options(option(UserEntity.posts)))
        users = result.unique().all()
        titles = [post.title for user in users for post in user.posts]
    assert len(titles) == USERS * 3
    assert detector.findings == ()


async def test_first_then_one_lazy_load_is_not_flagged(filled: AsyncSession) -> None:
    with NPlusOneDetector(filled, mode="raise") as detector:
        user = (await filled.scalars(select(UserEntity).order_by(UserEntity.id))).first()
        assert user is not None
        assert len(await user.awaitable_attrs.posts) == 3
    assert detector.findings == ()


async def test_separate_statements_each_with_one_lazy_load_are_not_siblings(
    filled: AsyncSession,
) -> None:
    with NPlusOneDetector(filled, mode="raise") as detector:
        for user_id in (1, 2):
            stmt = select(UserEntity).where(UserEntity.id == user_id)
            user = (await filled.scalars(stmt)).one()
            await user.awaitable_attrs.posts
    assert detector.findings == ()


@pytest.mark.parametrize("option", EAGER_OPTIONS)
async def test_unused_eager_load_is_flagged(filled: AsyncSession, option: Any) -> None:
    with NPlusOneDetector(filled, mode="collect") as detector:
        result = await filled.scalars(select(UserEntity).options(option(UserEntity.posts)))
        names = [user.name for user in result.unique().all()]
    assert len(names) == USERS
    (finding,) = detector.findings
    assert finding.kind == "unused_eager_load"
    assert finding.label == "UserEntity.posts"
    # The count is the rows the eager load brought for nothing: 3 posts per user.
    assert finding.count == USERS * 3
    assert finding.fix == "drop_eager_load"
    assert finding.location is not None
    assert finding.location.startswith(f"{__file__}:")


async def test_unused_eager_load_raises_on_exit_in_raise_mode(filled: AsyncSession) -> None:
    with pytest.raises(NPlusOneDetected, match=r"unused eager load: UserEntity\.posts"):
        async with NPlusOneDetector(filled, mode="raise"):
            await filled.scalars(select(UserEntity).options(selectinload(UserEntity.posts)))


async def test_reading_one_eager_collection_through_to_domain_counts_as_use(
    filled: AsyncSession,
) -> None:
    with NPlusOneDetector(filled, mode="raise") as detector:
        stmt = select(UserEntity).options(selectinload(UserEntity.posts))
        users = (await filled.scalars(stmt)).all()
        domain = users[0].to_domain()
    assert len(domain.posts) == 3
    assert detector.findings == ()


@pytest.mark.parametrize(
    "allow",
    [
        pytest.param(["UserEntity.posts"], id="label"),
        pytest.param([UserEntity.posts], id="attribute"),
        pytest.param([UserEntity], id="model-class"),
        pytest.param(["UserEntity"], id="model-name"),
    ],
)
async def test_allow_list_is_honoured(filled: AsyncSession, allow: list[Any]) -> None:
    with NPlusOneDetector(filled, mode="raise", allow=allow) as detector:
        await _lazy_loop(filled)
        await filled.scalars(select(UserEntity).options(selectinload(UserEntity.posts)))
    assert detector.findings == ()


async def test_allow_list_for_another_relationship_does_not_hide_this_one(
    filled: AsyncSession,
) -> None:
    with NPlusOneDetector(filled, mode="collect", allow=[PostEntity.user]) as detector:
        await _lazy_loop(filled)
    assert [f.label for f in detector.findings] == ["UserEntity.posts"]


async def test_session_get_loop_is_flagged_as_repeated_select(filled: AsyncSession) -> None:
    with NPlusOneDetector(filled, mode="collect") as detector:
        for user_id in range(1, USERS + 1):
            await filled.get(UserEntity, user_id)
    (finding,) = detector.findings
    assert (finding.kind, finding.label, finding.count) == ("repeated_select", "UserEntity", 6)
    assert finding.location is not None
    assert finding.location.startswith(f"{__file__}:")


async def test_many_to_one_lazy_loop_suggests_joinedload(filled: AsyncSession) -> None:
    with NPlusOneDetector(filled, mode="collect") as detector:
        posts = (await filled.scalars(select(PostEntity).order_by(PostEntity.id).limit(6))).all()
        for post in posts:
            await post.awaitable_attrs.user
    (finding,) = detector.findings
    assert finding.label == "PostEntity.user"
    # Posts 1-3 share user 1 and 4-6 user 2: the identity map answers the repeats.
    assert finding.count == 2
    assert "joinedload(PostEntity.user)" in finding.suggestion


async def test_immediateload_is_reported_because_it_is_one_select_per_parent(
    filled: AsyncSession,
) -> None:
    with NPlusOneDetector(filled, mode="collect") as detector:
        stmt = select(UserEntity).options(immediateload(UserEntity.posts))
        users = (await filled.scalars(stmt)).all()
        assert sum(len(u.posts) for u in users) == USERS * 3
    assert [(f.kind, f.count) for f in detector.findings] == [("lazy_load", USERS)]


async def test_exit_restores_attributes_and_removes_listeners(filled: AsyncSession) -> None:
    detector = NPlusOneDetector(filled, mode="collect")
    with detector:
        stmt = select(UserEntity).options(selectinload(UserEntity.posts))
        users = (await filled.scalars(stmt)).all()
        # Until its first read, the eagerly loaded relationship's attribute is watched.
        assert type(UserEntity.__dict__["posts"]) is not InstrumentedAttribute
    assert type(UserEntity.__dict__["posts"]) is InstrumentedAttribute
    assert type(users[0].posts) is InstrumentedList
    bind = filled.sync_session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    assert isinstance(engine, Engine)
    assert not event.contains(engine, "after_cursor_execute", detector._on_statement)
    assert not event.contains(Session, "after_begin", detector._on_session_begin)
    assert [f.kind for f in detector.findings] == ["unused_eager_load"]
    with pytest.raises(RuntimeError, match="one block"):
        detector.__enter__()


async def test_nested_detectors_on_one_session_both_see_the_loop(filled: AsyncSession) -> None:
    with (
        NPlusOneDetector(filled, mode="collect") as outer,
        NPlusOneDetector(filled, mode="collect") as inner,
    ):
        await _lazy_loop(filled)
    assert [(f.kind, f.count) for f in outer.findings] == [("lazy_load", USERS)]
    assert [(f.kind, f.count) for f in inner.findings] == [("lazy_load", USERS)]


@pytest.fixture
async def committed(db_sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    """Three users with posts committed (sessions on other connections see them), removed after."""
    prefix = "n-plus-one-committed"
    async with db_sessionmaker() as setup, setup.begin():
        setup.add_all(
            UserEntity(name=f"{prefix}-{i}", posts=[PostEntity(title="t")]) for i in range(3)
        )
    try:
        yield prefix
    finally:
        async with db_sessionmaker() as cleanup, cleanup.begin():
            await cleanup.execute(delete(UserEntity).where(UserEntity.name.like(f"{prefix}-%")))


async def _committed_lazy_loop(session: AsyncSession, prefix: str) -> int:
    stmt = select(UserEntity).where(UserEntity.name.like(f"{prefix}-%"))
    users = (await session.scalars(stmt)).all()
    for user in users:
        await user.awaitable_attrs.posts
    return len(users)


async def test_other_tasks_sessions_are_not_watched(
    db_sessionmaker: async_sessionmaker[AsyncSession], committed: str
) -> None:
    # A concurrent request in a task started before the block is not this block's work.
    async with db_sessionmaker() as watched, db_sessionmaker() as other:
        go = asyncio.Event()

        async def elsewhere() -> int:
            await go.wait()
            return await _committed_lazy_loop(other, committed)

        task = asyncio.create_task(elsewhere())
        with NPlusOneDetector(watched, mode="raise") as detector:
            go.set()
            assert await task == 3
    assert detector.findings == ()


async def test_a_second_session_in_the_block_is_watched(
    db_sessionmaker: async_sessionmaker[AsyncSession], committed: str
) -> None:
    # The N+1 moved to another session is still this block's N+1.
    async with db_sessionmaker() as watched, db_sessionmaker() as other:
        with NPlusOneDetector(watched, mode="collect") as detector:
            assert await _committed_lazy_loop(other, committed) == 3
    assert [(f.kind, f.label, f.count) for f in detector.findings] == [
        ("lazy_load", "UserEntity.posts", 3)
    ]


def test_sync_session_lazy_loop_is_flagged(db_url: URL) -> None:
    engine = create_engine(psycopg_url(db_url), poolclass=NullPool)
    try:
        with Session(engine) as sync_session, sync_session.begin():
            sync_session.add_all(
                [UserEntity(name=f"sync-{i}", posts=[PostEntity(title="t")]) for i in range(3)]
            )
            sync_session.flush()
            sync_session.expunge_all()
            with NPlusOneDetector(sync_session, mode="collect") as detector:
                stmt = select(UserEntity).where(UserEntity.name.like("sync-%"))
                for user in sync_session.scalars(stmt).all():
                    assert len(user.posts) == 1
            sync_session.rollback()
        assert [(f.kind, f.count) for f in detector.findings] == [("lazy_load", 3)]
    finally:
        engine.dispose()


def test_bad_arguments_are_rejected() -> None:
    session = Session()
    with pytest.raises(ValueError, match="mode"):
        NPlusOneDetector(session, mode="loud")  # type: ignore[arg-type]  # the point
    with pytest.raises(ValueError, match="at least 2"):
        NPlusOneDetector(session, threshold=1)
    with pytest.raises(TypeError, match="cannot watch object"):
        NPlusOneDetector(object())  # type: ignore[arg-type]  # the point
    with pytest.raises(TypeError, match="sessionmaker with a bind"):
        NPlusOneDetector(sessionmaker())


async def test_two_row_statement_makes_siblings(filled: AsyncSession) -> None:
    # The first object of a statement gets a group only when a second one arrives.
    with NPlusOneDetector(filled, mode="collect") as detector:
        stmt = select(UserEntity).order_by(UserEntity.id).limit(2)
        for user in (await filled.scalars(stmt)).all():
            await user.awaitable_attrs.posts
    assert [(f.kind, f.label, f.count) for f in detector.findings] == [
        ("lazy_load", "UserEntity.posts", 2)
    ]


async def test_objects_loaded_before_the_block_are_siblings_by_statement(
    filled: AsyncSession,
) -> None:
    users = (await filled.scalars(select(UserEntity).order_by(UserEntity.id))).all()
    alone = [
        (await filled.scalars(select(UserEntity).where(UserEntity.id == user.id))).one()
        for user in users[:2]
    ]  # identity map hits: the same objects, still from the first statement
    assert alone == list(users[:2])
    with NPlusOneDetector(filled, mode="collect") as detector:
        for user in users:
            await user.awaitable_attrs.posts
    assert [(f.kind, f.label, f.count) for f in detector.findings] == [
        ("lazy_load", "UserEntity.posts", USERS)
    ]
