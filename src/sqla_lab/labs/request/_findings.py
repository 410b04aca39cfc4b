"""The ``request`` lab's findings and tables, built from its measurements (no rendering here).

Claims come from issue 18 of this project, which measured the demo service from outside
(in-process CPU, callgrind and HTTP) and reported each cost in multiples of one raw asyncpg
request. Here each is measured in-process, as CPU per request, with the variants interleaved
block by block (:mod:`._measure`): a cost is one variant's CPU minus another's, divided by raw
asyncpg's, *in the same block*, and its verdict comes from the median of those per-block
values and its order-statistics interval (:func:`sqla_lab.lab.stats.paired`). A claim is
given a verdict only when the whole interval agrees; otherwise it is ``inconclusive`` and says
what would settle it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqla_lab.lab.messages import N_, Message, format_value
from sqla_lab.lab.results import Chart, Dependency, Finding, Measurement, Table, Verdict
from sqla_lab.lab.stats import (
    Band,
    Estimate,
    Scale,
    describe_estimate,
    judge,
    paired,
    paired_difference,
    paired_ratio,
    threshold_scale,
)
from sqla_lab.labs.request import _messages as words
from sqla_lab.labs.request._measure import CALLERS, GC_THRESHOLDS, GcRun

__all__ = [
    "AVOIDABLE_CLAIM",
    "AVOIDABLE_COSTS",
    "AVOIDABLE_HEADLINE",
    "CLAIMED_AVOIDABLE_SHARE",
    "CLAIMED_GC_US",
    "CLAIMED_ORM_RATIO",
    "FLOOR_CLAIM",
    "FLOOR_HEADLINE",
    "FLOOR_LIMIT",
    "GC_CLAIM",
    "GC_HEADLINE",
    "ORM_CLAIM",
    "ORM_HEADLINE",
    "RAW_REQUESTS",
    "SOURCE",
    "AvoidableCost",
    "about_scale",
    "avoidable_share_finding",
    "cost_finding",
    "cpu_chart",
    "floor_finding",
    "gc_finding",
    "gc_table",
    "orm_vs_raw_finding",
    "skipped_findings",
    "variants_table",
]

SOURCE = "sqla-lab issue 18: the demo service at the ORM's limit (measured from outside)"
#: Issue 18: the best ORM form costs 2.24x raw asyncpg's in-process CPU.
CLAIMED_ORM_RATIO = 2.24
#: Issue 18: about 40% of the old "bare ORM" request was avoidable.
CLAIMED_AVOIDABLE_SHARE = 0.4
#: Issue 18: the default collector cost 0.045-0.07 ms per request over HTTP.
CLAIMED_GC_US = 50.0
#: "Within a few per cent of the floor": the cheapest endpoint at most this far above it.
FLOOR_LIMIT = 0.10
#: The unit of a cost measured in raw asyncpg requests (translated where it is shown).
RAW_REQUESTS = N_("raw requests")


ORM_CLAIM = N_(
    "One ORM request (a session, one select, 11 entities) costs about 2.2x the CPU of the same "
    "request on raw asyncpg."
)
GC_CLAIM = N_(
    "gc.freeze() after start-up and a higher generation-0 threshold save about 0.05 ms of CPU "
    "per ORM request."
)
AVOIDABLE_CLAIM = N_(
    "About 40 per cent of what the 'bare ORM' request used to cost is avoidable overhead, "
    "not ORM work."
)
ORM_HEADLINE = N_("an ORM request costs ~2.2x raw asyncpg")
GC_HEADLINE = N_("gc.freeze saves ~0.05 ms per request")
AVOIDABLE_HEADLINE = N_("the old request: ~40% avoidable")
FLOOR_HEADLINE = N_("the cheapest endpoint is at the ORM floor")
FLOOR_CLAIM = N_(
    "The cheapest ORM endpoint is within a few per cent of the ORM's floor (the Session and 11 "
    "entities), which caps it near 0.6x raw asyncpg's capacity."
)


@dataclass(frozen=True, kw_only=True)
class AvoidableCost:
    """One avoidable cost: the variant that has it, the one without, the claim and its size.

    Attributes:
        claimed: the claimed cost, in multiples of one raw asyncpg request.
        what: the mechanism, a message template (:mod:`._messages`).
    """

    key: str
    variant: str
    base: str
    claimed: float
    headline: str
    claim: str
    what: str


#: Each claim of issue 18's ladder, as a pair of variants that differ in that cost only.
AVOIDABLE_COSTS = (
    AvoidableCost(
        key="request.dependency-overrides",
        variant="with-overrides",
        base="with-yield-dependency",
        claimed=0.98,
        headline=N_("a dependency override costs ~1 raw request"),
        claim=N_(
            "A FastAPI dependency override makes every request cost about one raw asyncpg "
            "request more."
        ),
        what=words.WHAT_OVERRIDES,
    ),
    AvoidableCost(
        key="request.yield-dependency",
        variant="with-yield-dependency",
        base="best",
        claimed=0.23,
        headline=N_("a yield dependency costs ~0.23 raw request"),
        claim=N_(
            "Opening the session in a yield dependency costs about a quarter of a raw request "
            "more than opening it in the route."
        ),
        what=words.WHAT_YIELD_DEPENDENCY,
    ),
    AvoidableCost(
        key="request.per-request-options",
        variant="with-per-request-options",
        base="best",
        claimed=0.34,
        headline=N_("AUTOCOMMIT per request costs ~0.34 raw request"),
        claim=N_(
            "Setting AUTOCOMMIT per request (session.connection(execution_options=...)) costs "
            "about a third of a raw request more than setting it once on the engine."
        ),
        what=words.WHAT_PER_REQUEST_OPTIONS,
    ),
    AvoidableCost(
        key="request.shielded-close",
        variant="with-shielded-close",
        base="best",
        claimed=0.02,
        headline=N_("the shielded close costs ~0.02 raw request"),
        claim=N_(
            "Closing the session through async with AsyncSession (a new task behind "
            "asyncio.shield) costs a little CPU (about 0.02 raw requests) over closing it directly."
        ),
        what=words.WHAT_SHIELDED_CLOSE,
    ),
    AvoidableCost(
        key="request.greenlet-per-call",
        variant="with-greenlet-per-call",
        base="best",
        claimed=0.11,
        headline=N_("a greenlet per call costs ~0.11 raw request"),
        claim=N_(
            "A greenlet per awaited session call instead of one per request (run_sync) costs "
            "about a tenth of a raw request."
        ),
        what=words.WHAT_GREENLET_PER_CALL,
    ),
)


def about_scale(claimed: float, unit: str) -> Scale:
    """The rule for "this costs about ``claimed``": confirmed within a factor 2, refuted under
    half of it (a cost that small is not the claimed one), depends above twice it."""
    values = {"claimed": format_value(claimed, unit)}
    return Scale(
        (
            Band(claimed / 2, Verdict.REFUTED, Message(words.ABOUT_SMALLER, values)),
            Band(claimed * 2, Verdict.CONFIRMED, Message(words.ABOUT_CLAIMED, values)),
            Band(math.inf, Verdict.DEPENDS, Message(words.ABOUT_LARGER, values)),
        )
    )


def _machine(estimate: Estimate, unit: str) -> tuple[Dependency, ...]:
    return (
        Dependency(
            on="machine",
            name=N_("CPU, Python build and library versions"),
            detail=Message(words.MACHINE, {"value": describe_estimate(estimate, unit)}),
        ),
    )


def _ms(samples: Sequence[float]) -> str:
    return format_value(sorted(samples)[len(samples) // 2], "ms")


def orm_vs_raw_finding(
    samples: Mapping[str, Sequence[float]], labels: Mapping[str, str]
) -> Finding:
    """What one ORM request costs next to raw asyncpg and Core."""
    ratio = paired_ratio(samples["best"], samples["raw"])
    core = paired_ratio(samples["core"], samples["raw"])
    extra = paired(lambda best, raw: best / raw - 1, samples["best"], samples["raw"])
    judgement = judge(
        extra,
        about_scale(CLAIMED_ORM_RATIO - 1, RAW_REQUESTS),
        what=words.ORM_EXTRA_READING,
        unit=RAW_REQUESTS,
    )
    return Finding(
        key="request.orm-vs-raw",
        headline=ORM_HEADLINE,
        claim=ORM_CLAIM,
        # Judged on the extra (ratio - 1); the block ratios' median is the same number + 1.
        deciding="ORM / raw asyncpg",
        source=SOURCE,
        measurements=(
            Measurement.from_samples(labels["raw"], samples["raw"], "ms"),
            Measurement.from_samples(labels["core"], samples["core"], "ms"),
            Measurement.from_samples(labels["best"], samples["best"], "ms"),
            ratio.measurement(N_("ORM / raw asyncpg"), "x"),
            core.measurement(N_("Core / raw asyncpg"), "x"),
            extra.measurement(N_("ORM's extra CPU, in raw asyncpg requests"), RAW_REQUESTS),
        ),
        explanation=Message(
            words.ORM_VS_RAW,
            {
                "best": _ms(samples["best"]),
                "raw": _ms(samples["raw"]),
                "core": _ms(samples["core"]),
                "ratio": describe_estimate(ratio, "x"),
                "core_ratio": describe_estimate(core, "x"),
                "extra": describe_estimate(extra, RAW_REQUESTS),
                "callers": CALLERS,
                "blocks": ratio.n,
            },
        ),
        **judgement.fields(depends_on=_machine(ratio, "x")),
    )


def cost_finding(
    cost: AvoidableCost, samples: Mapping[str, Sequence[float]], labels: Mapping[str, str]
) -> Finding:
    """One avoidable cost, measured alone, in multiples of a raw asyncpg request."""
    variant, base, raw = samples[cost.variant], samples[cost.base], samples["raw"]
    in_raw = paired(lambda v, b, r: (v - b) / r, variant, base, raw)
    added_us = paired(lambda v, b: (v - b) * 1000.0, variant, base)
    judgement = judge(
        in_raw,
        about_scale(cost.claimed, RAW_REQUESTS),
        what=words.COST_READING,
        unit=RAW_REQUESTS,
        kind="difference",
    )
    return Finding(
        key=cost.key,
        headline=cost.headline,
        claim=cost.claim,
        deciding="added CPU per request, in raw asyncpg requests",
        source=SOURCE,
        measurements=(
            Measurement.from_samples(labels[cost.variant], variant, "ms"),
            Measurement.from_samples(labels[cost.base], base, "ms"),
            in_raw.measurement(
                N_("added CPU per request, in raw asyncpg requests"),
                RAW_REQUESTS,
                kind="difference",
            ),
            added_us.measurement(N_("added CPU per request"), "us", kind="difference"),
        ),
        explanation=Message(
            words.COST,
            {
                "what": Message(cost.what),
                "cost": describe_estimate(in_raw, RAW_REQUESTS, kind="difference"),
                "added": describe_estimate(added_us, "us", kind="difference"),
                "blocks": in_raw.n,
                "variant": labels[cost.variant],
                "base": labels[cost.base],
            },
        ),
        **judgement.fields(depends_on=_machine(in_raw, RAW_REQUESTS)),
    )


def avoidable_share_finding(
    samples: Mapping[str, Sequence[float]], labels: Mapping[str, str]
) -> Finding:
    """How much of the old "bare ORM" request was avoidable."""
    share = paired(lambda old, best: (old - best) / old, samples["all-costs"], samples["best"])
    all_ratio = paired_ratio(samples["all-costs"], samples["raw"])
    claimed = CLAIMED_AVOIDABLE_SHARE
    scale = Scale(
        (
            Band(0.10, Verdict.REFUTED, words.AVOIDABLE_NONE),
            Band(claimed / 1.5, Verdict.DEPENDS, words.AVOIDABLE_SMALLER),
            Band(
                claimed * 1.5, Verdict.CONFIRMED, Message(words.ABOUT_CLAIMED, {"claimed": "40%"})
            ),
            Band(math.inf, Verdict.DEPENDS, words.AVOIDABLE_LARGER),
        )
    )
    judgement = judge(share, scale, what=words.AVOIDABLE_READING, unit="ratio")
    return Finding(
        key="request.avoidable",
        headline=AVOIDABLE_HEADLINE,
        claim=AVOIDABLE_CLAIM,
        deciding="avoidable share of the old request",
        source=SOURCE,
        measurements=(
            Measurement.from_samples(labels["all-costs"], samples["all-costs"], "ms"),
            Measurement.from_samples(labels["best"], samples["best"], "ms"),
            share.measurement(N_("avoidable share of the old request"), "ratio"),
            all_ratio.measurement(N_("old 'bare ORM' / raw asyncpg"), "x"),
        ),
        explanation=Message(
            words.AVOIDABLE,
            {
                "all_costs": _ms(samples["all-costs"]),
                "all_ratio": describe_estimate(all_ratio, "x"),
                "best": _ms(samples["best"]),
                "share": describe_estimate(share, "ratio"),
            },
        ),
        **judgement.fields(depends_on=_machine(share, "ratio")),
    )


def floor_finding(samples: Mapping[str, Sequence[float]], labels: Mapping[str, str]) -> Finding:
    """The floor: raw asyncpg's endpoint plus what the ORM unit of work costs beyond raw's."""
    raw, orm_work, raw_work = samples["raw"], samples["orm-work"], samples["raw-work"]
    above = paired(
        lambda best, r, o, u: best / (r + o - u) - 1, samples["best"], raw, orm_work, raw_work
    )
    floor_ms = paired(lambda r, o, u: r + o - u, raw, orm_work, raw_work)
    orm_extra_us = paired(lambda o, u: (o - u) * 1000.0, orm_work, raw_work)
    cap = paired(lambda r, o, u: r / (r + o - u), raw, orm_work, raw_work)
    limit = {"limit": format_value(FLOOR_LIMIT, "ratio")}
    scale = threshold_scale(
        FLOOR_LIMIT,
        below=Verdict.CONFIRMED,
        above=Verdict.REFUTED,
        below_means=Message(words.FLOOR_WITHIN, limit),
        above_means=Message(words.FLOOR_ABOVE, limit),
    )
    judgement = judge(above, scale, what=words.FLOOR_READING, unit="ratio", kind="difference")
    return Finding(
        key="request.floor",
        headline=FLOOR_HEADLINE,
        claim=FLOOR_CLAIM,
        deciding="cheapest ORM endpoint above its floor",
        source=SOURCE,
        measurements=(
            Measurement.from_samples(labels["orm-work"], orm_work, "ms"),
            Measurement.from_samples(labels["raw-work"], raw_work, "ms"),
            orm_extra_us.measurement(N_("ORM floor over raw asyncpg"), "us", kind="difference"),
            floor_ms.measurement(N_("raw asyncpg endpoint + ORM floor"), "ms"),
            above.measurement(
                N_("cheapest ORM endpoint above its floor"), "ratio", kind="difference"
            ),
            cap.measurement(N_("capacity cap: raw / floor"), "x"),
        ),
        explanation=Message(
            words.FLOOR,
            {
                "orm_extra": describe_estimate(orm_extra_us, "us"),
                "floor": describe_estimate(floor_ms, "ms"),
                "above": describe_estimate(above, "ratio", kind="difference"),
                "cap": describe_estimate(cap, "x"),
            },
        ),
        **judgement.fields(),
    )


def gc_finding(runs: Mapping[str, GcRun]) -> Finding:
    """What the garbage collector's default settings cost an ORM request, in-process."""
    default, tuned = runs["default"], runs["tuned"]
    saved_us = paired_difference(default.gc_us, tuned.gc_us)
    cpu_ms = paired_difference(default.cpu_ms, tuned.cpu_ms)
    judgement = judge(
        saved_us,
        about_scale(CLAIMED_GC_US, "us"),
        what=words.GC_READING,
        unit="us",
        kind="difference",
    )
    per_thousand = 1000 / default.requests
    return Finding(
        key="request.gc",
        headline=GC_HEADLINE,
        claim=GC_CLAIM,
        deciding="time in collections saved per request",
        source=SOURCE,
        measurements=(
            Measurement.from_samples(
                N_("CPU per request, default collector"), default.cpu_ms, "ms"
            ),
            Measurement.from_samples(
                N_("CPU per request, frozen + higher thresholds"), tuned.cpu_ms, "ms"
            ),
            Measurement.from_samples(
                N_("time in collections per request, default"), default.gc_us, "us"
            ),
            Measurement.from_samples(
                N_("time in collections per request, tuned"), tuned.gc_us, "us"
            ),
            saved_us.measurement(
                N_("time in collections saved per request"), "us", kind="difference"
            ),
            cpu_ms.measurement(N_("CPU saved per request"), "ms", kind="difference"),
        ),
        explanation=Message(
            words.GC,
            {
                "requests": f"{default.requests:,}",
                "default_us": format_value(default.gc_us_overall, "us"),
                "young": f"{default.collections[0] * per_thousand:.1f}",
                "middle": f"{default.collections[1] * per_thousand:.2f}",
                "full": f"{default.collections[2] * per_thousand:.2f}",
                "tuned_us": format_value(tuned.gc_us_overall, "us"),
                "thresholds": str(GC_THRESHOLDS),
                "tuned_young": f"{tuned.collections[0] * per_thousand:.1f}",
                "saved": describe_estimate(saved_us, "us", kind="difference"),
                "cpu": describe_estimate(cpu_ms, "ms", kind="difference"),
            },
        ),
        **judgement.fields(
            depends_on=(
                Dependency(
                    on="setting",
                    name=N_("what else the process allocates per request (an HTTP server)"),
                    detail=Message(
                        words.GC_ALLOCATIONS,
                        {"saved": describe_estimate(saved_us, "us", kind="difference")},
                    ),
                ),
            )
        ),
    )


