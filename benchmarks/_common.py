"""Shared set-up for the benchmark scripts: which server, and how to print a result line."""

from __future__ import annotations

import os

from sqla_lab.postgres import PostgresServer, server_from_url
from sqla_lab.pytest_plugin import TEST_SERVER_SETTINGS


def server() -> PostgresServer:
    """``DATABASE_URL`` when set, else a fresh embedded server (durability off, as in tests)."""
    return server_from_url(
        os.environ.get("SQLA_LAB_DATABASE_URL") or os.environ.get("DATABASE_URL"),
        version=os.environ.get("SQLA_LAB_PG_VERSION", "18"),
        server_settings=TEST_SERVER_SETTINGS,
    )


def row(label: str, value: str) -> None:
    """Print one aligned result line."""
    print(f"  {label:<52} {value}")
