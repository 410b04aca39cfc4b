"""Every sentence the ``scale`` lab writes, as message templates (one place to translate).

Each template is filled with values from the run (:class:`~sqla_lab.lab.messages.Message`);
where an outcome can go either way there is one template per outcome, and the lab picks the
one it measured.
"""

from __future__ import annotations

from sqla_lab.lab.messages import N_

__all__ = [
    "APP_POOL_BETWEEN",
    "APP_POOL_CHEAP",
    "APP_POOL_DEAR",
    "APP_POOL_FAILED",
    "APP_POOL_MORE_SERVER",
    "APP_POOL_SERVER",
    "APP_POOL_SERVER_UNCOUNTED",
    "APP_POOL_TITLE",
    "CLASH_DEFAULTS_FAILED",
    "CLASH_MISSING",
    "CLASH_NONE",
    "CLASH_OTHER_FAILURES",
    "CLASH_TAKEN",
    "CONNECTIONS_TITLE",
    "DIRECT_RUN",
    "FIXES_ALL_CLEAN",
    "FIXES_COSTS",
    "FIXES_COST_ITEM",
    "FIXES_HALF",
    "FIXES_HALF_WORKS",
    "FIXES_MISSING",
    "FIXES_NONE_CLEAN",
    "FIXES_NOTHING_MEASURED",
    "FIXES_NO_CLASH",
    "FIXES_SOME_CLEAN",
    "MAX_CONNECTIONS_DEPENDS",
    "MAX_CONNECTIONS_EXACT",
    "MAX_CONNECTIONS_NONE",
    "MAX_CONNECTIONS_SAID",
    "MAX_CONNECTIONS_STOPPED",
    "PGBOUNCER_CONFIRMED",
    "PGBOUNCER_DIRECT_FINE",
    "PGBOUNCER_FAILED",
    "PGBOUNCER_OVER_POOL",
    "PGBOUNCER_RUN",
    "PGBOUNCER_THROUGHPUT",
    "PREPARED_TITLE",
    "REMOTE_APPLY_COST",
    "REMOTE_APPLY_NOISE",
    "REMOTE_APPLY_NO_STANDBY",
    "REMOTE_APPLY_ON",
    "REMOTE_APPLY_SHARED",
    "REPLICA_CONFIRMED",
    "REPLICA_FLUSHED_MISSES",
    "REPLICA_FLUSHED_NONE",
    "REPLICA_LAG",
    "REPLICA_NOT_SHOWN",
    "REPLICA_NO_STANDBY",
    "REPLICA_OWN",
    "REPLICA_REFUTED",
    "REPLICA_TITLE",
    "REPLICA_USERS",
    "REPLICA_WRITER_ERRORS",
    "SERVICE_CPUS",
    "SERVICE_FAILED",
    "SERVICE_GAIN",
    "SERVICE_NEEDS",
    "SERVICE_NO_GAIN",
    "SERVICE_PGBOUNCER_CONFIRMED",
    "SERVICE_PGBOUNCER_COST",
    "SERVICE_PGBOUNCER_COST_ITEM",
    "SERVICE_PGBOUNCER_FAILED",
    "SERVICE_PGBOUNCER_OVER_POOL",
    "SERVICE_PGBOUNCER_WITHIN",
    "SERVICE_SMALL_GAIN",
    "SERVICE_TITLE",
    "SETTLE_FULL_RUN",
    "SKIPPED_NO_PGBOUNCER",
    "WORKERS_RUN",
]

# -- shared --------------------------------------------------------------------------------
SETTLE_FULL_RUN = N_("a full run (sqla-lab run scale), with more rounds")
SKIPPED_NO_PGBOUNCER = N_("skipped: pgbouncer not found (apt-get install pgbouncer)")
DIRECT_RUN = N_("direct, {count} workers")
PGBOUNCER_RUN = N_("PgBouncer, {count} workers")
WORKERS_RUN = N_("{route}, {count} workers")

