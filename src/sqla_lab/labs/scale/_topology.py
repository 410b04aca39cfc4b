"""The scale lab's servers: its own primary, streaming replica and PgBouncer, or the user's.

The lab never reconfigures the server the other labs use (``DATABASE_URL``), and loads it
only when told to (``--replica-url``: then it writes to one table it creates there, and
drops). It builds a private topology from the bundled binaries each run, so it can set
``max_connections`` low on purpose and exhaust it safely:

* a primary :class:`~sqla_lab.postgres.EmbeddedPostgres` with ``max_connections = 20`` and
  no superuser-reserved slots (the lab logs in as the superuser, and the point is that the
  20th connection is the last one for everybody);
* a hot standby made by ``pg_basebackup -R`` (:meth:`EmbeddedPostgres.create_replica`),
  named as the synchronous standby (``synchronous_standby_names = '*'``) while commits
  default to ``synchronous_commit = local``: nothing waits for it unless a session asks for
  ``on`` or ``remote_apply``, which is asynchronous replication until then;
* PgBouncer (:mod:`._pgbouncer`) with a transaction pool (``txn``, 6 server connections) and
  a session pool (``session``, 12), when the system has PgBouncer.

``--pgbouncer-url`` replaces the lab's PgBouncer where a finding only needs *a* pooler (the
prepared-statement and app-pool findings); ``--replica-url`` (with ``--database-url``, its
primary) replaces the lab's replica. Everything started here is stopped, and its directory
deleted, when the context ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL

from sqla_lab.errors import ConfigurationError, DatabaseUnavailable, LabError
from sqla_lab.lab import LabContext
from sqla_lab.lab.messages import N_, Message
from sqla_lab.labs.scale._pgbouncer import (
    PgBouncer,
    PoolSpec,
    find_pgbouncer,
    pgbouncer_version,
)
from sqla_lab.postgres import (
    EmbeddedPostgres,
    ExistingPostgres,
    PostgresServer,
    probe_sync,
)
from sqla_lab.settings import Settings
from sqla_lab.urls import parse_database_url, with_database, with_search_path
from sqla_lab.workspace import Workspace

__all__ = [
    "MAX_CONNECTIONS",
    "PRIMARY_SETTINGS",
    "REPLICATED_SETTINGS",
    "SESSION_POOL",
    "TXN_POOL",
    "Peak",
    "ScaleOptions",
    "ServerConnections",
    "Topology",
    "running_topology",
]

MAX_CONNECTIONS = 20
TXN_POOL = PoolSpec(name="txn", pool_mode="transaction", pool_size=6)
SESSION_POOL = PoolSpec(name="session", pool_mode="session", pool_size=12)
PRIMARY_SETTINGS = {
    "max_connections": str(MAX_CONNECTIONS),
    "superuser_reserved_connections": "0",
}
#: Only with the lab's own replica attached: a synchronous standby that nothing waits for
#: unless a session asks (a standby name with no standby would hang such commits).
REPLICATED_SETTINGS = {
    **PRIMARY_SETTINGS,
    "synchronous_standby_names": "*",
    "synchronous_commit": "local",
}
_SAMPLE_EVERY_S = 0.01
_REPLICATION_TIMEOUT_S = 30.0


def _url_option(option: str, value: str | None) -> URL | None:
    if not value:
        return None
    try:
        return parse_database_url(value)
    except ConfigurationError as exc:
        raise ConfigurationError(str(exc).replace("DATABASE_URL", option)) from None


@dataclass(frozen=True, kw_only=True)
class ScaleOptions:
    """What the user chose for the scale lab.

    Attributes:
        pgbouncer: the pgbouncer executable, or ``None`` when there is none.
        pgbouncer_url: the user's PgBouncer (``--pgbouncer-url``).
        replica_url: the user's replica of ``DATABASE_URL`` (``--replica-url``).
    """

    pgbouncer: Path | None
    pgbouncer_url: URL | None = None
    replica_url: URL | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, server: PostgresServer) -> ScaleOptions:
        """Validate the settings against the server the labs run on.

        Raises:
            ConfigurationError: a URL is invalid, ``SQLA_LAB_PGBOUNCER`` is not a program, or
                ``--replica-url`` is given without the primary it replicates.
        """
        replica_url = _url_option("--replica-url", settings.replica_url)
        if replica_url is not None and server.embedded:
            raise ConfigurationError(
                N_("--replica-url needs --database-url (or DATABASE_URL) naming its primary")
            )
        return cls(
            pgbouncer=find_pgbouncer(settings.pgbouncer),
            pgbouncer_url=_url_option("--pgbouncer-url", settings.pgbouncer_url),
            replica_url=replica_url,
        )


@dataclass
class Peak:
    """The largest count seen while sampling."""

    value: int = 0


class ServerConnections:
    """Client backends on the lab's primary: now, at peak during a run, and none between runs.

    PgBouncer's server connections are client backends too, so this counts what the server
    really carries, whoever opened it; the sampling connection itself is left out.
    """

    _COUNT = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
        "AND ($1::text IS NULL OR usename = $1::text)"
    )
    _TERMINATE_IDLE = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state = 'idle'"
    )

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Open the one connection this watcher uses."""
        self._conn = await asyncpg.connect(self._dsn)

    async def close(self) -> None:
        """Close it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    async def _fetch(self, query: str, *args: object) -> int:
        if self._conn is None:
            raise LabError(N_("the connection watcher is not open"))
        async with self._lock:
            return int(await self._conn.fetchval(query, *args))

    async def count(self, user: str | None = None) -> int:
        """Client backends other than ours (of role ``user`` only, if given), now."""
        return await self._fetch(self._COUNT, user)

    async def settle(self, timeout_s: float = 10.0) -> int:
        """End idle leftovers (PgBouncer keeps its server connections) and wait for none.

        Returns:
            How many client backends remain (0 unless something is still busy).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            await self._fetch(self._TERMINATE_IDLE)
            remaining = await self.count()
            if remaining == 0 or time.monotonic() > deadline:
                return remaining
            await asyncio.sleep(0.02)

    @contextlib.asynccontextmanager
    async def peak(self, user: str | None = None) -> AsyncIterator[Peak]:
        """Sample the count (of role ``user``) every 10 ms while the block runs."""
        peak = Peak(await self.count(user))

        async def sample() -> None:
            while True:
                peak.value = max(peak.value, await self.count(user))
                await asyncio.sleep(_SAMPLE_EVERY_S)

        task = asyncio.create_task(sample())
        try:
            yield peak
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            peak.value = max(peak.value, await self.count(user))


