"""``sqla-lab run scale --quick`` as a user runs it: real processes, PgBouncer and a replica.

One run of the lab (about a minute) feeds every behaviour test below; then the ways it can
end (an error, Ctrl-C) are checked to leave no process and no directory behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sqla_lab.lab.messages import render_text
from sqla_lab.lab.results import Cell, LabResult, Verdict, dump_results, load_results
from sqla_lab.labs.scale._pgbouncer import find_pgbouncer, pgbouncer_version
from tests.helpers import leaked_scale_processes, pgbouncers, postmaster_pids

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

PGBOUNCER = find_pgbouncer(None)
needs_pgbouncer = pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer is not installed")

FINDINGS = {
    "scale.max-connections",
    "scale.pgbouncer-transaction-pool",
    "scale.prepared-statement-clash",
    "scale.prepared-statement-fixes",
    "scale.app-pool-behind-pgbouncer",
    "scale.replica-read-your-writes",
    "scale.remote-apply-cost",
    "scale.service-workers",
    "scale.service-through-pgbouncer",
}


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.update(COLUMNS="120", NO_COLOR="1", TMPDIR=str(tmp), **extra)
    return env


def _private_tmp() -> Path:
    # The embedded servers run as an unprivileged user when we are root: it must get in.
    tmp = Path(tempfile.mkdtemp(prefix="sqla-lab-scale-test-"))
    tmp.chmod(0o755)
    return tmp


def _start(tmp: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sqla_lab", "run", "scale", *args],
        env=_env(tmp, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _leftovers(tmp: Path, keep: Collection[str] = ()) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name not in keep)


def _int(cell: Cell) -> int:
    assert isinstance(cell, int), cell
    return cell


@dataclass(frozen=True)
class QuickRun:
    returncode: int
    stderr: str
    pid: int
    tmp: Path
    document: dict[str, Any]
    result: LabResult

    def rows(self, table: str) -> list[dict[str, Cell]]:
        found = self.result.table(table)
        return [dict(zip(found.columns, row, strict=True)) for row in found.rows]


def _without_rendering(document: Any) -> Any:
    if isinstance(document, dict):
        return {
            k: _without_rendering(v)
            for k, v in document.items()
            if k not in ("rendered", "language")
        }
    if isinstance(document, list):
        return [_without_rendering(v) for v in document]
    return document


@pytest.fixture(scope="module")
def quick_run() -> Iterator[QuickRun]:
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed")
    tmp = _private_tmp()
    out = tmp / "scale.json"
    process = _start(tmp, "--quick", "--json", str(out))
    try:
        _, stderr = process.communicate(timeout=400)
        assert out.exists(), stderr
        document = json.loads(out.read_text())
        (result,) = load_results(document)
        yield QuickRun(process.returncode, stderr, process.pid, tmp, document, result)
    finally:
        process.kill()
        process.communicate()
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_run_ends_cleanly_and_leaves_nothing(quick_run: QuickRun) -> None:
    assert quick_run.returncode == 0, quick_run.stderr
    assert "Traceback" not in quick_run.stderr
    assert postmaster_pids(owner=quick_run.pid) == []
    assert leaked_scale_processes(quick_run.pid) == []
    assert _leftovers(quick_run.tmp, {"scale.json"}) == []


def test_results_round_trip_through_json(quick_run: QuickRun) -> None:
    # The file adds what a reader sees ("language", "rendered" blocks) to the stable document.
    assert dump_results([quick_run.result]) == _without_rendering(quick_run.document)
    assert {f.key for f in quick_run.result.findings} == FINDINGS


def test_workers_beyond_max_connections_are_refused_with_53300(quick_run: QuickRun) -> None:
    finding = quick_run.result.finding("max-connections")
    assert finding.verdict is Verdict.CONFIRMED, finding.explanation
    assert finding.measurement("first failing worker count, observed").value == 3
    errors = quick_run.rows("scale.connections.errors")
    assert {render_text(row["run"]) for row in errors} == {"direct, 3 workers"}
    for row in errors:
        assert row["error"] == "sqlalchemy.exc.DBAPIError"
        assert row["driver_error"] == "asyncpg.exceptions.TooManyConnectionsError"
        assert row["sqlstate"] == "53300"
        assert "sorry, too many clients already" in str(row["message"])


def test_the_same_load_through_pgbouncer_succeeds_on_its_pool(quick_run: QuickRun) -> None:
    finding = quick_run.result.finding("pgbouncer-transaction-pool")
    assert finding.verdict is Verdict.CONFIRMED, finding.explanation
    pooled = [r for r in quick_run.rows("scale.connections") if r["route"] != "direct"]
    assert [r["workers"] for r in pooled] == [1, 2, 3]
    assert all(r["errors"] == 0 for r in pooled)
    assert all(_int(r["requests"]) > 0 for r in pooled)
    assert all(_int(r["server_connections"]) <= 6 for r in pooled)


def test_defaults_clash_on_prepared_statements_in_transaction_mode(quick_run: QuickRun) -> None:
    finding = quick_run.result.finding("prepared-statement-clash")
    assert finding.verdict is Verdict.CONFIRMED, finding.explanation
    one_worker = [
        r
        for r in quick_run.rows("scale.prepared-statements.errors")
        if render_text(r["run"]) == "defaults, 1 worker"
    ]
    assert (
        "sqlalchemy.exc.DBAPIError",
        "asyncpg.exceptions.InvalidSQLStatementNameError",
        "26000",
    ) in {(r["error"], r["driver_error"], r["sqlstate"]) for r in one_worker}


def test_each_documented_fix_removes_the_clash(quick_run: QuickRun) -> None:
    finding = quick_run.result.finding("prepared-statement-fixes")
    assert finding.verdict is Verdict.CONFIRMED, finding.explanation
    rows = {r["variant"]: r for r in quick_run.rows("scale.prepared-statements")}
    for fix in ("both caches off", "unique names + NullPool", "session mode"):
        assert rows[fix]["documented_fix"] is True
        assert rows[fix]["errors"] == 0, fix
        assert _int(rows[fix]["requests"]) > 0, fix
        assert isinstance(rows[fix]["cost_vs_direct"], float), fix
    assert PGBOUNCER is not None
    tracked = rows["max_prepared_statements"]
    if pgbouncer_version(PGBOUNCER)[:2] < (1, 21):
        assert tracked["requests"] is None
        assert str(tracked["error_kinds"]).startswith("not available: PgBouncer 1.")
    else:
        assert tracked["errors"] == 0


def test_nullpool_opens_a_client_connection_per_request(quick_run: QuickRun) -> None:
    rows = {r["app_pool"]: r for r in quick_run.rows("scale.app-pool")}
    null, queue = rows["NullPool"], rows["QueuePool"]
    assert null["errors"] == 0
    assert queue["errors"] == 0
    assert null["client_connections_opened"] == null["requests"]
    assert _int(queue["client_connections_opened"]) <= 8  # 2 workers × pool_size 4
    for row in (null, queue):
        assert _int(row["server_connections"]) <= 6


def test_a_replica_read_can_miss_the_write_but_never_with_remote_apply(
    quick_run: QuickRun,
) -> None:
    finding = quick_run.result.finding("replica-read-your-writes")
    assert finding.verdict is Verdict.CONFIRMED, finding.explanation
    rows = {r["synchronous_commit"]: r for r in quick_run.rows("scale.replica")}
    assert _int(rows["local"]["missed_reads"]) > 0
    assert rows["remote_apply"]["missed_reads"] == 0
    assert rows["remote_apply"]["probes"] == rows["local"]["probes"] == 50


def test_the_service_through_pgbouncer_stays_on_its_pool(quick_run: QuickRun) -> None:
    rows = {(r["route"], r["uvicorn_workers"]): r for r in quick_run.rows("scale.service")}
    assert set(rows) == {("direct", 1), ("direct", 2), ("PgBouncer", 1), ("PgBouncer", 2)}
    assert all(r["errors"] == 0 for r in rows.values())
    assert all(_int(r["requests"]) > 0 for r in rows.values())
    for workers in (1, 2):
        assert _int(rows[("PgBouncer", workers)]["server_connections"]) <= 6
        assert _int(rows[("direct", workers)]["server_connections"]) <= 5 * workers
    assert quick_run.rows("scale.service.errors") == []


def test_the_report_draws_every_chart_of_the_lab(quick_run: QuickRun) -> None:
    from sqla_lab.report.html import render_report

    rendered = render_report([quick_run.result])
    assert rendered.problems == ()
    for chart in quick_run.result.charts:
        assert f'data-chart="{chart.key}"' in rendered.html
    for finding in quick_run.result.findings:
        assert f'data-key="{finding.key}"' in rendered.html


@needs_pgbouncer
def test_a_pgbouncer_failing_to_start_is_one_line_and_leaves_nothing() -> None:
    tmp = _private_tmp()
    fake = tmp / "fake-pgbouncer"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "PgBouncer 1.18.0"; exit 0; fi\n'
        'echo "FATAL fake pgbouncer refuses to start" >&2\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    process = _start(tmp, "--quick", SQLA_LAB_PGBOUNCER=str(fake))
    try:
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 2, stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, stderr
        assert "pgbouncer exited at start-up with code 1" in lines[0]
        assert "FATAL fake pgbouncer refuses to start" in lines[0]
        assert postmaster_pids(owner=process.pid) == []
        assert leaked_scale_processes(process.pid) == []
        assert _leftovers(tmp, {"fake-pgbouncer"}) == []
    finally:
        process.kill()
        process.communicate()
        shutil.rmtree(tmp, ignore_errors=True)


@needs_pgbouncer
def test_ctrl_c_stops_every_process_and_deletes_every_directory() -> None:
    tmp = _private_tmp()
    process = _start(tmp, "--quick")
    try:
        deadline = time.monotonic() + 120
        while process.pid not in pgbouncers().values() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.pid in pgbouncers().values(), "the run never started its PgBouncer"
        time.sleep(1.0)  # into the first finding: worker processes are busy
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=90)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert "interrupted" in stderr
        assert postmaster_pids(owner=process.pid) == []
        assert leaked_scale_processes(process.pid) == []
        assert _leftovers(tmp) == []
    finally:
        process.kill()
        process.communicate()
        shutil.rmtree(tmp, ignore_errors=True)


def test_replica_url_without_its_primary_is_exit_2() -> None:
    tmp = _private_tmp()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "sqla_lab",
                "run",
                "scale",
                "--replica-url",
                "postgresql://u:p@127.0.0.1:1/db",
            ],
            env=_env(tmp),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2
        assert result.stderr.strip() == (
            "error: --replica-url needs --database-url (or DATABASE_URL) naming its primary"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_an_unreachable_pgbouncer_url_is_exit_2_before_the_lab_starts_anything() -> None:
    tmp = _private_tmp()
    process = _start(tmp, "--quick", "--pgbouncer-url", "postgresql://u:p@127.0.0.1:1/db")
    try:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, stderr
        assert lines[0].startswith("error: cannot connect to u@127.0.0.1:1/db")
        assert postmaster_pids(owner=process.pid) == []
        assert leaked_scale_processes(process.pid) == []
        assert _leftovers(tmp) == []
    finally:
        process.kill()
        process.communicate()
        shutil.rmtree(tmp, ignore_errors=True)
