"""Watch a connection pool: what it opens, hands out, takes back, and how long callers wait.

:class:`PoolMonitor` counts the pool events SQLAlchemy emits (``connect``, ``checkout``,
``checkin``, ``invalidate``, ``close``) and tracks how many connections are checked out now
and at most. It also times every *checkout wait*: from the moment code asks the engine for a
connection to the moment it has one, which covers queueing for a free connection, opening a
new one and ``pool_pre_ping``::

    with PoolMonitor(engine) as monitor:       # an Engine or an AsyncEngine
        async with engine.connect() as conn:
            ...
        print(monitor.snapshot().checkouts, monitor.snapshot().wait_p95_ms)
    frozen = monitor.snapshot()                 # the final state, frozen on exit

The pool has no "checkout requested" event, so the wait is timed around
:meth:`Engine.raw_connection` (through which every ``Connection`` and ``Session`` gets its
connection): the monitor puts a timing wrapper on the engine instance and takes it off again
on exit. Pool events are listened to on the (sync) engine, so they survive
``engine.dispose()``, which hands them to the new pool.

Why our own code: SQLAlchemy offers the events but no aggregate, and a metrics stack
(OpenTelemetry and an exporter) is a lot to set up for a lab, a test or a small service; this
is a few counters kept in memory and read as one frozen value.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab._stats import percentile
from sqla_lab.instruments._core import Instrument, InstrumentState, Listeners, sync_engine

__all__ = ["WAIT_BUCKETS_MS", "CheckoutWait", "PoolMonitor", "PoolSnapshot"]

#: Upper bounds (ms) of the checkout-wait histogram buckets; the last bucket is open.
WAIT_BUCKETS_MS: tuple[float, ...] = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
)

_EVENTS = ("connect", "checkout", "checkin", "invalidate", "close")
_CHECKOUT, _CHECKIN = 0, 1
#: Queued hot-path events are folded into the aggregates at the latest at this many.
_DRAIN_AT = 4096


@dataclass(frozen=True, slots=True)
class CheckoutWait:
    """One request for a connection.

    Attributes:
        started_s: when it was asked for, in seconds since the monitor started.
        wait_ms: how long the caller waited, whether it got a connection or not.
        ok: ``False`` if the request failed (pool timeout, connect error).
    """

    started_s: float
    wait_ms: float
    ok: bool


@dataclass(frozen=True, kw_only=True)
class PoolSnapshot:
    """The pool as the monitor saw it at one moment; immutable.

    Counts are of events since the monitor started. Wait percentiles are over the most recent
    ``window`` checkout requests (all of them in a short run); ``wait_max_ms`` is over all.
    """

    connects: int
    checkouts: int
    checkins: int
    invalidations: int
    closes: int
    checkout_errors: int
    checkout_timeouts: int
    checked_out: int
    peak_checked_out: int
    wait_count: int
    wait_p50_ms: float | None
    wait_p95_ms: float | None
    wait_max_ms: float | None
    #: ``(upper bound in ms or None for the open bucket, count)``, over all waits.
    wait_histogram: tuple[tuple[float | None, int], ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["wait_histogram"] = [
            {"le_ms": bound, "count": count} for bound, count in self.wait_histogram
        ]
        return data


class PoolMonitor(Instrument):
    """Count pool events and time checkout waits on one engine, as a context manager.

    Args:
        engine: an :class:`Engine` or :class:`AsyncEngine` (its ``sync_engine`` is used).
        window: how many recent checkout waits to keep for percentiles and
            :meth:`checkout_log`.
    """

    def __init__(self, engine: Engine | AsyncEngine, *, window: int = 100_000) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._engine = sync_engine(engine)
        # Held only while folding the queues into the aggregates and for failed checkouts;
        # the hot path (checkout, checkin, a successful wait) never takes it.
        self._lock = threading.Lock()
        # Hot path: each event appends one plain tuple to a deque (append is atomic under
        # the GIL, so threads need no lock, and the order of appends is the order of events);
        # _drain() folds them into the aggregates below, in order, under the lock, when
        # somebody reads or when a queue holds _DRAIN_AT entries.
        self._pending_waits: deque[tuple[float, float]] = deque()
        self._pending_events: deque[tuple[int, int]] = deque()
        # Plain tuples (started_s, wait_ms, ok): cheaper to make than dataclasses, and the
        # garbage collector stops tracking them; checkout_log() dresses them up.
        self._waits: deque[tuple[float, float, bool]] = deque(maxlen=window)
        self._histogram = [0] * (len(WAIT_BUCKETS_MS) + 1)
        self._counts = dict.fromkeys(_EVENTS, 0)
        self._checkout_errors = 0
        self._checkout_timeouts = 0
        self._wait_max_ms: float | None = None
        self._wait_count = 0
        self._checked_out: set[int] = set()
        self._peak = 0
        self._started = time.perf_counter()
        self._wrapper: Callable[[], Any] | None = None
        self._previous_raw_connection: Any = None
        self._final: PoolSnapshot | None = None

    # -- life cycle ----------------------------------------------------------------------
    def _attach(self, listeners: Listeners) -> None:
        self._started = time.perf_counter()
        for name, listener in (
            ("connect", self._on_connect),
            ("checkout", self._on_checkout),
            ("checkin", self._on_checkin),
            ("invalidate", self._on_invalidate),
            ("close", self._on_close),
        ):
            listeners.add(self._engine, name, listener)
        self._wrap_raw_connection()

    def _detach(self) -> None:
        self._unwrap_raw_connection()
        self._final = self._snapshot()

    @property
    def active(self) -> bool:
        """Whether the monitor is listening."""
        return self.state is InstrumentState.OPENED

    # -- reading -------------------------------------------------------------------------
    def snapshot(self) -> PoolSnapshot:
        """The current counts (or, after exit, the final ones), as an immutable value."""
        if self._final is not None:
            return self._final
        return self._snapshot()

    def checkout_log(self) -> tuple[CheckoutWait, ...]:
        """The most recent ``window`` checkout requests, oldest first."""
        with self._lock:
            self._drain_locked()
            waits = tuple(self._waits)
        return tuple(CheckoutWait(started, wait_ms, ok) for started, wait_ms, ok in waits)

    # -- internals -----------------------------------------------------------------------
    def _snapshot(self) -> PoolSnapshot:
        with self._lock:
            self._drain_locked()
            recent = [wait_ms for _, wait_ms, _ in self._waits]
            histogram = tuple(
                (bound, count)
                for bound, count in zip((*WAIT_BUCKETS_MS, None), self._histogram, strict=True)
            )
            return PoolSnapshot(
                connects=self._counts["connect"],
                checkouts=self._counts["checkout"],
                checkins=self._counts["checkin"],
                invalidations=self._counts["invalidate"],
                closes=self._counts["close"],
                checkout_errors=self._checkout_errors,
                checkout_timeouts=self._checkout_timeouts,
                checked_out=len(self._checked_out),
                peak_checked_out=self._peak,
                wait_count=self._wait_count,
                wait_p50_ms=percentile(recent, 50) if recent else None,
                wait_p95_ms=percentile(recent, 95) if recent else None,
                wait_max_ms=self._wait_max_ms,
                wait_histogram=histogram,
            )

    def _wrap_raw_connection(self) -> None:
        engine = self._engine
        self._previous_raw_connection = vars(engine).get("raw_connection")
        inner = engine.raw_connection
        record_failure = self._record_failure
        pending = self._pending_waits
        append = pending.append
        drain = self._drain
        clock = time.perf_counter

        def raw_connection() -> Any:
            started = clock()
            try:
                connection = inner()
            except BaseException as exc:
                record_failure(started, clock(), isinstance(exc, PoolTimeoutError))
                raise
            append((started, clock()))
            if len(pending) >= _DRAIN_AT:
                drain()
            return connection

        # An instance attribute shadows the method for this engine only; removed on exit.
        setattr(engine, "raw_connection", raw_connection)  # noqa: B010 - mypy forbids assigning to a method
        self._wrapper = raw_connection

    def _unwrap_raw_connection(self) -> None:
        engine = self._engine
        if self._wrapper is not None and vars(engine).get("raw_connection") is self._wrapper:
            if self._previous_raw_connection is None:
                delattr(engine, "raw_connection")
            else:
                setattr(engine, "raw_connection", self._previous_raw_connection)  # noqa: B010 - as above
        self._wrapper = None

    def _drain(self) -> None:
        with self._lock:
            self._drain_locked()

    def _drain_locked(self) -> None:
        """Fold the queued events into the aggregates, oldest first (caller holds the lock)."""
        # popleft() until empty rather than iterating: other threads may append meanwhile.
        # Per item in plain local operations: this runs once for every hot-path event.
        events, counts, checked_out = self._pending_events, self._counts, self._checked_out
        add, discard, popleft = checked_out.add, checked_out.discard, events.popleft
        peak, checkouts, checkins = self._peak, 0, 0
        while events:
            kind, key = popleft()
            if kind == _CHECKOUT:
                checkouts += 1
                add(key)
                if len(checked_out) > peak:
                    peak = len(checked_out)
            else:
                checkins += 1
                discard(key)
        self._peak = peak
        counts["checkout"] += checkouts
        counts["checkin"] += checkins
        waits = self._pending_waits
        if not waits:
            return
        window, histogram, bounds, since = (
            self._waits,
            self._histogram,
            WAIT_BUCKETS_MS,
            self._started,
        )
        record, bucket, pop_wait = window.append, bisect.bisect_left, waits.popleft
        count, longest = self._wait_count, self._wait_max_ms
        while waits:
            started, ended = pop_wait()
            wait_ms = (ended - started) * 1000.0
            record((started - since, wait_ms, True))
            histogram[bucket(bounds, wait_ms)] += 1
            count += 1
            if longest is None or wait_ms > longest:
                longest = wait_ms
        self._wait_count, self._wait_max_ms = count, longest

    def _add_wait(self, started: float, wait_ms: float, *, ok: bool) -> None:
        self._waits.append((started - self._started, wait_ms, ok))
        self._histogram[bisect.bisect_left(WAIT_BUCKETS_MS, wait_ms)] += 1
        self._wait_count += 1
        if self._wait_max_ms is None or wait_ms > self._wait_max_ms:
            self._wait_max_ms = wait_ms

    def _record_failure(self, started: float, ended: float, timeout: bool) -> None:
        with self._lock:
            self._drain_locked()  # keep the waits in the order they ended
            self._add_wait(started, (ended - started) * 1000.0, ok=False)
            self._checkout_errors += 1
            if timeout:
                self._checkout_timeouts += 1

    def _count(self, name: str) -> None:
        # Rare events (connect, invalidate, close): the lock is cheap enough here.
        with self._lock:
            self._counts[name] += 1

    def _on_connect(self, dbapi_connection: Any, record: Any) -> None:
        self._count("connect")

    def _on_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        events = self._pending_events
        events.append((_CHECKOUT, id(record)))
        if len(events) >= _DRAIN_AT:
            self._drain()

    def _on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        events = self._pending_events
        events.append((_CHECKIN, id(record)))
        if len(events) >= _DRAIN_AT:
            self._drain()

    def _on_invalidate(self, dbapi_connection: Any, record: Any, exception: Any) -> None:
        self._count("invalidate")

    def _on_close(self, dbapi_connection: Any, record: Any) -> None:
        self._count("close")

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"PoolMonitor({self._engine.url.render_as_string(hide_password=True)!r}, {state})"
