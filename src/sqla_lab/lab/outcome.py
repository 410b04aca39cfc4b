"""What an awaited operation did, for labs that watch things fail: one ``attempt`` for all.

A lab often runs something that may raise (a checkout past the pool's limit, a lazy load in
async code, two tasks on one session) and reports what happened. :func:`attempt` awaits it
and returns an :class:`Outcome`: its value or its exception, and how long it took;
:meth:`Outcome.describe` words it for a table cell.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["OK", "Outcome", "attempt", "describe", "exception_name", "warning_names"]

T = TypeVar("T")

#: The outcome of an operation that raised nothing.
OK = "ok"


def exception_name(exc: BaseException) -> str:
    """The exception's class as ``module.Name``, the way a user would import it."""
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def describe(exc: BaseException) -> str:
    """``module.Name: first line of the message``, as this SQLAlchemy and driver word it."""
    message = str(exc).strip().splitlines()
    return f"{exception_name(exc)}: {message[0]}" if message else exception_name(exc)


@dataclass(frozen=True, kw_only=True)
class Outcome(Generic[T]):
    """What one awaited operation did: its value or its exception, and how long it took."""

    elapsed_s: float
    value: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """Whether the operation succeeded."""
        return self.error is None

    @property
    def error_name(self) -> str | None:
        """The exception's qualified class name, if it failed."""
        return exception_name(self.error) if self.error is not None else None

    def describe(self, *, detail: bool = False) -> str:
        """:data:`OK`, or the exception's name (with its message's first line if ``detail``)."""
        if self.error is None:
            return OK
        return describe(self.error) if detail else exception_name(self.error)


async def attempt(action: Awaitable[T] | Callable[[], Awaitable[T]]) -> Outcome[T]:
    """Await ``action`` (an awaitable, or a function returning one) and record what it did.

    ``Exception`` subclasses are caught and recorded; ``CancelledError`` and other
    ``BaseException`` pass through, so a cancelled lab still stops.
    """
    started = time.perf_counter()
    try:
        value = await (action() if callable(action) else action)
    except Exception as exc:
        return Outcome(elapsed_s=time.perf_counter() - started, error=exc)
    return Outcome(elapsed_s=time.perf_counter() - started, value=value)


def warning_names(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    """``Category: message`` for each distinct warning caught, in order."""
    seen: dict[str, None] = {}
    for item in caught:
        seen[f"{item.category.__name__}: {item.message}"] = None
    return tuple(seen)
