"""PoolMonitor counted against scripted sequences of checkouts on the real server."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from sqla_lab import PoolMonitor, PoolSnapshot
from sqla_lab.instruments import pool as pool_monitor
from tests.helpers import psycopg_url


@pytest.fixture
async def engine(db_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(db_url, pool_size=2, max_overflow=1, pool_timeout=0.3)
    try:
        yield engine
    finally:
        await engine.dispose()


def _counts(snapshot: PoolSnapshot) -> dict[str, int]:
    return {
        "connects": snapshot.connects,
        "checkouts": snapshot.checkouts,
        "checkins": snapshot.checkins,
        "invalidations": snapshot.invalidations,
        "closes": snapshot.closes,
        "checked_out": snapshot.checked_out,
        "peak": snapshot.peak_checked_out,
        "waits": snapshot.wait_count,
        "errors": snapshot.checkout_errors,
        "timeouts": snapshot.checkout_timeouts,
    }


async def _open(engine: AsyncEngine) -> AsyncConnection:
    conn = await engine.connect()
    await conn.execute(text("SELECT 1"))
    return conn


async def test_counts_a_scripted_sequence_with_overflow(engine: AsyncEngine) -> None:
    with PoolMonitor(engine) as monitor:
        first, second = await _open(engine), await _open(engine)
        overflow = await _open(engine)  # pool_size=2: the third is an overflow connection
        assert _counts(monitor.snapshot()) == {
            "connects": 3, "checkouts": 3, "checkins": 0, "invalidations": 0, "closes": 0,
            "checked_out": 3, "peak": 3, "waits": 3, "errors": 0, "timeouts": 0,
        }  # fmt: skip
        await overflow.close()  # the pool is not full, so the overflow one goes back in
        await first.close()  # now the pool holds 2 and the returned one is over: closed
        await second.close()
        after_release = monitor.snapshot()
        # Two reused connections: no new connect.
        again = [await _open(engine), await _open(engine)]
        for conn in again:
            await conn.close()
    assert _counts(after_release) == {
        "connects": 3, "checkouts": 3, "checkins": 3, "invalidations": 0, "closes": 1,
        "checked_out": 0, "peak": 3, "waits": 3, "errors": 0, "timeouts": 0,
    }  # fmt: skip
    assert _counts(monitor.snapshot()) == {
        "connects": 3, "checkouts": 5, "checkins": 5, "invalidations": 0, "closes": 1,
        "checked_out": 0, "peak": 3, "waits": 5, "errors": 0, "timeouts": 0,
    }  # fmt: skip


async def test_counts_invalidation_and_pool_timeout(engine: AsyncEngine) -> None:
    with PoolMonitor(engine) as monitor:
        conn = await _open(engine)
        await conn.invalidate()
        await conn.close()
        held = [await _open(engine) for _ in range(3)]
        with pytest.raises(exc.TimeoutError):
            await engine.connect()
        for conn in held:
            await conn.close()
    snapshot = monitor.snapshot()
    assert _counts(snapshot) == {
        # 1 + 3 connects: the invalidated connection is replaced; the 5th request times out.
        "connects": 4, "checkouts": 4, "checkins": 4, "invalidations": 1, "closes": 2,
        "checked_out": 0, "peak": 3, "waits": 5, "errors": 1, "timeouts": 1,
    }  # fmt: skip
    failed = [w for w in monitor.checkout_log() if not w.ok]
    assert len(failed) == 1
    assert 250 <= failed[0].wait_ms < 3000  # pool_timeout=0.3 s
    assert snapshot.wait_max_ms == failed[0].wait_ms
    assert sum(count for _, count in snapshot.wait_histogram) == 5
    document = json.loads(json.dumps(snapshot.to_dict()))
    assert document["checkout_timeouts"] == 1
    assert sum(bucket["count"] for bucket in document["wait_histogram"]) == 5
    assert document["wait_histogram"][-1]["le_ms"] is None


async def test_snapshot_is_frozen_and_listeners_are_removed_on_exit(engine: AsyncEngine) -> None:
    monitor = PoolMonitor(engine)
    with monitor:
        assert monitor.active
        assert "raw_connection" in vars(engine.sync_engine)
        conn = await _open(engine)
        await conn.close()
    final = monitor.snapshot()
    assert not monitor.active
    assert "raw_connection" not in vars(engine.sync_engine)
    for name in ("connect", "checkout", "checkin", "invalidate", "close"):
        assert not event.contains(engine.sync_engine, name, getattr(monitor, f"_on_{name}"))
    conn = await _open(engine)
    await conn.close()
    assert monitor.snapshot() == final
    assert (final.checkouts, final.wait_count) == (1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        final.checkouts = 2  # type: ignore[misc]  # proving it is immutable
    with pytest.raises(RuntimeError, match="observes one block"), monitor:
        pass


async def test_keeps_counting_across_dispose_and_nests(engine: AsyncEngine) -> None:
    with PoolMonitor(engine) as outer:
        with PoolMonitor(engine) as inner:
            conn = await _open(engine)
            await conn.close()
        await engine.dispose()  # a new pool; listeners move to it
        conn = await _open(engine)
        await conn.close()
        assert "raw_connection" in vars(engine.sync_engine)  # the outer wrapper is back
    assert "raw_connection" not in vars(engine.sync_engine)
    assert (inner.snapshot().checkouts, inner.snapshot().wait_count) == (1, 1)
    # The dispose closed the first connection; a second was opened on the new pool.
    assert _counts(outer.snapshot()) == {
        "connects": 2, "checkouts": 2, "checkins": 2, "invalidations": 0, "closes": 1,
        "checked_out": 0, "peak": 1, "waits": 2, "errors": 0, "timeouts": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    "drain_at", [pytest.param(5, id="drain-often"), pytest.param(4096, id="drain-on-read")]
)
def test_counts_checkouts_from_several_threads_exactly(
    db_url: URL, monkeypatch: pytest.MonkeyPatch, drain_at: int
) -> None:
    # The hot path takes no lock (events are queued and folded in on read or every
    # `drain_at` events): threads checking out at once must still be counted exactly.
    monkeypatch.setattr(pool_monitor, "_DRAIN_AT", drain_at)
    threads, per_thread = 4, 150
    engine = create_engine(psycopg_url(db_url), pool_size=threads, max_overflow=0)
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        for _ in range(per_thread):
            with engine.connect():
                pass

    try:
        with PoolMonitor(engine) as monitor:
            workers = [threading.Thread(target=work) for _ in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            during = monitor.snapshot()
    finally:
        engine.dispose()
    total = threads * per_thread
    assert (during.checkouts, during.checkins, during.wait_count) == (total, total, total)
    assert during.checked_out == 0
    assert 1 <= during.peak_checked_out <= threads
    assert during.connects <= threads
    assert sum(count for _, count in during.wait_histogram) == total
    assert len(monitor.checkout_log()) == total


async def test_pool_monitor_works_as_async_context_manager(db_url: URL) -> None:
    engine = create_async_engine(db_url, pool_size=1, max_overflow=0)
    try:
        async with PoolMonitor(engine) as monitor, engine.connect():
            pass
        assert monitor.snapshot().checkouts == 1
        assert not monitor.active
    finally:
        await engine.dispose()
