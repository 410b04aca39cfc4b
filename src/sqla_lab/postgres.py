"""Real PostgreSQL servers: one we start ourselves, or one the user points us at.

Modelled on asyncpg's ``cluster.py``: a :class:`Status` enum, ``init/start/stop/destroy``,
a free port, a connect-retry readiness probe, and an "existing server" variant with the same
interface, chosen by ``DATABASE_URL``::

    with EmbeddedPostgres() as pg:          # initdb + start, stop + delete on exit
        engine = create_async_engine(pg.url)

    async with server_from_url(os.environ.get("DATABASE_URL")) as pg:
        ...

The embedded server listens on 127.0.0.1 on a free port and on a private unix socket, with
``scram-sha-256`` authentication and a random password. Run as root, it runs as ``nobody``
(or ``SQLA_LAB_PG_USER``); the data directory is owned accordingly.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import enum
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import psycopg.sql
from sqlalchemy.engine import URL

from sqla_lab._lifecycle import AsyncManaged, Managed
from sqla_lab._process import (
    STAGING_MARKER,
    RunAs,
    find_bin_dir,
    free_port,
    port_is_free,
    reachable_bin_dir,
    run_as_for_current_user,
    set_parent_death_signal,
)
from sqla_lab.errors import (
    ConfigurationError,
    DatabaseUnavailable,
    PostgresError,
    PostgresStartError,
)
from sqla_lab.translation import N_
from sqla_lab.urls import asyncpg_dsn, libpq_conninfo, parse_database_url

__all__ = [
    "EmbeddedPostgres",
    "ExistingPostgres",
    "PostgresServer",
    "Status",
    "describe_url",
    "first_line",
    "is_sqla_lab_data_dir",
    "probe_async",
    "probe_sync",
    "read_state",
    "running_postmaster",
    "server_from_url",
    "stop_data_dir",
    "sweep_stale_directories",
]

_PASSWORD_FILE = "password"
_DATA_SUBDIR = "pgdata"
_LOG_FILE = "postgres.log"
_MARKER_FILE = "sqla-lab-data-dir"
_KEEP_FILE = "keep"
_STATE_FILE = "server.json"
#: The marker file says so when sqla-lab made the directory itself (and may remove it).
_MADE_DIRECTORY = "made-directory"
_OWN_ENTRIES = frozenset(
    {_PASSWORD_FILE, _MARKER_FILE, _KEEP_FILE, _STATE_FILE, _DATA_SUBDIR, _LOG_FILE}
)
_ROOT_PREFIX = "sqla-lab-pg-"
_SOCKET_PREFIX = "sqla-lab-sock-"
#: A temporary cluster untouched this long, with no postmaster, was left by a killed process.
_STALE_AFTER_S = 600.0
_BIND_RETRIES = 3


class Status(enum.Enum):
    """Where a server is in its life."""

    NOT_INITIALIZED = "not-initialized"
    STOPPED = "stopped"
    RUNNING = "running"


def describe_url(url: URL) -> str:
    """``user@host:port/database``: a URL to name in a message, without its password."""
    return f"{url.username or '?'}@{url.host or 'localhost'}:{url.port or 5432}/{url.database}"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def probe_sync(url: URL, *, timeout: float = 5.0) -> str:
    """Connect once with psycopg and return the server version; translate failures.

    Raises:
        DatabaseUnavailable: unreachable, refused, or authentication failed.
    """
    try:
        with psycopg.connect(libpq_conninfo(url), connect_timeout=max(1, int(timeout))) as conn:
            version = conn.execute("SHOW server_version").fetchone()
    except (psycopg.Error, OSError) as exc:
        raise DatabaseUnavailable(
            N_("cannot connect to {url}: {reason}"), url=describe_url(url), reason=first_line(exc)
        ) from None
    return str(version[0]) if version else "unknown"


async def probe_async(url: URL, *, timeout: float = 5.0) -> str:  # noqa: ASYNC109 - passed to asyncpg.connect
    """Connect once with asyncpg and return the server version; translate failures.

    Raises:
        DatabaseUnavailable: unreachable, refused, or authentication failed.
    """
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=timeout)
    except (TimeoutError, asyncpg.PostgresError, OSError, ValueError) as exc:
        raise DatabaseUnavailable(
            N_("cannot connect to {url}: {reason}"), url=describe_url(url), reason=first_line(exc)
        ) from None
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


class PostgresServer(Managed, AsyncManaged):
    """What every server offers: a URL, a status, a life cycle and context managers."""

    embedded: bool = False
    #: ``SHOW server_version`` as read when the server was last reached.
    server_version: str | None = None

    @property
    def url(self) -> URL:
        """SQLAlchemy URL with the ``postgresql+asyncpg`` driver."""
        raise NotImplementedError

    @property
    def status(self) -> Status:
        """The server's current :class:`Status`."""
        raise NotImplementedError

    @property
    def sync_url(self) -> URL:
        """The same URL with the ``postgresql+psycopg`` driver, for sync engines."""
        return self.url.set(drivername="postgresql+psycopg")

    @property
    def dsn(self) -> str:
        """A ``postgresql://`` DSN (with password) for raw ``asyncpg.connect``."""
        return asyncpg_dsn(self.url)

    @property
    def conninfo(self) -> str:
        """A ``postgresql://`` URI (with password) for libpq clients such as psycopg."""
        return libpq_conninfo(self.url)

    @property
    def display_url(self) -> str:
        """The URL with its password masked, safe to print and log."""
        return self.url.render_as_string(hide_password=True)

    def init(self) -> None:
        """Create the cluster if needed."""

    def start(self) -> None:
        """Start (or reach) the server and wait until it accepts connections."""
        raise NotImplementedError

    async def astart(self) -> None:
        """Async flavour of :meth:`start`."""
        await asyncio.to_thread(self.start)

    def stop(self) -> None:
        """Stop the server if we own it."""

    def destroy(self) -> None:
        """Stop and delete what we created."""

    def close(self) -> None:
        """Stop, and delete unless asked to keep: what context managers do on exit."""
        self.stop()

    def _open(self) -> None:
        self.start()

    def _close(self) -> None:
        self.close()

    async def _aopen(self) -> None:
        await self.astart()

    async def _aclose(self) -> None:
        self.close()


