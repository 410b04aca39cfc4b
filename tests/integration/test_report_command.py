"""``sqla-lab report`` measuring on the real server and writing the page and its JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from sqla_lab.cli import app
from sqla_lab.lab.messages import format_value
from sqla_lab.lab.results import Verdict, load_results
from sqla_lab.postgres import PostgresServer

#: The labs quick enough for the test suite under ``--quick``.
QUICK_LABS = ("connect",)


def test_report_runs_the_quick_labs_and_writes_one_page(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    out, saved = tmp_path / "report.html", tmp_path / "results.json"
    url = postgres.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app,
        [
            "report",
            *QUICK_LABS,
            "--quick",
            "-o",
            str(out),
            "--json",
            str(saved),
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert f"report written to {out}: 3 claims in 1 labs: " in result.stdout

    results = load_results(json.loads(saved.read_text()))
    assert [r.lab for r in results] == list(QUICK_LABS)
    html = out.read_text(encoding="utf-8")
    for r in results:
        assert f'<section id="lab-{r.lab}"' in html
        for finding in r.findings:
            # Each measured finding is in the ledger with the verdict this run computed.
            row = re.search(
                rf'<tr class="finding (\w+)" data-key="{re.escape(finding.key)}">', html
            )
            assert row is not None, finding.key
            assert Verdict(row.group(1)) is finding.verdict
        for chart in r.charts:
            figure = re.search(
                rf'<figure [^>]*data-chart="{re.escape(chart.key)}"[^>]*>.*?</figure>',
                html,
                re.DOTALL,
            )
            assert figure is not None, chart.key
            assert "<svg" in figure.group(0)
            assert "could not be drawn" not in figure.group(0)
    # The box chart is drawn from the measured samples: its labels carry their medians.
    for m in results[0].finding("pooled-vs-new").measurements:
        if m.samples:
            assert f"median {format_value(m.value, m.unit)}, n={len(m.samples)}" in html
    assert "<script" not in html


def test_report_in_korean_from_the_saved_run(postgres: PostgresServer, tmp_path: Path) -> None:
    """``--lang ko`` measures once and writes the page in Korean; the JSON keeps its English
    keys and adds the rendered Korean text."""
    out, saved = tmp_path / "report.html", tmp_path / "results.json"
    url = postgres.url.render_as_string(hide_password=False)
    args = ["report", *QUICK_LABS, "--quick", "-o", str(out), "--json", str(saved)]
    result = CliRunner().invoke(app, [*args, "--database-url", url, "--lang", "ko"])
    assert result.exit_code == 0, result.stderr
    assert f"보고서를 {out}에 씀: 랩 1개의 주장 3개: " in result.stdout
    html = out.read_text(encoding="utf-8")
    assert '<html lang="ko">' in html
    assert "주장 장부" in html
    document = json.loads(saved.read_text())
    assert document["language"] == "ko"
    finding = document["results"][0]["findings"][0]
    assert finding["verdict"] in {v.value for v in Verdict}  # the stable English key
    assert re.search("[가-힣]", finding["rendered"]["claim"])
    assert re.search("[가-힣]", finding["rendered"]["explanation"])
