"""Prometheus metrics of the demo service, one registry per app (no global registry).

Exposed on ``GET /metrics`` in the Prometheus text format (``prometheus_client``). The numbers
come from the same instruments the labs and tests use:

* from the engine's pool, read at scrape time: ``sqla_lab_pool_size``,
  ``sqla_lab_pool_overflow`` (connections beyond ``pool_size``), ``sqla_lab_pool_idle``;
* from :class:`~sqla_lab.PoolMonitor`: ``sqla_lab_pool_checked_out`` (and its
  peak), ``sqla_lab_pool_checkouts_total``, ``sqla_lab_pool_connects_total``,
  ``sqla_lab_pool_invalidations_total``, ``sqla_lab_pool_checkout_timeouts_total`` and the
  checkout wait as a histogram (``sqla_lab_pool_checkout_wait_seconds``);
* from the app's :class:`~sqla_lab.StatementCounter`, per request session (see
  :mod:`sqla_lab.service.dependencies`): ``sqla_lab_statements_per_request`` by method and route;
* from :class:`MetricsMiddleware`: ``sqla_lab_http_requests_total`` and
  ``sqla_lab_http_request_duration_seconds`` by method, route template and status.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sqla_lab.instruments.pool import PoolMonitor, PoolSnapshot

__all__ = [
    "MetricsMiddleware",
    "ServiceMetrics",
    "route_template",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_STATEMENT_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 50, 100, 200)


def _wait_histogram(snapshot: PoolSnapshot) -> HistogramMetricFamily:
    """The monitor's per-bucket wait counts as a cumulative Prometheus histogram."""
    cumulative = itertools.accumulate(count for _, count in snapshot.wait_histogram)
    buckets = [
        ("+Inf" if bound_ms is None else repr(bound_ms / 1000.0), float(total))
        for (bound_ms, _), total in zip(snapshot.wait_histogram, cumulative, strict=True)
    ]
    family = HistogramMetricFamily(
        "sqla_lab_pool_checkout_wait_seconds",
        "Time callers waited for a pooled connection (queueing, connecting, pre-ping); "
        "the PoolMonitor keeps no sum, so there is no _sum/_count.",
    )
    family.add_metric([], buckets, sum_value=None)
    return family


class _PoolCollector(Collector):
    """Read the pool and its :class:`PoolMonitor` when Prometheus scrapes."""

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None
        self.monitor: PoolMonitor | None = None

    def collect(self) -> Iterator[Metric]:
        pool = self.engine.pool if self.engine is not None else None
        if isinstance(pool, QueuePool):
            yield GaugeMetricFamily("sqla_lab_pool_size", "Configured pool_size.", pool.size())
            # QueuePool.overflow() counts up from -pool_size: clamp to "extra connections".
            yield GaugeMetricFamily(
                "sqla_lab_pool_overflow",
                "Connections open beyond pool_size right now.",
                max(0, pool.overflow()),
            )
            yield GaugeMetricFamily(
                "sqla_lab_pool_idle", "Idle connections in the pool.", pool.checkedin()
            )
        if self.monitor is None:
            return
        snapshot = self.monitor.snapshot()
        yield GaugeMetricFamily(
            "sqla_lab_pool_checked_out",
            "Connections checked out of the pool right now.",
            snapshot.checked_out,
        )
        yield GaugeMetricFamily(
            "sqla_lab_pool_peak_checked_out",
            "Most connections checked out at once since start.",
            snapshot.peak_checked_out,
        )
        counters = (
            ("sqla_lab_pool_checkouts", "Connections handed out by the pool.", snapshot.checkouts),
            ("sqla_lab_pool_connects", "New DBAPI connections opened.", snapshot.connects),
            ("sqla_lab_pool_invalidations", "Connections invalidated.", snapshot.invalidations),
            (
                "sqla_lab_pool_checkout_timeouts",
                "Requests for a connection that hit pool_timeout.",
                snapshot.checkout_timeouts,
            ),
            (
                "sqla_lab_pool_checkout_waits",
                "Requests for a connection (timed by the PoolMonitor).",
                snapshot.wait_count,
            ),
        )
        for name, documentation, value in counters:
            yield CounterMetricFamily(name, documentation, value)
        yield _wait_histogram(snapshot)


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
            "SQL statements a request's session sent (StatementCounter).",
            ("method", "route"),
            buckets=_STATEMENT_BUCKETS,
            registry=self.registry,
        )
        # labels() takes a lock and builds the key on every call: the labelled children are
        # kept per label values instead (bounded: methods x route templates x statuses).
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._statement_children: dict[tuple[str, str], Histogram] = {}

    def bind(self, engine: AsyncEngine | None, monitor: PoolMonitor | None) -> None:
        """Report this engine's pool and monitor from now on (``None``: stop)."""
        self._pool.engine = engine
        self._pool.monitor = monitor

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_statements(self, *, method: str, route: str, statements: int) -> None:
        """Record how many statements one request's session sent."""
        key = (method, route)
        child = self._statement_children.get(key)
        if child is None:
            child = self._statement_children[key] = self.statements.labels(method, route)
        child.observe(statements)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/users/{user_id}``), never the raw path."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


class MetricsMiddleware:
    """Pure ASGI middleware timing every request and counting it by route and status.

    Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task per request, and the
    response status is read from the ``http.response.start`` message.
    """

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            self.metrics.observe_request(
                method=scope["method"],
                route=route_template(scope),
                status=status,
                seconds=time.perf_counter() - started,
            )
