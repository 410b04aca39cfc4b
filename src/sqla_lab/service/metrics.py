"""Prometheus metrics of the demo service, one registry per app (no global registry).

Exposed on ``GET /metrics`` in the Prometheus text format (``prometheus_client``):

* ``sqla_lab_pool_size``, ``sqla_lab_pool_checked_out``, ``sqla_lab_pool_overflow``: read
  from the engine's pool at scrape time.
* ``sqla_lab_pool_checkout_wait_seconds``: how long a request waited for its connection.
* ``sqla_lab_http_requests_total`` and ``sqla_lab_http_request_duration_seconds`` by method,
  route template and status.
* ``sqla_lab_statements_per_request``: SQL statements each request sent, by route.

Interim instruments (say so, and why): the project's ``PoolMonitor`` and ``QueryRecorder`` were
not available on this branch yet, so :class:`RequestStatementCounter` counts statements with
one ``before_cursor_execute`` listener on the engine and a context variable holding the
current request's tally, and the checkout wait is timed around the session's first
``connection()`` call in the dependency. Both are small and removed/replaced without touching
the routes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "MetricsMiddleware",
    "RequestStatementCounter",
    "RequestStats",
    "ServiceMetrics",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_STATEMENT_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 50, 100, 200)


@dataclass
class RequestStats:
    """What one request did to the database; mutated while the request runs."""

    statements: int = 0
    checkout_wait_s: float | None = None


_current_request: ContextVar[RequestStats | None] = ContextVar(
    "sqla_lab_service_request", default=None
)


def current_request_stats() -> RequestStats | None:
    """The running request's :class:`RequestStats`, if a request is running."""
    return _current_request.get()


class RequestStatementCounter:
    """Count every statement the engine sends into the running request's tally.

    SQLAlchemy runs the sync event inside a greenlet that shares the calling task's
    ``contextvars`` context, so the context variable set by the middleware is visible here.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._sync_engine = engine.sync_engine

    def _on_execute(self, *args: Any) -> None:
        stats = _current_request.get()
        if stats is not None:
            stats.statements += 1

    def __enter__(self) -> Self:
        event.listen(self._sync_engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        event.remove(self._sync_engine, "before_cursor_execute", self._on_execute)


class _PoolCollector(Collector):
    """Read the pool's gauges when Prometheus scrapes, so they are never stale."""

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None

    def collect(self) -> Iterator[Metric]:
        pool = self.engine.pool if self.engine is not None else None
        if not isinstance(pool, QueuePool):
            return
        yield GaugeMetricFamily("sqla_lab_pool_size", "Configured pool_size.", value=pool.size())
        yield GaugeMetricFamily(
            "sqla_lab_pool_checked_out",
            "Connections checked out of the pool right now.",
            value=pool.checkedout(),
        )
        # QueuePool.overflow() starts at -pool_size and counts up: clamp to "extra connections".
        yield GaugeMetricFamily(
            "sqla_lab_pool_overflow",
            "Connections open beyond pool_size right now.",
            value=max(0, pool.overflow()),
        )
        yield GaugeMetricFamily(
            "sqla_lab_pool_idle", "Idle connections in the pool.", value=pool.checkedin()
        )


class ServiceMetrics:
    """The service's instruments in their own :class:`CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._pool = _PoolCollector()
        self.registry.register(self._pool)
        self.requests = Counter(
            "sqla_lab_http_requests",
            "HTTP requests answered.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "sqla_lab_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ("method", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.statements = Histogram(
            "sqla_lab_statements_per_request",
            "SQL statements sent while answering one request.",
            ("route",),
            buckets=_STATEMENT_BUCKETS,
            registry=self.registry,
        )
        self.checkout_wait = Histogram(
            "sqla_lab_pool_checkout_wait_seconds",
            "Time a request waited for a pooled connection (including connecting).",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def bind_engine(self, engine: AsyncEngine | None) -> None:
        """Report this engine's pool from now on (``None``: no pool gauges)."""
        self._pool.engine = engine

    def observe(
        self, *, method: str, route: str, status: int, seconds: float, stats: RequestStats
    ) -> None:
        """Record one finished request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if route != "/metrics":
            self.statements.labels(route).observe(stats.statements)
        if stats.checkout_wait_s is not None:
            self.checkout_wait.observe(stats.checkout_wait_s)


class MetricsMiddleware:
    """Pure ASGI middleware: time each request and give it a :class:`RequestStats`.

    Pure ASGI rather than ``BaseHTTPMiddleware`` so the route runs in this task and sees
    the context variable, with no extra task per request.
    """

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = RequestStats()
        token = _current_request.set(stats)
        status = 500
        started = time.perf_counter()

        async def send_and_see_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_see_status)
        finally:
            _current_request.reset(token)
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(
                method=scope["method"],
                route=route,
                status=status,
                seconds=time.perf_counter() - started,
                stats=stats,
            )
