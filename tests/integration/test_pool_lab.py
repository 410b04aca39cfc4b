"""The ``pool`` lab in quick mode: every behaviour it reports, asserted exactly."""

from __future__ import annotations

import asyncio

import pytest

from sqla_lab import PostgresServer, Settings
from sqla_lab.lab import LabResult, Verdict, run_labs
from sqla_lab.lab.messages import render_text
from sqla_lab.lab.results import Finding
from sqla_lab.labs import ALL_LABS, connect_lab, pool_lab

BOOL_TRUE = 1.0


@pytest.fixture(scope="module")
def result(postgres: PostgresServer) -> LabResult:
    (lab_result,) = asyncio.run(
        run_labs([pool_lab], server=postgres, settings=Settings(), quick=True)
    )
    return lab_result


def _value(finding: Finding, name: str) -> float:
    return finding.measurement(name).value


def test_pool_lab_runs_after_connect() -> None:
    assert ALL_LABS.index(pool_lab) == ALL_LABS.index(connect_lab) + 1


def test_reports_every_finding_of_the_issue(result: LabResult) -> None:
    assert [f.key for f in result.findings] == [
        "pool.new-connection-breakdown",
        "pool.returned-on-session-end",
        "pool.pre-ping-cost",
        "pool.pre-ping-protects",
        "pool.recycle",
        "pool.timeout",
        "pool.overflow",
        "pool.statement-timeout",
        "pool.command-timeout",
        "pool.settings",
        "pool.half-open",
        "pool.half-open-remedies",
    ]
    assert LabResult.from_dict(result.to_dict()) == result
    chart_tables = {c.table for c in result.charts if c.table}
    assert chart_tables <= {t.key for t in result.tables}


def test_breakdown_has_at_least_the_steps_every_server_allows(result: LabResult) -> None:
    finding = result.finding("new-connection-breakdown")
    names = {m.name for m in finding.measurements if m.samples}
    assert {
        "TCP connect",
        "asyncpg connect, scram-sha-256",
        "SQLAlchemy connect (NullPool, initialised dialect)",
        "SQLAlchemy first connect (fresh engine)",
        "pooled checkout (QueuePool)",
    } <= names
    assert all(len(m.samples) == 15 for m in finding.measurements if m.samples)
    ratio = finding.measurement("new (SQLAlchemy first connect) / pooled")
    assert ratio.interval is not None
    assert ratio.interval.n == 15
    steps = result.table("new-connection-steps")
    assert steps.column("step")[-1] == "pooled checkout (QueuePool)"
    if result.environment.embedded:
        assert "asyncpg connect, trust" in names


def test_pre_ping_saves_the_request_after_a_backend_is_killed(result: LabResult) -> None:
    finding = result.finding("pre-ping-protects")
    assert finding.verdict is Verdict.CONFIRMED
    rows = {row[0]: row for row in result.table("pre-ping-after-kill").rows}
    _, before, gone, next_pid, next_outcome, after_pid = rows["without pre-ping"]
    assert gone is True
    assert next_pid is None
    assert next_outcome == "sqlalchemy.exc.InterfaceError"
    assert isinstance(after_pid, int)
    assert after_pid != before  # the pool threw the dead connection away
    _, before, gone, next_pid, next_outcome, after_pid = rows["with pre-ping"]
    assert (gone, next_outcome) == (True, "ok")
    assert isinstance(next_pid, int)
    assert next_pid != before
    assert after_pid == next_pid
    cost = result.finding("pre-ping-cost")
    assert len(cost.measurement("checkout + SELECT 1, with pre-ping").samples) == 100
    overhead = cost.measurement("pre-ping overhead")
    assert overhead.kind == "difference"
    assert overhead.interval is not None
    assert overhead.interval.n == 100


def test_recycle_replaces_old_connections_but_not_dead_young_ones(result: LabResult) -> None:
    finding = result.finding("recycle")
    assert _value(finding, "pid kept while younger than pool_recycle") == BOOL_TRUE
    assert _value(finding, "pid changed once older than pool_recycle") == BOOL_TRUE
    assert _value(finding, "request failed after an early death") == BOOL_TRUE
    assert finding.verdict is Verdict.CONFIRMED


def test_eleventh_checkout_times_out_after_about_a_second(result: LabResult) -> None:
    finding = result.finding("timeout")
    assert _value(finding, "11th checkout raised sqlalchemy.exc.TimeoutError") == BOOL_TRUE
    assert 0.8 <= _value(finding, "11th checkout gave up after") <= 3.0
    assert _value(finding, "peak checked out (30 requests)") == 10
    assert finding.verdict is Verdict.CONFIRMED
    waits = result.table("exhausted-waits")
    assert len(waits.rows) == 30
    assert all(waits.column("got a connection"))
    # Ten got a connection at once, the other twenty queued behind 0.1 s holds.
    queued = [w for w in waits.column("wait ms") if isinstance(w, float) and w >= 50]
    assert len(queued) == 20


