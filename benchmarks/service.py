"""Benchmark: the demo service under the same locust load, side by side in one run.

Over HTTP (locust, scenario ``user``, each variant a uvicorn child on 127.0.0.1, interleaved
rounds, every run bounded by its duration and a hard kill):

* (a)  ``GET /users/{id}`` of the sqla-lab service as shipped (``sqla-lab serve``): SQLAlchemy
  ORM, one session per request through FastAPI's dependency, statements counted per request
  (``StatementCounter``), a ``PoolMonitor``, the metrics middleware;
* (a0) the same route, router and error handlers with a plain session dependency: no
  recorder, no monitor, no middleware (the ORM endpoint "bare");
* (b)  the same endpoint on raw asyncpg with its own pool (the issue's ceiling): same FastAPI,
  same response model, the same single LEFT JOIN; no metrics;
* (b+) (b) with the same metrics the service keeps: the service's ``MetricsMiddleware``, the
  statements-per-request histogram and a timed pool acquire;
* (c)  ``GET /users`` with ``strategy=selectin`` against ``strategy=lazy`` (1 + N).

Besides requests/s it reads the CPU time each process spent per request (the app, locust,
PostgreSQL): on a shared 2-core machine requests/s move with the neighbours, CPU per request
much less, and it shows whether the app or the load generator is the bottleneck.

Then, without HTTP, in this process: (1) the four apps called through ASGI, 10 concurrent
callers, CPU per request (the framework and the endpoint without uvicorn/h11 and sockets);
(2) one unit of work of the endpoint, serial: raw asyncpg, SQLAlchemy Core, the service's ORM
query, and the same with the service's instruments (``StatementCounter`` and ``PoolMonitor``)
or with a ``QueryRecorder`` per session instead, as the service had before.

Goal from the issue: (a) reaches at least 60% of (b)'s requests/s.

Usage: ``python benchmarks/service.py [--duration 8] [--rounds 2] [--users 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil  # installed with locust
from fastapi import FastAPI, HTTPException
from prometheus_client import Histogram
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from sqla_lab import Database, EmbeddedPostgres
from sqla_lab._process import free_port, set_parent_death_signal
from sqla_lab.demo import seed
from sqla_lab.instruments.counter import StatementCounter
from sqla_lab.instruments.pool import PoolMonitor
from sqla_lab.instruments.recorder import QueryRecorder
from sqla_lab.lab.measure import sample_interleaved
from sqla_lab.service.app import create_app
from sqla_lab.service.dependencies import DatabaseDep, get_read_session
from sqla_lab.service.errors import install_error_handlers
from sqla_lab.service.load import LoadSpec, run_locust
from sqla_lab.service.metrics import MetricsMiddleware, ServiceMetrics
from sqla_lab.service.routes import USER_WITH_POSTS, router
from sqla_lab.service.schemas import PostOut, UserOut
from sqla_lab.service.server import LOOPBACK, ServiceProcess
from sqla_lab.settings import Settings

POOL_SIZE = 10
JOIN_SQL = (
    "SELECT u.id, u.name, p.id AS post_id, p.title FROM users AS u "
    "LEFT OUTER JOIN posts AS p ON p.user_id = u.id WHERE u.id = $1 ORDER BY p.id"
)
SEED_USERS = 1000
POSTS_PER_USER = 10
AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}

SERVICE, ORM_BARE = "(a) ORM service (as shipped)", "(a0) ORM, bare"
RAW, RAW_METRICS = "(b) raw asyncpg, bare", "(b+) raw asyncpg + metrics"
SELECTIN, LAZY = "(c) GET /users?strategy=selectin", "(c) GET /users?strategy=lazy"


def raw_asyncpg_app(dsn: str, *, metrics: bool = False) -> FastAPI:
    """(b), or with ``metrics`` (b+): ``GET /users/{id}`` on raw asyncpg."""
    import asyncpg

    pool: asyncpg.Pool | None = None
    service_metrics = ServiceMetrics()
    acquire_wait = Histogram(
        "raw_pool_acquire_wait_seconds",
        "Time waited for a pooled connection.",
        registry=service_metrics.registry,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        try:
            yield
        finally:
            await pool.close()

    async def fetch(user_id: int) -> list[Any]:
        assert pool is not None
        if not metrics:
            return await pool.fetch(JOIN_SQL, user_id)
        started = time.perf_counter()
        async with pool.acquire() as connection:
            acquire_wait.observe(time.perf_counter() - started)
            rows = await connection.fetch(JOIN_SQL, user_id)
        service_metrics.observe_statements(method="GET", route="/users/{user_id}", statements=1)
        return rows

    app = FastAPI(lifespan=lifespan)

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> UserOut:
        # The same single LEFT JOIN the ORM endpoint sends (joinedload).
        rows = await fetch(user_id)
        if not rows:
            raise HTTPException(404, f"user {user_id} not found")
        posts = [
            PostOut(id=row["post_id"], user_id=row["id"], title=row["title"])
            for row in rows
            if row["post_id"] is not None
        ]
        return UserOut(id=rows[0]["id"], name=rows[0]["name"], posts=posts)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if metrics:
        app.add_middleware(MetricsMiddleware, metrics=service_metrics)
    return app


async def plain_read_session(database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """(a0)'s session dependency: the service's, minus the ``QueryRecorder``."""
    async with database.sessionmaker() as session:
        await session.connection(execution_options=AUTOCOMMIT)
        yield session


def orm_bare_app(url: str) -> FastAPI:
    """(a0): the service's router and error handlers; no recorder, monitor or middleware."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(url, pool_size=POOL_SIZE, max_overflow=0)
        app.state.database = database
        try:
            yield
        finally:
            await database.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    install_error_handlers(app, pool_timeout=30.0)
    app.dependency_overrides[get_read_session] = plain_read_session
    return app


