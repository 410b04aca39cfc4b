"""Workspaces: the database (or schema) sqla-lab creates on a server, works in, and drops.

sqla-lab never writes into a database it did not create. Every lab, command and test fixture
works in a workspace::

    with Workspace(server, purpose="run") as workspace:   # CREATE DATABASE sqla_lab_run_1a2b...
        engine = create_async_engine(workspace.url)        # ... work there ...
                                                           # DROP DATABASE on exit

The user's database (the one ``DATABASE_URL`` names) is used only to connect and run
``CREATE DATABASE``. Where the role may not create databases, the workspace is a schema
``sqla_lab_<random>`` in the user's database instead, and :attr:`Workspace.url` carries
``search_path`` (see :mod:`sqla_lab.urls`), so every connection made from it works in the
schema. Where the role may create neither, :class:`~sqla_lab.errors.ConfigurationError` names
the missing privilege before anything is written.

Each workspace carries a comment naming its owner (host, pid and process start time). A run
that was killed leaves its workspace behind; the next workspace created on that server drops
those whose owner is gone, and never one whose owner is alive (:func:`sweep_workspaces`).

A workspace can also be *kept* on purpose (``seed`` and ``serve`` ``--keep-database NAME``): a
database sqla-lab creates and marks as kept, or one that already exists and is either marked
as sqla-lab's or holds no tables at all. Kept databases are never swept nor dropped.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from sqla_lab.errors import ConfigurationError, DatabaseUnavailable
from sqla_lab.postgres import PostgresServer, Status, describe_url, first_line
from sqla_lab.translation import N_
from sqla_lab.urls import libpq_conninfo, search_path_of, with_database, with_search_path

__all__ = [
    "KEPT_MARK",
    "TABLE_MARK",
    "WORKSPACE_MARK",
    "WORKSPACE_PREFIX",
    "Owner",
    "Workspace",
    "WorkspaceKind",
    "sweep_workspaces",
]

#: Every workspace's name starts with this.
WORKSPACE_PREFIX = "sqla_lab_"
#: The comment of a workspace starts with this; the rest names its owner.
WORKSPACE_MARK = "sqla-lab workspace"
#: The comment on every table sqla-lab creates in a kept database.
TABLE_MARK = "sqla-lab table"
#: The comment of a database kept on purpose (never swept, never dropped by sqla-lab).
KEPT_MARK = "sqla-lab database, kept"

WorkspaceKind = Literal["database", "schema"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_OWNER = re.compile(r"host=(?P<host>\S+) pid=(?P<pid>\d+) start=(?P<start>\d+)")
_CONNECT_TIMEOUT_S = 10


def _process_start(pid: int) -> int:
    """When process ``pid`` started (clock ticks since boot), 0 where /proc cannot tell.

    Together with the pid it names a process uniquely: a recycled pid has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else 0


