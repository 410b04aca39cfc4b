"""Timing helpers shared by the labs.

Variants are measured interleaved (A, B, C, A, B, C, ...) rather than one block after the
other, so that drift on a shared, noisy machine spreads evenly over all of them and their
ratio stays meaningful even when absolute times move.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from sqla_lab.lab.context import NullProgress, Progress

__all__ = [
    "AsyncAction",
    "sample_interleaved",
    "timed",
]

AsyncAction = Callable[[], Awaitable[object]]


async def timed(action: AsyncAction) -> float:
    """Run ``action`` once and return its wall time in milliseconds."""
    started = time.perf_counter()
    await action()
    return (time.perf_counter() - started) * 1000.0


async def sample_interleaved(
    variants: Mapping[str, AsyncAction],
    *,
    repetitions: int,
    warmup: int = 5,
    progress: Progress | None = None,
    description: str = "measuring",
) -> dict[str, list[float]]:
    """Time each variant ``repetitions`` times, round-robin, after ``warmup`` untimed rounds.

    Returns:
        Milliseconds per run, per variant name.
    """
    sink = progress or NullProgress()
    for _ in range(warmup):
        for action in variants.values():
            await action()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    sink.start(description, repetitions)
    for _ in range(repetitions):
        for name, action in variants.items():
            samples[name].append(await timed(action))
        sink.advance()
    return samples