@dataclass(kw_only=True)
class Topology:
    """The servers one run of the lab uses.

    Attributes:
        primary: the lab's own primary, with few connection slots.
        connections: a watcher of ``primary``'s client backends.
        write_server: where the replica finding writes (``primary``, or the user's primary).
        replica: the replica it reads from.
        own_replica: whether ``replica`` is the lab's own.
        bouncer: the lab's PgBouncer in front of ``primary``, if the system has one.
        bouncer_version: its version.
        user_pooler: the user's PgBouncer, if given.
    """

    primary: EmbeddedPostgres
    connections: ServerConnections
    write_server: PostgresServer
    replica: PostgresServer
    own_replica: bool
    bouncer: PgBouncer | None
    bouncer_version: tuple[int, int, int] | None
    user_pooler: URL | None

    @property
    def pooler(self) -> URL | None:
        """The transaction-mode pooler the pooler findings use: the user's, else ours."""
        if self.user_pooler is not None:
            return self.user_pooler
        return self.bouncer.url(TXN_POOL.name) if self.bouncer is not None else None

    @property
    def pooler_is_ours(self) -> bool:
        """Whether :attr:`pooler` is the lab's PgBouncer (so the lab knows what is behind it)."""
        return self.user_pooler is None and self.bouncer is not None

    @property
    def bouncer_description(self) -> Message:
        """``PgBouncer 1.18.0`` or why there is none (a message: a title's value)."""
        if self.user_pooler is not None:
            return Message(N_("your PgBouncer (--pgbouncer-url)"))
        if self.bouncer_version is None:
            return Message(N_("no PgBouncer"))
        return Message("PgBouncer {version}", {"version": ".".join(map(str, self.bouncer_version))})