# -- max_connections and PgBouncer ---------------------------------------------------------
CONNECTIONS_TITLE = N_(
    "Workers of {per_worker} connections each ({tasks} tasks, {hold} ms queries) against "
    "max_connections = {max_connections}, directly and through PgBouncer's transaction pool of "
    "{pool}"
)
MAX_CONNECTIONS_STOPPED = N_(
    "the sweep stopped at {largest} workers, before the predicted {predicted}"
)
MAX_CONNECTIONS_EXACT = N_(
    "refusals began at exactly {observed} workers ({connections} app connections for {free} "
    "free slots)"
)
MAX_CONNECTIONS_NONE = N_("no connection was refused even at {largest} workers")
MAX_CONNECTIONS_DEPENDS = N_(
    "failures began at {observed} workers, against {predicted} predicted, and {others} of them "
    "were not 'too many clients' refusals"
)
MAX_CONNECTIONS_SAID = N_(
    "The application saw {error} over {driver_error} (SQLSTATE {sqlstate}): {message!r}."
)
PGBOUNCER_FAILED = N_("{failures} requests failed through PgBouncer: {errors}")
PGBOUNCER_OVER_POOL = N_("the server saw {peak} connections, more than the pool of {pool}")
PGBOUNCER_DIRECT_FINE = N_("the direct run did not fail either, so the load never needed PgBouncer")
PGBOUNCER_CONFIRMED = N_(
    "at {largest} workers ({direct_failures} failures directly) every request succeeded "
    "through PgBouncer on at most {peak} server connections"
)
PGBOUNCER_THROUGHPUT = N_(
    "Throughput through the pool is {ratio} the direct run's at {largest} workers: {pool} "
    "server connections serve {tasks} client tasks in turn."
)

# -- prepared statements -------------------------------------------------------------------
PREPARED_TITLE = N_(
    "{workers} workers × {tasks} tasks through {bouncer}, each way of running the same SELECT"
)
CLASH_DEFAULTS_FAILED = N_("the defaults failed: {errors}")
CLASH_OTHER_FAILURES = N_("requests failed, but not with a prepared-statement error: {errors}")
CLASH_NONE = N_(
    "{requests} requests succeeded with the defaults: this pooler does not break prepared "
    "statements (session mode, or tracking them)"
)
CLASH_MISSING = N_(
    "'does not exist' (26000): a statement prepared on one server connection was executed on "
    "another, where it was never prepared."
)
CLASH_TAKEN = N_(
    "'already exists' (42P05): a server connection already held a statement of that name, "
    "left by another client; asyncpg numbers its statement names per process, so processes "
    "repeat each other's."
)
FIXES_NO_CLASH = N_("the defaults did not clash here, so no fix had anything to remove")
FIXES_NOTHING_MEASURED = N_("no documented fix could be measured here")
FIXES_ALL_CLEAN = N_("all {count} documented fixes measured ran without a failure")
FIXES_SOME_CLEAN = N_("{clean} of {measured} fixes ran clean; still failing: {failing}")
FIXES_NONE_CLEAN = N_("every documented fix still failed")
FIXES_HALF = N_("{variant} ({settings}): {failed} failed of {total}.")
FIXES_HALF_WORKS = N_(
    "asyncpg's setting is the half that works: with its statement cache off, asyncpg "
    "{version} prepares unnamed statements, re-parsed on each execution, which nothing on a "
    "shared server connection can collide with."
)
FIXES_MISSING = N_("{variant}: {why}.")
FIXES_COSTS = N_(
    "Request time against a direct connection's, error-free variants, cheapest first: {costs}."
)
FIXES_COST_ITEM = N_("{variant} {cost}")

# -- the application's pool behind PgBouncer -----------------------------------------------
APP_POOL_TITLE = N_(
    "{workers} workers × {tasks} tasks through {bouncer} (transaction pool), asyncpg "
    "statement_cache_size=0"
)
APP_POOL_FAILED = N_("requests failed, so the two pools cannot be compared")
APP_POOL_MORE_SERVER = N_("NullPool needed {null} server connections, QueuePool {queue}")
APP_POOL_CHEAP = N_("NullPool's median request took {ratio} QueuePool's")
APP_POOL_DEAR = N_(
    "NullPool's median request took {ratio} QueuePool's: every checkout opens and "
    "authenticates a new client connection ({null} against {queue})"
)
APP_POOL_BETWEEN = N_("NullPool's median request took {ratio} QueuePool's")
APP_POOL_SERVER = N_(
    "Server connections at peak: {queue} with QueuePool, {null} with NullPool (PgBouncer's pool "
    "holds {pool})."
)
APP_POOL_SERVER_UNCOUNTED = N_("Server connections are not counted behind your own PgBouncer.")

