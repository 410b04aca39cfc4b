"""The fault drill's report, from made-up writes: what counts as lost, phantom, recovered."""

from __future__ import annotations

from sqla_lab.service.drill import OUTCOME_UNKNOWN, Write, summarize


def _write(
    name: str, started: float, elapsed: float, status: int | None, error: str | None = None
) -> Write:
    return Write(name=name, started_s=started, elapsed_s=elapsed, status=status, error=error)


def test_report_sorts_writes_into_lost_phantom_and_unknown() -> None:
    writes = [
        _write("ok-stored", 0.0, 0.01, 201),
        _write("ok-missing", 0.1, 0.01, 201),
        _write("failed-missing", 0.2, 0.5, 503, "unavailable"),
        _write("failed-stored", 0.3, 0.5, 504, "deadline"),
        _write("unknown-stored", 0.4, 0.5, 503, OUTCOME_UNKNOWN),
        _write("unknown-missing", 0.5, 0.5, 504, OUTCOME_UNKNOWN),
        _write("hung", 0.6, 9.0, None, "client_timeout"),
    ]
    stored = frozenset({"ok-stored", "failed-stored", "unknown-stored"})
    report = summarize(writes, [], stored, deadline_s=1.0, duration_s=10.0)
    assert report.acknowledged == 2
    assert report.lost == ("ok-missing",)
    assert report.phantoms == ("failed-stored",)
    assert report.unknown == (1, 1)
    assert report.max_request_s == 9.0
    assert report.errors_by_kind == {
        "unavailable": 1,
        "deadline": 1,
        OUTCOME_UNKNOWN: 2,
        "client_timeout": 1,
    }


def test_recovery_is_the_first_success_after_a_fault_and_later_failures_are_counted() -> None:
    writes = [
        _write("during", 1.0, 0.5, 503, "unavailable"),
        _write("first-success", 1.6, 0.1, 201),  # ends at 1.7
        _write("late-failure", 4.0, 0.1, 503, "unavailable"),  # more than 2 s after the end
        _write("after-second", 8.5, 0.1, 201),
    ]
    windows = [("blackhole", 0.5, 1.5), ("reset", 8.0, 8.2)]
    report = summarize(writes, windows, frozenset({"first-success", "after-second"}), 1.0, 10.0)
    first, second = report.faults
    assert first.recovery_s is not None
    assert round(first.recovery_s, 3) == 0.2
    assert first.failed_later == 1
    assert second.recovery_s is not None
    assert round(second.recovery_s, 3) == 0.4
    assert second.failed_later == 0
    assert report.max_recovery_s is not None
    assert round(report.max_recovery_s, 3) == 0.4


def test_a_fault_never_recovered_from_has_no_recovery_time() -> None:
    writes = [_write("before", 0.0, 0.1, 201), _write("after", 2.0, 0.5, 503, "unavailable")]
    report = summarize(writes, [("restart", 1.0, 1.5)], frozenset({"before"}), 1.0, 3.0)
    assert report.faults[0].recovery_s is None
    assert report.max_recovery_s is None
