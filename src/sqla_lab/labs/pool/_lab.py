"""The ``pool`` lab: every connection-pool claim of the seed's section 1, measured.

Seed, section 1 ("데이터베이스 connection 동작과 connection pool의 동작"): why pool at all,
``pool_pre_ping`` and ``pool_recycle`` against broken connections, the pool's limits, a
``statement_timeout`` sent at connect, the list of pool settings, and what a broken connection
does to a request. Each finding is computed from what happens on the real server: backend
pids before and after ``pg_terminate_backend``, the exception a request raises, the pool's
own counters, and timings of the steps involved.

The parts live in private modules: :mod:`._connect` (what a new connection costs),
:mod:`._limits` (pool_timeout and overflow), :mod:`._settings` (the settings
table) and :mod:`._halfopen` (a half-open connection through
:class:`~sqla_lab.FaultProxy`); this module holds the rest and the lab itself.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from sqla_lab.lab import LabContext, LabOutput, lab
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.lab.messages import N_, NOTHING, YES_NO, Message, Quantity
from sqla_lab.lab.outcome import attempt
from sqla_lab.lab.results import Cell, Dependency, Finding, Measurement, Table, Verdict
from sqla_lab.lab.sources import seed_section
from sqla_lab.lab.stats import (
    Band,
    Estimate,
    Judgement,
    Scale,
    decided,
    describe_estimate,
    judge,
    paired_difference,
    paired_ratio,
)
from sqla_lab.labs.pool import _messages as text_
from sqla_lab.labs.pool._connect import connection_breakdown
from sqla_lab.labs.pool._halfopen import half_open_connection
from sqla_lab.labs.pool._limits import limits
from sqla_lab.labs.pool._settings import settings_survey
from sqla_lab.labs.pool._support import (
    ASYNCPG_API,
    SECTION,
    SQLA_POOLING,
    as_float,
    backend_alive,
    backend_pid,
    pid_of_next_checkout,
    select_one,
    terminate_backend,
)

__all__ = [
    "CLAIMED_PRE_PING_MS",
    "COMMAND_TIMEOUT_S",
    "PRE_PING_COST_QUOTE",
    "PRE_PING_QUOTE",
    "RECYCLE_QUOTE",
    "SLEEP_S",
    "STATEMENT_TIMEOUT_MS",
    "STATEMENT_TIMEOUT_QUOTE",
    "WITHOUT_PING",
    "WITH_PING",
    "judge_pre_ping",
    "pool_lab",
    "pre_ping_scale",
]

WITHOUT_PING = N_("without pre-ping")
WITH_PING = N_("with pre-ping")

#: The seed's "로컬 테스트 0.01s" for pre-ping.
CLAIMED_PRE_PING_MS = 10.0
STATEMENT_TIMEOUT_MS, SLEEP_S = 1000, 1.1
#: asyncpg's command_timeout, used as a statement timeout: it bounds the same pg_sleep.
COMMAND_TIMEOUT_S = 0.5
PRE_PING_COST_QUOTE = (
    "모든 요청시 해당 명령어를 날린 후 동작하기에 약간의 시간이 더 필요하다.(로컬 테스트 0.01s)"
)
PRE_PING_QUOTE = (
    "pool_pre_ping=True: 커넥션을 사용하기 전에 간단한 명"
    "령어 (select 1;)을 날려 해당 커넥션이 살아있는지 확인한다."
)
RECYCLE_QUOTE = (
    "pool_recycle=3600: 커넥션의 수명을 명시적으로 설정. ... 설"
    "정시간보다 커넥션이 먼저 죽을 경우 timeout을 완전히 방어하지는 못한다."
)
STATEMENT_TIMEOUT_QUOTE = (
    'connect_args={"server_settings": {"statement_timeout": "1000"}}  # 단위가 ms'
)


def pre_ping_scale() -> Scale:
    """The seed's "about 0.01 s": within a factor 3 confirmed, far cheaper refuted."""
    return Scale(
        (
            Band(CLAIMED_PRE_PING_MS / 3, Verdict.REFUTED, text_.PRE_PING_CHEAPER),
            Band(CLAIMED_PRE_PING_MS * 3, Verdict.CONFIRMED, text_.PRE_PING_AS_CLAIMED),
            Band(math.inf, Verdict.DEPENDS, text_.PRE_PING_DEARER),
        )
    )