class ExistingPostgres(PostgresServer):
    """A server somebody else runs, reached through ``DATABASE_URL``; never stopped by us."""

    embedded = False

    def __init__(self, url: str | URL, *, connect_timeout: float = 5.0) -> None:
        self._url = parse_database_url(url)
        self._connect_timeout = connect_timeout
        self._status = Status.STOPPED
        self.server_version = None

    @property
    def url(self) -> URL:
        return self._url

    @property
    def status(self) -> Status:
        return self._status

    def start(self) -> None:
        self.server_version = probe_sync(self._url, timeout=self._connect_timeout)
        self._status = Status.RUNNING

    async def astart(self) -> None:
        self.server_version = await probe_async(self._url, timeout=self._connect_timeout)
        self._status = Status.RUNNING

    def stop(self) -> None:
        self._status = Status.STOPPED

    def __repr__(self) -> str:
        return f"ExistingPostgres({self.display_url!r})"


class EmbeddedPostgres(PostgresServer):
    """A private PostgreSQL server started from pip-installed binaries.

    Args:
        version: bundled major version, "18" (default) or "16".
        bin_dir: use this ``bin/`` instead (also ``SQLA_LAB_PG_BIN`` at the CLI).
        data_dir: where the cluster lives; default a fresh temporary directory.
        keep: keep ``data_dir`` on close, so the next start is a warm start.
        host: listen address; loopback only unless you really mean otherwise.
        port: TCP port; 0 picks a free one.
        user: the superuser initdb creates.
        password: its password; default a random one.
        database: the database the URL names, created at start if missing.
        server_settings: extra ``-c name=value`` settings (e.g. ``{"fsync": "off"}``).
        startup_timeout: seconds to wait for the server to accept connections.
        detached: let the server outlive this process (``sqla-lab db up --detach``): no
            parent-death signal, no stop at exit; :func:`stop_data_dir` stops it later.

    A ``data_dir`` is used only if it is new, empty, or a cluster sqla-lab created (it holds
    sqla-lab's marker file) with no server running in it; sqla-lab deletes only what it
    created there, and never a directory it did not make.
    """

    embedded = True

    def __init__(
        self,
        version: str = "18",
        *,
        bin_dir: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        keep: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "postgres",
        password: str | None = None,
        database: str = "postgres",
        server_settings: dict[str, str] | None = None,
        startup_timeout: float = 30.0,
        detached: bool = False,
    ) -> None:
        self.bin_dir = find_bin_dir(version, bin_dir)
        self.version = version
        self.host = host
        self.requested_port = port
        self.port = port
        self.user = user
        self.database = database
        self.keep = keep
        self.server_settings = dict(server_settings or {})
        self.startup_timeout = startup_timeout
        if data_dir is not None and not str(data_dir).strip():
            raise ConfigurationError(N_("the data directory must not be empty ('')"))
        self.root = Path(data_dir).expanduser().resolve() if data_dir is not None else None
        self.detached = detached
        self._wanted_password = password
        self.password: str | None = None
        #: Whether this object made ``root`` itself (so may remove the directory, not only
        #: what it put inside) and whether the cluster in it is ours to delete.
        self._made_root = False
        self._owns_cluster = False
        self._process: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None
        self._run_as: RunAs = run_as_for_current_user()
        self._server_bin: Path | None = None
        self.server_version = None

    # -- paths ---------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path | None:
        """The PostgreSQL data directory (``PGDATA``), once known."""
        return self.root / _DATA_SUBDIR if self.root else None

    @property
    def log_file(self) -> Path | None:
        """The server's log (stderr)."""
        return self.root / _LOG_FILE if self.root else None

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while running."""
        return self._process.pid if self._process and self._process.poll() is None else None

    @property
    def socket_dir(self) -> Path | None:
        """The private unix-socket directory while running."""
        return self._socket_dir

    @property
    def url(self) -> URL:
        if self.password is None or not self.port:
            raise PostgresError(N_("the embedded server has not been started yet"))
        return URL.create(
            "postgresql+asyncpg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
        )

    @property
    def status(self) -> Status:
        if self._process is not None and self._process.poll() is None:
            return Status.RUNNING
        data_dir = self.data_dir
        if data_dir is not None and (data_dir / "PG_VERSION").exists():
            return Status.STOPPED
        return Status.NOT_INITIALIZED

    # -- life cycle ----------------------------------------------------------------------
    def init(self) -> None:
        """Run ``initdb`` (scram-sha-256, random password) unless the cluster exists.

        Raises:
            PostgresStartError: the directory is unusable or initdb failed.
        """
        if self.status is not Status.NOT_INITIALIZED:
            self._adopt_existing_cluster()
            return
        root = self._prepare_root()
        self.password = self._wanted_password or secrets.token_urlsafe(24)
        password_file = root / _PASSWORD_FILE
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        marker = root / _MARKER_FILE
        made = self._made_root or (marker.is_file() and _MADE_DIRECTORY in marker.read_text())
        marker.write_text(
            "created by sqla-lab; safe to delete when stopped\n"
            + (f"{_MADE_DIRECTORY}\n" if made else "")
        )
        self._owns_cluster = True
        if self.keep:
            (root / _KEEP_FILE).write_text("kept on purpose: never swept\n")
        self._run_as.chown(root)
        assert self.data_dir is not None
        command = [
            str(self._bin("initdb")),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=scram-sha-256",
            f"--pwfile={password_file}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        result = subprocess.run(
            command,
            capture_output=True,
            check=False,
            stdin=subprocess.DEVNULL,
            env=self._child_env(),
            cwd=self._child_cwd,
            user=self._run_as.uid,
            group=self._run_as.gid,
            extra_groups=self._child_groups,
        )
        if result.returncode != 0:
            reason = _interesting_line(result.stderr.decode(errors="replace"))
            raise PostgresStartError(
                N_("initdb failed in {root}: {reason}"), root=self.root, reason=reason
            )

    def start(self) -> None:
        """Start the server (running ``init()`` first if needed) and wait until it is ready.

        Raises:
            PostgresStartError: the port is busy, the directory unusable, or postgres died.
        """
        if self.status is Status.RUNNING:
            return
        self.init()
        self._spawn_and_wait()
        self._finish_setup()

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT); escalate to SIGQUIT and SIGKILL if it will not go."""
        process = self._process
        if process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown; SIGQUIT "immediate"; SIGKILL last.
            for sig, wait in (
                (signal.SIGINT, timeout),
                (signal.SIGQUIT, 5.0),
                (signal.SIGKILL, 5.0),
            ):
                if process.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(wait)
            self._process = None
            atexit.unregister(self._atexit)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def destroy(self) -> None:
        """Stop, and delete the cluster sqla-lab created; never anything else.

        The directory itself goes only if this object made it; in a directory the caller
        gave, only what sqla-lab put there is removed. A directory without sqla-lab's marker,
        or with another server running in it, is left exactly as it is.
        """
        self.stop()
        root = self.root
        if root is None or not self._owns_cluster or not (root / _MARKER_FILE).is_file():
            return
        if running_postmaster(root / _DATA_SUBDIR) is not None:
            return
        _remove_cluster(root)

    def close(self) -> None:
        """Stop; delete the data unless ``keep`` was asked for."""
        if self.keep:
            self.stop()
        else:
            self.destroy()

    def __repr__(self) -> str:
        return f"EmbeddedPostgres(version={self.version!r}, status={self.status.value!r})"

    # -- run-time configuration (used by the pool lab) ------------------------------------
    def write_data_file(self, name: str, content: bytes, *, mode: int = 0o600) -> Path:
        """Write ``name`` into the data directory, owned by the server's account.

        For files the server reads by a relative name, such as ``server.crt`` and
        ``server.key`` (PostgreSQL's default ``ssl_cert_file`` and ``ssl_key_file``).

        Raises:
            PostgresError: the cluster does not exist yet, or ``name`` is not a plain name.
        """
        data_dir = self.data_dir
        if data_dir is None or not data_dir.is_dir():
            raise PostgresError(N_("the embedded server has no data directory yet"))
        if Path(name).name != name or name in {"", ".", ".."}:
            raise PostgresError(N_("not a plain file name: {name!r}"), name=name)
        target = data_dir / name
        target.write_bytes(content)
        target.chmod(mode)
        self._run_as.chown(target)
        return target

    def add_hba_rules(self, *rules: str) -> None:
        """Put ``rules`` first in ``pg_hba.conf`` (the first match wins) and reload.

        Rules already present are not added twice. New connections see them once the
        server has re-read its configuration, a moment after this returns.

        Raises:
            PostgresError: the server is not running.
        """
        data_dir = self.data_dir
        if self.status is not Status.RUNNING or data_dir is None:
            raise PostgresError(N_("the embedded server is not running"))
        hba = data_dir / "pg_hba.conf"
        current = hba.read_text()
        existing = {line.strip() for line in current.splitlines()}
        new = [rule.strip() for rule in rules if rule.strip() not in existing]
        if new:
            hba.write_text("\n".join(new) + "\n" + current)
            self._run_as.chown(hba)
        self.reload()

    def reload(self) -> None:
        """Ask the server to re-read its configuration files (SIGHUP to the postmaster)."""
        if self._process is None or self._process.poll() is not None:
            raise PostgresError(N_("the embedded server is not running"))
        self._process.send_signal(signal.SIGHUP)

    def create_replica(self, *, server_settings: dict[str, str] | None = None) -> EmbeddedPostgres:
        """Copy this running server with ``pg_basebackup -R`` into a streaming replica.

        The copy lives in a new temporary directory (swept like any other when a killed
        process leaves it) and keeps this server's password; the returned server is not
        started: starting it starts a hot standby streaming from this server over TCP, and
        closing it stops it and deletes its directory.

        Raises:
            PostgresError: this server is not running.
            PostgresStartError: ``pg_basebackup`` failed.
        """
        if self.status is not Status.RUNNING or self.password is None:
            raise PostgresError(N_("the embedded server is not running"))
        root = Path(tempfile.mkdtemp(prefix=_ROOT_PREFIX))
        try:
            password_file = root / _PASSWORD_FILE
            password_file.write_text(self.password + "\n")
            password_file.chmod(0o600)
            (root / _MARKER_FILE).write_text(
                f"created by sqla-lab; safe to delete when stopped\n{_MADE_DIRECTORY}\n"
            )
            self._run_as.chown(root)
            command = [
                str(self._bin("pg_basebackup")),
                *("-D", str(root / _DATA_SUBDIR), "-h", self.host, "-p", str(self.port)),
                *("-U", self.user, "--write-recovery-conf", "--wal-method=stream"),
                *("--checkpoint=fast", "--no-sync", "--no-password"),
            ]
            # The password travels in the environment, never on a command line `ps` shows.
            result = subprocess.run(
                command,
                capture_output=True,
                check=False,
                stdin=subprocess.DEVNULL,
                env={**self._child_env(), "PGPASSWORD": self.password},
                cwd=self._child_cwd,
                user=self._run_as.uid,
                group=self._run_as.gid,
                extra_groups=self._child_groups,
                timeout=self.startup_timeout * 4,
            )
            if result.returncode != 0:
                reason = _interesting_line(result.stderr.decode(errors="replace"))
                raise PostgresStartError(N_("pg_basebackup failed: {reason}"), reason=reason)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return EmbeddedPostgres(
            self.version,
            bin_dir=self.bin_dir,
            data_dir=root,
            host=self.host,
            user=self.user,
            database=self.database,
            server_settings=server_settings,
            startup_timeout=self.startup_timeout,
        )

    # -- internals -----------------------------------------------------------------------
    def _bin(self, program: str) -> Path:
        if self._server_bin is None:
            self._server_bin = reachable_bin_dir(
                self.bin_dir, self._run_as, Path(tempfile.gettempdir())
            )
        return self._server_bin / program

    def _child_env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "LANG": "C",
            "TZ": "UTC",
        }

    @property
    def _child_cwd(self) -> str | None:
        # The unprivileged account may not be allowed into our working directory.
        return "/" if self._run_as.drops_privileges else None

    @property
    def _child_groups(self) -> list[int] | None:
        return [] if self._run_as.drops_privileges else None

    def _prepare_root(self) -> Path:
        if self.root is None:
            sweep_stale_directories(Path(tempfile.gettempdir()))
            self.root = Path(tempfile.mkdtemp(prefix=_ROOT_PREFIX))
            self._made_root = True
            # Marked at once: a run interrupted from here on leaves a directory the sweeper
            # knows is sqla-lab's.
            (self.root / _MARKER_FILE).write_text(
                f"created by sqla-lab; safe to delete when stopped\n{_MADE_DIRECTORY}\n"
            )
        root = self.root
        try:
            if not root.exists():
                root.mkdir(parents=True)
                self._made_root = True
            elif not root.is_dir():
                raise PostgresStartError(N_("data directory {root} is not a directory"), root=root)
            probe = root / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise PostgresStartError(
                N_("data directory {root} is not writable: {reason}"),
                root=root,
                reason=exc.strerror or exc,
            ) from None
        foreign = [p.name for p in root.iterdir() if p.name not in _OWN_ENTRIES]
        if foreign or (any(root.iterdir()) and not (root / _MARKER_FILE).is_file()):
            raise PostgresStartError(
                N_(
                    "data directory {root} is not empty and holds no sqla-lab cluster; "
                    "choose an empty or new directory"
                ),
                root=root,
            )
        if not self._run_as.can_enter(root.parent):
            raise PostgresStartError(
                N_(
                    "data directory {root} is not reachable by user {name!r} (as root, "
                    "PostgreSQL runs unprivileged); choose one it can reach, e.g. under "
                    "/tmp"
                ),
                root=root,
                name=self._run_as.name,
            )
        root.chmod(0o700)
        return root

    def _adopt_existing_cluster(self) -> None:
        """Use a cluster found in ``root``: only sqla-lab's own, and only if nothing runs it."""
        assert self.root is not None
        if not (self.root / _MARKER_FILE).is_file():
            raise PostgresStartError(
                N_("data directory {root} holds a PostgreSQL cluster sqla-lab did not create"),
                root=self.root,
            )
        pid = running_postmaster(self.root / _DATA_SUBDIR)
        if pid is not None:
            raise PostgresStartError(
                N_(
                    "a PostgreSQL server (pid {pid}) is already running in {root}; stop "
                    "it first (sqla-lab db down --data-dir {root})"
                ),
                pid=pid,
                root=self.root,
            )
        self._owns_cluster = True
        state = read_state(self.root)
        if state is not None and state.get("user") not in (None, self.user):
            raise PostgresStartError(
                N_("data directory {root} holds a cluster for user {value!r}, not {user!r}"),
                root=self.root,
                value=state["user"],
                user=self.user,
            )
        try:
            self.password = (self.root / _PASSWORD_FILE).read_text().strip()
        except OSError:
            raise PostgresStartError(
                N_("data directory {root} has a cluster but no sqla-lab password file"),
                root=self.root,
            ) from None

    def _finish_setup(self) -> None:
        """Apply a new ``password`` to a kept cluster, create ``database``, record the state."""
        admin = self.url.set(database="postgres")
        with psycopg.connect(libpq_conninfo(admin), autocommit=True) as conn:
            if self._wanted_password is not None and self._wanted_password != self.password:
                conn.execute(
                    psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        psycopg.sql.Identifier(self.user),
                        psycopg.sql.Literal(self._wanted_password),
                    )
                )
                self.password = self._wanted_password
                assert self.root is not None
                (self.root / _PASSWORD_FILE).write_text(self.password + "\n")
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists is None:
                conn.execute(
                    psycopg.sql.SQL("CREATE DATABASE {}").format(
                        psycopg.sql.Identifier(self.database)
                    )
                )
        self._write_state()

    def _write_state(self) -> None:
        assert self.root is not None
        state = {
            "user": self.user,
            "database": self.database,
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
            "version": self.server_version,
            "keep": self.keep,
            "detached": self.detached,
            "socket_dir": str(self._socket_dir) if self._socket_dir else None,
        }
        (self.root / _STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def detach(self) -> None:
        """Leave the (detached) server running when this object and this process go."""
        if not self.detached:
            raise PostgresError(N_("only a server created with detached=True can be left running"))
        self._process = None
        self._socket_dir = None
        atexit.unregister(self._atexit)

    def _spawn_and_wait(self) -> None:
        last_error: PostgresStartError | None = None
        for _ in range(_BIND_RETRIES):
            if self.requested_port:
                if not port_is_free(self.host, self.requested_port):
                    raise PostgresStartError(
                        N_("port {requested_port} on {host} is already in use"),
                        requested_port=self.requested_port,
                        host=self.host,
                    )
                self.port = self.requested_port
            else:
                self.port = free_port(self.host)
            try:
                self._spawn()
                self._wait_until_ready()
            except PostgresStartError as exc:
                self.stop()
                last_error = exc
                # A free port can be taken between our probe and postgres' bind: retry.
                if self.requested_port or "could not bind" not in str(exc).lower():
                    raise
            else:
                return
        assert last_error is not None
        raise last_error

    def _spawn(self) -> None:
        assert self.data_dir is not None
        assert self.log_file is not None
        self._socket_dir = Path(tempfile.mkdtemp(prefix=_SOCKET_PREFIX))
        self._run_as.chown(self._socket_dir)
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self._socket_dir),
            "max_connections": "200",
            "logging_collector": "off",
            # Names the owning process in `ps` and lets tests find a server's owner; a
            # detached server has none on purpose.
            "cluster_name": "sqla-lab-detached" if self.detached else f"sqla-lab-{os.getpid()}",
            **self.server_settings,
        }
        command = [str(self._bin("postgres")), "-D", str(self.data_dir)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self._child_env(),
                cwd=self._child_cwd,
                user=self._run_as.uid,
                group=self._run_as.gid,
                extra_groups=self._child_groups,
                start_new_session=True,
                # Runs after the user switch, which would otherwise clear it.
                preexec_fn=None if self.detached else set_parent_death_signal,
            )
        finally:
            log.close()
        atexit.register(self._atexit)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        process = self._process
        assert process is not None
        while True:
            if process.poll() is not None:
                raise PostgresStartError(
                    N_("postgres exited at start-up: {log_reason}"), log_reason=self._log_reason()
                )
            try:
                # The maintenance database: the one the URL names may not exist yet.
                self.server_version = probe_sync(self.url.set(database="postgres"), timeout=2.0)
            except DatabaseUnavailable as exc:
                if time.monotonic() > deadline:
                    raise PostgresStartError(
                        N_(
                            "postgres did not accept connections within {startup_timeout:.0f} s: "
                            "{exc}"
                        ),
                        startup_timeout=self.startup_timeout,
                        exc=exc,
                    ) from None
                time.sleep(0.02)
            else:
                return

    def _log_reason(self) -> str:
        assert self.log_file is not None
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "no log written"
        return _interesting_line(text)

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def sweep_stale_directories(parent: Path, *, older_than_s: float = _STALE_AFTER_S) -> list[Path]:
    """Delete temporary clusters and socket directories that killed processes left behind.

    Only directories sqla-lab created (by prefix and marker file), not kept on purpose, with no
    ``postmaster.pid`` and untouched for ``older_than_s`` seconds are removed.

    Returns:
        The directories removed.
    """
    removed: list[Path] = []
    now = time.time()
    candidates = [*parent.glob(f"{_ROOT_PREFIX}*"), *parent.glob(f"{_SOCKET_PREFIX}*")]
    for path in candidates:
        try:
            if not path.is_dir():
                continue
            copying = path / STAGING_MARKER
            if copying.is_file():
                # A copy of the binaries that stopped half-way: gone once its copier is.
                if not _pid_alive(int(copying.read_text().strip() or 0)):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
                continue
            if now - path.stat().st_mtime < older_than_s:
                continue
            if path.name.startswith(_ROOT_PREFIX):
                if not (path / _MARKER_FILE).exists() or (path / _KEEP_FILE).exists():
                    continue
                if (path / _DATA_SUBDIR / "postmaster.pid").exists():
                    continue
            elif any(path.iterdir()):
                continue  # a socket directory still holding a socket belongs to a live server
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _remove_cluster(root: Path) -> None:
    """Delete what sqla-lab put in ``root``; the directory too if sqla-lab made it and nothing
    else is left in it. A file somebody else put there is never removed."""
    try:
        made_directory = _MADE_DIRECTORY in (root / _MARKER_FILE).read_text()
    except OSError:
        return
    for name in (_DATA_SUBDIR, _PASSWORD_FILE, _LOG_FILE, _STATE_FILE, _KEEP_FILE):
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    (root / _MARKER_FILE).unlink(missing_ok=True)
    if made_directory:
        with contextlib.suppress(OSError):
            root.rmdir()  # fails, and keeps the directory, if anything else is in it


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_postmaster(pgdata: Path) -> int | None:
    """The pid of the postmaster running in ``pgdata``, read from its ``postmaster.pid``."""
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        pid = int(first)
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return pid  # no /proc here: trust the pid file
    # A stale pid file whose pid now belongs to another program.
    return pid if argv0.endswith(b"postgres") else None


