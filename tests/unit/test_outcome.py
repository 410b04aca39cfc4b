"""The labs' helpers for naming what an operation raised."""

from __future__ import annotations

import warnings

from sqlalchemy.exc import InvalidRequestError

from sqla_lab.lab.outcome import OK, attempt, describe, exception_name, warning_names


async def _fails() -> None:
    raise InvalidRequestError("first line\nsecond line")


async def _succeeds() -> None:
    return None


async def test_attempt_names_the_exception_or_says_ok() -> None:
    succeeded = await attempt(_succeeds)
    assert succeeded.ok
    assert succeeded.describe() == OK
    failed = await attempt(_fails)
    assert not failed.ok
    assert isinstance(failed.error, InvalidRequestError)
    assert failed.error_name == "sqlalchemy.exc.InvalidRequestError"
    assert failed.describe() == "sqlalchemy.exc.InvalidRequestError"
    assert failed.describe(detail=True) == "sqlalchemy.exc.InvalidRequestError: first line"


async def test_attempt_takes_an_awaitable_too_and_keeps_the_value() -> None:
    async def answer() -> int:
        return 42

    outcome = await attempt(answer())
    assert outcome.value == 42
    assert outcome.elapsed_s >= 0


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
