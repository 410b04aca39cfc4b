"""Translate failures into HTTP answers, in one place.

The service's error contract::

    unknown id                        404  {"detail": "user 7 not found"}
    invalid input (body, path, query) 422  FastAPI's validation report
    method not allowed                405  + Allow: every method the path answers
    pool exhausted                    503  + Retry-After, raised after ``pool_timeout``
    database down / refusing us       503  + Retry-After
    statement timeout (57014)         504
    request deadline passed           504  (``request_timeout``: never a hang)
    commit not confirmed              503/504 "outcome_unknown": the write may have been saved
    any other database error          500  {"detail": "internal database error"}

Bodies are short fixed sentences: never the SQL, the driver's message, a stack trace or the
URL (and so never the password). The log gets the error class and SQLSTATE, not the message:
driver messages can quote parameters.

A write whose ``COMMIT`` was sent but not answered (the connection broke, the deadline passed)
may or may not have been saved: only the database knows. It is answered with
``"error": "outcome_unknown"`` instead of the usual kind, so a client knows to check before
retrying; every other error guarantees that nothing was written.
"""

from __future__ import annotations

import enum
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqla_lab.service.schemas import ErrorOut, NotFoundOut

__all__ = [
    "QUERY_CANCELED",
    "CommitOutcomeUnknown",
    "DatabaseFailure",
    "DeadlineExceeded",
    "NotFound",
    "classify",
    "commit_may_have_happened",
    "documented_errors",
    "install_error_handlers",
]

logger = logging.getLogger("sqla_lab.service")

#: PostgreSQL ``query_canceled``: statement_timeout (or a cancel request) fired.
QUERY_CANCELED = "57014"
#: SQLSTATE classes meaning "the server is not there for us": connection exceptions,
#: invalid authorization, operator intervention (shutdown, starting up).
_UNAVAILABLE_CLASSES = ("08", "28", "57P")
#: SQLSTATE classes after which a COMMIT may or may not have happened on the server.
_UNCONFIRMED_CLASSES = ("08", "57P")


class NotFound(Exception):
    """An entity the request names does not exist."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class DeadlineExceeded(Exception):
    """The request's database work did not finish within ``request_timeout`` seconds."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request did not finish in {seconds:g} s")
        self.seconds = seconds


class CommitOutcomeUnknown(Exception):
    """A write's ``COMMIT`` was sent, but its answer never came back.

    Attributes:
        cause: what interrupted it (a :class:`DeadlineExceeded` or a database error).
    """

    def __init__(self, cause: BaseException) -> None:
        super().__init__("the database did not confirm the commit")
        self.cause = cause


class DatabaseFailure(enum.Enum):
    """What kind of database failure an exception is, for the HTTP answer."""

    POOL_EXHAUSTED = "pool_exhausted"
    STATEMENT_TIMEOUT = "statement_timeout"
    UNAVAILABLE = "unavailable"
    DEADLINE = "deadline"
    OTHER = "other"


@dataclass(frozen=True)
class _Answer:
    status: int
    detail: str
    retry: bool = False


_ANSWERS = {
    DatabaseFailure.POOL_EXHAUSTED: _Answer(
        503, "no database connection available; retry later", retry=True
    ),
    DatabaseFailure.STATEMENT_TIMEOUT: _Answer(504, "the database did not answer in time"),
    DatabaseFailure.UNAVAILABLE: _Answer(503, "the database is unavailable", retry=True),
    DatabaseFailure.DEADLINE: _Answer(504, "the request did not finish in time"),
    DatabaseFailure.OTHER: _Answer(500, "internal database error"),
}
_OUTCOME_UNKNOWN = "the database did not confirm the write: it may or may not have been saved"


def _sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def classify(error: BaseException) -> DatabaseFailure:
    """Sort a database-layer exception into one of the :class:`DatabaseFailure` kinds."""
    if isinstance(error, DeadlineExceeded):
        return DatabaseFailure.DEADLINE
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