def read_state(root: Path) -> dict[str, Any] | None:
    """What ``sqla-lab db up`` recorded about the server of data directory ``root``."""
    try:
        state = json.loads((root / _STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def is_sqla_lab_data_dir(root: Path) -> bool:
    """Whether ``root`` is a data directory sqla-lab created (it holds sqla-lab's marker)."""
    return (root / _MARKER_FILE).is_file()


def stop_data_dir(root: Path, *, timeout: float = 10.0, delete: bool | None = None) -> bool:
    """Stop the server running in sqla-lab data directory ``root`` (from any process).

    Args:
        root: a directory ``sqla-lab db up`` initialised.
        timeout: seconds to wait for a fast shutdown before escalating.
        delete: remove the cluster afterwards; default: unless it was started with ``--keep``.

    Returns:
        Whether a server was running.

    Raises:
        PostgresError: ``root`` is not a sqla-lab data directory, or the server would not stop.
    """
    if not is_sqla_lab_data_dir(root):
        raise PostgresError(N_("{root} is not a sqla-lab data directory"), root=root)
    state = read_state(root) or {}
    pid = running_postmaster(root / _DATA_SUBDIR)
    if pid is not None:
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while running_postmaster(root / _DATA_SUBDIR) == pid and time.monotonic() < deadline:
                time.sleep(0.02)
            if running_postmaster(root / _DATA_SUBDIR) != pid:
                break
        else:
            raise PostgresError(
                N_("the server in {root} (pid {pid}) did not stop"), root=root, pid=pid
            )
    socket_dir = state.get("socket_dir")
    if isinstance(socket_dir, str) and Path(socket_dir).name.startswith(_SOCKET_PREFIX):
        shutil.rmtree(socket_dir, ignore_errors=True)
    if delete is None:
        delete = not (root / _KEEP_FILE).exists()
    if delete:
        _remove_cluster(root)
    return pid is not None


def _interesting_line(text: str) -> str:
    """Pick the line of a server log that says what went wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for marker in ("FATAL:", "PANIC:", "ERROR:", "could not", "initdb: error"):
        for line in reversed(lines):
            if marker in line:
                return line[line.find(marker) :] if marker.endswith(":") else line
    return lines[-1] if lines else "no output"


def server_from_url(
    database_url: str | None,
    *,
    version: str = "18",
    bin_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    keep: bool = False,
    port: int = 0,
    server_settings: dict[str, str] | None = None,
) -> PostgresServer:
    """An :class:`ExistingPostgres` when ``database_url`` is given, else an embedded one."""
    if database_url:
        return ExistingPostgres(database_url)
    return EmbeddedPostgres(
        version,
        bin_dir=bin_dir,
        data_dir=data_dir,
        keep=keep,
        port=port,
        server_settings=server_settings,
    )
