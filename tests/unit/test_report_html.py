"""The HTML page's structure, from fixed results: sections, ledger, charts, self-containment."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime

import pytest

from sqla_lab.lab.results import Chart, LabResult, Verdict
from sqla_lab.report.html import render_comparison, render_report
from tests.unit.html_page import Page, parse
from tests.unit.report_samples import ALL_CHART_KEYS, all_results, connect_result, loading_result

GENERATED = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


@pytest.fixture(scope="module")
def results() -> list[LabResult]:
    return all_results()


@pytest.fixture(scope="module")
def html(results: list[LabResult]) -> str:
    rendered = render_report(results, generated_at=GENERATED)
    assert rendered.problems == ()
    return rendered.html


@pytest.fixture(scope="module")
def page(html: str) -> Page:
    return parse(html)


def test_sections_in_order_summary_ledger_one_per_lab_then_environment(
    page: Page, results: list[LabResult]
) -> None:
    sections = [e for e in page.elements if e.tag == "section"]
    assert [s.attrs["id"] for s in sections] == [
        "summary",
        "ledger",
        *(f"lab-{r.lab}" for r in results),
        "environment",
    ]
    assert [s.attrs.get("data-lab") for s in sections[2:-1]] == [r.lab for r in results]


def test_every_chart_is_a_figure_with_one_svg(page: Page, results: list[LabResult]) -> None:
    figures = page.with_attr("data-chart")
    assert tuple(f.attrs["data-chart"] for f in figures) == ALL_CHART_KEYS
    assert [f.attrs["data-kind"] for f in figures] == [c.kind for r in results for c in r.charts]
    assert {f.attrs["data-kind"] for f in figures} == {"box", "line", "bar", "grid"}
    assert all(f.svgs == 1 for f in figures)


def test_ledger_lists_every_finding_and_marks_its_verdict(
    page: Page, results: list[LabResult]
) -> None:
    rows = [e for e in page.with_attr("data-key") if e.tag == "tr"]
    findings = [f for r in results for f in r.findings]
    assert [r.attrs["data-key"] for r in rows] == [f.key for f in findings]
    for row, finding in zip(rows, findings, strict=True):
        assert finding.verdict.value in row.classes
    # The samples hold every verdict, so refuted and "depends" rows exist to stand out.
    assert Counter(f.verdict for f in findings)[Verdict.REFUTED] == 1
    assert len([r for r in rows if "refuted" in r.classes]) == 1
    assert len([r for r in rows if "depends" in r.classes]) == 2


def test_every_finding_has_a_card_the_ledger_links_to(page: Page) -> None:
    cards = {e.attrs["id"] for e in page.elements if e.tag == "article"}
    links = {
        e.attrs["href"][1:] for e in page.with_attr("href") if e.attrs["href"][:8] == "#finding"
    }
    assert links == cards
    assert len(cards) == 7


def test_summary_counts_verdicts(html: str) -> None:
    assert (
        '<p class="tally">7 claims in 4 labs: 3 confirmed, 1 refuted, 2 depends, '
        "1 inconclusive, 0 skipped</p>"
    ) in html
    assert '<span class="count inconclusive"><b>1</b> inconclusive</span>' in html
    assert '<span class="count confirmed"><b>3</b> confirmed</span>' in html
    assert '<span class="count refuted"><b>1</b> refuted</span>' in html
    assert '<span class="count depends"><b>2</b> depends</span>' in html
    assert "generated 2026-01-02 03:04 UTC" in html


def test_environment_and_tables_are_shown(html: str, page: Page) -> None:
    assert "18.4 (embedded)" in html
    assert "2.1.9" in html
    tables = page.with_attr("data-table")
    # The states table is drawn as its grid chart, so it is not repeated as a table.
    assert [t.attrs["data-table"] for t in tables] == [
        "pool.waits",
        "pool.status",
        "loading.sweep",
    ]
    # Long tables start folded; short ones open.
    assert ["open" in t.attrs for t in tables] == [False, True, True]


def test_text_from_results_is_escaped(html: str) -> None:
    assert "&lt;b&gt;with markup&lt;/b&gt;" in html
    assert "<b>with markup</b>" not in html


def test_page_is_self_contained(html: str, page: Page) -> None:
    assert "<script" not in html
    assert not [e for e in page.elements if e.tag in ("img", "iframe", "object", "embed")]
    for element in page.elements:
        for name in ("src", "href", "xlink:href", "action", "srcset"):
            value = element.attrs.get(name)
            if value is None:
                continue
            if element.tag == "a" and name == "href":
                # A link to a source is followed by the reader, never loaded by the page.
                assert value.startswith(("#", "https://")), (element.tag, name, value)
            else:
                assert value.startswith(("#", "data:")), (element.tag, name, value)
    assert "@import" not in html
    assert "url(http" not in html


def test_ids_are_unique_across_all_inline_svgs(page: Page) -> None:
    duplicates = [i for i, n in Counter(page.ids).items() if n > 1]
    assert duplicates == []


def test_a_broken_chart_is_reported_and_the_rest_still_drawn() -> None:
    result = loading_result()
    broken = Chart(key="loading.broken", title="Broken", kind="line", table="missing")
    result = dataclasses.replace(result, charts=(*result.charts, broken))
    rendered = render_report([connect_result(), result], generated_at=GENERATED)
    assert rendered.problems == ("loading: chart 'loading.broken': no table 'missing'",)
    figures = parse(rendered.html).with_attr("data-chart")
    assert [(f.attrs["data-chart"], f.svgs) for f in figures] == [
        ("connect.distributions", 1),
        ("loading.time-vs-n", 1),
        ("loading.broken", 0),
    ]
    assert "This chart could not be drawn: chart &#39;loading.broken&#39;" in rendered.html


def test_no_results_still_renders_a_page() -> None:
    rendered = render_report([], generated_at=GENERATED)
    page = parse(rendered.html)
    assert [e.attrs["id"] for e in page.elements if e.tag == "section"] == [
        "summary",
        "ledger",
        "environment",
    ]
    assert "No findings." in rendered.html


def test_labs_from_different_environments_are_listed_apart() -> None:
    first = connect_result()
    other_env = dataclasses.replace(first.environment, postgresql="16.14", embedded=False)
    second = dataclasses.replace(loading_result(), environment=other_env)
    html = render_report([first, second], generated_at=GENERATED).html
    assert "<caption>Labs connect</caption>" in html
    assert "<caption>Labs loading</caption>" in html
    assert "16.14 (external server)" in html


def test_comparison_page_shows_both_runs_and_ratios() -> None:
    old = [connect_result(verdict=Verdict.CONFIRMED), loading_result()]
    new = [connect_result(scale=2.0, verdict=Verdict.DEPENDS)]
    rendered = render_comparison(
        old, new, old_label="before.json", new_label="after.json", generated_at=GENERATED
    )
    page = parse(rendered.html)
    rows = [e for e in page.with_attr("data-key") if e.tag == "tr"]
    assert [r.attrs["data-key"] for r in rows] == [
        "connect.pooled-vs-new",
        "connect.connect-dominates",
        "loading.n-plus-one",
        "loading.joined-always-faster",
    ]
    assert "changed" in rows[0].classes
    assert "changed" not in rows[1].classes
    assert "removed" in rows[2].classes
    assert "×2.00" in rendered.html  # every timing doubled
    assert "×1.00" in rendered.html  # the share did not change
    assert "not run" in rendered.html
    assert "Claims ledger: before.json → after.json" in rendered.html
    assert '<span class="count changed"><b>1</b> verdicts changed</span>' in rendered.html
    # The new run's lab sections follow the ledger.
    assert [e.attrs["id"] for e in page.elements if e.tag == "section"] == [
        "summary",
        "ledger",
        "lab-connect",
        "environment",
    ]
