"""The ``loading`` lab: how each relationship loader strategy scales with N and with distance.

Seed, section 4: fetching users with their posts either lazily through
``await user.awaitable_attrs.posts`` (method 1, "N+1 when loading everything") or with
``selectinload`` ("one query per table") / ``joinedload`` ("duplicated rows, needs
``unique()``"). Statements and rows are counted with
:class:`~sqla_lab.QueryRecorder` in one instrumented run; times come from
separate runs without instruments, interleaved across strategies. Data comes from
:func:`~sqla_lab.demo.seeding.seed`: users ``1..N_max`` with ``M`` posts each; a run selects
``users.id <= N``. Latency is added by :class:`~sqla_lab.FaultProxy` (per direction,
so one round trip gains twice the delay).
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence

from sqlalchemy import select, text
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import joinedload, raiseload

from sqla_lab.demo.models import UserEntity
from sqla_lab.demo.seeding import seed
from sqla_lab.instruments.faults import FaultMode, FaultProxy
from sqla_lab.instruments.recorder import QueryRecorder
from sqla_lab.lab import LabContext, LabOutput, lab
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.lab.messages import N_, Message
from sqla_lab.lab.results import Chart
from sqla_lab.lab.stats import MIN_GROUP
from sqla_lab.labs.loading import _findings as findings
from sqla_lab.labs.loading import _timings as timings
from sqla_lab.labs.loading._runs import (
    STRATEGIES,
    Counted,
    RaiseloadResult,
    SweepPoint,
    WriteOnlyPost,
    WriteOnlyResult,
    WriteOnlyUser,
    count_run,
    load_users,
    many_to_one,
)

__all__ = [
    "BOUNDARY_USERS",
    "LAB_TITLE",
    "LATENCIES_MS",
    "LATENCY_STRATEGIES",
    "MIN_TIMED_RUNS",
    "SMALL",
    "Sessions",
    "loading_lab",
]

LATENCY_STRATEGIES = ("lazy", "selectinload", "joinedload")
LATENCIES_MS = (0.0, 1.0, 5.0)
BOUNDARY_USERS = (499, 500, 501, 1000, 1001)
SMALL = 10
#: Timed runs at every point, whatever the budget: fewer leave a growth claim no interval.
MIN_TIMED_RUNS = MIN_GROUP

Sessions = async_sessionmaker[AsyncSession]


def _sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, expire_on_commit=False)


def _timed_run(sessions: Sessions, strategy: str, users: int) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        async with sessions() as session:
            await load_users(session, strategy, users)

    return run


async def _measure(
    ctx: LabContext,
    engine: AsyncEngine,
    *,
    strategies: Sequence[str],
    users: int,
    posts_per_user: int,
    latency_ms: float,
    repetitions: int,
    known_counts: Mapping[tuple[str, int], Counted] | None = None,
) -> list[SweepPoint]:
    """Count each strategy once (unless ``known_counts`` has it), then time them interleaved."""
    sessions = _sessions(engine)
    counted: dict[str, Counted] = {}
    to_count = [s for s in strategies if (s, users) not in (known_counts or {})]
    if to_count:
        ctx.progress.start(
            Message(
                N_("loading: counting N={users} M={posts}"),
                {"users": f"{users:,}", "posts": posts_per_user},
            ),
            len(to_count),
        )
    for strategy in strategies:
        known = (known_counts or {}).get((strategy, users))
        if known is None:

            async def work(session: AsyncSession, strategy: str = strategy) -> int:
                return await load_users(session, strategy, users)

            known = await count_run(sessions, work, parents=users)
            ctx.progress.advance()
        counted[strategy] = known
    samples = await sample_interleaved(
        {s: _timed_run(sessions, s, users) for s in strategies},
        repetitions=repetitions,
        warmup=0,
        progress=ctx.progress,
        description=Message(
            N_("loading: N={users} M={posts} +{delay} ms"),
            {"users": f"{users:,}", "posts": posts_per_user, "delay": f"{latency_ms:g}"},
        ),
    )
    return [
        SweepPoint(
            strategy=s,
            users=users,
            posts_per_user=posts_per_user,
            latency_ms=latency_ms,
            counted=counted[s],
            wall_ms=tuple(samples[s]),
        )
        for s in strategies
    ]


#: The claim the lab tests, as ``sqla-lab list`` and the report title it.
LAB_TITLE = N_("Lazy loading in a loop costs 1 + N statements; selectinload and joinedload do not.")


@lab("loading", title=LAB_TITLE)
async def loading_lab(ctx: LabContext) -> LabOutput:
    """Lazy loading in a loop costs 1 + N statements; selectinload and joinedload do not."""
    # Under --quick, M=1 stops at N=100 and the slowest points are timed once.
    sizes = (
        {1: (10, 100), 10: (10, 100, 1000)}
        if ctx.quick
        else {
            1: (10, 100, 1000, 10_000),
            10: (10, 100, 1000, 10_000),
        }
    )
    latency_users = (10, 100) if ctx.quick else (10, 100, 1000)
    repetitions = ctx.repetitions(full=5, quick=4)
    budget = ctx.repetitions(full=3000, quick=4000)
    seeded_users = max(*sizes[1], *sizes[10], *BOUNDARY_USERS)
    engine = ctx.engine(pool_size=1, max_overflow=0)
    sweep: list[SweepPoint] = []
    try:
        sessions = _sessions(engine)
        # M = 1 first: the 500-key batch boundary is counted on it.
        await seed(engine, users=seeded_users, posts_per_user=1, reset=True)
        boundary: dict[int, Counted] = {}
        for users in BOUNDARY_USERS:

            async def selectin(session: AsyncSession, users: int = users) -> int:
                return await load_users(session, "selectinload", users)

            boundary[users] = await count_run(sessions, selectin, parents=users)
        for posts_per_user, user_counts in sizes.items():
            if posts_per_user != 1:
                await seed(engine, users=seeded_users, posts_per_user=posts_per_user, reset=True)
            for users in user_counts:
                sweep += await _measure(
                    ctx,
                    engine,
                    strategies=STRATEGIES,
                    users=users,
                    posts_per_user=posts_per_user,
                    latency_ms=0.0,
                    repetitions=max(MIN_TIMED_RUNS, min(repetitions, budget // users)),
                )
        largest = max(sizes[10])
        wire = await _wire_bytes(engine, sessions, largest)
        unique_error = await _unique_error(sessions)
        raise_result = await _raiseload(sessions)
        write_only = await _write_only(sessions)
        many: dict[str, Counted] = {}
        for strategy in ("lazy", "joinedload"):

            async def posts_and_users(session: AsyncSession, strategy: str = strategy) -> int:
                return await many_to_one(session, strategy, 100)

            many[strategy] = await count_run(sessions, posts_and_users, parents=0)
    finally:
        await engine.dispose()
    latency = await _latency_sweep(ctx, latency_users, sweep)
    versions = ctx.versions("postgresql", "sqlalchemy", "asyncpg")
    orm = ctx.versions("sqlalchemy")

    return LabOutput(
        findings=(
            findings.lazy_finding(sweep, orm),
            findings.selectin_finding(sweep, boundary, orm),
            timings.joined_finding(sweep, latency, unique_error, wire, versions),
            findings.other_strategies_finding(sweep, orm),
            findings.raiseload_finding(raise_result, orm),
            findings.write_only_finding(write_only, orm),
            findings.many_to_one_finding(many, orm),
            timings.scaling_finding(sweep, versions),
            timings.latency_finding(latency, versions),
            timings.recommendation_finding(sweep, latency, versions),
        ),
        tables=(findings.sweep_table(sweep), findings.latency_table(latency)),
        charts=_charts(),
    )


async def _latency_sweep(
    ctx: LabContext, users_list: Sequence[int], sweep: Sequence[SweepPoint]
) -> list[SweepPoint]:
    """Lazy, selectin and joined at M=10 again, through a proxy adding latency."""
    repetitions = ctx.repetitions(full=5, quick=4)
    budget = ctx.repetitions(full=1000, quick=400)
    # Statement counts do not depend on latency: reuse those of the direct sweep.
    counts = {(p.strategy, p.users): p.counted for p in sweep if p.posts_per_user == 10}
    points: list[SweepPoint] = []
    async with FaultProxy.for_url(ctx.workspace.url) as proxy:
        engine = create_async_engine(
            proxy.proxied_url(ctx.workspace.url), pool_size=1, max_overflow=0
        )
        try:
            # Open the pooled connection now, so no timed run pays for connecting.
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            for latency_ms in LATENCIES_MS:
                proxy.set_mode(FaultMode.DELAY, delay_ms=latency_ms)
                for users in users_list:
                    points += await _measure(
                        ctx,
                        engine,
                        strategies=LATENCY_STRATEGIES,
                        users=users,
                        posts_per_user=10,
                        latency_ms=latency_ms,
                        repetitions=max(MIN_TIMED_RUNS, min(repetitions, budget // users)),
                        known_counts=counts,
                    )
        finally:
            await engine.dispose()
    return points


#: ``struct tcp_info``'s ``tcpi_bytes_received`` (Linux 4.1+): offset and size.
_TCPI_BYTES_RECEIVED = 128
_TCP_INFO_SIZE = 256


def _bytes_received(sock: object) -> int | None:
    """Bytes this TCP socket has received, from Linux's TCP_INFO; ``None`` elsewhere."""
    option = getattr(socket, "TCP_INFO", None)
    if not sys.platform.startswith("linux") or option is None:
        return None
    getsockopt = getattr(sock, "getsockopt", None)
    if getsockopt is None:
        return None
    try:
        info = getsockopt(socket.IPPROTO_TCP, option, _TCP_INFO_SIZE)
    except OSError:
        return None
    if len(info) < _TCPI_BYTES_RECEIVED + 8:
        return None
    return int(struct.unpack_from("Q", info, _TCPI_BYTES_RECEIVED)[0])


