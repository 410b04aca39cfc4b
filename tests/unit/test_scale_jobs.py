"""What the scale lab's workers are asked and answer: engine arguments, errors, JSON."""

from __future__ import annotations

import json

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from sqla_lab.labs.scale._common import RunSummary, errors_table
from sqla_lab.labs.scale._jobs import (
    EngineSpec,
    ErrorCount,
    Job,
    JobResult,
    describe_error,
    merge_errors,
    unique_statement_name,
)


def test_default_engine_is_a_queue_pool_with_no_driver_arguments() -> None:
    assert EngineSpec(pool_size=4, max_overflow=4).engine_kwargs() == {
        "connect_args": {},
        "pool_size": 4,
        "max_overflow": 4,
    }


def test_every_fix_becomes_a_driver_argument() -> None:
    kwargs = EngineSpec(
        pool="null",
        prepared_statement_cache_size=0,
        statement_cache_size=0,
        unique_statement_names=True,
        synchronous_commit="remote_apply",
    ).engine_kwargs()
    assert kwargs["poolclass"] is NullPool
    assert "pool_size" not in kwargs
    args = kwargs["connect_args"]
    assert args["prepared_statement_cache_size"] == 0
    assert args["statement_cache_size"] == 0
    assert args["server_settings"] == {"synchronous_commit": "remote_apply"}
    names = {args["prepared_statement_name_func"]() for _ in range(3)}
    assert len(names) == 3
    assert all(n.startswith("__asyncpg_") and n.endswith("__") for n in names)


@pytest.mark.parametrize(
    ("spec", "connections"),
    [
        pytest.param(EngineSpec(pool_size=4, max_overflow=4), 8, id="queue"),
        pytest.param(EngineSpec(pool="null"), None, id="null"),
    ],
)
def test_connections_an_engine_may_hold(spec: EngineSpec, connections: int | None) -> None:
    assert spec.connections == connections


def test_job_and_result_cross_the_process_boundary_as_json() -> None:
    job = Job(
        kind="http",
        url="http://127.0.0.1:1",
        engine=EngineSpec(pool="null", statement_cache_size=0),
        concurrency=16,
        duration_s=None,
        max_user_id=300,
        stagger_ms=20.0,
    )
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    result = JobResult(
        pid=1,
        requests=3,
        errors=(
            ErrorCount(error="HTTP 503", driver_error=None, sqlstate=None, message="", count=2),
        ),
        first_error_after=1,
        latencies_ms=(1.5, 2.25, 3.0),
        connections_opened=2,
        elapsed_s=0.5,
    )
    assert JobResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert result.failures == 2


def _wrapped(driver: BaseException) -> sa_exc.DBAPIError:
    """The shape SQLAlchemy's asyncpg dialect raises: DBAPIError over an adapted error over
    asyncpg's own exception."""
    adapted = RuntimeError(str(driver))
    adapted.__cause__ = driver
    return sa_exc.DBAPIError("SELECT 1", None, adapted)


def test_describe_error_names_the_application_driver_and_sqlstate() -> None:
    error = describe_error(
        _wrapped(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"))
    )
    assert error.error == "sqlalchemy.exc.DBAPIError"
    assert error.driver_error == "asyncpg.exceptions.TooManyConnectionsError"
    assert error.sqlstate == "53300"
    assert "sorry, too many clients already" in error.message


def test_generated_statement_names_are_made_uniform() -> None:
    first = describe_error(
        _wrapped(
            asyncpg.exceptions.InvalidSQLStatementNameError(
                'prepared statement "__asyncpg_stmt_1a__" does not exist'
            )
        )
    )
    second = describe_error(
        _wrapped(
            asyncpg.exceptions.InvalidSQLStatementNameError(
                'prepared statement "__asyncpg_stmt_2b__" does not exist'
            )
        )
    )
    assert first.sqlstate == "26000"
    assert first.message == second.message
    assert "__asyncpg_NAME__" in first.message


def test_an_error_without_a_driver_error() -> None:
    error = describe_error(TimeoutError("slow"))
    assert (error.error, error.driver_error, error.sqlstate) == (
        "builtins.TimeoutError",
        None,
        None,
    )


def test_merge_adds_up_kinds_and_sorts_by_count() -> None:
    a = ErrorCount(error="E", driver_error="D", sqlstate="26000", message="first", count=2)
    b = ErrorCount(error="E", driver_error="D", sqlstate="26000", message="second", count=3)
    c = ErrorCount(error="F", driver_error=None, sqlstate=None, message="other", count=1)
    merged = merge_errors([[a, c], [b]])
    assert [(e.error, e.count, e.message) for e in merged] == [("E", 5, "first"), ("F", 1, "other")]


def test_run_summary_adds_up_workers() -> None:
    def result(pid: int, requests: int, first: int | None) -> JobResult:
        errors = (
            (ErrorCount(error="E", driver_error=None, sqlstate="1", message="m", count=1),)
            if first is not None
            else ()
        )
        return JobResult(
            pid=pid,
            requests=requests,
            errors=errors,
            first_error_after=first,
            latencies_ms=tuple(float(i) for i in range(requests)),
            connections_opened=4,
            elapsed_s=2.0,
        )

    run = RunSummary.of([result(1, 10, None), result(2, 6, 4), result(3, 4, 2)], server_peak=7)
    assert run.workers == 3
    assert run.requests == 20
    assert run.failures == 2
    assert run.requests_per_s == 10.0
    assert run.first_error_after == 2
    assert run.connections_opened == 12
    assert run.server_peak == 7
    table = errors_table("k", "t", [("run", run), ("none", None)])
    assert table.rows == (("run", "E", None, "1", 2, "m"),)


def test_unique_names_never_repeat() -> None:
    assert len({unique_statement_name() for _ in range(1000)}) == 1000
