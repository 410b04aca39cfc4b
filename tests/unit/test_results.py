"""Result types: statistics, verdict rules, JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from sqla_lab.lab.messages import Message
from sqla_lab.lab.results import (
    RESULTS_SCHEMA_VERSION,
    Chart,
    Dependency,
    Finding,
    Interval,
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


def _judged_result() -> LabResult:
    """A result with every schema-2 field: intervals, a difference, messages, versions."""
    ratio = Measurement(
        name="new / pooled",
        value=9.8,
        unit="x",
        interval=Interval(low=9.1, high=10.6, level=0.957, method="order statistics", n=30),
    )
    saving = Measurement(
        name="pre-ping overhead",
        value=-0.2,
        unit="ms",
        kind="difference",
        interval=Interval(low=-0.3, high=-0.1, level=0.957, method="order statistics", n=30),
    )
    return dataclasses.replace(
        _result(),
        findings=(
            Finding(
                key="demo.depends",
                claim="It is 20x.",
                source="seed §1",
                measurements=(ratio, saving),
                verdict=Verdict.DEPENDS,
                explanation=Message(
                    "{ratio} over {rounds}",
                    {"ratio": "9.8x", "rounds": Message("{n} rounds", {"n": 30})},
                ),
                reason=Message("{items}", {"items": (Message("a"), "b")}),
                depends_on=(Dependency(on="reading", name="what is compared", detail="alone"),),
                versions={"asyncpg": "0.32.0"},
            ),
            Finding(
                key="demo.open",
                claim="It is 10 ms.",
                source="seed §1",
                measurements=(saving,),
                verdict=Verdict.INCONCLUSIVE,
                explanation="Too noisy.",
                reason="the interval straddles 3.3 ms",
                settle="more rounds",
            ),
        ),
    )


def test_schema_2_round_trip_keeps_intervals_messages_and_dependencies() -> None:
    original = [_judged_result()]
    document = json.loads(json.dumps(dump_results(original)))
    assert document["schema_version"] == RESULTS_SCHEMA_VERSION == 2
    finding = document["results"][0]["findings"][0]
    assert finding["explanation"] == "9.8x over 30 rounds"
    assert finding["explanation_message"]["template"] == "{ratio} over {rounds}"
    assert finding["depends_on"] == [
        {
            "on": "reading",
            "name": "what is compared",
            "detail": {"text": "alone", "template": "alone", "values": {}},
        }
    ]
    assert finding["versions"] == {"asyncpg": "0.32.0"}
    assert finding["measurements"][1]["kind"] == "difference"
    assert load_results(document) == original


def test_schema_1_documents_still_load() -> None:
    old = dump_results([_result()])
    old["schema_version"] = 1
    finding = old["results"][0]["findings"][0]
    finding["verdict"] = "depends"
    for key in ("explanation_message", "reason", "settle", "depends_on", "versions"):
        del finding[key]
    for m in finding["measurements"]:
        del m["kind"], m["interval"]
    finding["measurements"].append(
        {"name": "added", "value": -0.4, "unit": "ms", "p50": None, "p95": None, "samples": []}
    )
    (result,) = load_results(old)
    upgraded = result.findings[0]
    assert upgraded.verdict is Verdict.DEPENDS
    assert [d.on for d in upgraded.depends_on] == ["unrecorded"]
    assert upgraded.versions == {"postgresql": "18.4", "sqlalchemy": "2.1.9", "asyncpg": "0.32.0"}
    assert upgraded.measurement("added").kind == "difference"
    assert str(upgraded.explanation) == "Because 2 is 2."


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"verdict": Verdict.DEPENDS}, "must say on what", id="depends-without-what"),
        pytest.param(
            {"verdict": Verdict.INCONCLUSIVE, "reason": "noise"},
            "would settle it",
            id="inconclusive-without-settle",
        ),
    ],
)
def test_verdicts_that_need_more_say_so(changes: dict[str, object], message: str) -> None:
    finding = _result().findings[0]
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(finding, **changes)  # type: ignore[arg-type]


def test_a_duration_is_never_negative_unless_it_is_a_difference() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        Measurement.single("connect", -0.1, "ms")
    assert Measurement(name="added", value=-0.1, unit="ms", kind="difference").value == -0.1


def test_runner_records_default_versions_for_findings_that_name_none() -> None:
    from sqla_lab.lab.registry import _with_versions

    finding = _result().findings[0]
    assert _with_versions(finding, ENVIRONMENT).versions == {
        "postgresql": "18.4",
        "sqlalchemy": "2.1.9",
        "asyncpg": "0.32.0",
    }


def test_an_unbounded_ratio_is_strict_json_and_comes_back() -> None:
    unbounded = Measurement(
        name="lazy / joined latency slope",
        value=math.inf,
        unit="x",
        interval=Interval(low=math.inf, high=math.inf, level=0.95, method="bootstrap", n=3),
    )
    result = dataclasses.replace(
        _result(),
        findings=(dataclasses.replace(_result().findings[0], measurements=(unbounded,)),),
    )
    text = json.dumps(dump_results([result]), allow_nan=False)  # strict JSON
    assert load_results(json.loads(text)) == [result]
