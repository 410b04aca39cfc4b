"""Statistics that decide: estimates with intervals, and verdict rules that use them.

Every comparison a lab reports is an :class:`Estimate`: a value and an interval that says how
far the noise of this run could move it. Verdict rules (:func:`judge`) cut the number line into
:class:`Band` s, each with the verdict it supports; a verdict is given only when the whole
interval lies in bands of one verdict. An interval that straddles two verdicts gives
``inconclusive``, with the reason and what would settle it; a difference whose interval holds
zero is "no measurable difference (within ±x)", never a negative cost.

Intervals, by how the samples were taken:

* **paired rounds** (:func:`paired`, :func:`paired_ratio`, :func:`paired_difference`): variants
  timed interleaved by :func:`~sqla_lab.lab.measure.sample_interleaved` share their round, so
  the per-round ratio or difference cancels the machine's drift. The estimate is the median of
  the per-round values; its 95% interval comes from order statistics (the sign-test interval,
  distribution-free and exact for any continuous distribution). Six rounds are the fewest that
  give 95%; with three to five the interval is the range of the rounds, at the lower
  confidence it really has (75% to 94%), and the renderings say so.
* **bootstrap** (:func:`bootstrap`, :func:`fitted_slope`, :func:`slope_ratio`): for statistics
  of several groups (a slope fitted over N, a ratio of unpaired medians), the groups are
  resampled with a fixed seed, so the same samples always give the same interval.
* **exact** (:func:`exact`): counts and other observations without noise.

Why our own code: SciPy has bootstrap and linregress, but the toolkit installs without NumPy or
SciPy; what the labs need fits in the standard library (:mod:`statistics`, :mod:`random`).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from sqla_lab.lab.messages import N_, Message, Quantity, join
from sqla_lab.lab.results import (
    VERDICT_NAMES,
    Dependency,
    Interval,
    Measurement,
    MeasurementKind,
    Verdict,
)

__all__ = [
    "BOOTSTRAP_REPLICATES",
    "CONFIDENCE",
    "MIN_GROUP",
    "MIN_ROUNDS",
    "Band",
    "Estimate",
    "Judgement",
    "JudgementFields",
    "Scale",
    "bootstrap",
    "combine",
    "decided",
    "describe_estimate",
    "exact",
    "fitted_slope",
    "judge",
    "median_interval",
    "paired",
    "paired_difference",
    "paired_ratio",
    "ratio_claim_scale",
    "slope_ratio",
    "threshold_scale",
    "unpaired_difference",
    "unpaired_ratio",
]

#: The confidence every 95% interval has; fewer samples give a lower, stated one.
CONFIDENCE = 0.95
#: Rounds needed before an interval is given at all (their range: 75% confidence).
MIN_ROUNDS = 3
#: Samples per group a bootstrap needs.
MIN_GROUP = 3
BOOTSTRAP_REPLICATES = 2000
_SEED = 20240615

# -- estimates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A value computed from samples and the interval the noise allows.

    Attributes:
        value: the point estimate (a median of rounds, a fitted slope, a count).
        interval: where the true value lies at the interval's confidence; ``None`` when the
            samples are too few to say.
        n: how many rounds or samples stand behind it.
    """

    value: float
    interval: Interval | None
    n: int

    def measurement(
        self, name: str | Message, unit: str, *, kind: MeasurementKind = "value"
    ) -> Measurement:
        """This estimate as a :class:`Measurement` (with its interval); ``name`` is a
        template, or a :class:`~sqla_lab.lab.messages.Message` holding the run's values."""
        key, label = (name.render(), name) if isinstance(name, Message) else (name, None)
        return Measurement(
            name=key, value=self.value, unit=unit, interval=self.interval, kind=kind, label=label
        )

    @classmethod
    def of(cls, measurement: Measurement) -> Estimate:
        """The estimate a measurement carries (exact when it has no interval and no samples)."""
        if measurement.interval is None and not measurement.samples:
            return exact(measurement.value)
        n = measurement.interval.n if measurement.interval else len(measurement.samples)
        return cls(measurement.value, measurement.interval, n)


def exact(value: float) -> Estimate:
    """A value without noise (a count, an observed yes/no)."""
    return Estimate(
        float(value), Interval(low=value, high=value, level=1.0, method="exact", n=1), 1
    )


def _binomial_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    return float(sum(math.comb(n, i) for i in range(k + 1))) / float(2**n)


