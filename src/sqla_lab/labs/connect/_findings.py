"""The ``connect`` lab's findings, computed from its samples only (no database here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqla_lab.lab.messages import N_, Message, Quantity, join
from sqla_lab.lab.results import Dependency, Finding, Measurement, Verdict
from sqla_lab.lab.sources import seed_section
from sqla_lab.lab.stats import (
    combine,
    describe_estimate,
    judge,
    paired,
    paired_difference,
    paired_ratio,
    ratio_claim_scale,
    threshold_scale,
)
from sqla_lab.labs.connect import _messages as text

__all__ = [
    "CLAIMED_SPEEDUP",
    "NEW_ACQUIRE",
    "NEW_ASYNCPG",
    "NEW_SQLALCHEMY",
    "POOLED",
    "POOLED_ACQUIRE",
    "REQUEST",
    "SEED_QUOTE",
    "SEED_SOURCE",
    "SQLA_POOLING",
    "RequestTimes",
    "agree_or_depends",
    "dominates_finding",
    "speedup_finding",
]

#: The seed's "20배".
CLAIMED_SPEEDUP = 20.0
SQLA_POOLING = "https://docs.sqlalchemy.org/en/20/core/pooling.html"
SEED_SOURCE = f"{seed_section(1, '커넥션을 재사용하는 이유')}; {SQLA_POOLING}"
SEED_QUOTE = "데이터베이스 사용시 커넥션을 생성하는데 대부분의 시간이 소요됨(로컬 테스트 20배)"

NEW_SQLALCHEMY = N_("new connection + SELECT 1 (SQLAlchemy, NullPool)")
NEW_ASYNCPG = N_("new connection + SELECT 1 (raw asyncpg)")
POOLED = N_("pooled connection + SELECT 1 (QueuePool)")
NEW_ACQUIRE = N_("new connection alone (SQLAlchemy, NullPool)")
POOLED_ACQUIRE = N_("pooled checkout alone (QueuePool)")
REQUEST = N_("pooled service request (GET /users/{id} shape)")


@dataclass(frozen=True)
class RequestTimes:
    """Per round: a pooled request's wall time and the part spent executing statements."""

    total_ms: tuple[float, ...]
    database_ms: tuple[float, ...]


def agree_or_depends(verdicts: Mapping[str, Verdict]) -> Verdict:
    """The readings' common verdict, or ``DEPENDS`` when they differ."""
    distinct = set(verdicts.values())
    return distinct.pop() if len(distinct) == 1 else Verdict.DEPENDS


def _ms(m: Measurement) -> Quantity:
    return Quantity(m.value, m.unit)


def speedup_finding(measured: Mapping[str, Measurement], *, versions: Mapping[str, str]) -> Finding:
    """``connect.pooled-vs-new``: the seed's 20x, in both readings."""
    new_acquire, pooled_acquire = measured[NEW_ACQUIRE], measured[POOLED_ACQUIRE]
    new_work, new_raw, pooled = measured[NEW_SQLALCHEMY], measured[NEW_ASYNCPG], measured[POOLED]
    acquire = paired_ratio(new_acquire.samples, pooled_acquire.samples)
    work = paired_ratio(new_work.samples, pooled.samples)
    raw = paired_ratio(new_raw.samples, pooled.samples)
    sa_extra = paired_difference(new_work.samples, new_raw.samples)
    scale = ratio_claim_scale(CLAIMED_SPEEDUP)
    judgement = combine(
        {
            "acquire": judge(acquire, scale, what=text.ACQUIRE_READING, unit="x"),
            "work": judge(work, scale, what=text.WORK_READING, unit="x"),
        },
        agree_or_depends,
    )
    readings = {
        "acquire": describe_estimate(acquire, "x"),
        "work": describe_estimate(work, "x"),
    }
    explanation = join(
        [
            Message(text.SPEEDUP_SUMMARY[judgement.verdict.value], readings),
            Message(
                text.SPEEDUP_DETAIL,
                {
                    "rounds": acquire.n,
                    "new_acquire": _ms(new_acquire),
                    "pooled_acquire": _ms(pooled_acquire),
                    "new_work": _ms(new_work),
                    "pooled_work": _ms(pooled),
                    "new_raw": _ms(new_raw),
                    "raw_ratio": describe_estimate(raw, "x"),
                    "sa_extra": describe_estimate(sa_extra, "ms", kind="difference"),
                },
            ),
        ]
    )
    return Finding(
        key="connect.pooled-vs-new",
        headline=N_("pooled connection ~20x faster than a new one"),
        deciding="speed-up, getting a connection: new / pooled",
        claim=text.TITLE,
        source=SEED_SOURCE,
        quote=SEED_QUOTE,
        measurements=(
            new_acquire,
            pooled_acquire,
            new_work,
            new_raw,
            pooled,
            acquire.measurement(N_("speed-up, getting a connection: new / pooled"), "x"),
            work.measurement(N_("speed-up, one-query unit of work: new / pooled"), "x"),
            raw.measurement(N_("speed-up, raw asyncpg new / pooled"), "x"),
            sa_extra.measurement(
                N_("SQLAlchemy's set-up of a new connection, over raw asyncpg"),
                "ms",
                kind="difference",
            ),
        ),
        explanation=explanation,
        versions=versions,
        **judgement.fields(
            depends_on=(
                Dependency(
                    on="reading",
                    name=N_("what is compared"),
                    detail=Message(text.SPEEDUP_READINGS, readings),
                ),
            )
        ),
    )