# -- the replica ---------------------------------------------------------------------------
REPLICA_TITLE = N_(
    "Write, commit, read at once from the replica (routing Session.get_bind), while {writers} "
    "worker processes wrote {rows_per_s} rows/s"
)
REPLICA_NO_STANDBY = N_(
    "the primary has no synchronous standby (synchronous_standby_names), so remote_apply waits "
    "for nothing and proves nothing"
)
REPLICA_REFUTED = N_("{misses} of {count} reads missed the write even with remote_apply")
REPLICA_NOT_SHOWN = N_(
    "none of {count} reads missed under asynchronous replication here, so the violation the "
    "claim warns about did not show"
)
REPLICA_FLUSHED_MISSES = N_("{misses} with 'on' (flushed on the standby, not yet replayed)")
REPLICA_FLUSHED_NONE = N_("none with 'on' in this run")
REPLICA_CONFIRMED = N_(
    "{misses} of {count} reads missed the row just committed with synchronous_commit=local, "
    "{flushed}, none of {applied} with remote_apply"
)
REPLICA_LAG = N_(
    "Under {rows_per_s} rows/s of writes a read from the replica first saw a row {p50} (p50), "
    "{p95} (p95) after its commit returned (the read's own round trip included)."
)
REPLICA_OWN = N_(
    "The lab's replica is its primary's synchronous standby, with commits defaulting to "
    "synchronous_commit=local, which is asynchronous replication."
)
REPLICA_USERS = N_("Your replica and primary (--replica-url, --database-url).")
REPLICA_WRITER_ERRORS = N_("Writer errors: {errors}.")
REMOTE_APPLY_NO_STANDBY = N_("there is no synchronous standby, so remote_apply waited for nothing")
REMOTE_APPLY_COST = N_("a remote_apply commit took {ratio} a local one (median)")
REMOTE_APPLY_NOISE = N_(
    "a remote_apply commit took {ratio} a local one (median): on this machine the standby's "
    "replay is within the noise of a commit"
)
REMOTE_APPLY_ON = N_("'on' took {ratio}.")
REMOTE_APPLY_SHARED = N_(
    "The lab's primary and replica share this machine: the network part of the wait is a "
    "loopback round trip, and grows with the distance between hosts."
)

# -- the demo service ----------------------------------------------------------------------
SERVICE_NEEDS = N_("skipped: the demo service needs {modules} (pip install 'sqla-lab[service]')")
SERVICE_TITLE = N_(
    "The demo service (pool_size {pool} per worker) under {concurrency} concurrent "
    "GET /users/{{id}}, on {cpus} CPUs shared with PostgreSQL, PgBouncer and the load"
)
SERVICE_FAILED = N_("requests failed: {errors}")
SERVICE_GAIN = N_("a second worker raised throughput: {ratio}")
SERVICE_NO_GAIN = N_("a second worker did not raise throughput: {ratio}")
SERVICE_SMALL_GAIN = N_("a second worker barely raised throughput: {ratio}")
SERVICE_CPUS = N_(
    "This machine has {cpus} CPUs, shared by the uvicorn workers, PostgreSQL and the load "
    "generator, so a second worker competes for the same cores: the ratio says little about a "
    "machine with cores to spare."
)
SERVICE_PGBOUNCER_FAILED = N_("{failures} requests failed through PgBouncer")
SERVICE_PGBOUNCER_OVER_POOL = N_(
    "PgBouncer let {peak} server connections open, over its pool of {pool}"
)
SERVICE_PGBOUNCER_WITHIN = N_(
    "directly the service used only {peak} connections, within PgBouncer's pool anyway"
)
SERVICE_PGBOUNCER_CONFIRMED = N_(
    "with {workers} workers the service held {direct} server connections directly and at most "
    "{pooled} through PgBouncer's pool of {pool}"
)
SERVICE_PGBOUNCER_COST = N_("Throughput through PgBouncer against directly: {costs}.")
SERVICE_PGBOUNCER_COST_ITEM = N_("{ratio} with {count} workers")
