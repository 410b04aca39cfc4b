"""The ``sqla-lab`` command line (typer + rich), composed downward.

This module builds the typer app and adds each command from its module: :mod:`.labs`
(``list``, ``run``, ``show``), :mod:`.db` (``db up/down/status``, ``seed``), :mod:`.report`
(``report``) and :mod:`.service` (``serve``, ``load``). Shared options, error handling and the
language live in :mod:`._common`. A face's heavy libraries (matplotlib, FastAPI, locust) are
imported inside its command, and a missing extra is one line naming it.

Every command takes ``--lang ko|en``. Help is printed before a command runs, so :func:`main`
reads ``--lang`` (or ``SQLA_LAB_LANG``, or the locale) from the arguments first and builds the
click command tree with every help text translated (:mod:`._help`); the typer words
around them ("Options", "[default: ...]") follow for the length of the call.

Every command that talks to a database takes ``--database-url`` (or ``DATABASE_URL``) for an
existing server, and otherwise starts, and always stops, an embedded one. Errors the user can
fix print one line on stderr and exit non-zero: 2 for bad input or an unusable database, 130
for Ctrl-C. Everything a command prints is also available as JSON.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Annotated, Any, NoReturn

import typer

from sqla_lab.cli import db, labs, report, service
from sqla_lab.cli._common import UNWIND_SIGNALS, LanguageOption, handle_errors
from sqla_lab.cli._help import (
    HELP,
    VERSION_HELP,
    VERSION_OPTION_HELP,
    check_language,
    given_language,
    help_in,
    language_defaults,
    requested_language,
    typer_words,
)

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
    help=HELP,
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
            help=VERSION_OPTION_HELP,
        ),
    ] = False,
    lang: LanguageOption = None,
) -> None:
    """Measure SQLAlchemy 2.x async ORM behaviour on a real PostgreSQL."""


app.command("list", help=labs.LIST_HELP)(labs.list_labs)
app.command("run", help=labs.RUN_HELP)(labs.run)
app.command("show", help=labs.SHOW_HELP)(labs.show)
app.command("seed", help=db.SEED_HELP)(db.seed_command)
app.add_typer(db.db_app, name="db")
db.db_app.command("up", help=db.UP_HELP)(db.db_up)
db.db_app.command("down", help=db.DOWN_HELP)(db.db_down)
db.db_app.command("status", help=db.STATUS_HELP)(db.db_status)
app.command("report", help=report.REPORT_HELP)(report.report)
app.command("serve", help=service.SERVE_HELP)(service.serve)
app.command("load", help=service.LOAD_HELP)(service.load)


@app.command("version", help=VERSION_HELP)
@handle_errors
def version_command(lang: LanguageOption = None) -> None:
    """Print the sqla-lab version."""
    typer.echo(_version())


def _raise_keyboard_interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI in the requested language, with SIGTERM and SIGHUP unwinding
    like Ctrl-C."""
    args = list(argv) if argv is not None else sys.argv[1:]
    language = requested_language(args)
    check_language(args, language)
    previous: list[tuple[signal.Signals, Callable[..., Any] | int | None]] = []
    for sig in UNWIND_SIGNALS:
        previous.append((sig, signal.getsignal(sig)))
        signal.signal(sig, _raise_keyboard_interrupt)
    command = help_in(app, language)
    given = given_language(args)
    # "sqla-lab --lang ko run": the command's own --lang takes the one given anywhere.
    defaults = language_defaults(command, given) if given is not None else None
    try:
        with typer_words(language):
            command.main(args=args, prog_name="sqla-lab", default_map=defaults)
    finally:
        for sig, handler in previous:
            signal.signal(sig, handler)