def dominates_finding(
    measured: Mapping[str, Measurement],
    request: RequestTimes,
    *,
    posts: int,
    versions: Mapping[str, str],
) -> Finding:
    """``connect.connect-dominates``: on a new connection and on a pooled service request."""
    new_work, pooled = measured[NEW_SQLALCHEMY], measured[POOLED]
    share_new = paired(lambda new, old: (new - old) / new, new_work.samples, pooled.samples)
    share_request = paired(lambda total, db: db / total, request.total_ms, request.database_ms)
    scale = threshold_scale(
        0.5,
        below=Verdict.REFUTED,
        above=Verdict.CONFIRMED,
        below_means=text.LESS_HALF,
        above_means=text.GREATER_HALF,
    )
    judgement = combine(
        {
            "new": judge(share_new, scale, what=text.DOMINATES_NEW, unit="ratio"),
            "request": judge(share_request, scale, what=text.DOMINATES_REQUEST, unit="ratio"),
        },
        agree_or_depends,
    )
    total = Measurement.from_samples(N_("pooled request, wall time"), request.total_ms, "ms")
    database = Measurement.from_samples(
        N_("pooled request, statement execution"), request.database_ms, "ms"
    )
    shares = {
        "share_new": describe_estimate(share_new, "ratio"),
        "share_request": describe_estimate(share_request, "ratio"),
    }
    explanation = join(
        [
            Message(text.DOMINATES_SUMMARY[judgement.verdict.value]),
            Message(
                text.DOMINATES_DETAIL,
                {
                    **shares,
                    "new_work": _ms(new_work),
                    "pooled_work": _ms(pooled),
                    "posts": posts,
                    "request_ms": _ms(total),
                    "database_ms": _ms(database),
                    "rounds": share_request.n,
                },
            ),
        ]
    )
    return Finding(
        key="connect.connect-dominates",
        headline=N_("the connection takes most of the time"),
        deciding="share of time spent connecting (new connection)",
        claim=N_(
            "In a three-tier service most of the time goes to the database connection: on a new "
            "connection, and on a pooled request."
        ),
        source=f"{seed_section(1)}; {SQLA_POOLING}",
        quote="보통의 3티어 형태의 서비스에선 대부분의 동작 시간을 데이터베이스와의 연결이 차지",
        measurements=(
            share_new.measurement(N_("share of time spent connecting (new connection)"), "ratio"),
            share_request.measurement(
                N_("share of time in database round trips (pooled request)"), "ratio"
            ),
            total,
            database,
        ),
        explanation=explanation,
        versions=versions,
        **judgement.fields(
            depends_on=(
                Dependency(
                    on="setting",
                    name=N_("connection pooling"),
                    detail=Message(text.POOLING_DETAIL, shares),
                ),
            )
        ),
    )
