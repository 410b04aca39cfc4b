"""A fixture's failure as sqla-lab's one-line message: no traceback, no chained exception."""

from __future__ import annotations

import pytest

from sqla_lab.errors import SqlaLabError

__all__ = ["one_line"]


def one_line(exc: SqlaLabError) -> BaseException:
    """What to ``raise ... from None`` for ``exc``: pytest shows its message alone."""
    return pytest.fail.Exception(f"sqla-lab: {exc}", pytrace=False)
