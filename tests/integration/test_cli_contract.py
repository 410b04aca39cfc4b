"""The command line's contract under bad input: one line, the right exit code, nothing lost,
nothing replaced that is not a regular file sqla-lab writes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sqla_lab.postgres import PostgresServer
from tests.helpers import orphaned_postmasters

pytestmark = pytest.mark.timeout(180)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.update(COLUMNS="120", NO_COLOR="1", **extra)
    return env


def sqla_lab(
    *args: str, env: dict[str, str] | None = None, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sqla_lab", *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=timeout,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert text in lines[0]


def test_ctrl_c_while_importing_is_one_line_and_130() -> None:
    # Deterministic: the signal arrives while the command line is being imported.
    code = (
        "import builtins, os, signal, sys\n"
        "real = builtins.__import__\n"
        "def hooked(name, *args, **kwargs):\n"
        "    if name == 'sqla_lab.cli':\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = hooked\n"
        "sys.argv = ['sqla-lab', 'db', 'up']\n"
        "from sqla_lab.__main__ import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60
    )
    one_line_error(result, 130, "interrupted while starting; nothing was started")
    assert orphaned_postmasters(wait_s=0) == []


def test_an_unwritable_results_file_is_refused_before_any_lab_runs() -> None:
    result = sqla_lab("run", "connect", "--quick", "--json", "/proc/version")
    one_line_error(result, 2, "cannot write results to /proc/version")


def test_a_directory_is_refused_as_results_file(tmp_path: Path) -> None:
    result = sqla_lab("run", "connect", "--json", str(tmp_path))
    one_line_error(result, 2, "it is a directory")


def test_results_go_through_a_fifo_without_replacing_it(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = sqla_lab(
        "run", "connect", "--quick", "--json", str(fifo), "--database-url", postgres.dsn
    )
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    document = json.loads(b"".join(received))
    assert [r["lab"] for r in document["results"]] == ["connect"]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_character_device_is_written_through_never_replaced(tmp_path: Path) -> None:
    # A null device of our own, under the test's directory: never /dev itself.
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    compared = tmp_path / "old.json"
    compared.write_text(json.dumps({"schema_version": 1, "results": []}))
    result = sqla_lab("report", "--compare", str(compared), str(compared), "-o", str(device))
    assert stat.S_ISCHR(device.stat().st_mode), "the device node was replaced"
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr


def test_a_symlink_is_followed_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"schema_version": 1, "results": []}))
    result = sqla_lab("report", "--from", str(saved), "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert target.read_text().startswith("<!DOCTYPE html>")


def test_deeply_nested_results_are_one_line(tmp_path: Path) -> None:
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    result = sqla_lab("report", "--from", str(nested), "-o", str(tmp_path / "r.html"))
    one_line_error(result, 2, "nested too deeply")


@pytest.mark.parametrize(
    ("out", "text"),
    [
        pytest.param("FILE", "exists and is not a directory", id="existing-file"),
        pytest.param("/proc/1/reports", "cannot write reports there", id="unwritable"),
    ],
)
def test_load_refuses_an_unusable_out_directory(tmp_path: Path, out: str, text: str) -> None:
    if out == "FILE":
        existing = tmp_path / "results.txt"
        existing.write_text("keep me")
        out = str(existing)
    result = sqla_lab("load", "--url", "http://127.0.0.1:1", "--duration", "1", "--out", out)
    one_line_error(result, 2, text)
    if out.endswith("results.txt"):
        assert Path(out).read_text() == "keep me"


def test_libpq_url_parameters_work(postgres: PostgresServer) -> None:
    url = postgres.conninfo + "?connect_timeout=10&application_name=sqla-lab-test&sslmode=disable"
    result = sqla_lab("run", "connect", "--quick", "--json", "-", "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["lab"] == "connect"


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "soon"])
def test_an_impossible_pool_timeout_is_one_line(value: str) -> None:
    result = sqla_lab("run", "connect", "--quick", env=_env(SQLA_LAB_POOL_TIMEOUT=value))
    one_line_error(result, 2, "invalid setting pool_timeout")
