"""The query instruments are public, re-exported from the package root."""

from __future__ import annotations

import sqla_lab
from sqla_lab import n_plus_one, query_recorder


def test_instruments_are_exported_and_all_is_sorted() -> None:
    for name in (
        "QueryRecorder",
        "QueryLog",
        "RecordedQuery",
        "NPlusOneDetector",
        "NPlusOneWarning",
        "LoadFinding",
        "NPlusOneDetected",
        "QueryBudgetExceeded",
        "ExpectationFailed",
    ):
        assert name in sqla_lab.__all__, name
        assert getattr(sqla_lab, name) is not None
    assert sqla_lab.__all__ == sorted(sqla_lab.__all__)
    assert sqla_lab.QueryRecorder is query_recorder.QueryRecorder
    assert sqla_lab.NPlusOneDetector is n_plus_one.NPlusOneDetector


def test_expectation_errors_are_assertion_errors_and_sqla_lab_errors() -> None:
    for error in (sqla_lab.NPlusOneDetected, sqla_lab.QueryBudgetExceeded):
        assert issubclass(error, AssertionError)
        assert issubclass(error, sqla_lab.SqlaLabError)
