"""Timing helpers shared by the labs.

Variants are measured interleaved (A, B, C, B, C, A, C, A, B, ...) rather than one block after
the other, so that drift on a shared, noisy machine spreads evenly over all of them and their
ratio stays meaningful even when absolute times move. Each round starts one variant later than
the one before, so no variant is always the first (or the one after the slowest) of its round.
The samples of one round share an index: :mod:`sqla_lab.lab.stats` pairs them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from sqla_lab.lab.context import NullProgress, Progress
from sqla_lab.lab.messages import N_, Message

__all__ = [
    "MEASURING",
    "AsyncAction",
    "sample_interleaved",
    "timed",
]

AsyncAction = Callable[[], Awaitable[object]]
#: What a measuring phase is called when its lab names it nothing better.
MEASURING = N_("measuring")


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
    description: str | Message = MEASURING,
) -> dict[str, list[float]]:
    """Time each variant ``repetitions`` times, round-robin, after ``warmup`` untimed rounds.

    Returns:
        Milliseconds per run, per variant name; index ``i`` of every list is round ``i``.
    """
    sink = progress or NullProgress()
    for _ in range(warmup):
        for action in variants.values():
            await action()
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    sink.start(description, repetitions)
    for round_index in range(repetitions):
        start = round_index % len(names) if names else 0
        for name in names[start:] + names[:start]:
            samples[name].append(await timed(variants[name]))
        sink.advance()
    return samples
