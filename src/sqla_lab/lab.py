"""The lab framework: a lab is a plain ``async def`` that measures and returns findings.

Modelled on SQLAlchemy's ``examples/performance``: one decorated function per experiment,
its docstring is its label::

    @lab("connect")
    async def connect_lab(ctx: LabContext) -> LabOutput:
        \"\"\"Reusing a pooled connection is about 20x faster than opening one.\"\"\"
        ...
        return LabOutput(findings=(finding,))

The decorator only wraps the function in a :class:`Lab`; it registers nothing. The list of
labs is an explicit tuple in :mod:`sqla_lab.labs`. Labs never import a renderer: they report
progress through the :class:`Progress` protocol and return frozen values.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sqla_lab.database import Database
from sqla_lab.errors import ConfigurationError
from sqla_lab.postgres import EmbeddedPostgres, PostgresServer
from sqla_lab.results import Chart, Environment, Finding, LabResult, Table
from sqla_lab.settings import Settings
from sqla_lab.workspace import Workspace

__all__ = [
    "Lab",
    "LabContext",
    "LabFunction",
    "LabOutput",
    "NullProgress",
    "Progress",
    "lab",
    "run_labs",
    "select_labs",
]


class Progress(Protocol):
    """How a lab says how far along it is; the CLI draws it, tests ignore it."""

    def start(self, description: str, total: int) -> None:
        """Begin a phase of ``total`` steps."""

    def advance(self, steps: int = 1) -> None:
        """Mark ``steps`` more steps of the current phase done."""


class NullProgress:
    """A :class:`Progress` that shows nothing."""

    def start(self, description: str, total: int) -> None:
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

    def repetitions(self, full: int, quick: int) -> int:
        """How many samples to take: ``full`` normally, ``quick`` under ``--quick``."""
        return quick if self.quick else full


LabFunction = Callable[[LabContext], Awaitable[LabOutput]]


@dataclass(frozen=True)
class Lab:
    """A named experiment; ``title`` is the first line of its function's docstring."""

    name: str
    function: LabFunction
    title: str
    description: str

    async def run(self, context: LabContext) -> LabResult:
        """Run the experiment and wrap its output into a :class:`LabResult`."""
        started = time.perf_counter()
        output = await self.function(context)
        return LabResult(
            lab=self.name,
            title=self.title,
            findings=output.findings,
            tables=output.tables,
            charts=output.charts,
            environment=context.environment,
            duration_s=time.perf_counter() - started,
        )


def lab(name: str) -> Callable[[LabFunction], Lab]:
    """Turn an ``async def f(ctx) -> LabOutput`` into a :class:`Lab` called ``name``."""

    def wrap(function: LabFunction) -> Lab:
        doc = inspect.getdoc(function)
        if not doc:
            raise TypeError(f"lab {name!r} needs a docstring: its first line is its claim")
        title, _, rest = doc.partition("\n")
        return Lab(name=name, function=function, title=title.strip(), description=rest.strip())

    return wrap


def select_labs(available: Sequence[Lab], names: Sequence[str]) -> list[Lab]:
    """The labs called ``names`` in the given order, or all of them when none is named.

    Raises:
        ConfigurationError: a name matches no lab.
    """
    by_name = {item.name: item for item in available}
    if not names:
        return list(available)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        known = ", ".join(by_name)
        raise ConfigurationError(f"unknown lab {', '.join(map(repr, unknown))}; known: {known}")
    return [by_name[n] for n in dict.fromkeys(names)]


async def run_labs(
    labs: Sequence[Lab],
    *,
    server: PostgresServer,
    settings: Settings,
    progress: Progress | None = None,
    quick: bool = False,
    on_result: Callable[[LabResult], None] | None = None,
    on_start: Callable[[Lab, int, int], None] | None = None,
) -> list[LabResult]:
    """Run ``labs`` one after another in a workspace of their own on a started ``server``.

    Unless ``server`` already is a :class:`~sqla_lab.workspace.Workspace`, one is created for
    the run and dropped at its end, whatever happens: labs never write anywhere else.
    ``on_start(lab, index, total)`` is called before each lab (index from 1), ``on_result`` as
    each lab finishes, so a caller can show where it is and save results as they come, losing
    nothing if a later lab is interrupted.
    """
    if not isinstance(server, Workspace):
        with Workspace(server, purpose="run") as workspace:
            return await run_labs(
                labs,
                server=workspace,
                settings=settings,
                progress=progress,
                quick=quick,
                on_result=on_result,
                on_start=on_start,
            )
    environment = Environment.current(
        postgresql=server.server_version or "unknown", embedded=server.embedded
    )
    context = LabContext(
        workspace=server,
        settings=settings,
        environment=environment,
        progress=progress or NullProgress(),
        quick=quick,
    )
    results: list[LabResult] = []
    for index, item in enumerate(labs, start=1):
        if on_start is not None:
            on_start(item, index, len(labs))
        result = await item.run(context)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
