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
    ExpectationFailed,
    LabError,
    NPlusOneDetected,
    PostgresError,
    PostgresNotFoundError,
    PostgresStartError,
    QueryBudgetExceeded,
    SqlaLabError,
)
from sqla_lab.faults import FaultMode, FaultProxy
from sqla_lab.lab import Lab, LabContext, LabOutput, lab, run_labs
from sqla_lab.models import Base, Post, PostEntity, User, UserEntity
from sqla_lab.n_plus_one import LoadFinding, NPlusOneDetector, NPlusOneWarning
from sqla_lab.pool_monitor import CheckoutWait, PoolMonitor, PoolSnapshot
from sqla_lab.postgres import EmbeddedPostgres, ExistingPostgres, PostgresServer, Status
from sqla_lab.query_recorder import QueryLog, QueryRecorder, RecordedQuery
from sqla_lab.results import Chart, Environment, Finding, LabResult, Measurement, Table, Verdict
from sqla_lab.seeding import SeedCounts, seed
from sqla_lab.settings import Settings
from sqla_lab.state_tracer import StateStep, StateTimeline, StateTracer
from sqla_lab.statement_counter import StatementCounter, Tally

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
    "ExpectationFailed",
    "FaultMode",
    "FaultProxy",
    "Finding",
    "Lab",
    "LabContext",
    "LabError",
    "LabOutput",
    "LabResult",
    "LoadFinding",
    "Measurement",
    "NPlusOneDetected",
    "NPlusOneDetector",
    "NPlusOneWarning",
    "PoolMonitor",
    "PoolSnapshot",
    "Post",
    "PostEntity",
    "PostgresError",
    "PostgresNotFoundError",
    "PostgresServer",
    "PostgresStartError",
    "QueryBudgetExceeded",
    "QueryLog",
    "QueryRecorder",
    "RecordedQuery",
    "SeedCounts",
    "Settings",
    "SqlaLabError",
    "StateStep",
    "StateTimeline",
    "StateTracer",
    "StatementCounter",
    "Status",
    "Table",
    "Tally",
    "User",
    "UserEntity",
    "Verdict",
    "__version__",
    "lab",
    "run_labs",
    "seed",
]
