"""Bulk-load users and posts with ``INSERT ... SELECT generate_series``.

The rows are generated inside PostgreSQL, so 100,000 posts cost two statements and no
client-side row building: far faster than ``session.add_all`` and simpler than ``COPY``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab.demo.models import Base
from sqla_lab.errors import ConfigurationError
from sqla_lab.translation import N_
from sqla_lab.workspace import TABLE_MARK

__all__ = ["SeedCounts", "seed", "seeded_counts"]


@dataclass(frozen=True, kw_only=True)
class SeedCounts:
    """Rows in the tables after seeding."""

    users: int
    posts: int


async def seed(
    engine: AsyncEngine, *, users: int, posts_per_user: int, reset: bool = False
) -> SeedCounts:
    """Create the schema if needed and add ``users`` users with ``posts_per_user`` posts each.

    Args:
        engine: where to load.
        users: how many users to add.
        posts_per_user: posts for each new user.
        reset: empty both tables (and restart their ids) first, so that the result is exactly
            ``users`` x ``posts_per_user`` whatever was there: run twice, same state.

    Raises:
        ConfigurationError: a ``users`` or ``posts`` table exists that sqla-lab did not create
            (its comment does not carry sqla-lab's mark): it is never written to.
    """
    if users < 0 or posts_per_user < 0:
        raise ValueError("users and posts_per_user must be >= 0")
    async with engine.begin() as conn:
        await conn.run_sync(_create_own_tables)
        if reset:
            # No CASCADE: a table of somebody else's that references ours makes this fail
            # rather than be emptied with it.
            try:
                async with conn.begin_nested():
                    await conn.execute(text("TRUNCATE posts, users RESTART IDENTITY"))
            except DBAPIError as exc:
                raise ConfigurationError(
                    N_("cannot reset: another table references sqla-lab's tables ({value})"),
                    value=str(exc.orig).splitlines()[0],
                ) from None
        first_new_id = (
            await conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM users"))
        ).scalar_one()
        await conn.execute(
            text(
                "INSERT INTO users (id, name) "
                "SELECT g, 'user-' || g "
                "FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g"
            ),
            {"first": first_new_id, "last": first_new_id + users - 1},
        )
        await conn.execute(
            text(
                "INSERT INTO posts (user_id, title) "
                "SELECT u, 'post ' || p || ' of user ' || u "
                "FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS u, "
                "generate_series(1, CAST(:per_user AS integer)) AS p "
                "ORDER BY u, p"
            ),
            {"first": first_new_id, "last": first_new_id + users - 1, "per_user": posts_per_user},
        )
        # Explicit ids bypass the sequence: move it past them so ORM inserts keep working.
        await conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), coalesce(max(id), 0) + 1, "
                "false) FROM users"
            )
        )
        user_count = (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one()
        post_count = (await conn.execute(text("SELECT count(*) FROM posts"))).scalar_one()
    return SeedCounts(users=int(user_count), posts=int(post_count))


async def seeded_counts(engine: AsyncEngine) -> SeedCounts | None:
    """The rows already in sqla-lab's tables, or ``None`` when they do not exist yet."""
    async with engine.connect() as conn:
        exists = await conn.run_sync(
            lambda sync: all(inspect(sync).has_table(t.name) for t in Base.metadata.sorted_tables)
        )
        if not exists:
            return None
        users = (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one()
        posts = (await conn.execute(text("SELECT count(*) FROM posts"))).scalar_one()
    return SeedCounts(users=int(users), posts=int(posts))


def _create_own_tables(conn: Connection) -> None:
    """Create the demo tables, refusing to use a table of the same name sqla-lab did not make."""
    inspector = inspect(conn)
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        comment = inspector.get_table_comment(table.name).get("text") or ""
        if not comment.startswith(TABLE_MARK):
            raise ConfigurationError(
                N_(
                    "table {name!r} exists and was not created by sqla-lab; seed into a "
                    "database of sqla-lab's own (--keep-database NEW_NAME)"
                ),
                name=table.name,
            )
    Base.metadata.create_all(conn)
