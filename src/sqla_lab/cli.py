"""The ``sqla-lab`` command line (typer + rich).

Every command that talks to a database takes ``--database-url`` (or ``DATABASE_URL``) for an
existing server, and otherwise starts, and always stops, an embedded one. Errors the user can
fix print one line on stderr and exit non-zero: 2 for bad input or an unusable database, 130
for Ctrl-C. Everything a command prints is also available as JSON.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import pydantic
import typer
from rich.console import Console

from sqla_lab import __version__
from sqla_lab.errors import ConfigurationError, SqlaLabError
from sqla_lab.lab import Lab, run_labs, select_labs
from sqla_lab.labs import ALL_LABS
from sqla_lab.postgres import EmbeddedPostgres, PostgresServer, server_from_url
from sqla_lab.report.console import ConsoleProgress, render_labs, render_results
from sqla_lab.results import LabResult, dump_results
from sqla_lab.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="sqla-lab",
    help="Measure SQLAlchemy 2.x async ORM behaviour on a real PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Run the embedded PostgreSQL server.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Use this existing PostgreSQL server (default: $DATABASE_URL, else embedded).",
        show_default=False,
    ),
]
PgVersionOption = Annotated[
    str | None,
    typer.Option("--pg-version", help="Bundled PostgreSQL major version: 18 or 16."),
]
JsonFileOption = Annotated[
    Path | None,
    typer.Option("--json", help="Also write the results as JSON to FILE ('-' for stdout)."),
]


#: Signals that unwind like Ctrl-C, so that context managers stop what we started.
_UNWIND_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

P = ParamSpec("P")
R = TypeVar("R")


def _fail(message: str, code: int) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures into one line on stderr and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SqlaLabError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; everything sqla-lab started has been stopped", 130)

    return wrapper


T = TypeVar("T")


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` where SIGTERM/SIGHUP cancel the work at an ``await``, as Ctrl-C does.

    Raising from a signal handler at an arbitrary bytecode could leave a half-built driver
    object behind (asyncpg then complains at exit); cancellation unwinds cleanly instead.
    """

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        previous = {sig: signal.getsignal(sig) for sig in _UNWIND_SIGNALS}
        for sig in _UNWIND_SIGNALS:
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await coroutine
        finally:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


def _settings(**overrides: Any) -> Settings:
    try:
        base = Settings()
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigurationError(f"invalid setting {where}: {first['msg']}") from None
    updates = {k: v for k, v in overrides.items() if v is not None}
    return base.model_copy(update=updates) if updates else base


def _server(settings: Settings, **embedded_options: Any) -> PostgresServer:
    return server_from_url(
        settings.database_url,
        version=settings.pg_version,
        bin_dir=settings.pg_bin,
        **embedded_options,
    )


def _stderr() -> Console:
    return Console(stderr=True)


