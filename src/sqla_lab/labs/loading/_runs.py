"""Measurement helpers of the ``loading`` lab: one way of loading, counted and timed.

Every run opens a fresh session (empty identity map), loads ``N`` users and touches each
user's posts the way the strategy intends, then closes the session. A *counted* run wraps
that in a :class:`~sqla_lab.QueryRecorder` and an
:class:`~sqla_lab.NPlusOneDetector`; *timed* runs carry no instrument at all, so
the times are not inflated by the instruments' per-statement cost.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    WriteOnlyMapped,
    immediateload,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
    subqueryload,
)

from sqla_lab.demo.models import PostEntity, UserEntity
from sqla_lab.instruments.n_plus_one import NPlusOneDetector
from sqla_lab.instruments.recorder import QueryLog, QueryRecorder

__all__ = [
    "LAB_IGNORED_MODULES",
    "SELECTIN_BATCH",
    "STRATEGIES",
    "Counted",
    "RaiseloadResult",
    "Sessions",
    "SweepPoint",
    "WriteOnlyPost",
    "WriteOnlyResult",
    "WriteOnlyUser",
    "count_run",
    "load_users",
    "many_to_one",
    "selectin_statements",
]

#: Strategies of the sweep, in the order the tables list them.
STRATEGIES: tuple[str, ...] = (
    "lazy",
    "selectinload",
    "joinedload",
    "subqueryload",
    "immediateload",
)

#: SQLAlchemy's ``SelectInLoader._chunksize``: parent keys per ``IN (...)`` statement.
SELECTIN_BATCH = 500

#: Locate offending code in this lab (its frames would be skipped by the default list).
LAB_IGNORED_MODULES: tuple[str, ...] = (
    "sqlalchemy",
    "sqla_lab.instruments.recorder",
    "sqla_lab.instruments.n_plus_one",
    "sqla_lab.labs.loading._runs",
    "asyncio",
    "contextlib",
    "greenlet",
)

_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "selectinload": selectinload,
    "joinedload": joinedload,
    "subqueryload": subqueryload,
    "immediateload": immediateload,
}

Sessions = async_sessionmaker[AsyncSession]


def selectin_statements(users: int) -> int:
    """What SQLAlchemy's docs predict for ``selectinload``: 1 + ceil(N / 500)."""
    return 1 + math.ceil(users / SELECTIN_BATCH)


async def load_users(session: AsyncSession, strategy: str, users: int) -> int:
    """Load users 1..``users`` with ``strategy`` and touch every user's posts.

    Returns:
        The number of posts seen.
    """
    stmt = select(UserEntity).where(UserEntity.id <= users).order_by(UserEntity.id)
    option = _OPTIONS.get(strategy)
    if option is not None:
        stmt = stmt.options(option(UserEntity.posts))
    result = await session.scalars(stmt)
    # joinedload of a collection must be de-duplicated (the seed's ``.unique()``).
    loaded = result.unique().all() if strategy == "joinedload" else result.all()
    posts = 0
    for user in loaded:
        if strategy == "lazy":
            posts += len(await user.awaitable_attrs.posts)
        else:
            posts += len(user.posts)
    return posts


@dataclass(frozen=True, kw_only=True)
class Counted:
    """What one instrumented run saw."""

    statements: int
    rows: int
    entities: int
    largest_parameter_count: int
    flagged: tuple[str, ...]
    log: QueryLog


async def count_run(
    sessions: Sessions,
    work: Callable[[AsyncSession], Awaitable[int]],
    *,
    parents: int,
) -> Counted:
    """Run ``work`` (returning children seen) once under a recorder and a detector."""
    async with sessions() as session:
        with (
            QueryRecorder(session, ignored_modules=LAB_IGNORED_MODULES) as recorder,
            NPlusOneDetector(
                session, mode="collect", ignored_modules=LAB_IGNORED_MODULES
            ) as detector,
        ):
            children = await work(session)
    log = recorder.log
    return Counted(
        statements=log.count,
        rows=log.rows,
        entities=parents + children,
        largest_parameter_count=max((q.parameter_count for q in log.queries), default=0),
        flagged=tuple(f"{f.kind}:{f.label}x{f.count}" for f in detector.findings),
        log=log,
    )


@dataclass(frozen=True, kw_only=True)
class SweepPoint:
    """One strategy at one (N, M, added latency): counts from the recorded run, wall times
    from the runs without instruments."""

    strategy: str
    users: int
    posts_per_user: int
    latency_ms: float
    counted: Counted
    wall_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """Median wall time."""
        return statistics.median(self.wall_ms)

    @property
    def us_per_entity(self) -> float:
        """Median wall time per entity built, in microseconds."""
        return self.median_ms * 1000.0 / max(1, self.counted.entities)


@dataclass(frozen=True, kw_only=True)
class RaiseloadResult:
    """What ``raiseload`` and an implicit async lazy load did."""

    statements: int
    raise_error: str | None
    awaitable_error: str | None
    implicit_error: str | None


@dataclass(frozen=True, kw_only=True)
class WriteOnlyResult:
    """What a ``lazy="write_only"`` collection did."""

    users: int
    load_statements: int
    iteration_error: str | None
    select_statements: int
    posts_selected: int
    add_statements: tuple[str, ...]


class _WriteOnlyBase(DeclarativeBase):
    """A separate registry: the write-only mapping must not touch :mod:`sqla_lab.demo.models`."""


class WriteOnlyUser(_WriteOnlyBase):
    """``users`` mapped with ``posts`` as a ``lazy="write_only"`` collection."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    posts: WriteOnlyMapped[WriteOnlyPost] = relationship(
        lazy="write_only", order_by="WriteOnlyPost.id"
    )


class WriteOnlyPost(_WriteOnlyBase):
    """``posts`` for :class:`WriteOnlyUser`."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))


async def many_to_one(session: AsyncSession, strategy: str, users: int) -> int:
    """Load the posts of users 1..``users`` and touch each post's user.

    Returns:
        Entities seen: posts plus distinct users.
    """
    stmt = select(PostEntity).where(PostEntity.user_id <= users).order_by(PostEntity.id)
    if strategy == "joinedload":
        stmt = stmt.options(joinedload(PostEntity.user))
    posts = (await session.scalars(stmt)).all()
    seen: set[int] = set()
    for post in posts:
        user = await post.awaitable_attrs.user if strategy == "lazy" else post.user
        seen.add(user.id)
    return len(posts) + len(seen)