def commit_may_have_happened(error: BaseException) -> bool:
    """Whether a ``COMMIT`` that failed with ``error`` may still have been applied.

    An answer from the server with a SQLSTATE outside connection failures and operator
    intervention (say, a serialization failure) means it rolled back; anything else (the
    connection broke, the deadline passed) leaves the outcome unknown.
    """
    state = _sqlstate(error)
    return state is None or state.startswith(_UNCONFIRMED_CLASSES)


def _retry_after_seconds(pool_timeout: float) -> str:
    return str(max(1, math.ceil(pool_timeout)))


def documented_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer (besides 422)."""
    descriptions = {
        404: ("The user does not exist.", NotFoundOut),
        500: ("Any other database error.", ErrorOut),
        503: (
            "No connection in time (pool_exhausted), database unavailable, or a commit not "
            "confirmed (outcome_unknown); see Retry-After.",
            ErrorOut,
        ),
        504: (
            "Statement timeout, the request's deadline passed, or a commit not confirmed "
            "(outcome_unknown).",
            ErrorOut,
        ),
    }
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, model = descriptions[status]
        responses[status] = {"description": description, "model": model}
    return responses


def _allowed_methods(routes: Sequence[APIRoute], path: str) -> list[str]:
    """Every method some route answers for ``path`` (Starlette names only the first route's)."""
    allowed: set[str] = set()
    for route in routes:
        if route.path_regex.match(path):
            allowed.update(route.methods or ())
    return sorted(allowed)


def _without_unencodable(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The validation errors minus their ``input`` where JSON or UTF-8 cannot carry it."""
    cleaned = []
    for error in errors:
        try:
            json.dumps(error, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except (ValueError, TypeError):
            error = {key: value for key, value in error.items() if key not in ("input", "ctx")}
        cleaned.append(error)
    return cleaned


def install_error_handlers(
    app: FastAPI, *, pool_timeout: float, routes: Sequence[APIRoute] = ()
) -> None:
    """Register the handlers of the error contract on ``app``.

    Args:
        app: the app.
        pool_timeout: the pool's timeout, for ``Retry-After``.
        routes: the app's routes, for the ``Allow`` header of a 405.
    """
    retry_after = _retry_after_seconds(pool_timeout)

    async def not_found(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, NotFound)
        return JSONResponse({"detail": f"{error.what} not found"}, status_code=404)

    def answer(request: Request, failure: DatabaseFailure, error: BaseException) -> JSONResponse:
        found = _ANSWERS[failure]
        logger.warning(
            "%s %s -> %d (%s: %s, sqlstate=%s)",
            request.method,
            request.url.path,
            found.status,
            failure.value,
            type(error).__name__,
            _sqlstate(error),
        )
        return JSONResponse(
            {"detail": found.detail, "error": failure.value},
            status_code=found.status,
            headers={"Retry-After": retry_after} if found.retry else None,
        )

    async def database_error(request: Request, error: Exception) -> JSONResponse:
        return answer(request, classify(error), error)

    async def outcome_unknown(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, CommitOutcomeUnknown)
        failure = classify(error.cause)
        status = 504 if failure is DatabaseFailure.DEADLINE else 503
        logger.warning(
            "%s %s -> %d (outcome_unknown after %s: %s, sqlstate=%s)",
            request.method,
            request.url.path,
            status,
            failure.value,
            type(error.cause).__name__,
            _sqlstate(error.cause),
        )
        return JSONResponse(
            {"detail": _OUTCOME_UNKNOWN, "error": "outcome_unknown"},
            status_code=status,
            headers={"Retry-After": retry_after} if status == 503 else None,
        )

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        detail = _without_unencodable(jsonable_encoder(error.errors()))
        return JSONResponse({"detail": detail}, status_code=422)

    async def http_error(request: Request, error: Exception) -> Any:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 405:
            allow = ", ".join(_allowed_methods(routes, request.url.path))
            return JSONResponse({"detail": error.detail}, status_code=405, headers={"Allow": allow})
        return await http_exception_handler(request, error)

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(CommitOutcomeUnknown, outcome_unknown)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for kind in (DeadlineExceeded, sa_exc.SQLAlchemyError, OSError, TimeoutError):
        app.add_exception_handler(kind, database_error)
