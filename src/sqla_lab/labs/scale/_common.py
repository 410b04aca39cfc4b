"""What the scale lab's findings share: their sources, a run's summary, skipped findings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqla_lab.lab import Finding, Table, Verdict, percentile
from sqla_lab.lab.messages import N_, Message, join
from sqla_lab.lab.results import Dependency
from sqla_lab.labs.scale._jobs import ErrorCount, Job, JobResult, merge_errors
from sqla_lab.labs.scale._topology import Topology
from sqla_lab.labs.scale._workers import WorkerPool

__all__ = [
    "ASYNCPG_FAQ",
    "PGBOUNCER_CONFIG",
    "PGBOUNCER_FEATURES",
    "PG_ERRCODES",
    "PG_HOT_STANDBY",
    "PG_MAX_CONNECTIONS",
    "PG_SYNCHRONOUS_COMMIT",
    "PG_SYNCHRONOUS_REPLICATION",
    "SQLA_PGBOUNCER",
    "SQLA_POOL_SWITCHING",
    "SQLA_PREPARED_CACHE",
    "SQLA_ROUTING",
    "UVICORN_DEPLOYMENT",
    "RunSummary",
    "error_text",
    "errors_table",
    "measured_run",
    "sentences",
    "skipped",
    "verdict_fields",
]

SQLA_PGBOUNCER = (
    "https://docs.sqlalchemy.org/en/20/dialects/postgresql.html"
    "#prepared-statement-name-with-pgbouncer"
)
SQLA_PREPARED_CACHE = (
    "https://docs.sqlalchemy.org/en/20/dialects/postgresql.html#prepared-statement-cache"
)
SQLA_POOL_SWITCHING = (
    "https://docs.sqlalchemy.org/en/20/core/pooling.html#switching-pool-implementations"
)
SQLA_ROUTING = (
    "https://docs.sqlalchemy.org/en/20/orm/persistence_techniques.html#custom-vertical-partitioning"
)
ASYNCPG_FAQ = "https://magicstack.github.io/asyncpg/current/faq.html"
PGBOUNCER_FEATURES = "https://www.pgbouncer.org/features.html"
PGBOUNCER_CONFIG = "https://www.pgbouncer.org/config.html#max_prepared_statements"
PG_MAX_CONNECTIONS = (
    "https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-MAX-CONNECTIONS"
)
PG_ERRCODES = "https://www.postgresql.org/docs/current/errcodes-appendix.html"
PG_HOT_STANDBY = "https://www.postgresql.org/docs/current/hot-standby.html"
PG_SYNCHRONOUS_COMMIT = (
    "https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-SYNCHRONOUS-COMMIT"
)
PG_SYNCHRONOUS_REPLICATION = (
    "https://www.postgresql.org/docs/current/warm-standby.html#SYNCHRONOUS-REPLICATION"
)
UVICORN_DEPLOYMENT = "https://www.uvicorn.org/deployment/"


def verdict_fields(
    verdict: Verdict,
    why: Message | str,
    *,
    settle: str = N_("a full run (sqla-lab run scale), with more rounds"),
    depends_on: tuple[str, str] = ("state", N_("the server's other connections")),
) -> dict[str, Any]:
    """The verdict and, as the framework requires, what backs a ``depends`` or an
    ``inconclusive`` one: ``why`` (computed from the run) as the reason or the dependency's
    detail, and what would settle an inconclusive verdict."""
    fields: dict[str, Any] = {"verdict": verdict}
    if verdict is Verdict.INCONCLUSIVE:
        fields.update(reason=why, settle=Message(settle))
    elif verdict is Verdict.DEPENDS:
        on, name = depends_on
        fields["depends_on"] = (Dependency(on=on, name=name, detail=why),)
    return fields


def skipped(
    *, key: str, claim: str, source: str, reason: Message | str, headline: str | None = None
) -> Finding:
    """A finding that could not be measured here; ``reason`` says why, nothing is guessed."""
    return Finding(
        key=key,
        claim=claim,
        headline=headline,
        source=source,
        measurements=(),
        verdict=Verdict.SKIPPED,
        explanation=reason if isinstance(reason, Message) else Message(reason),
    )


def sentences(parts: Sequence[Message]) -> Message:
    """Clauses as one paragraph: the first (a clause without a capital or a full stop) closed
    with a full stop, each of the others already a sentence of its own."""
    if not parts:
        return Message("")
    first = Message(_SENTENCE, {"clause": parts[0]})
    return join([first, *parts[1:]])


_SENTENCE = N_("{clause}.")


def error_text(errors: Sequence[ErrorCount]) -> str:
    """``Error (driver, SQLSTATE) ×N; ...`` for a table cell; empty when there were none."""
    return "; ".join(f"{e.label()} ×{e.count}" for e in errors)


def errors_table(
    key: str, title: Message | str, runs: Iterable[tuple[Message | str, RunSummary | None]]
) -> Table:
    """Every failure of every run (``(label, run)`` pairs), one row per kind: the exact
    classes and SQLSTATE, as JSON."""
    return Table(
        key=key,
        title=title,
        columns=(
            N_("run"),
            N_("error"),
            N_("driver_error"),
            N_("sqlstate"),
            N_("count"),
            N_("message"),
        ),
        rows=tuple(
            (name, e.error, e.driver_error, e.sqlstate, e.count, e.message)
            for name, run in runs
            if run is not None
            for e in run.errors
        ),
    )


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """Every worker's result of one run, added up.

    Attributes:
        workers: how many worker processes ran.
        requests: successful requests.
        errors: failed requests by kind.
        requests_per_s: successful requests per second, all workers together.
        latencies_ms: every successful request's time.
        connections_opened: connections the workers' pools opened.
        first_error_after: successful requests of a worker before its first failure, the
            earliest over all workers.
        server_peak: the most client backends on the lab's primary during the run (``None``
            when the run did not end on the lab's primary).
        leftover: client backends that were still there when the run began.
    """

    workers: int
    requests: int
    errors: tuple[ErrorCount, ...]
    requests_per_s: float
    latencies_ms: tuple[float, ...]
    connections_opened: int
    first_error_after: int | None
    server_peak: int | None
    leftover: int | None

    @property
    def failures(self) -> int:
        """Failed requests."""
        return sum(e.count for e in self.errors)

    def latency(self, pct: float) -> float | None:
        """A latency percentile in ms, or ``None`` without successful requests."""
        return percentile(self.latencies_ms, pct) if self.latencies_ms else None

    @classmethod
    def of(
        cls,
        results: Sequence[JobResult],
        *,
        server_peak: int | None = None,
        leftover: int | None = None,
    ) -> RunSummary:
        """Add up ``results``."""
        firsts = [r.first_error_after for r in results if r.first_error_after is not None]
        return cls(
            workers=len(results),
            requests=sum(r.requests for r in results),
            errors=merge_errors(r.errors for r in results),
            requests_per_s=sum(r.requests / r.elapsed_s for r in results if r.elapsed_s > 0),
            latencies_ms=tuple(v for r in results for v in r.latencies_ms),
            connections_opened=sum(r.connections_opened for r in results),
            first_error_after=min(firsts) if firsts else None,
            server_peak=server_peak,
            leftover=leftover,
        )


async def measured_run(
    topology: Topology, workers: WorkerPool, jobs: Sequence[Job], *, on_primary: bool
) -> RunSummary:
    """Run ``jobs`` on fresh server connections, counting the primary's peak if it is ours.

    Args:
        on_primary: the jobs' connections end on the lab's primary (directly or through the
            lab's PgBouncer), so counting its client backends means something.
    """
    if not on_primary:
        return RunSummary.of(await workers.run(jobs))
    leftover = await topology.connections.settle()
    async with topology.connections.peak() as peak:
        results = await workers.run(jobs)
    return RunSummary.of(results, server_peak=peak.value, leftover=leftover)
