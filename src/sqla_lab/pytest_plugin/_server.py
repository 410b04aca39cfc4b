"""The test server and the test session's own database, behind the session-scoped fixtures.

Imported by the fixtures when a test first asks for the database, never when pytest starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import MetaData

from sqla_lab.errors import SqlaLabError
from sqla_lab.postgres import PostgresServer, server_from_url
from sqla_lab.pytest_plugin._failure import one_line
from sqla_lab.pytest_plugin._metadata import create_tables
from sqla_lab.workspace import Workspace

__all__ = ["test_database", "test_server"]


@contextmanager
def test_server(server_settings: dict[str, str]) -> Iterator[PostgresServer]:
    """The embedded server, or the one ``SQLA_LAB_DATABASE_URL``/``DATABASE_URL`` names.

    ``server_settings`` are given to an embedded server only.
    """
    url = os.environ.get("SQLA_LAB_DATABASE_URL") or os.environ.get("DATABASE_URL") or None
    try:
        server = server_from_url(
            url,
            version=os.environ.get("SQLA_LAB_PG_VERSION", "18"),
            bin_dir=os.environ.get("SQLA_LAB_PG_BIN") or None,
            server_settings=server_settings,
        )
        server.__enter__()
    except SqlaLabError as exc:
        raise one_line(exc) from None
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


@contextmanager
def test_database(server: PostgresServer, metadatas: Sequence[MetaData]) -> Iterator[Workspace]:
    """A workspace for this test session with the tables of ``metadatas``; dropped on exit."""
    workspace = Workspace(server, purpose="pytest")
    try:
        workspace.__enter__()
    except SqlaLabError as exc:
        raise one_line(exc) from None
    try:
        try:
            create_tables(workspace.sync_url, metadatas, schema=workspace.schema)
        except SqlaLabError as exc:
            raise one_line(exc) from None
        yield workspace
    finally:
        workspace.__exit__(None, None, None)
