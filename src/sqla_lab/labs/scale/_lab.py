"""The ``scale`` lab: many app processes, PgBouncer and a read replica, measured.

The seed's service runs one process against one server. This lab builds what its users
grow into, from real parts started for the run (:mod:`._topology`): worker processes with
engines of their own (:mod:`._workers`), a primary with ``max_connections = 20``, PgBouncer
from the system's package in front of it, a streaming replica made with ``pg_basebackup``,
and the demo service under ``uvicorn --workers``. Each part lives in its own module:

* :mod:`._connections`: workers overrun ``max_connections``; PgBouncer absorbs the load;
* :mod:`._prepared`: asyncpg's prepared statements through transaction pooling, and fixes;
* :mod:`._app_pool`: QueuePool or NullPool behind PgBouncer;
* :mod:`._replica`: read-your-writes on the replica, and what ``remote_apply`` costs;
* :mod:`._service`: the demo service with 1 and 2 uvicorn workers, directly and pooled.

Without PgBouncer the findings that need it are ``skipped`` and say why; nothing is guessed.
"""

from __future__ import annotations

from sqla_lab.lab import LabContext, LabOutput, lab
from sqla_lab.lab.messages import N_
from sqla_lab.labs.scale._app_pool import app_pool
from sqla_lab.labs.scale._connections import QUICK_WORKER_COUNTS, WORKER_COUNTS, connection_limits
from sqla_lab.labs.scale._prepared import prepared_statements
from sqla_lab.labs.scale._replica import read_replica
from sqla_lab.labs.scale._service import service_workers
from sqla_lab.labs.scale._topology import ScaleOptions, running_topology
from sqla_lab.labs.scale._workers import WorkerPool

__all__ = [
    "LAB_TITLE",
    "PARTS",
    "scale_lab",
]

PARTS = (connection_limits, prepared_statements, app_pool, read_replica, service_workers)


#: The claim the lab tests, as ``sqla-lab list`` and the report title it.
LAB_TITLE = N_(
    "Many app processes overrun max_connections; PgBouncer and a replica help, with traps."
)


@lab("scale", title=LAB_TITLE)
async def scale_lab(ctx: LabContext) -> LabOutput:
    """Many app processes overrun max_connections; PgBouncer and a replica help, with traps.

    Worker processes exhaust a primary's 20 connection slots (SQLSTATE 53300) while
    PgBouncer's transaction pool serves the same load; asyncpg's prepared statements clash
    through that pool until one of the documented fixes is applied; NullPool behind PgBouncer
    has a price; a read routed to a streaming replica misses the write just made unless the
    write waits with ``remote_apply``; the demo service runs with 1 and 2 uvicorn workers.
    """
    options = ScaleOptions.from_settings(ctx.settings, server=ctx.workspace)
    size = max(QUICK_WORKER_COUNTS if ctx.quick else WORKER_COUNTS)
    # The workers import SQLAlchemy while the servers start.
    async with WorkerPool(size) as workers, running_topology(ctx, options) as topology:
        outputs = [await part(ctx, topology, workers) for part in PARTS]
    return LabOutput(
        findings=tuple(f for output in outputs for f in output.findings),
        tables=tuple(t for output in outputs for t in output.tables),
        charts=tuple(c for output in outputs for c in output.charts),
    )
