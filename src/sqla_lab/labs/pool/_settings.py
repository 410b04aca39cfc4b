"""The ``pool`` lab, finding 6: the seed's list of pool settings, library by library.

The table is not typed in by hand: each candidate name is looked up in the signature of
SQLAlchemy's ``QueuePool``/``Pool``, ``asyncpg.create_pool``/``asyncpg.connect`` and
``psycopg_pool.AsyncConnectionPool`` installed here, and a name that is not there is shown
as missing. For the settings SQLAlchemy lacks, the nearest substitutes are demonstrated:
pre-warming the pool (for a minimum size) and ``pool_use_lifo`` (so that surplus connections
stay idle and can be closed by the server's idle timeout, for a maximum idle time).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import Pool, QueuePool

from sqla_lab.instruments.pool import PoolMonitor
from sqla_lab.lab import LabContext, LabOutput
from sqla_lab.lab.messages import N_, Message, Quantity
from sqla_lab.lab.outcome import attempt
from sqla_lab.lab.results import Cell, Dependency, Finding, Measurement, Table, Verdict
from sqla_lab.lab.sources import seed_section
from sqla_lab.lab.stats import decided
from sqla_lab.labs.pool import _messages as text
from sqla_lab.labs.pool._support import SQLA_POOLING, backend_pid

__all__ = ["MISSING_HERE", "SEED_SETTINGS", "settings_survey"]

_Lookup = Callable[[str], bool]

#: The seed's settings and, per library, the parameter that provides it (None: nothing),
#: with how it is spelled at the place users set it and where that parameter lives.
SEED_SETTINGS: tuple[tuple[str, str | None, str | None, str | None, str], ...] = (
    (
        N_("Max Pool Size"),
        "pool_size",
        "max_size",
        "max_size",
        N_("SQLAlchemy: pool_size plus max_overflow is the real maximum"),
    ),
    (N_("Min Pool Size"), None, "min_size", "min_size", N_("SQLAlchemy: pre-warm at start-up")),
    (
        N_("Connection Timeout"),
        "timeout",
        "timeout",
        None,
        N_(
            "SQLAlchemy: connect_args={'timeout': s} for asyncpg; psycopg: connect_timeout in "
            "the conninfo (psycopg_pool's timeout is the wait for a pooled connection)"
        ),
    ),
    (
        N_("Idle Connection Test Period"),
        None,
        None,
        "check",
        N_(
            "SQLAlchemy: pool_pre_ping tests at checkout instead of periodically; psycopg_pool: "
            "check= runs at checkout too"
        ),
    ),
    (
        N_("Max Idle Time"),
        None,
        "max_inactive_connection_lifetime",
        "max_idle",
        N_("SQLAlchemy: pool_recycle (age, not idleness) and pool_use_lifo"),
    ),
    (N_("Max Overflow"), "max_overflow", None, None, N_("the others have min/max size instead")),
    (
        N_("Pool Timeout"),
        "pool_timeout",
        None,
        "timeout",
        N_("asyncpg: a per-call Pool.acquire(timeout=...)"),
    ),
)

#: How create_engine spells a pool parameter, where they differ.
_ENGINE_SPELLING = {
    "timeout": "pool_timeout",
    "recycle": "pool_recycle",
    "use_lifo": "pool_use_lifo",
}
_POOL_SPELLING = {v: k for k, v in _ENGINE_SPELLING.items()}


def _parameters(*functions: Callable[..., object]) -> set[str]:
    names: set[str] = set()
    for function in functions:
        names.update(inspect.signature(function).parameters)
    return names


MISSING_HERE = N_("missing here: {name}")


def _cell(name: str | None, known: set[str], shown: str | None = None) -> Cell:
    if name is None:
        return "-"
    return (shown or name) if name in known else Message(MISSING_HERE, {"name": name})


def _psycopg_pool_parameters() -> set[str] | None:
    """psycopg_pool's pool parameters, or ``None`` where it is not installed (an optional
    dependency: the ``[all]`` extra brings it)."""
    try:
        import psycopg_pool
    except ImportError:
        return None
    return _parameters(psycopg_pool.AsyncConnectionPool.__init__)


def _settings_table() -> tuple[Table, int]:
    sqlalchemy_params = _parameters(QueuePool.__init__, Pool.__init__)
    asyncpg_params = _parameters(asyncpg.create_pool, asyncpg.connect)
    psycopg_params = _psycopg_pool_parameters()
    rows: list[tuple[Cell, ...]] = []
    in_sqlalchemy = 0
    for setting, sa_name, apg_name, pg_name, note in SEED_SETTINGS:
        if setting == "Connection Timeout":
            # asyncpg's connect timeout is a driver argument, reached through connect_args.
            sa_cell: Cell = (
                N_("connect_args timeout (driver)") if "timeout" in asyncpg_params else "-"
            )
        else:
            pool_name = _POOL_SPELLING.get(sa_name or "", sa_name)
            sa_cell = _cell(pool_name, sqlalchemy_params, sa_name)
            if isinstance(sa_cell, str) and sa_name and sa_cell != "-":
                in_sqlalchemy += 1
        rows.append(
            (
                setting,
                sa_cell,
                _cell(apg_name, asyncpg_params),
                _cell(pg_name, psycopg_params)
                if psycopg_params is not None
                else N_("not checked: psycopg-pool is not installed"),
                note,
            )
        )
    table = Table(
        key="pool.settings",
        title=N_("The seed's pool settings: which pool has them, under which name"),
        columns=(
            N_("seed setting"),
            N_("SQLAlchemy (create_engine)"),
            N_("asyncpg.create_pool"),
            N_("psycopg_pool"),
            N_("substitute / note"),
        ),
        rows=tuple(rows),
    )
    return table, in_sqlalchemy


async def _prewarm(engine: AsyncEngine, count: int) -> None:
    """Open ``count`` connections at once and give them back: a minimum pool size by hand."""
    held: list[AsyncConnection] = []
    try:
        for _ in range(count):
            held.append(await engine.connect())
    finally:
        for conn in held:
            await conn.close()


async def _pids_of_sequential_checkouts(engine: AsyncEngine, count: int) -> list[int]:
    pids = []
    for _ in range(count):
        async with engine.connect() as conn:
            pids.append(await backend_pid(conn))
    return pids


async def settings_survey(ctx: LabContext) -> LabOutput:
    """Finding ``pool.settings`` with its table, and the substitutes demonstrated."""
    ctx.progress.start(N_("pool: settings and substitutes"), 2)
    table, in_sqlalchemy = _settings_table()
    warm_size, checkouts = 3, 9
    cold = ctx.engine(pool_size=warm_size, max_overflow=0)
    warmed = ctx.engine(pool_size=warm_size, max_overflow=0)
    fifo = ctx.engine(pool_size=warm_size, max_overflow=0)
    lifo = ctx.engine(pool_size=warm_size, max_overflow=0, pool_use_lifo=True)
    try:
        await _prewarm(warmed, warm_size)
        with PoolMonitor(cold) as cold_monitor, PoolMonitor(warmed) as warm_monitor:
            cold_first = await attempt(_pids_of_sequential_checkouts(cold, 1))
            warm_first = await attempt(_pids_of_sequential_checkouts(warmed, 1))
            await asyncio.gather(
                *(_pids_of_sequential_checkouts(e, warm_size - 1) for e in (cold, warmed))
            )
        ctx.progress.advance()
        for engine in (fifo, lifo):
            await _prewarm(engine, warm_size)
        fifo_pids = await _pids_of_sequential_checkouts(fifo, checkouts)
        lifo_pids = await _pids_of_sequential_checkouts(lifo, checkouts)
        ctx.progress.advance()
    finally:
        for engine in (cold, warmed, fifo, lifo):
            await engine.dispose()
    cold_snap, warm_snap = cold_monitor.snapshot(), warm_monitor.snapshot()
    total = len(SEED_SETTINGS)
    verdict = (
        Verdict.CONFIRMED
        if in_sqlalchemy == total
        else Verdict.REFUTED
        if in_sqlalchemy == 0
        else Verdict.DEPENDS
    )
    explanation = Message(
        text.SETTINGS,
        {
            "in_sqlalchemy": in_sqlalchemy,
            "total": total,
            "cold_connects": cold_snap.connects,
            "warm_connects": warm_snap.connects,
            "warm_size": warm_size,
            "cold_first": Quantity(cold_first.elapsed_s * 1000, "ms"),
            "warm_first": Quantity(warm_first.elapsed_s * 1000, "ms"),
            "checkouts": checkouts,
            "fifo": len(set(fifo_pids)),
            "lifo": len(set(lifo_pids)),
        },
    )
    finding = Finding(
        key="pool.settings",
        headline=N_("the seed's seven pool settings exist"),
        deciding="seed settings SQLAlchemy's pool has",
        claim=(
            N_(
                "A connection pool is configured with max size, min size, connection timeout, idle "
                "test period, max idle time, max overflow and pool timeout."
            )
        ),
        source=f"{seed_section(1, 'Connection 주요 설정')}; {SQLA_POOLING}",
        quote="커넥션 풀을 통해 DB와 연결하는 방법에는 여러 필요 설정이 있음",
        measurements=(
            Measurement.single(N_("seed settings SQLAlchemy's pool has"), in_sqlalchemy, "of 7"),
            Measurement.single(
                N_("connects for the first requests, cold"), cold_snap.connects, "connections"
            ),
            Measurement.single(
                N_("connects for the first requests, pre-warmed"), warm_snap.connects, "connections"
            ),
            Measurement.single(N_("first request, cold"), cold_first.elapsed_s * 1000, "ms"),
            Measurement.single(N_("first request, pre-warmed"), warm_first.elapsed_s * 1000, "ms"),
            Measurement.single(N_("distinct backends, FIFO"), len(set(fifo_pids)), "backends"),
            Measurement.single(N_("distinct backends, LIFO"), len(set(lifo_pids)), "backends"),
        ),
        explanation=explanation,
        versions=ctx.versions("sqlalchemy", "asyncpg", "psycopg-pool"),
        **decided(verdict, Message(text.DECIDED_BY_THE_PARAMETER_NAMES_IN)).fields(
            depends_on=(
                Dependency(
                    on="version",
                    name=N_("which pool library"),
                    detail=Message(
                        text.SETTINGS_LIBRARIES, {"in_sqlalchemy": in_sqlalchemy, "total": total}
                    ),
                ),
            )
        ),
    )
    reuse = Table(
        key="pool.fifo-vs-lifo",
        title=Message(
            N_("Backend pid of {checkouts} sequential requests on a warm pool of {size}"),
            {"checkouts": checkouts, "size": warm_size},
        ),
        columns=(N_("request"), N_("FIFO (default) pid"), N_("LIFO pid")),
        rows=tuple(
            (i + 1, f, li) for i, (f, li) in enumerate(zip(fifo_pids, lifo_pids, strict=True))
        ),
    )
    return LabOutput(findings=(finding,), tables=(table, reuse))
