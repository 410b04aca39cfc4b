"""The ``pool`` lab, finding 7: a half-open connection holds a request until a timeout fires.

The seed: "끊어진 커넥션으로 요청을 할 시 timeout 시간동안 해당 요청을 잡고 있어" (a request on
a broken connection is held for the timeout). That claim is ``pool.half-open``; what releases
the request (client-side timeouts) is sqla-lab's remedy and its own finding,
``pool.half-open-remedies``, so a remedy that fails on some asyncpg version never turns the
seed's claim around. We put a :class:`~sqla_lab.FaultProxy`
between the engines and the server, warm one pooled connection per engine, switch the proxy
to blackhole (connections stay open, nothing arrives: the server is gone and nobody says so)
and send one request per engine, all at once:

* defaults: nothing bounds the wait;
* ``statement_timeout`` (server side): cannot help, the server never sees the query;
* ``pool_pre_ping``: the ping itself hangs;
* asyncpg's ``command_timeout`` (``connect_args``): bounds every query;
* asyncpg's ``timeout`` (``connect_args``): bounds opening a new connection;
* ``asyncio.timeout`` around the request: gives control back, but only after SQLAlchemy's
  graceful close of the cancelled connection has waited too.

After the observation window the proxy resets every connection, which releases whatever still
hangs. TCP keepalives are reported, not demonstrated: a userspace proxy's kernel acknowledges
keepalive probes itself, so only a real network partition (or packet filtering) shows them
firing; we read whether asyncpg's socket has them enabled and the kernel's timings instead.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sqla_lab.instruments.faults import FaultMode, FaultProxy
from sqla_lab.lab import LabContext, LabOutput
from sqla_lab.lab.messages import N_, Message, Quantity, join
from sqla_lab.lab.outcome import Outcome, attempt
from sqla_lab.lab.results import Cell, Dependency, Finding, Measurement, Table, Verdict
from sqla_lab.lab.sources import seed_section
from sqla_lab.lab.stats import decided
from sqla_lab.labs.pool import _messages as text
from sqla_lab.labs.pool._support import ASYNCPG_API, select_one

__all__ = [
    "CANCEL",
    "COMMAND",
    "CONNECT",
    "DEFAULT",
    "OBSERVE_S",
    "PRE_PING",
    "REMEDIES",
    "SEED_QUOTE",
    "SHORT_TIMEOUT_S",
    "SQLA_DISCONNECTS",
    "STATEMENT",
    "half_open_connection",
]

#: The timeouts under test: short, so the lab stays fast.
SHORT_TIMEOUT_S = 0.25
#: How long we watch before resetting what still hangs; longer than SQLAlchemy's 2 s
#: graceful close of a cancelled asyncpg connection, so that one can finish on its own.
OBSERVE_S = 3.0

SEED_QUOTE = (
    "끊어진 커넥션으로 요청을 할 시 timeout"
    " 시간동안 해당 요청을 잡고 있어 전체 서비스에 영향을 미칠수 있음"
)

DEFAULT = N_("defaults")
SQLA_DISCONNECTS = "https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects"
STATEMENT = "statement_timeout=250ms (server side)"
PRE_PING = "pool_pre_ping=True"
COMMAND = "connect_args command_timeout=0.25"
CONNECT = "connect_args timeout=0.25 (new connection)"
CANCEL = "asyncio.timeout(0.25) around the request"


async def _cancelled_after(engine: AsyncEngine, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        await select_one(engine)


async def _socket_keepalive(engine: AsyncEngine) -> bool | None:
    """Whether asyncpg's socket has SO_KEEPALIVE set (None if it cannot be read)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        transport = getattr(raw.driver_connection, "_transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is None:
            return None
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))


def _kernel_keepalive_s() -> float | None:
    """Linux: seconds until keepalives declare a silent peer dead (time + probes x interval)."""
    base = Path("/proc/sys/net/ipv4")
    try:
        idle, interval, probes = (
            int((base / f"tcp_keepalive_{name}").read_text())
            for name in ("time", "intvl", "probes")
        )
    except (OSError, ValueError):
        return None
    return float(idle + interval * probes)


