"""``sqla-lab serve`` and ``sqla-lab load``: run the demo service, and put it under load.

``serve`` runs uvicorn in the foreground; ``load`` runs locust in a child process against a
URL, or against services it starts itself (one per pool size with ``--pool-sweep``). FastAPI,
uvicorn and friends (the ``[service]`` extra) and locust (``[load]``) are imported inside the
commands, so ``sqla-lab list`` never pays for them.
"""

from __future__ import annotations

import asyncio
import enum
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sqla_lab._process import free_port, port_is_free
from sqla_lab.cli._common import (
    DatabaseUrlOption,
    JsonFileOption,
    KeepDatabaseOption,
    LanguageOption,
    PgVersionOption,
    StoppedByCtrlC,
    check_output,
    emit_json,
    handle_errors,
    load_settings,
    require_extra,
    say,
    server_for,
    translator,
    write_json,
)
from sqla_lab.database import Database
from sqla_lab.demo.seeding import SeedCounts, seed, seeded_counts
from sqla_lab.errors import ConfigurationError
from sqla_lab.lab.results import Environment, LabResult
from sqla_lab.lab.wording import rendered_results
from sqla_lab.postgres import PostgresServer
from sqla_lab.report.console import evidence_table
from sqla_lab.service.load import (
    SCENARIOS,
    LoadRun,
    LoadSpec,
    check_loopback,
    run_locust,
    sweep_result,
)
from sqla_lab.settings import Settings
from sqla_lab.translation import N_, Translate
from sqla_lab.workspace import Workspace

__all__ = [
    "LOAD_HELP",
    "LOOPBACK",
    "SERVE_HELP",
    "SERVICE_MODULES",
    "Scenario",
    "load",
    "serve",
]

LOOPBACK = "127.0.0.1"
SERVE_HELP = N_("Run the demo FastAPI service (seeded users and posts) until Ctrl-C.")
LOAD_HELP = N_("Put the demo service under locust load; with --pool-sweep, tabulate pool sizes.")


class Scenario(enum.StrEnum):
    """What each locust user requests (see :mod:`sqla_lab.service.locustfile`)."""

    MIXED = "mixed"
    USER = "user"
    USERS_SELECTIN = "users-selectin"
    USERS_LAZY = "users-lazy"
    USERS_JOINED = "users-joined"


assert {s.value for s in Scenario} == set(SCENARIOS), "keep Scenario in step with the locustfile"
SERVICE_MODULES = ("fastapi", "uvicorn", "prometheus_client", "httpx")


def _seed(
    server: PostgresServer, users: int, posts_per_user: int, *, only_if_empty: bool = False
) -> SeedCounts:
    async def go() -> SeedCounts:
        async with Database(server.url) as db:
            if only_if_empty:
                existing = await seeded_counts(db.engine)
                if existing is not None and existing.users:
                    return existing
            return await seed(db.engine, users=users, posts_per_user=posts_per_user)

    return asyncio.run(go())


def _url_with_password(server: PostgresServer) -> str:
    return server.url.render_as_string(hide_password=False)


@handle_errors
def serve(
    users: Annotated[int, typer.Option("--users", min=0, help=N_("Users to seed."))] = 1000,
    posts_per_user: Annotated[
        int, typer.Option("--posts-per-user", min=0, help=N_("Posts per seeded user."))
    ] = 10,
    do_seed: Annotated[
        bool, typer.Option("--seed/--no-seed", help=N_("Seed users and posts before serving."))
    ] = True,
    host: Annotated[str, typer.Option("--host", help=N_("Interface to listen on."))] = LOOPBACK,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help=N_("0: a free one."))
    ] = 8000,
    pool_size: Annotated[int | None, typer.Option("--pool-size", min=1)] = None,
    max_overflow: Annotated[int | None, typer.Option("--max-overflow", min=-1)] = None,
    pool_timeout: Annotated[float | None, typer.Option("--pool-timeout", min=0.01)] = None,
    statement_timeout_ms: Annotated[
        int | None, typer.Option("--statement-timeout-ms", min=0)
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help=N_("Log every request."))
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help=N_("Print where it serves as one JSON line on stdout."))
    ] = False,
    keep_database: KeepDatabaseOption = None,
    database_url: DatabaseUrlOption = None,
    pg_version: PgVersionOption = None,
    lang: LanguageOption = None,
) -> None:
    """Run the demo FastAPI service (seeded users and posts) until Ctrl-C."""
    translate = translator(lang)
    require_extra("service", *SERVICE_MODULES)
    from sqla_lab.service.server import serve_forever

    if port == 0:
        port = free_port(host)
    elif not port_is_free(host, port):
        raise ConfigurationError(
            N_("port {port} on {host} is already in use; try --port 0"), port=port, host=host
        )
    settings = load_settings(
        database_url=database_url,
        pg_version=pg_version,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        statement_timeout_ms=statement_timeout_ms,
    )
    console = Console(stderr=True)
    try:
        with (
            server_for(settings) as server,
            Workspace(server, purpose="serve", keep=keep_database) as workspace,
        ):
            _serve_in(
                server,
                workspace,
                settings,
                serve_forever,
                console,
                users=users,
                posts_per_user=posts_per_user,
                do_seed=do_seed,
                host=host,
                port=port,
                access_log=access_log,
                as_json=as_json,
                translate=translate,
            )
    except KeyboardInterrupt:
        # Ctrl-C is how the service is stopped: uvicorn shut down gracefully, then the
        # workspace and the server went; not an error.
        raise StoppedByCtrlC(N_("service stopped")) from None


