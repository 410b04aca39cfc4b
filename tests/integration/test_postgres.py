"""The embedded launcher and the existing-server variant, against real processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sqla_lab.errors import ConfigurationError, DatabaseUnavailable, PostgresStartError
from sqla_lab.postgres import (
    EmbeddedPostgres,
    ExistingPostgres,
    PostgresServer,
    Status,
    sweep_stale_directories,
)
from tests.helpers import postmaster_pids

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory the unprivileged server account can reach (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="sqla-lab-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _postgres_pids() -> set[int]:
    """Postmasters this test process started (read from /proc; others may run in parallel)."""
    return set(postmaster_pids(owner=os.getpid()))


def _process_user(pid: int) -> int:
    return Path(f"/proc/{pid}").stat().st_uid


def test_life_cycle_and_status(scratch: Path) -> None:
    before = _postgres_pids()
    pg = EmbeddedPostgres(data_dir=scratch / "cluster")
    assert pg.status is Status.NOT_INITIALIZED
    pg.init()
    assert pg.status is Status.STOPPED
    pg.start()
    try:
        assert pg.status is Status.RUNNING
        assert pg.pid in _postgres_pids()
        assert pg.url.host == "127.0.0.1"
        assert pg.url.port == pg.port
        assert pg.server_version is not None
        assert pg.server_version.startswith("18.")
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    finally:
        pg.stop()
    assert pg.status is Status.STOPPED
    pg.destroy()
    assert not (scratch / "cluster").exists()
    assert _postgres_pids() == before


def test_password_is_required_and_random() -> None:
    with EmbeddedPostgres() as first, EmbeddedPostgres() as second:
        assert first.password != second.password
        assert first.port != second.port
        wrong = first.url.set(password="wrong", drivername="postgresql")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong.render_as_string(hide_password=False), connect_timeout=3)


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop only happens as root")
def test_as_root_the_server_runs_unprivileged() -> None:
    with EmbeddedPostgres() as pg:
        assert pg.pid is not None
        assert _process_user(pg.pid) != 0
        assert pg.data_dir is not None
        assert pg.data_dir.stat().st_uid == _process_user(pg.pid)


def test_kept_data_dir_is_reused_with_its_password(scratch: Path) -> None:
    data_dir = scratch / "kept"
    with EmbeddedPostgres(data_dir=data_dir, keep=True) as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE survives (x int)")
            conn.execute("INSERT INTO survives VALUES (42)")
        password = pg.password
    assert (data_dir / "pgdata" / "PG_VERSION").exists()
    with EmbeddedPostgres(data_dir=data_dir, keep=True) as again:
        assert again.password == password
        with psycopg.connect(again.dsn) as conn:
            assert conn.execute("SELECT x FROM survives").fetchone() == (42,)
    with EmbeddedPostgres(data_dir=data_dir) as last:  # keep=False: deleted on close
        assert last.status is Status.RUNNING
    assert not data_dir.exists()


def test_busy_port_is_a_clear_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        before = _postgres_pids()
        with pytest.raises(PostgresStartError, match=f"port {port} on 127.0.0.1 is already in use"):
            EmbeddedPostgres(port=port).start()
        assert _postgres_pids() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop only happens as root")
def test_as_root_a_data_dir_the_server_cannot_reach_is_refused(tmp_path: Path) -> None:
    tmp_path.parent.chmod(0o700)
    with pytest.raises(PostgresStartError, match="not reachable by user 'nobody'"):
        EmbeddedPostgres(data_dir=tmp_path / "cluster").start()


def test_unwritable_data_dir_is_a_clear_error() -> None:
    target = Path("/proc/sqla-lab-cannot-write-here")
    with pytest.raises(PostgresStartError, match="not writable"):
        EmbeddedPostgres(data_dir=target).start()


def test_foreign_non_empty_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("user data")
    with pytest.raises(PostgresStartError, match="not empty"):
        EmbeddedPostgres(data_dir=tmp_path).start()
    assert (tmp_path / "precious.txt").read_text() == "user data"


def test_unknown_version_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not bundled"):
        EmbeddedPostgres("9")


def test_version_16_is_bundled_too() -> None:
    with EmbeddedPostgres("16") as pg:
        assert pg.server_version is not None
        assert pg.server_version.startswith("16.")


def test_existing_server_is_reached_and_never_stopped(postgres: PostgresServer) -> None:
    existing = ExistingPostgres(postgres.dsn)
    with existing:
        assert existing.status is Status.RUNNING
        assert existing.server_version == postgres.server_version
    assert postgres.status is Status.RUNNING


async def test_existing_server_async(postgres: PostgresServer) -> None:
    async with ExistingPostgres(postgres.dsn) as existing:
        assert existing.server_version == postgres.server_version


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda u: u.set(password="wrong"), id="bad-password"),
        pytest.param(lambda u: u.set(port=1), id="unreachable"),
        pytest.param(lambda u: u.set(database="does_not_exist"), id="missing-database"),
    ],
)
def test_existing_server_failures_are_one_line(postgres: PostgresServer, mangle: object) -> None:
    url = mangle(postgres.url)  # type: ignore[operator]
    with pytest.raises(DatabaseUnavailable) as caught:
        ExistingPostgres(url).start()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("cannot connect to postgres@127.0.0.1:")
    assert "wrong" not in message  # never the password


def test_a_killed_parent_takes_its_server_with_it() -> None:
    """SIGKILL leaves no chance for atexit: the parent-death signal must stop postgres."""
    script = (
        "from sqla_lab.postgres import EmbeddedPostgres\n"
        "import sys, time\n"
        "pg = EmbeddedPostgres(); pg.start()\n"
        "print(pg.pid, pg.root, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid_text, root = parent.stdout.readline().split()
        pid = int(pid_text)
        assert pid in postmaster_pids()
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 15
        while pid in postmaster_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pid not in postmaster_pids()
        shutil.rmtree(root, ignore_errors=True)  # nobody was left to delete it
    finally:
        parent.kill()
        parent.communicate()


def test_sweep_removes_only_stale_abandoned_clusters(scratch: Path) -> None:
    def cluster(name: str, *files: str, age_s: float = 3600) -> Path:
        path = scratch / name
        (path / "pgdata").mkdir(parents=True)
        for file in files:
            (path / file).write_text("")
        old = time.time() - age_s
        os.utime(path, (old, old))
        return path

    abandoned = cluster("sqla-lab-pg-abandoned", "sqla-lab-data-dir")
    kept = cluster("sqla-lab-pg-kept", "sqla-lab-data-dir", "keep")
    fresh = cluster("sqla-lab-pg-fresh", "sqla-lab-data-dir", age_s=0)
    running = cluster("sqla-lab-pg-running", "sqla-lab-data-dir", "pgdata/postmaster.pid")
    foreign = cluster("sqla-lab-pg-foreign")
    assert sweep_stale_directories(scratch) == [abandoned]
    assert [p.exists() for p in (abandoned, kept, fresh, running, foreign)] == [
        False,
        True,
        True,
        True,
        True,
    ]
