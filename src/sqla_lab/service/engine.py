"""The service's engine: autocommit reads, bounded connects, keepalives, fast invalidation.

:func:`service_database` builds the :class:`~sqla_lab.database.Database` the service runs on
from :class:`~sqla_lab.settings.Settings`, with what a long-running service needs beyond them:

* ``isolation_level="AUTOCOMMIT"`` on the engine: each new connection is put in DBAPI
  autocommit once, when it is opened, so a read costs neither ``BEGIN``/``ROLLBACK`` round
  trips nor per-request execution options; writes ask for a transaction
  (:data:`~sqla_lab.service.sessions.WRITE_OPTIONS`) and SQLAlchemy resets the connection
  when it is returned;
* a connect timeout (asyncpg's ``timeout``, ``settings.connect_timeout``): a server that
  accepts TCP but never answers cannot hold a new connection forever;
* the pool timeout capped at half the request deadline (:func:`pool_timeout_for`), so that
  an exhausted pool answers its own 503 + ``Retry-After`` before the deadline's 504;
* TCP keepalives and ``TCP_USER_TIMEOUT`` on every connection's socket, so the kernel notices
  a peer that vanished (asyncpg sets only ``TCP_NODELAY``; libpq's ``keepalives`` parameters
  have no asyncpg equivalent, hence the ``connect`` listener);
* an invalidated connection is terminated at once: SQLAlchemy first tries a graceful close
  that waits up to 2 s for a server that, on a half-open connection, never answers.

The request deadline itself (``asyncio.timeout``) is in :mod:`sqla_lab.service.sessions`.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any, Final

from sqlalchemy import event

from sqla_lab.database import Database, engine_options
from sqla_lab.settings import Settings

__all__ = ["KEEPALIVE", "pool_timeout_for", "service_database"]

#: Seconds idle before the first probe, seconds between probes, probes before giving up; and
#: TCP_USER_TIMEOUT (ms): sent data unacknowledged this long drops the connection.
KEEPALIVE: Final = {"idle_s": 10, "interval_s": 5, "count": 3, "user_timeout_ms": 25_000}


def _keepalive_options() -> list[tuple[int, int, int]]:
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE["idle_s"]),
        ("TCP_KEEPINTVL", KEEPALIVE["interval_s"]),
        ("TCP_KEEPCNT", KEEPALIVE["count"]),
        ("TCP_USER_TIMEOUT", KEEPALIVE["user_timeout_ms"]),
    ):
        option = getattr(socket, name, None)  # Linux names; absent on some platforms
        if option is not None:
            options.append((socket.IPPROTO_TCP, option, value))
    return options


def _socket_of(dbapi_connection: Any) -> socket.socket | None:
    # asyncpg exposes no socket; its Connection keeps the asyncio transport in _transport.
    transport = getattr(dbapi_connection.driver_connection, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None  # a Unix-domain socket has no peer to lose
    return sock  # type: ignore[no-any-return]  # asyncio's TransportSocket behaves as one


def _set_keepalive(dbapi_connection: Any, record: Any) -> None:
    sock = _socket_of(dbapi_connection)
    if sock is None:
        return
    for level, option, value in _keepalive_options():
        with contextlib.suppress(OSError):
            sock.setsockopt(level, option, value)


def _terminate_now(dbapi_connection: Any, record: Any, exception: BaseException | None) -> None:
    # Abort the socket before SQLAlchemy's graceful close, which then finds it closed.
    with contextlib.suppress(Exception):
        dbapi_connection.driver_connection.terminate()


def pool_timeout_for(settings: Settings) -> float:
    """``settings.pool_timeout``, at most half of ``settings.request_timeout``."""
    return min(settings.pool_timeout, settings.request_timeout / 2)


def service_database(url: str, settings: Settings) -> Database:
    """The service's :class:`Database`: the pool ``settings`` describe, set up as above."""
    options = engine_options(settings)
    options["pool_timeout"] = pool_timeout_for(settings)
    connect_args = {**options.pop("connect_args", {}), "timeout": settings.connect_timeout}
    database = Database(url, **options, connect_args=connect_args, isolation_level="AUTOCOMMIT")
    sync_engine = database.engine.sync_engine
    event.listen(sync_engine, "connect", _set_keepalive)
    event.listen(sync_engine, "invalidate", _terminate_now)
    return database
