"""Shared set-up for the benchmark scripts: which server, and how to print a result line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqla_lab.postgres import server_from_url
from sqla_lab.pytest_plugin import TEST_SERVER_SETTINGS
from sqla_lab.workspace import Workspace


@contextmanager
def server() -> Iterator[Workspace]:
    """A database of the benchmark's own on ``DATABASE_URL``'s server when set, else on a
    fresh embedded server (durability off, as in tests); dropped afterwards."""
    running = server_from_url(
        os.environ.get("SQLA_LAB_DATABASE_URL") or os.environ.get("DATABASE_URL"),
        version=os.environ.get("SQLA_LAB_PG_VERSION", "18"),
        server_settings=TEST_SERVER_SETTINGS,
    )
    with running, Workspace(running, purpose="bench") as workspace:
        yield workspace


def row(label: str, value: str) -> None:
    """Print one aligned result line."""
    print(f"  {label:<52} {value}")