def judge_pre_ping(overhead_ms: Estimate, *, what: str = N_("pre-ping overhead")) -> Judgement:
    """Judge a measured pre-ping overhead (a difference, in ms) against the seed's 0.01 s."""
    return judge(overhead_ms, pre_ping_scale(), what=what, unit="ms", kind="difference")


@lab("pool", title=text_.TITLE)
async def pool_lab(ctx: LabContext) -> LabOutput:
    """The seed's pool advice (pre-ping, recycle, pool limits, timeouts) works as it says."""
    parts = [
        await connection_breakdown(ctx),
        await _returned_on_session_end(ctx),
        await _pre_ping(ctx),
        await _recycle(ctx),
        await limits(ctx),
        await _timeouts(ctx),
        await settings_survey(ctx),
        await half_open_connection(ctx),
    ]
    return LabOutput(
        findings=tuple(f for part in parts for f in part.findings),
        tables=tuple(t for part in parts for t in part.tables),
        charts=tuple(c for part in parts for c in part.charts),
    )


# -- 2. pool_pre_ping ---------------------------------------------------------------------
async def _pre_ping(ctx: LabContext) -> LabOutput:
    repetitions = ctx.repetitions(full=300, quick=100)
    plain = ctx.engine(pool_size=1, max_overflow=0)
    pinged = ctx.engine(pool_size=1, max_overflow=0, pool_pre_ping=True)
    try:
        samples = await sample_interleaved(
            {
                WITHOUT_PING: lambda: select_one(plain),
                WITH_PING: lambda: select_one(pinged),
            },
            repetitions=repetitions,
            progress=ctx.progress,
            description=N_("pool: pre-ping cost"),
        )
        ctx.progress.start(N_("pool: pre-ping after pg_terminate_backend"), 2)
        rows: list[tuple[Cell, ...]] = []
        outcomes = {}
        for name, engine in ((WITHOUT_PING, plain), (WITH_PING, pinged)):
            before = await pid_of_next_checkout(engine)
            killed = await terminate_backend(ctx.workspace.dsn, before)
            after = await attempt(pid_of_next_checkout(engine))
            then = await attempt(pid_of_next_checkout(engine))
            outcomes[name] = (before, killed, after, then)
            rows.append(
                (
                    name,
                    before,
                    killed,
                    after.value if after.ok else None,
                    after.error_name or N_("ok"),
                    then.value if then.ok else None,
                )
            )
            ctx.progress.advance()
    finally:
        await plain.dispose()
        await pinged.dispose()
    without = Measurement.from_samples(
        N_("checkout + SELECT 1, without pre-ping"), samples[WITHOUT_PING], "ms"
    )
    with_ping = Measurement.from_samples(
        N_("checkout + SELECT 1, with pre-ping"), samples[WITH_PING], "ms"
    )
    overhead = paired_difference(with_ping.samples, without.samples)
    ratio = paired_ratio(with_ping.samples, without.samples)
    judgement = judge_pre_ping(overhead)
    versions = ctx.versions("postgresql", "sqlalchemy", "asyncpg")
    cost = Finding(
        key="pool.pre-ping-cost",
        headline=N_("pool_pre_ping costs about 0.01 s"),
        deciding="pre-ping overhead",
        claim=N_("pool_pre_ping costs about 0.01 s per checkout."),
        source=SECTION,
        quote=PRE_PING_COST_QUOTE,
        measurements=(
            without,
            with_ping,
            overhead.measurement(N_("pre-ping overhead"), "ms", kind="difference"),
            ratio.measurement(N_("with / without pre-ping"), "x"),
        ),
        explanation=Message(
            text_.PRE_PING_COST,
            {
                "without": Quantity(without.value, "ms"),
                "with_ping": Quantity(with_ping.value, "ms"),
                "rounds": overhead.n,
                "overhead": describe_estimate(overhead, "ms", kind="difference"),
                "ratio": describe_estimate(ratio, "x"),
            },
        ),
        versions=versions,
        **judgement.fields(
            depends_on=(
                Dependency(
                    on="machine",
                    name=N_("this machine and server"),
                    detail=describe_estimate(overhead, "ms", kind="difference"),
                ),
            )
        ),
    )
    plain_before, plain_killed, plain_after, plain_then = outcomes[WITHOUT_PING]
    ping_before, ping_killed, ping_after, _ = outcomes[WITH_PING]
    failed_without = not plain_after.ok
    recovered_with = ping_after.ok and ping_after.value != ping_before
    protects = Finding(
        key="pool.pre-ping-protects",
        headline=N_("pre-ping saves a request after a drop"),
        deciding="request succeeded on a new backend with pre-ping",
        claim=(
            N_(
                "With pool_pre_ping a request after the server dropped a pooled connection "
                "succeeds on a new connection; without it, the request fails."
            )
        ),
        source=SECTION,
        quote=PRE_PING_QUOTE,
        measurements=(
            Measurement.single(
                N_("request failed without pre-ping"), as_float(failed_without), "bool"
            ),
            Measurement.single(
                N_("request succeeded on a new backend with pre-ping"),
                as_float(recovered_with),
                "bool",
            ),
        ),
        explanation=Message(
            text_.PRE_PING_PROTECTS,
            {
                "plain_pid": plain_before,
                "ping_pid": ping_before,
                "killed": YES_NO[plain_killed and ping_killed],
                "plain_error": plain_after.error_name or NOTHING,
                "plain_then": (
                    Message(text_.RAN_ON, {"pid": plain_then.value})
                    if plain_then.ok
                    else Message(text_.FAILED_TOO)
                ),
                "ping_next": (
                    Message(text_.RAN_ON_NEW, {"pid": ping_after.value})
                    if ping_after.ok
                    else Message(text_.RAISED, {"error": ping_after.error_name})
                ),
            },
        ),
        versions=ctx.versions("sqlalchemy", "asyncpg"),
        **decided(
            Verdict.CONFIRMED if failed_without and recovered_with else Verdict.REFUTED,
            Message(text_.DECIDED_BY_THE_REQUESTS_OUTCOMES_AFTER),
        ).fields(),
    )
    table = Table(
        key="pool.pre-ping-after-kill",
        title=N_("A pooled connection's backend is terminated; the next two requests"),
        columns=(
            N_("engine"),
            N_("pid before"),
            N_("backend gone"),
            N_("next request pid"),
            N_("next request"),
            N_("request after pid"),
        ),
        rows=tuple(rows),
    )
    return LabOutput(findings=(cost, protects), tables=(table,))


