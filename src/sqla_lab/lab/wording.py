"""How results read, in the reader's language: one place for every renderer and the JSON.

The terminal (:mod:`sqla_lab.report.console`), the HTML report and ``--json`` show the same
words: a finding's claim and its short headline, the number that decides its verdict, the
value of a measurement with its interval, the notes under an explanation (why, what would
settle it, what it depends on, versions), its sources with links, and the names of verdicts,
measurements, tables, columns and charts. Each function takes a ``translate`` function
(:class:`~sqla_lab.translation.Translation`, or any ``Callable[[str], str]``); the default
is English.

A string a lab wrote (a claim, a measurement name, a column) is a template: it is looked up
in the catalog as it is. A seed claim's Korean translation is the seed's own words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqla_lab.lab.messages import N_, Message, Translate, as_written, format_value, render_text
from sqla_lab.lab.results import (
    DEPENDENCY_KINDS,
    VERDICT_NAMES,
    Cell,
    Finding,
    LabResult,
    Measurement,
    Verdict,
    dump_results,
)
from sqla_lab.lab.sources import source_links
from sqla_lab.lab.stats import Estimate, describe_estimate

__all__ = [
    "NOTE_LABELS",
    "cell_text",
    "claim_text",
    "deciding_value",
    "display_name",
    "finding_notes",
    "format_measurement",
    "headline_text",
    "measured_value",
    "rendered_results",
    "verdict_name",
]

#: The labels of the lines under an explanation, by stable key.
NOTE_LABELS = {
    "why": N_("why"),
    "settle": N_("would settle it"),
    "depends": N_("depends on"),
    "versions": N_("versions"),
}
_MORE = N_("{quantity} more")
_NO_DIFFERENCE = N_("≈0 (±{bound})")
_P95 = N_("p95 {value}, n={n}")
_DEPENDENCY = N_("{kind} {name}")
_DEPENDENCY_DETAIL = N_("{kind} {name}: {detail}")
_ELLIPSIS = "…"


def verdict_name(verdict: Verdict, translate: Translate = as_written) -> str:
    """The verdict as a reader sees it ("confirmed", "확인됨")."""
    return translate(VERDICT_NAMES[verdict])


def claim_text(finding: Finding, translate: Translate = as_written) -> str:
    """The claim, translated (a seed claim in Korean is the seed's own words)."""
    return translate(finding.claim)


def headline_text(finding: Finding, translate: Translate = as_written, *, width: int = 60) -> str:
    """The claim in a few words: the finding's headline, else its claim cut at a word
    boundary to about ``width`` characters."""
    if finding.headline:
        return translate(finding.headline)
    claim = claim_text(finding, translate)
    if len(claim) <= width:
        return claim
    cut = claim[: width - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + _ELLIPSIS


def display_name(m: Measurement, translate: Translate = as_written) -> str:
    """A measurement's name as a reader sees it (its label, when built from the run)."""
    return m.label.render(translate) if m.label is not None else translate(m.name)


def measured_value(m: Measurement, translate: Translate = as_written) -> str:
    """A measurement's value in words: with its interval when it is a comparison, and a
    difference without a sign ("0.2 ms less", "no measurable difference (within ±x)")."""
    if m.interval is None and m.kind == "value":
        return format_value(m.value, m.unit, translate)
    return describe_estimate(Estimate.of(m), m.unit, kind=m.kind).render(translate)


def format_measurement(m: Measurement, translate: Translate = as_written) -> str:
    """``name: value unit (p95 ...)``, or the value with its interval for a comparison."""
    text = f"{display_name(m, translate)}: {measured_value(m, translate)}"
    if m.p95 is not None and m.samples and m.interval is None:
        p95 = Message(_P95, {"value": format_value(m.p95, m.unit, translate), "n": len(m.samples)})
        text += f" ({p95.render(translate)})"
    return text


def deciding_value(finding: Finding, translate: Translate = as_written) -> str | None:
    """The one number that decides the verdict, short (no interval): ``38.5x``, ``yes``,
    ``0.35 ms more``, ``≈0 (±0.03 ms)``; ``None`` for a finding without measurements."""
    m = finding.deciding_measurement
    if m is None:
        return None
    if m.kind != "difference":
        return format_value(m.value, m.unit, translate)
    interval = m.interval
    if interval is not None and interval.low <= 0 <= interval.high:
        bound = max(abs(interval.low), abs(interval.high))
        return translate(_NO_DIFFERENCE).format(bound=format_value(bound, m.unit, translate))
    if m.value < 0:
        return format_value(m.value, m.unit, translate)  # "x less"
    return translate(_MORE).format(quantity=format_value(m.value, m.unit, translate))


def finding_notes(finding: Finding, translate: Translate = as_written) -> list[tuple[str, str]]:
    """The labelled lines under a finding's explanation: why, what would settle it, what it
    depends on and the versions it was measured with (labels translated)."""
    notes: list[tuple[str, str]] = []
    reason, settle = finding.reason_message, finding.settle_message
    if reason is not None:
        notes.append((translate(NOTE_LABELS["why"]), reason.render(translate)))
    if settle is not None:
        notes.append((translate(NOTE_LABELS["settle"]), settle.render(translate)))
    for dependency in finding.depends_on:
        detail = dependency.message.render(translate)
        values = {
            "kind": translate(DEPENDENCY_KINDS.get(dependency.on, dependency.on)),
            "name": translate(dependency.name),
            "detail": detail,
        }
        line = translate(_DEPENDENCY_DETAIL if detail else _DEPENDENCY).format_map(values)
        notes.append((translate(NOTE_LABELS["depends"]), line))
    if finding.versions:
        versions = ", ".join(f"{name} {v}" for name, v in sorted(finding.versions.items()))
        notes.append((translate(NOTE_LABELS["versions"]), versions))
    return notes


def cell_text(cell: Cell, translate: Translate = as_written) -> str:
    """A table cell for people: numbers formatted, yes/no and words translated."""
    if cell is None:
        return "—"
    if isinstance(cell, bool):
        return format_value(float(cell), "bool", translate)
    if isinstance(cell, float):
        return format_value(cell, "", translate)
    if isinstance(cell, int):
        return str(cell)
    return render_text(cell, translate)


def _rendered_finding(finding: Finding, translate: Translate) -> dict[str, Any]:
    reason, settle = finding.reason_message, finding.settle_message
    return {
        "verdict": verdict_name(finding.verdict, translate),
        "claim": claim_text(finding, translate),
        "headline": headline_text(finding, translate),
        "deciding": deciding_value(finding, translate),
        "sources": [
            {"label": link.label.render(translate), "url": link.url}
            for link in source_links(finding.source)
        ],
        "explanation": finding.explanation_message.render(translate),
        "reason": reason.render(translate) if reason else None,
        "settle": settle.render(translate) if settle else None,
        "notes": [
            {"label": label, "text": text} for label, text in finding_notes(finding, translate)
        ],
        "measurements": [
            {"name": display_name(m, translate), "value": measured_value(m, translate)}
            for m in finding.measurements
        ],
    }


def rendered_results(
    results: Sequence[LabResult], translate: Translate = as_written, *, language: str = "en"
) -> dict[str, Any]:
    """The results document (:func:`~sqla_lab.lab.results.dump_results`, stable English
    keys) with what a reader sees added: ``language``, and a ``rendered`` block on each lab,
    finding, table and chart, in that language."""
    document = dump_results(results)
    document["language"] = language
    for result, data in zip(results, document["results"], strict=True):
        data["rendered"] = {"title": translate(result.title)}
        for finding, finding_data in zip(result.findings, data["findings"], strict=True):
            finding_data["rendered"] = _rendered_finding(finding, translate)
        for table, table_data in zip(result.tables, data["tables"], strict=True):
            table_data["rendered"] = {
                "title": render_text(table.title, translate),
                "columns": [translate(c) for c in table.columns],
            }
        for chart, chart_data in zip(result.charts, data["charts"], strict=True):
            chart_data["rendered"] = {
                "title": render_text(chart.title, translate),
                "x_label": translate(chart.x_label or chart.x or ""),
                "y_label": translate(chart.y_label or ""),
            }
    return document