async def _wire_bytes(engine: AsyncEngine, sessions: Sessions, users: int) -> timings.WireBytes:
    """Bytes the client received for a joined and a selectin load of ``users`` (M=10).

    The engine holds one pooled connection, so both loads run on the socket read here; each is
    run once first, so that statement preparation is not counted.
    """
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        transport = getattr(raw.driver_connection, "_transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or _bytes_received(sock) is None:
        return timings.WireBytes(
            joined=None,
            selectin=None,
            why_not="the connection is not TCP on Linux (TCP_INFO unavailable)",
        )
    received: dict[str, int] = {}
    for strategy in ("joinedload", "selectinload"):
        await _timed_run(sessions, strategy, users)()
        before = _bytes_received(sock) or 0
        await _timed_run(sessions, strategy, users)()
        received[strategy] = (_bytes_received(sock) or 0) - before
    return timings.WireBytes(joined=received["joinedload"], selectin=received["selectinload"])


async def _unique_error(sessions: Sessions) -> str | None:
    """What happens when a joined eager load of a collection is read without ``unique()``."""
    stmt = select(UserEntity).where(UserEntity.id <= SMALL).options(joinedload(UserEntity.posts))
    async with sessions() as session:
        try:
            (await session.scalars(stmt)).all()
        except InvalidRequestError as error:
            return f"{type(error).__name__}: {error}"
    return None


async def _raiseload(sessions: Sessions) -> RaiseloadResult:
    stmt = select(UserEntity).where(UserEntity.id <= SMALL).order_by(UserEntity.id)
    raise_error = awaitable_error = implicit_error = None
    async with sessions() as session:
        with QueryRecorder(session) as recorder:
            users = (await session.scalars(stmt.options(raiseload(UserEntity.posts)))).all()
            try:
                _ = users[0].posts
            except InvalidRequestError as error:
                raise_error = f"{type(error).__name__}: {error}"
            try:
                await users[1].awaitable_attrs.posts
            except InvalidRequestError as error:
                awaitable_error = f"{type(error).__name__}: {error}"
    async with sessions() as session:
        plain = (await session.scalars(stmt)).all()
        try:
            _ = plain[0].posts
        except InvalidRequestError as error:
            implicit_error = f"{type(error).__name__}: {error}"
    return RaiseloadResult(
        statements=recorder.count,
        raise_error=raise_error,
        awaitable_error=awaitable_error,
        implicit_error=implicit_error,
    )


async def _write_only(sessions: Sessions) -> WriteOnlyResult:
    stmt = select(WriteOnlyUser).where(WriteOnlyUser.id <= SMALL).order_by(WriteOnlyUser.id)
    iteration_error = None
    async with sessions() as session:
        with QueryRecorder(session) as load:
            users = (await session.scalars(stmt)).all()
            collections = [user.posts for user in users]
        try:
            list(collections[0])  # the point: it raises
        except TypeError as error:
            iteration_error = f"{type(error).__name__}: {error}"
        with QueryRecorder(session) as explicit:
            posts = (await session.scalars(users[0].posts.select())).all()
        with QueryRecorder(session) as add:
            users[0].posts.add(WriteOnlyPost(title="added without loading the others"))
            await session.flush()
        await session.rollback()
    return WriteOnlyResult(
        users=len(users),
        load_statements=load.count,
        iteration_error=iteration_error,
        select_statements=explicit.count,
        posts_selected=len(posts),
        add_statements=tuple(q.sql.split()[0].upper() for q in add.queries),
    )


def _charts() -> tuple[Chart, ...]:
    return (
        Chart(
            key="loading.time-vs-n",
            title=N_("Load N users and touch their posts: wall time per strategy"),
            kind="line",
            table="loading.sweep",
            x="users (N)",
            y=("wall ms",),
            # One panel per M, the same strategy in the same colour in each (small multiples).
            series="strategy",
            facet="posts per user (M)",
            log_x=True,
            log_y=True,
            x_label=N_("users loaded (N)"),
            y_label=N_("ms (median)"),
            finding="loading.scaling",
        ),
        Chart(
            key="loading.time-vs-latency",
            title=N_("Added network latency: wall time per strategy (M=10)"),
            kind="line",
            table="loading.latency",
            x="added latency per direction (ms)",
            y=("wall ms",),
            series="strategy (N)",
            log_y=True,
            x_label=N_("added latency per direction (ms)"),
            y_label=N_("ms (median)"),
            finding="loading.latency",
        ),
    )
