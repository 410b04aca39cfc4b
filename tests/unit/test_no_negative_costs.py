"""No rendering ever shows a negative duration or cost: terminal, HTML, comparison, plots.

Differences are measured signed (a saving is a negative difference), so the check is on what
people read: every number printed next to a unit of time or size is non-negative.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from rich.console import Console

from sqla_lab.lab.messages import NON_NEGATIVE_UNITS, format_value
from sqla_lab.lab.results import Finding, Interval, LabResult, Measurement, Verdict
from sqla_lab.lab.stats import describe_estimate, paired_difference
from sqla_lab.report.console import render_results
from sqla_lab.report.html import render_comparison, render_report
from tests.unit.report_samples import all_results, connect_result

UNITS = "|".join(sorted((re.escape(u) for u in NON_NEGATIVE_UNITS), key=len, reverse=True))
#: A minus sign (ASCII or Unicode) right before a number that a unit of time or size follows.
NEGATIVE = re.compile(rf"[-−]\s?\d[\d,]*(?:\.\d+)?\s?(?:{UNITS})(?![\w/])")


def _with_savings(result: LabResult) -> LabResult:
    """``result`` plus a finding whose differences are negative, inside and outside the noise."""
    saving = paired_difference([0.5] * 10, [1.0 + 0.01 * i for i in range(10)])
    noise = paired_difference([1.0, 1.2, 0.9, 1.1, 1.0, 0.8, 1.05], [1.0] * 7)
    finding = Finding(
        key=f"{result.lab}.savings",
        claim="Something costs time.",
        source="seed §1",
        measurements=(
            saving.measurement("a saving", "ms", kind="difference"),
            noise.measurement("inside the noise", "µs", kind="difference"),
            Measurement(
                name="a saving without an interval",
                value=-3.0,
                unit="s",
                kind="difference",
            ),
            Measurement(
                name="bytes saved",
                value=-2048,
                unit="B",
                kind="difference",
                interval=Interval(low=-4096, high=-1024, level=0.95, method="bootstrap", n=5),
            ),
        ),
        verdict=Verdict.REFUTED,
        explanation=describe_estimate(saving, "ms", kind="difference"),
    )
    return dataclasses.replace(result, findings=(*result.findings, finding))


RESULTS = [_with_savings(r) for r in all_results()]


def _assert_no_negative_cost(text: str) -> None:
    assert NEGATIVE.findall(text) == []


def test_the_pattern_catches_a_negative_duration() -> None:
    assert NEGATIVE.findall("added -0.5 ms, then −3 s and -2,048 B") == [
        "-0.5 ms",
        "−3 s",
        "-2,048 B",
    ]
    assert NEGATIVE.findall("2026-01-02 03:04 UTC, 12 ms, pre-ping 3 ms") == []


def test_terminal() -> None:
    console = Console(record=True, width=200, color_system=None)
    render_results(console, RESULTS)
    _assert_no_negative_cost(console.export_text())


def test_html_report() -> None:
    _assert_no_negative_cost(render_report(RESULTS).html)


def test_html_comparison() -> None:
    old = [_with_savings(connect_result(scale=2.0))]
    _assert_no_negative_cost(render_comparison(old, RESULTS).html)


@pytest.mark.parametrize("unit", sorted(NON_NEGATIVE_UNITS))
@pytest.mark.parametrize("value", [-1234.5, -12.3, -0.0042])
def test_format_value_words_a_negative_duration(unit: str, value: float) -> None:
    text = format_value(value, unit)
    assert not text.startswith(("-", "−"))
    assert text.endswith("less")
