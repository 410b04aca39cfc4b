"""Matching two runs: findings by key, measurements by name, ratios new / old."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sqla_lab.lab.results import Measurement, Verdict
from sqla_lab.report.comparison import MeasurementChange, compare_results
from tests.unit.report_samples import connect_result, loading_result, pool_result


def test_matched_measurements_get_new_over_old_ratios() -> None:
    comparison = compare_results([connect_result()], [connect_result(scale=1.5)])
    change = comparison.findings[0]
    assert change.key == "connect.pooled-vs-new"
    assert change.presence == "both"
    by_name = {m.name: m for m in change.measurements}
    assert by_name["new connection"].ratio == pytest.approx(1.5)
    assert by_name["pooled checkout"].ratio == pytest.approx(1.5)
    # The speed-up is a ratio of two scaled timings: unchanged.
    assert by_name["speed-up"].ratio == pytest.approx(1.0)
    # A ratio of two signed differences means nothing: none is given.
    assert by_name["SQLAlchemy adds to a new connection"].ratio is None
    document = comparison.to_dict()["findings"][0]["measurements"]
    difference = next(m for m in document if m["name"] == "SQLAlchemy adds to a new connection")
    assert difference["kind"] == "difference"
    assert difference["new_interval"]["high"] == pytest.approx(-0.2)


def test_verdict_changes_are_counted() -> None:
    comparison = compare_results(
        [connect_result(verdict=Verdict.CONFIRMED)], [connect_result(verdict=Verdict.REFUTED)]
    )
    assert [f.verdict_changed for f in comparison.findings] == [True, False]
    assert comparison.verdict_changes == 1
    assert comparison.findings[0].old_verdict is Verdict.CONFIRMED
    assert comparison.findings[0].new_verdict is Verdict.REFUTED


def test_findings_in_one_run_only_are_kept_new_order_first() -> None:
    comparison = compare_results(
        [connect_result(), loading_result()], [pool_result(), connect_result()]
    )
    assert [(f.key, f.presence) for f in comparison.findings] == [
        ("pool.timeout", "added"),
        ("pool.pre-ping-cost", "added"),
        ("connect.pooled-vs-new", "both"),
        ("connect.connect-dominates", "both"),
        ("loading.n-plus-one", "removed"),
        ("loading.joined-always-faster", "removed"),
    ]
    added = comparison.findings[0]
    assert added.old_verdict is None
    assert not added.verdict_changed
    assert [(m.old, m.ratio) for m in added.measurements] == [(None, None)]


def test_measurements_with_different_units_are_not_divided() -> None:
    old = connect_result()
    finding = old.findings[1]
    in_percent = dataclasses.replace(
        finding, measurements=(Measurement.single(finding.measurements[0].name, 97, "%"),)
    )
    new = dataclasses.replace(old, findings=(old.findings[0], in_percent))
    change = compare_results([old], [new]).findings[1]
    assert [(m.unit, m.old, m.new, m.ratio) for m in change.measurements] == [
        ("ratio", 0.97, None, None),
        ("%", None, 97.0, None),
    ]


@pytest.mark.parametrize(
    ("old", "new", "ratio"),
    [
        pytest.param(2.0, 3.0, 1.5, id="both"),
        pytest.param(0.0, 3.0, None, id="old-zero"),
        pytest.param(None, 3.0, None, id="old-missing"),
        pytest.param(2.0, None, None, id="new-missing"),
    ],
)
def test_ratio(old: float | None, new: float | None, ratio: float | None) -> None:
    assert MeasurementChange(name="m", unit="ms", old=old, new=new).ratio == ratio


def test_comparison_is_json_ready() -> None:
    comparison = compare_results([connect_result()], [connect_result(scale=2.0)])
    document = json.loads(json.dumps(comparison.to_dict()))
    assert document["verdict_changes"] == 0
    assert document["new_environment"]["postgresql"] == "18.4"
    first = document["findings"][0]
    assert first["key"] == "connect.pooled-vs-new"
    assert first["measurements"][0]["ratio"] == pytest.approx(2.0)
