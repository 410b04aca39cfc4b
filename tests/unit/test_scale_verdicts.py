"""The scale lab's verdicts follow from the numbers (no database, no processes)."""

from __future__ import annotations

import pytest

from sqla_lab.lab.results import Verdict
from sqla_lab.labs.scale._app_pool import judge_app_pool
from sqla_lab.labs.scale._common import RunSummary
from sqla_lab.labs.scale._connections import (
    first_failing_workers,
    judge_max_connections,
    judge_pgbouncer,
)
from sqla_lab.labs.scale._jobs import ErrorCount
from sqla_lab.labs.scale._prepared_findings import judge_clash, judge_fixes
from sqla_lab.labs.scale._replica import (
    _Probes,
    judge_read_your_writes,
    judge_remote_apply_cost,
)
from sqla_lab.labs.scale._service import judge_service_pgbouncer, judge_service_workers
from sqla_lab.labs.scale._variants import (
    ASYNCPG_CACHE_ONLY,
    BOTH_CACHES,
    SA_CACHE_ONLY,
    SESSION_MODE,
    TRACKED,
    UNIQUE_NULLPOOL,
    Outcome,
)

TOO_MANY = ErrorCount(
    error="sqlalchemy.exc.DBAPIError",
    driver_error="asyncpg.exceptions.TooManyConnectionsError",
    sqlstate="53300",
    message="(sqlalchemy.dialects.postgresql.asyncpg.Error) sorry, too many clients already",
    count=5,
)
MISSING_STATEMENT = ErrorCount(
    error="sqlalchemy.exc.DBAPIError",
    driver_error="asyncpg.exceptions.InvalidSQLStatementNameError",
    sqlstate="26000",
    message='prepared statement "__asyncpg_NAME__" does not exist',
    count=7,
)
TIMEOUT = ErrorCount(
    error="builtins.TimeoutError", driver_error=None, sqlstate=None, message="", count=1
)


def run(
    *,
    workers: int = 1,
    requests: int = 100,
    errors: tuple[ErrorCount, ...] = (),
    rate: float = 100.0,
    peak: int | None = None,
    latency: float = 1.0,
    opened: int = 4,
) -> RunSummary:
    return RunSummary(
        workers=workers,
        requests=requests,
        errors=errors,
        requests_per_s=rate,
        latencies_ms=(latency,) * 5,
        connections_opened=opened,
        first_error_after=0 if errors else None,
        server_peak=peak,
        leftover=0,
    )


@pytest.mark.parametrize(
    ("free", "per_worker", "workers"),
    [
        pytest.param(19, 8, 3, id="19-slots-8-each"),
        pytest.param(16, 8, 3, id="exactly-two-fit"),
        pytest.param(7, 8, 1, id="not-even-one"),
    ],
)
def test_first_failing_workers(free: int, per_worker: int, workers: int) -> None:
    assert first_failing_workers(free, per_worker) == workers


@pytest.mark.parametrize(
    ("failures_by_workers", "verdict"),
    [
        pytest.param({1: (), 2: (), 3: (TOO_MANY,)}, Verdict.CONFIRMED, id="starts-at-3"),
        pytest.param({1: (), 2: (), 3: ()}, Verdict.REFUTED, id="never-refused"),
        pytest.param({1: (), 2: (TOO_MANY,), 3: (TOO_MANY,)}, Verdict.DEPENDS, id="starts-early"),
        pytest.param({1: (), 2: (), 3: (TIMEOUT,)}, Verdict.DEPENDS, id="other-error"),
        pytest.param({1: (), 2: ()}, Verdict.INCONCLUSIVE, id="sweep-too-short"),
    ],
)
def test_max_connections_verdict(
    failures_by_workers: dict[int, tuple[ErrorCount, ...]], verdict: Verdict
) -> None:
    direct = {
        w: run(workers=w, errors=e, peak=min(8 * w, 19)) for w, e in failures_by_workers.items()
    }
    finding = judge_max_connections(direct, per_worker=8)
    assert finding.verdict is verdict
    assert finding.measurement("first failing worker count, predicted").value == 3


