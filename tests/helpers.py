"""Helpers shared by the test modules."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import URL

_OWNER = re.compile(rb"^cluster_name=sqla-lab-(\d+)$")


def psycopg_url(url: URL) -> URL:
    """The same database through psycopg, for a sync engine of a test's own."""
    return url.set(drivername="postgresql+psycopg")


def _processes(name: str) -> Iterator[tuple[int, list[bytes]]]:
    """Each running process's pid and ``/proc/<pid>/<name>`` split at NUL bytes."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / name).read_bytes().split(b"\0")
        except OSError:
            continue


def postmasters() -> dict[int, int | None]:
    """Every running postmaster (``postgres -D ...``) and the pid of the process that started
    it, read from the ``cluster_name=sqla-lab-<pid>`` sqla-lab puts on its command line."""
    found: dict[int, int | None] = {}
    for pid, argv in _processes("cmdline"):
        if not (argv and argv[0].endswith(b"/postgres") and b"-D" in argv):
            continue
        owner = None
        for arg in argv:
            if match := _OWNER.match(arg):
                owner = int(match.group(1))
        found[pid] = owner
    return found


def postmaster_pids(owner: int | None = None) -> list[int]:
    """Postmaster pids, all of them or only those started by process ``owner``."""
    return [pid for pid, own in postmasters().items() if owner is None or own == owner]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphaned_postmasters(*, wait_s: float = 10.0) -> list[int]:
    """sqla-lab postmasters whose starting process is gone: leaks, after ``wait_s`` of grace."""
    deadline = time.monotonic() + wait_s
    while True:
        orphans = [pid for pid, own in postmasters().items() if own is not None and not _alive(own)]
        if not orphans or time.monotonic() > deadline:
            return orphans
        time.sleep(0.1)


_BOUNCER_OWNER = re.compile(rb"/sqla-lab-bouncer-(\d+)-")
_SCALE_OWNER = b"SQLA_LAB_SCALE_OWNER="


def pgbouncers() -> dict[int, int | None]:
    """Every PgBouncer sqla-lab started, and the pid of the process that started it (read from
    the ``sqla-lab-bouncer-<pid>-`` directory on its command line)."""
    found: dict[int, int | None] = {}
    for pid, argv in _processes("cmdline"):
        if not (argv and argv[0].endswith(b"pgbouncer")):
            continue
        for arg in argv:
            if match := _BOUNCER_OWNER.search(arg):
                found[pid] = int(match.group(1))
    return found


def scale_processes() -> dict[int, int]:
    """Every process the scale lab started from Python (worker processes, uvicorn and its
    workers) and its owner, read from ``SQLA_LAB_SCALE_OWNER`` in its environment."""
    found: dict[int, int] = {}
    for pid, environ in _processes("environ"):
        for item in environ:
            if item.startswith(_SCALE_OWNER) and item[len(_SCALE_OWNER) :].isdigit():
                found[pid] = int(item[len(_SCALE_OWNER) :])
    return found


def leaked_scale_processes(owner: int, *, wait_s: float = 10.0) -> list[int]:
    """PgBouncers and scale-lab processes of ``owner``, or of an owner that is gone."""
    deadline = time.monotonic() + wait_s
    while True:
        both = {**pgbouncers(), **scale_processes()}
        leaks = [
            pid
            for pid, own in both.items()
            if own is not None and (own == owner or not _alive(own))
        ]
        if not leaks or time.monotonic() > deadline:
            return sorted(leaks)
        time.sleep(0.1)