def median_interval(values: Sequence[float], *, level: float = CONFIDENCE) -> Interval | None:
    """A distribution-free interval for the median of ``values`` (order statistics).

    With at least six values the interval has ``level`` (95%) confidence or more; with three to
    five it is their range, at the confidence that range really has; below three, ``None``.
    """
    n = len(values)
    if n < MIN_ROUNDS:
        return None
    ordered = sorted(values)
    # The widest k with P(B <= k - 1) <= (1 - level) / 2 keeps coverage >= level.
    k = 0
    while _binomial_cdf(k, n) <= (1 - level) / 2:
        k += 1
    if k == 0:
        achieved = 1 - 2 * _binomial_cdf(0, n)
        return Interval(
            low=ordered[0], high=ordered[-1], level=achieved, method="range of rounds", n=n
        )
    achieved = 1 - 2 * _binomial_cdf(k - 1, n)
    return Interval(
        low=ordered[k - 1], high=ordered[n - k], level=achieved, method="order statistics", n=n
    )


def paired(function: Callable[..., float], *series: Sequence[float]) -> Estimate:
    """Apply ``function`` to each round of interleaved ``series``; median and its interval."""
    lengths = {len(s) for s in series}
    if len(lengths) != 1:
        raise ValueError(f"paired series differ in length: {sorted(lengths)}")
    per_round = [function(*values) for values in zip(*series, strict=True)]
    if not per_round:
        raise ValueError("no rounds to compare")
    return Estimate(statistics.median(per_round), median_interval(per_round), len(per_round))


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Estimate:
    """The median per-round ratio of two interleaved variants."""
    return paired(lambda a, b: a / b, numerator, denominator)


def paired_difference(minuend: Sequence[float], subtrahend: Sequence[float]) -> Estimate:
    """The median per-round difference of two interleaved variants."""
    return paired(lambda a, b: a - b, minuend, subtrahend)


def bootstrap(
    statistic: Callable[[Sequence[Sequence[float]]], float],
    groups: Sequence[Sequence[float]],
    *,
    replicates: int = BOOTSTRAP_REPLICATES,
    level: float = CONFIDENCE,
) -> Estimate:
    """Percentile bootstrap of ``statistic`` over independently resampled ``groups``.

    The seed is fixed: the same samples always give the same interval. Any group with fewer
    than :data:`MIN_GROUP` samples leaves the estimate without an interval.
    """
    value = statistic(groups)
    n = min((len(g) for g in groups), default=0)
    if n < MIN_GROUP:
        return Estimate(value, None, n)
    rng = random.Random(_SEED)
    draws = sorted(
        statistic([rng.choices(group, k=len(group)) for group in groups]) for _ in range(replicates)
    )
    tail = (1 - level) / 2
    low = draws[math.floor(tail * (replicates - 1))]
    high = draws[math.ceil((1 - tail) * (replicates - 1))]
    return Estimate(value, Interval(low=low, high=high, level=level, method="bootstrap", n=n), n)


def _median_ratio(groups: Sequence[Sequence[float]]) -> float:
    return statistics.median(groups[0]) / statistics.median(groups[1])


def _median_difference(groups: Sequence[Sequence[float]]) -> float:
    return statistics.median(groups[0]) - statistics.median(groups[1])


def unpaired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Estimate:
    """The ratio of two medians measured apart, with a bootstrap interval."""
    return bootstrap(_median_ratio, [numerator, denominator])


def unpaired_difference(minuend: Sequence[float], subtrahend: Sequence[float]) -> Estimate:
    """The difference of two medians measured apart, with a bootstrap interval."""
    return bootstrap(_median_difference, [minuend, subtrahend])


def _slope(xs: Sequence[float], groups: Sequence[Sequence[float]]) -> float:
    """Least-squares slope through the medians of ``groups`` at ``xs``."""
    ys = [statistics.median(g) for g in groups]
    return statistics.linear_regression(xs, ys).slope


def fitted_slope(points: Mapping[float, Sequence[float]]) -> Estimate:
    """How fast a cost grows with x: the least-squares slope through the median at each x.

    The interval bootstraps the samples at each x independently. At least two distinct x are
    needed.
    """
    if len(points) < 2:
        raise ValueError("a slope needs at least two sizes")
    xs = sorted(points)
    return bootstrap(lambda groups: _slope(xs, groups), [points[x] for x in xs])


