"""Benchmark: the demo service against raw asyncpg, side by side in one run.

The apps (:mod:`_service_apps`): ``service`` as shipped, ``orm-bare`` (the same router and
unit of work with every instrument left out, built without ``dependency_overrides``),
``orm-best`` (the cheapest ORM form of the endpoint, from the ``request`` lab: no deadline,
no error contract), ``raw`` (asyncpg), ``raw-metrics`` (raw with the service's metrics).
Every app runs with the same garbage-collector setting, stated in the output (``--gc tuned``,
the default, is what ``sqla-lab serve`` does: ``gc.freeze()`` after start-up and thresholds
(50000, 20, 100)).

1. Over HTTP (unless ``--callgrind-only``): the same locust load (scenario ``user``,
   ``GET /users/{id}``) on each app in its own uvicorn child on 127.0.0.1, interleaved rounds;
   requests/s, p95 and the CPU each process spent per request (app, locust, PostgreSQL); then
   ``GET /users`` selectin against lazy on the service.
2. In-process, no HTTP: each app called through ASGI, 10 callers at a time, CPU per request.
3. Under callgrind (when valgrind is installed, unless ``--no-callgrind``), repeatable on a
   shared machine: instructions per request of each app in-process (two counts, small and
   large, so start-up cancels), and on the HTTP server side (the uvicorn child under valgrind,
   instrumentation switched on after a warm-up, ``N`` keep-alive requests, then a dump). The
   instruments' cost is ``service - orm-bare``.

Goals (issue 18): service >= 0.55x raw req/s over HTTP and <= 1.9x raw server instructions;
the best bare ORM >= 0.59x; the instruments <= 0.1 M instructions per request. The last two lines
are ``service/raw req/s: X`` and ``service/raw instructions: Y`` (HTTP server side).

Usage: ``python benchmarks/service.py [--duration 8] [--rounds 3] [--users 10] [--gc tuned]
[--requests 400] [--no-callgrind | --callgrind-only]``; uses ``DATABASE_URL`` when set (its
``users``/``posts`` are re-seeded), else an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil  # installed with locust

import _common
from _service_apps import (
    KINDS,
    LOOPBACK,
    POSTS_PER_USER,
    SEED_USERS,
    asgi_caller,
    build,
    concurrently,
)
from sqla_lab import Database
from sqla_lab._process import free_port, set_parent_death_signal
from sqla_lab.demo import seed
from sqla_lab.service.app import GC_THRESHOLDS
from sqla_lab.service.load import LoadSpec, run_locust
from sqla_lab.workspace import Workspace

APPS_SCRIPT = Path(__file__).with_name("_service_apps.py")
NAMES = {
    "service": "(a) service as shipped",
    "orm-bare": "(a0) ORM, bare (no instruments)",
    "orm-best": "(a1) ORM, cheapest form (lab)",
    "raw": "(b) raw asyncpg",
    "raw-metrics": "(b+) raw asyncpg + metrics",
}
#: The lab's endpoint has no /healthz: it is ready when it serves a user.
READY = {"orm-best": "/users/1"}
SELECTIN, LAZY = "(c) GET /users?strategy=selectin", "(c) GET /users?strategy=lazy"
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
_TOTALS = re.compile(r"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


def gc_statement(mode: str) -> str:
    """How the collector was set, for the output."""
    if mode == "tuned":
        return f"gc.freeze() after start-up, thresholds {GC_THRESHOLDS} (as sqla-lab serve)"
    return "Python's default collector (thresholds (700, 10, 10), nothing frozen)"


class AppProcess:
    """One app in a uvicorn child process (optionally under callgrind), healthy on enter."""

    def __init__(
        self, kind: str, env: dict[str, str], gc_mode: str, *, callgrind_out: Path | None = None
    ) -> None:
        self.port = free_port(LOOPBACK)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._command = [sys.executable, str(APPS_SCRIPT), "serve", kind, str(self.port), gc_mode]
        if callgrind_out is not None:
            self._command = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={callgrind_out}",
                *self._command,
            ]
        self._env = {**env, "PYTHONHASHSEED": "0"}
        self._kind = kind
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> AppProcess:
        self._process = subprocess.Popen(
            self._command,
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=set_parent_death_signal,
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                if httpx.get(self.url + READY.get(self._kind, "/healthz"), timeout=5).is_success:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"the {self._kind} app did not start")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


# -- HTTP with locust ---------------------------------------------------------------------


@dataclass
class Run:
    """One locust run against one app, with the CPU each process spent per request."""

    requests_per_s: float
    p95_ms: float
    app_ms: float
    locust_ms: float
    postgres_ms: float


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


def http_rounds(
    server: Workspace, env: dict[str, str], args: argparse.Namespace, out: Path
) -> dict[str, list[Run]]:
    """Interleaved locust rounds against every app, then selectin against lazy."""

    def spec(scenario: str) -> LoadSpec:
        return LoadSpec(
            users=args.users,
            spawn_rate=args.users,
            duration_s=args.duration,
            scenario=scenario,
            max_user_id=SEED_USERS,
        )

    # The workspace's server: the embedded one has a postmaster whose CPU we can read.
    postgres_pid = getattr(server.server, "pid", None)
    runs: dict[str, list[Run]] = {}
    with (
        AppProcess("service", env, args.gc) as service,
        AppProcess("orm-bare", env, args.gc) as orm_bare,
        AppProcess("orm-best", env, args.gc) as orm_best,
        AppProcess("raw", env, args.gc) as raw,
        AppProcess("raw-metrics", env, args.gc) as raw_metrics,
    ):
        variants = {
            NAMES["service"]: (service, "user"),
            NAMES["orm-bare"]: (orm_bare, "user"),
            NAMES["orm-best"]: (orm_best, "user"),
            NAMES["raw"]: (raw, "user"),
            NAMES["raw-metrics"]: (raw_metrics, "user"),
            SELECTIN: (service, "users-selectin"),
            LAZY: (service, "users-lazy"),
        }
        runs = {name: [] for name in variants}
        for round_number in range(args.rounds):
            for index, (name, (app, scenario)) in enumerate(variants.items()):
                before = (cpu_seconds(app.pid), finished_children_cpu())
                before_pg = cpu_seconds(postgres_pid, tree=True)
                load = run_locust(app.url, spec(scenario), out, label=f"r{round_number}-{index}")
                requests = load.total.requests
                run = Run(
                    requests_per_s=load.total.requests_per_s,
                    p95_ms=load.total.p95_ms,
                    app_ms=(cpu_seconds(app.pid) - before[0]) * 1000.0 / requests,
                    locust_ms=(finished_children_cpu() - before[1]) * 1000.0 / requests,
                    postgres_ms=(cpu_seconds(postgres_pid, tree=True) - before_pg)
                    * 1000.0
                    / requests,
                )
                if load.total.failures:
                    print(f"warning: {name}: {load.total.failures} failed requests")
                runs[name].append(run)
                print(
                    f"round {round_number + 1}: {name:34} {run.requests_per_s:7.1f} req/s "
                    f"p95 {run.p95_ms:4.0f} ms | CPU ms/request: app {run.app_ms:.3f} "
                    f"locust {run.locust_ms:.3f} postgres {run.postgres_ms:.3f}",
                    flush=True,
                )
    return runs


def per_round(rates: dict[str, list[float]], top: str, bottom: str) -> tuple[float, str]:
    """The median of ``top / bottom`` over paired rounds, and the rounds listed."""
    ratios = [a / b for a, b in zip(rates[top], rates[bottom], strict=True)]
    listed = ", ".join(f"{r:.2f}" for r in ratios)
    return statistics.median(ratios), f"{statistics.median(ratios):.2f} (per round: {listed})"


# -- in-process ---------------------------------------------------------------------------


async def asgi_cpu(env: dict[str, str], gc_mode: str, blocks: int) -> dict[str, float]:
    """Median CPU ms per request of each app called through ASGI, 10 callers at a time."""
    apps = {
        kind: build(kind, env["BENCHMARK_DSN"], env["BENCHMARK_URL"], gc_mode) for kind in KINDS
    }
    cpu: dict[str, list[float]] = {kind: [] for kind in apps}
    per_block = 200
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        calls = {kind: asgi_caller(app) for kind, app in apps.items()}
        for block in range(blocks + 2):  # two warm-up blocks
            for kind, call in calls.items():
                started = time.process_time()
                await concurrently(call, per_block)
                if block >= 2:
                    cpu[kind].append((time.process_time() - started) * 1000.0 / per_block)
    return {kind: statistics.median(values) for kind, values in cpu.items()}


# -- callgrind ----------------------------------------------------------------------------


def _asgi_instructions(kind: str, count: int, env: dict[str, str], gc_mode: str) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(APPS_SCRIPT),
        "asgi",
        kind,
        str(count),
        gc_mode,
    ]
    # A fixed hash seed: dict and set layouts (and the instructions spent probing them)
    # otherwise differ from run to run by a few per cent.
    done = subprocess.run(
        command, capture_output=True, text=True, env={**env, "PYTHONHASHSEED": "0"}, check=False
    )
    match = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"callgrind run of {kind} failed:\n{done.stderr[-3000:]}")
    return int(match.group(1))


def asgi_instructions(
    env: dict[str, str], gc_mode: str, small: int, large: int
) -> dict[str, float]:
    """Instructions per in-process request of each app: (large - small) / (large - small)."""
    jobs = [(kind, count) for kind in KINDS for count in (small, large)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(
            zip(
                jobs,
                pool.map(lambda job: _asgi_instructions(job[0], job[1], env, gc_mode), jobs),
                strict=True,
            )
        )
    return {kind: (counts[kind, large] - counts[kind, small]) / (large - small) for kind in KINDS}


async def _keep_alive_gets(port: int, count: int, connections: int = 10) -> None:
    """``count`` GETs over ``connections`` keep-alive connections; a few lines of HTTP/1.1, so
    that the client (another process anyway) stays out of the server's way."""
    ids = itertools.cycle(range(1, SEED_USERS + 1))
    remaining = iter(range(count))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        try:
            for _ in remaining:
                path = f"/users/{next(ids)}"
                writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                if int(head.split(b" ", 2)[1]) != 200:
                    raise RuntimeError(f"GET {path}: {head[:40]!r}")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(client() for _ in range(connections)))