def skipped_findings(missing: Sequence[str]) -> tuple[Finding, ...]:
    """Every finding of the lab, skipped because ``missing`` modules are not installed."""
    reason = Message(words.SKIPPED, {"missing": ", ".join(missing)})
    claims = {
        "request.orm-vs-raw": (ORM_HEADLINE, ORM_CLAIM),
        **{cost.key: (cost.headline, cost.claim) for cost in AVOIDABLE_COSTS},
        "request.gc": (GC_HEADLINE, GC_CLAIM),
        "request.avoidable": (AVOIDABLE_HEADLINE, AVOIDABLE_CLAIM),
        "request.floor": (FLOOR_HEADLINE, FLOOR_CLAIM),
    }
    return tuple(
        Finding(
            key=key,
            headline=headline,
            claim=claim,
            source=SOURCE,
            measurements=(),
            verdict=Verdict.SKIPPED,
            explanation=reason,
        )
        for key, (headline, claim) in claims.items()
    )


def variants_table(samples: Mapping[str, Sequence[float]], labels: Mapping[str, str]) -> Table:
    """CPU per request of every variant, and its ratio to raw asyncpg and the cheapest ORM."""
    rows = []
    for key, values in samples.items():
        to_raw = paired_ratio(values, samples["raw"])
        to_best = paired_ratio(values, samples["best"])
        cpu = Measurement.from_samples(key, values, "ms")
        ordered = sorted(values)
        rows.append(
            (
                labels[key],
                round(cpu.value, 4),
                round(ordered[0], 4),
                round(ordered[-1], 4),
                round(to_raw.value, 2),
                round(to_best.value, 2),
            )
        )
    return Table(
        key="request.variants",
        title=N_(
            "CPU per request (median over blocks of each block's cheapest slice; fastest and "
            "slowest block; per-block ratios)"
        ),
        columns=(
            N_("variant"),
            N_("cpu_ms"),
            N_("cpu_ms_min"),
            N_("cpu_ms_max"),
            N_("x_raw"),
            N_("x_best_orm"),
        ),
        rows=tuple(rows),
    )


