"""Load runs: locust headless in a child process, its CSV read back into frozen results.

Why a child process: importing locust monkey-patches the interpreter with gevent, which
breaks asyncio (and SQLAlchemy's async engine) in the same process. So sqla-lab never
imports locust; it runs ``python -m locust -f <the packaged locustfile.py> --headless`` and
parses the ``*_stats.csv`` file locust writes. Locust's own HTML report lands next to it.

Results are frozen dataclasses (:class:`LoadRun`, :class:`EndpointStats`) and turn into a
:class:`~sqla_lab.lab.results.LabResult` named ``service`` (tables and charts of throughput and
latency, by endpoint and by pool size) that the terminal, JSON and HTML reports render.
"""

from __future__ import annotations

import csv
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqla_lab._process import set_parent_death_signal
from sqla_lab.errors import ConfigurationError, SqlaLabError
from sqla_lab.lab.messages import N_, Message
from sqla_lab.lab.results import Chart, Environment, LabResult, Table

__all__ = [
    "AGGREGATED",
    "ENDPOINT_COLUMNS",
    "LOCUSTFILE",
    "SCENARIOS",
    "SWEEP_COLUMNS",
    "AllRequestsFailed",
    "EndpointStats",
    "LoadError",
    "LoadRun",
    "LoadSpec",
    "ProgressCallback",
    "check_loopback",
    "endpoints_table",
    "read_stats_csv",
    "run_locust",
    "sweep_result",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SCENARIOS = ("mixed", "user", "users-selectin", "users-lazy", "users-joined")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Locust's name for the row summing every endpoint.
AGGREGATED = "Aggregated"


class LoadError(SqlaLabError):
    """Locust could not run or produced no statistics."""


class AllRequestsFailed(LoadError):
    """Locust ran, and every request it sent failed: the target is not serving.

    Attributes:
        run: the run, whose reports locust wrote all the same.
    """

    def __init__(self, run: LoadRun) -> None:
        failures = run.total.failures
        super().__init__(
            f"all {failures:,} requests to {run.url} failed; see {run.html_report} "
            f"and {run.csv_prefix}_failures.csv"
        )
        self.run = run


@dataclass(frozen=True, kw_only=True)
class LoadSpec:
    """What load to send: locust users, how fast they arrive, for how long, doing what."""

    users: int = 20
    spawn_rate: float = 20.0
    duration_s: int = 15
    scenario: str = "mixed"
    max_user_id: int = 1000
    page_size: int = 20

    def __post_init__(self) -> None:
        if self.users < 1 or self.spawn_rate <= 0 or self.duration_s < 1:
            raise ConfigurationError(
                N_("load needs users >= 1, spawn rate > 0 and duration >= 1 s")
            )
        if self.scenario not in SCENARIOS:
            raise ConfigurationError(
                N_("unknown scenario {scenario!r}; choose one of {names}"),
                scenario=self.scenario,
                names=", ".join(SCENARIOS),
            )


@dataclass(frozen=True, kw_only=True)
class EndpointStats:
    """One row of locust's ``*_stats.csv``: an endpoint, or the aggregate of all."""

    name: str
    requests: int
    failures: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True, kw_only=True)
class LoadRun:
    """One locust run: its statistics and where locust wrote its files."""

    url: str
    spec: LoadSpec
    endpoints: tuple[EndpointStats, ...]
    total: EndpointStats
    wall_s: float
    csv_prefix: Path
    html_report: Path


