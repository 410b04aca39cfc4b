"""Every sentence the ``sessions`` lab writes, as message templates (one place to translate)."""

from __future__ import annotations

from sqla_lab.lab.messages import N_

__all__ = [
    "AWAIT_CONCLUSION",
    "AWAIT_ORDER",
    "AWAIT_REASON",
    "COLLISIONS",
    "COLLISIONS_HELD_QUEUED",
    "COLLISIONS_ORPHANED",
    "COLLISIONS_WARNINGS",
    "COLLISIONS_WINDOWS",
    "COLLISION_QUIET",
    "DECIDED_BY_DISTINCT_SESSIONS_AND_BACKEND",
    "DECIDED_BY_DISTINCT_SESSIONS_AND_BACKEND_2",
    "DECIDED_BY_SESSIONS_LEFT_IN_THE",
    "DECIDED_BY_THE_REQUESTS_DID_NOT",
    "LEAK",
    "NONE",
    "PER_REQUEST",
    "PER_REQUEST_CHEAPER",
    "PER_REQUEST_CLOSE",
    "SCOPED_CHEAPER",
    "SCOPED_SHARED",
    "SIMILAR",
    "TASK_SCOPED",
    "THREADS",
]

NONE = N_("none")

SCOPED_SHARED = N_(
    "{tasks} tasks under asyncio.gather got {sessions} distinct session(s) on {pids} backend "
    "pid(s). Warnings this SQLAlchemy gave: {warnings}."
)
COLLISIONS = N_(
    "Connection already held: {held_failed} of {held_tried} operation pairs raised "
    "({held_kinds}); pairs without an error: {held_quiet}. Connection being opened: "
    "{open_failed} of {open_tried} pairs raised in every one of {trials} trials "
    "({open_kinds}); second tasks that failed, over all trials: {open_trials_failed} of "
    "{open_trials}.{notes}"
)
COLLISIONS_HELD_QUEUED = N_(
    " In {pairs} (connection held) the second task did not finish while the first waited; it "
    "went through once the first was done."
)
COLLISIONS_ORPHANED = N_(
    " In {pairs} the failed call left the connection checked out with no session holding it: "
    "only the garbage collector terminated it."
)
COLLISIONS_WARNINGS = N_(" Warnings: {warnings}.")
COLLISIONS_WINDOWS = N_(
    "connection held: {held_failed} of {held_tried} pairs raised; connection being opened: "
    "{open_failed} of {open_tried} raised"
)
COLLISION_QUIET = N_("pairs that did not raise with the connection held: {pairs}")

THREADS = N_(
    "{threads} threads (psycopg 3, all holding their session at once) got {sessions} distinct "
    "sessions on {pids} backend pids; calling the registry again in the same thread returned "
    "the same session: {stable}."
)
TASK_SCOPED = N_(
    "{tasks} tasks under asyncio.gather, all holding their session at once, got {sessions} "
    "distinct sessions on {pids} backend pids; after each task awaited remove(), {left} "
    "sessions were left in the registry."
)
LEAK = N_(
    "After {tasks} finished tasks the registry still held {kept} sessions (keyed by the "
    "finished Task objects): {retained} retained, {per_task} per task (tracemalloc). With "
    "remove() it held {kept_removed} and retained {retained_removed}."
)
SIMILAR = N_("within a factor 1.5: a similar cost")
PER_REQUEST = N_(
    "{requests} concurrent requests got {sessions} sessions on {pids} pids. Per unit of work "
    "(SELECT 1), medians over {rounds} interleaved rounds: per-request with 'async with' "
    "{plain}, per-request closed with 'await session.close()' {plain_close}, scoped + remove() "
    "{scoped}. scoped / per-request ('async with'): {ratio}; scoped / per-request (close()): "
    "{close_ratio}. Without a query: {plain_empty} against {scoped_empty} ({empty_ratio}). "
    "What 'async with' costs over 'await session.close()', round by round: {with_cost}."
)
PER_REQUEST_CLOSE = N_(
    "closed with 'async with': scoped / per-request {ratio}; closed with 'await "
    "session.close()': {close_ratio}"
)
AWAIT_ORDER = N_(
    "{tasks} tasks each recorded a step and awaited asyncio.sleep(0), {steps} times. They ran "
    "in the order {order}. Of the {yields} awaits after which other tasks were ready, the "
    "awaiting task ran again first {first} times and after every other ready task {last} "
    "times. {conclusion}"
)
#: The last sentence of ``sessions.await-order``, by what the order showed.
AWAIT_CONCLUSION = {
    "back": N_(
        "A task that awaits goes to the back of the ready queue (first in, first out), and the "
        "next task runs."
    ),
    "front": N_("A task that awaits runs again before the tasks already waiting."),
    "mixed": N_("Where a task that awaits resumes varied from await to await."),
}
AWAIT_REASON = N_(
    "resumed before the other ready tasks: {first} of {yields}; after all of them: {last}"
)

#: What decided an exactly observed verdict (its ``reason``).
DECIDED_BY_DISTINCT_SESSIONS_AND_BACKEND = N_("distinct sessions and backend pids the tasks got")
DECIDED_BY_DISTINCT_SESSIONS_AND_BACKEND_2 = N_(
    "distinct sessions and backend pids the threads got"
)
DECIDED_BY_SESSIONS_LEFT_IN_THE = N_("sessions left in the registry after the tasks finished")
DECIDED_BY_THE_REQUESTS_DID_NOT = N_("the requests did not get a session each")
SCOPED_CHEAPER = N_("scoped + remove() is cheaper by more than 1.5x")
PER_REQUEST_CHEAPER = N_("per request is cheaper by more than 1.5x")
