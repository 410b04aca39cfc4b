"""Test data for the loading tests, written inside the test's rolled-back transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from sqla_lab.postgres import PostgresServer
from sqla_lab.workspace import Workspace


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


@contextmanager
def separate_database(postgres: PostgresServer, name: str) -> Iterator[URL]:
    """A fresh workspace on ``postgres`` for the block (``name`` is its purpose), dropped after."""
    with Workspace(postgres, purpose=name.replace("_", "")[:20]) as workspace:
        yield workspace.url
