"""Reading attributes from async code, and stale reads: part of the ``states`` lab.

What async code raises when it touches an expired attribute or an unloaded relationship
(persistent or detached), the fixes, and the stale value ``expire_on_commit=False`` keeps.
Split out of :mod:`sqla_lab.labs.states` to keep that module about the state machine.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from sqla_lab.database import Database
from sqla_lab.demo.models import PostEntity, UserEntity
from sqla_lab.lab.messages import N_, YES_NO, Message
from sqla_lab.lab.outcome import OK, attempt
from sqla_lab.lab.results import Cell, Finding, Measurement, Table, Verdict
from sqla_lab.lab.stats import decided
from sqla_lab.labs.states import _messages as words

__all__ = [
    "ASYNC_DOCS",
    "DOCS_SOURCE",
    "SEED_SOURCE",
    "access_findings",
    "async_access",
    "stale_finding",
    "stale_read",
]

SEED_SOURCE = "seed §3 orm Entity의 각 상태"


DOCS_SOURCE = "https://docs.sqlalchemy.org/en/20/orm/session_state_management.html"


ASYNC_DOCS = "https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html"


async def async_access(db: Database, tag: str) -> list[tuple[Cell, ...]]:
    async with db.session() as session:
        owner = UserEntity(name=f"{tag}-owner", posts=[PostEntity(title="p")])
        session.add(owner)
        await session.flush()
        owner_id = owner.id

    expiring = async_sessionmaker(db.engine, expire_on_commit=True)
    keeping = async_sessionmaker(db.engine, expire_on_commit=False)
    rows: list[tuple[Cell, ...]] = []

    async def read_name(user: UserEntity) -> str:
        return user.name

    async def read_posts(user: UserEntity) -> int:
        return len(user.posts)

    async with expiring() as session:
        user = await session.get_one(UserEntity, owner_id)
        await session.commit()
        rows.append(
            (
                "expired after commit",
                "user.name",
                (await attempt(lambda: read_name(user))).describe(),
            )
        )
        await session.refresh(user)
        rows.append(("fix: await session.refresh(user)", "user.name", await _read(user)))
        await session.commit()
        name = await user.awaitable_attrs.name
        rows.append(("fix: await user.awaitable_attrs.name", "user.name", _ok_if(name)))
        rows.append(("persistent, posts not loaded", "user.posts", await _posts(user)))
        posts = await user.awaitable_attrs.posts
        rows.append(("fix: await user.awaitable_attrs.posts", "user.posts", _ok_if(posts)))
    async with keeping() as session:
        user = await session.get_one(UserEntity, owner_id)
        await session.commit()
        rows.append(("fix: expire_on_commit=False", "user.name", await _read(user)))
    rows.append(("detached, posts not loaded", "user.posts", await _posts(user)))
    async with keeping() as session:
        query = select(UserEntity).options(selectinload(UserEntity.posts))
        eager = (await session.execute(query.where(UserEntity.id == owner_id))).scalar_one()
    rows.append(("fix: selectinload, then detached", "user.posts", await _posts(eager)))
    return rows


async def _read(user: UserEntity) -> str:
    async def read() -> str:
        return user.name

    return (await attempt(read)).describe()


async def _posts(user: UserEntity) -> str:
    async def read() -> int:
        return len(user.posts)

    return (await attempt(read)).describe()


def _ok_if(value: object) -> str:
    return OK if value is not None else "no value"


async def stale_read(db: Database, tag: str) -> dict[str, bool]:
    maker = async_sessionmaker(db.engine, expire_on_commit=False)
    async with db.session() as setup:
        row = UserEntity(name=f"{tag}-old")
        setup.add(row)
        await setup.flush()
        user_id = row.id
    async with maker() as reader:
        user = await reader.get_one(UserEntity, user_id)
        await reader.commit()
        async with maker() as writer:
            await writer.execute(
                update(UserEntity).where(UserEntity.id == user_id).values(name=f"{tag}-new")
            )
            await writer.commit()
        after_commit = user.name == f"{tag}-old"
        await _requery(reader, user_id)
        after_requery = user.name == f"{tag}-old"
        await reader.refresh(user)
        after_refresh = user.name == f"{tag}-new"
    return {
        "stale after the other session committed": after_commit,
        "stale after re-selecting the row": after_requery,
        "fresh after refresh": after_refresh,
    }


async def _requery(session: AsyncSession, user_id: int) -> None:
    await session.execute(select(UserEntity).where(UserEntity.id == user_id))


def access_findings(
    table: Table, stray_warnings: tuple[str, ...], versions: Mapping[str, str]
) -> tuple[Finding, ...]:
    outcomes = {str(row[0]): str(row[2]) for row in table.rows}
    expired = outcomes["expired after commit"]
    lazy = outcomes["persistent, posts not loaded"]
    detached = outcomes["detached, posts not loaded"]
    fixes = {case: outcome for case, outcome in outcomes.items() if case.startswith("fix:")}
    fixed = sum(outcome == OK for outcome in fixes.values())
    note: Message | str = (
        Message(words.WARNINGS, {"warnings": "; ".join(stray_warnings)}) if stray_warnings else ""
    )
    raised_greenlet = expired.endswith(".MissingGreenlet")
    raised_detached = detached.endswith(".DetachedInstanceError")
    return (
        Finding(
            key="states.expired-access",
            headline=N_("expired attribute: MissingGreenlet"),
            deciding="raised",
            claim=N_("Reading an expired attribute in async code raises MissingGreenlet."),
            source=ASYNC_DOCS,
            measurements=(Measurement.single(N_("raised"), raised_greenlet, ""),),
            explanation=Message(
                words.EXPIRED_ACCESS, {"expired": expired, "lazy": lazy, "warnings": note}
            ),
            versions=versions,
            **decided(
                Verdict.CONFIRMED if raised_greenlet else Verdict.REFUTED,
                Message(words.DECIDED_BY_THE_EXCEPTION_THE_READ),
            ).fields(),
        ),
        Finding(
            key="states.detached-lazy-load",
            headline=N_("detached lazy load: DetachedInstanceError"),
            deciding="raised",
            claim=N_(
                "Lazy-loading a relationship on a detached object raises DetachedInstanceError."
            ),
            source=DOCS_SOURCE,
            measurements=(Measurement.single(N_("raised"), raised_detached, ""),),
            explanation=Message(words.DETACHED_LAZY, {"detached": detached}),
            versions=versions,
            **decided(
                Verdict.CONFIRMED if raised_detached else Verdict.REFUTED,
                Message(words.DECIDED_BY_THE_EXCEPTION_THE_READ),
            ).fields(),
        ),
        Finding(
            key="states.access-fixes",
            headline=N_("four fixes avoid those errors"),
            deciding="fixes that worked",
            claim=(
                N_(
                    "expire_on_commit=False, refresh(), awaitable_attrs and eager loading each "
                    "avoid those errors."
                )
            ),
            source=ASYNC_DOCS,
            measurements=(
                Measurement.single(N_("fixes that worked"), fixed, ""),
                Measurement.single(N_("fixes tried"), len(fixes), ""),
            ),
            explanation=Message(
                words.ACCESS_FIXES,
                {"fixes": tuple(f"{case[5:]}: {outcome}" for case, outcome in fixes.items())},
            ),
            versions=versions,
            **decided(
                Verdict.CONFIRMED if fixed == len(fixes) else Verdict.REFUTED,
                Message(words.DECIDED_BY_WHAT_EACH_FIXED_READ),
            ).fields(),
        ),
    )


def stale_finding(stale: dict[str, bool], versions: Mapping[str, str]) -> Finding:
    stale_read = stale["stale after the other session committed"]
    verdict = Verdict.CONFIRMED if stale_read and stale["fresh after refresh"] else Verdict.REFUTED
    return Finding(
        key="states.stale-read",
        headline=N_("expire_on_commit=False reads stale data"),
        deciding="stale after re-selecting the row",
        claim=(
            N_(
                "With expire_on_commit=False an object keeps showing old values after another "
                "session changed the row, until it is refreshed."
            )
        ),
        source=SEED_SOURCE,
        quote="expire_on_commit=False 로 설정하면 ... 다만 이 방법은 expire 문제를 야기할수 있음",
        measurements=tuple(Measurement.single(name, value, "") for name, value in stale.items()),
        explanation=Message(
            words.STALE,
            {
                "after_commit": YES_NO[stale_read],
                "after_requery": YES_NO[stale["stale after re-selecting the row"]],
                "after_refresh": YES_NO[stale["fresh after refresh"]],
            },
        ),
        versions=versions,
        **decided(verdict, Message(words.DECIDED_BY_THE_ATTRIBUTE_S_VALUE)).fields(),
    )
