"""``sqla-lab list``, ``run`` and ``show``: the labs, their findings on a real server, and the
detail of a saved run.

``run`` ends with the claims ledger (one line per claim and a tally); the detail of every lab
is behind ``--verbose``, or ``sqla-lab show LAB`` afterwards: every run is also kept as the
*last run* in sqla-lab's cache directory (``$XDG_CACHE_HOME/sqla-lab/last-run.json``), which
``show`` reads unless given ``--from FILE``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sqla_lab.cli._common import (
    DatabaseUrlOption,
    JsonFileOption,
    LanguageOption,
    PgVersionOption,
    check_output,
    emit_json,
    handle_errors,
    load_settings,
    run_async,
    say,
    server_for,
    stderr,
    translator,
    write_json,
    writes_through,
)
from sqla_lab.errors import ConfigurationError
from sqla_lab.lab import Lab, LabResult, load_results, run_labs, select_labs
from sqla_lab.lab.wording import rendered_results
from sqla_lab.labs import ALL_LABS
from sqla_lab.report.console import ConsoleProgress, render_details, render_labs, render_results
from sqla_lab.settings import Settings
from sqla_lab.translation import N_, Translation
from sqla_lab.workspace import Workspace

__all__ = [
    "LIST_HELP",
    "RUN_HELP",
    "SHOW_HELP",
    "keep_labs",
    "last_run_path",
    "list_labs",
    "measure",
    "read_results",
    "run",
    "show",
]

LIST_HELP = N_("List the labs and the claim each one tests.")
RUN_HELP = N_(
    "Run labs and print the claims ledger: each claim, its verdict and the number that "
    "decides it (--verbose: every lab's detail too)."
)
SHOW_HELP = N_(
    "Print the detail of labs from the last run, or from results saved with 'run --json FILE'."
)


def last_run_path() -> Path:
    """Where every run keeps its results for ``show``: sqla-lab's own cache directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sqla-lab" / "last-run.json"


def _keep_last_run(results: Sequence[LabResult]) -> None:
    """Save the run for ``show``; a cache that cannot be written costs nothing but that.

    Unlike an output the user names (followed through a symlink, written through a FIFO), the
    cache is a path sqla-lab chose: anything there but a regular file (a symlink, a FIFO, a
    directory) is not one it wrote, and is left alone with the run unsaved.
    """
    from sqla_lab.lab import dump_results

    path = last_run_path()
    try:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, dump_results(results))
    except (OSError, ConfigurationError):
        pass


def keep_labs(results: Sequence[LabResult], names: Sequence[str], where: str) -> list[LabResult]:
    """The results of labs ``names`` (all when empty), in the order named.

    Raises:
        ConfigurationError: a name has no results in ``where``.
    """
    if not names:
        return list(results)
    by_lab = {r.lab: r for r in results}
    unknown = [n for n in names if n not in by_lab]
    if unknown:
        raise ConfigurationError(
            N_("no results for lab {names} in {path}; it has: {known}"),
            names=", ".join(map(repr, unknown)),
            path=where,
            known=", ".join(by_lab) or "-",
        )
    return [by_lab[n] for n in dict.fromkeys(names)]


