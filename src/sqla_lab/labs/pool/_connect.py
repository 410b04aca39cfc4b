"""The ``pool`` lab, finding 1: what a new connection is made of, next to a pooled checkout.

Each step is measured as a complete connect-and-close, interleaved with the others, so the
difference between neighbouring steps is what the added step costs:

1. a bare TCP connect to the server's port;
2. asyncpg's connect as a role the server trusts (startup, no authentication);
3. the same as our scram-sha-256 role (adds the SCRAM exchange: two round trips and a
   deliberately slow key derivation on both sides);
4. the same over TLS (``ssl="require"``), when the server can speak it;
5. SQLAlchemy's connect on an engine that has connected before (its per-connection set-up
   of asyncpg: type codecs, and a rollback when the connection is given back);
6. SQLAlchemy's very first connect on a fresh engine (adds the dialect's initialisation:
   server version, standard strings, and so on);

and the pooled checkout they are all compared with. Trust authentication and TLS need
server-side configuration; both are set up only on the embedded server (a ``pg_hba.conf``
rule for a second role, a throw-away self-signed certificate made with ``openssl``) and TLS
is switched off again afterwards. On an existing server they are reported as not measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Literal

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from sqla_lab.lab import LabContext, LabOutput
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.lab.messages import N_, Message, Quantity, join
from sqla_lab.lab.results import Cell, Chart, Finding, Measurement, Table, Verdict
from sqla_lab.lab.sources import seed_section
from sqla_lab.lab.stats import (
    combine,
    describe_estimate,
    judge,
    paired_difference,
    paired_ratio,
    threshold_scale,
)
from sqla_lab.labs.pool import _messages as text
from sqla_lab.labs.pool._support import SQLA_POOLING
from sqla_lab.urls import asyncpg_dsn

__all__ = [
    "POOLED",
    "SA_FIRST",
    "SA_WARM",
    "SCRAM",
    "SSL",
    "TCP",
    "TRUST",
    "TRUST_ROLE",
    "connection_breakdown",
]

#: A login role without a password that the embedded server's pg_hba.conf trusts.
TRUST_ROLE = "sqla_lab_trust"
_READY_TIMEOUT_S = 5.0

TCP = N_("TCP connect")
TRUST = N_("asyncpg connect, trust")
SCRAM = N_("asyncpg connect, scram-sha-256")
SSL = N_("asyncpg connect, scram-sha-256 + TLS")
SA_WARM = N_("SQLAlchemy connect (NullPool, initialised dialect)")
SA_FIRST = N_("SQLAlchemy first connect (fresh engine)")
POOLED = N_("pooled checkout (QueuePool)")

#: Each step and the step it adds to.
_STEPS: tuple[tuple[str, str | None, str], ...] = (
    (TCP, None, N_("TCP handshake and close")),
    (TRUST, TCP, N_("startup packet, backend fork, ReadyForQuery")),
    (SCRAM, TRUST, N_("SCRAM-SHA-256 authentication")),
    (SSL, SCRAM, N_("TLS handshake")),
    (SA_WARM, SCRAM, N_("SQLAlchemy's per-connection set-up and reset")),
    (SA_FIRST, SA_WARM, N_("dialect initialisation on first connect")),
)


async def _poll(probe: Callable[[], Awaitable[object]]) -> bool:
    """Retry ``probe`` until it succeeds or the readiness timeout passes."""
    deadline = asyncio.get_running_loop().time() + _READY_TIMEOUT_S
    while True:
        try:
            await probe()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.05)
        else:
            return True


async def _connect_and_close(dsn: str, *, ssl: Literal[False, "require"] | None = None) -> None:
    conn = await asyncpg.connect(dsn, ssl=ssl)
    await conn.close()


async def _enable_trust(ctx: LabContext) -> tuple[str | None, str]:
    """A DSN for the trusted role, or ``None`` and the reason it is not available."""
    server = ctx.embedded_server
    if server is None:
        return None, N_("trust authentication needs a pg_hba.conf rule: embedded server only")
    admin = await asyncpg.connect(ctx.workspace.dsn)
    try:
        with contextlib.suppress(asyncpg.DuplicateObjectError):
            await admin.execute(f"CREATE ROLE {TRUST_ROLE} LOGIN")
    finally:
        await admin.close()
    server.add_hba_rules(f"host all {TRUST_ROLE} {server.host}/32 trust")
    dsn = asyncpg_dsn(ctx.workspace.url.set(username=TRUST_ROLE, password=None))
    if not await _poll(lambda: _connect_and_close(dsn, ssl=False)):
        return None, N_("the trust rule did not take effect")
    return dsn, N_("trust rule added to pg_hba.conf")


def _self_signed_certificate(directory: Path) -> tuple[bytes, bytes] | None:
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    key, cert = directory / "server.key", directory / "server.crt"
    result = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    return cert.read_bytes(), key.read_bytes()


@contextlib.asynccontextmanager
async def _tls(ctx: LabContext) -> AsyncIterator[str]:
    """Yield why TLS is (or is not) available; switch it off again afterwards if we turned
    it on, since asyncpg's default ``sslmode=prefer`` would otherwise use it everywhere."""
    server = ctx.embedded_server
    dsn = ctx.workspace.dsn
    if await _poll_once(lambda: _connect_and_close(dsn, ssl="require")):
        yield N_("the server already speaks TLS")
        return
    if server is None:
        yield N_("not measured: the server has no TLS and is not ours to configure")
        return
    if not await _ssl_library(dsn):
        yield N_("not measured: this PostgreSQL build has no SSL support (ssl_library is empty)")
        return
    with tempfile.TemporaryDirectory(prefix="sqla-lab-tls-") as tmp:
        pair = _self_signed_certificate(Path(tmp))
    if pair is None:
        yield N_("not measured: no openssl to make a certificate")
        return
    server.write_data_file("server.crt", pair[0], mode=0o644)
    server.write_data_file("server.key", pair[1], mode=0o600)
    await _alter_system(dsn, "ALTER SYSTEM SET ssl = on")
    try:
        if await _poll(lambda: _connect_and_close(dsn, ssl="require")):
            yield N_("self-signed certificate, switched on for this measurement only")
        else:
            yield N_("not measured: the server did not accept the certificate")
    finally:
        await _alter_system(dsn, "ALTER SYSTEM RESET ssl")
        await _poll(lambda: _expect_plain(dsn))


