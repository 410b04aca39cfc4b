"""benchmarks/verdict_stability.py: the table of verdicts per claim, from saved runs."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sqla_lab.lab.results import Dependency, LabResult, Verdict, dump_results
from tests.unit.report_samples import connect_result

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "verdict_stability.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verdict_stability", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["verdict_stability"] = module
    spec.loader.exec_module(module)
    return module


def _run(verdict: Verdict) -> LabResult:
    result = connect_result(verdict=Verdict.CONFIRMED)
    first = result.findings[0]
    if verdict is Verdict.INCONCLUSIVE:
        first = dataclasses.replace(first, verdict=verdict, reason="noise", settle="more rounds")
    elif verdict is Verdict.DEPENDS:
        first = dataclasses.replace(
            first, verdict=verdict, depends_on=(Dependency(on="reading", name="what"),)
        )
    else:
        first = dataclasses.replace(first, verdict=verdict)
    return dataclasses.replace(result, findings=(first, *result.findings[1:]))


def _save(directory: Path, name: str, verdict: Verdict) -> None:
    (directory / name).write_text(json.dumps(dump_results([_run(verdict)])))


def test_table_counts_stable_agreeing_and_contradicting_claims(
    tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quick = [Verdict.CONFIRMED] * 4 + [Verdict.INCONCLUSIVE]
    for index, verdict in enumerate(quick, start=1):
        _save(tmp_path, f"quick-{index}.json", verdict)
    _save(tmp_path, "full.json", Verdict.CONFIRMED)
    claims = tool.collect(tmp_path)
    speedup = claims["connect.pooled-vs-new"]
    assert speedup.quick == quick
    assert speedup.full is Verdict.CONFIRMED
    assert speedup.most_common == (Verdict.CONFIRMED, 0.8)
    assert not speedup.stable  # 80% < 95%
    assert speedup.agrees
    assert not speedup.contradiction  # inconclusive is undecided, not a contradiction
    steady = claims["connect.connect-dominates"]
    assert steady.stable
    assert steady.agrees
    assert not steady.contradiction
    code = tool.main(["--from", str(tmp_path), "--json", str(tmp_path / "table.json")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "confirmed 4, inconclusive 1" in printed
    assert "2 claims: 1 with the same verdict in >= 95% of quick runs" in printed
    saved = json.loads((tmp_path / "table.json").read_text())
    assert saved[0]["quick"] == ["confirmed"] * 4 + ["inconclusive"]


def test_two_decided_verdicts_for_one_claim_are_a_contradiction(
    tool: ModuleType, tmp_path: Path
) -> None:
    _save(tmp_path, "quick-1.json", Verdict.CONFIRMED)
    _save(tmp_path, "quick-2.json", Verdict.REFUTED)
    claims = tool.collect(tmp_path)
    assert claims["connect.pooled-vs-new"].contradiction
    assert tool.main(["--from", str(tmp_path)]) == 1


def test_no_runs_is_an_error(tool: ModuleType, tmp_path: Path) -> None:
    assert tool.main(["--from", str(tmp_path)]) == 2
