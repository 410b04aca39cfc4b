"""Every sentence the ``request`` lab writes, as message templates (one place to translate).

Each template is filled with values from the run (:class:`~sqla_lab.lab.messages.Message`);
none states an outcome on its own: the lab picks the template that matches what it measured,
and the verdicts come from :mod:`sqla_lab.lab.stats` rules.
"""

from __future__ import annotations

from sqla_lab.lab.messages import N_

__all__ = [
    "ABOUT_CLAIMED",
    "ABOUT_LARGER",
    "ABOUT_SMALLER",
    "AVOIDABLE",
    "AVOIDABLE_CLAIMED",
    "AVOIDABLE_LARGER",
    "AVOIDABLE_NONE",
    "AVOIDABLE_READING",
    "AVOIDABLE_SMALLER",
    "COST",
    "COST_READING",
    "FLOOR",
    "FLOOR_ABOVE",
    "FLOOR_READING",
    "FLOOR_WITHIN",
    "GC",
    "GC_ALLOCATIONS",
    "GC_READING",
    "MACHINE",
    "ORM_EXTRA_READING",
    "ORM_VS_RAW",
    "SKIPPED",
    "WHAT_GREENLET_PER_CALL",
    "WHAT_OVERRIDES",
    "WHAT_PER_REQUEST_OPTIONS",
    "WHAT_SHIELDED_CLOSE",
    "WHAT_YIELD_DEPENDENCY",
]

#: The bands of "costs about {claimed}": the meaning of a value in each.
ABOUT_SMALLER = N_("less than half the claimed {claimed}")
ABOUT_CLAIMED = N_("within a factor 2 of the claimed {claimed}")
ABOUT_LARGER = N_("more than twice the claimed {claimed}")

ORM_EXTRA_READING = N_("the ORM request's CPU beyond raw asyncpg's")
ORM_VS_RAW = N_(
    "Its cheapest ORM form spent {best} of CPU per request, {ratio} raw asyncpg's {raw}; "
    "SQLAlchemy Core spent {core} ({core_ratio}). The ORM's extra over raw asyncpg: {extra}. "
    "Same endpoint, same JSON, the same single LEFT JOIN, called in-process through ASGI, "
    "{callers} requests in flight, over {blocks} interleaved blocks (each block's cheapest "
    "slice); PostgreSQL's own CPU is not counted (another process)."
)

COST_READING = N_("CPU this adds per request")
COST = N_(
    "{what}. CPU per request against the same endpoint without it, in multiples of one raw "
    "asyncpg request: {cost}; in time: {added} (block by block over {blocks} interleaved "
    "blocks, '{variant}' against '{base}')."
)
WHAT_OVERRIDES = N_(
    "One entry in app.dependency_overrides (mapping the session dependency to itself: FastAPI "
    "then re-inspects every dependency's signature, string annotations included, on every "
    "request)"
)
WHAT_YIELD_DEPENDENCY = N_(
    "Opening the session in a dependency with yield (run in FastAPI's exit stack) instead of "
    "in the route"
)
WHAT_PER_REQUEST_OPTIONS = N_(
    "Setting AUTOCOMMIT on every checkout (session.connection(execution_options=...)) instead "
    "of once on the engine"
)
WHAT_SHIELDED_CLOSE = N_(
    "Closing the session through async with AsyncSession (a task of its own behind "
    "asyncio.shield) instead of directly"
)
WHAT_GREENLET_PER_CALL = N_(
    "Awaiting scalars() and close() (a greenlet switch each) instead of one session.run_sync "
    "for the whole unit of work"
)

MACHINE = N_(
    "measured here as {value}: the price of each step in CPU depends on the processor, the "
    "Python build and the library versions, and the ratios on what raw asyncpg costs here"
)

GC_READING = N_("time in collections saved per request")
GC = N_(
    "Over {requests} requests per setting in alternating chunks, the cheapest ORM endpoint "
    "spent {default_us} per request inside collections with Python's default thresholds "
    "({young} young, {middle} middle and {full} full collections per 1,000 requests), and "
    "{tuned_us} with gc.freeze() and thresholds {thresholds} ({tuned_young} young). Time in "
    "collections per request, default minus tuned, chunk by chunk: {saved}; CPU per request, "
    "default minus tuned: {cpu}. In-process there is no HTTP server: its allocations, which "
    "make collections more frequent, are not part of this measurement. The tuning is safe only "
    "because a request leaves no cyclic garbage behind (the demo service's memory test checks "
    "it)."
)
GC_ALLOCATIONS = N_(
    "the collector runs when allocations cross its thresholds: an HTTP server in the same "
    "process allocates per request too, so the saving over HTTP is larger than the {saved} "
    "measured here in-process"
)

AVOIDABLE_READING = N_("share of the old request that was avoidable")
AVOIDABLE_NONE = N_("under 10%: hardly any of it was avoidable")
AVOIDABLE_SMALLER = N_("a real share, smaller than the claimed 40%")
AVOIDABLE_CLAIMED = N_("within a factor 1.5 of the claimed 40%")
AVOIDABLE_LARGER = N_("a real share, larger than the claimed 40%")
AVOIDABLE = N_(
    "With every avoidable cost the ORM request spent {all_costs} of CPU ({all_ratio} raw "
    "asyncpg); in its cheapest form {best}: {share} of the old request was overhead, not ORM "
    "work."
)

FLOOR_READING = N_("the cheapest ORM endpoint above its floor")
FLOOR_WITHIN = N_("within {limit} of the floor")
FLOOR_ABOVE = N_("more than {limit} above the floor")
FLOOR = N_(
    "The ORM unit of work alone (session, select, 11 entities, response model, close; no "
    "FastAPI) spent {orm_extra} of CPU beyond the same work on raw asyncpg: the floor any ORM "
    "endpoint carries. Raw asyncpg's endpoint plus it makes {floor} per request; the cheapest "
    "ORM endpoint against that floor: {above}. So an ORM endpoint can serve at most about {cap} "
    "the requests per CPU-second of raw asyncpg's, however it is tuned."
)

SKIPPED = N_(
    "skipped: this lab builds FastAPI apps and needs {missing} (pip install 'sqla-lab[service]')"
)
