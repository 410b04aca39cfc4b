"""``sqla-lab db up/down/status`` (an embedded PostgreSQL, a drop-in for a docker-compose one)
and ``sqla-lab seed`` (demo data in a database of sqla-lab's own)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.engine import URL

from sqla_lab.cli._common import (
    DatabaseUrlOption,
    KeepDatabaseOption,
    LanguageOption,
    PgVersionOption,
    StoppedByCtrlC,
    emit_json,
    handle_errors,
    load_settings,
    run_async,
    say,
    server_for,
    stderr,
    translator,
)
from sqla_lab.errors import ConfigurationError, SqlaLabError
from sqla_lab.postgres import (
    EmbeddedPostgres,
    is_sqla_lab_data_dir,
    read_state,
    running_postmaster,
    stop_data_dir,
)
from sqla_lab.translation import N_
from sqla_lab.urls import asyncpg_dsn
from sqla_lab.workspace import Workspace

__all__ = [
    "DOWN_HELP",
    "SEED_HELP",
    "STATUS_HELP",
    "UP_HELP",
    "DataDirOption",
    "db_app",
    "db_down",
    "db_status",
    "db_up",
    "running_postmaster_of",
    "seed_command",
]

SEED_HELP = N_(
    "Bulk-load users and posts (INSERT ... SELECT generate_series) in sqla-lab's database."
)
UP_HELP = N_("Start an embedded PostgreSQL: in the foreground until Ctrl-C, or --detach.")
DOWN_HELP = N_("Stop a server started with 'db up --detach' (and delete it unless it was kept).")
STATUS_HELP = N_(
    "Say whether the server of a data directory runs, and how to reach it (exit 3 if not)."
)

db_app = typer.Typer(
    help=N_(
        "Run an embedded PostgreSQL: in the foreground, or detached like a docker-compose one."
    ),
    no_args_is_help=True,
)


@handle_errors
def seed_command(
    users: Annotated[int, typer.Option("--users", min=0, help=N_("Users to add."))] = 1000,
    posts_per_user: Annotated[
        int, typer.Option("--posts-per-user", min=0, help=N_("Posts per new user."))
    ] = 10,
    reset: Annotated[
        bool,
        typer.Option("--reset", help=N_("Empty sqla-lab's tables first (idempotent).")),
    ] = False,
    keep_database: KeepDatabaseOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help=N_("Seed an embedded server kept in this directory.")),
    ] = None,
    pg_version: PgVersionOption = None,
    as_json: Annotated[bool, typer.Option("--json", help=N_("Print the counts as JSON."))] = False,
    lang: LanguageOption = None,
) -> None:
    """Bulk-load users and posts (INSERT ... SELECT generate_series) in sqla-lab's database."""
    from sqla_lab.database import Database
    from sqla_lab.demo.seeding import seed

    translate = translator(lang)
    settings = load_settings(database_url=database_url, pg_version=pg_version)
    console = stderr() if as_json else Console()
    with (
        server_for(settings, data_dir=data_dir, keep=data_dir is not None) as server,
        Workspace(server, purpose="seed", keep=keep_database) as workspace,
    ):

        async def load() -> tuple[Any, float]:
            async with Database(workspace.url) as db:
                started = time.perf_counter()
                counts = await seed(
                    db.engine, users=users, posts_per_user=posts_per_user, reset=reset
                )
                return counts, time.perf_counter() - started

        counts, elapsed = run_async(load())
    if as_json:
        emit_json(
            {
                "users": counts.users,
                "posts": counts.posts,
                "seconds": elapsed,
                "database": workspace.name if workspace.kept else None,
            }
        )
        return
    console.print(
        say(
            translate,
            N_("{users} users and {posts} posts in the database ({seconds} s)"),
            users=f"{counts.users:,}",
            posts=f"{counts.posts:,}",
            seconds=f"{elapsed:.2f}",
        ),
        highlight=False,
    )
    if workspace.kept:
        console.print(
            say(translate, N_("kept in database {name!r}"), name=workspace.name), style="dim"
        )
    else:
        console.print(
            say(
                translate,
                N_(
                    "note: the data went into a temporary database, dropped again; "
                    "use --keep-database NAME to keep it"
                ),
            ),
            style="yellow",
        )


