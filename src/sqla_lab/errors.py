"""Exceptions raised by sqla-lab.

Every error sqla-lab raises on purpose derives from one root, so callers (the CLI above
all) can turn them into a one-line message and an exit code in one place::

    SqlaLabError
    ├── ConfigurationError        bad settings: a malformed DATABASE_URL, an unknown lab name,
    │                             a PostgreSQL version we do not ship
    ├── PostgresError             the database server could not be used
    │   ├── PostgresNotFoundError     no PostgreSQL binaries where we looked
    │   ├── PostgresStartError        initdb or postgres failed (busy port, unwritable dir, ...)
    │   ├── DatabaseUnavailable       a server that should be there cannot be reached or refused
    │   │                             our credentials
    │   └── PgBouncerError            PgBouncer could not be started or its version read
    ├── LabError                  a lab could not produce its result
    └── ExpectationFailed         an instrument's expectation was not met (also an
        │                         AssertionError, so pytest reports it as a failed assert)
        ├── NPlusOneDetected          N+1 loads or unused eager loads were found
        └── QueryBudgetExceeded       more statements than allowed

Driver exceptions (asyncpg, psycopg, OSError) are translated at the boundary, in
:func:`sqla_lab.postgres.probe_async` and :func:`sqla_lab.postgres.probe_sync`, never
scattered across the code.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DatabaseUnavailable",
    "ExpectationFailed",
    "LabError",
    "NPlusOneDetected",
    "PgBouncerError",
    "PostgresError",
    "PostgresNotFoundError",
    "PostgresStartError",
    "QueryBudgetExceeded",
    "SqlaLabError",
]


class SqlaLabError(Exception):
    """Root of every exception sqla-lab raises on purpose.

    The message is a single line meant for a human; the CLI prints it as is.
    """

    exit_code: int = 1


class ConfigurationError(SqlaLabError):
    """The user asked for something that cannot work as configured."""

    exit_code = 2


class PostgresError(SqlaLabError):
    """A PostgreSQL server could not be started, found or used."""

    exit_code = 2


class PostgresNotFoundError(PostgresError):
    """No PostgreSQL binaries were found."""


class PostgresStartError(PostgresError):
    """``initdb`` or ``postgres`` failed to start; the message carries the server's reason."""


class DatabaseUnavailable(PostgresError):
    """A server that should be reachable is not, or it rejected our credentials."""


class PgBouncerError(PostgresError):
    """PgBouncer could not be started, or its version could not be read."""


class LabError(SqlaLabError):
    """A lab failed to produce a result."""


class ExpectationFailed(SqlaLabError, AssertionError):
    """An instrument was asked to enforce an expectation and it did not hold."""


class NPlusOneDetected(ExpectationFailed):
    """The N+1 detector found lazy loads per sibling object or eager loads never used."""


class QueryBudgetExceeded(ExpectationFailed):
    """A block sent more statements than its budget; the message lists them."""
