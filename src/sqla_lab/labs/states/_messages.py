"""Every sentence the ``states`` lab writes, as message templates (one place to translate)."""

from __future__ import annotations

from sqla_lab.lab.messages import N_

__all__ = [
    "ACCESS_FIXES",
    "COMMIT_EXPIRED",
    "COMMIT_LEFT",
    "COMMIT_STAYS",
    "DECIDED_BY_THE_ATTRIBUTE_S_VALUE",
    "DECIDED_BY_THE_DETACHED_FLAG_AFTER",
    "DECIDED_BY_THE_EXCEPTION_THE_READ",
    "DECIDED_BY_THE_SQL_EACH_CALL",
    "DECIDED_BY_THE_STATE_FLAGS_AFTER",
    "DECIDED_BY_THE_STATE_FLAGS_AFTER_2",
    "DECIDED_BY_THE_STATE_FLAGS_INSPECT",
    "DECIDED_BY_WHAT_EACH_FIXED_READ",
    "DETACHED_LAZY",
    "EXPIRED_ACCESS",
    "FLUSH_COMMIT",
    "ISOLATION",
    "ISOLATION_LEVEL",
    "JOURNEY",
    "JOURNEY_STEP",
    "NO_FLAG",
    "OPERATIONS_ALL",
    "OPERATIONS_DIFFER",
    "OPERATIONS_MISMATCH",
    "OPERATIONS_ONLY_WITHOUT_EXPIRY",
    "REFRESH_DETACHES",
    "REFRESH_KEEPS",
    "STALE",
    "WARNINGS",
]

NO_FLAG = N_("no flag")
WARNINGS = N_(" Warnings seen: {warnings}.")

JOURNEY = N_(
    "{matches} of 6 (step, expire_on_commit) pairs show exactly the seed's state. Measured with "
    "expire_on_commit=True: {described}."
)
JOURNEY_STEP = N_("after {step}: {flags}")
COMMIT_EXPIRED = N_(
    "After commit the object is expired={expired_true} with expire_on_commit=True and "
    "expired={expired_false} with False, and persistent={persistent_true} / {persistent_false}."
)
COMMIT_STAYS = N_(
    "So 'expired' is a flag on a persistent object, not a state of its own: the object stayed "
    "in the session with its attributes marked for reloading."
)
COMMIT_LEFT = N_("The object left the persistent state on commit.")
REFRESH_KEEPS = N_(
    "After refresh the flags set are {after_refresh}; after close they are {after_close}: "
    "refresh() left the object attached, close() detached it."
)
REFRESH_DETACHES = N_("After refresh the flags set are {after_refresh}.")
OPERATIONS_ALL = N_("All {steps} steps left the object in the documented state.")
OPERATIONS_DIFFER = N_("Differences: {mismatches}.")
OPERATIONS_MISMATCH = N_("{operation} / {step}: documented {expected}, measured {measured}")
OPERATIONS_ONLY_WITHOUT_EXPIRY = N_(
    " They occur only with expire_on_commit=False; measured after close: {after_close}, after "
    "the closed session was garbage-collected: {after_collect} (the flags are read through the "
    "session registry)."
)
EXPIRED_ACCESS = N_(
    "user.name after commit with expire_on_commit=True raised {expired}; an unloaded "
    "relationship on a persistent object raised {lazy}.{warnings}"
)
DETACHED_LAZY = N_("user.posts on a detached object (posts never loaded) raised {detached}.")
ACCESS_FIXES = N_("{fixes}.")
STALE = N_(
    "Old value still shown after the other session committed: {after_commit}; still shown "
    "after re-running SELECT for that row in the same session: {after_requery}; new value "
    "after refresh(): {after_refresh}."
)
FLUSH_COMMIT = N_(
    "flush() sent {flush_sql}; afterwards the session saw the row: {own_after_flush}, another "
    "connection saw it: {other_after_flush}. commit() sent {commit_sql} and then another "
    "connection saw it: {other_after_commit}. A row flushed and then rolled back was seen by "
    "another connection: {other_after_rollback}, and was still there after the rollback: "
    "{rolled_back_kept}."
)
ISOLATION = N_(
    "A reader set each level with SET TRANSACTION and watched a writer ({levels}). Under READ "
    "UNCOMMITTED the server reported transaction_isolation '{reported}' and the reader saw "
    "the writer's uncommitted row: {dirty}. SQLAlchemy's isolation_level='READ UNCOMMITTED' "
    "execution option: {option}."
)
ISOLATION_LEVEL = N_(
    "{level}: dirty read {dirty}, non-repeatable read {non_repeatable}, phantom {phantom}"
)

#: What decided an exactly observed verdict (its ``reason``).
DECIDED_BY_THE_ATTRIBUTE_S_VALUE = N_("the attribute's value after each step")
DECIDED_BY_THE_DETACHED_FLAG_AFTER = N_("the detached flag after refresh, for both settings")
DECIDED_BY_THE_EXCEPTION_THE_READ = N_("the exception the read raised")
DECIDED_BY_THE_SQL_EACH_CALL = N_(
    "the SQL each call sent and the row counts another connection saw"
)
DECIDED_BY_THE_STATE_FLAGS_AFTER = N_(
    "the state flags after commit, for both expire_on_commit values"
)
DECIDED_BY_THE_STATE_FLAGS_AFTER_2 = N_(
    "the state flags after each call, next to the documented state"
)
DECIDED_BY_THE_STATE_FLAGS_INSPECT = N_("the state flags inspect() reported after each step")
DECIDED_BY_WHAT_EACH_FIXED_READ = N_("what each fixed read did")