@pytest.mark.parametrize(
    ("pooled_errors", "peak", "direct_errors", "verdict"),
    [
        pytest.param((), 6, (TOO_MANY,), Verdict.CONFIRMED, id="absorbs"),
        pytest.param((TIMEOUT,), 6, (TOO_MANY,), Verdict.REFUTED, id="fails-too"),
        pytest.param((), 9, (TOO_MANY,), Verdict.DEPENDS, id="over-its-pool"),
        pytest.param((), 6, (), Verdict.INCONCLUSIVE, id="never-needed"),
    ],
)
def test_pgbouncer_verdict(
    pooled_errors: tuple[ErrorCount, ...],
    peak: int,
    direct_errors: tuple[ErrorCount, ...],
    verdict: Verdict,
) -> None:
    pooled = {3: run(workers=3, errors=pooled_errors, peak=peak, rate=50.0)}
    direct = {3: run(workers=3, errors=direct_errors, peak=19, rate=100.0)}
    finding = judge_pgbouncer(pooled, direct)
    assert finding.verdict is verdict
    assert finding.measurement("requests/s through PgBouncer / direct at 3 workers").value == 0.5


@pytest.mark.parametrize(
    ("errors", "verdict"),
    [
        pytest.param((MISSING_STATEMENT,), Verdict.CONFIRMED, id="clash"),
        pytest.param((TIMEOUT,), Verdict.DEPENDS, id="other-failure"),
        pytest.param((), Verdict.REFUTED, id="no-clash"),
    ],
)
def test_clash_verdict(errors: tuple[ErrorCount, ...], verdict: Verdict) -> None:
    finding = judge_clash(run(errors=errors), run(workers=3, errors=errors))
    assert finding.verdict is verdict


def _outcomes(failing: set[str]) -> list[Outcome]:
    measured = (BOTH_CACHES, UNIQUE_NULLPOOL, SESSION_MODE, SA_CACHE_ONLY, ASYNCPG_CACHE_ONLY)
    outcomes = [
        Outcome(
            variant=v,
            run=run(workers=3, errors=(MISSING_STATEMENT,) if v.name in failing else ()),
            cost=None if v.name in failing else 1.5,
        )
        for v in measured
    ]
    outcomes.append(Outcome(variant=TRACKED, run=None, missing="not available: PgBouncer 1.18.0"))
    return outcomes


@pytest.mark.parametrize(
    ("failing", "clashed", "verdict"),
    [
        pytest.param({SA_CACHE_ONLY.name}, True, Verdict.CONFIRMED, id="every-fix-clean"),
        pytest.param({SESSION_MODE.name}, True, Verdict.DEPENDS, id="one-fix-fails"),
        pytest.param(
            {BOTH_CACHES.name, UNIQUE_NULLPOOL.name, SESSION_MODE.name},
            True,
            Verdict.REFUTED,
            id="no-fix-works",
        ),
        pytest.param(set(), False, Verdict.INCONCLUSIVE, id="nothing-to-fix"),
    ],
)
def test_fixes_verdict(failing: set[str], clashed: bool, verdict: Verdict) -> None:
    finding = judge_fixes(_outcomes(failing), clashed=clashed)
    assert finding.verdict is verdict
    assert "max_prepared_statements: not available" in finding.explanation_message.render()


def test_fixes_explanation_names_the_half_that_works() -> None:
    finding = judge_fixes(_outcomes({SA_CACHE_ONLY.name}), clashed=True)
    assert "asyncpg's setting is the half that works" in finding.explanation_message.render()


