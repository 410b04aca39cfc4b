"""Verdict rules on synthetic samples: a clear effect, no effect, and noise that cannot decide."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import pytest

from sqla_lab.lab.messages import Message
from sqla_lab.lab.results import Verdict
from sqla_lab.lab.stats import (
    Estimate,
    combine,
    decided,
    describe_estimate,
    exact,
    fitted_slope,
    judge,
    median_interval,
    paired_difference,
    paired_ratio,
    ratio_claim_scale,
    slope_ratio,
    threshold_scale,
    unpaired_difference,
)


def _noisy(centre: float, spread: float, count: int, *, seed: int) -> list[float]:
    """Timings around ``centre``: multiplicative noise, a drift shared by a round's variants."""
    rng = random.Random(seed)
    return [centre * math.exp(rng.gauss(0, spread)) for _ in range(count)]


def _rounds(
    a_centre: float, b_centre: float, spread: float, count: int
) -> tuple[list[float], list[float]]:
    """Two interleaved variants: each round shares a drift factor, plus their own noise."""
    rng = random.Random(7)
    drift = [math.exp(rng.gauss(0, 0.5)) for _ in range(count)]
    a = [a_centre * d * math.exp(rng.gauss(0, spread)) for d in drift]
    b = [b_centre * d * math.exp(rng.gauss(0, spread)) for d in drift]
    return a, b


PRE_PING = threshold_scale(
    10 / 3,
    below=Verdict.REFUTED,
    above=Verdict.CONFIRMED,
    below_means="far cheaper than claimed",
    above_means="as dear as claimed",
)


# -- intervals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "level", "method"),
    [
        pytest.param(3, 0.75, "range of rounds", id="3-range"),
        pytest.param(5, 0.9375, "range of rounds", id="5-range"),
        pytest.param(6, 0.96875, "order statistics", id="6-order"),
        pytest.param(30, 0.957, "order statistics", id="30-order"),
    ],
)
def test_median_interval_states_its_real_confidence(count: int, level: float, method: str) -> None:
    interval = median_interval([float(i) for i in range(count)])
    assert interval is not None
    assert interval.level == pytest.approx(level, abs=1e-3)
    assert interval.level >= 0.95 or method == "range of rounds"
    assert interval.method == method
    assert interval.n == count


def test_two_samples_give_no_interval() -> None:
    assert median_interval([1.0, 2.0]) is None


def test_order_statistics_cover_the_median_at_least_as_often_as_promised() -> None:
    rng = random.Random(3)
    covered = 0
    trials = 2000
    for _ in range(trials):
        interval = median_interval([rng.expovariate(1.0) for _ in range(30)])
        assert interval is not None
        covered += interval.contains(math.log(2))  # the exponential's median
    assert covered / trials >= 0.94


def test_paired_ratio_cancels_drift_shared_by_a_round() -> None:
    a, b = _rounds(20.0, 1.0, 0.02, 30)
    estimate = paired_ratio(a, b)
    assert estimate.interval is not None
    assert estimate.interval.contains(20.0)
    assert estimate.interval.high - estimate.interval.low < 1.0


def test_bootstrap_is_repeatable() -> None:
    a, b = _noisy(1.0, 0.2, 20, seed=1), _noisy(1.2, 0.2, 20, seed=2)
    assert unpaired_difference(a, b) == unpaired_difference(a, b)


def test_fitted_slope_recovers_a_linear_cost() -> None:
    rng = random.Random(5)
    points = {
        n: [0.5 + 0.3 * n * math.exp(rng.gauss(0, 0.05)) for _ in range(5)] for n in (10, 100, 1000)
    }
    estimate = fitted_slope(points)
    assert estimate.value == pytest.approx(0.3, rel=0.05)
    assert estimate.interval is not None
    assert estimate.interval.contains(0.3)


# -- verdicts: a clear effect, no effect, noisy overlap ----------------------------------


@pytest.mark.parametrize(
    ("new_centre", "spread", "verdict"),
    [
        pytest.param(20.0, 0.05, Verdict.CONFIRMED, id="clear-effect-as-claimed"),
        pytest.param(1.0, 0.05, Verdict.REFUTED, id="no-effect"),
        pytest.param(6.0, 0.05, Verdict.DEPENDS, id="real-but-smaller"),
        pytest.param(10.0, 0.6, Verdict.INCONCLUSIVE, id="noisy-overlap-at-the-band-edge"),
    ],
)
def test_ratio_claim(new_centre: float, spread: float, verdict: Verdict) -> None:
    new, pooled = _rounds(new_centre, 1.0, spread, 30)
    judgement = judge(
        paired_ratio(new, pooled), ratio_claim_scale(20.0), what="new / pooled", unit="x"
    )
    assert judgement.verdict is verdict
    if verdict is Verdict.INCONCLUSIVE:
        assert judgement.settle is not None
        assert judgement.possible == {Verdict.CONFIRMED, Verdict.DEPENDS}
        assert "reaches across" in judgement.reason.render()
    else:
        assert judgement.settle is None
        assert judgement.possible == {verdict}


