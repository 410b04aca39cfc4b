"""Small helpers the sessions and states labs share: naming exceptions and warnings."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable

__all__ = ["OK", "attempt", "exception_name", "warning_names"]

#: The outcome of an operation that raised nothing.
OK = "ok"


def exception_name(exc: BaseException) -> str:
    """The exception's class as ``module.Name``, the way a user would import it."""
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


async def attempt(action: Callable[[], Awaitable[object]]) -> str:
    """Run ``action``; :data:`OK` if it succeeded, else the name of what it raised."""
    try:
        await action()
    except Exception as exc:
        return exception_name(exc)
    return OK


def warning_names(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    """``Category: message`` for each distinct warning caught, in order."""
    seen: dict[str, None] = {}
    for item in caught:
        seen[f"{item.category.__name__}: {item.message}"] = None
    return tuple(seen)