async def half_open_connection(ctx: LabContext) -> LabOutput:
    """Finding ``pool.half-open`` with its table."""
    ctx.progress.start(N_("pool: a half-open connection (blackhole)"), 2)
    async with FaultProxy.for_url(ctx.workspace.url) as proxy:
        url = proxy.proxied_url()
        options: dict[str, dict[str, Any]] = {
            DEFAULT: {},
            STATEMENT: {"connect_args": {"server_settings": {"statement_timeout": "250"}}},
            PRE_PING: {"pool_pre_ping": True},
            COMMAND: {"connect_args": {"command_timeout": SHORT_TIMEOUT_S}},
            CONNECT: {"connect_args": {"timeout": SHORT_TIMEOUT_S}},
            CANCEL: {},
        }
        engines = {
            name: create_async_engine(url, pool_size=1, **kw) for name, kw in options.items()
        }
        try:
            keepalive = await _socket_keepalive(engines[DEFAULT])
            for name, engine in engines.items():
                if name != CONNECT:
                    await select_one(engine)  # one warm pooled connection each
            proxy.set_mode(FaultMode.BLACKHOLE)
            requests = {
                name: asyncio.create_task(
                    attempt(
                        _cancelled_after(engine, SHORT_TIMEOUT_S)
                        if name == CANCEL
                        else select_one(engine)
                    )
                )
                for name, engine in engines.items()
            }
            await asyncio.wait(requests.values(), timeout=OBSERVE_S)
            hanging = {name for name, task in requests.items() if not task.done()}
            ctx.progress.advance()
            proxy.set_mode(FaultMode.RESET)  # what a real network does, eventually
            outcomes = {name: await task for name, task in requests.items()}
        finally:
            for engine in engines.values():
                await engine.dispose()
    ctx.progress.advance()
    return _output(
        outcomes,
        hanging,
        keepalive,
        _kernel_keepalive_s(),
        versions=ctx.versions("postgresql", "sqlalchemy", "asyncpg"),
    )


def _released(outcome: Outcome[None], held: bool) -> Message:
    """How one request ended, in words, from what it did."""
    if held:
        return Message(text.HALF_OPEN_STILL, {"seconds": Quantity(OBSERVE_S)})
    return Message(
        text.HALF_OPEN_RELEASED,
        {
            "seconds": Quantity(round(outcome.elapsed_s, 2)),
            "outcome": outcome.error_name or Message(N_("no error")),
        },
    )


def _output(
    outcomes: dict[str, Outcome[None]],
    hanging: set[str],
    keepalive: bool | None,
    kernel_keepalive_s: float | None,
    *,
    versions: Mapping[str, str] | None = None,
) -> LabOutput:
    rows: list[tuple[Cell, ...]] = []
    for name, outcome in outcomes.items():
        held = name in hanging
        rows.append(
            (
                name,
                Message(N_("still waiting after {seconds} s"), {"seconds": Quantity(OBSERVE_S)})
                if held
                else N_("gave up by itself"),
                round(outcome.elapsed_s, 3),
                None if held else outcome.error_name or N_("ok"),
            )
        )
    return LabOutput(
        findings=(
            _held_finding(outcomes, hanging, keepalive, kernel_keepalive_s, versions or {}),
            _remedies_finding(outcomes, hanging, versions or {}),
        ),
        tables=(
            Table(
                key="pool.half-open-requests",
                title=N_("One request per setting on a half-open connection (blackhole proxy)"),
                columns=(N_("setting"), N_("outcome"), N_("seconds until released"), N_("error")),
                rows=tuple(rows),
            ),
        ),
    )