def read_results(path: Path) -> list[LabResult]:
    """Load a results file written by ``sqla-lab run --json``.

    Raises:
        ConfigurationError: the file is missing, unreadable, not JSON, or not a results
            document; the message is one line naming the file.
    """
    try:
        document: Any = json.loads(path.expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            N_("cannot read results from {path}: {why}"), path=path, why=exc.strerror
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(
            N_("cannot read results from {path}: not UTF-8 text"), path=path
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            N_("{path} is not valid JSON: {problem} at line {line}, column {column}"),
            path=path,
            problem=exc.msg,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except RecursionError:
        raise ConfigurationError(
            N_("{path} is not a sqla-lab results document (nested too deeply)"), path=path
        ) from None
    if not isinstance(document, dict):
        raise ConfigurationError(N_("{path} is not a sqla-lab results document"), path=path)
    try:
        return load_results(document)
    except KeyError as exc:
        raise ConfigurationError(
            N_("{path} is not a valid results document: no {key}"), path=path, key=exc
        ) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigurationError(
            N_("{path} is not a valid results document: {problem}"), path=path, problem=exc
        ) from None
    except RecursionError:
        raise ConfigurationError(
            N_("{path} is not a valid results document (nested too deeply)"), path=path
        ) from None


def measure(
    selected: Sequence[Lab],
    settings: Settings,
    console: Console,
    *,
    quick: bool,
    translate: Translation | None = None,
    on_result: Callable[[LabResult], None] | None = None,
) -> list[LabResult]:
    """Run ``selected`` on the configured server (started and stopped here) with progress."""
    words = translate or translator()
    with server_for(settings) as server, Workspace(server, purpose="run") as workspace:
        console.print(
            "[dim]"
            + say(
                words,
                N_("PostgreSQL {version} at {url}; working in {kind} {name} (dropped at the end)"),
                version=server.server_version,
                url=server.display_url,
                kind=words(workspace.kind),
                name=workspace.name,
            )
            + "[/]",
            soft_wrap=True,
            highlight=False,
        )
        with ConsoleProgress(console, translate=words) as progress:
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


#: Workspace kinds, as the run's first line names them.
_WORKSPACE_KINDS = (N_("database"), N_("schema"))


@handle_errors
def list_labs(
    as_json: Annotated[bool, typer.Option("--json", help=N_("Print the list as JSON."))] = False,
    lang: LanguageOption = None,
) -> None:
    """List the labs and the claim each one tests."""
    translate = translator(lang)
    if as_json:
        emit_json(
            [
                {
                    "name": i.name,
                    "title": i.title,
                    "description": i.description,
                    "rendered": {"title": translate(i.title)},
                }
                for i in ALL_LABS
            ]
        )
        return
    render_labs(Console(), ALL_LABS, translate=translate)


@handle_errors
def run(
    labs: Annotated[
        list[str] | None,
        typer.Argument(help=N_("Labs to run (default: all)."), show_default=False),
    ] = None,
    json_file: JsonFileOption = None,
    database_url: DatabaseUrlOption = None,
    pg_version: PgVersionOption = None,
    quick: Annotated[
        bool, typer.Option("--quick", help=N_("Fewer repetitions: faster, noisier."))
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help=N_("Print every lab's detail before the claims ledger.")
        ),
    ] = False,
    pgbouncer_url: Annotated[
        str | None,
        typer.Option(
            "--pgbouncer-url",
            help=N_("scale lab: your PgBouncer, instead of the one it starts."),
            show_default=False,
        ),
    ] = None,
    replica_url: Annotated[
        str | None,
        typer.Option(
            "--replica-url",
            help=N_("scale lab: your streaming replica of --database-url's server."),
            show_default=False,
        ),
    ] = None,
    lang: LanguageOption = None,
) -> None:
    """Run labs and print the claims ledger (and, with --verbose, every lab's detail)."""
    translate = translator(lang)
    settings = load_settings(
        database_url=database_url,
        pg_version=pg_version,
        pgbouncer_url=pgbouncer_url,
        replica_url=replica_url,
    )
    if settings.replica_url and not settings.database_url:
        raise ConfigurationError(
            N_("--replica-url needs --database-url (or DATABASE_URL) naming its primary")
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

    def document() -> dict[str, Any]:
        return rendered_results(collected, translate, language=translate.language.value)

    def save(result: LabResult) -> None:
        collected.append(result)
        if incremental:
            assert json_file is not None
            write_json(json_file, document())

    try:
        measure(selected, settings, console, quick=quick, translate=translate, on_result=save)
    finally:
        if collected:
            _keep_last_run(collected)
    render_results(console, collected, translate=translate, verbose=verbose)
    hint = N_("detail: sqla-lab show LAB (or run --verbose); a page: sqla-lab report")
    console.print(say(translate, hint), style="dim", highlight=False)
    if to_stdout:
        emit_json(document())
    elif json_file is not None:
        if not incremental:
            write_json(json_file, document())
        console.print(
            say(translate, N_("results written to {path}"), path=json_file),
            style="dim",
            highlight=False,
        )


@handle_errors
def show(
    labs: Annotated[
        list[str] | None,
        typer.Argument(help=N_("Labs to show (default: all in the results)."), show_default=False),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="FILE",
            help=N_("Results saved by 'sqla-lab run --json FILE' (default: the last run)."),
            show_default=False,
        ),
    ] = None,
    json_file: JsonFileOption = None,
    lang: LanguageOption = None,
) -> None:
    """Print the detail of labs from the last run or a results file."""
    translate = translator(lang)
    source = from_file if from_file is not None else last_run_path()
    if from_file is None and not source.exists():
        raise ConfigurationError(
            N_("no run to show yet: run 'sqla-lab run' first, or pass --from FILE")
        )
    if json_file is not None:
        check_output(json_file)
    chosen = keep_labs(read_results(source), labs or [], str(source))
    to_stdout = json_file is not None and str(json_file) == "-"
    console = stderr() if to_stdout else Console()
    render_details(console, chosen, translate=translate)
    if json_file is not None:
        document = rendered_results(chosen, translate, language=translate.language.value)
        if to_stdout:
            emit_json(document)
        else:
            write_json(json_file, document)