def _serve_in(
    server: PostgresServer,
    workspace: Workspace,
    settings: Settings,
    serve_forever: Callable[..., None],
    console: Console,
    *,
    users: int,
    posts_per_user: int,
    do_seed: bool,
    host: str,
    port: int,
    access_log: bool,
    as_json: bool,
    translate: Translate,
) -> None:
    """Seed the workspace (a kept one only once), then serve until Ctrl-C."""
    console.print(
        say(
            translate,
            N_("PostgreSQL {version} at {url}"),
            version=server.server_version,
            url=workspace.display_url,
        ),
        style="dim",
        highlight=False,
    )
    counts = (
        _seed(workspace, users, posts_per_user, only_if_empty=workspace.kept) if do_seed else None
    )
    if counts is not None:
        console.print(
            say(
                translate,
                N_("{users} users and {posts} posts"),
                users=f"{counts.users:,}",
                posts=f"{counts.posts:,}",
            ),
            style="dim",
            highlight=False,
        )
    details = {
        "url": f"http://{host}:{port}",
        "database": workspace.display_url,
        "postgresql": server.server_version,
        "users": counts.users if counts else None,
        "posts": counts.posts if counts else None,
    }

    def announce() -> None:
        # Only once uvicorn listens: a script reading this line may connect at once.
        if as_json:
            sys.stdout.write(json.dumps(details) + "\n")
            sys.stdout.flush()
        console.print(
            say(
                translate,
                N_(
                    "serving on {url} (docs /docs, metrics /metrics); "
                    "Ctrl-C stops the service and the database"
                ),
                url=f"http://{host}:{port}",
            ),
            highlight=False,
        )

    serve_settings = settings.model_copy(update={"database_url": _url_with_password(workspace)})
    serve_forever(serve_settings, host=host, port=port, access_log=access_log, on_ready=announce)


def _check_out_dir(out_dir: Path) -> None:
    """Fail before any work if locust's reports could not be written to ``out_dir``."""
    target = out_dir.expanduser()
    if target.exists() and not target.is_dir():
        raise ConfigurationError(N_("--out {path}: exists and is not a directory"), path=out_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".sqla-lab-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigurationError(
            N_("--out {path}: cannot write reports there ({why})"),
            path=out_dir,
            why=exc.strerror or exc,
        ) from None


def _parse_pool_sweep(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigurationError(
            N_("--pool-sweep takes pool sizes like 1,2,5,10; not {text!r}"), text=text
        ) from None
    if not sizes or min(sizes) < 1:
        raise ConfigurationError(N_("--pool-sweep needs pool sizes >= 1"))
    return sizes


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[live]}"),
        console=console,
        transient=True,
    )


def _run_with_progress(
    progress: Progress, description: str, url: str, spec: LoadSpec, out_dir: Path, label: str
) -> LoadRun:
    task = progress.add_task(description, total=spec.duration_s, live="starting locust")

    def show(elapsed: float, requests_per_s: float, failures: int) -> None:
        live = f"{requests_per_s:,.0f} req/s, {failures} failures"
        progress.update(task, completed=min(elapsed, spec.duration_s), live=live)

    try:
        return run_locust(url, spec, out_dir, label=label, on_progress=show)
    finally:
        progress.remove_task(task)


