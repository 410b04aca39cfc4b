"""``sqla-lab report --from`` and ``--compare`` on saved results, and every bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sqla_lab.cli import app
from sqla_lab.lab.results import Verdict, dump_results, load_results
from tests.unit.html_page import parse
from tests.unit.report_samples import all_results, connect_result, loading_result, pool_result


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(dump_results(all_results())), encoding="utf-8")
    return path


def _invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_from_renders_every_lab_of_the_file(saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    code, stdout, _ = _invoke("report", "--from", saved, "-o", out)
    assert code == 0
    assert f"report written to {out}: 7 claims in 4 labs: 3 confirmed" in stdout
    sections = [e.attrs["id"] for e in parse(out.read_text()).elements if e.tag == "section"]
    labs = [f"lab-{r.lab}" for r in all_results()]
    assert sections == ["summary", "ledger", *labs, "environment"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_lab_names_pick_results_from_the_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(dump_results([connect_result(), pool_result()])))
    second.write_text(json.dumps(dump_results([loading_result()])))
    out = tmp_path / "page.html"
    code, _, _ = _invoke(
        "report", "loading", "connect", "--from", first, "--from", second, "-o", out
    )
    assert code == 0
    labs = [e.attrs["data-lab"] for e in parse(out.read_text()).with_attr("data-lab")]
    assert labs == ["loading", "connect"]


def test_compare_writes_the_side_by_side_ledger_and_its_json(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(dump_results([connect_result(verdict=Verdict.CONFIRMED)])))
    new.write_text(json.dumps(dump_results([connect_result(scale=3.0)])))
    out, document = tmp_path / "compare.html", tmp_path / "compare.json"
    code, stdout, _ = _invoke("report", "--compare", old, new, "-o", out, "--json", document)
    assert code == 0
    assert "1 verdicts changed" in stdout
    html = out.read_text()
    assert "Claims ledger: old.json → new.json" in html
    assert "×3.00" in html
    comparison = json.loads(document.read_text())
    assert comparison["verdict_changes"] == 1
    assert comparison["findings"][0]["measurements"][0]["ratio"] == pytest.approx(3.0)


def test_json_of_saved_results_round_trips(saved: Path, tmp_path: Path) -> None:
    out, again = tmp_path / "page.html", tmp_path / "again.json"
    code, _, _ = _invoke("report", "--from", saved, "-o", out, "--json", again)
    assert code == 0
    assert load_results(json.loads(again.read_text())) == all_results()


def _bad_inputs(tmp_path: Path, saved: Path) -> dict[str, tuple[list[str | Path], str]]:
    invalid = tmp_path / "invalid.json"
    invalid.write_text("{not json")
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema_version": 99, "results": []}))
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema_version": 1, "results": [{"lab": "x"}]}))
    out = tmp_path / "out.html"
    return {
        "missing-file": (
            ["--from", tmp_path / "nope.json", "-o", out],
            "cannot read results from",
        ),
        "directory-as-input": (["--from", tmp_path, "-o", out], "cannot read results from"),
        "invalid-json": (["--from", invalid, "-o", out], "is not valid JSON"),
        "not-a-document": (["--from", listed, "-o", out], "is not a sqla-lab results document"),
        "newer-schema": (["--from", newer, "-o", out], "schema_version=99"),
        "missing-field": (["--from", broken, "-o", out], "is not a valid results document"),
        "output-dir-missing": (
            ["--from", saved, "-o", tmp_path / "no" / "out.html"],
            "does not exist",
        ),
        "output-is-dir": (["--from", saved, "-o", tmp_path], "it is a directory"),
        "from-and-compare": (
            ["--from", saved, "--compare", saved, saved, "-o", out],
            "not both",
        ),
        "quick-with-from": (["--from", saved, "--quick", "-o", out], "do not apply"),
        "unknown-lab-in-file": (["nope", "--from", saved, "-o", out], "no results for lab 'nope'"),
        "same-lab-twice": (["--from", saved, "--from", saved, "-o", out], "is in both"),
        "unknown-lab-to-run": (["nope", "-o", out], "unknown lab 'nope'"),
    }


CASES = [
    "missing-file",
    "directory-as-input",
    "invalid-json",
    "not-a-document",
    "newer-schema",
    "missing-field",
    "output-dir-missing",
    "output-is-dir",
    "from-and-compare",
    "quick-with-from",
    "unknown-lab-in-file",
    "same-lab-twice",
    "unknown-lab-to-run",
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c) for c in CASES])
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path, saved: Path) -> None:
    args, message = _bad_inputs(tmp_path, saved)[case]
    code, stdout, stderr = _invoke("report", *args)
    assert code == 2
    assert stderr.startswith("error: ")
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stdout + stderr
    assert not (tmp_path / "out.html").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_output_is_one_line(saved: Path) -> None:
    # /proc takes no new files, not even from root (whom permission bits do not stop).
    code, _, stderr = _invoke("report", "--from", saved, "-o", "/proc/sqla-lab-report.html")
    assert code == 2
    assert stderr.startswith("error: cannot write")
    assert len(stderr.strip().splitlines()) == 1


def test_from_reads_a_schema_1_document(tmp_path: Path) -> None:
    """A run saved before intervals, versions and depends_on still renders."""
    document = dump_results(all_results())
    document["schema_version"] = 1
    for result in document["results"]:
        for finding in result["findings"]:
            for key in ("explanation_message", "reason", "settle", "depends_on", "versions"):
                del finding[key]
            if finding["verdict"] == "inconclusive":
                finding["verdict"] = "refuted"  # schema 1 had no inconclusive
            for m in finding["measurements"]:
                del m["kind"], m["interval"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    out = tmp_path / "page.html"
    code, stdout, _ = _invoke("report", "--from", old, "-o", out)
    assert code == 0, stdout
    html = out.read_text()
    assert "results schema 1 did not record what this verdict depends on" in html