def check_loopback(url: str) -> str:
    """Accept only ``http://`` URLs on this machine: load is never sent anywhere else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in _LOOPBACK_HOSTS:
        raise ConfigurationError(
            N_("--url must be an http URL on this machine (127.0.0.1/localhost), not {url!r}"),
            url=url,
        )
    return url.rstrip("/")


def _number(row: dict[str, str], column: str) -> float:
    value = row.get(column, "") or "0"
    return 0.0 if value == "N/A" else float(value)


def read_stats_csv(path: Path) -> tuple[tuple[EndpointStats, ...], EndpointStats]:
    """Parse locust's ``*_stats.csv`` into per-endpoint rows and the aggregate row."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise LoadError(f"locust wrote no statistics ({path} is missing)") from None
    parsed = [
        EndpointStats(
            name=row["Name"] if row["Name"] == AGGREGATED else f"{row['Type']} {row['Name']}",
            requests=int(_number(row, "Request Count")),
            failures=int(_number(row, "Failure Count")),
            requests_per_s=_number(row, "Requests/s"),
            p50_ms=_number(row, "50%"),
            p95_ms=_number(row, "95%"),
            p99_ms=_number(row, "99%"),
            max_ms=_number(row, "Max Response Time"),
        )
        for row in rows
    ]
    totals = [p for p in parsed if p.name == AGGREGATED]
    if not totals:
        raise LoadError(f"{path} has no {AGGREGATED} row")
    # locust's names are "GET GET /users/{id}": the task names already carry the method.
    endpoints = tuple(
        EndpointStats(**{**vars(p), "name": p.name.split(" ", 1)[1]})
        for p in parsed
        if p.name != AGGREGATED
    )
    return endpoints, totals[0]


def _live_rate(history: Path) -> tuple[float, int] | None:
    """Current requests/s and total failures from the last line of ``*_stats_history.csv``."""
    try:
        with history.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("Name") == AGGREGATED]
    except (FileNotFoundError, csv.Error):
        return None
    if not rows:
        return None
    last = rows[-1]
    return _number(last, "Requests/s"), int(_number(last, "Total Failure Count"))


#: Called about once a second with (elapsed s, requests/s now, failures so far).
ProgressCallback = Callable[[float, float, int], None]


def run_locust(
    url: str,
    spec: LoadSpec,
    out_dir: Path,
    *,
    label: str = "load",
    on_progress: ProgressCallback | None = None,
) -> LoadRun:
    """Run locust headless against ``url`` for ``spec.duration_s`` and read its statistics.

    Args:
        url: the service, on this machine.
        spec: the load.
        out_dir: where ``<label>_stats.csv`` (and the other CSV files) and ``<label>.html`` go.
        label: file name prefix, so several runs can share ``out_dir``.
        on_progress: live progress, read from locust's stats history while it runs.

    Raises:
        LoadError: locust failed, or sent no request.
        AllRequestsFailed: every request failed (locust's reports are written all the same).
    """
    url = check_loopback(url)
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / label
    html = out_dir / f"{label}.html"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        url,
        "--users",
        str(spec.users),
        "--spawn-rate",
        str(spec.spawn_rate),
        "--run-time",
        f"{spec.duration_s}s",
        "--stop-timeout",
        "5",
        "--csv",
        str(prefix),
        "--html",
        str(html),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {
        **os.environ,
        "SQLA_LAB_LOAD_SCENARIO": spec.scenario,
        "SQLA_LAB_LOAD_MAX_USER_ID": str(spec.max_user_id),
        "SQLA_LAB_LOAD_PAGE_SIZE": str(spec.page_size),
    }
    log_path = out_dir / f"{label}.log"
    html.unlink(missing_ok=True)
    started = time.perf_counter()
    # Bounded: locust stops itself after duration_s; we give it generous slack, then kill it.
    deadline = started + spec.duration_s + 60
    with log_path.open("wb") as log:
        # If we are killed (even with SIGKILL), Linux kills locust too: it must not keep
        # loading the target until its --run-time is over. SIGKILL, not a polite signal:
        # locust answers SIGINT/SIGTERM with a graceful stop (--stop-timeout, then its
        # reports), which nobody is left to read, and which took over 15 s on a busy machine.
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=functools.partial(set_parent_death_signal, signal.SIGKILL),
        )
        try:
            while process.poll() is None:
                if time.perf_counter() > deadline:
                    raise LoadError(f"locust did not stop in time; see {log_path}")
                if on_progress is not None:
                    live = _live_rate(Path(f"{prefix}_stats_history.csv"))
                    if live is not None:
                        on_progress(time.perf_counter() - started, *live)
                time.sleep(0.5)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    wall_s = time.perf_counter() - started
    # Locust exits 1 when any request failed: that is a result, not an error. 2+ is an error.
    if process.returncode not in (0, 1):
        raise LoadError(f"locust exited with code {process.returncode}; see {log_path}")
    if not html.exists():
        raise LoadError(f"locust failed before writing its report; see {log_path}")
    endpoints, total = read_stats_csv(Path(f"{prefix}_stats.csv"))
    if total.requests == 0:
        raise LoadError(f"locust sent no requests to {url}; see {log_path}")
    run = LoadRun(
        url=url,
        spec=spec,
        endpoints=endpoints,
        total=total,
        wall_s=wall_s,
        csv_prefix=prefix,
        html_report=html,
    )
    if total.failures >= total.requests:
        raise AllRequestsFailed(run)
    return run