# -- 1b. the connection goes back when the session ends -------------------------------------
async def _returned_on_session_end(ctx: LabContext) -> LabOutput:
    """Where a session's connection is between the steps of a unit of work."""
    ctx.progress.start(N_("pool: when a session gives its connection back"), 1)
    engine = ctx.engine(pool_size=1, max_overflow=1)
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    sessions = async_sessionmaker(engine)
    rows: list[tuple[Cell, ...]] = []
    pids: dict[str, int | None] = {}

    def step(label: str, pid: int | None = None) -> int:
        checked_out = pool.checkedout()
        rows.append((label, checked_out, pool.checkedin(), pid))
        pids[label] = pid
        return checked_out

    try:
        session = sessions()
        step(N_("session created"))
        pid = await _session_pid(session)
        after_execute = step(N_("first statement"), pid)
        await session.commit()
        after_commit = step(N_("commit (session still open)"))
        pid_again = await _session_pid(session)
        step(N_("next statement"), pid_again)
        await session.close()
        after_close = step(N_("close"))
        async with sessions() as following:
            next_pid = await _session_pid(following)
            step(N_("next session, first statement"), next_pid)
        step(N_("next session closed by 'async with'"))
        forgotten_session = sessions()
        await _session_pid(forgotten_session)
        forgotten = step(N_("a session left open after a statement"))
        await forgotten_session.close()
        step(N_("that session closed"))
    finally:
        await engine.dispose()
    ctx.progress.advance()
    returned = (
        after_execute == 1
        and after_commit == 0
        and after_close == 0
        and pid == pid_again == next_pid
        and forgotten == 1
    )
    gc.collect()
    table = Table(
        key="pool.session-connection",
        title=N_("A session's connection, step by step (pool_size=1)"),
        columns=(N_("step"), N_("checked out"), N_("checked in"), N_("backend pid")),
        rows=tuple(rows),
    )
    finding = Finding(
        key="pool.returned-on-session-end",
        headline=N_("session end returns the connection"),
        deciding="next session on the same backend",
        claim=(
            N_(
                "When the work is done the connection goes back to the pool and the session ends; "
                "the next session reuses it."
            )
        ),
        source=f"{seed_section(1, '애플리케이션과 데이터베이스의 상호작용 순서')}; {SQLA_POOLING}",
        quote="작업이 완료되면 커넥션을 커넥션 풀에 반환하고 세션을 종료",
        measurements=(
            Measurement.single(N_("checked out after the first statement"), after_execute, ""),
            Measurement.single(N_("checked out after commit, session open"), after_commit, ""),
            Measurement.single(N_("checked out after close"), after_close, ""),
            Measurement.single(
                N_("next session on the same backend"), as_float(next_pid == pid), "bool"
            ),
            Measurement.single(N_("checked out while a session is left open"), forgotten, ""),
        ),
        explanation=Message(
            text_.RETURNED,
            {
                "pid": pid,
                "after_execute": after_execute,
                "after_commit": after_commit,
                "pid_again": pid_again,
                "after_close": after_close,
                "next_pid": next_pid,
                "forgotten": forgotten,
            },
        ),
        versions=ctx.versions("sqlalchemy"),
        **decided(
            Verdict.CONFIRMED if returned else Verdict.REFUTED,
            Message(text_.DECIDED_BY_THE_POOL_S_CHECKED),
        ).fields(),
    )
    return LabOutput(findings=(finding,), tables=(table,))


