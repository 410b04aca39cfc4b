"""Running the demo service: in the foreground (``sqla-lab serve``) or as a child process.

:func:`serve_forever` runs uvicorn in this process; uvicorn turns Ctrl-C into a graceful
shutdown (the lifespan disposes the pool) and then re-raises the signal, so the CLI's own
``KeyboardInterrupt`` handling stops the embedded PostgreSQL after it. The graceful shutdown
waits longer than a request's deadline (``request_timeout``): every request in flight ends
with its own answer (a 504 at worst) before uvicorn would cancel it, so stopping a service
whose requests are stuck logs no "Exception in ASGI application" tracebacks.

:class:`ServiceProcess` starts ``python -m sqla_lab serve`` as a child for ``sqla-lab load``
and the benchmark (a fresh process per pool size, and load never shares the service's
event loop). The database URL travels in the environment, never on the command line where
``ps`` would show its password. The child gets SIGINT if we die, and is always stopped.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx
import uvicorn

from sqla_lab._process import free_port, set_parent_death_signal
from sqla_lab.errors import SqlaLabError
from sqla_lab.service.app import create_app
from sqla_lab.settings import Settings

__all__ = [
    "LOOPBACK",
    "SHUTDOWN_MARGIN_S",
    "ServiceProcess",
    "ServiceStartError",
    "serve_forever",
]

LOOPBACK = "127.0.0.1"
#: Seconds the graceful shutdown waits beyond a request's deadline.
SHUTDOWN_MARGIN_S = 2


class ServiceStartError(SqlaLabError):
    """The service process did not come up healthy."""


class _Server(uvicorn.Server):
    """uvicorn's server, telling its caller once it listens."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_ready is not None:
            self._on_ready()


def serve_forever(
    settings: Settings,
    *,
    host: str,
    port: int,
    access_log: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run the app with uvicorn until Ctrl-C / SIGTERM; the lifespan cleans up.

    ``on_ready`` is called once the socket listens (and the app's lifespan has started).
    """
    config = uvicorn.Config(
        create_app(settings, tune_gc=True),
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        timeout_graceful_shutdown=math.ceil(settings.request_timeout) + SHUTDOWN_MARGIN_S,
    )
    _Server(config, on_ready).run()


class ServiceProcess:
    """``sqla-lab serve`` in a child process on a free loopback port.

    Args:
        database_url: the (already seeded) database, with its password.
        pool_size: the service's ``pool_size``.
        max_overflow: its ``max_overflow`` (default 0, so ``pool_size`` is the real limit).
        pool_timeout: its ``pool_timeout`` in seconds.
        log_file: where the child's output goes (default: discarded).
        startup_timeout: seconds to wait for ``/healthz`` to answer 200.
    """

    def __init__(
        self,
        database_url: str,
        *,
        pool_size: int,
        max_overflow: int = 0,
        pool_timeout: float = 30.0,
        log_file: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.port = free_port(LOOPBACK)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._database_url = database_url
        self._options = {
            "--pool-size": str(pool_size),
            "--max-overflow": str(max_overflow),
            "--pool-timeout": str(pool_timeout),
        }
        self._log_file = log_file
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the child and wait until it is healthy."""
        # The internal entry point: it serves the database it is given and creates nothing.
        command = [sys.executable, "-m", "sqla_lab.service", "--port", str(self.port)]
        for option, value in self._options.items():
            command += [option, value]
        env = {**os.environ, "DATABASE_URL": self._database_url}
        env.pop("SQLA_LAB_DATABASE_URL", None)
        self._log = self._log_file.open("ab") if self._log_file is not None else None
        self._process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            preexec_fn=set_parent_death_signal,
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceStartError(
                    f"the service exited with code {self._process.returncode} while starting"
                    + (f"; see {self._log_file}" if self._log_file else "")
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServiceStartError(f"the service did not become healthy in {self._startup_timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (graceful), then SIGKILL if it does not exit in ``timeout`` seconds."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ServiceProcess({self.url!r}, pid={self.pid})"
