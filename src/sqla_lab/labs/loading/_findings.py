"""Findings and tables of the ``loading`` lab, computed from its measurements only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqla_lab.lab.results import Cell, Finding, Measurement, Table, Verdict
from sqla_lab.labs.loading._runs import (
    SELECTIN_BATCH,
    STRATEGIES,
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
    "joined_finding",
    "latency_finding",
    "latency_table",
    "lazy_finding",
    "many_to_one_finding",
    "other_strategies_finding",
    "raiseload_finding",
    "recommendation_finding",
    "scaling_finding",
    "selectin_finding",
    "sweep_table",
    "write_only_finding",
]

SEED = "seed §4 orm Entity에서 관계형 데이터베이스의 테이블을 가져오는 방법"
DOCS = "https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html"
EAGER = ("selectinload", "joinedload")


def _points(sweep: Sequence[SweepPoint], strategy: str, m: int | None = None) -> list[SweepPoint]:
    return [p for p in sweep if p.strategy == strategy and (m is None or p.posts_per_user == m)]


def _at(sweep: Sequence[SweepPoint], strategy: str, users: int, m: int) -> SweepPoint:
    for p in sweep:
        if (p.strategy, p.users, p.posts_per_user) == (strategy, users, m):
            return p
    raise KeyError((strategy, users, m))


def _count(name: str, value: float, unit: str = "statements") -> Measurement:
    return Measurement.single(name, value, unit)


def _short(sql: str, width: int = 110) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def lazy_finding(sweep: Sequence[SweepPoint]) -> Finding:
    """Finding 1: awaitable_attrs in a loop is 1 + N statements."""
    lazy = _points(sweep, "lazy")
    matches = all(p.counted.statements == 1 + p.users for p in lazy)
    first = min(lazy, key=lambda p: (p.posts_per_user, p.users))
    queries = first.counted.log.queries
    shown = "; ".join(f"[{i}] {_short(q.sql)}" for i, q in enumerate(queries[:3], 1))
    flagged = ", ".join(dict.fromkeys(f for p in lazy for f in p.counted.flagged)) or "nothing"
    counts = ", ".join(
        f"N={p.users:,} M={p.posts_per_user}: {p.counted.statements:,}" for p in lazy
    )
    return Finding(
        key="loading.lazy-n-plus-one",
        claim="Loading users, then each user's posts through awaitable_attrs, issues 1 + N "
        "statements (the N+1 problem).",
        source=SEED + " 방법1",
        quote="조회 할때마다만 쿼리가 발생함 / 모두 조회 시 N+1 문제가 발생",
        measurements=tuple(
            _count(f"lazy statements, N={p.users} M={p.posts_per_user}", p.counted.statements)
            for p in lazy
        ),
        verdict=Verdict.CONFIRMED if matches else Verdict.REFUTED,
        explanation=(
            f"Statements counted by QueryRecorder: {counts} "
            f"({'exactly' if matches else 'not always'} 1 + N). The first statements for "
            f"N={first.users}: {shown}; then {len(queries) - 3} more of the same shape. "
            f"NPlusOneDetector flagged: {flagged}."
        ),
    )


def selectin_finding(sweep: Sequence[SweepPoint], boundary: Mapping[int, Counted]) -> Finding:
    """Finding 2: selectinload is 1 + ceil(N/500) statements."""
    observed = {n: c.statements for n, c in boundary.items()}
    for p in _points(sweep, "selectinload"):
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
        claim="selectinload issues one extra statement per relationship (WHERE ... IN).",
        source=SEED + " selectinload",
        quote="테이블 마다 한번의 쿼리문이 발생하게 됨, 모든 데이터를 가져옴",
        measurements=(
            *(_count(f"selectin statements, N={n}", s) for n, s in sorted(observed.items())),
            _count("largest IN list (bound parameters)", largest_in, "parameters"),
        ),
        verdict=verdict,
        explanation=(
            f"Measured {listing}; SQLAlchemy's rule 1 + ceil(N/{SELECTIN_BATCH}) predicts "
            f"{'all of them' if matches else 'different counts'}. The largest IN list held "
            f"{largest_in} keys. So 'one query per table' holds up to {SELECTIN_BATCH} parents; "
            f"beyond that selectinload sends one more statement per {SELECTIN_BATCH} parent keys "
            "(still far from N+1)."
        ),
    )


def joined_finding(sweep: Sequence[SweepPoint], unique_error: str | None) -> Finding:
    """Finding 3: joinedload is one statement with duplicated parent rows; unique() needed."""
    joined = _points(sweep, "joinedload", 10)
    one_statement = all(p.counted.statements == 1 for p in _points(sweep, "joinedload"))
    duplicated = all(p.counted.rows > p.users for p in joined)
    largest = max(joined, key=lambda p: p.users)
    selectin = _at(sweep, "selectinload", largest.users, 10)
    confirmed = one_statement and duplicated and unique_error is not None
    return Finding(
        key="loading.joined-duplication",
        claim="joinedload fetches a collection in one LEFT OUTER JOIN statement, repeating "
        "each parent row per child, so the result must be de-duplicated with unique().",
        source=SEED + " joininload",
        quote="join을 통해 한번에 가져옴, 1대N의 경우 중복된 값이 많아져 네트워크 비용이 늘어남. "
        "중복 제거가 필요함",
        measurements=(
            _count(f"joined statements, N={largest.users} M=10", largest.counted.statements),
            _count(f"joined rows returned, N={largest.users} M=10", largest.counted.rows, "rows"),
            _count(f"users built, N={largest.users}", largest.users, "entities"),
            _count(
                f"selectin rows returned, N={largest.users} M=10", selectin.counted.rows, "rows"
            ),
            Measurement.single(
                "joined / selectin wall time", largest.median_ms / selectin.median_ms, "x"
            ),
        ),
        verdict=Verdict.CONFIRMED if confirmed else Verdict.REFUTED,
        explanation=(
            f"For N={largest.users:,} users with 10 posts each, joinedload sent "
            f"{largest.counted.statements} statement returning {largest.counted.rows:,} rows "
            f"to build {largest.users:,} users: every user's columns travelled "
            f"{largest.counted.rows / largest.users:.0f} times. selectinload returned "
            f"{selectin.counted.rows:,} narrower rows in {selectin.counted.statements} "
            f"statements; joined took {largest.median_ms:.1f} ms against selectin's "
            f"{selectin.median_ms:.1f} ms. Reading the joined result without unique() "
            f"raised: {unique_error or 'nothing (no error)'}."
        ),
    )


def other_strategies_finding(sweep: Sequence[SweepPoint]) -> Finding:
    """Finding 4a: subqueryload is 2 statements, immediateload 1 + N."""
    subquery = _points(sweep, "subqueryload")
    immediate = _points(sweep, "immediateload")
    ok = all(p.counted.statements == 2 for p in subquery) and all(
        p.counted.statements == 1 + p.users for p in immediate
    )
    flagged = sorted({f for p in immediate for f in p.counted.flagged})
    return Finding(
        key="loading.subquery-immediate",
        claim="subqueryload needs two statements whatever N is; immediateload loads eagerly "
        "but with one SELECT per parent, like a lazy loop.",
        source=DOCS,
        measurements=tuple(
            _count(
                f"{p.strategy} statements, N={p.users} M={p.posts_per_user}", p.counted.statements
            )
            for p in (*subquery, *immediate)
        ),
        verdict=Verdict.CONFIRMED if ok else Verdict.REFUTED,
        explanation=(
            "subqueryload: "
            + ", ".join(f"N={p.users:,}: {p.counted.statements}" for p in subquery)
            + " statements (it re-runs the parent query as a subquery). immediateload: "
            + ", ".join(f"N={p.users:,}: {p.counted.statements}" for p in immediate)
            + f" statements, so the detector reports it as N+1 too ({', '.join(flagged)})."
        ),
    )


def raiseload_finding(result: RaiseloadResult) -> Finding:
    """Finding 4b: raiseload turns a lazy load into an error and emits no SQL."""
    ok = result.statements == 1 and result.raise_error is not None
    return Finding(
        key="loading.raiseload",
        claim="raiseload turns an accidental lazy load into an error instead of a query.",
        source=DOCS,
        measurements=(_count("statements with raiseload, 2 blocked loads", result.statements),),
        verdict=Verdict.CONFIRMED if ok else Verdict.REFUTED,
        explanation=(
            f"With raiseload(UserEntity.posts) the block sent {result.statements} statement. "
            f"Reading user.posts raised {result.raise_error or 'nothing'}; awaiting "
            f"awaitable_attrs.posts raised {result.awaitable_error or 'nothing'}. Without "
            "raiseload, a plain attribute read in async code is no silent N+1 either: it "
            f"raised {result.implicit_error or 'nothing'}; the quiet N+1 is awaitable_attrs."
        ),
    )


def write_only_finding(result: WriteOnlyResult) -> Finding:
    """Finding 4c: write_only collections never load implicitly."""
    ok = (
        result.load_statements == 1
        and result.iteration_error is not None
        and result.select_statements == 1
        and "SELECT" not in result.add_statements
    )
    return Finding(
        key="loading.write-only",
        claim='A lazy="write_only" collection is never loaded implicitly: it must be queried '
        "with .select(), and adding to it loads nothing.",
        source="https://docs.sqlalchemy.org/en/20/orm/large_collections.html",
        measurements=(
            _count(f"statements loading {result.users} users", result.load_statements),
            _count("statements for user.posts.select()", result.select_statements),
            _count("statements for posts.add() + flush", len(result.add_statements)),
        ),
        verdict=Verdict.CONFIRMED if ok else Verdict.REFUTED,
        explanation=(
            f"Loading {result.users} users and touching user.posts took "
            f"{result.load_statements} statement; iterating the collection raised "
            f"{result.iteration_error or 'nothing'}; an explicit select() took "
            f"{result.select_statements} statement for {result.posts_selected} posts; "
            f"add() + flush sent {', '.join(result.add_statements) or 'nothing'}."
        ),
    )


def many_to_one_finding(many: Mapping[str, Counted]) -> Finding:
    """Finding 4d: joinedload for many-to-one; lazy many-to-one costs one SELECT per user."""
    joined, lazy = many["joinedload"], many["lazy"]
    posts = joined.rows
    users = joined.entities - posts
    ok = joined.statements == 1 and lazy.statements == 1 + users
    return Finding(
        key="loading.many-to-one",
        claim="joinedload suits many-to-one (Post.user): one statement; a lazy loop over "
        "posts costs one SELECT per distinct user, because the identity map answers repeats.",
        source=DOCS,
        measurements=(
            _count("joinedload(Post.user) statements", joined.statements),
            _count("lazy Post.user statements", lazy.statements),
            _count("posts loaded", posts, "entities"),
            _count("distinct users", users, "entities"),
        ),
        verdict=Verdict.CONFIRMED if ok else Verdict.REFUTED,
        explanation=(
            f"{posts:,} posts of {users} users: joinedload sent {joined.statements} "
            f"statement; the lazy loop sent {lazy.statements} (1 + {users} users, not "
            f"1 + {posts:,} posts)."
        ),
    )


def scaling_finding(sweep: Sequence[SweepPoint]) -> Finding:
    """Finding 5: cost versus N, per strategy."""
    largest = max(p.users for p in sweep if p.posts_per_user == 10)
    lazy = _at(sweep, "lazy", largest, 10)
    ratios = {s: lazy.median_ms / _at(sweep, s, largest, 10).median_ms for s in EAGER}
    if all(r >= 1.5 for r in ratios.values()):
        verdict = Verdict.CONFIRMED
    elif all(r < 1.1 for r in ratios.values()):
        verdict = Verdict.REFUTED
    else:
        verdict = Verdict.DEPENDS
    per_entity = "; ".join(
        f"{s}: " + ", ".join(f"N={p.users:,} {p.us_per_entity:.1f}" for p in _points(sweep, s, 10))
        for s in STRATEGIES
    )
    return Finding(
        key="loading.scaling",
        claim="The lazy loop's cost grows with N much faster than selectinload's or joinedload's.",
        source=SEED,
        quote="모두 조회 시 N+1 문제가 발생",
        measurements=tuple(
            Measurement.single(f"lazy / {s} wall time, N={largest} M=10", r, "x")
            for s, r in ratios.items()
        ),
        verdict=verdict,
        explanation=(
            f"At N={largest:,}, M=10 the lazy loop took {lazy.median_ms:.0f} ms: "
            + ", ".join(f"{r:.1f}x {s}" for s, r in ratios.items())
            + f". Microseconds per entity built (M=10): {per_entity}. Eager strategies pay "
            "per row; the lazy loop pays a round trip per parent on top."
        ),
    )


def _extra(points: Sequence[SweepPoint], strategy: str, users: int, latency: float) -> float:
    by_latency = {
        p.latency_ms: p.median_ms for p in points if (p.strategy, p.users) == (strategy, users)
    }
    return by_latency[latency] - by_latency[0.0]


def latency_finding(latency: Sequence[SweepPoint]) -> Finding:
    """Finding 6: added round-trip time multiplies the lazy loop's cost."""
    users = max(p.users for p in latency)
    top = max(p.latency_ms for p in latency)
    lazy = _at(latency, "lazy", users, 10)
    extra = {s: _extra(latency, s, users, top) for s in ("lazy", *EAGER)}
    predicted = lazy.counted.statements * 2 * top
    worst_eager = max(max(extra[s] for s in EAGER), 0.1)
    if extra["lazy"] > 5 * worst_eager and extra["lazy"] >= 0.5 * predicted:
        verdict = Verdict.CONFIRMED
    elif extra["lazy"] < 2 * worst_eager:
        verdict = Verdict.REFUTED
    else:
        verdict = Verdict.DEPENDS
    return Finding(
        key="loading.latency",
        claim="Distance multiplies N+1: every added millisecond of round trip costs the lazy "
        "loop about (1 + N) round trips, while selectinload and joinedload barely move.",
        source=DOCS,
        measurements=(
            *(
                Measurement.single(f"{s} extra ms at +{top:g} ms, N={users}", v, "ms")
                for s, v in extra.items()
            ),
            Measurement.single("predicted lazy extra ms (statements x 2 x delay)", predicted, "ms"),
        ),
        verdict=verdict,
        explanation=(
            f"Through FaultProxy adding {top:g} ms per direction, loading N={users:,} users "
            f"with 10 posts each got slower by {extra['lazy']:.0f} ms lazily (predicted "
            f"{predicted:.0f} ms for {lazy.counted.statements:,} round trips), by "
            f"{extra['selectinload']:.1f} ms with selectinload and {extra['joinedload']:.1f} ms "
            "with joinedload."
        ),
    )