def http_instructions(
    kind: str, env: dict[str, str], gc_mode: str, requests: int, scratch: Path
) -> float:
    """Instructions the uvicorn process executes per HTTP request, under callgrind."""
    output = scratch / f"callgrind.{kind}.out"
    with AppProcess(kind, env, gc_mode, callgrind_out=output) as app:
        assert app.pid is not None
        asyncio.run(_keep_alive_gets(app.port, 300))  # warm-up, not instrumented
        control = ["callgrind_control"]
        subprocess.run([*control, "-i", "on", str(app.pid)], check=True, capture_output=True)
        asyncio.run(_keep_alive_gets(app.port, requests))
        subprocess.run([*control, "-d", str(app.pid)], check=True, capture_output=True)
        dumps: list[Path] = []
        deadline = time.monotonic() + 60
        while not dumps and time.monotonic() < deadline:
            time.sleep(0.5)
            dumps = [
                p
                for p in scratch.glob(f"callgrind.{kind}.out*")
                if _TOTALS.search(p.read_text(errors="replace"))
            ]
    if not dumps:
        raise RuntimeError(f"no callgrind dump for {kind}")
    first = min(dumps, key=lambda p: p.stat().st_mtime)
    match = _TOTALS.search(first.read_text(errors="replace"))
    assert match is not None
    return int(match.group(1)) / requests


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per locust run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--users", type=int, default=10, help="concurrent locust users")
    parser.add_argument("--blocks", type=int, default=10, help="in-process ASGI blocks")
    parser.add_argument("--gc", choices=("tuned", "default"), default="tuned")
    parser.add_argument("--requests", type=int, default=400, help="requests under callgrind")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-callgrind", action="store_true")
    mode.add_argument("--callgrind-only", action="store_true")
    args = parser.parse_args()
    callgrind = not args.no_callgrind and shutil.which("valgrind") is not None
    if args.callgrind_only and not callgrind:
        parser.error("--callgrind-only needs valgrind")

    runs: dict[str, list[Run]] = {}
    with _common.server() as server, tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)

        async def load_data() -> None:
            async with Database(server.url) as db:
                await seed(db.engine, users=SEED_USERS, posts_per_user=POSTS_PER_USER, reset=True)

        asyncio.run(load_data())
        env = {
            **os.environ,
            "BENCHMARK_DSN": server.dsn,
            "BENCHMARK_URL": server.url.render_as_string(hide_password=False),
        }
        print(f"garbage collector, every app: {gc_statement(args.gc)}", flush=True)
        if not args.callgrind_only:
            runs = http_rounds(server, env, args, scratch)
            ladder = asyncio.run(asgi_cpu(env, args.gc, args.blocks))
        instructions: dict[str, float] = {}
        http: dict[str, float] = {}
        if callgrind:
            print("callgrind: in-process instruction counts ...", flush=True)
            instructions = asgi_instructions(env, args.gc, small=100, large=100 + args.requests)
            for kind in KINDS:
                print(f"callgrind: {kind} over HTTP ...", flush=True)
                http[kind] = http_instructions(kind, env, args.gc, args.requests, scratch)

    print()
    print(f"garbage collector: {gc_statement(args.gc)}; {os.cpu_count()} CPUs (shared)")
    service_rps: float | None = None
    if runs:
        _print_http(runs, args)
        service_rps = per_round(_rates(runs), NAMES["service"], NAMES["raw"])[0]
        print()
        print("in-process, no HTTP (ASGI calls, 10 concurrent callers), CPU ms per request:")
        for kind, value in ladder.items():
            print(f"  {NAMES[kind]:34} {value:6.3f}  ({value / ladder['raw']:.2f}x raw)")
    if instructions:
        print()
        print(f"callgrind, instructions per request ({args.requests} requests, gc {args.gc}):")
        print(f"  {'app':34} {'in-process':>12} {'HTTP server':>12}")
        for kind in KINDS:
            print(
                f"  {NAMES[kind]:34} {instructions[kind] / 1e6:9.3f} M {http[kind] / 1e6:9.3f} M"
                f"   ({instructions[kind] / instructions['raw']:.2f}x / "
                f"{http[kind] / http['raw']:.2f}x raw)"
            )
        instruments = instructions["service"] - instructions["orm-bare"]
        instruments_http = http["service"] - http["orm-bare"]
        print(
            f"  instruments (service - bare): {instruments / 1e6:.3f} M in-process, "
            f"{instruments_http / 1e6:.3f} M over HTTP (goal <= 0.1 M)"
        )
        ratio = http["service"] / http["raw"]
        print(f"  goal service <= 1.9x raw server instructions: {_met(ratio <= 1.9)}")
    print()
    print(f"service/raw req/s: {service_rps:.2f}" if service_rps else "service/raw req/s: n/a")
    if http:
        print(f"service/raw instructions: {http['service'] / http['raw']:.2f}")
    else:
        print("service/raw instructions: n/a (no valgrind, or --no-callgrind)")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _rates(runs: dict[str, list[Run]]) -> dict[str, list[float]]:
    return {name: [run.requests_per_s for run in values] for name, values in runs.items()}


