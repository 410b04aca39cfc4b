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

A message may be a template and its values, so the command line can print it in the user's
language: ``ConfigurationError(N_("unknown lab {names}"), names="x")``; ``str(error)`` is the
English text, :meth:`SqlaLabError.render` the translated one.
"""

from __future__ import annotations

from collections.abc import Callable

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

    The message is a single line meant for a human; the CLI prints it (translated, when it
    was given as a template with values).

    Args:
        message: the text, or a ``str.format`` template when ``values`` are given.
        **values: what fills the template (names, paths, numbers: never translated).
    """

    exit_code: int = 1

    def __init__(self, message: str = "", /, **values: object) -> None:
        self.template = message
        self.values = values
        super().__init__(message.format(**values) if values else message)

    def render(self, translate: Callable[[str], str] | None = None) -> str:
        """The message in the language of ``translate`` (English without one)."""
        if translate is None or not self.template:
            return str(self)
        template = translate(self.template)
        return template.format(**self.values) if self.values else template


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
