"""Terminal rendering: numbers formatted for people, every part of a result shown."""

from __future__ import annotations

import pytest
from rich.console import Console

from sqla_lab.lab.messages import format_value, render_text
from sqla_lab.report.console import render_results
from tests.unit.report_samples import all_results


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        pytest.param(0.3456, "ms", "0.346 ms", id="small"),
        pytest.param(12.345, "ms", "12.35 ms", id="medium"),
        pytest.param(12345.0, "rows", "12,345 rows", id="large"),
        pytest.param(0.87, "ratio", "87%", id="ratio"),
        pytest.param(43.09, "x", "43.1x", id="speed-up"),
        pytest.param(1.0, "bool", "yes", id="true"),
        pytest.param(0.0, "bool", "no", id="false"),
    ],
)
def test_format_value(value: float, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_verbose_results_show_claims_verdicts_explanations_and_tables() -> None:
    console = Console(record=True, width=140, color_system=None)
    results = all_results()
    render_results(console, results, verbose=True)
    text = console.export_text()
    for result in results:
        assert result.lab in text
        for finding in result.findings:
            assert finding.verdict.value in text
            assert finding.claim[:30] in text
            assert finding.explanation_message.render()[:30] in text
        for table in result.tables:
            assert render_text(table.title)[:20] in text


def test_default_results_are_the_ledger_and_its_tally_only() -> None:
    console = Console(record=True, width=140, color_system=None)
    results = all_results()
    render_results(console, results)
    lines = console.export_text().splitlines()
    findings = [f for r in results for f in r.findings]
    assert lines[0] == "Claims ledger"
    assert lines[-2].startswith(f"{len(findings)} claims in {len(results)} labs: ")
    assert len(lines) == len(findings) + 3
    for finding in findings:
        assert any(finding.verdict.value in line for line in lines[1:-2])


def test_console_progress_shows_which_lab_runs() -> None:
    from sqla_lab.labs import ALL_LABS
    from sqla_lab.report.console import ConsoleProgress

    console = Console(record=True, width=100, force_terminal=True, color_system=None)
    with ConsoleProgress(console) as progress:
        progress.lab_started(ALL_LABS[1], 2, len(ALL_LABS))
        progress.start("measuring", 10)
        progress.advance(3)
        tasks = {task.description: task for task in progress._bar.tasks}
    assert tasks[f"[bold]lab 2/{len(ALL_LABS)}: {ALL_LABS[1].name}[/]"].completed == 1
    assert tasks["measuring"].completed == 3


def test_a_translation_reaches_every_rendering() -> None:
    from sqla_lab.report.html import render_report

    catalog = {"Connecting is most of the time.": "연결이 대부분의 시간을 차지한다."}

    def translate(text: str) -> str:
        return catalog.get(text, text)

    console = Console(record=True, width=140, color_system=None)
    render_results(console, all_results(), translate=translate, verbose=True)
    assert "연결이 대부분의 시간을 차지한다." in console.export_text()
    html = render_report(all_results(), translate=translate).html
    assert "연결이 대부분의 시간을 차지한다." in html
