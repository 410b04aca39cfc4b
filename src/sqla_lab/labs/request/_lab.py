"""The ``request`` lab: what one ORM request costs, and which part of it is avoidable.

``GET /users/{id}`` (a user and their ten posts, one ``LEFT OUTER JOIN``) is written as
FastAPI endpoints on raw asyncpg, on SQLAlchemy Core and on the ORM, the last in its cheapest
form and then with each avoidable cost put back one at a time (:mod:`._endpoints`,
:mod:`._variants`). All of them are called in-process through ASGI, 10 requests in flight,
interleaved block by block, and their CPU per request compared (:mod:`._measure`). Two units
of work without FastAPI give the ORM's floor. Last, the cheapest endpoint is served with
Python's default garbage collector and with the demo service's tuning (``gc.freeze()`` and
higher thresholds); the lab restores the process's collector settings when it is done.

FastAPI is an extra (``sqla-lab[service]``): the endpoints are imported when the lab runs, and
without FastAPI every finding is ``skipped`` and says why.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Final

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sqla_lab.demo.seeding import seed
from sqla_lab.lab import LabContext, LabOutput, lab
from sqla_lab.lab.messages import N_
from sqla_lab.labs.request import _findings as findings
from sqla_lab.labs.request._measure import asgi_get, cpu_per_request, gc_runs
from sqla_lab.labs.request._variants import VARIANTS, labels

__all__ = ["NEEDS", "POSTS_PER_USER", "USERS", "request_lab"]

USERS: Final = 1000
POSTS_PER_USER: Final = 10
#: What the lab imports to build its apps; missing ones skip it.
NEEDS: Final = ("fastapi",)


def _units_of_work(
    pool: asyncpg.Pool, sessions: async_sessionmaker[AsyncSession]
) -> dict[str, Callable[[], Awaitable[None]]]:
    """The endpoint's work without FastAPI, on raw asyncpg and on the ORM."""
    from sqla_lab.labs.request._endpoints import JOIN_SQL, load_and_close, user_from_rows

    user_ids = iter(range(10**9))

    async def raw() -> None:
        user_id = 1 + next(user_ids) % USERS
        user_from_rows(await pool.fetch(JOIN_SQL, user_id))

    async def orm() -> None:
        session = sessions()
        try:
            await session.run_sync(load_and_close, 1 + next(user_ids) % USERS)
        except BaseException:
            await session.close()
            raise

    return {"raw-work": raw, "orm-work": orm}


@lab("request", title=N_("What one ORM request costs"))
async def request_lab(ctx: LabContext) -> LabOutput:
    """An ORM request costs about 2.2x raw asyncpg's CPU; each avoidable cost is measured alone."""
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        return LabOutput(findings=findings.skipped_findings(missing))
    from sqla_lab.labs.request import _endpoints as endpoints

    engine = ctx.engine(pool_size=1, max_overflow=0)
    try:
        await seed(engine, users=USERS, posts_per_user=POSTS_PER_USER, reset=True)
    finally:
        await engine.dispose()
    paths = [f"/users/{user_id}" for user_id in range(1, USERS + 1)]
    url, dsn = ctx.workspace.url, ctx.workspace.dsn
    async with AsyncExitStack() as stack:
        calls: dict[str, Callable[[], Awaitable[None]]] = {}
        for variant in VARIANTS:
            app = endpoints.build_app(url, dsn, variant.key)
            await stack.enter_async_context(app.router.lifespan_context(app))
            calls[variant.key] = asgi_get(app, paths)
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
        stack.push_async_callback(pool.close)
        read_engine = ctx.engine(pool_size=10, max_overflow=0, isolation_level="AUTOCOMMIT")
        stack.push_async_callback(read_engine.dispose)
        sessions = async_sessionmaker(read_engine, expire_on_commit=False)
        calls |= _units_of_work(pool, sessions)
        samples = await cpu_per_request(
            calls,
            blocks=ctx.repetitions(full=12, quick=6),
            slices=ctx.repetitions(full=5, quick=3),
            progress=ctx.progress,
            description=N_("request: CPU per request, interleaved"),
        )
        gc = await gc_runs(
            calls["best"],
            chunks=ctx.repetitions(full=6, quick=3),
            per_chunk=ctx.repetitions(full=1000, quick=300),
        )
    names = labels()
    return LabOutput(
        findings=(
            findings.orm_vs_raw_finding(samples, names),
            *(findings.cost_finding(cost, samples, names) for cost in findings.AVOIDABLE_COSTS),
            findings.gc_finding(gc),
            findings.avoidable_share_finding(samples, names),
            findings.floor_finding(samples, names),
        ),
        tables=(findings.variants_table(samples, names), findings.gc_table(gc)),
        charts=(findings.cpu_chart(),),
    )