ENDPOINT_COLUMNS = (
    N_("endpoint"),
    N_("requests"),
    N_("failures"),
    N_("requests_per_s"),
    N_("p50_ms"),
    N_("p95_ms"),
    N_("p99_ms"),
)
SWEEP_COLUMNS = (
    N_("pool_size"),
    N_("requests"),
    N_("requests_per_s"),
    N_("p50_ms"),
    N_("p95_ms"),
    N_("p99_ms"),
    N_("failures"),
)


def _endpoint_row(stats: EndpointStats) -> tuple[str | int | float, ...]:
    return (
        stats.name,
        stats.requests,
        stats.failures,
        round(stats.requests_per_s, 2),
        stats.p50_ms,
        stats.p95_ms,
        stats.p99_ms,
    )


_ENDPOINTS_TITLE = N_("{users} locust users, {seconds} s, scenario {scenario}")
_ENDPOINTS_POOL_TITLE = N_(
    "{users} locust users, {seconds} s, scenario {scenario}, pool_size {pool}"
)


def endpoints_table(
    run: LoadRun, *, key: str = "service.endpoints", pool_size: int | None = None
) -> Table:
    """Per-endpoint statistics of one run, the aggregate last."""
    spec = run.spec
    values = {"users": spec.users, "seconds": spec.duration_s, "scenario": str(spec.scenario)}
    title = (
        Message(_ENDPOINTS_POOL_TITLE, {**values, "pool": pool_size})
        if pool_size is not None
        else Message(_ENDPOINTS_TITLE, values)
    )
    return Table(
        key=key,
        title=title,
        columns=ENDPOINT_COLUMNS,
        rows=tuple(_endpoint_row(s) for s in (*run.endpoints, run.total)),
    )


def sweep_result(
    runs: Sequence[tuple[int | None, LoadRun]],
    *,
    environment: Environment,
    duration_s: float,
) -> LabResult:
    """The ``service`` :class:`LabResult` of one run (pool size ``None``) or a pool sweep."""
    tables = [
        endpoints_table(run, key=f"service.endpoints.pool-{size}", pool_size=size)
        for size, run in runs
    ]
    charts: list[Chart] = []
    sized = [(size, run) for size, run in runs if size is not None]
    if sized:
        tables.insert(
            0,
            Table(
                key="service.pool_sweep",
                title=N_("Throughput and latency against pool size"),
                columns=SWEEP_COLUMNS,
                rows=tuple(
                    (
                        size,
                        run.total.requests,
                        round(run.total.requests_per_s, 2),
                        run.total.p50_ms,
                        run.total.p95_ms,
                        run.total.p99_ms,
                        run.total.failures,
                    )
                    for size, run in sized
                ),
            ),
        )
        charts = [
            Chart(
                key="service.pool_sweep.throughput",
                title=N_("Requests/s against pool size"),
                kind="line",
                table="service.pool_sweep",
                x="pool_size",
                y=("requests_per_s",),
                x_label=N_("pool_size"),
                y_label=N_("requests/s"),
            ),
            Chart(
                key="service.pool_sweep.latency",
                title=N_("Latency against pool size"),
                kind="line",
                table="service.pool_sweep",
                x="pool_size",
                y=("p50_ms", "p95_ms"),
                x_label=N_("pool_size"),
                y_label=N_("ms"),
            ),
        ]
    if len(runs) == 1 and runs[0][0] is None:
        tables = [endpoints_table(runs[0][1])]
    return LabResult(
        lab="service",
        title=N_("Demo service under locust load"),
        findings=(),
        environment=environment,
        duration_s=duration_s,
        tables=tuple(tables),
        charts=tuple(charts),
    )
