"""Every sentence the ``pool`` lab writes, as message templates (one place to translate).

The lab fills them with values from the run; where an outcome can go either way, there is one
template per outcome and the lab picks the one it measured.
"""

from __future__ import annotations

from sqla_lab.lab.messages import N_, Message

__all__ = [
    "BREAKDOWN",
    "BREAKDOWN_STEP",
    "COMMAND_TIMEOUT",
    "COMMAND_TIMEOUT_READINGS",
    "DEARER",
    "DECIDED_BY_BACKEND_PIDS_BEFORE_AND",
    "DECIDED_BY_THE_11TH_CHECKOUT_S",
    "DECIDED_BY_THE_ERROR_S_SQLSTATE",
    "DECIDED_BY_THE_PARAMETER_NAMES_IN",
    "DECIDED_BY_THE_POOL_S_CHECKED",
    "DECIDED_BY_THE_POOL_S_CONNECTS",
    "DECIDED_BY_THE_REQUESTS_OUTCOMES_AFTER",
    "FAILED_TOO",
    "HALF_OPEN",
    "HALF_OPEN_KEEPALIVE",
    "HALF_OPEN_REASON",
    "HALF_OPEN_RELEASED",
    "HALF_OPEN_STILL",
    "NOT_DEARER",
    "ON_OFF",
    "OVERFLOW",
    "PRE_PING_AS_CLAIMED",
    "PRE_PING_CHEAPER",
    "PRE_PING_COST",
    "PRE_PING_DEARER",
    "PRE_PING_PROTECTS",
    "RAISED",
    "RAN_ON",
    "RAN_ON_NEW",
    "RECYCLE",
    "REMEDIES",
    "REMEDIES_REASON",
    "REMEDY_DETAIL",
    "REMEDY_LIST",
    "RETURNED",
    "SETTINGS",
    "SETTINGS_LIBRARIES",
    "STATEMENT_TIMEOUT",
    "SUCCEEDED",
    "TIMEOUT",
    "TITLE",
]

#: The lab's claim (its docstring's first line).
TITLE = N_("The seed's pool advice (pre-ping, recycle, pool limits, timeouts) works as it says.")


DEARER = N_("dearer than a pooled checkout")
NOT_DEARER = N_("not dearer than a pooled checkout")
BREAKDOWN = N_(
    "{dearer} of {steps} measured steps are dearer than a pooled checkout ({pooled} median) "
    "by the whole interval of their per-round ratio. The cheapest, '{cheapest}', takes "
    "{cheapest_ms}, {cheapest_ratio} a checkout; a brand-new engine's first connection takes "
    "{first_ms}, {first_ratio}. What each step adds to the one before it, per round: {added}. "
    "{notes}"
)
BREAKDOWN_STEP = N_("{step}: {added} ({what})")

