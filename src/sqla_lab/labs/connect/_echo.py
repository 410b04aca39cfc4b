"""The ``connect`` lab's ``echo=True`` experiment: what the seed's logging adds to its numbers.

Every engine in the seed is created with ``echo=True``, and the seed's numbers (pre-ping
"0.01 s", first connections of tens of milliseconds) were measured that way. Here the same
pooled checkout + ``SELECT 1`` runs without echo, with ``echo=True`` and with ``echo="debug"``
(rows logged too), with and without ``pool_pre_ping``, and a fresh engine's first connection with
and without echo, all interleaved. The log goes where SQLAlchemy's default handler would send
it, a stream, here a temporary file instead of the terminal; the handler is removed afterwards.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from sqla_lab.lab import LabContext
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.lab.messages import N_, Message, Quantity, join
from sqla_lab.lab.results import Chart, Dependency, Finding, Measurement
from sqla_lab.lab.sources import seed_section
from sqla_lab.lab.stats import (
    describe_estimate,
    paired_difference,
    paired_ratio,
)
from sqla_lab.labs.connect import _messages as text_
from sqla_lab.labs.pool import CLAIMED_PRE_PING_MS, judge_pre_ping

__all__ = [
    "FIRST",
    "FIRST_ECHO",
    "PING",
    "PING_ECHO",
    "PING_ECHO_OVERHEAD",
    "PLAIN",
    "PLAIN_DEBUG",
    "PLAIN_ECHO",
    "SQLA_ENGINE_LOGGING",
    "EchoResult",
    "echo_cost",
    "echo_finding",
]


PLAIN = N_("pooled checkout + SELECT 1")
PLAIN_ECHO = N_("pooled checkout + SELECT 1, echo=True")
PLAIN_DEBUG = N_("pooled checkout + SELECT 1, echo='debug'")
PING = N_("pooled checkout + SELECT 1, pre-ping")
PING_ECHO = N_("pooled checkout + SELECT 1, pre-ping, echo=True")
FIRST = N_("first connection of a fresh engine")
FIRST_ECHO = N_("first connection of a fresh engine, echo=True")

PING_ECHO_OVERHEAD = N_("pre-ping overhead with echo=True")
SQLA_ENGINE_LOGGING = "https://docs.sqlalchemy.org/en/20/core/engines.html#configuring-logging"

#: SQLAlchemy's engine logger, shared by every engine with echo on.
_ENGINE_LOGGER = "sqlalchemy.engine.Engine"
#: The format of SQLAlchemy's default echo handler (``sqlalchemy.log._add_default_handler``).
_ECHO_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@dataclass(frozen=True)
class EchoResult:
    """The finding and its chart."""

    finding: Finding
    chart: Chart


@contextmanager
def _echo_into(stream: IO[str]) -> Iterator[None]:
    """Send echo output to ``stream`` the way SQLAlchemy's default handler would, then stop."""
    logger = logging.getLogger(_ENGINE_LOGGER)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(_ECHO_FORMAT))
    # With a handler present, SQLAlchemy adds no stdout handler of its own.
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def echo_cost(ctx: LabContext) -> EchoResult:
    """Measure the variants interleaved and judge the seed's pre-ping cost under echo.

    The pooled variants take a fraction of a millisecond and the first connections tens of
    milliseconds, so they are sampled apart: a round of the pooled ones stays short enough for
    the machine's drift to hit its variants alike.
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log, _echo_into(log):
        engines: dict[str, AsyncEngine] = {
            PLAIN: ctx.engine(pool_size=1, max_overflow=0),
            PLAIN_ECHO: ctx.engine(pool_size=1, max_overflow=0, echo=True),
            PLAIN_DEBUG: ctx.engine(pool_size=1, max_overflow=0, echo="debug"),
            PING: ctx.engine(pool_size=1, max_overflow=0, pool_pre_ping=True),
            PING_ECHO: ctx.engine(pool_size=1, max_overflow=0, pool_pre_ping=True, echo=True),
        }

        async def first_connect(**options: Any) -> None:
            engine = ctx.engine(poolclass=NullPool, **options)
            try:
                await _select_one(engine)
            finally:
                await engine.dispose()

        try:
            samples = await sample_interleaved(
                {name: _bound(engine) for name, engine in engines.items()},
                repetitions=ctx.repetitions(full=400, quick=120),
                warmup=3,
                progress=ctx.progress,
                description=N_("connect: echo=True on pooled checkouts"),
            )
        finally:
            for engine in engines.values():
                await engine.dispose()
        samples |= await sample_interleaved(
            {FIRST: first_connect, FIRST_ECHO: lambda: first_connect(echo=True)},
            repetitions=ctx.repetitions(full=60, quick=10),
            warmup=1,
            progress=ctx.progress,
            description=N_("connect: echo=True on a first connection"),
        )
        log_bytes = log.tell()
    measured = {name: Measurement.from_samples(name, s, "ms") for name, s in samples.items()}
    finding = echo_finding(
        measured, log_bytes=log_bytes, versions=ctx.versions("sqlalchemy", "asyncpg", "python")
    )
    chart = Chart(
        key="connect.echo",
        title=N_("A pooled checkout + SELECT 1 with and without echo and pre-ping (ms)"),
        kind="box",
        finding=finding.key,
        measurements=(PLAIN, PLAIN_ECHO, PLAIN_DEBUG, PING, PING_ECHO),
        log_y=True,
        y_label=N_("ms"),
    )
    return EchoResult(finding=finding, chart=chart)


def _bound(engine: AsyncEngine) -> Any:
    return lambda: _select_one(engine)


def echo_finding(
    measured: Mapping[str, Measurement], *, log_bytes: int, versions: Mapping[str, str]
) -> Finding:
    """``connect.echo-cost``: the seed's pre-ping claim under the seed's own ``echo=True``."""

    def samples(name: str) -> tuple[float, ...]:
        return measured[name].samples

    ping_echo = paired_difference(samples(PING_ECHO), samples(PLAIN_ECHO))
    ping_plain = paired_difference(samples(PING), samples(PLAIN))
    ratios = {
        "ratio_plain": paired_ratio(samples(PLAIN_ECHO), samples(PLAIN)),
        "ratio_ping": paired_ratio(samples(PING_ECHO), samples(PING)),
        "ratio_debug": paired_ratio(samples(PLAIN_DEBUG), samples(PLAIN)),
        "ratio_first": paired_ratio(samples(FIRST_ECHO), samples(FIRST)),
    }
    what = PING_ECHO_OVERHEAD
    judgement = judge_pre_ping(ping_echo, what=what)
    overheads = {
        "ping_echo": describe_estimate(ping_echo, "ms", kind="difference"),
        "ping_plain": describe_estimate(ping_plain, "ms", kind="difference"),
    }
    measurable = ping_echo.interval is not None and ping_echo.interval.low > 0
    summary = (
        Message(
            text_.ECHO_SUMMARY,
            {**overheads, "factor": Quantity(CLAIMED_PRE_PING_MS / ping_echo.value, "x")},
        )
        if measurable
        else Message(text_.ECHO_SUMMARY_NONE, overheads)
    )
    explanation = join(
        [
            summary,
            Message(
                text_.ECHO_DETAIL,
                {
                    **{k: describe_estimate(v, "x") for k, v in ratios.items()},
                    "plain_ms": Quantity(measured[PLAIN].value, "ms"),
                    "echo_ms": Quantity(measured[PLAIN_ECHO].value, "ms"),
                    "first_echo": Quantity(measured[FIRST_ECHO].value, "ms"),
                    "first_plain": Quantity(measured[FIRST].value, "ms"),
                    "rounds": ping_echo.n,
                    "log_kib": Quantity(round(log_bytes / 1024)),
                },
            ),
        ]
    )
    names = {
        "ratio_plain": N_("echo=True / without, pooled + SELECT 1"),
        "ratio_ping": N_("echo=True / without, pooled + SELECT 1 with pre-ping"),
        "ratio_debug": N_("echo='debug' / without, pooled + SELECT 1"),
        "ratio_first": N_("echo=True / without, first connection of a fresh engine"),
    }
    return Finding(
        key="connect.echo-cost",
        headline=N_("pre-ping costs 0.01 s, with echo=True"),
        deciding="pre-ping overhead with echo=True",
        claim=N_(
            "With echo=True, as in every engine of the seed, pool_pre_ping costs about 0.01 s "
            "per checkout."
        ),
        source=f"{seed_section(1, '끊어진 커넥션 문제를 예방하는 방법')}; {SQLA_ENGINE_LOGGING}",
        quote=(
            "모든 요청시 해당 명령어를 날린 후 동작하기에 약간의 시간이 더 필요하다."
            "(로컬 테스트 0.01s)"
        ),
        measurements=(
            *measured.values(),
            ping_echo.measurement(PING_ECHO_OVERHEAD, "ms", kind="difference"),
            ping_plain.measurement(N_("pre-ping overhead without echo"), "ms", kind="difference"),
            *(ratios[k].measurement(names[k], "x") for k in names),
            Measurement.single(N_("log written"), log_bytes, "B"),
        ),
        explanation=explanation,
        versions=versions,
        **judgement.fields(
            depends_on=(
                Dependency(
                    on="machine",
                    name=N_("this machine and server"),
                    detail=Message(text_.ECHO_MACHINE, {"value": overheads["ping_echo"]}),
                ),
            )
        ),
    )
