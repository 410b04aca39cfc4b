"""The ways the prepared-statement findings run the same requests through PgBouncer.

A :class:`Variant` is one configuration: which PgBouncer pool, which engine arguments, and
whether the documentation gives it as a fix (the others are halves of the usual advice, run
to show which half does the work). :class:`Outcome` is what one variant's run produced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqla_lab.lab.messages import N_, Message
from sqla_lab.labs.scale._common import RunSummary
from sqla_lab.labs.scale._jobs import EngineSpec

__all__ = [
    "ASYNCPG_CACHE_ONLY",
    "BASE",
    "BOTH_CACHES",
    "CONCURRENCY",
    "DEFAULTS",
    "HOLD_MS",
    "MAX_PREPARED",
    "SA_CACHE_ONLY",
    "SESSION_MODE",
    "TRACKED",
    "UNIQUE_NULLPOOL",
    "UNIQUE_QUEUEPOOL",
    "VARIANTS",
    "WORKERS",
    "Outcome",
    "Variant",
]

#: Worker processes, tasks per worker, and the pg_sleep in each request of every run.
WORKERS = 3
CONCURRENCY = 4
HOLD_MS = 1.0
#: The engine each variant starts from: a QueuePool of 4 per worker.
BASE = EngineSpec(pool_size=4, max_overflow=0)
#: PgBouncer 1.21+'s max_prepared_statements for the tracking variant.
MAX_PREPARED = 200
#: TRACKED's settings, as a template a catalog can hold (it names MAX_PREPARED's value).
_TRACKED_SETTINGS = N_("PgBouncer max_prepared_statements=200, SQLAlchemy's defaults")
assert str(MAX_PREPARED) in _TRACKED_SETTINGS


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One way to run the same requests.

    Attributes:
        name: a short name for tables and charts.
        settings: what exactly it sets.
        pool: ``txn`` (the transaction pool), ``session`` (the lab's session pool) or
            ``tracked`` (a PgBouncer with ``max_prepared_statements``).
        engine: the engine each worker builds.
        documented: a fix the documentation gives (the others are halves of one).
    """

    name: str
    settings: str
    pool: str
    engine: EngineSpec
    documented: bool


DEFAULTS = Variant(
    name=N_("defaults"),
    settings=N_("SQLAlchemy's and asyncpg's defaults"),
    pool="txn",
    engine=BASE,
    documented=False,
)
BOTH_CACHES = Variant(
    name=N_("both caches off"),
    settings="statement_cache_size=0 + prepared_statement_cache_size=0",
    pool="txn",
    engine=dataclasses.replace(BASE, statement_cache_size=0, prepared_statement_cache_size=0),
    documented=True,
)
UNIQUE_NULLPOOL = Variant(
    name=N_("unique names + NullPool"),
    settings="prepared_statement_name_func (UUIDs) + NullPool",
    pool="txn",
    engine=EngineSpec(pool="null", unique_statement_names=True),
    documented=True,
)
SESSION_MODE = Variant(
    name=N_("session mode"),
    settings=N_("PgBouncer pool_mode=session, SQLAlchemy's defaults"),
    pool="session",
    engine=BASE,
    documented=True,
)
TRACKED = Variant(
    name="max_prepared_statements",
    settings=_TRACKED_SETTINGS,
    pool="tracked",
    engine=BASE,
    documented=True,
)
SA_CACHE_ONLY = Variant(
    name=N_("SQLAlchemy cache off only"),
    settings="prepared_statement_cache_size=0",
    pool="txn",
    engine=dataclasses.replace(BASE, prepared_statement_cache_size=0),
    documented=False,
)
ASYNCPG_CACHE_ONLY = Variant(
    name=N_("asyncpg cache off only"),
    settings="statement_cache_size=0",
    pool="txn",
    engine=dataclasses.replace(BASE, statement_cache_size=0),
    documented=False,
)
UNIQUE_QUEUEPOOL = Variant(
    name=N_("unique names, QueuePool"),
    settings=N_("prepared_statement_name_func (UUIDs), QueuePool kept"),
    pool="txn",
    engine=dataclasses.replace(BASE, unique_statement_names=True),
    documented=False,
)
#: Every variant after the defaults, documented fixes first.
VARIANTS = (
    BOTH_CACHES,
    UNIQUE_NULLPOOL,
    SESSION_MODE,
    TRACKED,
    SA_CACHE_ONLY,
    ASYNCPG_CACHE_ONLY,
    UNIQUE_QUEUEPOOL,
)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one variant's run produced; ``missing`` says why it did not run."""

    variant: Variant
    run: RunSummary | None
    cost: float | None = None
    missing: Message | None = None
