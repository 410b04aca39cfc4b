"""Prometheus metrics of the demo service, one registry per app (no global registry).

Exposed on ``GET /metrics`` in the Prometheus text format (``prometheus_client``). The numbers
come from the same instruments the labs and tests use:

* from the engine's pool, read at scrape time: ``sqla_lab_pool_size``,
  ``sqla_lab_pool_overflow`` (connections beyond ``pool_size``), ``sqla_lab_pool_idle``;
* from :class:`~sqla_lab.PoolMonitor`: ``sqla_lab_pool_checked_out`` (and its
  peak), ``sqla_lab_pool_checkouts_total``, ``sqla_lab_pool_connects_total``,
  ``sqla_lab_pool_invalidations_total``, ``sqla_lab_pool_checkout_timeouts_total`` and the
  checkout wait as a histogram (``sqla_lab_pool_checkout_wait_seconds``);
* from the app's :class:`~sqla_lab.StatementCounter`, per unit of work (see
  :mod:`sqla_lab.service.sessions`): ``sqla_lab_statements_per_request`` by method and route;
* from :class:`MetricsMiddleware`: ``sqla_lab_http_requests_total`` and
  ``sqla_lab_http_request_duration_seconds`` by method, route template and status.
"""

from __future__ import annotations

import itertools
import math
import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sqla_lab.instruments.pool import PoolMonitor, PoolSnapshot

__all__ = [
    "MetricsMiddleware",
    "ServiceMetrics",
    "route_template",
]

_LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)
_STATEMENT_BUCKETS: tuple[float, ...] = (0, 1, 2, 3, 5, 10, 20, 50, 100, 200)


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


class _Histogram:
    """Bucket counts and a sum for one label set; plain Python numbers, no lock."""

    __slots__ = ("buckets", "created", "sum")

    def __init__(self, bounds: int) -> None:
        self.buckets = [0] * (bounds + 1)  # the last one is +Inf
        self.sum = 0.0
        self.created = time.time()


class _RequestCollector(Collector):
    """The per-request metrics, kept as plain numbers and turned into families at scrape time.

    Why not ``prometheus_client.Counter``/``Histogram``: each of their observations takes a
    lock and walks the buckets in Python; three of them per request cost more than all of the
    service's other instruments together (``benchmarks/service.py``, callgrind). The service
    observes and is scraped on its event loop's thread only, so no lock is needed here.
    """

    def __init__(self) -> None:
        #: (method, route, status) -> [requests, created]
        self.requests: dict[tuple[str, str, int], list[float]] = {}
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.statements: dict[tuple[str, str], _Histogram] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "sqla_lab_http_requests",
            "HTTP requests answered.",
            labels=("method", "route", "status"),
        )
        for (method, route, status), (count, created) in sorted(self.requests.items()):
            requests.add_metric((method, route, str(status)), count, created=created)
        yield requests
        yield _histogram_family(
            "sqla_lab_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            _LATENCY_BUCKETS,
            self.latency,
        )
        yield _histogram_family(
            "sqla_lab_statements_per_request",
            "SQL statements a request's session sent (StatementCounter).",
            _STATEMENT_BUCKETS,
            self.statements,
        )


def _histogram_family(
    name: str,
    documentation: str,
    bounds: tuple[float, ...],
    histograms: dict[tuple[str, str], _Histogram],
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=("method", "route"))
    for (method, route), histogram in sorted(histograms.items()):
        cumulative = list(itertools.accumulate(histogram.buckets))
        buckets = [
            ("+Inf" if math.isinf(bound) else repr(float(bound)), float(total))
            for bound, total in zip((*bounds, math.inf), cumulative, strict=True)
        ]
        family.add_metric((method, route), buckets, sum_value=histogram.sum)
        family.samples.append(
            Sample(f"{name}_created", {"method": method, "route": route}, histogram.created)
        )
    return family


class ServiceMetrics:
    """The service's instruments in their own :class:`CollectorRegistry`.

    Observations are plain arithmetic on the event loop's thread (see
    :class:`_RequestCollector`); the registry turns them into Prometheus families when
    ``/metrics`` is scraped.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._pool = _PoolCollector()
        self._requests = _RequestCollector()
        self.registry.register(self._pool)
        self.registry.register(self._requests)

    def bind(self, engine: AsyncEngine | None, monitor: PoolMonitor | None) -> None:
        """Report this engine's pool and monitor from now on (``None``: stop)."""
        self._pool.engine = engine
        self._pool.monitor = monitor

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        collector = self._requests
        counter = collector.requests.get((method, route, status))
        if counter is None:
            counter = collector.requests[method, route, status] = [0, time.time()]
        counter[0] += 1
        key = (method, route)
        latency = collector.latency.get(key)
        if latency is None:
            latency = collector.latency[key] = _Histogram(len(_LATENCY_BUCKETS))
        # Prometheus buckets are "less than or equal": bisect_left finds the first bound >= x.
        latency.buckets[bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        latency.sum += seconds

    def observe_statements(self, method: str, route: str, statements: int) -> None:
        """Record how many statements one request's session sent."""
        key = (method, route)
        histogram = self._requests.statements.get(key)
        if histogram is None:
            histogram = self._requests.statements[key] = _Histogram(len(_STATEMENT_BUCKETS))
        histogram.buckets[bisect_left(_STATEMENT_BUCKETS, statements)] += 1
        histogram.sum += statements


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
                scope["method"], route_template(scope), status, time.perf_counter() - started
            )
