"""A fault drill: write through the service while the database is broken on purpose.

:func:`run_drill` starts the demo app in-process on a private embedded PostgreSQL reached
through a :class:`~sqla_lab.FaultProxy`, and keeps a few writers creating users with
known unique names (``POST /users``) while a schedule of faults plays:

* ``terminate``: ``pg_terminate_backend`` of every client backend (the app's connections);
* ``restart``: PostgreSQL is stopped and started again (the proxy follows it to its new port);
* ``blackhole``: the proxy forwards nothing, connections stay open (a half-open network);
* ``reset``: the proxy aborts every connection with a TCP RST.

Afterwards it reads which names reached the table and reports, in a :class:`DrillReport`:
acknowledged writes (2xx) without their row (lost), failed writes with a row (phantom),
writes whose commit was not confirmed (``outcome_unknown``: either is allowed), the longest
request, and for each fault how long after it ended the first write succeeded again. The
test suite runs a short schedule (tests/integration/service/test_faults.py);
``benchmarks/faults.py`` a long one.

Why in-process and not over a socket: the writers, the app and the proxy share one event loop,
so the proxy's mode switches happen between two requests' steps, exactly when the schedule
says; the app is the same ``create_app`` that ``sqla-lab serve`` runs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import asyncpg
import httpx
from sqlalchemy import text

from sqla_lab.database import Database
from sqla_lab.demo.seeding import seed
from sqla_lab.instruments.faults import FaultMode, FaultProxy
from sqla_lab.postgres import EmbeddedPostgres
from sqla_lab.service.app import create_app
from sqla_lab.settings import Settings

__all__ = [
    "DEFAULT_SCHEDULE",
    "OUTCOME_UNKNOWN",
    "RECOVERY_BOUND_S",
    "DrillReport",
    "Fault",
    "FaultKind",
    "FaultWindow",
    "Write",
    "run_drill",
    "summarize",
]

FaultKind = Literal["terminate", "restart", "blackhole", "reset"]

#: The status the service answers a write with when its commit was not confirmed.
OUTCOME_UNKNOWN: Final = "outcome_unknown"
#: After a fault, the service must be back within this many seconds (issue 17).
RECOVERY_BOUND_S: Final = 2.0


@dataclass(frozen=True)
class Fault:
    """One fault of the schedule: what, for how long, and the quiet time after it."""

    kind: FaultKind
    seconds: float = 0.0
    then_wait_s: float = 2.0


#: Every kind once; about 12 s with one-second deadlines.
DEFAULT_SCHEDULE: Final = (
    Fault("terminate", then_wait_s=1.5),
    Fault("blackhole", seconds=2.5, then_wait_s=2.5),
    Fault("reset", seconds=0.3, then_wait_s=1.5),
    Fault("restart", seconds=0.3, then_wait_s=2.5),
    Fault("terminate", then_wait_s=1.5),
)


@dataclass(frozen=True, kw_only=True)
class Write:
    """One ``POST /users`` of a writer."""

    name: str
    started_s: float
    elapsed_s: float
    status: int | None
    error: str | None

    @property
    def ended_s(self) -> float:
        """When the answer (or the failure) came."""
        return self.started_s + self.elapsed_s

    @property
    def acknowledged(self) -> bool:
        """Whether the service answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, kw_only=True)
class FaultWindow:
    """When a fault was on, and how the service did once it was over.

    Attributes:
        recovered_s: when the first write succeeded after the fault ended (``None``: never).
        failed_later: writes that started more than :data:`RECOVERY_BOUND_S` after the
            fault ended (and before the next one) and still failed.
    """

    kind: str
    started_s: float
    ended_s: float
    recovered_s: float | None
    failed_later: int

    @property
    def recovery_s(self) -> float | None:
        """Seconds from the fault's end to the first successful answer after it."""
        return None if self.recovered_s is None else self.recovered_s - self.ended_s


@dataclass(frozen=True, kw_only=True)
class DrillReport:
    """What the drill saw; times are seconds since the drill started."""

    writes: tuple[Write, ...]
    faults: tuple[FaultWindow, ...]
    stored: frozenset[str]
    deadline_s: float
    duration_s: float
    errors_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def acknowledged(self) -> int:
        """Writes answered 2xx."""
        return sum(write.acknowledged for write in self.writes)

    @property
    def lost(self) -> tuple[str, ...]:
        """Acknowledged writes whose row is missing."""
        return tuple(w.name for w in self.writes if w.acknowledged and w.name not in self.stored)

    @property
    def phantoms(self) -> tuple[str, ...]:
        """Failed writes (other than ``outcome_unknown``) whose row exists anyway."""
        return tuple(
            w.name
            for w in self.writes
            if not w.acknowledged and w.error != OUTCOME_UNKNOWN and w.name in self.stored
        )

    @property
    def unknown(self) -> tuple[int, int]:
        """``outcome_unknown`` writes: (with a row, without one)."""
        unknown = [w for w in self.writes if w.error == OUTCOME_UNKNOWN]
        stored = sum(w.name in self.stored for w in unknown)
        return stored, len(unknown) - stored

    @property
    def max_request_s(self) -> float:
        """The longest any write took."""
        return max((write.elapsed_s for write in self.writes), default=0.0)

    @property
    def max_recovery_s(self) -> float | None:
        """The slowest recovery (``None`` if some fault was never recovered from)."""
        recoveries = [window.recovery_s for window in self.faults]
        if any(recovery is None for recovery in recoveries):
            return None
        return max((r for r in recoveries if r is not None), default=0.0)