@dataclass(frozen=True, kw_only=True)
class Owner:
    """The process that created a workspace."""

    host: str
    pid: int
    start: int

    @classmethod
    def current(cls) -> Owner:
        """This process."""
        pid = os.getpid()
        return cls(host=socket.gethostname(), pid=pid, start=_process_start(pid))

    @classmethod
    def parse(cls, comment: str | None) -> Owner | None:
        """Read the owner out of a workspace comment; ``None`` if it is not one."""
        if not comment or not comment.startswith(WORKSPACE_MARK):
            return None
        match = _OWNER.search(comment)
        if match is None:
            return None
        return cls(host=match["host"], pid=int(match["pid"]), start=int(match["start"]))

    def describe(self) -> str:
        """The owner part of a workspace comment."""
        return f"host={self.host} pid={self.pid} start={self.start}"

    def is_gone(self) -> bool:
        """Whether this owner certainly no longer runs (only decidable on its own host)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        start = _process_start(self.pid)
        return bool(start and self.start and start != self.start)


def _connect(url: URL) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(
            libpq_conninfo(url), autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S
        )
    except (psycopg.Error, OSError) as exc:
        raise DatabaseUnavailable(
            N_("cannot connect to {url}: {reason}"), url=describe_url(url), reason=first_line(exc)
        ) from None


def _drop_database(conn: psycopg.Connection[Any], name: str) -> None:
    ident = sql.Identifier(name)
    if conn.info.server_version >= 130000:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        return
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))


def sweep_workspaces(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop the workspaces on this server whose owner process is gone.

    Looks at databases, and at schemas of the database ``conn`` is connected to, whose name
    starts with ``sqla_lab_`` and whose comment is a workspace comment. Workspaces of a live
    owner, of another host, kept databases and anything the role may not drop stay.

    Returns:
        The names dropped.
    """
    dropped: list[str] = []
    databases = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname LIKE 'sqla\\_lab\\_%'"
    ).fetchall()
    for name, comment in databases:
        owner = Owner.parse(comment)
        if owner is None or not owner.is_gone():
            continue
        try:
            _drop_database(conn, name)
        except psycopg.Error:
            continue  # another role's workspace, or in use: not ours to force
        dropped.append(name)
    schemas = conn.execute(
        "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace "
        "WHERE nspname LIKE 'sqla\\_lab\\_%'"
    ).fetchall()
    for name, comment in schemas:
        owner = Owner.parse(comment)
        if owner is None or not owner.is_gone():
            continue
        try:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        except psycopg.Error:
            continue
        dropped.append(name)
    return dropped