def slope_ratio(
    faster: Mapping[float, Sequence[float]],
    slower: Mapping[float, Sequence[float]],
    *,
    paired: bool = False,
    replicates: int = BOOTSTRAP_REPLICATES,
    level: float = CONFIDENCE,
) -> Estimate:
    """The ratio of two fitted slopes (``faster`` over ``slower``), bootstrapped together.

    With ``paired``, the two were timed interleaved (index ``i`` at each x is the same round):
    the bootstrap then draws rounds, keeping each round's two timings together, so drift the
    round shared cancels as it does in :func:`paired_ratio`. A replicate whose denominator slope
    is not positive counts as an unbounded ratio when the numerator slope is positive (the other
    cost does not grow at all).
    """
    xs_a, xs_b = sorted(faster), sorted(slower)

    def ratio(top: float, bottom: float) -> float:
        if bottom <= 0:
            return math.inf if top > 0 else 0.0
        return top / bottom

    if not paired:
        count_a = len(xs_a)
        return bootstrap(
            lambda groups: ratio(_slope(xs_a, groups[:count_a]), _slope(xs_b, groups[count_a:])),
            [*(faster[x] for x in xs_a), *(slower[x] for x in xs_b)],
            replicates=replicates,
            level=level,
        )
    if xs_a != xs_b or any(len(faster[x]) != len(slower[x]) for x in xs_a):
        raise ValueError("paired slopes need the same sizes and rounds")
    value = ratio(_slope(xs_a, [faster[x] for x in xs_a]), _slope(xs_a, [slower[x] for x in xs_a]))
    n = min(len(faster[x]) for x in xs_a)
    if n < MIN_GROUP:
        return Estimate(value, None, n)
    rng = random.Random(_SEED)
    draws = []
    for _ in range(replicates):
        picks = {x: rng.choices(range(len(faster[x])), k=len(faster[x])) for x in xs_a}
        top = _slope(xs_a, [[faster[x][i] for i in picks[x]] for x in xs_a])
        bottom = _slope(xs_a, [[slower[x][i] for i in picks[x]] for x in xs_a])
        draws.append(ratio(top, bottom))
    draws.sort()
    tail = (1 - level) / 2
    low = draws[math.floor(tail * (replicates - 1))]
    high = draws[math.ceil((1 - tail) * (replicates - 1))]
    return Estimate(
        value, Interval(low=low, high=high, level=level, method="paired bootstrap", n=n), n
    )


# -- describing estimates -----------------------------------------------------------------

_DIFFERENCE_NONE = N_("no measurable difference (within ±{bound})")
_DIFFERENCE_MORE = N_("{value} more ({level} interval {low} to {high})")
_DIFFERENCE_LESS = N_("{value} less ({level} interval {low} to {high} less)")
_DIFFERENCE_BARE = N_("{value} more or less: too few samples for an interval (n={n})")
_VALUE_INTERVAL = N_("{value} ({level} interval {low} to {high}, n={n})")
_VALUE_BARE = N_("{value} (n={n}, too few samples for an interval)")


def _percent(level: float) -> Quantity:
    # Floored: an interval of 95.7% confidence is "95%", never rounded up to a promise.
    return Quantity(math.floor(level * 100 + 1e-9) / 100, "ratio")


def describe_estimate(estimate: Estimate, unit: str, *, kind: MeasurementKind = "value") -> Message:
    """Words for an estimate: a value with its interval, or a difference without a sign.

    A difference whose interval holds zero is "no measurable difference (within ±x)"; a
    negative one is "x less"; a cost is never printed negative.
    """
    interval = estimate.interval
    if kind == "difference":
        if interval is None:
            return Message(
                _DIFFERENCE_BARE,
                {"value": Quantity(abs(estimate.value), unit), "n": estimate.n},
            )
        if interval.low <= 0 <= interval.high:
            bound = max(abs(interval.low), abs(interval.high))
            return Message(_DIFFERENCE_NONE, {"bound": Quantity(bound, unit)})
        positive = interval.low > 0
        low, high = (interval.low, interval.high) if positive else (-interval.high, -interval.low)
        return Message(
            _DIFFERENCE_MORE if positive else _DIFFERENCE_LESS,
            {
                "value": Quantity(abs(estimate.value), unit),
                "level": _percent(interval.level),
                "low": Quantity(low, unit),
                "high": Quantity(high, unit),
            },
        )
    if interval is None:
        return Message(_VALUE_BARE, {"value": Quantity(estimate.value, unit), "n": estimate.n})
    if interval.method == "exact":
        return Message("{value}", {"value": Quantity(estimate.value, unit)})
    return Message(
        _VALUE_INTERVAL,
        {
            "value": Quantity(estimate.value, unit),
            "level": _percent(interval.level),
            "low": Quantity(interval.low, unit),
            "high": Quantity(interval.high, unit),
            "n": interval.n,
        },
    )


