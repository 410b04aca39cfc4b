"""The scale lab pointed at a user's own PgBouncer and replica (``--pgbouncer-url``,
``--replica-url``), and without a PgBouncer of its own: what it measures there, what it
skips, and that it leaves the user's servers as it found them.

The "user's" servers are started here: a primary, its streaming replica and a PgBouncer in
front of the primary. The lab's parts run one by one on a topology built with those URLs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from sqla_lab.errors import ConfigurationError
from sqla_lab.lab import LabContext
from sqla_lab.lab.messages import render_text
from sqla_lab.lab.results import Environment, Verdict
from sqla_lab.labs.scale._app_pool import app_pool
from sqla_lab.labs.scale._connections import connection_limits
from sqla_lab.labs.scale._pgbouncer import NOT_FOUND, PgBouncer, PoolSpec, find_pgbouncer
from sqla_lab.labs.scale._prepared import prepared_statements
from sqla_lab.labs.scale._replica import read_replica
from sqla_lab.labs.scale._topology import (
    ScaleOptions,
    Topology,
    _check_standby,
    running_topology,
)
from sqla_lab.labs.scale._workers import WorkerPool
from sqla_lab.postgres import EmbeddedPostgres, ExistingPostgres
from sqla_lab.settings import Settings
from sqla_lab.workspace import Workspace
from tests.helpers import pgbouncers

PGBOUNCER = find_pgbouncer(None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer is not installed"),
]


class UserServers:
    def __init__(self, primary: EmbeddedPostgres, replica: EmbeddedPostgres, bouncer: PgBouncer):
        self.primary = primary
        self.replica = replica
        self.bouncer = bouncer


@pytest.fixture(scope="module")
def user_servers() -> Iterator[UserServers]:
    assert PGBOUNCER is not None
    with EmbeddedPostgres() as primary, primary.create_replica() as replica:
        assert primary.password is not None
        with PgBouncer(
            PGBOUNCER,
            server_host=primary.host,
            server_port=primary.port,
            server_database=primary.database,
            user=primary.user,
            password=primary.password,
            pools=(PoolSpec(name="app", pool_mode="transaction", pool_size=4),),
        ) as bouncer:
            yield UserServers(primary, replica, bouncer)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def lab(user_servers: UserServers) -> AsyncIterator[tuple[LabContext, Topology, WorkerPool]]:
    server = ExistingPostgres(user_servers.primary.url)
    await server.astart()
    with Workspace(server, purpose="scaletest") as workspace:
        ctx = LabContext(
            workspace=workspace,
            settings=Settings(),
            environment=Environment.current(postgresql="test", embedded=False),
            quick=True,
        )
        options = ScaleOptions(
            pgbouncer=None,
            pgbouncer_url=user_servers.bouncer.url("app"),
            replica_url=user_servers.replica.url,
        )
        async with WorkerPool(3) as workers, running_topology(ctx, options) as topology:
            yield ctx, topology, workers


def test_the_users_pgbouncer_runs_unprivileged_in_a_private_directory(
    user_servers: UserServers,
) -> None:
    bouncer = user_servers.bouncer
    assert bouncer.pid in pgbouncers()
    assert pgbouncers()[bouncer.pid] == os.getpid()
    assert bouncer.directory is not None
    assert oct(bouncer.directory.stat().st_mode & 0o777) == "0o700"
    if os.geteuid() == 0:
        status = Path(f"/proc/{bouncer.pid}/status").read_text()
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert uid != "0"


def test_a_stopped_pgbouncer_leaves_no_process_and_no_directory(
    user_servers: UserServers,
) -> None:
    primary = user_servers.primary
    assert PGBOUNCER is not None
    assert primary.password is not None
    bouncer = PgBouncer(
        PGBOUNCER,
        server_host=primary.host,
        server_port=primary.port,
        server_database=primary.database,
        user=primary.user,
        password=primary.password,
        pools=(PoolSpec(name="brief", pool_mode="session", pool_size=1),),
    )
    with bouncer:
        pid, directory = bouncer.pid, bouncer.directory
        assert pid in pgbouncers()
    assert pid not in pgbouncers()
    assert directory is not None
    assert not directory.exists()


@pytest.mark.asyncio(loop_scope="module")
async def test_without_its_own_pgbouncer_the_pgbouncer_half_is_skipped(
    lab: tuple[LabContext, Topology, WorkerPool],
) -> None:
    output = await connection_limits(*lab)
    by_key = {f.key: f for f in output.findings}
    assert by_key["scale.max-connections"].verdict is Verdict.CONFIRMED
    skipped = by_key["scale.pgbouncer-transaction-pool"]
    assert skipped.verdict is Verdict.SKIPPED
    assert skipped.explanation_message.render() == NOT_FOUND
    assert skipped.measurements == ()


@pytest.mark.asyncio(loop_scope="module")
async def test_the_users_pgbouncer_shows_the_clash_and_what_only_ours_can_measure(
    lab: tuple[LabContext, Topology, WorkerPool],
) -> None:
    output = await prepared_statements(*lab)
    clash, fixes = output.findings
    assert clash.verdict is Verdict.CONFIRMED
    assert fixes.verdict is Verdict.CONFIRMED
    rows = {
        row[0]: dict(zip(output.tables[0].columns, row, strict=True))
        for row in output.tables[0].rows
    }
    assert render_text(rows["session mode"]["error_kinds"]) == (
        "not measured: needs the lab's own PgBouncer (its session pool)"
    )
    assert render_text(rows["max_prepared_statements"]["error_kinds"]) == (
        "not measured: needs the lab's own PgBouncer"
    )
    assert rows["both caches off"]["errors"] == 0


@pytest.mark.asyncio(loop_scope="module")
async def test_behind_the_users_pgbouncer_server_connections_are_not_counted(
    lab: tuple[LabContext, Topology, WorkerPool],
) -> None:
    output = await app_pool(*lab)
    (table, _) = output.tables
    assert "your PgBouncer" in render_text(table.title)
    assert table.column("server_connections") == (None, None)
    assert table.column("errors") == (0, 0)


@pytest.mark.asyncio(loop_scope="module")
async def test_the_users_replica_without_a_synchronous_standby_is_inconclusive_and_left_clean(
    lab: tuple[LabContext, Topology, WorkerPool], user_servers: UserServers
) -> None:
    output = await read_replica(*lab)
    reads, cost = output.findings
    assert reads.verdict is Verdict.INCONCLUSIVE
    assert "no synchronous standby" in reads.explanation_message.render()
    assert cost.verdict is Verdict.INCONCLUSIVE
    assert output.tables[0].column("probes") == (50, 50, 50)
    conn = await asyncpg.connect(user_servers.primary.dsn)
    try:
        left = await conn.fetch("SELECT tablename FROM pg_tables WHERE tablename LIKE 'sqla_lab%'")
    finally:
        await conn.close()
    assert left == []


def test_a_replica_url_needs_its_primary(user_servers: UserServers) -> None:
    settings = Settings(replica_url=str(user_servers.replica.url))
    with pytest.raises(ConfigurationError, match="--replica-url needs --database-url"):
        ScaleOptions.from_settings(settings, server=user_servers.primary)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_replica_url_that_is_not_a_standby_is_refused(user_servers: UserServers) -> None:
    with pytest.raises(ConfigurationError, match="--replica-url is not a standby"):
        await _check_standby(ExistingPostgres(user_servers.primary.url))
