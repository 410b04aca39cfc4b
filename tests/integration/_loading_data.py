"""Test data for the loading tests, written inside the test's rolled-back transaction."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def fill(session: AsyncSession, *, users: int, posts_per_user: int) -> None:
    """Replace the rows of ``users``/``posts`` (ids 1..users) inside the session's transaction."""
    await session.execute(text("DELETE FROM posts"))
    await session.execute(text("DELETE FROM users"))
    await session.execute(
        text("INSERT INTO users (id, name) SELECT g, 'user-' || g FROM generate_series(1, :n) g"),
        {"n": users},
    )
    await session.execute(
        text(
            "INSERT INTO posts (user_id, title) SELECT u, 'post ' || p "
            "FROM generate_series(1, :n) u, generate_series(1, :m) p ORDER BY u, p"
        ),
        {"n": users, "m": posts_per_user},
    )
    session.expunge_all()
