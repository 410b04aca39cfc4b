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

import dataclasses
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqla_lab.errors import ConfigurationError
from sqla_lab.lab.context import LabContext, LabFunction, NullProgress, Progress
from sqla_lab.lab.messages import N_
from sqla_lab.lab.results import DEFAULT_VERSIONS, Environment, Finding, LabResult
from sqla_lab.postgres import PostgresServer
from sqla_lab.settings import Settings
from sqla_lab.workspace import Workspace

__all__ = ["Lab", "lab", "run_labs", "select_labs"]


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
            findings=tuple(_with_versions(f, context.environment) for f in output.findings),
            tables=output.tables,
            charts=output.charts,
            environment=context.environment,
            duration_s=time.perf_counter() - started,
        )


def _with_versions(finding: Finding, environment: Environment) -> Finding:
    """A finding that named no versions is recorded against the default stack."""
    if finding.versions:
        return finding
    return dataclasses.replace(finding, versions=environment.versions(*DEFAULT_VERSIONS))


def lab(name: str, *, title: str | None = None) -> Callable[[LabFunction], Lab]:
    """Turn an ``async def f(ctx) -> LabOutput`` into a :class:`Lab` called ``name``.

    Args:
        name: the lab's name on the command line.
        title: the claim the lab tests, marked for translation (``N_("...")``); by default
            the first line of the function's docstring (which then cannot be translated).
    """

    def wrap(function: LabFunction) -> Lab:
        doc = inspect.getdoc(function)
        if not doc:
            raise TypeError(f"lab {name!r} needs a docstring: its first line is its claim")
        first, _, rest = doc.partition("\n")
        return Lab(
            name=name,
            function=function,
            title=title or first.strip(),
            description=rest.strip(),
        )

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
        raise ConfigurationError(
            N_("unknown lab {names}; known: {known}"),
            names=", ".join(map(repr, unknown)),
            known=known,
        )
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
