"""sqla-lab: SQLAlchemy 2.x async ORM on PostgreSQL, measured.

The public API: servers (:class:`EmbeddedPostgres`, :class:`ExistingPostgres`), the
:class:`Database` core and its models, the lab framework and its result types.
"""

from __future__ import annotations

from importlib import metadata

from sqla_lab.database import Database
from sqla_lab.errors import (
    ConfigurationError,
    DatabaseUnavailable,
    LabError,
    PostgresError,
    PostgresNotFoundError,
    PostgresStartError,
    SqlaLabError,
)
from sqla_lab.lab import Lab, LabContext, LabOutput, lab, run_labs
from sqla_lab.models import Base, Post, PostEntity, User, UserEntity
from sqla_lab.pool_monitor import CheckoutWait, PoolMonitor, PoolSnapshot
from sqla_lab.postgres import EmbeddedPostgres, ExistingPostgres, PostgresServer, Status
from sqla_lab.query_recorder import QueryLog, QueryRecorder, RecordedQuery
from sqla_lab.results import Chart, Environment, Finding, LabResult, Measurement, Table, Verdict
from sqla_lab.seeding import SeedCounts, seed
from sqla_lab.settings import Settings

try:
    __version__ = metadata.version("sqla-lab")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Base",
    "Chart",
    "CheckoutWait",
    "ConfigurationError",
    "Database",
    "DatabaseUnavailable",
    "EmbeddedPostgres",
    "Environment",
    "ExistingPostgres",
    "Finding",
    "Lab",
    "LabContext",
    "LabError",
    "LabOutput",
    "LabResult",
    "Measurement",
    "PoolMonitor",
    "PoolSnapshot",
    "Post",
    "PostEntity",
    "PostgresError",
    "PostgresNotFoundError",
    "PostgresServer",
    "PostgresStartError",
    "QueryLog",
    "QueryRecorder",
    "RecordedQuery",
    "SeedCounts",
    "Settings",
    "SqlaLabError",
    "Status",
    "Table",
    "User",
    "UserEntity",
    "Verdict",
    "__version__",
    "lab",
    "run_labs",
    "seed",
]