def _default_data_dir() -> Path:
    """Where ``db up --detach`` keeps its server unless told otherwise: one per account."""
    return Path(tempfile.gettempdir()) / f"sqla-lab-db-{os.getuid()}"


DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help=N_(
            "Data directory (default: temporary; with --detach, one per account under the "
            "temporary directory)."
        ),
        show_default=False,
    ),
]


@handle_errors
def db_up(
    data_dir: DataDirOption = None,
    keep: Annotated[
        bool, typer.Option("--keep", help=N_("Keep the data directory after stopping."))
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help=N_("TCP port (0: a free one)."))
    ] = 0,
    user: Annotated[str, typer.Option("--user", help=N_("The superuser to create."))] = "postgres",
    password: Annotated[
        str | None,
        typer.Option(
            "--password", help=N_("Its password (default: a random one)."), show_default=False
        ),
    ] = None,
    database: Annotated[
        str, typer.Option("--database", help=N_("A database to create (the URL names it)."))
    ] = "postgres",
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help=N_("Return once the server is ready and leave it running (db down)."),
        ),
    ] = False,
    pg_version: PgVersionOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help=N_("Print the connection details as JSON."))
    ] = False,
    as_env: Annotated[
        bool,
        typer.Option("--env", help=N_("Print DATABASE_URL and PG* variables, one per line.")),
    ] = False,
    lang: LanguageOption = None,
) -> None:
    """Start an embedded PostgreSQL: in the foreground until Ctrl-C, or --detach."""
    translate = translator(lang)
    if as_json and as_env:
        raise ConfigurationError(N_("choose one of --json and --env"))
    if not user.strip() or not database.strip():
        raise ConfigurationError(N_("--user and --database must not be empty"))
    settings = load_settings(pg_version=pg_version)
    if detach and data_dir is None:
        data_dir = _default_data_dir()
    server = EmbeddedPostgres(
        settings.pg_version,
        bin_dir=settings.pg_bin,
        data_dir=data_dir,
        keep=keep,
        port=port,
        user=user,
        password=password,
        database=database,
        detached=detach,
    )
    console = stderr() if as_json or as_env else Console()
    started = time.perf_counter()
    if detach:
        try:
            server.start()
        except BaseException:
            server.close()
            raise
        details = _details(server)
        server.detach()
        _announce(server.url, details, console, as_json=as_json, as_env=as_env, translate=translate)
        if not (as_json or as_env):
            console.print(
                say(
                    translate,
                    N_(
                        "running in the background; stop it with: "
                        "sqla-lab db down --data-dir {root}"
                    ),
                    root=server.root,
                ),
                style="dim",
                soft_wrap=True,
                highlight=False,
            )
        return
    try:
        with server:
            details = _details(server)
            _announce(
                server.url, details, console, as_json=as_json, as_env=as_env, translate=translate
            )
            if not (as_json or as_env):
                console.print(
                    say(
                        translate,
                        N_("ready in {seconds} s; data in {root}; press Ctrl-C to stop"),
                        seconds=f"{time.perf_counter() - started:.2f}",
                        root=server.root,
                    ),
                    style="dim",
                    soft_wrap=True,
                    highlight=False,
                )
            while server.pid is not None:
                time.sleep(0.2)
    except KeyboardInterrupt:
        # Ctrl-C is how this command ends; the server is stopped (and removed) by now.
        raise StoppedByCtrlC(N_("PostgreSQL stopped")) from None
    raise SqlaLabError(N_("PostgreSQL exited unexpectedly; see {log}"), log=server.log_file)


