"""Every sentence the ``loading`` lab writes, as message templates (one place to translate)."""

from __future__ import annotations

from sqla_lab.lab.messages import N_

__all__ = [
    "CROSSOVER",
    "CROSSOVER_NEVER",
    "DECIDED_BY_STATEMENTS_SENT_AND_THE",
    "DECIDED_BY_STATEMENTS_SENT_AT_EACH",
    "DECIDED_BY_STATEMENT_COUNTS",
    "DECIDED_BY_STATEMENT_COUNTS_AGAINST_1",
    "DECIDED_BY_STATEMENT_COUNTS_AT_EVERY",
    "DECIDED_BY_STATEMENT_COUNTS_AT_EVERY_2",
    "EAGER_FASTER",
    "EAGER_MOVES",
    "EAGER_STILL",
    "EXACTLY",
    "JOINED",
    "JOINED_BYTES",
    "JOINED_LATENCY",
    "JOINED_NO_BYTES",
    "JOINED_REASON",
    "JOINED_SETTLE",
    "JOINED_SHAPE",
    "LATENCY",
    "LATENCY_DEPENDS",
    "LATENCY_OVER",
    "LATENCY_UNDER",
    "LAZY",
    "LAZY_FASTER",
    "MANY_TO_ONE",
    "MUCH_FASTER",
    "NOTHING",
    "NOT_ALWAYS",
    "NOT_MUCH_FASTER",
    "OTHERS",
    "PER_ROUND_TRIP",
    "RAISELOAD",
    "RATIO",
    "RECOMMENDATION",
    "RECOMMENDATION_DEPENDS",
    "RECOMMENDATION_SIZE",
    "SCALING",
    "SCALING_DEPENDS",
    "SELECTIN",
    "SELECTIN_ALL",
    "SELECTIN_DEPENDS",
    "SELECTIN_DIFFERENT",
    "SLOPE",
    "WRITE_ONLY",
]

NOTHING = N_("nothing")
EXACTLY = N_("exactly")
NOT_ALWAYS = N_("not always")

LAZY = N_(
    "Statements counted by QueryRecorder: {counts} ({exactly} 1 + N). The first statements "
    "for N={first_n}: {shown}; then {more} more of the same shape. NPlusOneDetector flagged: "
    "{flagged}."
)
SELECTIN = N_(
    "Measured {listing}; SQLAlchemy's rule 1 + ceil(N/{batch}) predicts {predicts}. The largest "
    "IN list held {largest} keys: one statement per {batch} parent keys, far from N+1."
)
SELECTIN_ALL = N_("all of them")
SELECTIN_DIFFERENT = N_("different counts")
JOINED = N_(
    "For N={users} users with 10 posts each, joinedload sent {statements} statement returning "
    "{rows} rows to build {users} users: every user's columns travelled {repeat} times. "
    "selectinload returned {selectin_rows} narrower rows in {selectin_statements} statements. "
    "{network} joined / selectin wall time, round by round: {time_ratio} with no added latency"
    "{latency_ratio}. Reading the joined result without unique() raised: {unique_error}."
)
JOINED_BYTES = N_(
    "Bytes the client received for the load: {joined_bytes} joined against {selectin_bytes} "
    "selectin ({bytes_ratio})."
)
JOINED_NO_BYTES = N_("Bytes on the wire were not measured: {why}.")
JOINED_LATENCY = N_(", {ratio} at +{delay} ms per direction")
OTHERS = N_(
    "subqueryload: {subquery} statements (it re-runs the parent query as a subquery). "
    "immediateload: {immediate} statements, so the detector reports it as N+1 too ({flagged})."
)
RAISELOAD = N_(
    "With raiseload(UserEntity.posts) the block sent {statements} statement. Reading "
    "user.posts raised {raise_error}; awaiting awaitable_attrs.posts raised {awaitable_error}. "
    "Without raiseload, a plain attribute read in async code raised {implicit_error}."
)
WRITE_ONLY = N_(
    "Loading {users} users and touching user.posts took {load} statement; iterating the "
    "collection raised {iteration_error}; an explicit select() took {select} statement for "
    "{posts} posts; add() + flush sent {added}."
)
MANY_TO_ONE = N_(
    "{posts} posts of {users} users: joinedload sent {joined} statement; the lazy loop sent "
    "{lazy} (1 + {users} users, not 1 + {posts} posts)."
)
MUCH_FASTER = N_("more than twice the cost per parent")
NOT_MUCH_FASTER = N_("less than twice the cost per parent")
SLOPE = N_("{strategy}: {slope} per parent")
RATIO = N_("{strategy}: {ratio}")
SCALING = N_(
    "Cost per parent, the least-squares slope of wall time over N (M=10, N from {smallest} to "
    "{largest}, {reps} timed runs or more per size): {slopes}. Lazy over eager: {ratios}. At "
    "N={largest}, the lazy loop's median was {lazy_ms}."
)
PER_ROUND_TRIP = N_("about (1 + N) x 2 ms per ms of added one-way delay")
LATENCY = N_(
    "Through FaultProxy adding {delays} ms per direction, loading N={users} users with 10 posts "
    "each grew by these slopes (ms of wall time per ms of one-way delay): {slopes}. The lazy "
    "loop's {statements} statements predict {predicted} (two directions per round trip); lazy "
    "over the dearest eager strategy: {ratio}."
)
EAGER_FASTER = N_("the best eager strategy is faster")
LAZY_FASTER = N_("the lazy loop is faster")
RECOMMENDATION_SIZE = N_("M={m} N={n}: {best}, lazy / {best}: {ratio}")
RECOMMENDATION = N_(
    "Lazy loop against the fastest eager strategy at each size, round by round: {sizes}. With "
    "added latency (M=10), the best eager strategy beats the lazy loop {cross}."
)
CROSSOVER = N_("+{delay} ms: from N={n}")
CROSSOVER_NEVER = N_("+{delay} ms: at no size measured")

SELECTIN_DEPENDS = N_("one extra statement up to N={batch}, then one per {batch} keys: {listing}")
SCALING_DEPENDS = N_("{ratios}")
LATENCY_DEPENDS = N_("lazy slope {slope} against {predicted} predicted")
LATENCY_UNDER = N_("less than half a round trip per statement")
LATENCY_OVER = N_("more than two round trips per statement")
EAGER_MOVES = N_("the eager strategies move almost as much")
EAGER_STILL = N_("the eager strategies barely move")
RECOMMENDATION_DEPENDS = N_("the lazy loop is faster at {sizes}")
JOINED_SETTLE = N_("bytes on the wire: a TCP connection on Linux, where TCP_INFO reports them")
JOINED_REASON = N_(
    "one statement: {one}; rows repeated: {repeated}; unique() required: {unique}; joined / "
    "selectin bytes received: {ratio}"
)
JOINED_SHAPE = N_("the statement, row and unique() checks")

#: What decided an exactly observed verdict (its ``reason``).
DECIDED_BY_STATEMENTS_SENT_AND_THE = N_("statements sent and the error raised")
DECIDED_BY_STATEMENTS_SENT_AT_EACH = N_("statements sent at each step")
DECIDED_BY_STATEMENT_COUNTS = N_("statement counts")
DECIDED_BY_STATEMENT_COUNTS_AGAINST_1 = N_("statement counts against 1 + N at every size")
DECIDED_BY_STATEMENT_COUNTS_AT_EVERY = N_("statement counts at every N measured")
DECIDED_BY_STATEMENT_COUNTS_AT_EVERY_2 = N_("statement counts at every size")