async def _terminate_backends(server: EmbeddedPostgres) -> None:
    connection = await asyncpg.connect(server.dsn)
    try:
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()


async def _play(fault: Fault, server: EmbeddedPostgres, proxy: FaultProxy) -> None:
    if fault.kind == "terminate":
        await _terminate_backends(server)
    elif fault.kind == "restart":
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(fault.seconds)
        await asyncio.to_thread(server.start)
        proxy.target_port = server.port
    else:
        proxy.set_mode(FaultMode.BLACKHOLE if fault.kind == "blackhole" else FaultMode.RESET)
        await asyncio.sleep(fault.seconds)
        proxy.set_mode(FaultMode.PASS)


def _error_of(response: httpx.Response) -> str | None:
    if response.is_success:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"http_{response.status_code}"
    kind = body.get("error") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else f"http_{response.status_code}"


async def run_drill(
    *,
    schedule: Sequence[Fault] = DEFAULT_SCHEDULE,
    writers: int = 4,
    request_timeout: float = 1.0,
    settle_s: float = 1.0,
    pg_version: str = "18",
) -> DrillReport:
    """Write through the service on a private server while ``schedule`` plays; see module doc.

    Args:
        schedule: the faults, in order.
        writers: concurrent writers (each waits for its answer before the next write).
        request_timeout: the service's deadline; connect and pool timeouts are half of it.
        settle_s: normal operation before the first fault.
        pg_version: the embedded PostgreSQL to start.
    """
    run = secrets.token_hex(4)
    client_timeout = request_timeout * 5 + 5  # a hang shows up as "client_timeout"
    writes: list[Write] = []
    windows: list[tuple[FaultKind, float, float]] = []
    stop = asyncio.Event()
    with EmbeddedPostgres(pg_version, server_settings={"fsync": "off"}) as server:
        async with Database(server.url) as database:
            await seed(database.engine, users=0, posts_per_user=0)
        async with FaultProxy.for_url(server.url) as proxy:
            settings = Settings(
                database_url=proxy.proxied_url().render_as_string(hide_password=False),
                pool_size=writers,
                max_overflow=writers,
                pool_timeout=request_timeout / 2,
                connect_timeout=request_timeout / 2,
                request_timeout=request_timeout,
            )
            app = create_app(settings)
            origin = time.monotonic()

            async def writer(index: int, client: httpx.AsyncClient) -> None:
                sequence = 0
                while not stop.is_set():
                    name = f"drill-{run}-{index}-{sequence}"
                    sequence += 1
                    started = time.monotonic()
                    status: int | None = None
                    try:
                        async with asyncio.timeout(client_timeout):
                            response = await client.post("/users", json={"name": name})
                        status, error = response.status_code, _error_of(response)
                    except TimeoutError:
                        error = "client_timeout"
                    except httpx.HTTPError as exc:
                        error = type(exc).__name__
                    ended = time.monotonic()
                    writes.append(
                        Write(
                            name=name,
                            started_s=started - origin,
                            elapsed_s=ended - started,
                            status=status,
                            error=error,
                        )
                    )
                    if error is not None:
                        await asyncio.sleep(0.02)  # no hot loop while the database is down

            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://drill"
                ) as client:
                    tasks = [asyncio.create_task(writer(i, client)) for i in range(writers)]
                    try:
                        await asyncio.sleep(settle_s)
                        for fault in schedule:
                            started = time.monotonic() - origin
                            await _play(fault, server, proxy)
                            windows.append((fault.kind, started, time.monotonic() - origin))
                            await asyncio.sleep(fault.then_wait_s)
                    finally:
                        stop.set()
                        await asyncio.gather(*tasks, return_exceptions=True)
            duration = time.monotonic() - origin
        stored = await _stored_names(server, run)
    return summarize(writes, windows, stored, request_timeout, duration)


async def _stored_names(server: EmbeddedPostgres, run: str) -> frozenset[str]:
    async with Database(server.url) as database, database.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT name FROM users WHERE name LIKE :prefix"), {"prefix": f"drill-{run}-%"}
        )
        return frozenset(str(name) for (name,) in rows)


def summarize(
    writes: Sequence[Write],
    windows: Sequence[tuple[str, float, float]],
    stored: frozenset[str],
    deadline_s: float,
    duration_s: float,
) -> DrillReport:
    """Build the report from the writes, the fault windows (kind, start, end) and the rows."""
    ordered = sorted(writes, key=lambda write: write.started_s)
    faults = []
    for index, (kind, started, ended) in enumerate(windows):
        next_fault = windows[index + 1][1] if index + 1 < len(windows) else duration_s
        recovered = min(
            (w.ended_s for w in ordered if w.acknowledged and w.ended_s >= ended), default=None
        )
        failed_later = sum(
            not w.acknowledged
            for w in ordered
            if ended + RECOVERY_BOUND_S <= w.started_s and w.ended_s <= next_fault
        )
        faults.append(
            FaultWindow(
                kind=kind,
                started_s=started,
                ended_s=ended,
                recovered_s=recovered,
                failed_later=failed_later,
            )
        )
    errors: dict[str, int] = {}
    for write in writes:
        if write.error is not None:
            errors[write.error] = errors.get(write.error, 0) + 1
    return DrillReport(
        writes=tuple(ordered),
        faults=tuple(faults),
        stored=stored,
        deadline_s=deadline_s,
        duration_s=duration_s,
        errors_by_kind=errors,
    )