def service_app(url: str) -> FastAPI:
    """(a): the service exactly as ``sqla-lab serve`` builds it."""
    return create_app(Settings(database_url=url, pool_size=POOL_SIZE, max_overflow=0))


APPS: dict[str, Callable[[str, str], FastAPI]] = {
    "raw": lambda dsn, url: raw_asyncpg_app(dsn),
    "raw-metrics": lambda dsn, url: raw_asyncpg_app(dsn, metrics=True),
    "orm-bare": lambda dsn, url: orm_bare_app(url),
    "service": lambda dsn, url: service_app(url),
}


def serve(kind: str, port: int) -> None:
    """Child process entry: run one of :data:`APPS` until SIGINT."""
    import uvicorn

    app = APPS[kind](os.environ["BENCHMARK_DSN"], os.environ["BENCHMARK_URL"])
    uvicorn.run(app, host=LOOPBACK, port=port, access_log=False, log_level="warning")


class AppProcess:
    """One of :data:`APPS` in a uvicorn child process, healthy on enter, stopped on exit."""

    def __init__(self, kind: str, dsn: str, url: str) -> None:
        self.port = free_port(LOOPBACK)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._env = {**os.environ, "BENCHMARK_DSN": dsn, "BENCHMARK_URL": url}
        self._kind = kind
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> AppProcess:
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--serve", self._kind, str(self.port)],
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=set_parent_death_signal,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"the {self._kind} app did not start")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def cpu_seconds(pid: int | None, *, tree: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (and its children with ``tree``) so far."""
    if pid is None:
        return 0.0
    process = psutil.Process(pid)
    total = 0.0
    for member in [process, *(process.children(recursive=True) if tree else ())]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def finished_children_cpu() -> float:
    """CPU seconds of this process's finished children (locust, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Run:
    """One locust run against one variant, with the CPU each process spent per request."""

    requests_per_s: float
    p95_ms: float
    app_ms: float
    locust_ms: float
    postgres_ms: float


def asgi_caller(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """A ``GET /users/{id}`` straight into ``app`` through ASGI: no server, no socket."""
    ids = itertools.cycle(range(1, SEED_USERS + 1))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def call() -> None:
        path = f"/users/{next(ids)}"
        status = 0

        async def send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1")],
            "client": (LOOPBACK, 50000),
            "server": (LOOPBACK, 80),
        }
        await app(scope, receive, send)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")

    return call


async def asgi_ladder(dsn: str, url: str, *, blocks: int, callers: int = 10) -> dict[str, float]:
    """Median CPU ms per request of each app called through ASGI, ``callers`` at a time."""
    apps = {
        RAW: raw_asyncpg_app(dsn),
        RAW_METRICS: raw_asyncpg_app(dsn, metrics=True),
        ORM_BARE: orm_bare_app(url),
        SERVICE: service_app(url),
    }
    per_caller = 20
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        calls = {name: asgi_caller(app) for name, app in apps.items()}

        async def caller(call: Callable[[], Awaitable[None]]) -> None:
            for _ in range(per_caller):
                await call()

        for block in range(blocks + 2):  # two warm-up blocks
            for name, call in calls.items():
                started = time.process_time()
                await asyncio.gather(*(caller(call) for _ in range(callers)))
                if block >= 2:
                    spent = time.process_time() - started
                    cpu[name].append(spent * 1000.0 / (per_caller * callers))
    return {name: statistics.median(values) for name, values in cpu.items()}


async def breakdown(dsn: str, url: str | URL, repetitions: int) -> dict[str, float]:
    """Median wall ms of one ``GET /users/{id}`` unit of work, in-process, serial, no HTTP.

    Interleaved: raw asyncpg, SQLAlchemy Core, the ORM as the service runs it (autocommit
    session, ``joinedload``), and the same with a ``PoolMonitor`` and either the service's
    ``StatementCounter`` or (as the service did before) a ``QueryRecorder`` per session.
    """
    import asyncpg
    from sqlalchemy import text

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    plain = Database(url, pool_size=1, max_overflow=0)
    instrumented = Database(url, pool_size=1, max_overflow=0)
    core_sql = text(JOIN_SQL.replace("$1", ":user_id"))
    ids = itertools.cycle(range(1, SEED_USERS + 1))

    async def raw() -> None:
        await pool.fetch(JOIN_SQL, next(ids))

    async def core() -> None:
        async with plain.engine.connect() as conn:
            (await conn.execute(core_sql, {"user_id": next(ids)})).all()

    async def orm_on(
        database: Database, count: Callable[[AsyncSession], AbstractContextManager[object]]
    ) -> None:
        async with database.sessionmaker() as session:
            with count(session):
                await session.connection(execution_options=AUTOCOMMIT)
                result = await session.scalars(USER_WITH_POSTS, {"user_id": next(ids)})
                user = result.unique().one()
                UserOut.of(user, user.posts)

    async def orm() -> None:
        await orm_on(plain, lambda session: nullcontext())

    async def orm_recorded() -> None:
        await orm_on(instrumented, lambda session: QueryRecorder(session, ignored_modules=()))

    async def orm_counted() -> None:
        await orm_on(instrumented, counter.session)

    try:
        with PoolMonitor(instrumented.engine), StatementCounter(instrumented.engine) as counter:
            samples = await sample_interleaved(
                {
                    "raw asyncpg": raw,
                    "SQLAlchemy Core": core,
                    "ORM (the service's query)": orm,
                    "ORM + StatementCounter + PoolMonitor": orm_counted,
                    "ORM + QueryRecorder + PoolMonitor": orm_recorded,
                },
                repetitions=repetitions,
                warmup=20,
            )
    finally:
        await pool.close()
        await plain.dispose()
        await instrumented.dispose()
    return {name: statistics.median(values) for name, values in samples.items()}


def per_round(rates: dict[str, list[float]], top: str, bottom: str) -> str:
    """``median (per round: ...)`` of ``top / bottom``, the rounds paired."""
    ratios = [a / b for a, b in zip(rates[top], rates[bottom], strict=True)]
    listed = ", ".join(f"{r:.2f}" for r in ratios)
    return f"{statistics.median(ratios):.2f} (per round: {listed})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--users", type=int, default=10, help="concurrent locust users")
    parser.add_argument("--repetitions", type=int, default=300, help="in-process breakdown")
    parser.add_argument("--blocks", type=int, default=10, help="in-process ASGI blocks")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve[0], int(args.serve[1]))
        return

    def spec(scenario: str) -> LoadSpec:
        return LoadSpec(
            users=args.users,
            spawn_rate=args.users,
            duration_s=args.duration,
            scenario=scenario,
            max_user_id=SEED_USERS,
        )

    runs: dict[str, list[Run]] = {}
    with EmbeddedPostgres() as server, tempfile.TemporaryDirectory() as scratch:

        async def load_data() -> None:
            async with Database(server.url) as db:
                await seed(db.engine, users=SEED_USERS, posts_per_user=POSTS_PER_USER)

        asyncio.run(load_data())
        url = server.url.render_as_string(hide_password=False)
        ladder = asyncio.run(asgi_ladder(server.dsn, url, blocks=args.blocks))
        unit_ms = asyncio.run(breakdown(server.dsn, server.url, args.repetitions))
        out = Path(scratch)
        with (
            ServiceProcess(url, pool_size=POOL_SIZE, max_overflow=0) as service,
            AppProcess("orm-bare", server.dsn, url) as orm_bare,
            AppProcess("raw", server.dsn, url) as raw,
            AppProcess("raw-metrics", server.dsn, url) as raw_metrics,
        ):
            variants = {
                SERVICE: (service.url, service.pid, "user"),
                ORM_BARE: (orm_bare.url, orm_bare.pid, "user"),
                RAW: (raw.url, raw.pid, "user"),
                RAW_METRICS: (raw_metrics.url, raw_metrics.pid, "user"),
                SELECTIN: (service.url, service.pid, "users-selectin"),
                LAZY: (service.url, service.pid, "users-lazy"),
            }
            runs = {name: [] for name in variants}
            for round_number in range(args.rounds):
                for index, (name, (target, pid, scenario)) in enumerate(variants.items()):
                    before = (cpu_seconds(pid), finished_children_cpu())
                    before_pg = cpu_seconds(server.pid, tree=True)
                    load = run_locust(target, spec(scenario), out, label=f"r{round_number}-{index}")
                    app_s = cpu_seconds(pid) - before[0]
                    locust_s = finished_children_cpu() - before[1]
                    postgres_s = cpu_seconds(server.pid, tree=True) - before_pg
                    if load.total.failures:
                        print(f"warning: {name}: {load.total.failures} failed requests")
                    n = load.total.requests
                    run = Run(
                        requests_per_s=load.total.requests_per_s,
                        p95_ms=load.total.p95_ms,
                        app_ms=app_s * 1000.0 / n,
                        locust_ms=locust_s * 1000.0 / n,
                        postgres_ms=postgres_s * 1000.0 / n,
                    )
                    runs[name].append(run)
                    print(
                        f"round {round_number + 1}: {name:34} {run.requests_per_s:7.1f} req/s "
                        f"p95 {run.p95_ms:4.0f} ms | CPU ms/request: app {run.app_ms:.3f} "
                        f"locust {run.locust_ms:.3f} postgres {run.postgres_ms:.3f}",
                        flush=True,
                    )

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(run, field) for run in runs[name])

    print()
    print(
        f"{args.users} locust users, {args.duration} s per run, {args.rounds} rounds, "
        f"pool {POOL_SIZE}, {os.cpu_count()} CPUs (shared; locust and PostgreSQL on them too)"
    )
    print(f"  {'variant (medians)':34} {'req/s':>8} {'p95 ms':>7}   CPU ms per request:")
    print(f"  {'':34} {'':>8} {'':>7}   {'app':>6} {'locust':>7} {'postgres':>8}")
    for name in runs:
        print(
            f"  {name:34} {median(name, 'requests_per_s'):8.1f} {median(name, 'p95_ms'):7.0f}   "
            f"{median(name, 'app_ms'):6.3f} {median(name, 'locust_ms'):7.3f} "
            f"{median(name, 'postgres_ms'):8.3f}"
        )
    rates = {name: [run.requests_per_s for run in values] for name, values in runs.items()}
    # Capacity if the app process were the only bottleneck: inverse CPU per request.
    capacity = {name: [1.0 / run.app_ms for run in values] for name, values in runs.items()}
    goal = statistics.median(a / b for a, b in zip(rates[SERVICE], rates[RAW], strict=True))
    print()
    print("requests/s ratios (rounds interleave the variants, so each pair shares the machine):")
    print(f"  (a)/(b)   the issue's goal (>= 0.60): {per_round(rates, SERVICE, RAW)}", end="")
    print(f" -> {'met' if goal >= 0.6 else 'NOT met'}")
    print(f"  (a0)/(b)  bare ORM vs bare raw:        {per_round(rates, ORM_BARE, RAW)}")
    print(f"  (a)/(b+)  both with the same metrics:  {per_round(rates, SERVICE, RAW_METRICS)}")
    print(f"  selectin/lazy:                         {per_round(rates, SELECTIN, LAZY)}")
    print("app capacity ratios (inverse app CPU per request; the app alone as the bottleneck):")
    print(f"  (a)/(b)   {per_round(capacity, SERVICE, RAW)}")
    print(f"  (a0)/(b)  {per_round(capacity, ORM_BARE, RAW)}")
    print(f"  (a)/(b+)  {per_round(capacity, SERVICE, RAW_METRICS)}")

    print()
    print("where the app's time goes, in-process, no HTTP (ASGI calls, 10 concurrent callers):")
    base = ladder[RAW]
    for name, value in ladder.items():
        print(f"  {name:34} {value:6.3f} CPU ms/request  ({value / base:.2f}x raw)")
    print("one unit of work of GET /users/{id}, in-process, serial, no HTTP, no FastAPI:")
    baseline = unit_ms["raw asyncpg"]
    for name, value in unit_ms.items():
        print(f"  {name:36} {value:6.3f} wall ms  ({value / baseline:.2f}x raw asyncpg)")


if __name__ == "__main__":
    main()