def _check_writable(path: Path) -> None:
    """Fail before any work if ``path`` could not be written at the end."""
    target = path.expanduser()
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ConfigurationError(f"cannot write results to {target}: it is a directory")
    if not parent.is_dir():
        raise ConfigurationError(f"cannot write results to {target}: {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ConfigurationError(f"cannot write results to {target}: permission denied")


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half."""
    target = path.expanduser()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp creates the file 0600; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    _write_atomically(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _measure(
    selected: Sequence[Lab],
    settings: Settings,
    console: Console,
    *,
    quick: bool,
    on_result: Callable[[LabResult], None] | None = None,
) -> list[LabResult]:
    """Run ``selected`` on the configured server (started and stopped here) with progress."""
    with _server(settings) as server:
        console.print(f"[dim]PostgreSQL {server.server_version} at {server.display_url}[/]")
        with ConsoleProgress(console) as progress:
            return _run_async(
                run_labs(
                    selected,
                    server=server,
                    settings=settings,
                    progress=progress,
                    quick=quick,
                    on_result=on_result,
                    on_start=progress.lab_started,
                )
            )


def _emit_json(document: object, *, indent: int | None = 2) -> None:
    sys.stdout.write(json.dumps(document, indent=indent, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@app.command("list")
@_handle_errors
def list_labs(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the labs and the claim each one tests."""
    if as_json:
        _emit_json(
            [{"name": i.name, "title": i.title, "description": i.description} for i in ALL_LABS]
        )
        return
    render_labs(Console(), ALL_LABS)


@app.command()
@_handle_errors
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
    settings = _settings(
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
    if json_file is not None and not to_stdout:
        _check_writable(json_file)
    console = _stderr() if to_stdout else Console()
    collected: list[LabResult] = []

    def save(result: LabResult) -> None:
        collected.append(result)
        if json_file is not None and not to_stdout:
            # Saved after every lab, so an interrupted run keeps what it measured.
            _write_json_atomically(json_file, dump_results(collected))

    _measure(selected, settings, console, quick=quick, on_result=save)
    render_results(console, collected)
    if to_stdout:
        _emit_json(dump_results(collected))
    elif json_file is not None:
        console.print(f"[dim]results written to {json_file}[/]")


@app.command("seed")
@_handle_errors
def seed_command(
    users: Annotated[int, typer.Option("--users", min=0, help="Users to add.")] = 1000,
    posts_per_user: Annotated[
        int, typer.Option("--posts-per-user", min=0, help="Posts per new user.")
    ] = 10,
    reset: Annotated[
        bool, typer.Option("--reset", help="Empty the tables first (idempotent).")
    ] = False,
    database_url: DatabaseUrlOption = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Seed an embedded server kept in this directory."),
    ] = None,
    pg_version: PgVersionOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Bulk-load users and posts (INSERT ... SELECT generate_series)."""
    from sqla_lab.database import Database
    from sqla_lab.seeding import seed

    settings = _settings(database_url=database_url, pg_version=pg_version)
    console = _stderr() if as_json else Console()
    with _server(settings, data_dir=data_dir, keep=data_dir is not None) as server:

        async def load() -> tuple[Any, float]:
            async with Database(server.url) as db:
                started = time.perf_counter()
                counts = await seed(
                    db.engine, users=users, posts_per_user=posts_per_user, reset=reset
                )
                return counts, time.perf_counter() - started

        counts, elapsed = _run_async(load())
    if as_json:
        _emit_json({"users": counts.users, "posts": counts.posts, "seconds": elapsed})
        return
    console.print(
        f"{counts.users:,} users and {counts.posts:,} posts in the database ({elapsed:.2f} s)"
    )
    if server.embedded and data_dir is None:
        console.print(
            "[yellow]note: this embedded server was temporary; use --data-dir DIR to keep "
            "the data, or --database-url for your own server[/]"
        )


@db_app.command("up")
@_handle_errors
def db_up(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default: temporary).")
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the data directory after stopping.")
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="TCP port (0: a free one).")
    ] = 0,
    pg_version: PgVersionOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the connection details as JSON.")
    ] = False,
) -> None:
    """Start an embedded PostgreSQL in the foreground; Ctrl-C stops it."""
    settings = _settings(pg_version=pg_version)
    server = EmbeddedPostgres(
        settings.pg_version,
        bin_dir=settings.pg_bin,
        data_dir=data_dir,
        keep=keep,
        port=port,
    )
    console = _stderr() if as_json else Console()
    started = time.perf_counter()
    try:
        with server:
            _announce(
                server, console, as_json=as_json, keep=keep, elapsed=time.perf_counter() - started
            )
            while server.pid is not None:
                time.sleep(0.2)
    except KeyboardInterrupt:
        # Ctrl-C is how this command is meant to end: the server is stopped by now; exit 0.
        console.print("PostgreSQL stopped")
        return
    raise SqlaLabError(f"PostgreSQL exited unexpectedly; see {server.log_file}")


def _announce(
    server: EmbeddedPostgres, console: Console, *, as_json: bool, keep: bool, elapsed: float
) -> None:
    details = {
        "url": server.url.render_as_string(hide_password=False),
        "dsn": server.dsn,
        "host": server.host,
        "port": server.port,
        "data_dir": str(server.root),
        "socket_dir": str(server.socket_dir),
        "pid": server.pid,
        "version": server.server_version,
        "keep": keep,
    }
    if as_json:
        _emit_json(details, indent=None)  # one line, easy to read from a script
        return
    console.print(f"PostgreSQL {server.server_version} ready in {elapsed:.2f} s")
    console.print(f"export DATABASE_URL='{details['url']}'", soft_wrap=True, highlight=False)
    console.print(f"[dim]data in {server.root}; press Ctrl-C to stop[/]")


@app.command()
@_handle_errors
def version() -> None:
    """Print the sqla-lab version."""
    typer.echo(__version__)


def _raise_keyboard_interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI with SIGTERM and SIGHUP unwinding like Ctrl-C."""
    previous: list[tuple[signal.Signals, Callable[..., Any] | int | None]] = []
    for sig in _UNWIND_SIGNALS:
        previous.append((sig, signal.getsignal(sig)))
        signal.signal(sig, _raise_keyboard_interrupt)
    try:
        app(args=list(argv) if argv is not None else None, prog_name="sqla-lab")
    finally:
        for sig, handler in previous:
            signal.signal(sig, handler)


# Commands kept in their own modules register themselves on ``app`` when imported; they
# use the helpers above, so they are imported last.
from sqla_lab.report import cli as _report_cli  # noqa: E402, F401 - registers `report`
from sqla_lab.service import cli as _service_cli  # noqa: E402, F401 - registers `serve`, `load`

if __name__ == "__main__":  # pragma: no cover
    main()
