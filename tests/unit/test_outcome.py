"""The labs' helpers for naming what an operation raised."""

from __future__ import annotations

import warnings

from sqlalchemy.exc import InvalidRequestError

from sqla_lab.labs._outcome import OK, attempt, describe, exception_name, warning_names


async def _fails() -> None:
    raise InvalidRequestError("first line\nsecond line")


async def _succeeds() -> None:
    return None


async def test_attempt_names_the_exception_or_says_ok() -> None:
    assert await attempt(_succeeds) == OK
    assert await attempt(_fails) == "sqlalchemy.exc.InvalidRequestError"
    assert await attempt(_fails, detail=True) == "sqlalchemy.exc.InvalidRequestError: first line"


def test_exception_names() -> None:
    assert exception_name(KeyError("x")) == "builtins.KeyError"
    assert describe(ValueError()) == "builtins.ValueError"


def test_warning_names_are_distinct_and_ordered() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("b", DeprecationWarning, stacklevel=1)
        warnings.warn("a", UserWarning, stacklevel=1)
        warnings.warn("b", DeprecationWarning, stacklevel=1)
    assert warning_names(caught) == ("DeprecationWarning: b", "UserWarning: a")