def test_overflow_connections_are_closed_on_return(result: LabResult) -> None:
    table = result.table("overflow-steps")
    assert tuple(render_text(step) for step in table.column("step")) == (
        "start", "check out #1", "check out #2", "check out #3", "check out #4",
        "return #4", "return #3", "return #2", "return #1",
    )  # fmt: skip
    assert table.column("checked out") == (0, 1, 2, 3, 4, 3, 2, 1, 0)
    assert table.column("checked in") == (0, 0, 0, 0, 0, 1, 2, 2, 2)
    assert table.column("overflow") == (-2, -1, 0, 1, 2, 2, 2, 1, 0)
    assert table.column("connects so far") == (0, 1, 2, 3, 4, 4, 4, 4, 4)
    assert table.column("closes so far") == (0, 0, 0, 0, 0, 0, 0, 1, 2)
    assert table.column("server backends") == (0, 1, 2, 3, 4, 4, 4, 3, 2)
    assert table.column("pool.status()")[-1] == (
        "Pool size: 2  Connections in pool: 2 Current Overflow: 0 "
        "Current Checked out connections: 0"
    )
    assert result.finding("overflow").verdict is Verdict.CONFIRMED


def test_statement_timeout_cancels_and_keeps_the_connection(result: LabResult) -> None:
    finding = result.finding("statement-timeout")
    assert _value(finding, "pg_sleep(1.1) cancelled (SQLSTATE 57014)") == BOOL_TRUE
    assert 0.8 <= _value(finding, "time until the error") <= 3.0
    assert _value(finding, "same backend usable afterwards") == BOOL_TRUE
    assert "sqlalchemy.exc.DBAPIError" in str(finding.explanation)
    assert finding.verdict is Verdict.CONFIRMED
    assert finding.versions.keys() == {"postgresql", "asyncpg"}


def test_connection_goes_back_at_commit_and_at_close(result: LabResult) -> None:
    finding = result.finding("returned-on-session-end")
    assert finding.verdict is Verdict.CONFIRMED
    table = result.table("session-connection")
    steps = {row[0]: row[1:] for row in table.rows}
    assert steps["session created"][:2] == (0, 0)
    assert steps["first statement"][:2] == (1, 0)
    assert steps["commit (session still open)"][:2] == (0, 1)
    assert steps["next statement"][:2] == (1, 0)
    assert steps["close"][:2] == (0, 1)
    assert steps["a session left open after a statement"][:2] == (1, 0)
    assert steps["that session closed"][:2] == (0, 1)
    pid = steps["first statement"][2]
    assert isinstance(pid, int)
    assert steps["next statement"][2] == steps["next session, first statement"][2] == pid


def test_command_timeout_raises_timeout_error_and_costs_the_connection(result: LabResult) -> None:
    finding = result.finding("command-timeout")
    assert _value(finding, "command_timeout=0.5: raised builtins.TimeoutError") == BOOL_TRUE
    assert 0.4 <= _value(finding, "command_timeout: time until the error") <= 3.0
    assert _value(finding, "command_timeout: backend still on the server") == 0.0
    assert _value(finding, "command_timeout: next checkout on the same backend") == 0.0
    # Unlike statement_timeout (DBAPIError, connection kept): the outcome depends on which.
    assert finding.verdict is Verdict.DEPENDS
    (dependency,) = finding.depends_on
    assert dependency.name == "statement_timeout or command_timeout"
    assert str(dependency.detail) == (
        "statement_timeout: sqlalchemy.exc.DBAPIError, connection kept: yes; "
        "command_timeout: builtins.TimeoutError, connection kept: no"
    )


def test_settings_table_is_read_from_the_installed_libraries(result: LabResult) -> None:
    finding = result.finding("settings")
    assert _value(finding, "seed settings SQLAlchemy's pool has") == 3
    assert finding.verdict is Verdict.DEPENDS
    assert _value(finding, "connects for the first requests, cold") == 1
    assert _value(finding, "connects for the first requests, pre-warmed") == 0
    assert _value(finding, "distinct backends, FIFO") == 3
    assert _value(finding, "distinct backends, LIFO") == 1
    table = result.table("settings")
    rows = {row[0]: row[1:4] for row in table.rows}
    assert rows["Max Overflow"] == ("max_overflow", "-", "-")
    assert rows["Pool Timeout"] == ("pool_timeout", "-", "timeout")
    assert rows["Max Idle Time"] == ("-", "max_inactive_connection_lifetime", "max_idle")
    assert not any("missing" in str(cell) for row in table.rows for cell in row)


def test_half_open_connection_is_bounded_only_by_client_timeouts(result: LabResult) -> None:
    finding = result.finding("half-open")
    assert _value(finding, "defaults: still waiting at the end of the window") == BOOL_TRUE
    assert _value(finding, "statement_timeout: still waiting") == BOOL_TRUE
    assert _value(finding, "pool_pre_ping: still waiting") == BOOL_TRUE
    assert finding.verdict is Verdict.CONFIRMED
    remedies = result.finding("half-open-remedies")
    assert 0.2 <= _value(remedies, "connect_args command_timeout=0.25: released after") <= 2.0
    assert (
        0.2 <= _value(remedies, "connect_args timeout=0.25 (new connection): released after") <= 2.0
    )
    assert remedies.verdict is Verdict.CONFIRMED
    # The explanation says what each timeout did, as measured.
    assert "command_timeout=0.25: ended after" in str(remedies.explanation)
    rows = {row[0]: row for row in result.table("half-open-requests").rows}
    assert rows["connect_args command_timeout=0.25"][3] == "builtins.TimeoutError"
    assert rows["connect_args timeout=0.25 (new connection)"][3] == "builtins.TimeoutError"
    assert rows["asyncio.timeout(0.25) around the request"][3] == "builtins.TimeoutError"
    assert str(rows["defaults"][1]).startswith("still waiting")
