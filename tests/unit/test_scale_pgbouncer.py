"""Finding and configuring PgBouncer, without starting one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sqla_lab.errors import ConfigurationError
from sqla_lab.labs.scale._pgbouncer import (
    DIR_PREFIX,
    NOT_FOUND,
    PoolSpec,
    find_pgbouncer,
    parse_version,
    render_config,
    supports_max_prepared_statements,
    sweep_stale_bouncer_dirs,
)


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\necho 'PgBouncer 1.18.0'\n")
    path.chmod(0o755)
    return path


def test_not_found_message_is_the_documented_one() -> None:
    assert NOT_FOUND == "skipped: pgbouncer not found (apt-get install pgbouncer)"


def test_found_on_the_path(tmp_path: Path) -> None:
    program = _executable(tmp_path / "pgbouncer")
    assert find_pgbouncer(None, path=str(tmp_path), system_dirs=()) == program


def test_found_in_a_system_dir_missing_from_path(tmp_path: Path) -> None:
    program = _executable(tmp_path / "pgbouncer")
    assert find_pgbouncer(None, path="", system_dirs=(str(tmp_path),)) == program


def test_none_when_nowhere(tmp_path: Path) -> None:
    assert find_pgbouncer(None, path=str(tmp_path), system_dirs=()) is None


@pytest.mark.parametrize(
    "name",
    [pytest.param("missing", id="missing"), pytest.param("plain-file", id="not-executable")],
)
def test_an_explicit_program_must_be_executable(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    if name == "plain-file":
        target.write_text("not a program")
    with pytest.raises(ConfigurationError, match=r"SQLA_LAB_PGBOUNCER=.* is not an executable"):
        find_pgbouncer(str(target))


@pytest.mark.parametrize(
    ("text", "version"),
    [
        pytest.param("PgBouncer 1.18.0\nlibevent 2.1.12-stable\n", (1, 18, 0), id="debian-1.18"),
        pytest.param("PgBouncer 1.21.0", (1, 21, 0), id="1.21"),
        pytest.param("PgBouncer 1.24", (1, 24, 0), id="no-patch"),
        pytest.param("pgbouncer: unknown option", None, id="garbage"),
    ],
)
def test_parse_version(text: str, version: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        pytest.param((1, 18, 0), False, id="1.18"),
        pytest.param((1, 20, 1), False, id="1.20"),
        pytest.param((1, 21, 0), True, id="1.21"),
        pytest.param((2, 0, 0), True, id="2.0"),
    ],
)
def test_max_prepared_statements_since_1_21(version: tuple[int, int, int], supported: bool) -> None:
    assert supports_max_prepared_statements(version) is supported


def test_config_has_one_database_per_pool_and_no_unix_socket(tmp_path: Path) -> None:
    text = render_config(
        directory=tmp_path,
        port=6543,
        server_host="127.0.0.1",
        server_port=5555,
        server_database="postgres",
        pools=(
            PoolSpec(name="txn", pool_mode="transaction", pool_size=6),
            PoolSpec(name="session", pool_mode="session", pool_size=12),
        ),
        max_client_conn=500,
        admin_user="postgres",
    )
    lines = text.splitlines()
    assert (
        "txn = host=127.0.0.1 port=5555 dbname=postgres pool_mode=transaction pool_size=6" in lines
    )
    assert (
        "session = host=127.0.0.1 port=5555 dbname=postgres pool_mode=session pool_size=12" in lines
    )
    assert "listen_addr = 127.0.0.1" in lines
    assert "listen_port = 6543" in lines
    assert "unix_socket_dir =" in lines
    assert f"auth_file = {tmp_path / 'userlist.txt'}" in lines
    assert not any(line.startswith("max_prepared_statements") for line in lines)


def test_config_sets_max_prepared_statements_only_when_asked(tmp_path: Path) -> None:
    text = render_config(
        directory=tmp_path,
        port=1,
        server_host="127.0.0.1",
        server_port=2,
        server_database="postgres",
        pools=(PoolSpec(name="tracked", pool_mode="transaction", pool_size=6),),
        max_client_conn=10,
        admin_user="postgres",
        max_prepared_statements=200,
    )
    assert "max_prepared_statements = 200" in text.splitlines()


@pytest.mark.parametrize(
    ("name", "size"),
    [pytest.param("Bad Name", 1, id="bad-name"), pytest.param("txn", 0, id="empty-pool")],
)
def test_pool_spec_is_validated(name: str, size: int) -> None:
    with pytest.raises(ValueError, match="pool"):
        PoolSpec(name=name, pool_mode="transaction", pool_size=size)


def test_sweep_removes_directories_of_dead_owners_only(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"{DIR_PREFIX}{dead.pid}-abc"
    alive = tmp_path / f"{DIR_PREFIX}{os.getpid()}-def"
    foreign = tmp_path / f"{DIR_PREFIX}notapid"
    for path in (gone, alive, foreign):
        path.mkdir()
        old = time.time() - 3600
        os.utime(path, (old, old))
    assert sweep_stale_bouncer_dirs(tmp_path) == [gone]
    assert alive.exists()
    assert foreign.exists()
