"""End to end: ``sqla-lab serve`` in a child process, real HTTP, Ctrl-C; then ``sqla-lab load``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sqla_lab._process import free_port
from sqla_lab.lab.results import load_results


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str


def _children(pid: int) -> set[int]:
    """Direct children of ``pid``, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLA_LAB_DATABASE_URL")
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """``sqla-lab serve`` on its own embedded PostgreSQL, healthy."""
    port = free_port()
    command = [sys.executable, "-m", "sqla_lab", "serve", "--port", str(port), "--users", "30"]
    command += ["--posts-per-user", "2", "--pool-size", "2", "--json"]
    process = subprocess.Popen(
        command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert process.stdout is not None
        details = json.loads(process.stdout.readline())
        assert details["url"] == url
        assert (details["users"], details["posts"]) == (30, 60)
        assert "***" in details["database"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        yield Served(process, url)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_answers_real_http(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.get("/users/3").json()["name"] == "user-3"
        assert len(client.get("/users", params={"limit": 50}).json()) == 30
        assert client.get("/users/31").status_code == 404
        created = client.post("/users", json={"name": "e2e"})
        assert created.status_code == 201
        assert created.json()["id"] == 31
        assert "sqla_lab_pool_size 2.0" in client.get("/metrics").text


def test_load_drives_a_running_service(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    load = [sys.executable, "-m", "sqla_lab", "load", "--url", served.url]
    options = ["--users", "2", "--spawn-rate", "2", "--duration", "4", "--seed-users", "30"]
    result = subprocess.run(
        [*load, *options, "--out", str(out), "--json", "-"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    (lab_result,) = load_results(json.loads(result.stdout))
    assert lab_result.lab == "service"
    table = lab_result.table("service.endpoints")
    total = dict(zip(table.columns, table.rows[-1], strict=True))
    assert total["endpoint"] == "Aggregated"
    assert isinstance(total["requests"], int)
    assert total["requests"] > 0
    assert total["failures"] == 0
    assert (out / "load_stats.csv").is_file()
    assert (out / "load.html").is_file()


def _locust_child(pid: int) -> int | None:
    for child in _children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"locust" in command:
            return child
    return None


def test_sigkill_of_load_takes_its_locust_child_with_it(served: Served, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "sqla_lab", "load", "--url", served.url, "--users", "1"]
    command += ["--spawn-rate", "1", "--duration", "120", "--out", str(tmp_path)]
    load = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        locust = None
        while locust is None and time.monotonic() < deadline and load.poll() is None:
            locust = _locust_child(load.pid)
            time.sleep(0.1)
        assert locust is not None, "load never started locust"
        load.kill()
        load.wait()
        deadline = time.monotonic() + 15
        while _alive(locust) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(locust), "locust outlived the load command that started it"
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()


def test_load_fails_when_every_request_fails(tmp_path: Path) -> None:
    # Nothing listens on this port: every request is a connection error.
    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "sqla_lab", "load", "--url", url, "--users", "1"]
    command += ["--spawn-rate", "1", "--duration", "2", "--out", str(tmp_path)]
    result = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=90)
    assert result.returncode == 1, result.stderr
    assert "requests to" in result.stderr
    assert "failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_the_service_and_its_database(served: Served) -> None:
    children = _children(served.process.pid)
    assert children, "the embedded PostgreSQL should be a child of sqla-lab serve"
    served.process.send_signal(signal.SIGINT)
    _, output = served.process.communicate(timeout=30)
    assert served.process.returncode == 130, output
    # Ctrl-C is how the service is stopped: said plainly, not as an error.
    assert "service stopped" in output
    assert "error:" not in output
    assert "Traceback" not in output
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served.url}/healthz", timeout=1)
