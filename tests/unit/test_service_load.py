"""Load-run plumbing without a database: locust CSV parsing, options, results, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from typer.testing import CliRunner

from sqla_lab.cli import app
from sqla_lab.errors import ConfigurationError
from sqla_lab.lab.results import Environment, dump_results, load_results
from sqla_lab.service.errors import (
    DatabaseFailure,
    DeadlineExceeded,
    classify,
    commit_may_have_happened,
)
from sqla_lab.service.load import (
    LoadError,
    LoadRun,
    LoadSpec,
    check_loopback,
    read_stats_csv,
    sweep_result,
)

STATS_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
GET,GET /users/{id},698,2,29,32.8,21.0,112.7,588.3,174.59,0.5,29,31,33,34,37,73,100,100,110,110,110
GET,GET /users?strategy=selectin,352,0,31,36.5,22.7,110.9,11791.2,88.04,0.0,31,34,35,36,40,86,100,100,110,110,110
,Aggregated,1050,2,30,34.0,21.0,112.7,4300.0,262.63,0.5,30,32,34,35,38,78,100,100,110,110,110
"""  # noqa: E501 - locust's header, verbatim


@pytest.fixture
def stats_csv(tmp_path: Path) -> Path:
    path = tmp_path / "load_stats.csv"
    path.write_text(STATS_CSV)
    return path


def test_read_stats_csv_splits_endpoints_and_aggregate(stats_csv: Path) -> None:
    endpoints, total = read_stats_csv(stats_csv)
    assert [e.name for e in endpoints] == ["GET /users/{id}", "GET /users?strategy=selectin"]
    assert (endpoints[0].requests, endpoints[0].failures, endpoints[0].p95_ms) == (698, 2, 73.0)
    assert total.name == "Aggregated"
    assert (total.requests, total.failures) == (1050, 2)
    assert total.requests_per_s == pytest.approx(262.63)
    assert (total.p50_ms, total.p95_ms, total.p99_ms, total.max_ms) == (30.0, 78.0, 100.0, 112.7)


def test_read_stats_csv_without_a_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="wrote no statistics"):
        read_stats_csv(tmp_path / "missing_stats.csv")


def _run(stats_csv: Path, users: int = 10) -> LoadRun:
    endpoints, total = read_stats_csv(stats_csv)
    return LoadRun(
        url="http://127.0.0.1:1",
        spec=LoadSpec(users=users, duration_s=5),
        endpoints=endpoints,
        total=total,
        wall_s=6.0,
        csv_prefix=stats_csv.with_name("load"),
        html_report=stats_csv.with_name("load.html"),
    )


def test_sweep_result_is_a_plottable_lab_result(stats_csv: Path) -> None:
    environment = Environment.current(postgresql="18.4", embedded=True)
    result = sweep_result(
        [(1, _run(stats_csv)), (5, _run(stats_csv))], environment=environment, duration_s=12.0
    )
    sweep = result.table("service.pool_sweep")
    assert sweep.column("pool_size") == (1, 5)
    assert sweep.column("requests_per_s") == (262.63, 262.63)
    assert sweep.column("failures") == (2, 2)
    assert {c.key: (c.kind, c.x, c.y) for c in result.charts} == {
        "service.pool_sweep.throughput": ("line", "pool_size", ("requests_per_s",)),
        "service.pool_sweep.latency": ("line", "pool_size", ("p50_ms", "p95_ms")),
    }
    assert load_results(json.loads(json.dumps(dump_results([result])))) == [result]


def test_single_run_result_has_the_endpoint_table_only(stats_csv: Path) -> None:
    environment = Environment.current(postgresql="18.4", embedded=True)
    result = sweep_result([(None, _run(stats_csv))], environment=environment, duration_s=6.0)
    assert [t.key for t in result.tables] == ["service.endpoints"]
    assert result.charts == ()
    assert result.table("service.endpoints").column("endpoint")[-1] == "Aggregated"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://example.com", id="remote-host"),
        pytest.param("ftp://127.0.0.1/", id="not-http"),
        pytest.param("127.0.0.1:8000", id="no-scheme"),
    ],
)
def test_load_refuses_urls_off_this_machine(url: str) -> None:
    with pytest.raises(ConfigurationError, match="on this machine"):
        check_loopback(url)


def test_loopback_urls_are_accepted() -> None:
    assert check_loopback("http://localhost:8000/") == "http://localhost:8000"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"users": 0}, "users >= 1", id="no-users"),
        pytest.param({"duration_s": 0}, "duration >= 1", id="no-duration"),
        pytest.param({"scenario": "nope"}, "unknown scenario", id="bad-scenario"),
    ],
)
def test_load_spec_validates(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LoadSpec(**options)  # type: ignore[arg-type]  # wrong values on purpose


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--url", "http://example.com"], "on this machine", id="remote-url"),
        pytest.param(["--pool-sweep", "1,x"], "--pool-sweep takes", id="bad-sweep"),
        pytest.param(["--pool-sweep", "0,2"], "pool sizes >= 1", id="zero-pool"),
        pytest.param(
            ["--url", "http://127.0.0.1:1", "--pool-sweep", "1,2"], "no --url", id="sweep-url"
        ),
        pytest.param(["--scenario", "nope"], "is not one of", id="bad-scenario"),
    ],
)
def test_load_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["load", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


class _FakeDriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("driver says no")
        self.sqlstate = sqlstate


def _dbapi_error(sqlstate: str) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", None, _FakeDriverError(sqlstate))


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        pytest.param(
            sa_exc.TimeoutError("QueuePool limit"), DatabaseFailure.POOL_EXHAUSTED, id="pool"
        ),
        pytest.param(_dbapi_error("57014"), DatabaseFailure.STATEMENT_TIMEOUT, id="57014"),
        pytest.param(_dbapi_error("57P01"), DatabaseFailure.UNAVAILABLE, id="admin-shutdown"),
        pytest.param(_dbapi_error("08006"), DatabaseFailure.UNAVAILABLE, id="connection-failure"),
        pytest.param(_dbapi_error("28P01"), DatabaseFailure.UNAVAILABLE, id="bad-password"),
        pytest.param(
            ConnectionRefusedError(111, "refused"), DatabaseFailure.UNAVAILABLE, id="refused"
        ),
        pytest.param(_dbapi_error("23505"), DatabaseFailure.OTHER, id="unique-violation"),
    ],
)
def test_classify_database_errors(error: BaseException, failure: DatabaseFailure) -> None:
    assert classify(error) is failure


def test_create_app_needs_a_database_url() -> None:
    from sqla_lab import Settings
    from sqla_lab.service import create_app

    with pytest.raises(ConfigurationError, match="database URL"):
        create_app(Settings(database_url=None))


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver says no")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "may_have_happened"),
    [
        pytest.param(TimeoutError(), True, id="deadline"),
        pytest.param(ConnectionResetError(), True, id="connection-reset"),
        pytest.param(_DriverError(None), True, id="no-sqlstate"),
        pytest.param(_DriverError("08006"), True, id="connection-failure"),
        pytest.param(_DriverError("57P01"), True, id="admin-shutdown"),
        pytest.param(_DriverError("40001"), False, id="serialization-failure"),
        pytest.param(_DriverError("23505"), False, id="unique-violation"),
    ],
)
def test_a_failed_commit_is_unconfirmed_unless_the_server_answered_with_an_error(
    error: BaseException, may_have_happened: bool
) -> None:
    assert commit_may_have_happened(error) is may_have_happened


def test_a_passed_deadline_is_its_own_failure() -> None:
    assert classify(DeadlineExceeded(1.0)) is DatabaseFailure.DEADLINE
