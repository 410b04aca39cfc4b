"""sqla-lab: SQLAlchemy 2.x async ORM on PostgreSQL, measured. The toolkit.

What a project imports: the instruments (:mod:`sqla_lab.instruments`), the servers
(:class:`EmbeddedPostgres`, :class:`ExistingPostgres`), :class:`Workspace`, :class:`Database`,
the exceptions and :class:`Settings`. The lab framework is :mod:`sqla_lab.lab`, the demo models
:mod:`sqla_lab.demo`; each has its own ``__all__``.

Names are imported on first use (PEP 562), so that ``import sqla_lab`` (and the pytest
plugin, which pytest loads in every run of every project that has sqla-lab installed) costs
almost nothing until something is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from sqla_lab.database import (
        Database,
    )
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
    from sqla_lab.instruments import (
        CheckoutWait,
        FaultMode,
        FaultProxy,
        InstrumentState,
        LoadFinding,
        NPlusOneDetector,
        NPlusOneWarning,
        PoolMonitor,
        PoolSnapshot,
        QueryLog,
        QueryRecorder,
        RecordedQuery,
        StatementCounter,
        StateStep,
        StateTimeline,
        StateTracer,
        Tally,
    )
    from sqla_lab.postgres import (
        EmbeddedPostgres,
        ExistingPostgres,
        PostgresServer,
        Status,
        server_from_url,
    )
    from sqla_lab.settings import (
        Settings,
    )
    from sqla_lab.workspace import (
        Workspace,
    )

#: Where each public name lives.
_HOMES: dict[str, str] = {
    "Database": "sqla_lab.database",
    "ConfigurationError": "sqla_lab.errors",
    "DatabaseUnavailable": "sqla_lab.errors",
    "ExpectationFailed": "sqla_lab.errors",
    "LabError": "sqla_lab.errors",
    "NPlusOneDetected": "sqla_lab.errors",
    "PostgresError": "sqla_lab.errors",
    "PostgresNotFoundError": "sqla_lab.errors",
    "PostgresStartError": "sqla_lab.errors",
    "QueryBudgetExceeded": "sqla_lab.errors",
    "SqlaLabError": "sqla_lab.errors",
    "CheckoutWait": "sqla_lab.instruments",
    "FaultMode": "sqla_lab.instruments",
    "FaultProxy": "sqla_lab.instruments",
    "InstrumentState": "sqla_lab.instruments",
    "LoadFinding": "sqla_lab.instruments",
    "NPlusOneDetector": "sqla_lab.instruments",
    "NPlusOneWarning": "sqla_lab.instruments",
    "PoolMonitor": "sqla_lab.instruments",
    "PoolSnapshot": "sqla_lab.instruments",
    "QueryLog": "sqla_lab.instruments",
    "QueryRecorder": "sqla_lab.instruments",
    "RecordedQuery": "sqla_lab.instruments",
    "StateStep": "sqla_lab.instruments",
    "StateTimeline": "sqla_lab.instruments",
    "StateTracer": "sqla_lab.instruments",
    "StatementCounter": "sqla_lab.instruments",
    "Tally": "sqla_lab.instruments",
    "EmbeddedPostgres": "sqla_lab.postgres",
    "ExistingPostgres": "sqla_lab.postgres",
    "PostgresServer": "sqla_lab.postgres",
    "Status": "sqla_lab.postgres",
    "server_from_url": "sqla_lab.postgres",
    "Settings": "sqla_lab.settings",
    "Workspace": "sqla_lab.workspace",
}

__all__ = [
    "CheckoutWait",
    "ConfigurationError",
    "Database",
    "DatabaseUnavailable",
    "EmbeddedPostgres",
    "ExistingPostgres",
    "ExpectationFailed",
    "FaultMode",
    "FaultProxy",
    "InstrumentState",
    "LabError",
    "LoadFinding",
    "NPlusOneDetected",
    "NPlusOneDetector",
    "NPlusOneWarning",
    "PoolMonitor",
    "PoolSnapshot",
    "PostgresError",
    "PostgresNotFoundError",
    "PostgresServer",
    "PostgresStartError",
    "QueryBudgetExceeded",
    "QueryLog",
    "QueryRecorder",
    "RecordedQuery",
    "Settings",
    "SqlaLabError",
    "StateStep",
    "StateTimeline",
    "StateTracer",
    "StatementCounter",
    "Status",
    "Tally",
    "Workspace",
    "__version__",
    "server_from_url",
]


def _version() -> str:
    from importlib import metadata  # reading the installed metadata costs ~0.1 s: on demand

    try:
        return metadata.version("sqla-lab")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = _version()
        globals()[name] = value
        return value
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
