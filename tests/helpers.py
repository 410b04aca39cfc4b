"""Helpers shared by the test modules."""

from __future__ import annotations

from pathlib import Path


def postmaster_pids() -> list[int]:
    """PIDs of every running PostgreSQL postmaster (a ``postgres -D ...`` process)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"/postgres") and b"-D" in argv:
            pids.append(int(entry.name))
    return pids
