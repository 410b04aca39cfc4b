"""``sqla-lab list`` and ``sqla-lab run``: the labs, and their findings on a real server."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import typer
from rich.console import Console

from sqla_lab.cli._common import (
    DatabaseUrlOption,
    JsonFileOption,
    PgVersionOption,
    check_output,
    emit_json,
    handle_errors,
    load_settings,
    run_async,
    server_for,
    stderr,
    write_json,
    writes_through,
)
from sqla_lab.errors import ConfigurationError
from sqla_lab.lab import Lab, LabResult, dump_results, run_labs, select_labs
from sqla_lab.labs import ALL_LABS
from sqla_lab.report.console import ConsoleProgress, render_labs, render_results
from sqla_lab.settings import Settings
from sqla_lab.workspace import Workspace

__all__ = ["list_labs", "measure", "run"]


def measure(
    selected: Sequence[Lab],
    settings: Settings,
    console: Console,
    *,
    quick: bool,
    on_result: Callable[[LabResult], None] | None = None,
) -> list[LabResult]:
    """Run ``selected`` on the configured server (started and stopped here) with progress."""
    with server_for(settings) as server, Workspace(server, purpose="run") as workspace:
        console.print(
            f"[dim]PostgreSQL {server.server_version} at {server.display_url}; working in "
            f"{workspace.kind} {workspace.name} (dropped at the end)[/]",
            soft_wrap=True,
        )
        with ConsoleProgress(console) as progress:
            return run_async(
                run_labs(
                    selected,
                    server=workspace,
                    settings=settings,
                    progress=progress,
                    quick=quick,
                    on_result=on_result,
                    on_start=progress.lab_started,
                )
            )


@handle_errors
def list_labs(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the labs and the claim each one tests."""
    if as_json:
        emit_json(
            [{"name": i.name, "title": i.title, "description": i.description} for i in ALL_LABS]
        )
        return
    render_labs(Console(), ALL_LABS)


@handle_errors
def run(
    labs: Annotated[
        list[str] | None, typer.Argument(help="Labs to run (default: all).", show_default=False)
    ] = None,
    json_file: JsonFileOption = None,
    database_url: DatabaseUrlOption = None,
    pg_version: PgVersionOption = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Fewer repetitions: faster, noisier.")
    ] = False,
    pgbouncer_url: Annotated[
        str | None,
        typer.Option(
            "--pgbouncer-url",
            help="scale lab: your PgBouncer, instead of the one it starts.",
            show_default=False,
        ),
    ] = None,
    replica_url: Annotated[
        str | None,
        typer.Option(
            "--replica-url",
            help="scale lab: your streaming replica of --database-url's server.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run labs and print their findings: claim, source, measurement, verdict."""
    settings = load_settings(
        database_url=database_url,
        pg_version=pg_version,
        pgbouncer_url=pgbouncer_url,
        replica_url=replica_url,
    )
    if settings.replica_url and not settings.database_url:
        raise ConfigurationError(
            "--replica-url needs --database-url (or DATABASE_URL) naming its primary"
        )
    selected = select_labs(ALL_LABS, labs or [])
    to_stdout = json_file is not None and str(json_file) == "-"
    if json_file is not None:
        check_output(json_file)
    # A regular file is rewritten after every lab, so an interrupted run keeps what it
    # measured; a FIFO or a device gets the one final document.
    incremental = json_file is not None and not to_stdout and not writes_through(json_file)
    console = stderr() if to_stdout else Console()
    collected: list[LabResult] = []

    def save(result: LabResult) -> None:
        collected.append(result)
        if incremental:
            assert json_file is not None
            write_json(json_file, dump_results(collected))

    measure(selected, settings, console, quick=quick, on_result=save)
    render_results(console, collected)
    if to_stdout:
        emit_json(dump_results(collected))
    elif json_file is not None:
        if not incremental:
            write_json(json_file, dump_results(collected))
        console.print(f"[dim]results written to {json_file}[/]")
