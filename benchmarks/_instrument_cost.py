"""Instruction counts of an instrument's overhead, measured with valgrind's callgrind.

Wall and CPU time on a shared machine drift by more than the few per cent an instrument
costs; the number of instructions this process executes does not. :func:`instruction_ratios`
runs this file as a child process under ``valgrind --tool=callgrind`` for a small and a large
number of operations, with and without the instrument, and takes the difference, so start-up
and import costs cancel: what is left is instructions per operation, client side only (the
PostgreSQL server is another process and is not counted). The children run with a fixed
``PYTHONHASHSEED`` and call :func:`gc.freeze` after their warm-up, so that repeated runs
agree.

As a script (what the child runs)::

    python benchmarks/_instrument_cost.py URL {select|checkout} VARIANT COUNT
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VARIANTS = ("none", "QueryRecorder", "NPlusOneDetector", "PoolMonitor")
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


@dataclass(frozen=True)
class InstructionRatio:
    """Client-side instructions per operation with and without an instrument."""

    plain: float
    instrumented: float

    @property
    def ratio(self) -> float:
        return self.instrumented / self.plain


def available() -> bool:
    """Whether valgrind is installed."""
    return shutil.which("valgrind") is not None


def _instructions(url: str, kind: str, variant: str, count: int) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        url,
        kind,
        variant,
        str(count),
    ]
    # A fixed hash seed: with random ones, dict and set layouts (and so the instructions
    # spent probing them) differ from run to run by a few per cent; with one, repeated runs
    # agree to within a few hundred instructions in billions.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    match = _COLLECTED.search(done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def instruction_ratios(
    url: str, kind: str, variants: Sequence[str], *, small: int = 200, large: int = 1200
) -> dict[str, InstructionRatio]:
    """Instructions per ``kind`` operation under each variant versus none (see module doc).

    The valgrind runs are independent processes and instruction counts do not depend on
    what else runs, so they go two at a time.
    """
    jobs = [(name, count) for name in ("none", *variants) for count in (small, large)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(
            zip(jobs, pool.map(lambda job: _instructions(url, kind, *job), jobs), strict=True)
        )
    per_op = {
        name: (counts[name, large] - counts[name, small]) / (large - small)
        for name in ("none", *variants)
    }
    return {
        name: InstructionRatio(plain=per_op["none"], instrumented=per_op[name]) for name in variants
    }


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _pass_through(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> Any:
    return statement, parameters


#: Listeners that do nothing, on the events each instrument listens to: what SQLAlchemy's
#: event machinery alone costs, the floor under an instrument's own work.
_EMPTY_LISTENERS: dict[str, tuple[tuple[str, str, Any, dict[str, Any]], ...]] = {
    "empty engine listeners (QueryRecorder's events)": (
        ("engine", "before_cursor_execute", _pass_through, {"retval": True}),
        ("engine", "after_cursor_execute", _nothing, {}),
        ("engine", "handle_error", _nothing, {}),
    ),
    "empty ORM listeners (NPlusOneDetector's events)": (
        ("session", "do_orm_execute", _nothing, {}),
        ("mapper", "load", _nothing, {"raw": True}),
    ),
    "empty pool listeners (PoolMonitor's events)": tuple(
        ("engine", name, _nothing, {})
        for name in ("connect", "checkout", "checkin", "invalidate", "close")
    ),
}


class _EmptyListeners:
    """Attach the listeners of one :data:`_EMPTY_LISTENERS` entry for the block."""

    def __init__(self, listeners: Any, engine: Any, session: Any) -> None:
        from sqlalchemy.orm import Mapper

        targets = {"engine": engine.sync_engine, "session": session.sync_session, "mapper": Mapper}
        self._listeners = [(targets[t], name, fn, kw) for t, name, fn, kw in listeners]

    def __enter__(self) -> None:
        from sqlalchemy import event

        for target, name, fn, kw in self._listeners:
            event.listen(target, name, fn, **kw)

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        for target, name, fn, _ in self._listeners:
            event.remove(target, name, fn)


async def _run(url: str, kind: str, variant: str, count: int) -> None:
    from contextlib import AbstractContextManager, nullcontext

    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from sqla_lab import NPlusOneDetector, PoolMonitor, QueryRecorder, UserEntity

    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            instrument: AbstractContextManager[object] = nullcontext()
            if variant == "QueryRecorder":
                instrument = QueryRecorder(session)
            elif variant == "NPlusOneDetector":
                instrument = NPlusOneDetector(session, mode="collect")
            elif variant == "PoolMonitor":
                instrument = PoolMonitor(engine)
            elif variant in _EMPTY_LISTENERS:
                instrument = _EmptyListeners(_EMPTY_LISTENERS[variant], engine, session)
            # The same warm-up for every count, so that it cancels in the difference.
            for i in range(50):
                if kind == "select":
                    await session.scalar(select(UserEntity).where(UserEntity.id == 1 + i % 100))
                else:
                    async with engine.connect():
                        pass
            await session.commit()
            # Everything alive now is left out of later collections: otherwise each full
            # collection scans the whole import-time heap, and when one falls inside the
            # measured loop depends on allocation counts, which swamps a per-select count.
            gc.collect()
            gc.freeze()
            with instrument:
                for i in range(count):
                    if kind == "select":
                        stmt = select(UserEntity).where(UserEntity.id == 1 + i % 100)
                        await session.scalar(stmt)
                    else:
                        async with engine.connect():
                            pass
    finally:
        await engine.dispose()


if __name__ == "__main__":
    url_arg, kind_arg, variant_arg, count_arg = sys.argv[1:5]
    asyncio.run(_run(url_arg, kind_arg, variant_arg, int(count_arg)))
