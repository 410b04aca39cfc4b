"""A TCP proxy that injects network faults between a client and PostgreSQL.

The seed warns that "a broken connection holds a request until timeout"; to show that (and
what bounds it) we need a network that breaks on demand. :class:`FaultProxy` listens on
127.0.0.1, forwards every accepted connection to the real server and can, at any moment,
switch to:

* :attr:`FaultMode.PASS` - forward bytes unchanged;
* :attr:`FaultMode.DELAY` - add ``delay_ms`` of latency to each direction (a server 1-5 ms
  away), without limiting throughput: bytes keep their order and are not serialised behind
  each other's delays;
* :attr:`FaultMode.BLACKHOLE` - keep accepting and keep connections open, but forward
  nothing (a half-open connection: the peer vanished, nobody says so);
* :attr:`FaultMode.RESET` - abort every open connection with a TCP RST and reset new ones.

Usage::

    async with FaultProxy.for_url(server.url) as proxy:
        engine = create_async_engine(proxy.proxied_url())
        proxy.set_mode(FaultMode.DELAY, delay_ms=2)
        ...
        proxy.set_mode(FaultMode.BLACKHOLE)

Why our own code: toxiproxy, the usual tool, needs a separate Go binary driven through its
HTTP API; the four modes we need fit in one small asyncio module that runs in the same event
loop as the code under test, with nothing to install.

Bytes dropped in blackhole mode are gone: switching such a connection back to ``PASS``
leaves its protocol stream corrupt, exactly as a real network failure would.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import time
from dataclasses import dataclass, field

from sqlalchemy.engine import URL

from sqla_lab._lifecycle import AsyncManaged
from sqla_lab.errors import ConfigurationError
from sqla_lab.translation import N_

__all__ = ["FaultMode", "FaultProxy"]

_CHUNK = 65536


class FaultMode(enum.Enum):
    """What the proxy does with the bytes it receives."""

    PASS = "pass"
    DELAY = "delay"
    BLACKHOLE = "blackhole"
    RESET = "reset"


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a TCP RST rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER on, timeout 0: close() discards unsent data and sends RST.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client side, the server side and their pump tasks."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def close(self) -> None:
        self.client.close()
        if self.server is not None:
            self.server.close()
        for task in self.tasks:
            task.cancel()

    def abort(self) -> None:
        _abort_with_rst(self.client)
        if self.server is not None:
            _abort_with_rst(self.server)
        for task in self.tasks:
            task.cancel()


class FaultProxy(AsyncManaged):
    """An asyncio TCP proxy on 127.0.0.1 in front of ``target_host:target_port``.

    Args:
        target_host: the real server's host.
        target_port: the real server's port.
        mode: the starting mode.
        delay_ms: latency added to each direction in :attr:`FaultMode.DELAY`.
        listen_host: where the proxy listens (loopback by default).
        listen_port: 0 picks a free port.
        url: the server URL this proxy stands in front of, used by :meth:`proxied_url`.

    Raises:
        ConfigurationError: a negative delay.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        mode: FaultMode = FaultMode.PASS,
        delay_ms: float = 0.0,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        url: URL | None = None,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self._listen_host = listen_host
        self._listen_port = listen_port
        self._url = url
        self._mode = FaultMode.PASS
        self._delay_s = 0.0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        #: Connections accepted since start, whatever happened to them.
        self.accepted = 0
        self.set_mode(mode, delay_ms=delay_ms)

    @classmethod
    def for_url(
        cls, url: URL, *, mode: FaultMode = FaultMode.PASS, delay_ms: float = 0.0
    ) -> FaultProxy:
        """A proxy in front of the server ``url`` names (default port 5432)."""
        return cls(url.host or "127.0.0.1", url.port or 5432, mode=mode, delay_ms=delay_ms, url=url)

    # -- state ---------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The address the proxy listens on."""
        return self._listen_host

    @property
    def port(self) -> int:
        """The port the proxy listens on (known once started)."""
        if self._server is None:
            raise RuntimeError("the fault proxy has not been started")
        sockname = self._server.sockets[0].getsockname()
        return int(sockname[1])

    @property
    def mode(self) -> FaultMode:
        """The current mode."""
        return self._mode

    @property
    def delay_ms(self) -> float:
        """Latency added per direction in :attr:`FaultMode.DELAY`."""
        return self._delay_s * 1000.0

    @property
    def open_connections(self) -> int:
        """Client connections currently open through the proxy."""
        return len(self._links)

    def set_mode(self, mode: FaultMode, *, delay_ms: float | None = None) -> None:
        """Switch mode now; it applies to open connections as well as new ones.

        Switching to :attr:`FaultMode.RESET` aborts every open connection at once.

        Raises:
            ConfigurationError: a negative delay.
        """
        if delay_ms is not None:
            if delay_ms < 0:
                raise ConfigurationError(
                    N_("fault proxy delay must be >= 0 ms, not {delay_ms}"), delay_ms=delay_ms
                )
            self._delay_s = delay_ms / 1000.0
        self._mode = mode
        if mode is FaultMode.RESET:
            for link in list(self._links):
                link.abort()
            self._links.clear()

    def proxied_url(self, url: URL | None = None) -> URL:
        """``url`` (default: the one given to :meth:`for_url`) rewritten to go through us."""
        base = url if url is not None else self._url
        if base is None:
            raise ConfigurationError(N_("no URL to rewrite: pass one or build with for_url()"))
        return base.set(host=self.host, port=self.port)

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start listening."""
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, self._listen_host, self._listen_port
            )

    async def close(self) -> None:
        """Stop listening and abort every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for link in list(self._links):
            link.abort()
        self._links.clear()
        # Let every connection handler finish, so none is left for the loop to cancel.
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _aopen(self) -> None:
        await self.start()

    async def _aclose(self) -> None:
        await self.close()

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self._server else "not started"
        return (
            f"FaultProxy({where} -> {self.target_host}:{self.target_port}, mode={self._mode.value})"
        )

    # -- forwarding ----------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        if self._mode is FaultMode.RESET:
            _abort_with_rst(writer)
            return
        link = _Link(client=writer)
        self._links.add(link)
        try:
            try:
                server_reader, server_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                _abort_with_rst(writer)
                return
            link.server = server_writer
            if self._server is None or link not in self._links:
                # Closed or reset while we were connecting.
                link.abort()
                return
            upstream = asyncio.create_task(self._pump(reader, server_writer))
            downstream = asyncio.create_task(self._pump(server_reader, writer))
            link.tasks.update((upstream, downstream))
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
            # One side said goodbye: close the other politely (a FIN, not a RST).
            link.close()
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self._links.discard(link)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy ``source`` to ``sink`` through a queue stamped with each chunk's due time."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        sender = asyncio.create_task(self._send(queue, sink))
        try:
            while True:
                try:
                    data = await source.read(_CHUNK)
                except OSError:
                    break
                if not data:
                    break
                mode = self._mode
                if mode is FaultMode.BLACKHOLE:
                    continue
                delay = self._delay_s if mode is FaultMode.DELAY else 0.0
                queue.put_nowait((time.monotonic() + delay, data))
            queue.put_nowait(None)
            await sender
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes] | None], sink: asyncio.StreamWriter
    ) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self._mode is FaultMode.BLACKHOLE:
                continue
            try:
                sink.write(data)
                await sink.drain()
            except OSError:
                return