def _print_http(runs: dict[str, list[Run]], args: argparse.Namespace) -> None:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(run, field) for run in runs[name])

    print(
        f"{args.users} locust users, {args.duration} s per run, {args.rounds} rounds, "
        "pool 10 (locust and PostgreSQL on the same CPUs)"
    )
    print(f"  {'app (medians)':34} {'req/s':>8} {'p95 ms':>7}   CPU ms per request:")
    print(f"  {'':34} {'':>8} {'':>7}   {'app':>6} {'locust':>7} {'postgres':>8}")
    for name in runs:
        print(
            f"  {name:34} {median(name, 'requests_per_s'):8.1f} {median(name, 'p95_ms'):7.0f}   "
            f"{median(name, 'app_ms'):6.3f} {median(name, 'locust_ms'):7.3f} "
            f"{median(name, 'postgres_ms'):8.3f}"
        )
    rates = _rates(runs)
    capacity = {name: [1.0 / run.app_ms for run in values] for name, values in runs.items()}
    service, service_text = per_round(rates, NAMES["service"], NAMES["raw"])
    best, best_text = per_round(rates, NAMES["orm-best"], NAMES["raw"])
    print("requests/s ratios (rounds interleave the apps, so each pair shares the machine):")
    print(f"  service / raw   (goal >= 0.55): {service_text} -> {_met(service >= 0.55)}")
    print(f"  best ORM / raw  (goal >= 0.59): {best_text} -> {_met(best >= 0.59)}")
    print(
        f"  bare service / raw:             {per_round(rates, NAMES['orm-bare'], NAMES['raw'])[1]}"
    )
    print(
        "  service / raw+metrics:          "
        + per_round(rates, NAMES["service"], NAMES["raw-metrics"])[1]
    )
    print(f"  selectin / lazy:                {per_round(rates, SELECTIN, LAZY)[1]}")
    print("app capacity ratios (inverse app CPU per request; the app alone as the bottleneck):")
    for kind in ("service", "orm-bare", "orm-best"):
        print(f"  {kind:8} / raw   {per_round(capacity, NAMES[kind], NAMES['raw'])[1]}")


if __name__ == "__main__":
    main()
