"""A full run on an 80-column terminal, in English and Korean: the ledger last, no number cut.

``data/full-run-quick.json`` is a real ``sqla-lab run --quick --json`` of every lab on the
development machine (six labs, 51 claims), with the raw samples and the rendered blocks
removed to keep it small; the renderers read it as they read any saved run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from sqla_lab.lab.results import LabResult, load_results
from sqla_lab.lab.wording import cell_text, deciding_value
from sqla_lab.report.console import render_results, tally
from sqla_lab.translation import Language, Translation, translation

FULL_RUN = Path(__file__).parent / "data" / "full-run-quick.json"
LANGUAGES = [pytest.param(language, id=language.value) for language in Language]
#: A number with a cut after it, as rich or a careless renderer would print it: "8.…", "55…".
CUT_NUMBER = re.compile(r"\d[\d.,]*…")
_HANGUL = re.compile(r"[가-힣]")


@pytest.fixture(scope="module")
def results() -> list[LabResult]:
    return load_results(json.loads(FULL_RUN.read_text(encoding="utf-8")))


def _render(results: list[LabResult], language: Language, *, verbose: bool = False) -> str:
    console = Console(record=True, width=80, color_system=None, force_terminal=False)
    render_results(console, results, translate=translation(language), verbose=verbose)
    return console.export_text()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_full_run_fits_a_screen_or_two_and_ends_with_the_ledger(
    results: list[LabResult], language: Language
) -> None:
    ko = translation(language)
    lines = _render(results, language).splitlines()
    findings = [f for r in results for f in r.findings]
    assert len(findings) == 51
    assert len(lines) <= 80
    assert lines[0] == ko("Claims ledger")
    # One line per claim (a lab's name on a line of its own only when the lab column is
    # dropped), then the tally and where it was measured.
    tally_at = next(i for i, line in enumerate(lines) if line.startswith(tally(results, ko)[:20]))
    assert tally_at >= len(findings) + 1
    assert all(len(line) <= 80 for line in lines[1:tally_at])


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_number_is_cut_at_80_columns(results: list[LabResult], language: Language) -> None:
    ko = translation(language)
    ledger = _render(results, language)
    assert CUT_NUMBER.search(ledger) is None
    for finding in (f for r in results for f in r.findings):
        number = deciding_value(finding, ko)
        if number is not None:
            assert number in ledger, (finding.key, number)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_verbose_detail_cuts_no_cell_at_80_columns(
    results: list[LabResult], language: Language
) -> None:
    ko = translation(language)
    detail = _render(results, language, verbose=True)
    assert CUT_NUMBER.search(detail) is None
    flat = " ".join(detail.split())
    for table in (t for r in results for t in r.tables):
        for row in table.rows:
            for cell in row:
                text = " ".join(cell_text(cell, ko).split())
                if re.fullmatch(r"[\d.,%x배-]+", text):
                    # Numbers are never wrapped: each is printed whole somewhere.
                    assert text in flat, (table.key, text)


def _hangul_share(texts: list[str]) -> float:
    joined = "".join(texts)
    letters = sum(c.isalpha() for c in joined)
    return len(_HANGUL.findall(joined)) / letters


def _explanations(results: list[LabResult], ko: Translation) -> list[str]:
    return [f.explanation_message.render(ko) for r in results for f in r.findings]


def test_korean_explanations_are_korean(results: list[LabResult]) -> None:
    """Explanations are full of code names (pool_pre_ping, SELECT 1); the words around them,
    and every claim and headline, are Korean."""
    ko = translation(Language.KO)
    assert _hangul_share(_explanations(results, ko)) > 0.35
    findings = [f for r in results for f in r.findings]
    assert all(_HANGUL.search(ko(f.claim)) for f in findings)
    # A headline may be code names only ("delete, expunge, merge, make_transient").
    assert all(ko.knows(f.headline) for f in findings if f.headline)
    assert _hangul_share(_explanations(results, translation(Language.EN))) == 0.0