@pytest.mark.parametrize(
    ("null_latency", "null_peak", "null_errors", "verdict"),
    [
        pytest.param(1.1, 6, (), Verdict.CONFIRMED, id="cheap"),
        pytest.param(1.5, 6, (), Verdict.DEPENDS, id="somewhat-dearer"),
        pytest.param(3.0, 6, (), Verdict.REFUTED, id="much-dearer"),
        pytest.param(1.0, 9, (), Verdict.REFUTED, id="more-server-connections"),
        pytest.param(1.0, 6, (TIMEOUT,), Verdict.INCONCLUSIVE, id="failures"),
    ],
)
def test_app_pool_verdict(
    null_latency: float, null_peak: int, null_errors: tuple[ErrorCount, ...], verdict: Verdict
) -> None:
    queue = run(peak=6, latency=1.0, opened=8)
    null = run(peak=null_peak, latency=null_latency, errors=null_errors, opened=100)
    assert judge_app_pool(queue, null).verdict is verdict


def _probes(local: int, flushed: int, applied: int) -> dict[str, _Probes]:
    def probes(mode: str, misses: int, commit_ms: float) -> _Probes:
        return _Probes(mode=mode, commit_ms=(commit_ms,) * 20, lag_ms=(0.5,) * 20, misses=misses)

    return {
        "local": probes("local", local, 1.0),
        "on": probes("on", flushed, 1.2),
        "remote_apply": probes("remote_apply", applied, 1.5),
    }


@pytest.mark.parametrize(
    ("misses", "standbys", "verdict"),
    [
        pytest.param((9, 2, 0), 1, Verdict.CONFIRMED, id="misses-then-none"),
        pytest.param((9, 2, 1), 1, Verdict.REFUTED, id="remote-apply-missed"),
        pytest.param((0, 0, 0), 1, Verdict.INCONCLUSIVE, id="never-missed"),
        pytest.param((9, 9, 9), 0, Verdict.INCONCLUSIVE, id="no-synchronous-standby"),
    ],
)
def test_read_your_writes_verdict(
    misses: tuple[int, int, int], standbys: int, verdict: Verdict
) -> None:
    finding = judge_read_your_writes(
        _probes(*misses), run(rate=500.0), sync_standbys=standbys, own=True
    )
    assert finding.verdict is verdict


@pytest.mark.parametrize(
    ("standbys", "verdict"),
    [
        pytest.param(1, Verdict.CONFIRMED, id="waits"),
        pytest.param(0, Verdict.INCONCLUSIVE, id="no-synchronous-standby"),
    ],
)
def test_remote_apply_cost_verdict(standbys: int, verdict: Verdict) -> None:
    finding = judge_remote_apply_cost(_probes(5, 0, 0), sync_standbys=standbys)
    assert finding.verdict is verdict
    assert finding.measurement("remote_apply / local commit time").value == 1.5


@pytest.mark.parametrize(
    ("one", "two", "verdict"),
    [
        pytest.param(100.0, 150.0, Verdict.CONFIRMED, id="gain"),
        pytest.param(100.0, 115.0, Verdict.DEPENDS, id="small-gain"),
        pytest.param(100.0, 100.0, Verdict.REFUTED, id="no-gain"),
    ],
)
def test_service_workers_verdict(one: float, two: float, verdict: Verdict) -> None:
    runs = {("direct", 1): run(rate=one, peak=5), ("direct", 2): run(rate=two, peak=10)}
    assert judge_service_workers(runs).verdict is verdict


@pytest.mark.parametrize(
    ("pooled_peak", "direct_peak", "errors", "verdict"),
    [
        pytest.param(6, 10, (), Verdict.CONFIRMED, id="bounded"),
        pytest.param(8, 10, (), Verdict.REFUTED, id="over-its-pool"),
        pytest.param(6, 10, (TIMEOUT,), Verdict.REFUTED, id="fails"),
        pytest.param(4, 5, (), Verdict.INCONCLUSIVE, id="never-above-the-pool"),
    ],
)
def test_service_pgbouncer_verdict(
    pooled_peak: int, direct_peak: int, errors: tuple[ErrorCount, ...], verdict: Verdict
) -> None:
    runs = {
        ("direct", 1): run(peak=min(direct_peak, 5)),
        ("direct", 2): run(peak=direct_peak),
        ("PgBouncer", 1): run(peak=min(pooled_peak, 5)),
        ("PgBouncer", 2): run(peak=pooled_peak, errors=errors),
    }
    assert judge_service_pgbouncer(runs).verdict is verdict
