"""Findings 8 and 9: the demo service with 1 and 2 uvicorn workers, directly and via PgBouncer.

The demo service (:mod:`sqla_lab.service`, used only through its app factory) runs on the
lab's primary, seeded with a few hundred users, each uvicorn worker with a pool of 5
(``max_overflow`` 0). A worker process of the lab sends ``GET /users/{id}`` from 16
concurrent tasks; the run counts requests per second, non-200 answers and the server's
client backends at peak. Through PgBouncer the service connects to the transaction pool
with asyncpg's ``statement_cache_size=0`` (finding 3's fix).

The four services start together (starting one costs seconds of imports) and are loaded
one at a time. Each logs in as a role of its own, as separate applications would, and
PgBouncer keeps a pool per role: so the connections of the one under load are counted
apart from the others' idle ones.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
from dataclasses import dataclass

from sqla_lab.database import Database
from sqla_lab.demo.seeding import seed
from sqla_lab.lab import LabContext, LabOutput
from sqla_lab.lab.messages import N_, Message, Quantity, join
from sqla_lab.lab.results import Cell, Chart, Finding, Measurement, Table, Verdict
from sqla_lab.labs.scale import _messages as text
from sqla_lab.labs.scale._common import (
    PGBOUNCER_FEATURES,
    UVICORN_DEPLOYMENT,
    RunSummary,
    error_text,
    errors_table,
    sentences,
    skipped,
    verdict_fields,
)
from sqla_lab.labs.scale._jobs import Job
from sqla_lab.labs.scale._pgbouncer import NOT_FOUND
from sqla_lab.labs.scale._topology import TXN_POOL, Topology
from sqla_lab.labs.scale._uvicorn import UvicornService
from sqla_lab.labs.scale._workers import WorkerPool

__all__ = [
    "GAIN",
    "LOAD_CONCURRENCY",
    "NO_GAIN",
    "PGBOUNCER_CLAIM",
    "PGBOUNCER_HEADLINE",
    "SEED_USERS",
    "SERVICE_MODULES",
    "SERVICE_POOL",
    "STAGGER_MS",
    "WORKERS_CLAIM",
    "WORKERS_HEADLINE",
    "WORKERS_RATIO",
    "WORKER_COUNTS",
    "judge_service_pgbouncer",
    "judge_service_workers",
    "service_workers",
]

SERVICE_POOL = 5
SEED_USERS = 300
LOAD_CONCURRENCY = 16
#: The load's connections open 20 ms apart, so both uvicorn workers get some.
STAGGER_MS = 20.0
WORKER_COUNTS = (1, 2)
#: A second worker adding at least this much throughput is a gain; under NO_GAIN, none.
GAIN, NO_GAIN = 1.3, 1.05
WORKERS_RATIO = N_("2 workers / 1 worker")
WORKERS_HEADLINE = N_("a second uvicorn worker raises throughput")
PGBOUNCER_HEADLINE = N_("PgBouncer caps the service's connections")

#: What the demo service (and the load on it) needs: the [service] extra.
SERVICE_MODULES = ("fastapi", "uvicorn", "httpx")
WORKERS_CLAIM = N_(
    "A second uvicorn worker process raises the demo service's throughput: each worker "
    "has its own event loop and pool."
)
PGBOUNCER_CLAIM = N_(
    "Through PgBouncer in transaction mode the service's server connections stay at "
    "PgBouncer's pool size however many workers run; directly they grow with the workers."
)


@dataclass(frozen=True)
class _Config:
    route: str
    workers: int

    @property
    def role(self) -> str:
        return (
            f"sqla_lab_service_{'pgbouncer' if self.route != 'direct' else 'direct'}_{self.workers}"
        )


async def _create_roles(topology: Topology, configs: list[_Config]) -> dict[str, str]:
    """One login role per service, reading every table, with a random password."""
    passwords = {config.role: secrets.token_urlsafe(18) for config in configs}
    async with Database(topology.primary.url) as database, database.engine.begin() as conn:
        for role, password in passwords.items():
            # Identifiers and passwords are ours (no user input); DDL takes no parameters.
            await conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            await conn.exec_driver_sql(f"GRANT pg_read_all_data TO {role}")
    return passwords


def _service(topology: Topology, config: _Config, password: str) -> UvicornService:
    if config.route == "direct":
        url, cache = topology.primary.url.set(username=config.role, password=password), None
    else:
        assert topology.bouncer is not None
        topology.bouncer.add_user(config.role, password)
        url, cache = topology.bouncer.url(TXN_POOL.name, user=config.role), 0
    return UvicornService(
        url.render_as_string(hide_password=False),
        workers=config.workers,
        pool_size=SERVICE_POOL,
        statement_cache_size=cache,
    )


async def service_workers(ctx: LabContext, topology: Topology, workers: WorkerPool) -> LabOutput:
    """Load the service in each configuration; judge both claims."""
    missing = [m for m in SERVICE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        reason = Message(text.SERVICE_NEEDS, {"modules": ", ".join(missing)})
        return LabOutput(
            findings=(
                skipped(
                    key="scale.service-workers",
                    headline=WORKERS_HEADLINE,
                    claim=WORKERS_CLAIM,
                    source=UVICORN_DEPLOYMENT,
                    reason=reason,
                ),
                skipped(
                    key="scale.service-through-pgbouncer",
                    headline=PGBOUNCER_HEADLINE,
                    claim=PGBOUNCER_CLAIM,
                    source=f"{PGBOUNCER_FEATURES}; {UVICORN_DEPLOYMENT}",
                    reason=reason,
                ),
            )
        )
    duration_s = 1.0 if ctx.quick else 5.0
    routes = ["direct"] + (["PgBouncer"] if topology.bouncer is not None else [])
    configs = [_Config(route, count) for route in routes for count in WORKER_COUNTS]
    ctx.progress.start(N_("scale: the demo service with 1 and 2 uvicorn workers"), 2 + len(configs))
    async with Database(topology.primary.url) as database:
        await seed(database.engine, users=SEED_USERS, posts_per_user=3)
    passwords = await _create_roles(topology, configs)
    services = {config: _service(topology, config, passwords[config.role]) for config in configs}
    runs: dict[tuple[str, int], RunSummary] = {}
    try:
        # All start at once; each logs in as its own role, so while one is measured the
        # others' idle connections are not counted.
        async with asyncio.TaskGroup() as group:
            for service in services.values():
                group.create_task(service.start())
        ctx.progress.advance()
        for config, service in services.items():
            job = Job(
                kind="http",
                url=service.url,
                concurrency=LOAD_CONCURRENCY,
                duration_s=duration_s,
                max_user_id=SEED_USERS,
                stagger_ms=STAGGER_MS,
            )
            async with topology.connections.peak(config.role) as peak:
                result = await workers.run([job])
            service.stop()
            runs[(config.route, config.workers)] = RunSummary.of(result, server_peak=peak.value)
            ctx.progress.advance()
    finally:
        for service in services.values():
            service.stop()
    rows: list[tuple[Cell, ...]] = [
        (
            route,
            count,
            run.requests,
            run.failures,
            round(run.requests_per_s, 1),
            run.latency(50),
            run.latency(95),
            run.server_peak,
            error_text(run.errors),
        )
        for (route, count), run in runs.items()
    ]
    table = Table(
        key="scale.service",
        title=Message(
            text.SERVICE_TITLE,
            {"pool": SERVICE_POOL, "concurrency": LOAD_CONCURRENCY, "cpus": os.cpu_count()},
        ),
        columns=(
            N_("route"),
            N_("uvicorn_workers"),
            N_("requests"),
            N_("errors"),
            N_("requests_per_s"),
            N_("p50_ms"),
            N_("p95_ms"),
            N_("server_connections"),
            N_("error_kinds"),
        ),
        rows=tuple(rows),
    )
    charts = (
        Chart(
            key="scale.service.throughput",
            title=N_("Demo service requests/s by uvicorn workers"),
            kind="bar",
            table=table.key,
            x="uvicorn_workers",
            y=("requests_per_s",),
            series="route",
            y_label=N_("requests/s"),
        ),
        Chart(
            key="scale.service.connections",
            title=N_("Server connections at peak by uvicorn workers"),
            kind="bar",
            table=table.key,
            x="uvicorn_workers",
            y=("server_connections",),
            series="route",
            y_label=N_("client backends on the server"),
        ),
    )
    pgbouncer = (
        judge_service_pgbouncer(runs)
        if topology.bouncer is not None
        else skipped(
            key="scale.service-through-pgbouncer",
            headline=PGBOUNCER_HEADLINE,
            claim=PGBOUNCER_CLAIM,
            source=PGBOUNCER_FEATURES,
            reason=NOT_FOUND,
        )
    )
    return LabOutput(
        findings=(judge_service_workers(runs), pgbouncer),
        tables=(
            table,
            errors_table(
                "scale.service.errors",
                N_("Failed service requests, by kind"),
                [
                    (Message(text.WORKERS_RUN, {"route": route, "count": count}), run)
                    for (route, count), run in runs.items()
                ],
            ),
        ),
        charts=charts,
    )


def judge_service_workers(runs: dict[tuple[str, int], RunSummary]) -> Finding:
    """Throughput of 2 workers over 1, directly."""
    one, two = runs[("direct", 1)], runs[("direct", 2)]
    cpus = os.cpu_count() or 1
    measurements = [
        Measurement.single(N_("requests/s, 1 worker"), one.requests_per_s, "req/s"),
        Measurement.single(N_("requests/s, 2 workers"), two.requests_per_s, "req/s"),
        Measurement.single(N_("server connections at peak, 1 worker"), one.server_peak or 0, ""),
        Measurement.single(N_("server connections at peak, 2 workers"), two.server_peak or 0, ""),
        Measurement.single(N_("failed requests"), one.failures + two.failures, ""),
        Measurement.single(N_("CPUs"), cpus, ""),
    ]
    if one.failures or two.failures or not one.requests_per_s:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.SERVICE_FAILED, {"errors": error_text((*one.errors, *two.errors))})
    else:
        ratio = two.requests_per_s / one.requests_per_s
        measurements.insert(2, Measurement.single(WORKERS_RATIO, ratio, "x"))
        if ratio >= GAIN:
            verdict, how = Verdict.CONFIRMED, text.SERVICE_GAIN
        elif ratio <= NO_GAIN:
            verdict, how = Verdict.REFUTED, text.SERVICE_NO_GAIN
        else:
            verdict, how = Verdict.DEPENDS, text.SERVICE_SMALL_GAIN
        why = Message(how, {"ratio": Quantity(ratio, "x")})
    return Finding(
        key="scale.service-workers",
        headline=WORKERS_HEADLINE,
        deciding=WORKERS_RATIO if any(m.name == WORKERS_RATIO for m in measurements) else None,
        claim=WORKERS_CLAIM,
        source=UVICORN_DEPLOYMENT,
        measurements=tuple(measurements),
        **verdict_fields(
            verdict,
            why,
            settle=N_("a longer run without failed requests (the full run)"),
            depends_on=("machine", N_("CPUs shared by the workers, PostgreSQL and the load")),
        ),
        explanation=sentences([why, Message(text.SERVICE_CPUS, {"cpus": cpus})]),
    )


def judge_service_pgbouncer(runs: dict[tuple[str, int], RunSummary]) -> Finding:
    """Server connections through PgBouncer against directly, and what it costs."""
    direct = {count: runs[("direct", count)] for count in WORKER_COUNTS}
    pooled = {count: runs[("PgBouncer", count)] for count in WORKER_COUNTS}
    most = max(WORKER_COUNTS)
    pooled_peak = max(run.server_peak or 0 for run in pooled.values())
    direct_peak = direct[most].server_peak or 0
    failures = sum(run.failures for run in pooled.values())
    measurements = [
        Measurement.single(
            Message(N_("server connections at peak, direct, {count} workers"), {"count": c}),
            direct[c].server_peak or 0,
            "",
        )
        for c in WORKER_COUNTS
    ]
    measurements += [
        Measurement.single(
            Message(N_("server connections at peak, PgBouncer, {count} workers"), {"count": c}),
            pooled[c].server_peak or 0,
            "",
        )
        for c in WORKER_COUNTS
    ]
    ratios = {
        c: pooled[c].requests_per_s / direct[c].requests_per_s
        for c in WORKER_COUNTS
        if direct[c].requests_per_s
    }
    measurements += [
        Measurement.single(
            Message(N_("requests/s through PgBouncer / direct, {count} workers"), {"count": c}),
            r,
            "x",
        )
        for c, r in ratios.items()
    ]
    measurements.append(Measurement.single(N_("failed requests through PgBouncer"), failures, ""))
    if failures:
        verdict = Verdict.REFUTED
        why = Message(text.SERVICE_PGBOUNCER_FAILED, {"failures": failures})
    elif pooled_peak > TXN_POOL.pool_size:
        verdict = Verdict.REFUTED
        why = Message(
            text.SERVICE_PGBOUNCER_OVER_POOL, {"peak": pooled_peak, "pool": TXN_POOL.pool_size}
        )
    elif direct_peak <= TXN_POOL.pool_size:
        verdict = Verdict.INCONCLUSIVE
        why = Message(text.SERVICE_PGBOUNCER_WITHIN, {"peak": direct_peak})
    else:
        verdict = Verdict.CONFIRMED
        why = Message(
            text.SERVICE_PGBOUNCER_CONFIRMED,
            {
                "workers": most,
                "direct": direct_peak,
                "pooled": pooled_peak,
                "pool": TXN_POOL.pool_size,
            },
        )
    cost = join(
        [
            Message(text.SERVICE_PGBOUNCER_COST_ITEM, {"ratio": Quantity(r, "x"), "count": c})
            for c, r in ratios.items()
        ],
        ", ",
    )
    return Finding(
        key="scale.service-through-pgbouncer",
        headline=PGBOUNCER_HEADLINE,
        claim=PGBOUNCER_CLAIM,
        source=f"{PGBOUNCER_FEATURES}; {UVICORN_DEPLOYMENT}",
        measurements=tuple(measurements),
        **verdict_fields(
            verdict,
            why,
            settle=N_("more load than the direct service's own pool needs"),
            depends_on=("machine", N_("CPUs")),
        ),
        explanation=sentences([why, Message(text.SERVICE_PGBOUNCER_COST, {"costs": cost})]),
    )
