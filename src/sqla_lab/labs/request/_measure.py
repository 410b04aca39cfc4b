"""CPU per request of ASGI apps called in-process, and what the garbage collector takes.

Why CPU time and not wall time: the endpoint waits for PostgreSQL (another process) on every
request; what an ORM request *costs* the service is the CPU its process spends, which is what
limits requests/s once the database keeps up. Each block sends the same number of requests,
:data:`CALLERS` at a time, straight into the app through ASGI (no server, no socket), and
reads ``time.process_time()`` around it. Variants run interleaved, in a rotating order, so
that drift on a shared machine spreads over all of them, and their per-block ratios are
paired.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqla_lab.lab import NullProgress, Progress
from sqla_lab.lab.messages import N_, Message

__all__ = [
    "CALLERS",
    "GC_THRESHOLDS",
    "MEASURING",
    "Call",
    "GcRun",
    "asgi_get",
    "collector_paused",
    "concurrently",
    "cpu_per_request",
    "gc_runs",
]

#: Requests in flight at once, as a small service would have them.
CALLERS: Final = 10
#: The tuned thresholds measured against Python's defaults (the service runs with these).
GC_THRESHOLDS: Final = (50_000, 20, 100)

Call = Callable[[], Awaitable[None]]


def asgi_get(app: Any, paths: Sequence[str]) -> Call:
    """A ``GET`` of the next path of ``paths`` (cycling) straight into ``app`` through ASGI.

    Raises:
        RuntimeError: the app answered anything but 200.
    """
    cycle = itertools.cycle(paths)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def call() -> None:
        path = next(cycle)
        status = 0

        async def send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")

    return call


async def concurrently(call: Call, requests: int, callers: int = CALLERS) -> None:
    """Make ``requests`` calls, ``callers`` at a time."""
    per_caller, extra = divmod(requests, callers)

    async def caller(count: int) -> None:
        for _ in range(count):
            await call()

    await asyncio.gather(*(caller(per_caller + (i < extra)) for i in range(callers)))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Freeze what is alive and stop collections for the block; undo both after.

    A collection falls where allocation counts happen to cross a threshold, and a full one
    scans the whole process: tens of milliseconds landing on one variant of one block. The
    collector's own cost is measured separately (:func:`gc_runs`).
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()


#: The progress phase ``cpu_per_request`` shows when its caller names none.
MEASURING = N_("measuring")


async def cpu_per_request(
    calls: Mapping[str, Call],
    *,
    blocks: int,
    slices: int,
    slice_size: int = 16,
    warmup_blocks: int = 1,
    progress: Progress | None = None,
    description: str | Message = MEASURING,
) -> dict[str, list[float]]:
    """CPU milliseconds per request of each call, one value per block.

    A block goes round the calls ``slices`` times (in an order rotated by one each block),
    sending ``slice_size`` requests to each per turn, so that what a block compares ran
    close in time. A block's value for a call is its cheapest slice: on a shared machine
    other processes only ever add CPU time (cache misses, frequency), so the minimum is the
    steadiest estimate of what the code itself costs. The collector is paused meanwhile.
    """
    sink = progress or NullProgress()
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    sink.start(description, blocks)
    with collector_paused():
        for block in range(warmup_blocks + blocks):
            shift = block % len(names)
            order = names[shift:] + names[:shift]
            cheapest = dict.fromkeys(names, float("inf"))
            for _ in range(slices):
                for name in order:
                    started = time.process_time()
                    await concurrently(calls[name], slice_size)
                    spent_ms = (time.process_time() - started) * 1000.0 / slice_size
                    cheapest[name] = min(cheapest[name], spent_ms)
            if block >= warmup_blocks:
                for name in names:
                    samples[name].append(cheapest[name])
                sink.advance()
    return samples


@dataclass(frozen=True, kw_only=True)
class GcRun:
    """Requests served under one garbage-collector setting.

    Attributes:
        cpu_ms: CPU per request, one value per chunk.
        gc_us: time spent inside collections per request, one value per chunk.
        collections: collections of each generation, over all chunks.
        requests: requests served, over all chunks.
    """

    cpu_ms: tuple[float, ...]
    gc_us: tuple[float, ...]
    collections: tuple[int, int, int]
    requests: int

    @property
    def gc_us_overall(self) -> float:
        """Time inside collections per request, over all chunks (they are equally long)."""
        return sum(self.gc_us) / len(self.gc_us)


class _GcClock:
    """Sum the time spent in collections (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


async def gc_runs(call: Call, *, chunks: int, per_chunk: int) -> dict[str, GcRun]:
    """Serve ``call`` with Python's default collector and with the service's tuning.

    ``default``: nothing frozen, thresholds (700, 10, 10); ``tuned``: everything alive frozen
    (``gc.freeze()``) and :data:`GC_THRESHOLDS`. Chunks alternate between the two and nothing
    is collected in between, so each setting's collections fall where they would in a
    long-running process. The process's collector settings are restored afterwards.
    """
    previous = gc.get_threshold()
    was_frozen = gc.get_freeze_count() > 0
    clock = _GcClock()
    cpu: dict[str, list[float]] = {"default": [], "tuned": []}
    gc_us: dict[str, list[float]] = {"default": [], "tuned": []}
    collections = {name: [0, 0, 0] for name in cpu}
    gc.callbacks.append(clock)
    try:
        for chunk in range(2 * chunks):
            mode = ("default", "tuned")[chunk % 2]
            if mode == "tuned":
                gc.freeze()
                gc.set_threshold(*GC_THRESHOLDS)
            else:
                gc.unfreeze()
                gc.set_threshold(700, 10, 10)
            before = [generation["collections"] for generation in gc.get_stats()]
            clock.seconds = 0.0
            started = time.process_time()
            await concurrently(call, per_chunk)
            cpu[mode].append((time.process_time() - started) * 1000.0 / per_chunk)
            gc_us[mode].append(clock.seconds * 1e6 / per_chunk)
            after = [generation["collections"] for generation in gc.get_stats()]
            for generation in range(3):
                collections[mode][generation] += after[generation] - before[generation]
    finally:
        gc.callbacks.remove(clock)
        gc.set_threshold(*previous)
        gc.unfreeze()
        if was_frozen:
            gc.freeze()
    requests = chunks * per_chunk
    return {
        mode: GcRun(
            cpu_ms=tuple(cpu[mode]),
            gc_us=tuple(gc_us[mode]),
            collections=(collections[mode][0], collections[mode][1], collections[mode][2]),
            requests=requests,
        )
        for mode in cpu
    }