PRE_PING_COST = N_(
    "A checkout with one SELECT 1 took {without} without and {with_ping} with pre-ping (medians "
    "of {rounds} interleaved rounds). The difference the ping makes per checkout, round by "
    "round: {overhead}; with / without: {ratio}."
)
PRE_PING_PROTECTS = N_(
    "Backends {plain_pid} and {ping_pid} were killed with pg_terminate_backend (gone: "
    "{killed}). Without pre-ping the next request raised {plain_error}; the request after it "
    "{plain_then}. With pre-ping the next request {ping_next}."
)
RAN_ON = N_("ran on backend {pid}")
RAN_ON_NEW = N_("ran on new backend {pid}")
FAILED_TOO = N_("failed too")
RAISED = N_("raised {error}")
SUCCEEDED = N_("succeeded")
RECYCLE = N_(
    "With pool_recycle=1 the connection on backend {first} was reused at once (backend "
    "{young}) and, after 1.2 s, the checkout got backend {old}. With pool_recycle=3600, "
    "backend {doomed} was terminated at an age under 1 s and the next request {outcome}."
)
TIMEOUT = N_(
    "Ten connections held, the 11th request raised {error} after {elapsed}. Thirty concurrent "
    "requests holding a connection 0.1 s each never had more than {peak} connections; their "
    "checkout waits: p50 {p50}, p95 {p95}, max {max}."
)
OVERFLOW = N_(
    "pool_size={size}, max_overflow={overflow}: checking out {total} connections opened "
    "{connects}; giving them back closed {closes}, and the server then had {backends} backends "
    "for this engine. pool.status() at the end: '{status}'."
)
STATEMENT_TIMEOUT = N_(
    "SHOW statement_timeout said '{setting}'. SELECT pg_sleep({sleep}) raised {error} (SQLSTATE "
    "{sqlstate}: {message}) after {elapsed}. After a rollback the same connection (backend "
    "{pid}) answered again: {usable}."
)
COMMAND_TIMEOUT = N_(
    "With connect_args={{'command_timeout': {timeout}}}, SELECT pg_sleep({sleep}) raised "
    "{error} after {elapsed}. Backend {pid} was still on the server afterwards: {alive}; the "
    "next checkout got backend {next_pid}. With statement_timeout={statement_ms} ms the same "
    "query raised {statement_error} after {statement_elapsed} and the connection stayed: "
    "{statement_kept}."
)
COMMAND_TIMEOUT_READINGS = N_(
    "statement_timeout: {statement_error}, connection kept: {statement_kept}; command_timeout: "
    "{error}, connection kept: {kept}"
)
SETTINGS = N_(
    "SQLAlchemy's pool has {in_sqlalchemy} of the seed's {total} settings under its own names "
    "(looked up in the installed signatures); the table shows asyncpg's and psycopg_pool's. "
    "Substitutes: a fresh engine opened {cold_connects} connections while serving its first "
    "{warm_size} requests, a pre-warmed one {warm_connects}; the very first request took "
    "{cold_first} cold and {warm_first} pre-warmed. {checkouts} sequential requests on a warm "
    "pool of {warm_size} used {fifo} distinct backends with the default FIFO queue and {lifo} "
    "with pool_use_lifo=True."
)
SETTINGS_LIBRARIES = N_(
    "SQLAlchemy's pool has {in_sqlalchemy} of the {total} settings; asyncpg's and "
    "psycopg_pool's have others (see the table)"
)
HALF_OPEN = N_(
    "Through the fault proxy in blackhole mode (connections open, nothing delivered), a request "
    "with default settings {default}. With statement_timeout=250 ms it {statement}; with "
    "pool_pre_ping it {pre_ping}."
)
HALF_OPEN_REASON = N_("with default settings the request {default}")
ON_OFF = {True: Message(N_("on")), False: Message(N_("off"))}
HALF_OPEN_STILL = N_("was still waiting after {seconds} s, with no error")
HALF_OPEN_RELEASED = N_("ended after {seconds} s with {outcome}")
HALF_OPEN_KEEPALIVE = N_(
    "SO_KEEPALIVE on asyncpg's socket: {keepalive}; the kernel's keepalive settings declare a "
    "silent peer dead after {kernel} s."
)
REMEDIES = N_(
    "{released} of {tried} client-side timeouts released the request within {window} s. {each}"
)
REMEDY_DETAIL = N_("{setting}: {outcome}")
REMEDY_LIST = N_("{each}")
REMEDIES_REASON = N_("{released} of {tried} timeouts released the request")
RETURNED = N_(
    "The session checked a connection out at its first statement (backend {pid}; checked out: "
    "{after_execute}), gave it back at commit while the session stayed open (checked out: "
    "{after_commit}), took it again for the next statement (backend {pid_again}) and gave it "
    "back when the session closed (checked out: {after_close}); the next session got backend "
    "{next_pid}. A session that ran a statement and was neither committed nor closed still "
    "held its connection (checked out: {forgotten})."
)

#: What decided an exactly observed verdict (its ``reason``).
DECIDED_BY_BACKEND_PIDS_BEFORE_AND = N_(
    "backend pids before and after, and the request after an early death"
)
DECIDED_BY_THE_11TH_CHECKOUT_S = N_("the 11th checkout's exception and when it came")
DECIDED_BY_THE_ERROR_S_SQLSTATE = N_(
    "the error's SQLSTATE and the backend serving the next request"
)
DECIDED_BY_THE_PARAMETER_NAMES_IN = N_("the parameter names in the installed signatures")
DECIDED_BY_THE_POOL_S_CHECKED = N_("the pool's checked-out count after each step")
DECIDED_BY_THE_POOL_S_CONNECTS = N_(
    "the pool's connects and closes and the server's backends after the last return"
)
DECIDED_BY_THE_REQUESTS_OUTCOMES_AFTER = N_("the requests' outcomes after the kill")
PRE_PING_CHEAPER = N_("far cheaper than the seed's 0.01 s")
PRE_PING_AS_CLAIMED = N_("within a factor 3 of 0.01 s")
PRE_PING_DEARER = N_("dearer than 0.01 s")
