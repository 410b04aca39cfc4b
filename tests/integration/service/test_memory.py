"""The service's garbage-collector tuning (``gc.freeze()``, higher thresholds) leaks nothing.

``sqla-lab serve`` freezes its start-up heap and makes collections rare
(:func:`sqla_lab.service.app.tuned_gc`); that is only safe if requests leave no cyclic garbage
to pile up between collections. Served over real HTTP in a child process, its memory after
10,000 requests must stay within 5% of what it was after 1,000.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab.service.server import LOOPBACK, ServiceProcess

from .conftest import SEEDED_USERS

CLIENTS = 8


def resident_kib(pid: int) -> int:
    """The process's resident set size, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    """One keep-alive ``GET``; the status. A few lines of HTTP/1.1 instead of an HTTP client
    library: httpx would spend more CPU per request than the service under test."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: service\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return status


async def _requests(host: str, port: int, count: int, paths: itertools.cycle[str]) -> None:
    remaining = iter(range(count))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for _ in remaining:
                assert await _get(reader, writer, next(paths)) in (200, 404)
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(CLIENTS))), timeout=600)


@pytest.mark.slow
async def test_memory_after_10000_requests_is_within_5_percent_of_after_1000(
    seeded: AsyncEngine, db_url: URL, tmp_path: Path
) -> None:
    url = db_url.render_as_string(hide_password=False)
    # Reads of every seeded user, a page, and an unknown user (the 404 path raises).
    paths = itertools.cycle(
        [*(f"/users/{i}" for i in range(1, SEEDED_USERS + 1)), "/users?limit=3", "/users/999"]
    )
    with ServiceProcess(url, pool_size=4, log_file=tmp_path / "service.log") as service:
        assert service.pid is not None
        await _requests(LOOPBACK, service.port, 1_000, paths)
        after_1000 = resident_kib(service.pid)
        await _requests(LOOPBACK, service.port, 9_000, paths)
        after_10000 = resident_kib(service.pid)
    print(f"resident memory: {after_1000} KiB after 1,000 requests, {after_10000} after 10,000")
    assert after_10000 <= after_1000 * 1.05, (after_1000, after_10000)