def _held_finding(
    outcomes: dict[str, Outcome[None]],
    hanging: set[str],
    keepalive: bool | None,
    kernel_keepalive_s: float | None,
    versions: Mapping[str, str],
) -> Finding:
    """The seed's claim: a request on a broken connection is held."""
    default_held = DEFAULT in hanging
    explanation = Message(
        text.HALF_OPEN,
        {
            "default": _released(outcomes[DEFAULT], default_held),
            "statement": _released(outcomes[STATEMENT], STATEMENT in hanging),
            "pre_ping": _released(outcomes[PRE_PING], PRE_PING in hanging),
        },
    )
    if keepalive is not None and kernel_keepalive_s is not None:
        explanation = join(
            [
                explanation,
                Message(
                    text.HALF_OPEN_KEEPALIVE,
                    {
                        "keepalive": text.ON_OFF[keepalive],
                        "kernel": Quantity(round(kernel_keepalive_s)),
                    },
                ),
            ]
        )
    measurements = [
        Measurement.single(
            N_("defaults: still waiting at the end of the window"), float(default_held), "bool"
        ),
        Measurement.single(N_("observation window"), OBSERVE_S, "s"),
        Measurement.single(
            N_("statement_timeout: still waiting"), float(STATEMENT in hanging), "bool"
        ),
        Measurement.single(N_("pool_pre_ping: still waiting"), float(PRE_PING in hanging), "bool"),
    ]
    if keepalive is not None:
        measurements.append(
            Measurement.single(N_("SO_KEEPALIVE on asyncpg's socket"), float(keepalive), "bool")
        )
    if kernel_keepalive_s is not None:
        measurements.append(
            Measurement.single(N_("kernel keepalive detection time"), kernel_keepalive_s, "s")
        )
    return Finding(
        key="pool.half-open",
        headline=N_("a half-open connection holds a request"),
        deciding="defaults: still waiting at the end of the window",
        claim=(
            N_(
                "A request on a broken (half-open) connection is held for as long as the timeout "
                "allows, which can hold up the whole service."
            )
        ),
        source=f"{seed_section(1, '커넥션 재사용의 문제')}; {SQLA_DISCONNECTS}",
        quote=SEED_QUOTE,
        measurements=tuple(measurements),
        explanation=explanation,
        versions=versions,
        **decided(
            Verdict.CONFIRMED if default_held else Verdict.REFUTED,
            Message(text.HALF_OPEN_REASON, {"default": _released(outcomes[DEFAULT], default_held)}),
        ).fields(),
    )


#: The client-side timeouts tried as remedies, each bounding what it is meant to bound.
REMEDIES = (COMMAND, CONNECT, CANCEL)


def _remedies_finding(
    outcomes: dict[str, Outcome[None]], hanging: set[str], versions: Mapping[str, str]
) -> Finding:
    """sqla-lab's remedy, its own claim: client-side timeouts release the request."""
    released = [name for name in REMEDIES if name not in hanging]
    each = tuple(
        Message(
            text.REMEDY_DETAIL,
            {"setting": name, "outcome": _released(outcomes[name], name in hanging)},
        )
        for name in REMEDIES
    )
    if len(released) == len(REMEDIES):
        verdict = Verdict.CONFIRMED
    elif released:
        verdict = Verdict.DEPENDS
    else:
        verdict = Verdict.REFUTED
    return Finding(
        key="pool.half-open-remedies",
        headline=N_("client timeouts release a half-open request"),
        claim=(
            N_(
                "Client-side timeouts release a request held by a half-open connection: asyncpg's "
                "command_timeout, its connect timeout for a new connection, and asyncio.timeout "
                "around the request."
            )
        ),
        source=f"sqla-lab; {seed_section(1, '커넥션 재사용의 문제')}; {ASYNCPG_API}",
        measurements=tuple(
            Measurement.single(
                Message(N_("{setting}: released after"), {"setting": name}),
                outcomes[name].elapsed_s,
                "s",
            )
            if name not in hanging
            else Measurement.single(
                Message(N_("{setting}: still waiting at the end of the window"), {"setting": name}),
                1.0,
                "bool",
            )
            for name in REMEDIES
        ),
        explanation=Message(
            text.REMEDIES,
            {
                "released": len(released),
                "tried": len(REMEDIES),
                "window": Quantity(OBSERVE_S),
                "each": each,
            },
        ),
        versions=versions,
        **decided(
            verdict,
            Message(text.REMEDIES_REASON, {"released": len(released), "tried": len(REMEDIES)}),
        ).fields(
            depends_on=(
                Dependency(
                    on="setting",
                    name=N_("which timeout"),
                    detail=Message(text.REMEDY_LIST, {"each": each}),
                ),
            )
        ),
    )
