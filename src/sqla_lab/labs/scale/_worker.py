"""A scale-lab worker process: ``python -m sqla_lab.labs.scale._worker``.

It stands for one application process: its own engine and pool (or its own HTTP client) per
job, nothing shared with the lab process or the other workers. It talks to the lab over
stdin/stdout, one JSON object per line::

    worker: {"hello": pid}
    lab:    {"job": {...}}          worker: {"ready": true}  (or {"failed": "..."})
    lab:    {"go": true}            every worker starts together
    lab:    {"stop": true}          optional: end a job that has no duration
    worker: {"result": {...}}
    lab:    {"exit": true}          (or end of input)

Database URLs travel on stdin, never on the command line where ``ps`` shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sqla_lab.labs.scale._jobs import ErrorCount, Job, JobResult, describe_error, select_pair

__all__ = [
    "Request",
    "main",
]

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
#: A failing request is retried after this pause, so a refusing server is not hammered.
_ERROR_PAUSE_S = 0.002


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class _Tally:
    """Counts of one job: successes, failures by kind, latencies."""

    def __init__(self) -> None:
        self.requests = 0
        self.errors: dict[tuple[str, str | None, str | None], ErrorCount] = {}
        self.first_error_after: int | None = None
        self.latencies_ms: list[float] = []
        self.connections_opened = 0

    def success(self, started: float) -> None:
        self.requests += 1
        self.latencies_ms.append((time.perf_counter() - started) * 1000.0)

    def failure(self, error: ErrorCount) -> None:
        if self.first_error_after is None:
            self.first_error_after = self.requests
        known = self.errors.get(error.kind)
        count = known.count + 1 if known else 1
        self.errors[error.kind] = ErrorCount(**{**(known or error).to_dict(), "count": count})

    def result(self, elapsed_s: float) -> JobResult:
        return JobResult(
            pid=os.getpid(),
            requests=self.requests,
            errors=tuple(self.errors.values()),
            first_error_after=self.first_error_after,
            latencies_ms=tuple(self.latencies_ms),
            connections_opened=self.connections_opened,
            elapsed_s=elapsed_s,
        )


Request = Callable[[int], Awaitable[ErrorCount | None]]


async def _drive(job: Job, request: Request, tally: _Tally, stop: asyncio.Event) -> float:
    """Run ``job.concurrency`` request loops until the duration ends or ``stop`` is set."""
    started = time.perf_counter()
    deadline = started + job.duration_s if job.duration_s is not None else None

    def done() -> bool:
        return stop.is_set() or (deadline is not None and time.perf_counter() >= deadline)

    async def loop(task_index: int) -> None:
        sequence = task_index
        if job.stagger_ms:
            await asyncio.sleep(task_index * job.stagger_ms / 1000.0)
        while not done():
            began = time.perf_counter()
            try:
                problem = await request(sequence)
            except Exception as exc:
                problem = describe_error(exc)
            if problem is None:
                tally.success(began)
            else:
                tally.failure(problem)
                await asyncio.sleep(_ERROR_PAUSE_S)
            sequence += job.concurrency

    await asyncio.gather(*(loop(i) for i in range(job.concurrency)))
    return time.perf_counter() - started


def _engine(job: Job, tally: _Tally) -> AsyncEngine:
    engine = create_async_engine(job.url, **job.engine.engine_kwargs())

    def opened(dbapi_connection: object, record: object) -> None:
        tally.connections_opened += 1

    event.listen(engine.sync_engine, "connect", opened)
    return engine


async def _database_job(
    job: Job, ready: Callable[[], Awaitable[bool]], stop: asyncio.Event
) -> JobResult | None:
    tally = _Tally()
    engine = _engine(job, tally)
    try:
        if job.kind == "select":
            hold_s = job.hold_ms / 1000.0

            async def request(n: int) -> None:
                await select_pair(engine, n, hold_s)

        else:
            if job.table is None or not _IDENTIFIER.fullmatch(job.table):
                raise ValueError(f"an insert job needs a plain table name, not {job.table!r}")
            insert = text(f"INSERT INTO {job.table} (payload) VALUES (:payload)")

            async def request(n: int) -> None:
                async with engine.begin() as conn:
                    await conn.execute(insert, {"payload": f"load {n}"})

        if not await ready():
            return None
        elapsed = await _drive(job, request, tally, stop)
        return tally.result(elapsed)
    finally:
        await engine.dispose()


async def _http_job(
    job: Job, ready: Callable[[], Awaitable[bool]], stop: asyncio.Event
) -> JobResult | None:
    import httpx

    tally = _Tally()
    limits = httpx.Limits(
        max_connections=job.concurrency, max_keepalive_connections=job.concurrency
    )
    async with httpx.AsyncClient(base_url=job.url, timeout=30.0, limits=limits) as client:
        draw = random.Random(os.getpid())

        async def request(n: int) -> ErrorCount | None:
            response = await client.get(f"/users/{draw.randint(1, job.max_user_id)}")
            if response.status_code == 200:
                return None
            return ErrorCount(
                error=f"HTTP {response.status_code}",
                driver_error=None,
                sqlstate=None,
                message=response.text[:200],
                count=1,
            )

        if not await ready():
            return None
        elapsed = await _drive(job, request, tally, stop)
        return tally.result(elapsed)


async def _stdin() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def _read(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    line = await reader.readline()
    if not line:
        return None
    message: dict[str, Any] = json.loads(line)
    return message


async def _run(job: Job, reader: asyncio.StreamReader) -> bool:
    """Run one job; ``False`` when the lab has gone away."""
    stop = asyncio.Event()
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        await _read(reader)  # "stop", "exit" or the end of input: all mean stop
        stop.set()

    async def ready() -> bool:
        nonlocal watcher
        _send({"ready": True})
        message = await _read(reader)
        if message is None or "go" not in message:
            return False  # the lab went away, or gave up on this run
        watcher = asyncio.create_task(watch())
        return True

    runner = _http_job if job.kind == "http" else _database_job
    try:
        result = await runner(job, ready, stop)
    except Exception as exc:
        _send({"failed": f"{type(exc).__name__}: {exc}".splitlines()[0]})
        return True
    finally:
        if watcher is not None:
            watcher.cancel()
            # Wait for it to let go of stdin before anyone reads the next line.
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    if result is None:
        return False
    _send({"result": result.to_dict()})
    return True


async def main() -> None:
    """Serve jobs until the lab says exit or closes our stdin."""
    reader = await _stdin()
    _send({"hello": os.getpid()})
    while True:
        message = await _read(reader)
        if message is None or "exit" in message:
            return
        if "job" not in message:
            continue  # a late "stop" for a job that already ended
        if not await _run(Job.from_dict(message["job"]), reader):
            return


if __name__ == "__main__":  # pragma: no cover - runs in the worker process
    asyncio.run(main())