async def _session_pid(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


# -- 3. pool_recycle ----------------------------------------------------------------------
async def _recycle(ctx: LabContext) -> LabOutput:
    ctx.progress.start(N_("pool: pool_recycle"), 2)
    recycling = ctx.engine(pool_size=1, max_overflow=0, pool_recycle=1)
    long_lived = ctx.engine(pool_size=1, max_overflow=0, pool_recycle=3600)
    try:
        first = await pid_of_next_checkout(recycling)
        young = await pid_of_next_checkout(recycling)
        await asyncio.sleep(1.2)
        old = await pid_of_next_checkout(recycling)
        ctx.progress.advance()
        doomed = await pid_of_next_checkout(long_lived)
        await terminate_backend(ctx.workspace.dsn, doomed)
        early_death = await attempt(pid_of_next_checkout(long_lived))
        ctx.progress.advance()
    finally:
        await recycling.dispose()
        await long_lived.dispose()
    replaced = young == first and old != first
    unprotected = not early_death.ok
    outcome = (
        Message(text_.RAISED, {"error": early_death.error_name})
        if unprotected
        else Message(text_.SUCCEEDED)
    )
    return LabOutput(
        findings=(
            Finding(
                key="pool.recycle",
                headline=N_("pool_recycle renews old connections only"),
                deciding="pid changed once older than pool_recycle",
                claim=(
                    N_(
                        "pool_recycle replaces a connection older than its age at checkout, but "
                        "does not protect against a connection that dies before that age."
                    )
                ),
                source=SECTION,
                quote=RECYCLE_QUOTE,
                measurements=(
                    Measurement.single(
                        N_("pid kept while younger than pool_recycle"),
                        as_float(young == first),
                        "bool",
                    ),
                    Measurement.single(
                        N_("pid changed once older than pool_recycle"),
                        as_float(old != first),
                        "bool",
                    ),
                    Measurement.single(
                        N_("request failed after an early death"), as_float(unprotected), "bool"
                    ),
                ),
                explanation=Message(
                    text_.RECYCLE,
                    {
                        "first": first,
                        "young": young,
                        "old": old,
                        "doomed": doomed,
                        "outcome": outcome,
                    },
                ),
                versions=ctx.versions("sqlalchemy"),
                **decided(
                    Verdict.CONFIRMED if replaced and unprotected else Verdict.REFUTED,
                    Message(text_.DECIDED_BY_BACKEND_PIDS_BEFORE_AND),
                ).fields(),
            ),
        ),
    )


# -- 5. statement_timeout, and command_timeout used as one --------------------------------
async def _timeouts(ctx: LabContext) -> LabOutput:
    ctx.progress.start(N_("pool: statement_timeout and command_timeout"), 2)
    statement = await _statement_timeout(ctx)
    ctx.progress.advance()
    command = await _command_timeout(ctx)
    ctx.progress.advance()
    return LabOutput(
        findings=(_statement_finding(ctx, statement), _command_finding(ctx, statement, command))
    )


@dataclass(frozen=True)
class _TimedQuery:
    """What a too-long query did under a timeout."""

    setting: str
    error: str | None
    sqlstate: str | None
    message: str
    elapsed_s: float
    pid: int
    next_pid: int | None
    backend_alive: bool

    @property
    def kept(self) -> bool:
        """Whether the same backend served the next request."""
        return self.next_pid == self.pid


async def _statement_timeout(ctx: LabContext) -> _TimedQuery:
    engine = ctx.engine(
        pool_size=1,
        max_overflow=0,
        connect_args={"server_settings": {"statement_timeout": str(STATEMENT_TIMEOUT_MS)}},
    )
    try:
        async with engine.connect() as conn:
            setting = (await conn.execute(text("SHOW statement_timeout"))).scalar_one()
            pid = await backend_pid(conn)
            started = time.perf_counter()
            slow = await attempt(conn.execute(text("SELECT pg_sleep(:s)"), {"s": SLEEP_S}))
            elapsed = time.perf_counter() - started
            await conn.rollback()
            again = await attempt(backend_pid(conn))
    finally:
        await engine.dispose()
    orig = getattr(slow.error, "orig", None)
    return _TimedQuery(
        setting=str(setting),
        error=slow.error_name,
        sqlstate=getattr(orig, "sqlstate", None),
        message=str(orig).splitlines()[0] if orig else "-",
        elapsed_s=elapsed,
        pid=pid,
        next_pid=again.value if again.ok else None,
        backend_alive=again.ok,
    )


async def _command_timeout(ctx: LabContext) -> _TimedQuery:
    engine = ctx.engine(
        pool_size=1, max_overflow=0, connect_args={"command_timeout": COMMAND_TIMEOUT_S}
    )
    try:
        pid = await pid_of_next_checkout(engine)
        started = time.perf_counter()
        slow = await attempt(_sleep_query(engine))
        elapsed = time.perf_counter() - started
        alive = await backend_alive(ctx.workspace.dsn, pid)
        following = await attempt(pid_of_next_checkout(engine))
    finally:
        await engine.dispose()
    return _TimedQuery(
        setting=f"command_timeout={COMMAND_TIMEOUT_S}",
        error=slow.error_name,
        sqlstate=getattr(getattr(slow.error, "orig", None), "sqlstate", None),
        message=str(slow.error).splitlines()[0] if slow.error and str(slow.error) else "-",
        elapsed_s=elapsed,
        pid=pid,
        next_pid=following.value if following.ok else None,
        backend_alive=alive,
    )


async def _sleep_query(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_sleep(:s)"), {"s": SLEEP_S})


def _statement_finding(ctx: LabContext, result: _TimedQuery) -> Finding:
    cancelled = result.sqlstate == "57014"
    return Finding(
        key="pool.statement-timeout",
        headline=N_("statement_timeout cancels a slow query"),
        deciding="pg_sleep(1.1) cancelled (SQLSTATE 57014)",
        claim=(
            N_(
                "statement_timeout sent through asyncpg's server_settings cancels a query "
                "that runs longer; the connection stays usable."
            )
        ),
        source=SECTION,
        quote=STATEMENT_TIMEOUT_QUOTE,
        measurements=(
            Measurement.single(
                N_("pg_sleep(1.1) cancelled (SQLSTATE 57014)"), as_float(cancelled), "bool"
            ),
            Measurement.single(N_("time until the error"), result.elapsed_s, "s"),
            Measurement.single(N_("same backend usable afterwards"), as_float(result.kept), "bool"),
        ),
        explanation=Message(
            text_.STATEMENT_TIMEOUT,
            {
                "setting": result.setting,
                "sleep": SLEEP_S,
                "error": result.error or NOTHING,
                "sqlstate": result.sqlstate,
                "message": result.message,
                "elapsed": Quantity(result.elapsed_s, "s"),
                "pid": result.pid,
                "usable": YES_NO[result.kept],
            },
        ),
        versions=ctx.versions("postgresql", "asyncpg"),
        **decided(
            Verdict.CONFIRMED if cancelled and result.kept else Verdict.REFUTED,
            Message(text_.DECIDED_BY_THE_ERROR_S_SQLSTATE),
        ).fields(),
    )


def _command_finding(ctx: LabContext, statement: _TimedQuery, command: _TimedQuery) -> Finding:
    bounded = command.error is not None and 0.8 * COMMAND_TIMEOUT_S <= command.elapsed_s <= 3.0
    alike = bounded and command.error == statement.error and command.kept == statement.kept
    verdict = Verdict.CONFIRMED if alike else Verdict.DEPENDS if bounded else Verdict.REFUTED
    values = {
        "statement_error": statement.error or NOTHING,
        "statement_kept": YES_NO[statement.kept],
        "error": command.error or NOTHING,
        "kept": YES_NO[command.kept],
    }
    return Finding(
        key="pool.command-timeout",
        headline=N_("command_timeout works as statement_timeout"),
        deciding="command_timeout: next checkout on the same backend",
        claim=(
            N_(
                "asyncpg's command_timeout can stand in for statement_timeout: a query running "
                "longer fails with the same timeout error and the pooled connection stays."
            )
        ),
        source=f"{seed_section(1, 'Connection 주요 설정')}; {ASYNCPG_API}",
        quote="1000ms -> 1s 이상 걸리는 쿼리 요청에 대해 timeout 에러",
        measurements=(
            Measurement.single(
                Message(
                    N_("command_timeout={timeout}: raised builtins.TimeoutError"),
                    {"timeout": COMMAND_TIMEOUT_S},
                ),
                as_float(command.error == "builtins.TimeoutError"),
                "bool",
            ),
            Measurement.single(N_("command_timeout: time until the error"), command.elapsed_s, "s"),
            Measurement.single(
                N_("command_timeout: backend still on the server"),
                as_float(command.backend_alive),
                "bool",
            ),
            Measurement.single(
                N_("command_timeout: next checkout on the same backend"),
                as_float(command.kept),
                "bool",
            ),
        ),
        explanation=Message(
            text_.COMMAND_TIMEOUT,
            {
                "timeout": COMMAND_TIMEOUT_S,
                "sleep": SLEEP_S,
                "error": command.error or NOTHING,
                "elapsed": Quantity(command.elapsed_s, "s"),
                "pid": command.pid,
                "alive": YES_NO[command.backend_alive],
                "next_pid": command.next_pid,
                "statement_ms": STATEMENT_TIMEOUT_MS,
                "statement_error": statement.error or NOTHING,
                "statement_elapsed": Quantity(statement.elapsed_s, "s"),
                "statement_kept": YES_NO[statement.kept],
            },
        ),
        versions=ctx.versions("postgresql", "sqlalchemy", "asyncpg"),
        **decided(verdict, Message(text_.COMMAND_TIMEOUT_READINGS, values)).fields(
            depends_on=(
                Dependency(
                    on="setting",
                    name=N_("statement_timeout or command_timeout"),
                    detail=Message(text_.COMMAND_TIMEOUT_READINGS, values),
                ),
            )
        ),
    )
