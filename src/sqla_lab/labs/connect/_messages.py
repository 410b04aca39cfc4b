"""Every sentence the ``connect`` lab writes, as message templates (one place to translate).

Each template is filled with values from the run (:class:`~sqla_lab.lab.messages.Message`);
none states an outcome on its own: the lab picks the template that matches what it measured.
"""

from __future__ import annotations

from sqla_lab.lab.messages import N_

__all__ = [
    "ACQUIRE_READING",
    "DOMINATES_DETAIL",
    "DOMINATES_NEW",
    "DOMINATES_REQUEST",
    "DOMINATES_SUMMARY",
    "ECHO_DETAIL",
    "ECHO_MACHINE",
    "ECHO_SUMMARY",
    "ECHO_SUMMARY_NONE",
    "GREATER_HALF",
    "LESS_HALF",
    "POOLING_DETAIL",
    "SPEEDUP_DETAIL",
    "SPEEDUP_READINGS",
    "SPEEDUP_SUMMARY",
    "TITLE",
    "WORK_READING",
]

#: The lab's claim (its docstring's first line), for ``sqla-lab list`` and the reports.
TITLE = N_("Reusing a pooled connection is about 20x faster than opening a new one.")

ACQUIRE_READING = N_("getting a connection alone, new / pooled")
WORK_READING = N_("a one-query unit of work, new / pooled")

#: The first sentence of ``connect.pooled-vs-new``, by verdict.
SPEEDUP_SUMMARY = {
    "confirmed": N_(
        "Pooling wins by {work} per one-query unit of work and by {acquire} for getting a "
        "connection alone, both within a factor 2 of the seed's 20x."
    ),
    "refuted": N_(
        "Pooling wins by only {work} per one-query unit of work and {acquire} for getting a "
        "connection alone: no real effect of the claimed size."
    ),
    "depends": N_(
        "It depends on what is compared: getting a connection alone is {acquire} faster from "
        "the pool, a one-query unit of work {work}; the seed's 20x fits one reading at most."
    ),
    "inconclusive": N_(
        "The samples do not decide it: getting a connection alone is {acquire} faster from the "
        "pool, a one-query unit of work {work}."
    ),
}
SPEEDUP_DETAIL = N_(
    "Medians over {rounds} interleaved rounds: a new connection through SQLAlchemy {new_acquire} "
    "against a pooled checkout {pooled_acquire}; with SELECT 1, {new_work} new against "
    "{pooled_work} pooled. A raw asyncpg connect + SELECT 1 took {new_raw} ({raw_ratio} the "
    "pooled path); SQLAlchemy's per-connection set-up of asyncpg, next to raw asyncpg: {sa_extra}."
)
SPEEDUP_READINGS = N_("getting a connection alone: {acquire}; a one-query unit of work: {work}")

DOMINATES_NEW = N_("share of a one-query unit of work spent opening a new connection")
DOMINATES_REQUEST = N_("share of a pooled service request spent on database round trips")
LESS_HALF = N_("less than half the time")
GREATER_HALF = N_("most of the time")
#: The first sentence of ``connect.connect-dominates``, by verdict.
DOMINATES_SUMMARY = {
    "confirmed": N_("The database connection takes most of the time in both readings."),
    "refuted": N_("The database connection takes less than half the time in both readings."),
    "depends": N_(
        "It depends on pooling: the connection dominates a request that opens one, not a "
        "request on a pooled connection."
    ),
    "inconclusive": N_("The samples do not decide whether the connection takes most of the time."),
}
DOMINATES_DETAIL = N_(
    "On a new connection, opening and closing it took {share_new} of a one-query unit of work "
    "({new_work} against {pooled_work} for the same query on a pooled connection). On a pooled "
    "request shaped like the demo service's GET /users/{{id}} (a session, one user with "
    "{posts} posts through joinedload, domain objects, JSON), the database round trips took "
    "{share_request} of {request_ms} (medians over {rounds} rounds: {database_ms} in statement "
    "execution, on the wire and in the driver, including the ROLLBACK when the connection went "
    "back to the pool; the rest in SQLAlchemy's session and ORM, the domain objects and JSON)."
)
POOLING_DETAIL = N_("new connection: {share_new}; pooled request: {share_request}")

ECHO_SUMMARY = N_(
    "With echo=True logging every statement (to a file), the difference pool_pre_ping made per "
    "checkout, round by round, was {ping_echo} (without echo: {ping_plain}); the seed's 0.01 s "
    "is {factor} the pre-ping overhead measured with echo."
)
ECHO_SUMMARY_NONE = N_(
    "With echo=True logging every statement (to a file), the difference pool_pre_ping made per "
    "checkout, round by round, was {ping_echo} (without echo: {ping_plain})."
)
ECHO_MACHINE = N_("pre-ping with echo=True measured {value} here")
ECHO_DETAIL = N_(
    "echo=True made a pooled checkout + SELECT 1 {ratio_plain} as long as without it "
    "({plain_ms} against {echo_ms}), with pre-ping {ratio_ping}, and echo='debug' (rows logged "
    "too) {ratio_debug}. A fresh engine's first connection (dialect initialisation included) "
    "took {first_echo} with echo and {first_plain} without ({ratio_first}). Medians over "
    "{rounds} interleaved rounds; the log grew by {log_kib} KiB."
)
