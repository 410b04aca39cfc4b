"""Exact statement counts for every loader strategy, and the ``loading`` lab end to end."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, raiseload

from sqla_lab import QueryRecorder, Settings
from sqla_lab.demo import UserEntity
from sqla_lab.lab import LabResult, Verdict, run_labs
from sqla_lab.labs import ALL_LABS, loading_lab
from sqla_lab.labs.loading._runs import load_users
from sqla_lab.postgres import ExistingPostgres, PostgresServer
from tests.integration._loading_data import fill, separate_database

POSTS_PER_USER = 3
LAB_DATABASE = "sqla_lab_loading_lab"


def _expected_statements(strategy: str, users: int) -> int:
    return {
        "lazy": 1 + users,
        "selectinload": 1 + math.ceil(users / 500),
        "joinedload": 1,
        "subqueryload": 2,
        "immediateload": 1 + users,
    }[strategy]


@pytest.mark.parametrize("users", [pytest.param(n, id=f"N={n}") for n in (1, 10, 100)])
@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param(s, id=s)
        for s in ("lazy", "selectinload", "joinedload", "subqueryload", "immediateload")
    ],
)
async def test_statement_and_row_counts_per_strategy(
    db_session: AsyncSession, strategy: str, users: int
) -> None:
    await fill(db_session, users=users, posts_per_user=POSTS_PER_USER)
    with QueryRecorder(db_session) as recorder:
        posts = await load_users(db_session, strategy, users)
    assert posts == users * POSTS_PER_USER
    assert recorder.count == _expected_statements(strategy, users)
    # joinedload returns one row per post (parents repeated); the others one row per entity.
    expected_rows = users * POSTS_PER_USER if strategy == "joinedload" else users * 4
    assert recorder.log.rows == expected_rows


@pytest.mark.parametrize(
    ("users", "statements"),
    [
        pytest.param(499, 2, id="N=499"),
        pytest.param(500, 2, id="N=500"),
        pytest.param(501, 3, id="N=501"),
        pytest.param(1000, 3, id="N=1000"),
        pytest.param(1001, 4, id="N=1001"),
    ],
)
async def test_selectin_batches_500_parent_keys(
    db_session: AsyncSession, users: int, statements: int
) -> None:
    await fill(db_session, users=users, posts_per_user=1)
    with QueryRecorder(db_session) as recorder:
        assert await load_users(db_session, "selectinload", users) == users
    assert recorder.count == statements
    in_lists = [q.parameter_count for q in recorder.queries[1:]]
    assert max(in_lists) == min(users, 500)
    assert sum(in_lists) == users


async def test_joined_collection_without_unique_raises(db_session: AsyncSession) -> None:
    await fill(db_session, users=3, posts_per_user=2)
    stmt = select(UserEntity).options(joinedload(UserEntity.posts))
    result = await db_session.scalars(stmt)
    with pytest.raises(InvalidRequestError, match=r"unique\(\) method must be invoked"):
        result.all()


async def test_raiseload_raises_without_sql_and_plain_access_is_missing_greenlet(
    db_session: AsyncSession,
) -> None:
    await fill(db_session, users=2, posts_per_user=1)
    with QueryRecorder(db_session) as recorder:
        stmt = select(UserEntity).order_by(UserEntity.id).options(raiseload(UserEntity.posts))
        users = (await db_session.scalars(stmt)).all()
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            _ = users[0].posts
    assert recorder.count == 1
    db_session.expunge_all()
    plain = (await db_session.scalars(select(UserEntity).order_by(UserEntity.id))).all()
    with pytest.raises(MissingGreenlet):
        _ = plain[0].posts


def test_labs_run_in_the_seeds_order() -> None:
    # Seed sections: 1 connections and pool, 2 sessions, 3 object states, 4 loading; then
    # what the seed's service grows into (issue 14).
    names = [item.name for item in ALL_LABS]
    assert names == ["connect", "pool", "sessions", "states", "loading", "scale"]


@pytest.fixture(scope="module")
def lab_server(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """Its own database: the lab truncates and re-seeds ``users`` and ``posts``."""
    with separate_database(postgres, LAB_DATABASE) as url, ExistingPostgres(url) as server:
        yield server


@pytest.mark.slow
async def test_loading_lab_quick_counts_and_verdicts(lab_server: PostgresServer) -> None:
    (result,) = await run_labs([loading_lab], server=lab_server, settings=Settings(), quick=True)
    # Verdicts computed from counts (not timings) are deterministic.
    for key, verdict in {
        "lazy-n-plus-one": Verdict.CONFIRMED,
        "selectin-batches": Verdict.DEPENDS,
        "joined-duplication": Verdict.CONFIRMED,
        "subquery-immediate": Verdict.CONFIRMED,
        "raiseload": Verdict.CONFIRMED,
        "write-only": Verdict.CONFIRMED,
        "many-to-one": Verdict.CONFIRMED,
    }.items():
        assert result.finding(key).verdict is verdict, key
    for key in ("scaling", "latency", "recommendation"):
        assert result.finding(key).measurements
    scaling = result.finding("scaling")
    for strategy in ("selectinload", "joinedload"):
        ratio = scaling.measurement(f"lazy / {strategy}, cost per parent (M=10)")
        assert ratio.interval is not None
        assert ratio.interval.method == "paired bootstrap"
    joined = result.finding("joined-duplication")
    if "bytes received, joinedload N=1000 M=10" in {m.name for m in joined.measurements}:
        # Every user's columns travel once per post: more bytes than selectinload's rows.
        ratio = joined.measurement("joined / selectin bytes received").value
        assert ratio > 1.0
    # Every timed point has at least three runs (the fewest a growth interval needs).
    assert min(sweep_runs for sweep_runs in result.table("loading.sweep").column("timed runs")) >= 3
    assert result.finding("selectin-batches").measurement(
        "selectin statements, N=1001"
    ).value == pytest.approx(4)
    sweep = result.table("loading.sweep")
    by_key = {(r[0], r[2], r[3]): r for r in sweep.rows}
    assert by_key[("lazy", 1000, 10)][4] == 1001
    assert by_key[("selectinload", 1000, 10)][4] == 3
    assert by_key[("joinedload", 1000, 10)][5] == 10_000
    latency = result.table("loading.latency")
    assert sorted(set(latency.column("added latency per direction (ms)"))) == [0.0, 1.0, 5.0]
    assert min(latency.column("timed runs")) >= 3
    assert {c.key for c in result.charts} == {"loading.time-vs-n", "loading.time-vs-latency"}
    assert LabResult.from_dict(result.to_dict()) == result
