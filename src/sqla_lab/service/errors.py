"""Translate database failures into HTTP answers, in one place.

The service's error contract::

    unknown id                      404  {"detail": "user 7 not found"}
    invalid input                   422  FastAPI's validation report
    pool exhausted                  503  + Retry-After, raised after ``pool_timeout`` (never a hang)
    statement timeout (57014)       504
    database down / refusing us     503
    any other database error        500  {"detail": "internal database error"}

Bodies are short fixed sentences: never the SQL, the driver's message, a stack trace or the
URL (and so never the password). The log gets the error class and SQLSTATE, not the message:
driver messages can quote parameters.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

__all__ = [
    "QUERY_CANCELED",
    "DatabaseFailure",
    "NotFound",
    "classify",
    "install_error_handlers",
]

logger = logging.getLogger("sqla_lab.service")

#: PostgreSQL ``query_canceled``: statement_timeout (or a cancel request) fired.
QUERY_CANCELED = "57014"
#: SQLSTATE classes meaning "the server is not there for us": connection exceptions,
#: invalid authorization, operator intervention (shutdown, starting up).
_UNAVAILABLE_CLASSES = ("08", "28", "57P")


class NotFound(Exception):
    """An entity the request names does not exist."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class DatabaseFailure(enum.Enum):
    """What kind of database failure an exception is, for the HTTP answer."""

    POOL_EXHAUSTED = "pool_exhausted"
    STATEMENT_TIMEOUT = "statement_timeout"
    UNAVAILABLE = "unavailable"
    OTHER = "other"


@dataclass(frozen=True)
class _Answer:
    status: int
    detail: str


_ANSWERS = {
    DatabaseFailure.POOL_EXHAUSTED: _Answer(503, "no database connection available; retry later"),
    DatabaseFailure.STATEMENT_TIMEOUT: _Answer(504, "the database did not answer in time"),
    DatabaseFailure.UNAVAILABLE: _Answer(503, "the database is unavailable"),
    DatabaseFailure.OTHER: _Answer(500, "internal database error"),
}


def _sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def classify(error: BaseException) -> DatabaseFailure:
    """Sort a database-layer exception into one of the :class:`DatabaseFailure` kinds."""
    if isinstance(error, sa_exc.TimeoutError):
        # QueuePool's "QueuePool limit ... reached, connection timed out".
        return DatabaseFailure.POOL_EXHAUSTED
    state = _sqlstate(error)
    if state == QUERY_CANCELED:
        return DatabaseFailure.STATEMENT_TIMEOUT
    if state is not None and state.startswith(_UNAVAILABLE_CLASSES):
        return DatabaseFailure.UNAVAILABLE
    if isinstance(error, OSError | TimeoutError):
        # asyncpg raises ConnectionRefusedError / socket.gaierror / TimeoutError on connect;
        # SQLAlchemy passes these through untranslated.
        return DatabaseFailure.UNAVAILABLE
    if isinstance(error, sa_exc.DBAPIError) and (
        error.connection_invalidated or isinstance(error, sa_exc.InterfaceError)
    ):
        return DatabaseFailure.UNAVAILABLE
    return DatabaseFailure.OTHER


def _retry_after_seconds(pool_timeout: float) -> str:
    return str(max(1, math.ceil(pool_timeout)))


def install_error_handlers(app: FastAPI, *, pool_timeout: float) -> None:
    """Register the handlers of the error contract on ``app``."""

    async def not_found(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, NotFound)
        return JSONResponse({"detail": f"{error.what} not found"}, status_code=404)

    async def database_error(request: Request, error: Exception) -> JSONResponse:
        failure = classify(error)
        answer = _ANSWERS[failure]
        logger.warning(
            "%s %s -> %d (%s: %s, sqlstate=%s)",
            request.method,
            request.url.path,
            answer.status,
            failure.value,
            type(error).__name__,
            _sqlstate(error),
        )
        headers = None
        if failure in (DatabaseFailure.POOL_EXHAUSTED, DatabaseFailure.UNAVAILABLE):
            headers = {"Retry-After": _retry_after_seconds(pool_timeout)}
        return JSONResponse(
            {"detail": answer.detail, "error": failure.value},
            status_code=answer.status,
            headers=headers,
        )

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(sa_exc.SQLAlchemyError, database_error)
    app.add_exception_handler(OSError, database_error)
    app.add_exception_handler(TimeoutError, database_error)