def _winner(points: Sequence[SweepPoint], users: int, m: int, latency: float) -> SweepPoint:
    candidates = [
        p for p in points if (p.users, p.posts_per_user, p.latency_ms) == (users, m, latency)
    ]
    return min(candidates, key=lambda p: p.median_ms)


def recommendation_finding(sweep: Sequence[SweepPoint], latency: Sequence[SweepPoint]) -> Finding:
    """Finding 7: which strategy wins where, from this run's numbers."""
    lines: list[str] = []
    lazy_wins_from_100 = False
    for m in sorted({p.posts_per_user for p in sweep}):
        sizes = sorted({p.users for p in sweep if p.posts_per_user == m})
        winners = {n: _winner(sweep, n, m, 0.0).strategy for n in sizes}
        lazy_wins_from_100 |= any(w == "lazy" for n, w in winners.items() if n >= 100)
        lines.append(f"M={m}: " + ", ".join(f"N={n:,} {w}" for n, w in winners.items()))
    crossover: dict[float, int | None] = {}
    for delay in sorted({p.latency_ms for p in latency}):
        slower = [
            n
            for n in sorted({p.users for p in latency})
            if _winner([p for p in latency if p.strategy != "lazy"], n, 10, delay).median_ms
            < _at([p for p in latency if p.latency_ms == delay], "lazy", n, 10).median_ms
        ]
        crossover[delay] = slower[0] if slower else None
    verdict = Verdict.DEPENDS if lazy_wins_from_100 else Verdict.CONFIRMED
    cross = ", ".join(
        f"+{d:g} ms: from N={n:,}" if n is not None else f"+{d:g} ms: never in this range"
        for d, n in crossover.items()
    )
    return Finding(
        key="loading.recommendation",
        claim="Load collections for lists eagerly (selectinload or joinedload), never in a "
        "lazy loop.",
        source=SEED + " 방법2",
        measurements=tuple(
            Measurement.single(f"eager beats lazy from N, +{d:g} ms", float(n or 0), "users")
            for d, n in crossover.items()
        ),
        verdict=verdict,
        explanation=(
            "Fastest strategy per size on this machine: "
            + "; ".join(lines)
            + f". The best eager strategy beats the lazy loop (M=10) {cross}. "
            "selectinload keeps rows narrow and scales in 500-key batches; joinedload saves a "
            "round trip but repeats parent columns per child, so it fits many-to-one and small "
            "collections. Use raiseload to make any remaining lazy load fail loudly."
        ),
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
        title="Load N users and touch their posts: statements, rows and time per strategy",
        columns=(
            "strategy",
            "strategy (M)",
            "users (N)",
            "posts per user (M)",
            "statements",
            "rows",
            "entities",
            "wall ms",
            "us per entity",
            "timed runs",
            "detector",
        ),
        rows=tuple(rows),
    )


def latency_table(latency: Sequence[SweepPoint]) -> Table:
    """The latency sweep as a table."""
    rows: list[tuple[Cell, ...]] = [
        (
            p.strategy,
            f"{p.strategy} (N={p.users})",
            p.users,
            p.latency_ms,
            p.counted.statements,
            round(p.median_ms, 3),
            round(_extra(latency, p.strategy, p.users, p.latency_ms), 3),
            len(p.wall_ms),
        )
        for p in sorted(latency, key=lambda p: (p.users, p.strategy, p.latency_ms))
    ]
    return Table(
        key="loading.latency",
        title="The same loads through a proxy adding latency (M=10)",
        columns=(
            "strategy",
            "strategy (N)",
            "users (N)",
            "added latency per direction (ms)",
            "statements",
            "wall ms",
            "extra ms vs +0 ms",
            "timed runs",
        ),
        rows=tuple(rows),
    )