def gc_table(runs: Mapping[str, GcRun]) -> Table:
    """The cheapest ORM endpoint under the two collector settings."""
    rows = []
    for mode, run in runs.items():
        per_thousand = 1000 / run.requests
        rows.append(
            (
                mode,
                round(Measurement.from_samples(mode, run.cpu_ms, "ms").value, 4),
                round(run.gc_us_overall, 1),
                round(run.collections[0] * per_thousand, 1),
                round(run.collections[1] * per_thousand, 2),
                round(run.collections[2] * per_thousand, 2),
            )
        )
    return Table(
        key="request.gc",
        title=N_("The cheapest ORM endpoint under two garbage-collector settings"),
        columns=(
            N_("collector"),
            N_("cpu_ms"),
            N_("gc_us_per_request"),
            N_("gen0_per_1000"),
            N_("gen1_per_1000"),
            N_("gen2_per_1000"),
        ),
        rows=tuple(rows),
    )


def cpu_chart() -> Chart:
    """The variants' CPU per request, as bars."""
    return Chart(
        key="request.cpu",
        title=N_("CPU per GET /users/{id}, in-process, 10 in flight"),
        kind="bar",
        table="request.variants",
        x="variant",
        y=("cpu_ms",),
        x_label=N_("variant"),
        y_label=N_("CPU ms per request"),
    )
