"""Result types: statistics, verdict rules, JSON round trip."""

from __future__ import annotations

import json

import pytest

from sqla_lab.lab.results import (
    Chart,
    Finding,
    LabResult,
    Measurement,
    Table,
    Verdict,
    dump_results,
    judge_ratio,
    load_results,
    percentile,
)
from tests.unit.report_samples import ENVIRONMENT


def _result() -> LabResult:
    return LabResult(
        lab="demo",
        title="A demo claim.",
        duration_s=1.5,
        environment=ENVIRONMENT,
        findings=(
            Finding(
                key="demo.one",
                claim="One is about twice two halves.",
                source="seed §1",
                quote="원문",
                measurements=(
                    Measurement.from_samples("t", [1.0, 2.0, 3.0, 4.0], "ms"),
                    Measurement.single("ratio", 2.0, "x"),
                ),
                verdict=Verdict.CONFIRMED,
                explanation="Because 2 is 2.",
            ),
        ),
        tables=(Table(key="demo.t", title="T", columns=("n", "ok"), rows=((1, True), (2, None))),),
        charts=(Chart(key="demo.c", title="C", kind="line", table="demo.t", x="n", y=("n",)),),
    )


def test_from_samples_gives_median_and_p95() -> None:
    m = Measurement.from_samples("x", [5, 1, 4, 2, 3], "ms")
    assert (m.value, m.p50) == (3.0, 3.0)
    assert m.p95 == pytest.approx(4.8)
    assert m.samples == (5.0, 1.0, 4.0, 2.0, 3.0)


def test_from_samples_rejects_empty() -> None:
    with pytest.raises(ValueError, match="no samples"):
        Measurement.from_samples("x", [], "ms")


@pytest.mark.parametrize(
    ("pct", "expected"),
    [
        pytest.param(0, 10.0, id="min"),
        pytest.param(50, 25.0, id="median"),
        pytest.param(100, 40.0, id="max"),
        pytest.param(95, 38.5, id="p95-interpolated"),
    ],
)
def test_percentile(pct: float, expected: float) -> None:
    assert percentile([40, 10, 30, 20], pct) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("measured", "claimed", "verdict"),
    [
        pytest.param(20.0, 20.0, Verdict.CONFIRMED, id="exact"),
        pytest.param(11.0, 20.0, Verdict.CONFIRMED, id="within-factor-2-below"),
        pytest.param(39.0, 20.0, Verdict.CONFIRMED, id="within-factor-2-above"),
        pytest.param(8.0, 20.0, Verdict.DEPENDS, id="real-but-smaller"),
        pytest.param(80.0, 20.0, Verdict.DEPENDS, id="real-but-larger"),
        pytest.param(1.2, 20.0, Verdict.REFUTED, id="no-real-effect"),
        pytest.param(0.5, 20.0, Verdict.REFUTED, id="opposite-direction"),
    ],
)
def test_judge_ratio(measured: float, claimed: float, verdict: Verdict) -> None:
    assert judge_ratio(measured, claimed) is verdict


def test_json_round_trip_is_lossless() -> None:
    original = [_result()]
    text = json.dumps(dump_results(original))
    assert load_results(json.loads(text)) == original


def test_load_rejects_other_documents() -> None:
    with pytest.raises(ValueError, match="schema"):
        load_results({"schema_version": 99, "results": []})


def test_table_rows_must_match_columns() -> None:
    with pytest.raises(ValueError, match="does not match"):
        Table(key="k", title="t", columns=("a", "b"), rows=((1,),))


def test_lookup_helpers() -> None:
    result = _result()
    assert result.finding("one").measurement("ratio").value == 2.0
    assert result.table("demo.t").column("ok") == (True, None)
    with pytest.raises(KeyError):
        result.finding("missing")
