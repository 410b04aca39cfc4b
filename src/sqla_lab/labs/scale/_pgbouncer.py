"""PgBouncer from the system's package, started by the scale lab in front of its own server.

Why our own launcher: PgBouncer ships no Python API, and the Debian package's service runs
one shared instance for the whole machine. The lab needs a private, throw-away one: a fresh
directory holding ``pgbouncer.ini`` and ``userlist.txt``, a free loopback port, no unix
socket, the unprivileged account when we are root (as the embedded PostgreSQL), a
parent-death signal so a killed lab never leaves it behind, and a stop that escalates. The
helpers for all of that are shared with :mod:`sqla_lab.postgres` (:mod:`sqla_lab._process`).

Several pools live in one process, one per ``[databases]`` entry, each with its own
``pool_mode`` and ``pool_size`` (``txn`` and ``session`` below), so one PgBouncer serves
every variant the lab compares.

The directory name carries the owning process id (``sqla-lab-bouncer-<pid>-...``); it shows
on PgBouncer's command line, which is how tests find a PgBouncer that outlived its owner.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL

from sqla_lab._lifecycle import Managed
from sqla_lab._process import (
    RunAs,
    free_port,
    run_as_for_current_user,
    set_parent_death_signal,
)
from sqla_lab.errors import ConfigurationError, DatabaseUnavailable, PgBouncerError
from sqla_lab.lab.messages import N_
from sqla_lab.postgres import probe_sync

__all__ = [
    "DIR_PREFIX",
    "MAX_PREPARED_STATEMENTS_SINCE",
    "NOT_FOUND",
    "PgBouncer",
    "PoolMode",
    "PoolSpec",
    "find_pgbouncer",
    "parse_version",
    "pgbouncer_version",
    "render_config",
    "supports_max_prepared_statements",
    "sweep_stale_bouncer_dirs",
]

#: What a finding says when it needs PgBouncer and there is none.
NOT_FOUND = N_("skipped: pgbouncer not found (apt-get install pgbouncer)")
#: The first PgBouncer with protocol-level prepared statements in transaction mode.
MAX_PREPARED_STATEMENTS_SINCE = (1, 21)
DIR_PREFIX = "sqla-lab-bouncer-"
#: Debian installs pgbouncer in /usr/sbin, which is not on every user's PATH.
_SYSTEM_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_VERSION = re.compile(r"PgBouncer\s+(\d+)\.(\d+)(?:\.(\d+))?")
_STALE_AFTER_S = 60.0

PoolMode = Literal["session", "transaction"]


class _Status(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


def find_pgbouncer(
    explicit: str | None,
    *,
    path: str | None = None,
    system_dirs: Sequence[str] = _SYSTEM_DIRS,
) -> Path | None:
    """The pgbouncer executable: ``explicit`` if given, else the first on PATH or in sbin.

    Args:
        explicit: a path the user chose (``SQLA_LAB_PGBOUNCER``); it must be executable.
        path: the search path (default: ``$PATH``).
        system_dirs: directories searched after ``path``.

    Raises:
        ConfigurationError: ``explicit`` is not an executable file.
    """
    if explicit:
        candidate = Path(explicit).expanduser()
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            raise ConfigurationError(
                N_("SQLA_LAB_PGBOUNCER={explicit!r} is not an executable file"), explicit=explicit
            )
        return candidate
    search = os.pathsep.join(
        [path if path is not None else os.environ.get("PATH", ""), *system_dirs]
    )
    found = shutil.which("pgbouncer", path=search)
    return Path(found) if found else None


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``(1, 18, 0)`` from ``pgbouncer --version`` output, or ``None``."""
    match = _VERSION.search(text)
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def pgbouncer_version(executable: Path) -> tuple[int, int, int]:
    """Ask ``executable --version``.

    Raises:
        PgBouncerError: it would not run or printed no version.
    """
    try:
        result = subprocess.run(
            [str(executable), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PgBouncerError(
            N_("{executable} --version failed: {exc}"), executable=executable, exc=exc
        ) from None
    version = parse_version(result.stdout + result.stderr)
    if version is None:
        raise PgBouncerError(
            N_("{executable} --version printed no PgBouncer version"), executable=executable
        )
    return version


def supports_max_prepared_statements(version: tuple[int, int, int]) -> bool:
    """Whether this PgBouncer has ``max_prepared_statements`` (1.21 and later)."""
    return version[:2] >= MAX_PREPARED_STATEMENTS_SINCE


@dataclass(frozen=True, kw_only=True)
class PoolSpec:
    """One ``[databases]`` entry: clients connect to database ``name``."""

    name: str
    pool_mode: PoolMode
    pool_size: int

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"pool name {self.name!r} must be a plain lower-case identifier")
        if self.pool_size < 1:
            raise ValueError("pool_size must be at least 1")


def _quote(value: str) -> str:
    """A value for ``userlist.txt``: double quotes, inner quotes doubled."""
    return '"' + value.replace('"', '""') + '"'


def render_config(
    *,
    directory: Path,
    port: int,
    server_host: str,
    server_port: int,
    server_database: str,
    pools: Sequence[PoolSpec],
    max_client_conn: int,
    admin_user: str,
    max_prepared_statements: int | None = None,
) -> str:
    """The ``pgbouncer.ini`` text (pure, so it can be checked without a PgBouncer)."""
    lines = ["[databases]"]
    for pool in pools:
        lines.append(
            f"{pool.name} = host={server_host} port={server_port} dbname={server_database} "
            f"pool_mode={pool.pool_mode} pool_size={pool.pool_size}"
        )
    lines += [
        "",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        # Empty: no unix socket, so nothing is left in a shared /tmp.
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        f"auth_file = {directory / 'userlist.txt'}",
        f"admin_users = {admin_user}",
        f"max_client_conn = {max_client_conn}",
        "default_pool_size = 1",
        # A NullPool client connects per request: one log line each would flood the log.
        "log_connections = 0",
        "log_disconnections = 0",
        "server_login_retry = 1",
    ]
    if max_prepared_statements is not None:
        lines.append(f"max_prepared_statements = {max_prepared_statements}")
    return "\n".join(lines) + "\n"


class PgBouncer(Managed):
    """A private PgBouncer in front of one PostgreSQL server, stopped and deleted on close.

    Args:
        executable: the ``pgbouncer`` program.
        server_host: the server's address.
        server_port: the server's port.
        server_database: the database every pool connects to.
        user: the role clients log in as (PgBouncer logs into the server as the same role).
        password: its password (written to a ``userlist.txt`` only the server account reads).
        pools: the pools, one per virtual database.
        max_client_conn: client connections PgBouncer accepts in all.
        max_prepared_statements: PgBouncer 1.21+'s prepared-statement tracking (``None``: off).
        startup_timeout: seconds to wait until it accepts a login.
    """

    def __init__(
        self,
        executable: Path,
        *,
        server_host: str,
        server_port: int,
        server_database: str,
        user: str,
        password: str,
        pools: Sequence[PoolSpec],
        max_client_conn: int = 500,
        max_prepared_statements: int | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        if not pools:
            raise ValueError("PgBouncer needs at least one pool")
        self.executable = executable
        self.server_host = server_host
        self.server_port = server_port
        self.server_database = server_database
        self.user = user
        self.password = password
        self.pools = tuple(pools)
        self.max_client_conn = max_client_conn
        self.max_prepared_statements = max_prepared_statements
        self.startup_timeout = startup_timeout
        self._users = {user: password}
        self.port = 0
        self.directory: Path | None = None
        self._run_as: RunAs = run_as_for_current_user()
        self._process: subprocess.Popen[bytes] | None = None
        self._status = _Status.NEW

    @property
    def pid(self) -> int | None:
        """PgBouncer's process id while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    @property
    def log_file(self) -> Path | None:
        """Where PgBouncer writes its log."""
        return self.directory / "pgbouncer.log" if self.directory else None

    def pool(self, name: str) -> PoolSpec:
        """The pool called ``name``."""
        for pool in self.pools:
            if pool.name == name:
                return pool
        raise KeyError(name)

    def url(self, pool: str, *, user: str | None = None) -> URL:
        """The ``postgresql+asyncpg`` URL of pool ``pool`` for ``user`` (default: the main
        user), with the password."""
        self.pool(pool)
        if not self.port:
            raise PgBouncerError(N_("PgBouncer has not been started yet"))
        name = user or self.user
        return URL.create(
            "postgresql+asyncpg",
            username=name,
            password=self._users[name],
            host="127.0.0.1",
            port=self.port,
            database=pool,
        )

    def _write_userlist(self) -> None:
        assert self.directory is not None
        userlist = self.directory / "userlist.txt"
        userlist.write_text("".join(f"{_quote(n)} {_quote(p)}\n" for n, p in self._users.items()))
        userlist.chmod(0o600)
        self._run_as.chown(userlist)

    def add_user(self, name: str, password: str) -> None:
        """Let role ``name`` log in too (it must exist on the server): PgBouncer keeps a pool
        per database and user, so each role's server connections can be told apart.

        Raises:
            PgBouncerError: PgBouncer is not running, or did not accept the login in time.
        """
        if self._process is None or self._process.poll() is not None:
            raise PgBouncerError(N_("PgBouncer is not running"))
        self._users[name] = password
        self._write_userlist()
        # SIGHUP: PgBouncer re-reads its configuration and auth_file.
        self._process.send_signal(signal.SIGHUP)
        self._wait_until_ready(user=name)

    def start(self) -> None:
        """Write the configuration, start PgBouncer and wait until a login works.

        Raises:
            PgBouncerError: it exited or did not accept a login in time.
        """
        if self._status is not _Status.NEW:
            raise PgBouncerError(N_("this PgBouncer was already started once"))
        self._status = _Status.RUNNING
        sweep_stale_bouncer_dirs(Path(tempfile.gettempdir()))
        self.directory = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-"))
        self.port = free_port()
        config = self.directory / "pgbouncer.ini"
        config.write_text(
            render_config(
                directory=self.directory,
                port=self.port,
                server_host=self.server_host,
                server_port=self.server_port,
                server_database=self.server_database,
                pools=self.pools,
                max_client_conn=self.max_client_conn,
                admin_user=self.user,
                max_prepared_statements=self.max_prepared_statements,
            )
        )
        config.chmod(0o600)
        self._run_as.chown(self.directory)
        self._write_userlist()
        assert self.log_file is not None
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child, closed below
        drops = self._run_as.drops_privileges
        try:
            self._process = subprocess.Popen(
                [str(self.executable), str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/" if drops else None,
                user=self._run_as.uid,
                group=self._run_as.gid,
                extra_groups=[] if drops else None,
                start_new_session=True,
                # SIGTERM is PgBouncer's immediate shutdown; SIGINT would wait for clients.
                preexec_fn=functools.partial(set_parent_death_signal, signal.SIGTERM),
            )
        except OSError as exc:
            raise PgBouncerError(
                N_("cannot run {executable}: {reason}"),
                executable=self.executable,
                reason=exc.strerror or exc,
            ) from None
        finally:
            log.close()
        self._wait_until_ready()

    def _wait_until_ready(self, *, user: str | None = None) -> None:
        deadline = time.monotonic() + self.startup_timeout
        process = self._process
        assert process is not None
        url = self.url(self.pools[0].name, user=user)
        while True:
            if process.poll() is not None:
                raise PgBouncerError(
                    N_("pgbouncer exited at start-up with code {returncode}: {log_reason}"),
                    returncode=process.returncode,
                    log_reason=self._log_reason(),
                )
            try:
                probe_sync(url, timeout=2.0)
            except DatabaseUnavailable as exc:
                if time.monotonic() > deadline:
                    raise PgBouncerError(
                        N_(
                            "pgbouncer did not accept a login within {startup_timeout:.0f} s: {exc}"
                        ),
                        startup_timeout=self.startup_timeout,
                        exc=exc,
                    ) from None
                time.sleep(0.05)
            else:
                return

    def _log_reason(self) -> str:
        log_file = self.log_file
        if log_file is None:
            return "no log written"
        try:
            lines = [line for line in log_file.read_text().splitlines() if line.strip()]
        except OSError:
            return "no log written"
        for marker in ("FATAL", "ERROR"):
            for line in reversed(lines):
                if marker in line:
                    return line[line.find(marker) :]
        return lines[-1] if lines else "no output"

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (immediate shutdown), then SIGKILL; delete the directory."""
        process, self._process = self._process, None
        if process is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if process.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
        if self._status is _Status.RUNNING:
            self._status = _Status.STOPPED

    def _open(self) -> None:
        self.start()

    def _close(self) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"PgBouncer(port={self.port}, pid={self.pid}, status={self._status.value!r})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_bouncer_dirs(parent: Path, *, older_than_s: float = _STALE_AFTER_S) -> list[Path]:
    """Delete PgBouncer directories whose owning process is gone (it was killed).

    Returns:
        The directories removed.
    """
    removed = []
    now = time.time()
    for path in parent.glob(f"{DIR_PREFIX}*"):
        owner = path.name[len(DIR_PREFIX) :].split("-", 1)[0]
        try:
            if not owner.isdigit() or _alive(int(owner)) or not path.is_dir():
                continue
            if now - path.stat().st_mtime < older_than_s:
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
