"""FaultProxy modes against a tiny local echo server (no database)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import URL

from sqla_lab import ConfigurationError, FaultMode, FaultProxy

#: A reply that does not come within this long is taken as "nothing forwarded".
SILENCE_S = 0.3


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def proxy(echo_port: int) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", echo_port) as started:
        yield started


async def _open(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(proxy.host, proxy.port)


async def _round_trip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> bytes:
    writer.write(payload)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(payload)), timeout=5)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _talk_until_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Write and read twice: a RST shows as a reset, or (by timing) as EOF and then a reset."""
    for _ in range(2):
        writer.write(b"ping")
        await writer.drain()
        if await asyncio.wait_for(reader.read(1), timeout=5):
            raise AssertionError("bytes came through a connection that should be reset")


async def test_pass_mode_forwards_both_ways(proxy: FaultProxy) -> None:
    reader, writer = await _open(proxy)
    try:
        assert await _round_trip(reader, writer, b"hello") == b"hello"
        assert await _round_trip(reader, writer, b"x" * 200_000) == b"x" * 200_000
    finally:
        await _close(writer)
    assert proxy.host == "127.0.0.1"
    assert proxy.accepted == 1


async def test_delay_mode_adds_latency_per_direction(proxy: FaultProxy) -> None:
    reader, writer = await _open(proxy)
    try:
        await _round_trip(reader, writer, b"warm")
        proxy.set_mode(FaultMode.DELAY, delay_ms=100)
        started = time.perf_counter()
        assert await _round_trip(reader, writer, b"slow") == b"slow"
        elapsed = time.perf_counter() - started
    finally:
        await _close(writer)
    # 100 ms each way: at least 0.2 s for the round trip; the upper bound is only a sanity one.
    assert 0.19 <= elapsed < 3.0
    assert proxy.mode is FaultMode.DELAY
    assert proxy.delay_ms == pytest.approx(100)


async def test_delay_keeps_byte_order_across_many_writes(proxy: FaultProxy) -> None:
    proxy.set_mode(FaultMode.DELAY, delay_ms=5)
    reader, writer = await _open(proxy)
    try:
        payload = b"".join(i.to_bytes(2, "big") for i in range(2000))
        for offset in range(0, len(payload), 100):
            writer.write(payload[offset : offset + 100])
        await writer.drain()
        echoed = await asyncio.wait_for(reader.readexactly(len(payload)), timeout=5)
    finally:
        await _close(writer)
    assert echoed == payload


async def test_blackhole_accepts_but_forwards_nothing(proxy: FaultProxy) -> None:
    proxy.set_mode(FaultMode.BLACKHOLE)
    reader, writer = await _open(proxy)
    try:
        writer.write(b"anyone?")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), timeout=SILENCE_S)
        assert proxy.open_connections == 1
    finally:
        await _close(writer)


async def test_switch_to_blackhole_at_run_time_silences_an_open_connection(
    proxy: FaultProxy,
) -> None:
    reader, writer = await _open(proxy)
    try:
        assert await _round_trip(reader, writer, b"before") == b"before"
        proxy.set_mode(FaultMode.BLACKHOLE)
        writer.write(b"after")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), timeout=SILENCE_S)
    finally:
        await _close(writer)


async def test_reset_aborts_open_connections(proxy: FaultProxy) -> None:
    reader, writer = await _open(proxy)
    try:
        await _round_trip(reader, writer, b"ok")
        proxy.set_mode(FaultMode.RESET)
        with pytest.raises(ConnectionResetError):
            await _talk_until_reset(reader, writer)
    finally:
        writer.transport.abort()
    assert proxy.open_connections == 0


async def test_reset_mode_refuses_new_connections_until_switched_back(
    proxy: FaultProxy,
) -> None:
    proxy.set_mode(FaultMode.RESET)
    reader, writer = await _open(proxy)
    try:
        with pytest.raises(ConnectionResetError):
            await _talk_until_reset(reader, writer)
    finally:
        writer.transport.abort()
    proxy.set_mode(FaultMode.PASS)
    reader, writer = await _open(proxy)
    try:
        assert await _round_trip(reader, writer, b"back") == b"back"
    finally:
        await _close(writer)


async def test_close_stops_listening_and_drops_connections(echo_port: int) -> None:
    proxy = FaultProxy("127.0.0.1", echo_port)
    await proxy.start()
    port = proxy.port
    reader, writer = await _open(proxy)
    await _round_trip(reader, writer, b"x")
    await proxy.close()
    try:
        assert await asyncio.wait_for(reader.read(1), timeout=5) == b""
    except ConnectionResetError:
        pass
    finally:
        writer.transport.abort()
    with pytest.raises(OSError, match=r"refused|Connect call failed"):
        await asyncio.open_connection("127.0.0.1", port)


async def test_unreachable_target_closes_the_client(echo_port: int) -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    dead_port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    async with FaultProxy("127.0.0.1", dead_port) as proxy:
        reader, writer = await _open(proxy)
        try:
            data = await asyncio.wait_for(reader.read(1), timeout=5)
        except ConnectionResetError:
            data = b""
        finally:
            writer.transport.abort()
    assert data == b""


async def test_proxied_url_points_at_the_proxy() -> None:
    url = URL.create(
        "postgresql+asyncpg", username="u", password="p", host="db", port=6543, database="d"
    )
    proxy = FaultProxy.for_url(url, mode=FaultMode.DELAY, delay_ms=2)
    assert (proxy.target_host, proxy.target_port) == ("db", 6543)
    with pytest.raises(RuntimeError, match="not been started"):
        _ = proxy.port
    await proxy.start()
    try:
        rewritten = proxy.proxied_url()
        assert (rewritten.host, rewritten.port) == ("127.0.0.1", proxy.port)
        assert (rewritten.username, rewritten.password, rewritten.database) == ("u", "p", "d")
        assert rewritten.drivername == "postgresql+asyncpg"
        other = proxy.proxied_url(url.set(database="other"))
        assert (other.port, other.database) == (proxy.port, "other")
    finally:
        await proxy.close()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: FaultProxy("h", 1, delay_ms=-1), id="constructor"),
        pytest.param(
            lambda: FaultProxy("h", 1).set_mode(FaultMode.DELAY, delay_ms=-0.5), id="set_mode"
        ),
    ],
)
def test_negative_delay_is_a_configuration_error(make: object) -> None:
    with pytest.raises(ConfigurationError, match="delay must be >= 0"):
        make()  # type: ignore[operator]  # a zero-argument lambda from the parameter list


def test_proxied_url_without_a_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no URL to rewrite"):
        FaultProxy("h", 1).proxied_url()