async def _poll_once(probe: Callable[[], Awaitable[object]]) -> bool:
    try:
        await probe()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False
    return True


async def _ssl_library(dsn: str) -> str:
    conn = await asyncpg.connect(dsn, ssl=False)
    try:
        return str(await conn.fetchval("SELECT current_setting('ssl_library', true)") or "")
    finally:
        await conn.close()


async def _alter_system(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn, ssl=False)
    try:
        await conn.execute(statement)
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


async def _expect_plain(dsn: str) -> None:
    """Fail while the server still offers TLS to a default (``prefer``) client."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"):
            raise OSError("TLS still on")
    finally:
        await conn.close()


async def _engine_connect(engine: AsyncEngine) -> None:
    async with engine.connect():
        pass


async def connection_breakdown(ctx: LabContext) -> LabOutput:
    """Finding ``pool.new-connection-breakdown`` with its table and chart."""
    repetitions = ctx.repetitions(full=200, quick=15)
    server = ctx.workspace
    host, port = server.url.host or "127.0.0.1", server.url.port or 5432
    plain = {"ssl": False}
    warm_engine = create_async_engine(server.url, poolclass=NullPool, connect_args=plain)
    pooled_engine = create_async_engine(server.url, pool_size=1, connect_args=plain)

    async def tcp() -> None:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()

    async def first_connect() -> None:
        engine = create_async_engine(server.url, poolclass=NullPool, connect_args=plain)
        try:
            await _engine_connect(engine)
        finally:
            await engine.dispose()

    trust_dsn, trust_note = await _enable_trust(ctx)
    notes = {TRUST: trust_note}
    try:
        async with _tls(ctx) as tls_note:
            notes[SSL] = tls_note
            variants: dict[str, Callable[[], Awaitable[object]]] = {TCP: tcp}
            if trust_dsn is not None:
                dsn = trust_dsn
                variants[TRUST] = lambda: _connect_and_close(dsn, ssl=False)
            variants[SCRAM] = lambda: _connect_and_close(server.dsn, ssl=False)
            if not tls_note.startswith(N_("not measured")):
                variants[SSL] = lambda: _connect_and_close(server.dsn, ssl="require")
            variants[SA_WARM] = lambda: _engine_connect(warm_engine)
            variants[SA_FIRST] = first_connect
            variants[POOLED] = lambda: _engine_connect(pooled_engine)
            samples = await sample_interleaved(
                variants,
                repetitions=repetitions,
                warmup=3,
                progress=ctx.progress,
                description=N_("pool: what a new connection costs"),
            )
    finally:
        await warm_engine.dispose()
        await pooled_engine.dispose()
    measured = {name: Measurement.from_samples(name, s, "ms") for name, s in samples.items()}
    return _breakdown_output(
        measured, notes, versions=ctx.versions("postgresql", "sqlalchemy", "asyncpg")
    )


def _breakdown_output(
    measured: dict[str, Measurement],
    notes: dict[str, str],
    *,
    versions: Mapping[str, str] | None = None,
) -> LabOutput:
    pooled = measured[POOLED]
    rows: list[tuple[Cell, ...]] = []
    added_words: list[Message] = []
    for name, base, what in _STEPS:
        if name not in measured:
            rows.append(
                (name, what, None, None, None, None, None, notes.get(name, N_("not measured")))
            )
            continue
        m = measured[name]
        base_m = measured.get(base) if base else None
        added = (
            paired_difference(m.samples, base_m.samples)
            if base_m is not None
            else paired_difference(m.samples, [0.0] * len(m.samples))
        )
        shown = describe_estimate(added, "ms", kind="difference")
        added_words.append(
            Message(
                text.BREAKDOWN_STEP,
                {"step": Message(name), "added": shown, "what": Message(what)},
            )
        )
        measurable = added.interval is not None and added.interval.low > 0
        rows.append(
            (
                name,
                what,
                round(m.value, 3),
                round(m.p95 or m.value, 3),
                shown,
                round(added.value, 3) if measurable else None,
                round(paired_ratio(m.samples, pooled.samples).value, 1),
                notes.get(name, ""),
            )
        )
    rows.append(
        (
            POOLED,
            N_("take a warm connection, give it back"),
            round(pooled.value, 3),
            round(pooled.p95 or pooled.value, 3),
            None,
            None,
            1.0,
            "",
        )
    )
    steps = [m for name, m in measured.items() if name != POOLED]
    scale = threshold_scale(
        1.0,
        below=Verdict.REFUTED,
        above=Verdict.CONFIRMED,
        below_means=text.NOT_DEARER,
        above_means=text.DEARER,
    )
    ratios = {m.name: paired_ratio(m.samples, pooled.samples) for m in steps}
    judgements = {
        name: judge(
            ratio,
            scale,
            what=Message(N_("{step} / pooled checkout"), {"step": Message(name)}),
            unit="x",
        )
        for name, ratio in ratios.items()
    }
    judgement = combine(judgements, _every_step)
    dearer = sum(j.verdict is Verdict.CONFIRMED for j in judgements.values())
    sa_first = measured[SA_FIRST]
    cheapest = min(steps, key=lambda m: m.value)
    explanation = Message(
        text.BREAKDOWN,
        {
            "dearer": dearer,
            "steps": len(steps),
            "pooled": Quantity(pooled.value, "ms"),
            "cheapest": Message(cheapest.name),
            "cheapest_ms": Quantity(cheapest.value, "ms"),
            "cheapest_ratio": describe_estimate(ratios[cheapest.name], "x"),
            "first_ms": Quantity(sa_first.value, "ms"),
            "first_ratio": describe_estimate(ratios[SA_FIRST], "x"),
            "added": tuple(added_words),
            "notes": join(
                [
                    Message(N_("{step}: {note}."), {"step": Message(name), "note": Message(note)})
                    for name, note in notes.items()
                    if note
                ]
            ),
        },
    )
    finding = Finding(
        key="pool.new-connection-breakdown",
        headline=N_("a new connection: every step dearer"),
        deciding="new (SQLAlchemy first connect) / pooled",
        claim=(
            N_(
                "A new connection costs TCP, startup and authentication, TLS and SQLAlchemy's "
                "initialisation, each step dearer than a pooled checkout."
            )
        ),
        source=f"{seed_section(1, '커넥션을 재사용하는 이유')}; {SQLA_POOLING}",
        quote="데이터베이스 사용시 커넥션을 생성하는데 대부분의 시간이 소요됨",
        measurements=(
            *(measured[name] for name, _, _ in _STEPS if name in measured),
            pooled,
            ratios[SA_FIRST].measurement(N_("new (SQLAlchemy first connect) / pooled"), "x"),
        ),
        explanation=explanation,
        versions=versions or {},
        **judgement.fields(),
    )
    table = Table(
        key="pool.new-connection-steps",
        title=N_("What a new connection is made of (connect + close, ms)"),
        columns=(
            N_("step"),
            N_("adds"),
            N_("median ms"),
            N_("p95 ms"),
            N_("added (per-round difference)"),
            N_("added ms"),
            N_("x pooled"),
            N_("note"),
        ),
        rows=tuple(rows),
    )
    chart = Chart(
        key="pool.new-connection-distributions",
        title=N_("Connect and close, step by step, next to a pooled checkout (ms)"),
        kind="box",
        finding=finding.key,
        measurements=tuple(m.name for m in finding.measurements if m.samples),
        log_y=True,
        y_label=N_("ms"),
    )
    bar = Chart(
        key="pool.new-connection-added",
        title=N_(
            "What each step adds, where it is measurable (median of per-round differences, ms)"
        ),
        kind="bar",
        table=table.key,
        x="step",
        y=("added ms",),
        y_label=N_("ms"),
    )
    return LabOutput(findings=(finding,), tables=(table,), charts=(chart, bar))


def _every_step(verdicts: Mapping[str, Verdict]) -> Verdict:
    """Confirmed when every step is dearer than a checkout; refuted when one is not."""
    return (
        Verdict.CONFIRMED
        if all(v is Verdict.CONFIRMED for v in verdicts.values())
        else Verdict.REFUTED
    )
