"""Benchmark: the demo service under the same locust load, side by side in one run.

(a) ``GET /users/{id}`` of the sqla-lab service (SQLAlchemy ORM, ``selectinload``) against
(b) the same endpoint written with raw asyncpg and its own pool (the ceiling: same FastAPI,
same response model, the same one LEFT JOIN), and (c) ``GET /users`` with ``strategy=selectin``
against ``strategy=lazy`` (1 + N). Each variant runs in rounds, interleaved, against
services on 127.0.0.1 only; every run is bounded by its duration (and a hard kill).

Goal from the issue: (a) reaches at least 60% of (b)'s requests/s. To show where the gap
comes from, it also times one unit of work of that endpoint in-process (no HTTP, serial,
interleaved): raw asyncpg, SQLAlchemy Core, the service's ORM query, and the same with the
service's instruments (QueryRecorder, PoolMonitor).

Usage: ``python benchmarks/service.py [--duration 8] [--rounds 2] [--users 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException
from sqlalchemy.engine import URL

from sqla_lab import Database, EmbeddedPostgres, seed
from sqla_lab._process import free_port
from sqla_lab.measure import sample_interleaved
from sqla_lab.pool_monitor import PoolMonitor
from sqla_lab.query_recorder import QueryRecorder
from sqla_lab.service.load import LoadSpec, run_locust
from sqla_lab.service.routes import USER_WITH_POSTS
from sqla_lab.service.schemas import PostOut, UserOut
from sqla_lab.service.server import LOOPBACK, ServiceProcess

POOL_SIZE = 10
JOIN_SQL = (
    "SELECT u.id, u.name, p.id AS post_id, p.title FROM users AS u "
    "LEFT OUTER JOIN posts AS p ON p.user_id = u.id WHERE u.id = $1 ORDER BY p.id"
)
SEED_USERS = 1000
POSTS_PER_USER = 10


def raw_asyncpg_app(dsn: str) -> FastAPI:
    """(b): ``GET /users/{id}`` on raw asyncpg, otherwise the same as the service's."""
    import asyncpg

    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> UserOut:
        assert pool is not None
        # The same single LEFT JOIN the ORM endpoint sends (joinedload), so (b) is the ceiling
        # for the same database work.
        rows = await pool.fetch(JOIN_SQL, user_id)
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

    return app


def serve_raw(port: int) -> None:
    """Child process entry: run (b) until SIGINT."""
    import uvicorn

    app = raw_asyncpg_app(os.environ["BENCHMARK_DSN"])
    uvicorn.run(app, host=LOOPBACK, port=port, access_log=False, log_level="warning")


class RawProcess:
    """(b) in a child process, healthy on enter, stopped on exit."""

    def __init__(self, dsn: str) -> None:
        self.port = free_port(LOOPBACK)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._dsn = dsn
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RawProcess:
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--serve-raw", str(self.port)],
            env={**os.environ, "BENCHMARK_DSN": self._dsn},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("the raw asyncpg app did not start")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


