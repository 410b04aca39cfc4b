"""What a worker process is asked to do, and what it answers: plain JSON-ready values.

The lab process and its worker processes (:mod:`._worker`) share these types; they cross the
process boundary as one JSON line each, so everything here is a frozen dataclass of JSON
scalars with ``to_dict``/``from_dict``. :class:`EngineSpec` is also what turns a variant's
name ("asyncpg statement_cache_size=0", "NullPool") into ``create_async_engine`` arguments,
in both processes, so a variant means the same thing wherever it runs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

__all__ = [
    "EngineSpec",
    "ErrorCount",
    "Job",
    "JobKind",
    "JobResult",
    "describe_error",
    "merge_errors",
    "select_pair",
    "unique_statement_name",
]

JobKind = Literal["select", "insert", "http"]

#: asyncpg's generated names (``__asyncpg_stmt_1a__``) and UUIDs differ per run: one shape.
_VOLATILE = re.compile(
    r"__asyncpg_[0-9a-zA-Z_-]+__|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


_SELECT_HOLD = text("SELECT pg_sleep(:hold_s), CAST(:n AS integer)")
_SELECT_NEXT = text("SELECT CAST(:n AS integer) + 1")


async def select_pair(engine: AsyncEngine, n: int, hold_s: float = 0.0) -> None:
    """One request: check a connection out, run two different statements, give it back.

    Two statement texts, so a prepared statement found under the wrong name shows up as a
    wrong result shape, not only as a missing statement.
    """
    async with engine.connect() as conn:
        await conn.execute(_SELECT_HOLD, {"hold_s": hold_s, "n": n})
        await conn.execute(_SELECT_NEXT, {"n": n})


def unique_statement_name() -> str:
    """A prepared-statement name no other process will ever use (SQLAlchemy's recipe)."""
    return f"__asyncpg_{uuid.uuid4()}__"


@dataclass(frozen=True, kw_only=True)
class EngineSpec:
    """How a worker builds its engine.

    Attributes:
        pool: ``queue`` (SQLAlchemy's default QueuePool) or ``null`` (NullPool).
        pool_size: QueuePool's ``pool_size``.
        max_overflow: QueuePool's ``max_overflow``.
        prepared_statement_cache_size: SQLAlchemy's asyncpg-dialect cache (``None``: default).
        statement_cache_size: asyncpg's own statement cache (``None``: default).
        unique_statement_names: ``prepared_statement_name_func`` giving UUID names.
        synchronous_commit: sent as a server setting at connect (``None``: the server's).
    """

    pool: Literal["queue", "null"] = "queue"
    pool_size: int = 5
    max_overflow: int = 0
    prepared_statement_cache_size: int | None = None
    statement_cache_size: int | None = None
    unique_statement_names: bool = False
    synchronous_commit: str | None = None

    @property
    def connections(self) -> int | None:
        """The most connections one engine may hold open (``None``: unbounded, NullPool)."""
        return None if self.pool == "null" else self.pool_size + self.max_overflow

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``create_async_engine``."""
        connect_args: dict[str, Any] = {}
        if self.prepared_statement_cache_size is not None:
            connect_args["prepared_statement_cache_size"] = self.prepared_statement_cache_size
        if self.statement_cache_size is not None:
            connect_args["statement_cache_size"] = self.statement_cache_size
        if self.unique_statement_names:
            connect_args["prepared_statement_name_func"] = unique_statement_name
        if self.synchronous_commit is not None:
            connect_args["server_settings"] = {"synchronous_commit": self.synchronous_commit}
        kwargs: dict[str, Any] = {"connect_args": connect_args}
        if self.pool == "null":
            kwargs["poolclass"] = NullPool
        else:
            kwargs.update(pool_size=self.pool_size, max_overflow=self.max_overflow)
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True, kw_only=True)
class Job:
    """One worker's share of a run.

    Attributes:
        kind: ``select`` (check out, two statements, give back), ``insert`` (one row into
            ``table`` per transaction) or ``http`` (``GET /users/{id}`` on a service).
        url: the database URL (with password) or the service's base URL.
        engine: how to build the engine (database jobs).
        concurrency: tasks running requests side by side in the worker.
        duration_s: how long to run; ``None`` runs until the lab says stop.
        hold_ms: ``pg_sleep`` inside each select, so connections are held like real queries.
        table: the table an ``insert`` job writes to.
        max_user_id: ids an ``http`` job asks for are drawn from 1..max_user_id.
        stagger_ms: task ``i`` starts ``i * stagger_ms`` after the first, so new connections
            arrive one by one (an asyncio server accepts a burst in whichever worker wakes).
    """

    kind: JobKind
    url: str
    engine: EngineSpec = field(default_factory=EngineSpec)
    concurrency: int = 1
    duration_s: float | None = 1.0
    hold_ms: float = 0.0
    table: str | None = None
    max_user_id: int = 1
    stagger_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        data = asdict(self)
        data["engine"] = self.engine.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """Inverse of :meth:`to_dict`."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["engine"] = EngineSpec.from_dict(data.get("engine", {}))
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class ErrorCount:
    """One kind of failure and how often it happened.

    Attributes:
        error: the exception class the application saw (``module.Name``), or ``HTTP 503``.
        driver_error: the asyncpg exception under it, if any.
        sqlstate: PostgreSQL's SQLSTATE, if the server sent one.
        message: the first message of this kind, with generated names made uniform.
        count: how many requests failed this way.
    """

    error: str
    driver_error: str | None
    sqlstate: str | None
    message: str
    count: int

    @property
    def kind(self) -> tuple[str, str | None, str | None]:
        """What makes two failures the same kind."""
        return (self.error, self.driver_error, self.sqlstate)

    def label(self) -> str:
        """``Error (driver error, SQLSTATE)`` for tables."""
        parts = [p for p in (self.driver_error, self.sqlstate) if p]
        return f"{self.error} ({', '.join(parts)})" if parts else self.error

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorCount:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def _qualified(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def describe_error(exc: BaseException) -> ErrorCount:
    """Name what the application saw, the asyncpg error under it and its SQLSTATE."""
    driver: BaseException | None = None
    sqlstate: str | None = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if sqlstate is None and isinstance(getattr(current, "sqlstate", None), str):
            sqlstate = current.sqlstate  # type: ignore[attr-defined] # checked just above
        if driver is None and type(current).__module__.startswith("asyncpg"):
            driver = current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    lines = str(exc).strip().splitlines()
    message = _VOLATILE.sub("__asyncpg_NAME__", lines[0]) if lines else ""
    return ErrorCount(
        error=_qualified(exc),
        driver_error=_qualified(driver) if driver is not None else None,
        sqlstate=sqlstate,
        message=message,
        count=1,
    )


def merge_errors(groups: Iterable[Iterable[ErrorCount]]) -> tuple[ErrorCount, ...]:
    """Add up counts of the same kind, most frequent first; keep the first message seen."""
    merged: dict[tuple[str, str | None, str | None], ErrorCount] = {}
    for group in groups:
        for item in group:
            known = merged.get(item.kind)
            merged[item.kind] = (
                item
                if known is None
                else ErrorCount(**{**known.to_dict(), "count": known.count + item.count})
            )
    return tuple(sorted(merged.values(), key=lambda e: (-e.count, e.error)))


@dataclass(frozen=True, kw_only=True)
class JobResult:
    """What one worker measured.

    Attributes:
        pid: the worker's process id.
        requests: requests that succeeded.
        errors: requests that failed, by kind.
        first_error_after: successful requests before the worker's first failure.
        latencies_ms: time of each successful request.
        connections_opened: new DBAPI connections the worker's pool opened.
        elapsed_s: how long the worker ran.
    """

    pid: int
    requests: int
    errors: tuple[ErrorCount, ...]
    first_error_after: int | None
    latencies_ms: tuple[float, ...]
    connections_opened: int
    elapsed_s: float

    @property
    def failures(self) -> int:
        """Requests that failed."""
        return sum(e.count for e in self.errors)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        data = asdict(self)
        data["errors"] = [e.to_dict() for e in self.errors]
        data["latencies_ms"] = [round(v, 4) for v in self.latencies_ms]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            pid=int(data["pid"]),
            requests=int(data["requests"]),
            errors=tuple(ErrorCount.from_dict(e) for e in data["errors"]),
            first_error_after=data["first_error_after"],
            latencies_ms=tuple(float(v) for v in data["latencies_ms"]),
            connections_opened=int(data["connections_opened"]),
            elapsed_s=float(data["elapsed_s"]),
        )