@handle_errors
def load(
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help=N_("Load this running service (default: start one)."), show_default=False
        ),
    ] = None,
    users: Annotated[int, typer.Option("--users", min=1, help=N_("Concurrent locust users."))] = 20,
    spawn_rate: Annotated[
        float, typer.Option("--spawn-rate", min=0.1, help=N_("Locust users started per second."))
    ] = 20.0,
    duration: Annotated[int, typer.Option("--duration", min=1, help=N_("Seconds per run."))] = 15,
    scenario: Annotated[
        Scenario, typer.Option("--scenario", help=N_("What each locust user requests."))
    ] = Scenario.MIXED,
    out_dir: Annotated[
        Path, typer.Option("--out", help=N_("Directory for locust's CSV and HTML reports."))
    ] = Path("load-results"),
    pool_sweep: Annotated[
        str | None,
        typer.Option(
            "--pool-sweep",
            help=N_("Restart the service per pool size (max_overflow 0), e.g. 1,2,5,10,20."),
            show_default=False,
        ),
    ] = None,
    pool_size: Annotated[
        int | None, typer.Option("--pool-size", min=1, help=N_("Pool of the started service."))
    ] = None,
    seed_users: Annotated[
        int, typer.Option("--seed-users", min=1, help=N_("Users seeded (and the id range hit)."))
    ] = 1000,
    seed_posts_per_user: Annotated[int, typer.Option("--seed-posts-per-user", min=0)] = 10,
    json_file: JsonFileOption = None,
    database_url: DatabaseUrlOption = None,
    pg_version: PgVersionOption = None,
    lang: LanguageOption = None,
) -> None:
    """Put the demo service under locust load; with --pool-sweep, tabulate pool sizes."""
    translate = translator(lang)
    require_extra("load", "locust")
    if url is None:
        require_extra("service", *SERVICE_MODULES)
    _check_out_dir(out_dir)
    spec = LoadSpec(
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration,
        scenario=scenario.value,
        max_user_id=seed_users,
    )
    sizes = _parse_pool_sweep(pool_sweep) if pool_sweep is not None else None
    if url is not None and (sizes is not None or pool_size is not None):
        raise ConfigurationError(
            N_("--pool-sweep and --pool-size need a service sqla-lab starts (no --url)")
        )
    to_stdout = json_file is not None and str(json_file) == "-"
    if json_file is not None:
        check_output(json_file)
    console = Console(stderr=True) if to_stdout else Console()
    settings = load_settings(database_url=database_url, pg_version=pg_version, pool_size=pool_size)
    started = time.perf_counter()
    runs: list[tuple[int | None, LoadRun]] = []
    if url is not None:
        target = check_loopback(url)
        environment = Environment.current(postgresql="unknown (external service)", embedded=False)
        with _progress(console) as progress:
            runs.append((None, _run_with_progress(progress, "load", target, spec, out_dir, "load")))
    else:
        from sqla_lab.service.server import ServiceProcess

        with server_for(settings) as server, Workspace(server, purpose="load") as workspace:
            environment = Environment.current(
                postgresql=server.server_version or "unknown", embedded=server.embedded
            )
            counts = _seed(workspace, seed_users, seed_posts_per_user)
            console.print(
                say(
                    translate,
                    N_("PostgreSQL {version}; {users} users, {posts} posts"),
                    version=server.server_version,
                    users=f"{counts.users:,}",
                    posts=f"{counts.posts:,}",
                ),
                style="dim",
                highlight=False,
            )
            plan: list[tuple[int | None, int, int]] = (
                [(size, size, 0) for size in sizes]
                if sizes is not None
                else [(None, settings.pool_size, settings.max_overflow)]
            )
            out_dir.mkdir(parents=True, exist_ok=True)
            with _progress(console) as progress:
                for label_size, size, overflow in plan:
                    label = "load" if label_size is None else f"pool-{size}"
                    with ServiceProcess(
                        _url_with_password(workspace),
                        pool_size=size,
                        max_overflow=overflow,
                        pool_timeout=settings.pool_timeout,
                        log_file=out_dir / f"{label}-service.log",
                    ) as service:
                        run = _run_with_progress(
                            progress, f"{label} ({service.url})", service.url, spec, out_dir, label
                        )
                    runs.append((label_size, run))
    result = sweep_result(runs, environment=environment, duration_s=time.perf_counter() - started)
    _print_summary(console, result, runs, out_dir, translate)
    document = rendered_results([result], translate, language=translate.language.value)
    if to_stdout:
        emit_json(document)
    elif json_file is not None:
        write_json(json_file, document)
        console.print(
            say(translate, N_("results written to {path}"), path=json_file),
            style="dim",
            highlight=False,
        )


def _print_summary(
    console: Console,
    result: LabResult,
    runs: list[tuple[int | None, LoadRun]],
    out_dir: Path,
    translate: Translate,
) -> None:
    sweep = any(size is not None for size, _ in runs)
    # A sweep prints its summary; the per-endpoint tables of each size stay in the JSON.
    for table in result.tables[:1] if sweep else result.tables:
        console.print(evidence_table(table, translate, width=console.width))
    failures = sum(run.total.failures for _, run in runs)
    if failures:
        console.print(
            say(
                translate, N_("{failures} requests failed; see locust's reports"), failures=failures
            ),
            style="yellow",
            highlight=False,
        )
    reports = ", ".join(run.html_report.name for _, run in runs)
    console.print(
        say(
            translate,
            N_("CSV and HTML reports in {path}/ ({reports})"),
            path=out_dir,
            reports=reports,
        ),
        style="dim",
        highlight=False,
    )
