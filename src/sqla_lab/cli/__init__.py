"""The ``sqla-lab`` command line (typer + rich), composed downward.

This module builds the typer app and adds each command from its module: :mod:`.labs`
(``list``, ``run``), :mod:`.db` (``db up/down/status``, ``seed``), :mod:`.report`
(``report``) and :mod:`.service` (``serve``, ``load``). Shared options and error handling live
in :mod:`._common`. A face's heavy libraries (matplotlib, FastAPI, locust) are imported inside
its command, and a missing extra is one line naming it.

Every command that talks to a database takes ``--database-url`` (or ``DATABASE_URL``) for an
existing server, and otherwise starts, and always stops, an embedded one. Errors the user can
fix print one line on stderr and exit non-zero: 2 for bad input or an unusable database, 130
for Ctrl-C. Everything a command prints is also available as JSON.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Annotated, Any, NoReturn

import typer

from sqla_lab.cli import db, labs, report, service
from sqla_lab.cli._common import UNWIND_SIGNALS, handle_errors

__all__ = [
    "app",
    "main",
    "version_command",
]


def _version() -> str:
    try:
        return metadata.version("sqla-lab")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sqla-lab {_version()}")
        raise typer.Exit


app = typer.Typer(
    name="sqla-lab",
    help="Measure SQLAlchemy 2.x async ORM behaviour on a real PostgreSQL.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Measure SQLAlchemy 2.x async ORM behaviour on a real PostgreSQL."""


app.command("list")(labs.list_labs)
app.command("run")(labs.run)
app.command("seed")(db.seed_command)
app.add_typer(db.db_app, name="db")
db.db_app.command("up")(db.db_up)
db.db_app.command("down")(db.db_down)
db.db_app.command("status")(db.db_status)
app.command("report")(report.report)
app.command("serve")(service.serve)
app.command("load")(service.load)


@app.command("version")
@handle_errors
def version_command() -> None:
    """Print the sqla-lab version."""
    typer.echo(_version())


def _raise_keyboard_interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI with SIGTERM and SIGHUP unwinding like Ctrl-C."""
    previous: list[tuple[signal.Signals, Callable[..., Any] | int | None]] = []
    for sig in UNWIND_SIGNALS:
        previous.append((sig, signal.getsignal(sig)))
        signal.signal(sig, _raise_keyboard_interrupt)
    try:
        app(args=list(argv) if argv is not None else None, prog_name="sqla-lab")
    finally:
        for sig, handler in previous:
            signal.signal(sig, handler)