@pytest.mark.parametrize(
    ("overhead_ms", "spread_ms", "verdict"),
    [
        pytest.param(10.0, 0.5, Verdict.CONFIRMED, id="clear-effect"),
        pytest.param(0.0, 0.05, Verdict.REFUTED, id="no-effect"),
        pytest.param(3.3, 2.0, Verdict.INCONCLUSIVE, id="noisy-overlap"),
    ],
)
def test_difference_threshold(overhead_ms: float, spread_ms: float, verdict: Verdict) -> None:
    rng = random.Random(11)
    base = [1.0 + rng.random() for _ in range(30)]
    dearer = [b + overhead_ms + rng.gauss(0, spread_ms) for b in base]
    estimate = paired_difference(dearer, base)
    judgement = judge(estimate, PRE_PING, what="pre-ping overhead", unit="ms", kind="difference")
    assert judgement.verdict is verdict


def test_too_few_samples_are_inconclusive_and_say_what_settles_it() -> None:
    estimate = paired_ratio([20.0, 21.0], [1.0, 1.0])
    judgement = judge(estimate, ratio_claim_scale(20.0), what="speed-up", unit="x")
    assert judgement.verdict is Verdict.INCONCLUSIVE
    assert "n=2" in judgement.reason.render()
    assert judgement.settle is not None
    assert "without --quick" in judgement.settle.render()


@pytest.mark.parametrize(
    ("lazy_per_parent", "verdict"),
    [
        pytest.param(0.30, Verdict.CONFIRMED, id="grows-much-faster"),
        pytest.param(0.02, Verdict.REFUTED, id="grows-alike"),
    ],
)
def test_growth_is_judged_on_the_fitted_slope(lazy_per_parent: float, verdict: Verdict) -> None:
    rng = random.Random(2)
    sizes = (10, 100, 1000)

    def cost(per_parent: float) -> dict[float, list[float]]:
        return {
            n: [1.0 + per_parent * n * math.exp(rng.gauss(0, 0.1)) for _ in range(3)] for n in sizes
        }

    ratio = slope_ratio(cost(lazy_per_parent), cost(0.02))
    scale = threshold_scale(
        2.0,
        below=Verdict.REFUTED,
        above=Verdict.CONFIRMED,
        below_means="not much faster",
        above_means="much faster",
    )
    assert judge(ratio, scale, what="slope ratio", unit="x").verdict is verdict


def test_one_sample_per_size_gives_no_slope_interval() -> None:
    points = {10: [1.0], 100: [3.0], 1000: [30.0]}
    assert fitted_slope(points).interval is None


# -- combining readings -------------------------------------------------------------------


def _both_or_depends(verdicts: Mapping[str, Verdict]) -> Verdict:
    values = set(verdicts.values())
    return values.pop() if len(values) == 1 else Verdict.DEPENDS


def test_combine_decides_when_every_possibility_agrees() -> None:
    confirmed = decided(Verdict.CONFIRMED, "a")
    depends = decided(Verdict.DEPENDS, "b")
    # One reading cannot tell confirmed from depends; with the other at depends, the claim
    # depends either way.
    undecided = judge(
        paired_ratio(*_rounds(10.0, 1.0, 0.6, 30)),
        ratio_claim_scale(20.0),
        what="x",
        unit="x",
    )
    assert undecided.verdict is Verdict.INCONCLUSIVE
    assert combine({"a": undecided, "b": depends}, _both_or_depends).verdict is Verdict.DEPENDS
    combined = combine({"a": undecided, "b": confirmed}, _both_or_depends)
    assert combined.verdict is Verdict.INCONCLUSIVE
    assert combined.settle is not None


# -- words --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("estimate", "text"),
    [
        pytest.param(
            Estimate(-0.01, None, 2), "0.01 ms more or less: too few samples", id="no-interval"
        ),
        pytest.param(
            paired_difference([1.0, 1.1, 0.9, 1.0, 1.05, 0.95], [1.0] * 6),
            "no measurable difference (within ±0.1 ms)",
            id="inside-the-noise",
        ),
        pytest.param(
            paired_difference([0.5] * 6, [1.0, 0.9, 1.1, 1.0, 0.95, 1.05]),
            "0.5 ms less",
            id="negative",
        ),
        pytest.param(
            paired_difference([2.0] * 6, [1.0, 0.9, 1.1, 1.0, 0.95, 1.05]),
            "1 ms more",
            id="positive",
        ),
    ],
)
def test_differences_are_never_printed_negative(estimate: Estimate, text: str) -> None:
    words = describe_estimate(estimate, "ms", kind="difference").render()
    assert words.startswith(text)
    assert "-" not in words.replace("±", "")


def test_exact_values_have_no_interval_words() -> None:
    assert describe_estimate(exact(3), "statements").render() == "3 statements"


def test_messages_render_through_a_translation() -> None:
    inner = Message("{count} rounds", {"count": 30})
    outer = Message("measured over {rounds}", {"rounds": inner})
    catalog = {"{count} rounds": "{count}회", "measured over {rounds}": "{rounds}에 걸쳐 측정"}
    assert outer.render(lambda text: catalog.get(text, text)) == "30회에 걸쳐 측정"
    with pytest.raises(ValueError, match="lacks values"):
        Message("{missing}", {"other": 1})


def test_an_unbounded_ratio_is_printed_as_infinity() -> None:
    flat = {10.0: [1.0, 1.0, 1.0], 100.0: [1.0, 1.0, 1.0]}
    growing = {10.0: [1.0, 1.1, 0.9], 100.0: [10.0, 11.0, 9.0]}
    ratio = slope_ratio(growing, flat, paired=True)
    assert math.isinf(ratio.value)
    assert describe_estimate(ratio, "x").render().startswith("∞x")
