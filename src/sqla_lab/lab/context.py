"""What a lab gets and gives: its :class:`LabContext` in, its :class:`LabOutput` out.

Labs never import a renderer: they report progress through the :class:`Progress` protocol
and return frozen values (:mod:`sqla_lab.lab.results`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sqla_lab.database import Database
from sqla_lab.lab.messages import Message
from sqla_lab.lab.results import Chart, Environment, Finding, Table
from sqla_lab.postgres import EmbeddedPostgres
from sqla_lab.settings import Settings
from sqla_lab.workspace import Workspace

__all__ = ["LabContext", "LabFunction", "LabOutput", "NullProgress", "Progress"]


class Progress(Protocol):
    """How a lab says how far along it is; the CLI draws it, tests ignore it."""

    def start(self, description: str | Message, total: int) -> None:
        """Begin a phase of ``total`` steps; ``description`` is a template (``N_``) or a
        message holding the run's values, translated where it is shown."""

    def advance(self, steps: int = 1) -> None:
        """Mark ``steps`` more steps of the current phase done."""


class NullProgress:
    """A :class:`Progress` that shows nothing."""

    def start(self, description: str | Message, total: int) -> None:
        """Ignore the phase."""

    def advance(self, steps: int = 1) -> None:
        """Ignore the step."""


@dataclass(frozen=True, kw_only=True)
class LabOutput:
    """What a lab function returns; the runner adds name, environment and duration."""

    findings: tuple[Finding, ...]
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LabContext:
    """Everything a lab may use: its workspace, settings, a progress sink, the environment.

    Attributes:
        workspace: the database (or schema) sqla-lab created for this run on the server; a
            lab connects only there (``workspace.url``, ``.dsn``, ``.sync_url``).
        settings: engine and pool settings chosen by the user.
        environment: versions and machine, already read from the server.
        progress: where to report progress.
        quick: take fewer samples (for tests and ``--quick``).
    """

    workspace: Workspace
    settings: Settings
    environment: Environment
    progress: Progress = field(default_factory=NullProgress)
    quick: bool = False

    @property
    def embedded_server(self) -> EmbeddedPostgres | None:
        """The embedded server under the workspace, for what only our own server allows
        (``pg_hba.conf`` rules, TLS files); ``None`` on a user's server."""
        server = self.workspace.server
        return server if isinstance(server, EmbeddedPostgres) else None

    def engine(self, **engine_kwargs: Any) -> AsyncEngine:
        """A new :class:`AsyncEngine` in the lab's workspace; the caller disposes it."""
        return create_async_engine(self.workspace.url, **engine_kwargs)

    def database(self, **engine_kwargs: Any) -> Database:
        """A new :class:`Database` in the lab's workspace; the caller disposes it."""
        return Database(self.workspace.url, **engine_kwargs)

    def versions(self, *components: str) -> dict[str, str]:
        """The versions of ``components`` a finding depends on (``"asyncpg"``, ...)."""
        return self.environment.versions(*components)

    def repetitions(self, full: int, quick: int) -> int:
        """How many samples to take: ``full`` normally, ``quick`` under ``--quick``."""
        return quick if self.quick else full


LabFunction = Callable[[LabContext], Awaitable[LabOutput]]
