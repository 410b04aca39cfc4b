"""Small helpers the sessions and states labs share: naming exceptions and warnings."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable

__all__ = ["OK", "attempt", "describe", "exception_name", "warning_names"]

#: The outcome of an operation that raised nothing.
OK = "ok"


def exception_name(exc: BaseException) -> str:
    """The exception's class as ``module.Name``, the way a user would import it."""
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def describe(exc: BaseException) -> str:
    """``module.Name: first line of the message``, as this SQLAlchemy and driver word it."""
    message = str(exc).strip().splitlines()
    return f"{exception_name(exc)}: {message[0]}" if message else exception_name(exc)


async def attempt(action: Callable[[], Awaitable[object]], *, detail: bool = False) -> str:
    """Run ``action``; :data:`OK` if it succeeded, else what it raised.

    Args:
        action: the coroutine function to run.
        detail: give the first line of the message too, not only the exception's name.
    """
    try:
        await action()
    except Exception as exc:
        return describe(exc) if detail else exception_name(exc)
    return OK


def warning_names(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    """``Category: message`` for each distinct warning caught, in order."""
    seen: dict[str, None] = {}
    for item in caught:
        seen[f"{item.category.__name__}: {item.message}"] = None
    return tuple(seen)
