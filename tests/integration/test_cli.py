"""The command line as a user runs it: a real subprocess, real exit codes, real servers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sqla_lab.lab.results import load_results
from sqla_lab.postgres import PostgresServer
from tests.helpers import orphaned_postmasters, postmaster_pids

pytestmark = pytest.mark.timeout(180)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.update(COLUMNS="120", NO_COLOR="1", **extra)
    return env


def sqla_lab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sqla_lab", *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=150,
        check=False,
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert text in lines[0]


@pytest.fixture
def no_new_postmasters() -> Iterator[None]:
    yield
    assert orphaned_postmasters() == [], "a postgres outlived the command that started it"


def test_help_lists_the_commands() -> None:
    result = sqla_lab("--help")
    assert result.returncode == 0
    for command in ("run", "list", "seed", "db"):
        assert command in result.stdout


def test_list_as_json() -> None:
    result = sqla_lab("list", "--json")
    assert result.returncode == 0
    names = [item["name"] for item in json.loads(result.stdout)]
    assert names[0] == "connect"


def test_unknown_lab_is_exit_2_before_any_server_starts(no_new_postmasters: None) -> None:
    _assert_one_line_error(sqla_lab("run", "nope"), 2, "unknown lab 'nope'")


@pytest.mark.parametrize(
    ("url", "text"),
    [
        pytest.param("mysql://u:p@localhost/db", "must be a PostgreSQL URL", id="not-postgres"),
        pytest.param("::not a url::", "not a valid database URL", id="unparsable"),
        pytest.param("postgresql://u:secret@127.0.0.1:1/db", "cannot connect", id="unreachable"),
    ],
)
def test_bad_database_url_is_exit_2(url: str, text: str) -> None:
    result = sqla_lab("run", "connect", "--quick", env=_env(DATABASE_URL=url))
    _assert_one_line_error(result, 2, text)
    assert "secret" not in result.stderr


def test_bad_password_is_exit_2(postgres: PostgresServer) -> None:
    url = postgres.url.set(password="wrong").render_as_string(hide_password=False)
    result = sqla_lab("run", "connect", "--quick", "--database-url", url)
    _assert_one_line_error(result, 2, "password authentication failed")


def test_bad_setting_is_exit_2() -> None:
    result = sqla_lab("run", "connect", "--quick", env=_env(SQLA_LAB_POOL_SIZE="many"))
    _assert_one_line_error(result, 2, "invalid setting pool_size")


def test_unwritable_json_file_is_refused_before_running(no_new_postmasters: None) -> None:
    result = sqla_lab("run", "connect", "--quick", "--json", "/proc/nowhere/results.json")
    _assert_one_line_error(result, 2, "cannot write results to /proc/nowhere/results.json")


def test_run_on_an_existing_server_writes_json(postgres: PostgresServer, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = sqla_lab(
        "run", "connect", "--quick", "--json", str(out), "--database-url", postgres.dsn
    )
    assert result.returncode == 0, result.stderr
    (connect,) = load_results(json.loads(out.read_text()))
    assert connect.lab == "connect"
    assert connect.environment.embedded is False
    assert {f.key for f in connect.findings} == {
        "connect.pooled-vs-new",
        "connect.connect-dominates",
        "connect.echo-cost",
    }
    assert connect.finding("pooled-vs-new").verdict.value in result.stdout
    assert len(connect.finding("pooled-vs-new").measurements[0].samples) == 50


def test_run_on_the_embedded_default_leaves_nothing(no_new_postmasters: None) -> None:
    result = sqla_lab("run", "connect", "--quick", "--json", "-")
    assert result.returncode == 0, result.stderr
    (connect,) = load_results(json.loads(result.stdout))
    assert connect.environment.embedded is True
    assert connect.environment.postgresql.startswith("18.")


def test_seed_counts_as_json(postgres: PostgresServer) -> None:
    args = ["seed", "--users", "120", "--posts-per-user", "3", "--reset", "--json"]
    result = sqla_lab(*args, "--database-url", postgres.dsn)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert (counts["users"], counts["posts"]) == (120, 360)


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sqla_lab", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def test_db_up_prints_its_url_and_stops_on_ctrl_c(no_new_postmasters: None) -> None:
    process = _start("db", "up", "--json")
    try:
        assert process.stdout is not None
        details = json.loads(process.stdout.readline())
        assert details["url"].startswith("postgresql+asyncpg://postgres:")
        assert details["host"] == "127.0.0.1"
        assert details["pid"] in postmaster_pids()
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130  # Ctrl-C, as every command
        assert details["pid"] not in postmaster_pids()
        assert not Path(details["data_dir"]).exists()
    finally:
        process.kill()
        process.communicate()  # reaps it and closes the pipes


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_a_run_stops_the_server(no_new_postmasters: None, sig: int) -> None:
    process = _start("run", "connect")  # full repetitions: long enough to interrupt
    try:
        deadline = time.monotonic() + 60
        while not postmaster_pids(owner=process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert postmaster_pids(owner=process.pid), "the run never started its server"
        time.sleep(1.0)  # let it get into the lab
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert "interrupted" in stderr
    finally:
        process.kill()
        process.communicate()  # reaps it and closes the pipes


def test_unwritable_data_dir_is_exit_2(no_new_postmasters: None) -> None:
    result = sqla_lab("db", "up", "--data-dir", "/proc/sqla-lab-nowhere")
    _assert_one_line_error(result, 2, "data directory /proc/sqla-lab-nowhere is not writable")


def test_db_up_keeps_a_data_dir_across_runs(no_new_postmasters: None) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="sqla-lab-test-")) / "kept"
    data_dir.parent.chmod(0o755)
    try:
        urls = []
        for _ in range(2):
            process = _start("db", "up", "--data-dir", str(data_dir), "--keep", "--json")
            try:
                assert process.stdout is not None
                urls.append(json.loads(process.stdout.readline())["url"])
                process.send_signal(signal.SIGINT)
                assert process.wait(30) == 130  # Ctrl-C, as every command
            finally:
                process.kill()
                process.communicate()
            assert (data_dir / "pgdata" / "PG_VERSION").exists()
        # Same cluster, same password; the port is picked afresh each time.
        assert urls[0].split("@")[0] == urls[1].split("@")[0]
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_an_interrupted_run_keeps_the_labs_it_finished(
    no_new_postmasters: None, tmp_path: Path
) -> None:
    out = tmp_path / "partial.json"
    process = _start("run", "connect", "pool", "--quick", "--json", str(out))
    try:
        deadline = time.monotonic() + 90
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.exists(), "the first lab's results were never written"
        process.send_signal(signal.SIGINT)  # during the pool lab
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        (kept,) = load_results(json.loads(out.read_text()))
        assert kept.lab == "connect"
    finally:
        process.kill()
        process.communicate()