class Workspace(PostgresServer):
    """A database (or schema) of sqla-lab's own on ``server``, for one run or kept on purpose.

    A :class:`~sqla_lab.postgres.PostgresServer` whose :attr:`url`, :attr:`dsn` and
    :attr:`sync_url` lead into the workspace, so anything that takes a server can be given a
    workspace instead. Entering creates it (and sweeps abandoned ones); leaving drops it,
    unless it is kept.

    Args:
        server: a running server (embedded or existing).
        purpose: a short word put in the name (``run``, ``seed``, ``pytest``, ...).
        keep: keep the data in this database (created if missing, never dropped).

    Raises:
        ConfigurationError: the role may create neither a database nor a schema; or ``keep``
            names a database that holds tables sqla-lab did not create.
    """

    def __init__(self, server: PostgresServer, *, purpose: str = "run", keep: str | None = None):
        if not re.fullmatch(r"[a-z0-9]{1,20}", purpose):
            raise ValueError(f"purpose must be 1-20 lowercase letters or digits: {purpose!r}")
        if keep is not None and not _NAME.match(keep):
            raise ConfigurationError(
                N_(
                    "database name {keep!r}: use lowercase letters, digits and "
                    "underscores (at most 63, starting with a letter)"
                ),
                keep=keep,
            )
        self.server = server
        self.purpose = purpose
        self.keep = keep
        self.embedded = server.embedded
        self.kind: WorkspaceKind = "database"
        self.name = keep or f"{WORKSPACE_PREFIX}{purpose}_{secrets.token_hex(5)}"
        self.owner = Owner.current()
        self._status = Status.STOPPED
        self._created = False

    # -- PostgresServer ------------------------------------------------------------------
    @property
    def url(self) -> URL:
        """The asyncpg URL into the workspace."""
        base = self.server.url
        if self.kind == "schema":
            return with_search_path(base, self.name)
        url = with_database(base, self.name)
        if search_path_of(url) is not None:
            # The user's search_path names schemas of their database, not of ours.
            url = url.difference_update_query(["search_path"])
        return url

    @property
    def status(self) -> Status:
        return self._status

    @property
    def schema(self) -> str | None:
        """The schema connections work in, for a workspace that is a schema."""
        return self.name if self.kind == "schema" else None

    @property
    def kept(self) -> bool:
        """Whether the workspace outlives this process on purpose."""
        return self.keep is not None

    def start(self) -> None:
        """Create the workspace (sweeping abandoned ones first).

        Raises:
            ConfigurationError: the role may not create it, or a kept database is not ours.
        """
        if self._status is Status.RUNNING:
            return
        if self.server.status is not Status.RUNNING:
            self.server.start()
        self.server_version = self.server.server_version
        with _connect(self.server.url) as conn:
            sweep_workspaces(conn)
            if self.keep is not None:
                self._open_kept(conn)
            else:
                self._create(conn)
        self._status = Status.RUNNING

    def stop(self) -> None:
        """Drop the workspace unless it is kept; the server is left as it was."""
        if self._status is not Status.RUNNING:
            return
        self._status = Status.STOPPED
        if not self._created or self.kept:
            return
        with _connect(self.server.url) as conn:
            if self.kind == "database":
                _drop_database(conn, self.name)
            else:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.name))
                )
        self._created = False

    def close(self) -> None:
        """Drop the workspace (unless kept)."""
        self.stop()

    def destroy(self) -> None:
        """Drop the workspace (unless kept)."""
        self.stop()

    def __repr__(self) -> str:
        return f"Workspace({self.kind} {self.name!r} on {self.server.display_url!r})"

    # -- internals -----------------------------------------------------------------------
    def _comment(self) -> str:
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{WORKSPACE_MARK} ({self.purpose}) {self.owner.describe()} created={created}"

    def _create(self, conn: psycopg.Connection[Any]) -> None:
        superuser, createdb = conn.execute(
            "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone() or (False, False)
        if superuser or createdb:
            self.kind = "database"
            ident = sql.Identifier(self.name)
            # template0: a copy of nothing but PostgreSQL's own catalog, whatever the user
            # keeps in template1.
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident))
            self._created = True
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, sql.Literal(self._comment()))
            )
            return
        (may_create_schema,) = conn.execute(
            "SELECT has_database_privilege(current_database(), 'CREATE')"
        ).fetchone() or (False,)
        if not may_create_schema:
            role = conn.info.user
            database = conn.info.dbname
            raise ConfigurationError(
                N_(
                    "role {role!r} may create neither a database (CREATEDB) nor a schema "
                    "in database {database!r} (CREATE on it); sqla-lab writes only into "
                    "a database or schema of its own: ALTER ROLE {role} CREATEDB, or "
                    "GRANT CREATE ON DATABASE {database} TO {role}"
                ),
                role=role,
                database=database,
            )
        self.kind = "schema"
        ident = sql.Identifier(self.name)
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
        self._created = True
        conn.execute(
            sql.SQL("COMMENT ON SCHEMA {} IS {}").format(ident, sql.Literal(self._comment()))
        )

    def _open_kept(self, conn: psycopg.Connection[Any]) -> None:
        self.kind = "database"
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (self.name,),
        ).fetchone()
        if row is None:
            try:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                        sql.Identifier(self.name)
                    )
                )
            except psycopg.errors.InsufficientPrivilege:
                raise ConfigurationError(
                    N_(
                        "cannot create database {name!r}: role {user!r} lacks CREATEDB; "
                        "create it yourself (empty) and pass its name again"
                    ),
                    name=self.name,
                    user=conn.info.user,
                ) from None
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(self.name), sql.Literal(KEPT_MARK)
                )
            )
            return
        comment = row[0] or ""
        if comment.startswith((KEPT_MARK, WORKSPACE_MARK)):
            return
        with _connect(with_database(self.server.url, self.name)) as inside:
            (tables,) = inside.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_toast%%' "
                "AND coalesce(obj_description(c.oid, 'pg_class'), '') NOT LIKE %s",
                (f"{TABLE_MARK}%",),
            ).fetchone() or (0,)
        if tables:
            raise ConfigurationError(
                N_(
                    "database {name!r} was not created by sqla-lab and holds {tables} "
                    "table(s) of its own; sqla-lab keeps data only in a database it "
                    "created or an empty one"
                ),
                name=self.name,
                tables=tables,
            )
