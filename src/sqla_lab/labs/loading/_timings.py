"""Timing-based findings of the ``loading`` lab: growth, distance, the recommendation, and
what joinedload's duplicated rows cost on the wire.

Growth claims are judged on the fitted slope of wall time over N (or over added latency), with a
bootstrap interval, never on one size; comparisons at one size use the per-round ratio of the
strategies timed interleaved in the same rounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqla_lab.lab.messages import N_, Message, Quantity
from sqla_lab.lab.results import Dependency, Finding, Measurement, Verdict
from sqla_lab.lab.stats import (
    Band,
    Estimate,
    Judgement,
    Scale,
    combine,
    decided,
    describe_estimate,
    fitted_slope,
    judge,
    paired_ratio,
    slope_ratio,
    threshold_scale,
)
from sqla_lab.labs.loading import _messages as words
from sqla_lab.labs.loading._findings import DOCS, EAGER, SEED, at, points
from sqla_lab.labs.loading._runs import STRATEGIES, SweepPoint

__all__ = [
    "BARELY",
    "MUCH_FASTER",
    "WireBytes",
    "joined_finding",
    "latency_finding",
    "recommendation_finding",
    "scaling_finding",
]

#: "Grows much faster": more than twice the cost per parent.
MUCH_FASTER = 2.0
#: "Barely moves": the lazy loop's latency slope at least this many times the eager ones'.
BARELY = 5.0


@dataclass(frozen=True)
class WireBytes:
    """Bytes the client received for one joined and one selectin load (``None``: unknown)."""

    joined: int | None
    selectin: int | None
    why_not: str = ""


def _growth(sweep: Sequence[SweepPoint], strategy: str, m: int) -> dict[float, list[float]]:
    return {float(p.users): list(p.wall_ms) for p in points(sweep, strategy, m)}


def _both_or_depends(verdicts: Mapping[str, Verdict]) -> Verdict:
    distinct = set(verdicts.values())
    return distinct.pop() if len(distinct) == 1 else Verdict.DEPENDS


def scaling_finding(sweep: Sequence[SweepPoint], versions: Mapping[str, str]) -> Finding:
    """Finding 5: the lazy loop's cost per parent against the eager strategies'."""
    sizes = sorted({p.users for p in sweep if p.posts_per_user == 10})
    slopes = {s: fitted_slope(_growth(sweep, s, 10)) for s in STRATEGIES}
    ratios = {
        s: slope_ratio(_growth(sweep, "lazy", 10), _growth(sweep, s, 10), paired=True)
        for s in EAGER
    }
    scale = threshold_scale(
        MUCH_FASTER,
        below=Verdict.REFUTED,
        above=Verdict.CONFIRMED,
        below_means=words.NOT_MUCH_FASTER,
        above_means=words.MUCH_FASTER,
    )
    judgement = combine(
        {
            s: judge(r, scale, what=f"lazy / {s}, cost per parent", unit="x")
            for s, r in ratios.items()
        },
        _both_or_depends,
    )
    slope_words = tuple(
        Message(
            words.SLOPE,
            {"strategy": s, "slope": describe_estimate(e, "ms", kind="difference")},
        )
        for s, e in slopes.items()
    )
    ratio_words = tuple(
        Message(words.RATIO, {"strategy": f"lazy / {s}", "ratio": describe_estimate(r, "x")})
        for s, r in ratios.items()
    )
    largest = sizes[-1]
    return Finding(
        key="loading.scaling",
        headline=N_("the lazy loop grows fastest with N"),
        claim=N_(
            "The lazy loop's cost grows with N much faster than selectinload's or joinedload's."
        ),
        source=SEED,
        quote="모두 조회 시 N+1 문제가 발생",
        measurements=(
            *(
                e.measurement(
                    Message(N_("{strategy} cost per parent (slope over N, M=10)"), {"strategy": s}),
                    "ms",
                )
                for s, e in slopes.items()
            ),
            *(
                r.measurement(
                    Message(N_("lazy / {strategy}, cost per parent (M=10)"), {"strategy": s}), "x"
                )
                for s, r in ratios.items()
            ),
        ),
        explanation=Message(
            words.SCALING,
            {
                "smallest": f"{sizes[0]:,}",
                "largest": f"{largest:,}",
                "reps": min(len(p.wall_ms) for p in sweep if p.posts_per_user == 10),
                "slopes": slope_words,
                "ratios": ratio_words,
                "lazy_ms": Quantity(at(sweep, "lazy", largest, 10).median_ms, "ms"),
            },
        ),
        versions=versions,
        **judgement.fields(
            depends_on=(
                Dependency(
                    on="setting",
                    name=N_("which eager strategy"),
                    detail=Message(words.SCALING_DEPENDS, {"ratios": ratio_words}),
                ),
            )
        ),
    )


def latency_finding(latency: Sequence[SweepPoint], versions: Mapping[str, str]) -> Finding:
    """Finding 6: every added millisecond costs the lazy loop a round trip per statement."""
    users = max(p.users for p in latency)
    delays = sorted({p.latency_ms for p in latency})
    by_delay = {
        s: {p.latency_ms: list(p.wall_ms) for p in latency if (p.strategy, p.users) == (s, users)}
        for s in ("lazy", *EAGER)
    }
    slopes = {s: fitted_slope(points_) for s, points_ in by_delay.items()}
    statements = at(latency, "lazy", users, 10).counted.statements
    predicted = 2.0 * statements
    dearest = max(EAGER, key=lambda s: slopes[s].value)
    ratio = slope_ratio(by_delay["lazy"], by_delay[dearest], paired=True)
    per_round_trip = Scale(
        (
            Band(predicted / 2, Verdict.REFUTED, words.LATENCY_UNDER),
            Band(predicted * 2, Verdict.CONFIRMED, words.PER_ROUND_TRIP),
            Band(math.inf, Verdict.DEPENDS, words.LATENCY_OVER),
        )
    )
    barely = threshold_scale(
        BARELY,
        below=Verdict.REFUTED,
        above=Verdict.CONFIRMED,
        below_means=words.EAGER_MOVES,
        above_means=words.EAGER_STILL,
    )
    judgement = combine(
        {
            "lazy": judge(
                slopes["lazy"],
                per_round_trip,
                what=N_("lazy, ms per ms"),
                unit="ms/ms",
                kind="difference",
            ),
            "eager": judge(ratio, barely, what=f"lazy / {dearest}", unit="x"),
        },
        _latency_rule,
    )
    slope_words = tuple(
        Message(
            words.RATIO,
            {"strategy": s, "ratio": describe_estimate(e, "ms/ms", kind="difference")},
        )
        for s, e in slopes.items()
    )
    return Finding(
        key="loading.latency",
        headline=N_("distance multiplies N+1"),
        claim=N_(
            "Distance multiplies N+1: every added millisecond of round trip costs the lazy "
            "loop about (1 + N) round trips, while selectinload and joinedload barely move."
        ),
        source=DOCS,
        measurements=(
            *(
                e.measurement(
                    Message(
                        N_("{strategy}: ms of wall time per ms of one-way delay, N={users}"),
                        {"strategy": s, "users": users},
                    ),
                    "ms/ms",
                    kind="difference",
                )
                for s, e in slopes.items()
            ),
            Measurement.single(N_("predicted lazy slope (statements x 2)"), predicted, "ms/ms"),
            ratio.measurement(
                Message(N_("lazy / {strategy} latency slope"), {"strategy": dearest}), "x"
            ),
        ),
        explanation=Message(
            words.LATENCY,
            {
                "delays": ", ".join(f"{d:g}" for d in delays),
                "users": f"{users:,}",
                "slopes": slope_words,
                "statements": f"{statements:,}",
                "predicted": Quantity(predicted, "ms/ms"),
                "ratio": describe_estimate(ratio, "x"),
            },
        ),
        versions=versions,
        **judgement.fields(
            depends_on=(
                Dependency(
                    on="version",
                    name=N_("round trips per statement (driver and statement cache)"),
                    detail=Message(
                        words.LATENCY_DEPENDS,
                        {
                            "slope": describe_estimate(slopes["lazy"], "ms/ms", kind="difference"),
                            "predicted": Quantity(predicted, "ms/ms"),
                        },
                    ),
                ),
            )
        ),
    )


def _latency_rule(verdicts: Mapping[str, Verdict]) -> Verdict:
    if verdicts["eager"] is Verdict.REFUTED or verdicts["lazy"] is Verdict.REFUTED:
        return Verdict.REFUTED
    return verdicts["lazy"]


def _best_eager(sweep: Sequence[SweepPoint], users: int, m: int, latency: float) -> SweepPoint:
    candidates = [
        p
        for p in sweep
        if (p.users, p.posts_per_user, p.latency_ms) == (users, m, latency) and p.strategy != "lazy"
    ]
    return min(candidates, key=lambda p: p.median_ms)


def _lazy_over_best(
    sweep: Sequence[SweepPoint], users: int, m: int, latency: float
) -> tuple[SweepPoint, Estimate]:
    best = _best_eager(sweep, users, m, latency)
    lazy = next(
        p
        for p in sweep
        if (p.strategy, p.users, p.posts_per_user, p.latency_ms) == ("lazy", users, m, latency)
    )
    return best, paired_ratio(lazy.wall_ms, best.wall_ms)


def _eager_wins() -> Scale:
    return threshold_scale(
        1.0,
        below=Verdict.REFUTED,
        above=Verdict.CONFIRMED,
        below_means=words.LAZY_FASTER,
        above_means=words.EAGER_FASTER,
    )


def _everywhere(verdicts: Mapping[str, Verdict]) -> Verdict:
    values = set(verdicts.values())
    if values == {Verdict.CONFIRMED}:
        return Verdict.CONFIRMED
    if values == {Verdict.REFUTED}:
        return Verdict.REFUTED
    return Verdict.DEPENDS


def recommendation_finding(
    sweep: Sequence[SweepPoint], latency: Sequence[SweepPoint], versions: Mapping[str, str]
) -> Finding:
    """Finding 7: the fastest eager strategy against the lazy loop, size by size."""
    judgements: dict[str, Judgement] = {}
    sizes: list[Message] = []
    for m in sorted({p.posts_per_user for p in sweep}):
        for n in sorted({p.users for p in sweep if p.posts_per_user == m}):
            best, ratio = _lazy_over_best(sweep, n, m, 0.0)
            label = f"M={m} N={n:,}"
            judgements[label] = judge(
                ratio, _eager_wins(), what=f"lazy / {best.strategy}, {label}", unit="x"
            )
            sizes.append(
                Message(
                    words.RECOMMENDATION_SIZE,
                    {
                        "m": m,
                        "n": f"{n:,}",
                        "best": best.strategy,
                        "ratio": describe_estimate(ratio, "x"),
                    },
                )
            )
    cross: list[Message] = []
    crossover: dict[float, int | None] = {}
    for delay in sorted({p.latency_ms for p in latency}):
        wins = [
            n
            for n in sorted({p.users for p in latency})
            if (ratio := _lazy_over_best(latency, n, 10, delay)[1]).interval is not None
            and ratio.interval.low > 1
        ]
        crossover[delay] = wins[0] if wins else None
        cross.append(
            Message(words.CROSSOVER, {"delay": f"{delay:g}", "n": f"{wins[0]:,}"})
            if wins
            else Message(words.CROSSOVER_NEVER, {"delay": f"{delay:g}"})
        )
    judgement = combine(judgements, _everywhere)
    lazy_wins = [label for label, j in judgements.items() if j.verdict is Verdict.REFUTED]
    return Finding(
        key="loading.recommendation",
        headline=N_("load lists eagerly, never lazily"),
        claim=N_(
            "Load collections for lists eagerly (selectinload or joinedload), never in a lazy loop."
        ),
        source=SEED + " 방법2",
        measurements=tuple(
            Measurement.single(
                Message(N_("eager beats lazy from N, +{delay} ms"), {"delay": f"{d:g}"}),
                float(n or 0),
                "users",
            )
            for d, n in crossover.items()
        ),
        explanation=Message(words.RECOMMENDATION, {"sizes": tuple(sizes), "cross": tuple(cross)}),
        versions=versions,
        **judgement.fields(
            depends_on=(
                Dependency(
                    on="size",
                    name=N_("N and M"),
                    detail=Message(
                        words.RECOMMENDATION_DEPENDS, {"sizes": ", ".join(lazy_wins) or "-"}
                    ),
                ),
            )
        ),
    )


def joined_finding(
    sweep: Sequence[SweepPoint],
    latency: Sequence[SweepPoint],
    unique_error: str | None,
    wire: WireBytes,
    versions: Mapping[str, str],
) -> Finding:
    """Finding 3: one statement, duplicated rows, unique(), and the network cost."""
    joined = points(sweep, "joinedload", 10)
    one_statement = all(p.counted.statements == 1 for p in points(sweep, "joinedload"))
    duplicated = all(p.counted.rows > p.users for p in joined)
    largest = max(joined, key=lambda p: p.users)
    selectin = at(sweep, "selectinload", largest.users, 10)
    time_ratio = paired_ratio(largest.wall_ms, selectin.wall_ms)
    top = max(p.latency_ms for p in latency)
    far_users = max(p.users for p in latency)
    far_ratio = paired_ratio(
        at([p for p in latency if p.latency_ms == top], "joinedload", far_users, 10).wall_ms,
        at([p for p in latency if p.latency_ms == top], "selectinload", far_users, 10).wall_ms,
    )
    shape = one_statement and duplicated and unique_error is not None
    if wire.joined is None or wire.selectin is None:
        network: Message = Message(words.JOINED_NO_BYTES, {"why": wire.why_not})
        judgement = (
            Judgement(
                verdict=Verdict.INCONCLUSIVE,
                possible=frozenset({Verdict.CONFIRMED, Verdict.REFUTED}),
                reason=network,
                settle=Message(words.JOINED_SETTLE),
            )
            if shape
            else decided(Verdict.REFUTED, Message(words.JOINED_SHAPE))
        )
        byte_measurements: tuple[Measurement, ...] = ()
    else:
        bytes_ratio = wire.joined / wire.selectin
        network = Message(
            words.JOINED_BYTES,
            {
                "joined_bytes": Quantity(wire.joined, "B"),
                "selectin_bytes": Quantity(wire.selectin, "B"),
                "bytes_ratio": Quantity(bytes_ratio, "x"),
            },
        )
        costs_more = bytes_ratio > 1.05
        judgement = decided(
            Verdict.CONFIRMED if shape and costs_more else Verdict.REFUTED,
            Message(
                words.JOINED_REASON,
                {
                    "one": one_statement,
                    "repeated": duplicated,
                    "unique": unique_error is not None,
                    "ratio": Quantity(bytes_ratio, "x"),
                },
            ),
        )
        byte_measurements = (
            Measurement.single(
                Message(N_("bytes received, joinedload N={users} M=10"), {"users": largest.users}),
                wire.joined,
                "B",
            ),
            Measurement.single(
                Message(
                    N_("bytes received, selectinload N={users} M=10"), {"users": largest.users}
                ),
                wire.selectin,
                "B",
            ),
            Measurement.single(N_("joined / selectin bytes received"), bytes_ratio, "x"),
        )
    return Finding(
        key="loading.joined-duplication",
        headline=N_("joinedload repeats parent rows"),
        deciding="joined / selectin bytes received",
        claim=N_(
            "joinedload fetches a collection in one LEFT OUTER JOIN statement, repeating "
            "each parent row per child, so the network cost grows and the result must be "
            "de-duplicated with unique()."
        ),
        source=SEED + " joininload",
        quote="join을 통해 한번에 가져옴, 1대N의 경우 중복된 값이 많아져 네트워크 비용이 늘어남. "
        "중복 제거가 필요함",
        measurements=(
            Measurement.single(
                Message(N_("joined statements, N={users} M=10"), {"users": largest.users}),
                largest.counted.statements,
                "statements",
            ),
            Measurement.single(
                Message(N_("joined rows returned, N={users} M=10"), {"users": largest.users}),
                largest.counted.rows,
                "rows",
            ),
            Measurement.single(
                Message(N_("users built, N={users}"), {"users": largest.users}),
                largest.users,
                "entities",
            ),
            Measurement.single(
                Message(N_("selectin rows returned, N={users} M=10"), {"users": largest.users}),
                selectin.counted.rows,
                "rows",
            ),
            *byte_measurements,
            time_ratio.measurement(N_("joined / selectin wall time"), "x"),
            far_ratio.measurement(
                Message(
                    N_("joined / selectin wall time, +{delay} ms, N={users}"),
                    {"delay": f"{top:g}", "users": far_users},
                ),
                "x",
            ),
        ),
        explanation=Message(
            words.JOINED,
            {
                "users": f"{largest.users:,}",
                "statements": largest.counted.statements,
                "rows": f"{largest.counted.rows:,}",
                "repeat": f"{largest.counted.rows / largest.users:.0f}",
                "selectin_rows": f"{selectin.counted.rows:,}",
                "selectin_statements": selectin.counted.statements,
                "network": network,
                "time_ratio": describe_estimate(time_ratio, "x"),
                "latency_ratio": Message(
                    words.JOINED_LATENCY,
                    {"ratio": describe_estimate(far_ratio, "x"), "delay": f"{top:g}"},
                ),
                "unique_error": unique_error or Message(words.NOTHING),
            },
        ),
        versions=versions,
        **judgement.fields(),
    )