async def breakdown(dsn: str, url: str | URL, repetitions: int) -> dict[str, float]:
    """Median ms of one ``GET /users/{id}`` unit of work, in-process, serial, without HTTP.

    Interleaved: raw asyncpg, SQLAlchemy Core, the ORM as the service runs it (autocommit
    session, ``joinedload``), and the same with the service's instruments attached
    (a ``PoolMonitor`` on its own engine, a ``QueryRecorder`` per session).
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

    async def orm_on(database: Database, *, record: bool) -> None:
        async with database.sessionmaker() as session:
            recorder = QueryRecorder(session, ignored_modules=()) if record else nullcontext()
            with recorder:
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                result = await session.scalars(USER_WITH_POSTS, {"user_id": next(ids)})
                user = result.unique().one()
                UserOut.of(user, user.posts)

    async def orm() -> None:
        await orm_on(plain, record=False)

    async def orm_instrumented() -> None:
        await orm_on(instrumented, record=True)

    try:
        with PoolMonitor(instrumented.engine):
            samples = await sample_interleaved(
                {
                    "raw asyncpg": raw,
                    "SQLAlchemy Core": core,
                    "ORM (the service's query)": orm,
                    "ORM + QueryRecorder + PoolMonitor": orm_instrumented,
                },
                repetitions=repetitions,
                warmup=20,
            )
    finally:
        await pool.close()
        await plain.dispose()
        await instrumented.dispose()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--users", type=int, default=10, help="concurrent locust users")
    parser.add_argument("--repetitions", type=int, default=300, help="in-process breakdown")
    parser.add_argument("--serve-raw", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_raw is not None:
        serve_raw(args.serve_raw)
        return

    def spec(scenario: str) -> LoadSpec:
        return LoadSpec(
            users=args.users,
            spawn_rate=args.users,
            duration_s=args.duration,
            scenario=scenario,
            max_user_id=SEED_USERS,
        )

    with EmbeddedPostgres() as server, tempfile.TemporaryDirectory() as scratch:

        async def load_data() -> None:
            async with Database(server.url) as db:
                await seed(db.engine, users=SEED_USERS, posts_per_user=POSTS_PER_USER)

        asyncio.run(load_data())
        unit_ms = asyncio.run(breakdown(server.dsn, server.url, args.repetitions))
        out = Path(scratch)
        url = server.url.render_as_string(hide_password=False)
        variants = {
            "(a) GET /users/{id}, sqla-lab (ORM)": ("service", "user"),
            "(b) GET /users/{id}, raw asyncpg": ("raw", "user"),
            "(c) GET /users?strategy=selectin": ("service", "users-selectin"),
            "(c) GET /users?strategy=lazy": ("service", "users-lazy"),
        }
        rates: dict[str, list[float]] = {name: [] for name in variants}
        p95: dict[str, list[float]] = {name: [] for name in variants}
        with (
            ServiceProcess(url, pool_size=POOL_SIZE, max_overflow=0) as service,
            RawProcess(server.dsn) as raw,
        ):
            targets = {"service": service.url, "raw": raw.url}
            for round_number in range(args.rounds):
                for index, (name, (target, scenario)) in enumerate(variants.items()):
                    run = run_locust(
                        targets[target], spec(scenario), out, label=f"r{round_number}-{index}"
                    )
                    if run.total.failures:
                        print(f"warning: {name}: {run.total.failures} failed requests")
                    rates[name].append(run.total.requests_per_s)
                    p95[name].append(run.total.p95_ms)
                    print(
                        f"round {round_number + 1}: {name:38} "
                        f"{run.total.requests_per_s:8.1f} req/s  p95 {run.total.p95_ms:6.0f} ms",
                        flush=True,
                    )

    median = {name: statistics.median(values) for name, values in rates.items()}
    print()
    print(
        f"{args.users} locust users, {args.duration} s per run, {args.rounds} rounds, "
        f"pool {POOL_SIZE}, {os.cpu_count()} CPUs (shared; locust runs on the same machine)"
    )
    for name, value in median.items():
        print(
            f"  {name:38} {value:8.1f} req/s (median)  p95 {statistics.median(p95[name]):5.0f} ms"
        )
    orm_name, raw_name = "(a) GET /users/{id}, sqla-lab (ORM)", "(b) GET /users/{id}, raw asyncpg"
    selectin_name, lazy_name = "(c) GET /users?strategy=selectin", "(c) GET /users?strategy=lazy"
    # Rounds interleave the variants, so a ratio within one round shares the machine's mood.
    per_round = [a / b for a, b in zip(rates[orm_name], rates[raw_name], strict=True)]
    ratio = statistics.median(per_round)
    print(
        f"ratio (a)/(b): {ratio:.2f} (per round: {', '.join(f'{r:.2f}' for r in per_round)}); "
        f"goal >= 0.60: {'met' if ratio >= 0.6 else 'NOT met'}"
    )
    loaders = [a / b for a, b in zip(rates[selectin_name], rates[lazy_name], strict=True)]
    print(
        f"ratio selectin/lazy: {statistics.median(loaders):.2f} "
        f"(per round: {', '.join(f'{r:.2f}' for r in loaders)})"
    )

    print()
    print("where the time goes: one GET /users/{id} unit of work, in-process, serial, no HTTP")
    baseline = unit_ms["raw asyncpg"]
    for name, value in unit_ms.items():
        print(f"  {name:38} {value:6.3f} ms  ({value / baseline:.2f}x raw asyncpg)")


if __name__ == "__main__":
    main()
