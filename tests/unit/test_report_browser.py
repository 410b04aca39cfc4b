"""The report opened in a real headless Chromium: no errors, no network, every plot drawn.

CI installs Debian's ``chromium`` (see ``.ci/run``), so there this test must run: without the
browser it fails under ``CI=true`` and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from sqla_lab.lab.results import Verdict
from sqla_lab.report.html import render_comparison, render_report
from sqla_lab.translation import Language, translation
from tests.unit.chromium_page import find_chromium, visit
from tests.unit.report_samples import ALL_CHART_KEYS, all_results, connect_result, loading_result

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run the browser test")
        pytest.skip(message)
    return binary


def test_report_in_chromium(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(all_results()).html, encoding="utf-8")
    screenshot = tmp_path / "report.png"

    seen = visit(page, chromium=chromium, screenshot=screenshot)

    assert seen.console_errors == []
    assert seen.requests == [page.resolve().as_uri()]
    assert seen.sections == [
        "summary",
        "ledger",
        *(f"lab-{r.lab}" for r in all_results()),
        "environment",
    ]
    assert tuple(c["key"] for c in seen.charts) == ALL_CHART_KEYS
    for chart in seen.charts:
        # Laid out at a readable size, with marks drawn in it.
        assert chart["width"] >= 300, chart
        assert chart["height"] >= 100, chart
        assert chart["marks"] >= 20, chart
    assert seen.page_width <= seen.viewport_width  # no sideways scrolling on a laptop
    assert screenshot.read_bytes()[:8] == PNG_MAGIC
    assert screenshot.stat().st_size > 50_000


def test_comparison_in_chromium(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "compare.html"
    old = [connect_result(verdict=Verdict.CONFIRMED), loading_result()]
    page.write_text(render_comparison(old, [connect_result(scale=1.4)]).html, encoding="utf-8")

    seen = visit(page, chromium=chromium, width=800)

    assert seen.console_errors == []
    assert seen.requests == [page.resolve().as_uri()]
    assert seen.sections == ["summary", "ledger", "lab-connect", "environment"]
    assert [c["key"] for c in seen.charts] == ["connect.distributions"]
    assert seen.page_width <= seen.viewport_width


def test_the_checks_see_requests_and_errors(chromium: str, tmp_path: Path) -> None:
    """The browser checks above can fail: a page that calls out and errs is caught."""
    page = tmp_path / "leaky.html"
    page.write_text(
        "<!DOCTYPE html><title>leaky</title>"
        '<link rel="stylesheet" href="http://127.0.0.1:9/style.css">'
        "<script>console.error('boom'); undefinedFunction();</script>",
        encoding="utf-8",
    )
    seen = visit(page, chromium=chromium)
    assert "http://127.0.0.1:9/style.css" in seen.requests
    assert "boom" in seen.console_errors
    assert any("undefinedFunction" in e for e in seen.console_errors)


_HANGUL = re.compile(r"[가-힣]")
#: Fonts with Hangul the CSS names, or that Linux, macOS and Windows fall back to.
_HANGUL_FONTS = re.compile(r"CJK|KR|Gothic|Nanum|Malgun|Apple SD|Baekmuk|UnDotum", re.IGNORECASE)


@pytest.mark.parametrize("language", [pytest.param(lang, id=lang.value) for lang in Language])
def test_report_in_each_language_in_chromium(
    chromium: str, tmp_path: Path, language: Language
) -> None:
    """The report in English and in Korean: Korean drawn with a font that has Hangul (never
    as empty boxes); a screenshot of each is docs/report-<lang>.png."""
    page = tmp_path / f"report-{language.value}.html"
    html = render_report(all_results(), translate=translation(language)).html
    page.write_text(html, encoding="utf-8")
    screenshot = tmp_path / f"report-{language.value}.png"

    seen = visit(page, chromium=chromium, screenshot=screenshot, fonts_for="#summary h2")

    assert seen.console_errors == []
    assert seen.requests == [page.resolve().as_uri()]
    assert seen.lang == language.value
    assert screenshot.read_bytes()[:8] == PNG_MAGIC
    hangul = len(_HANGUL.findall(seen.text))
    letters = sum(c.isalpha() for c in seen.text)
    if language is Language.KO:
        # The samples' claims are test data in English; every word of the page around them
        # is Korean, and so is the summary's heading, drawn with a Hangul font.
        assert hangul / letters > 0.25, (hangul, letters)
        assert seen.fonts, "no font drew the heading"
        assert all(_HANGUL_FONTS.search(name) for name, glyphs in seen.fonts if glyphs), seen.fonts
    else:
        assert hangul / letters < 0.02, (hangul, letters)