# -- verdict rules ------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """A stretch of the number line and the verdict a value there supports.

    Attributes:
        upper: where the band ends (exclusive); ``math.inf`` for the last band.
        verdict: what a value in the band says about the claim.
        meaning: what a value there means, in words ("under 1.5x: no real effect").
    """

    upper: float
    verdict: Verdict
    meaning: Message | str


@dataclass(frozen=True)
class Scale:
    """Bands in ascending order covering the whole line: the verdict rule of a claim."""

    bands: tuple[Band, ...]

    def __post_init__(self) -> None:
        uppers = [b.upper for b in self.bands]
        if not uppers or uppers != sorted(uppers) or uppers[-1] != math.inf:
            raise ValueError("bands must ascend and the last must end at infinity")

    def index(self, value: float) -> int:
        """The band holding ``value``."""
        for i, band in enumerate(self.bands):
            if value < band.upper:
                return i
        return len(self.bands) - 1


class JudgementFields(TypedDict):
    """The :class:`~sqla_lab.lab.results.Finding` fields a judgement fills."""

    verdict: Verdict
    reason: Message
    settle: Message | None
    depends_on: tuple[Dependency, ...]


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """A verdict, the verdicts the evidence still allows, why, and what would settle it.

    Attributes:
        verdict: the verdict; ``INCONCLUSIVE`` unless ``possible`` holds exactly one.
        possible: the verdicts the intervals allow.
        reason: why, from the numbers.
        settle: for an inconclusive verdict, what would decide it.
    """

    verdict: Verdict
    possible: frozenset[Verdict]
    reason: Message
    settle: Message | None = None

    def fields(self, depends_on: Iterable[Dependency] = ()) -> JudgementFields:
        """The finding fields: ``Finding(key=..., **judgement.fields(depends_on=...))``.

        ``depends_on`` is kept only when the verdict is ``DEPENDS``.
        """
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "settle": self.settle,
            "depends_on": tuple(depends_on) if self.verdict is Verdict.DEPENDS else (),
        }


_DECIDED = N_("{what}: {estimate}, {meaning}")
_STRADDLES = N_("{what}: {estimate}; the interval reaches across {meanings}")
_TOO_FEW = N_("{what}: {estimate}; too few samples (n={n}) for an interval, {needed} are needed")
_SETTLE_MORE = N_(
    "a narrower interval for {what}: more rounds than the {n} taken here (the full run takes "
    "more than --quick), or a quieter machine"
)
_SETTLE_FEW = N_("at least {needed} samples of {what}: run without --quick")


def decided(verdict: Verdict, reason: Message | str) -> Judgement:
    """A judgement from exact observations (counts, exception types, states)."""
    text = reason if isinstance(reason, Message) else Message(reason)
    return Judgement(verdict=verdict, possible=frozenset({verdict}), reason=text)


def judge(
    estimate: Estimate,
    scale: Scale,
    *,
    what: str | Message,
    unit: str,
    kind: MeasurementKind = "value",
) -> Judgement:
    """The verdict ``scale`` gives ``estimate``, if its whole interval agrees on one.

    Args:
        estimate: the value and its interval.
        scale: the claim's verdict rule.
        what: what the estimate is, in words (a measurement's name).
        unit: its unit, for the wording.
        kind: ``"difference"`` words a signed difference without a minus sign.
    """
    shown = describe_estimate(estimate, unit, kind=kind)
    interval = estimate.interval
    if interval is None:
        needed = MIN_ROUNDS
        return Judgement(
            verdict=Verdict.INCONCLUSIVE,
            possible=frozenset(b.verdict for b in scale.bands),
            reason=Message(
                _TOO_FEW, {"what": what, "estimate": shown, "n": estimate.n, "needed": needed}
            ),
            settle=Message(_SETTLE_FEW, {"needed": needed, "what": what}),
        )
    first, last = scale.index(interval.low), scale.index(interval.high)
    touched = scale.bands[first : last + 1]
    possible = frozenset(b.verdict for b in touched)
    if len(possible) == 1:
        (verdict,) = possible
        meaning = _meaning(scale.bands[scale.index(estimate.value)])
        return Judgement(
            verdict=verdict,
            possible=possible,
            reason=Message(_DECIDED, {"what": what, "estimate": shown, "meaning": meaning}),
        )
    return Judgement(
        verdict=Verdict.INCONCLUSIVE,
        possible=possible,
        reason=Message(
            _STRADDLES,
            {"what": what, "estimate": shown, "meanings": tuple(_meaning(b) for b in touched)},
        ),
        settle=Message(_SETTLE_MORE, {"what": what, "n": interval.n}),
    )


def _meaning(band: Band) -> Message:
    return band.meaning if isinstance(band.meaning, Message) else Message(band.meaning)


_COMBINED = N_("{reasons}")
_COMBINED_OPEN = N_("the readings still allow {verdicts}: {reasons}")


def combine(
    judgements: Mapping[str, Judgement],
    rule: Callable[[Mapping[str, Verdict]], Verdict],
) -> Judgement:
    """Judge a claim with several readings: ``rule`` maps each reading's verdict to one.

    Every combination of the verdicts each reading still allows is tried; the claim gets a
    verdict only when all combinations give the same one.
    """
    names = list(judgements)
    outcomes: set[Verdict] = set()

    def walk(index: int, chosen: dict[str, Verdict]) -> None:
        if index == len(names):
            outcomes.add(rule(chosen))
            return
        for verdict in sorted(judgements[names[index]].possible, key=lambda v: v.value):
            walk(index + 1, {**chosen, names[index]: verdict})

    walk(0, {})
    reasons = tuple(j.reason for j in judgements.values())
    if len(outcomes) == 1:
        (verdict,) = outcomes
        return Judgement(
            verdict=verdict,
            possible=frozenset(outcomes),
            reason=Message(_COMBINED, {"reasons": reasons}),
        )
    open_settles = tuple(j.settle for j in judgements.values() if j.settle is not None)
    return Judgement(
        verdict=Verdict.INCONCLUSIVE,
        possible=frozenset(outcomes),
        reason=Message(
            _COMBINED_OPEN,
            {
                "verdicts": join(
                    [Message(VERDICT_NAMES[v]) for v in sorted(outcomes, key=lambda v: v.value)],
                    ", ",
                ),
                "reasons": reasons,
            },
        ),
        settle=Message(_COMBINED, {"reasons": open_settles}) if open_settles else None,
    )


_RATIO_NONE = N_("under {no_effect}x: no real effect")
_RATIO_SMALLER = N_("a real effect, but smaller than the claimed {claimed}x")
_RATIO_CLAIMED = N_("within a factor {tolerance} of the claimed {claimed}x")
_RATIO_LARGER = N_("a real effect, larger than the claimed {claimed}x")


def ratio_claim_scale(claimed: float, *, tolerance: float = 2.0, no_effect: float = 1.5) -> Scale:
    """The rule for "A is about ``claimed`` times B": confirmed within a factor ``tolerance``,
    refuted under ``no_effect`` (no real effect, or the other way round), depends otherwise
    (a real effect of another size: machine, network or settings decide it)."""
    values = {
        "claimed": f"{claimed:g}",
        "tolerance": f"{tolerance:g}",
        "no_effect": f"{no_effect:g}",
    }
    low, high = claimed / tolerance, claimed * tolerance
    bands = [Band(no_effect, Verdict.REFUTED, Message(_RATIO_NONE, values))]
    if low > no_effect:
        bands.append(Band(low, Verdict.DEPENDS, Message(_RATIO_SMALLER, values)))
    bands.append(Band(high, Verdict.CONFIRMED, Message(_RATIO_CLAIMED, values)))
    bands.append(Band(math.inf, Verdict.DEPENDS, Message(_RATIO_LARGER, values)))
    return Scale(tuple(bands))


def threshold_scale(
    threshold: float,
    *,
    below: Verdict,
    above: Verdict,
    below_means: Message | str,
    above_means: Message | str,
) -> Scale:
    """Two bands split at ``threshold`` (a value equal to it counts as above)."""
    return Scale((Band(threshold, below, below_means), Band(math.inf, above, above_means)))
