"""``sqla-lab db up/down/status``: a drop-in for a docker-compose PostgreSQL, that deletes only
what it created."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psycopg
import pytest

from sqla_lab._process import free_port
from tests.helpers import postmaster_pids

pytestmark = pytest.mark.timeout(180)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.update(COLUMNS="120", NO_COLOR="1")
    return env


def sqla_lab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sqla_lab", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert text in lines[0]


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory of the test's own the server's account can reach (as root it is nobody)."""
    path = Path(tempfile.mkdtemp(prefix="sqla-lab-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def data_dir(scratch: Path) -> Iterator[Path]:
    path = scratch / "cluster"
    yield path
    if path.exists():
        sqla_lab("db", "down", "--data-dir", str(path))


def test_detached_server_with_the_projects_credentials(data_dir: Path) -> None:
    port = free_port()
    up = sqla_lab(
        "db", "up", "--detach", "--data-dir", str(data_dir), "--port", str(port),
        "--user", "user", "--password", "password", "--database", "testdb", "--env",
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    env = dict(line.split("=", 1) for line in up.stdout.splitlines())
    assert env == {
        "DATABASE_URL": f"postgresql://user:password@127.0.0.1:{port}/testdb",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(port),
        "PGUSER": "user",
        "PGPASSWORD": "password",
        "PGDATABASE": "testdb",
    }
    # The URL a project's tests hard-code works, with both drivers.
    project_url = f"postgresql://user:password@localhost:{port}/testdb"
    with psycopg.connect(project_url) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "user",
            "testdb",
        )

    async def with_asyncpg() -> str:
        conn = await asyncpg.connect(project_url)
        try:
            return str(await conn.fetchval("SELECT current_database()"))
        finally:
            await conn.close()

    assert asyncio.run(with_asyncpg()) == "testdb"

    status = sqla_lab("db", "status", "--data-dir", str(data_dir), "--json")
    assert status.returncode == 0, status.stderr
    details = json.loads(status.stdout)
    assert details["running"] is True
    assert details["port"] == port
    assert details["pid"] in postmaster_pids()

    down = sqla_lab("db", "down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr
    assert details["pid"] not in postmaster_pids()
    assert not data_dir.exists()  # made by sqla-lab, not kept: removed
    gone = sqla_lab("db", "status", "--data-dir", str(data_dir), "--json")
    assert gone.returncode == 3
    assert json.loads(gone.stdout)["running"] is False


def test_restart_on_the_same_fixed_port_at_once(data_dir: Path) -> None:
    port = free_port()
    args = ("db", "up", "--detach", "--data-dir", str(data_dir), "--port", str(port), "--keep")
    first = sqla_lab(*args, "--json")
    assert first.returncode == 0, first.stderr
    url = json.loads(first.stdout)["dsn"]
    # A connection open while the server stops: the server closes it, so its side of the
    # socket lingers in TIME_WAIT on the fixed port.
    held = psycopg.connect(url)
    try:
        assert sqla_lab("db", "down", "--data-dir", str(data_dir)).returncode == 0
    finally:
        held.close()
    again = sqla_lab(*args, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["port"] == port
    assert data_dir.exists()  # --keep: the cluster survived the first down


def test_a_port_really_in_use_is_one_line(data_dir: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = sqla_lab("db", "up", "--detach", "--data-dir", str(data_dir), "--port", str(port))
    _one_line_error(result, f"port {port} on 127.0.0.1 is already in use")
    assert not data_dir.exists()


def test_a_non_empty_folder_is_refused_and_untouched(scratch: Path) -> None:
    folder = scratch / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    result = sqla_lab("db", "up", "--data-dir", str(folder))
    _one_line_error(result, "is not empty and holds no sqla-lab cluster")
    assert (folder / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("value", ["", "."], ids=["empty-string", "working-directory"])
def test_the_working_directory_is_never_used_or_deleted(scratch: Path, value: str) -> None:
    (scratch / "project.txt").write_text("a project")
    result = sqla_lab("db", "up", "--data-dir", value, cwd=scratch)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert (scratch / "project.txt").read_text() == "a project"
    assert sorted(p.name for p in scratch.iterdir()) == ["project.txt"]


def test_a_second_up_on_a_running_servers_directory_changes_nothing(data_dir: Path) -> None:
    first = sqla_lab("db", "up", "--detach", "--data-dir", str(data_dir), "--json")
    assert first.returncode == 0, first.stderr
    details = json.loads(first.stdout)
    second = sqla_lab("db", "up", "--data-dir", str(data_dir))
    _one_line_error(second, "is already running in")
    assert details["pid"] in postmaster_pids()
    with psycopg.connect(details["dsn"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_cluster_sqla_lab_did_not_create_is_refused(scratch: Path) -> None:
    foreign = scratch / "foreign"
    (foreign / "pgdata").mkdir(parents=True)
    (foreign / "pgdata" / "PG_VERSION").write_text("18\n")
    result = sqla_lab("db", "up", "--data-dir", str(foreign))
    _one_line_error(result, "sqla-lab did not create")
    assert (foreign / "pgdata" / "PG_VERSION").read_text() == "18\n"


def test_down_refuses_a_directory_that_is_not_sqla_labs(scratch: Path) -> None:
    (scratch / "file").write_text("x")
    result = sqla_lab("db", "down", "--data-dir", str(scratch))
    _one_line_error(result, "is not a sqla-lab data directory")
    assert (scratch / "file").read_text() == "x"
