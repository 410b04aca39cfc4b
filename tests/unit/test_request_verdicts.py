"""The ``request`` lab's verdicts follow from its samples by the stated rules (no database)."""

from __future__ import annotations

import pytest

from sqla_lab.lab import Verdict
from sqla_lab.labs.request import _findings as findings
from sqla_lab.labs.request._measure import GC_THRESHOLDS, GcRun
from sqla_lab.labs.request._variants import labels

BLOCKS = 8
RAW_MS = 0.3


def _samples(**per_variant: list[float]) -> dict[str, list[float]]:
    """Every variant at 1 ms per block unless given; raw at 0.3 ms."""
    keys = labels()
    samples = {key: [1.0] * BLOCKS for key in keys}
    samples["raw"] = [RAW_MS] * BLOCKS
    samples.update(per_variant)
    return samples


OVERRIDES = next(c for c in findings.AVOIDABLE_COSTS if c.key == "request.dependency-overrides")


@pytest.mark.parametrize(
    ("added_raw_requests", "verdict"),
    [
        pytest.param(0.0, Verdict.REFUTED, id="no-cost"),
        pytest.param(0.3, Verdict.REFUTED, id="under-half-the-claim"),
        pytest.param(1.0, Verdict.CONFIRMED, id="as-claimed"),
        pytest.param(2.5, Verdict.DEPENDS, id="over-twice-the-claim"),
    ],
)
def test_a_cost_is_judged_on_its_per_block_size_in_raw_requests(
    added_raw_requests: float, verdict: Verdict
) -> None:
    base = [1.0 + 0.01 * block for block in range(BLOCKS)]
    variant = [b + added_raw_requests * RAW_MS for b in base]
    samples = _samples(**{OVERRIDES.variant: variant, OVERRIDES.base: base})
    finding = findings.cost_finding(OVERRIDES, samples, labels())
    assert finding.verdict is verdict
    measured = finding.measurement("added CPU per request, in raw asyncpg requests")
    assert measured.value == pytest.approx(added_raw_requests)
    if verdict is Verdict.DEPENDS:
        assert finding.depends_on


def test_blocks_that_disagree_give_inconclusive_with_what_would_settle_it() -> None:
    base = [1.0] * BLOCKS
    # Half the blocks say no cost, half say twice the claim: the interval spans every band.
    variant = [1.0 if block % 2 else 1.0 + 2.2 * RAW_MS for block in range(BLOCKS)]
    samples = _samples(**{OVERRIDES.variant: variant, OVERRIDES.base: base})
    finding = findings.cost_finding(OVERRIDES, samples, labels())
    assert finding.verdict is Verdict.INCONCLUSIVE
    assert finding.reason is not None
    assert finding.settle is not None


@pytest.mark.parametrize(
    ("best_ms", "verdict"),
    [
        pytest.param(0.32, Verdict.REFUTED, id="orm-as-cheap-as-raw"),
        pytest.param(0.67, Verdict.CONFIRMED, id="2.2x"),
        pytest.param(1.5, Verdict.DEPENDS, id="5x"),
    ],
)
def test_orm_against_raw_is_judged_on_the_extra_cpu(best_ms: float, verdict: Verdict) -> None:
    samples = _samples(best=[best_ms] * BLOCKS)
    finding = findings.orm_vs_raw_finding(samples, labels())
    assert finding.verdict is verdict
    assert finding.measurement("ORM / raw asyncpg").value == pytest.approx(best_ms / RAW_MS)


@pytest.mark.parametrize(
    ("best_ms", "verdict"),
    [
        pytest.param(0.72, Verdict.CONFIRMED, id="at-the-floor"),
        pytest.param(0.90, Verdict.REFUTED, id="25%-above"),
    ],
)
def test_the_floor_is_raw_plus_the_orm_unit_of_work(best_ms: float, verdict: Verdict) -> None:
    # Floor: raw endpoint 0.3 + (ORM work 0.6 - raw work 0.2) = 0.7 ms.
    samples = _samples(
        best=[best_ms] * BLOCKS, **{"orm-work": [0.6] * BLOCKS, "raw-work": [0.2] * BLOCKS}
    )
    finding = findings.floor_finding(samples, labels())
    assert finding.verdict is verdict
    assert finding.measurement("raw asyncpg endpoint + ORM floor").value == pytest.approx(0.7)


def test_the_avoidable_share_compares_the_old_request_with_the_cheapest() -> None:
    samples = _samples(best=[0.6] * BLOCKS, **{"all-costs": [1.0] * BLOCKS})
    finding = findings.avoidable_share_finding(samples, labels())
    assert finding.measurement("avoidable share of the old request").value == pytest.approx(0.4)
    assert finding.verdict is Verdict.CONFIRMED


@pytest.mark.parametrize(
    ("saved_us", "verdict"),
    [
        pytest.param(1.0, Verdict.REFUTED, id="in-process"),
        pytest.param(50.0, Verdict.CONFIRMED, id="as-over-http"),
    ],
)
def test_the_collector_claim_is_judged_on_time_in_collections(
    saved_us: float, verdict: Verdict
) -> None:
    chunks = 6
    runs = {
        "default": GcRun(
            cpu_ms=(1.0,) * chunks, gc_us=(saved_us,) * chunks, collections=(60, 2, 1), requests=600
        ),
        "tuned": GcRun(
            cpu_ms=(1.0,) * chunks, gc_us=(0.0,) * chunks, collections=(0, 0, 0), requests=600
        ),
    }
    assert findings.gc_finding(runs).verdict is verdict


def test_the_lab_measures_the_collector_settings_the_service_runs_with() -> None:
    from sqla_lab.service.app import GC_THRESHOLDS as SERVICE_THRESHOLDS

    assert GC_THRESHOLDS == SERVICE_THRESHOLDS


def test_without_its_libraries_every_finding_is_skipped() -> None:
    skipped = findings.skipped_findings(["fastapi"])
    assert len(skipped) == 4 + len(findings.AVOIDABLE_COSTS)
    assert {f.verdict for f in skipped} == {Verdict.SKIPPED}
    assert all("fastapi" in str(f.explanation) for f in skipped)