async def _wait_for_streaming(primary: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(primary.dsn)
    try:
        deadline = time.monotonic() + _REPLICATION_TIMEOUT_S
        query = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        while not await conn.fetchval(query):
            if time.monotonic() > deadline:
                raise LabError(
                    N_("the replica did not stream within {seconds:.0f} s"),
                    seconds=_REPLICATION_TIMEOUT_S,
                )
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def _check_standby(replica: PostgresServer) -> None:
    conn = await asyncpg.connect(replica.dsn)
    try:
        if not await conn.fetchval("SELECT pg_is_in_recovery()"):
            raise ConfigurationError(
                N_("--replica-url is not a standby: pg_is_in_recovery() is false there")
            )
    finally:
        await conn.close()


def _workspace_on(replica: PostgresServer, workspace: Workspace) -> ExistingPostgres:
    """The user's replica, reached in the workspace sqla-lab created on its primary."""
    if workspace.schema is not None:
        return ExistingPostgres(with_search_path(replica.url, workspace.schema))
    return ExistingPostgres(with_database(replica.url, workspace.name))


async def _reach_when_replicated(replica: ExistingPostgres, timeout_s: float = 10.0) -> None:
    """Connect once the workspace created on the primary has reached the replica."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await replica.astart()
        except DatabaseUnavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)
        else:
            return


@contextlib.asynccontextmanager
async def running_topology(ctx: LabContext, options: ScaleOptions) -> AsyncIterator[Topology]:
    """Start the lab's servers (and reach the user's); stop and delete them on exit."""
    settings = ctx.settings
    # The user's servers first: a wrong URL fails in a second, before anything starts.
    user_replica = None
    if options.replica_url is not None:
        user_replica = ExistingPostgres(options.replica_url)
        await user_replica.astart()
        await _check_standby(user_replica)
    if options.pgbouncer_url is not None:
        # psycopg, not asyncpg: one unnamed statement, whatever the pool mode.
        await asyncio.to_thread(probe_sync, options.pgbouncer_url)
    with contextlib.ExitStack() as stack:
        ctx.progress.start(N_("scale: starting a primary, its replica and PgBouncer"), 3)
        # Started in this thread on purpose: the parent-death signal belongs to the thread
        # that forks, and an executor thread may end before the server does.
        own_replica = user_replica is None
        primary = stack.enter_context(
            EmbeddedPostgres(
                settings.pg_version,
                bin_dir=settings.pg_bin,
                server_settings=REPLICATED_SETTINGS if own_replica else PRIMARY_SETTINGS,
            )
        )
        ctx.progress.advance()
        replica: PostgresServer
        if user_replica is not None:
            # Writes go into the run's workspace on the user's primary (never their own
            # database); the replica carries the whole cluster, so read it there too.
            replica = _workspace_on(user_replica, ctx.workspace)
            await _reach_when_replicated(replica)
            write_server: PostgresServer = ctx.workspace
        else:
            replica = stack.enter_context(primary.create_replica())
            await _wait_for_streaming(primary)
            write_server = primary
        ctx.progress.advance()
        bouncer = None
        version = None
        if options.pgbouncer is not None:
            version = pgbouncer_version(options.pgbouncer)
            assert primary.password is not None
            bouncer = stack.enter_context(
                PgBouncer(
                    options.pgbouncer,
                    server_host=primary.host,
                    server_port=primary.port,
                    server_database=primary.database,
                    user=primary.user,
                    password=primary.password,
                    pools=(TXN_POOL, SESSION_POOL),
                )
            )
        ctx.progress.advance()
        connections = ServerConnections(primary.dsn)
        await connections.open()
        try:
            yield Topology(
                primary=primary,
                connections=connections,
                write_server=write_server,
                replica=replica,
                own_replica=own_replica,
                bouncer=bouncer,
                bouncer_version=version,
                user_pooler=options.pgbouncer_url,
            )
        finally:
            await connections.close()
