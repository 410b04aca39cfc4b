"""Database core: commit/rollback semantics, schema, models, seeding."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sqla_lab import Database
from sqla_lab.demo import Post, PostEntity, User, UserEntity, seed


class Boom(Exception):
    pass


async def _count_users(db: Database) -> int:
    async with db.sessionmaker() as s:
        return int((await s.execute(select(func.count()).select_from(UserEntity))).scalar_one())


@pytest.fixture
async def clean_db(db_url: URL) -> AsyncIterator[Database]:
    """A ``Database`` of its own (engine + sessionmaker) on the test database, emptied first."""
    async with Database(db_url) as database:
        async with database.engine.begin() as conn:
            await conn.execute(text("TRUNCATE posts, users RESTART IDENTITY CASCADE"))
        yield database


async def test_session_commits_on_success(clean_db: Database) -> None:
    async with clean_db.session() as s:
        s.add(UserEntity(name="kept"))
    assert await _count_users(clean_db) == 1


async def test_session_rolls_back_on_error_and_reraises(clean_db: Database) -> None:
    async def add_then_fail() -> None:
        async with clean_db.session() as s:
            s.add(UserEntity(name="lost"))
            await s.flush()
            raise Boom

    with pytest.raises(Boom):
        await add_then_fail()
    assert await _count_users(clean_db) == 0


async def test_session_is_closed_after_the_block(clean_db: Database) -> None:
    async with clean_db.session() as s:
        s.add(UserEntity(name="x"))
    # A closed session holds no connection and no objects.
    assert not s.in_transaction()
    assert list(s) == []
    assert clean_db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_domain_round_trip(clean_db: Database) -> None:
    user = User.new("ada")
    user.posts.append(Post.new(None, "hello"))
    async with clean_db.session() as s:
        entity = UserEntity.from_domain(user)
        s.add(entity)
        await s.flush()
        user_id = entity.id
    async with clean_db.session() as s:
        loaded = (
            await s.execute(
                select(UserEntity)
                .options(selectinload(UserEntity.posts))
                .where(UserEntity.id == user_id)
            )
        ).scalar_one()
        domain = loaded.to_domain()
    assert domain == User(
        id=user_id, name="ada", posts=[Post(id=1, user_id=user_id, title="hello")]
    )


@pytest.mark.parametrize(("users", "per_user"), [(0, 5), (7, 0), (250, 3)])
async def test_seed_counts_and_reset_is_idempotent(
    clean_db: Database, users: int, per_user: int
) -> None:
    first = await seed(clean_db.engine, users=users, posts_per_user=per_user, reset=True)
    second = await seed(clean_db.engine, users=users, posts_per_user=per_user, reset=True)
    assert (first.users, first.posts) == (users, users * per_user)
    assert second == first


async def test_seed_without_reset_appends_and_orm_inserts_still_work(clean_db: Database) -> None:
    await seed(clean_db.engine, users=3, posts_per_user=2, reset=True)
    counts = await seed(clean_db.engine, users=2, posts_per_user=1)
    assert (counts.users, counts.posts) == (5, 8)
    async with clean_db.session() as s:
        s.add(UserEntity(name="after-seed"))
        await s.flush()
        assert (await s.execute(select(func.max(UserEntity.id)))).scalar_one() == 6


async def test_session_fixture_rolls_back_even_committed_work(db_session: AsyncSession) -> None:
    db_session.add(UserEntity(name="isolated"))
    await db_session.commit()
    names = (await db_session.execute(select(UserEntity.name))).scalars().all()
    assert "isolated" in names


async def test_statement_timeout_setting_reaches_the_server(db_url: URL) -> None:
    from sqla_lab import Settings
    from sqla_lab.database import engine_options

    settings = Settings.model_validate({"statement_timeout_ms": 1234})
    db = Database(db_url, **engine_options(settings))
    try:
        async with db.engine.connect() as conn:
            value = (await conn.execute(text("SHOW statement_timeout"))).scalar_one()
    finally:
        await db.dispose()
    assert value == "1234ms"


def test_post_entity_repr_is_readable() -> None:
    assert repr(PostEntity(id=1, user_id=2, title="t")) == "PostEntity(id=1, user_id=2, title='t')"