@handle_errors
def db_down(
    data_dir: DataDirOption = None,
    keep: Annotated[
        bool, typer.Option("--keep", help=N_("Keep the data directory even if up did not."))
    ] = False,
    lang: LanguageOption = None,
) -> None:
    """Stop a server started with 'db up --detach' (and delete it unless it was kept)."""
    translate = translator(lang)
    root = (data_dir or _default_data_dir()).expanduser().resolve()
    if not root.exists():
        raise ConfigurationError(
            N_("no sqla-lab server in {root}: the directory does not exist"), root=root
        )
    was_running = stop_data_dir(root, delete=False if keep else None)
    stopped = N_("PostgreSQL in {root} stopped")
    Console(stderr=True).print(
        say(
            translate, stopped if was_running else N_("no server was running in {root}"), root=root
        ),
        highlight=False,
        soft_wrap=True,
    )


@handle_errors
def db_status(
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help=N_("Print the status as JSON."))] = False,
    as_env: Annotated[
        bool,
        typer.Option("--env", help=N_("Print DATABASE_URL and PG* variables, one per line.")),
    ] = False,
    lang: LanguageOption = None,
) -> None:
    """Say whether the server of a data directory runs, and how to reach it (exit 3 if not)."""
    translate = translator(lang)
    root = (data_dir or _default_data_dir()).expanduser().resolve()
    if not root.exists() or not is_sqla_lab_data_dir(root):
        details: dict[str, Any] = {"running": False, "data_dir": str(root)}
        if as_json:
            emit_json(details, indent=None)
        else:
            Console(stderr=True).print(
                say(translate, N_("no sqla-lab server in {root}"), root=root), highlight=False
            )
        raise typer.Exit(3)
    state = read_state(root) or {}
    pid = running_postmaster(root / "pgdata")
    password = (root / "password").read_text().strip() if pid is not None else None
    if pid is None or password is None:
        if as_json:
            emit_json({"running": False, "data_dir": str(root)}, indent=None)
        else:
            Console(stderr=True).print(
                say(translate, N_("the server in {root} is not running"), root=root),
                highlight=False,
            )
        raise typer.Exit(3)
    url = URL.create(
        "postgresql+asyncpg",
        username=state.get("user", "postgres"),
        password=password,
        host=state.get("host", "127.0.0.1"),
        port=state.get("port"),
        database=state.get("database", "postgres"),
    )
    details = {
        "running": True,
        "url": url.render_as_string(hide_password=False),
        "dsn": asyncpg_dsn(url),
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "database": url.database,
        "data_dir": str(root),
        "pid": pid,
        "version": state.get("version"),
        "keep": state.get("keep", False),
    }
    _announce(url, details, Console(), as_json=as_json, as_env=as_env, translate=translate)


def _details(server: EmbeddedPostgres) -> dict[str, Any]:
    return {
        "running": True,
        "url": server.url.render_as_string(hide_password=False),
        "dsn": server.dsn,
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "database": server.database,
        "data_dir": str(server.root),
        "socket_dir": str(server.socket_dir) if server.socket_dir else None,
        "pid": server.pid if server.pid is not None else running_postmaster_of(server),
        "version": server.server_version,
        "keep": server.keep,
    }


def running_postmaster_of(server: EmbeddedPostgres) -> int | None:
    """The postmaster's pid of a server, also once it was detached."""
    return running_postmaster(server.data_dir) if server.data_dir is not None else None


def _announce(
    url: URL,
    details: dict[str, Any],
    console: Console,
    *,
    as_json: bool,
    as_env: bool,
    translate: Callable[[str], str] = str,
) -> None:
    if as_json:
        emit_json(details, indent=None)  # one line, easy to read from a script
        return
    plain = url.set(drivername="postgresql")
    if as_env:
        lines = {
            "DATABASE_URL": plain.render_as_string(hide_password=False),
            "PGHOST": url.host,
            "PGPORT": url.port,
            "PGUSER": url.username,
            "PGPASSWORD": url.password,
            "PGDATABASE": url.database,
        }
        sys.stdout.write("".join(f"{name}={value}\n" for name, value in lines.items()))
        sys.stdout.flush()
        return
    console.print(
        say(
            translate,
            N_("PostgreSQL {version} at {host}:{port}"),
            version=details.get("version"),
            host=url.host,
            port=url.port,
        ),
        highlight=False,
    )
    console.print(
        f"export DATABASE_URL='{plain.render_as_string(hide_password=False)}'",
        soft_wrap=True,
        highlight=False,
    )
