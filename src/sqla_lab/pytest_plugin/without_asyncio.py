"""Stand-ins for the asyncio fixtures when pytest-asyncio is not installed (or is disabled).

Asking for one fails the test with one line that says what to install; every other fixture
(the server, ``db_url``, the sync engine and session, the assertion fixtures) works.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

__all__ = ["db_engine", "db_session", "db_sessionmaker"]


def _needs_asyncio(fixture: str) -> NoReturn:
    pytest.fail(
        f"sqla-lab: the {fixture} fixture needs pytest-asyncio, which is not installed or is "
        "disabled (pip install pytest-asyncio); sync tests use db_sync_session and "
        "db_sync_engine",
        pytrace=False,
    )


@pytest.fixture
def db_engine() -> NoReturn:
    """The shared ``AsyncEngine`` (needs pytest-asyncio)."""
    _needs_asyncio("db_engine")


@pytest.fixture
def db_sessionmaker() -> NoReturn:
    """The ``async_sessionmaker`` of ``db_session`` (needs pytest-asyncio)."""
    _needs_asyncio("db_sessionmaker")


@pytest.fixture
def db_session() -> NoReturn:
    """An ``AsyncSession`` rolled back after the test (needs pytest-asyncio)."""
    _needs_asyncio("db_session")
