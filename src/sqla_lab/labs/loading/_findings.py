"""Count-based findings and the tables of the ``loading`` lab, from its measurements only.

The timing-based findings (scaling, latency, the recommendation, joinedload's network cost)
live in :mod:`._timings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqla_lab.lab.messages import N_, Message
from sqla_lab.lab.results import Cell, Dependency, Finding, Measurement, Table, Verdict
from sqla_lab.lab.stats import decided, describe_estimate, unpaired_difference
from sqla_lab.labs.loading import _messages as words
from sqla_lab.labs.loading._runs import (
    SELECTIN_BATCH,
    Counted,
    RaiseloadResult,
    SweepPoint,
    WriteOnlyResult,
    selectin_statements,
)

__all__ = [
    "DOCS",
    "EAGER",
    "SEED",
    "at",
    "latency_table",
    "lazy_finding",
    "many_to_one_finding",
    "other_strategies_finding",
    "points",
    "raiseload_finding",
    "selectin_finding",
    "sweep_table",
    "write_only_finding",
]

SEED = "seed §4 orm Entity에서 관계형 데이터베이스의 테이블을 가져오는 방법"
DOCS = "https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html"
EAGER = ("selectinload", "joinedload")


def points(sweep: Sequence[SweepPoint], strategy: str, m: int | None = None) -> list[SweepPoint]:
    """The points of ``strategy`` (at ``m`` posts per user, if given)."""
    return [p for p in sweep if p.strategy == strategy and (m is None or p.posts_per_user == m)]


def at(sweep: Sequence[SweepPoint], strategy: str, users: int, m: int) -> SweepPoint:
    """The point of ``strategy`` at N=``users``, M=``m``."""
    for p in sweep:
        if (p.strategy, p.users, p.posts_per_user) == (strategy, users, m):
            return p
    raise KeyError((strategy, users, m))


def _count(name: str, value: float, unit: str = "statements") -> Measurement:
    return Measurement.single(name, value, unit)


def _short(sql: str, width: int = 110) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def lazy_finding(sweep: Sequence[SweepPoint], versions: Mapping[str, str]) -> Finding:
    """Finding 1: awaitable_attrs in a loop is 1 + N statements."""
    lazy = points(sweep, "lazy")
    matches = all(p.counted.statements == 1 + p.users for p in lazy)
    first = min(lazy, key=lambda p: (p.posts_per_user, p.users))
    queries = first.counted.log.queries
    flagged = ", ".join(dict.fromkeys(f for p in lazy for f in p.counted.flagged))
    return Finding(
        key="loading.lazy-n-plus-one",
        headline=N_("a lazy loop issues 1 + N statements"),
        claim=N_(
            "Loading users, then each user's posts through awaitable_attrs, issues 1 + N "
            "statements (the N+1 problem)."
        ),
        source=SEED + " 방법1",
        quote="조회 할때마다만 쿼리가 발생함 / 모두 조회 시 N+1 문제가 발생",
        measurements=tuple(
            _count(f"lazy statements, N={p.users} M={p.posts_per_user}", p.counted.statements)
            for p in lazy
        ),
        explanation=Message(
            words.LAZY,
            {
                "counts": ", ".join(
                    f"N={p.users:,} M={p.posts_per_user}: {p.counted.statements:,}" for p in lazy
                ),
                "exactly": Message(words.EXACTLY if matches else words.NOT_ALWAYS),
                "first_n": first.users,
                "shown": "; ".join(f"[{i}] {_short(q.sql)}" for i, q in enumerate(queries[:3], 1)),
                "more": len(queries) - 3,
                "flagged": flagged or Message(words.NOTHING),
            },
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if matches else Verdict.REFUTED,
            Message(words.DECIDED_BY_STATEMENT_COUNTS_AGAINST_1),
        ).fields(),
    )


def selectin_finding(
    sweep: Sequence[SweepPoint], boundary: Mapping[int, Counted], versions: Mapping[str, str]
) -> Finding:
    """Finding 2: selectinload is 1 + ceil(N/500) statements."""
    observed = {n: c.statements for n, c in boundary.items()}
    for p in points(sweep, "selectinload"):
        observed.setdefault(p.users, p.counted.statements)
    predicted = {n: selectin_statements(n) for n in observed}
    matches = observed == predicted
    largest_in = max(c.largest_parameter_count for c in boundary.values())
    if all(s == 2 for s in observed.values()):
        verdict = Verdict.CONFIRMED
    elif matches:
        verdict = Verdict.DEPENDS
    else:
        verdict = Verdict.REFUTED
    listing = ", ".join(f"N={n:,}: {s}" for n, s in sorted(observed.items()))
    return Finding(
        key="loading.selectin-batches",
        headline=N_("selectinload: one extra statement"),
        claim=N_("selectinload issues one extra statement per relationship (WHERE ... IN)."),
        source=SEED + " selectinload",
        quote="테이블 마다 한번의 쿼리문이 발생하게 됨, 모든 데이터를 가져옴",
        measurements=(
            *(_count(f"selectin statements, N={n}", s) for n, s in sorted(observed.items())),
            _count("largest IN list (bound parameters)", largest_in, "parameters"),
        ),
        explanation=Message(
            words.SELECTIN,
            {
                "listing": listing,
                "batch": SELECTIN_BATCH,
                "predicts": Message(words.SELECTIN_ALL if matches else words.SELECTIN_DIFFERENT),
                "largest": largest_in,
            },
        ),
        versions=versions,
        **decided(verdict, Message(words.DECIDED_BY_STATEMENT_COUNTS_AT_EVERY)).fields(
            depends_on=(
                Dependency(
                    on="size",
                    name=N_("N (parents loaded)"),
                    detail=Message(
                        words.SELECTIN_DEPENDS, {"batch": SELECTIN_BATCH, "listing": listing}
                    ),
                ),
            )
        ),
    )


def other_strategies_finding(sweep: Sequence[SweepPoint], versions: Mapping[str, str]) -> Finding:
    """Finding 4a: subqueryload is 2 statements, immediateload 1 + N."""
    subquery = points(sweep, "subqueryload")
    immediate = points(sweep, "immediateload")
    ok = all(p.counted.statements == 2 for p in subquery) and all(
        p.counted.statements == 1 + p.users for p in immediate
    )
    flagged = sorted({f for p in immediate for f in p.counted.flagged})
    return Finding(
        key="loading.subquery-immediate",
        headline=N_("subqueryload 2 statements, immediateload N"),
        claim=N_(
            "subqueryload needs two statements whatever N is; immediateload loads eagerly "
            "but with one SELECT per parent, like a lazy loop."
        ),
        source=DOCS,
        measurements=tuple(
            _count(
                f"{p.strategy} statements, N={p.users} M={p.posts_per_user}", p.counted.statements
            )
            for p in (*subquery, *immediate)
        ),
        explanation=Message(
            words.OTHERS,
            {
                "subquery": ", ".join(f"N={p.users:,}: {p.counted.statements}" for p in subquery),
                "immediate": ", ".join(f"N={p.users:,}: {p.counted.statements}" for p in immediate),
                "flagged": ", ".join(flagged) or Message(words.NOTHING),
            },
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if ok else Verdict.REFUTED,
            Message(words.DECIDED_BY_STATEMENT_COUNTS_AT_EVERY_2),
        ).fields(),
    )


def raiseload_finding(result: RaiseloadResult, versions: Mapping[str, str]) -> Finding:
    """Finding 4b: raiseload turns a lazy load into an error and emits no SQL."""
    ok = result.statements == 1 and result.raise_error is not None
    nothing = Message(words.NOTHING)
    return Finding(
        key="loading.raiseload",
        headline=N_("raiseload turns lazy loads into errors"),
        claim=N_("raiseload turns an accidental lazy load into an error instead of a query."),
        source=DOCS,
        measurements=(_count("statements with raiseload, 2 blocked loads", result.statements),),
        explanation=Message(
            words.RAISELOAD,
            {
                "statements": result.statements,
                "raise_error": result.raise_error or nothing,
                "awaitable_error": result.awaitable_error or nothing,
                "implicit_error": result.implicit_error or nothing,
            },
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if ok else Verdict.REFUTED,
            Message(words.DECIDED_BY_STATEMENTS_SENT_AND_THE),
        ).fields(),
    )


def write_only_finding(result: WriteOnlyResult, versions: Mapping[str, str]) -> Finding:
    """Finding 4c: write_only collections never load implicitly."""
    ok = (
        result.load_statements == 1
        and result.iteration_error is not None
        and result.select_statements == 1
        and "SELECT" not in result.add_statements
    )
    nothing = Message(words.NOTHING)
    return Finding(
        key="loading.write-only",
        headline=N_("write_only collections never load"),
        claim=N_(
            'A lazy="write_only" collection is never loaded implicitly: it must be queried '
            "with .select(), and adding to it loads nothing."
        ),
        source="https://docs.sqlalchemy.org/en/20/orm/large_collections.html",
        measurements=(
            _count(f"statements loading {result.users} users", result.load_statements),
            _count("statements for user.posts.select()", result.select_statements),
            _count("statements for posts.add() + flush", len(result.add_statements)),
        ),
        explanation=Message(
            words.WRITE_ONLY,
            {
                "users": result.users,
                "load": result.load_statements,
                "iteration_error": result.iteration_error or nothing,
                "select": result.select_statements,
                "posts": result.posts_selected,
                "added": ", ".join(result.add_statements) or nothing,
            },
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if ok else Verdict.REFUTED,
            Message(words.DECIDED_BY_STATEMENTS_SENT_AT_EACH),
        ).fields(),
    )


def many_to_one_finding(many: Mapping[str, Counted], versions: Mapping[str, str]) -> Finding:
    """Finding 4d: joinedload for many-to-one; lazy many-to-one costs one SELECT per user."""
    joined, lazy = many["joinedload"], many["lazy"]
    posts = joined.rows
    users = joined.entities - posts
    ok = joined.statements == 1 and lazy.statements == 1 + users
    return Finding(
        key="loading.many-to-one",
        headline=N_("joinedload suits many-to-one"),
        claim=N_(
            "joinedload suits many-to-one (Post.user): one statement; a lazy loop over "
            "posts costs one SELECT per distinct user, because the identity map answers repeats."
        ),
        source=DOCS,
        measurements=(
            _count("joinedload(Post.user) statements", joined.statements),
            _count("lazy Post.user statements", lazy.statements),
            _count("posts loaded", posts, "entities"),
            _count("distinct users", users, "entities"),
        ),
        explanation=Message(
            words.MANY_TO_ONE,
            {
                "posts": f"{posts:,}",
                "users": users,
                "joined": joined.statements,
                "lazy": lazy.statements,
            },
        ),
        versions=versions,
        **decided(
            Verdict.CONFIRMED if ok else Verdict.REFUTED, Message(words.DECIDED_BY_STATEMENT_COUNTS)
        ).fields(),
    )


def sweep_table(sweep: Sequence[SweepPoint]) -> Table:
    """The sweep as a table (one row per strategy, N and M)."""
    rows: list[tuple[Cell, ...]] = [
        (
            p.strategy,
            f"{p.strategy} (M={p.posts_per_user})",
            p.users,
            p.posts_per_user,
            p.counted.statements,
            p.counted.rows,
            p.counted.entities,
            round(p.median_ms, 3),
            round(p.us_per_entity, 3),
            len(p.wall_ms),
            ", ".join(p.counted.flagged) or None,
        )
        for p in sorted(sweep, key=lambda p: (p.posts_per_user, p.users, p.strategy))
    ]
    return Table(
        key="loading.sweep",
        title=N_("Load N users and touch their posts: statements, rows and time per strategy"),
        columns=(
            N_("strategy"),
            N_("strategy (M)"),
            N_("users (N)"),
            N_("posts per user (M)"),
            N_("statements"),
            N_("rows"),
            N_("entities"),
            N_("wall ms"),
            N_("us per entity"),
            N_("timed runs"),
            N_("detector"),
        ),
        rows=tuple(rows),
    )


def latency_table(latency: Sequence[SweepPoint]) -> Table:
    """The latency sweep as a table; the extra time is a difference, worded, never negative."""
    base = {(p.strategy, p.users): p for p in latency if p.latency_ms == 0.0}
    rows: list[tuple[Cell, ...]] = []
    for p in sorted(latency, key=lambda p: (p.users, p.strategy, p.latency_ms)):
        extra = unpaired_difference(p.wall_ms, base[(p.strategy, p.users)].wall_ms)
        measurable = extra.interval is not None and extra.interval.low > 0
        rows.append(
            (
                p.strategy,
                f"{p.strategy} (N={p.users})",
                p.users,
                p.latency_ms,
                p.counted.statements,
                round(p.median_ms, 3),
                describe_estimate(extra, "ms", kind="difference").render()
                if p.latency_ms
                else None,
                round(extra.value, 3) if measurable and p.latency_ms else None,
                len(p.wall_ms),
            )
        )
    return Table(
        key="loading.latency",
        title=N_("The same loads through a proxy adding latency (M=10)"),
        columns=(
            N_("strategy"),
            N_("strategy (N)"),
            N_("users (N)"),
            N_("added latency per direction (ms)"),
            N_("statements"),
            N_("wall ms"),
            N_("extra vs +0 ms"),
            N_("extra ms (where measurable)"),
            N_("timed runs"),
        ),
        rows=tuple(rows),
    )
