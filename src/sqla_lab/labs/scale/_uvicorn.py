"""The demo service under ``uvicorn --workers N``, as a child process of the lab.

``python -m uvicorn --factory`` on :func:`sqla_lab.service.factory.app_from_environment`: the
service's factory, with its settings in the environment (the database URL never on a command
line). The lab waits until every worker has logged "Application startup complete" and
``/healthz`` answers, and stops it with SIGTERM (uvicorn's graceful shutdown, which stops its
workers), then SIGKILL to the whole process group. Each worker also asks for SIGTERM should
its parent die, as uvicorn's supervisor does through the parent-death signal set here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqla_lab._lifecycle import AsyncManaged
from sqla_lab._process import free_port, set_parent_death_signal
from sqla_lab.errors import LabError
from sqla_lab.labs.scale._workers import OWNER_ENV
from sqla_lab.translation import N_

__all__ = ["DIE_WITH_PARENT_ENV", "FACTORY", "STATEMENT_CACHE_ENV", "UvicornService"]

#: The app factory uvicorn imports in each worker (by name: importing it here would load
#: FastAPI into every process that imports the lab, and the service is a layer above labs).
FACTORY = "sqla_lab.service.factory:app_from_environment"
#: Read by the factory: asyncpg's statement_cache_size for every connection of the service.
STATEMENT_CACHE_ENV = "SQLA_LAB_STATEMENT_CACHE_SIZE"
#: Read by the factory: each worker dies with its parent.
DIE_WITH_PARENT_ENV = "SQLA_LAB_DIE_WITH_PARENT"
_READY_LINE = "Application startup complete"
_LOOPBACK = "127.0.0.1"


class UvicornService(AsyncManaged):
    """The demo service on a free loopback port with ``workers`` uvicorn workers.

    Args:
        database_url: the seeded database, with its password.
        workers: uvicorn's ``--workers``.
        pool_size: each worker's ``pool_size`` (``max_overflow`` is 0).
        statement_cache_size: asyncpg's ``statement_cache_size`` (``None``: its default).
        startup_timeout: seconds until every worker must be up.
    """

    def __init__(
        self,
        database_url: str,
        *,
        workers: int,
        pool_size: int,
        statement_cache_size: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.workers = workers
        self.port = 0
        self.url = ""
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("SQLA_LAB_")}
        self._env.pop("DATABASE_URL", None)
        self._env.update(
            {OWNER_ENV: str(os.getpid())},
            DATABASE_URL=database_url,
            SQLA_LAB_POOL_SIZE=str(pool_size),
            SQLA_LAB_MAX_OVERFLOW="0",
        )
        self._env[DIE_WITH_PARENT_ENV] = "1"
        if statement_cache_size is not None:
            self._env[STATEMENT_CACHE_ENV] = str(statement_cache_size)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    async def start(self) -> None:
        """Start uvicorn and wait until every worker serves.

        Raises:
            LabError: it exited or did not come up in time.
        """
        self.port = free_port(_LOOPBACK)
        self.url = f"http://{_LOOPBACK}:{self.port}"
        fd, name = tempfile.mkstemp(prefix="sqla-lab-uvicorn-", suffix=".log")
        self._log = Path(name)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            FACTORY,
            "--workers",
            str(self.workers),
            "--host",
            _LOOPBACK,
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "info",
            "--timeout-graceful-shutdown",
            "5",
        ]
        try:
            # Popen returns once the child exists; a synchronous handle lets stop() run on
            # every exit path, even where nothing can be awaited.
            self._process = subprocess.Popen(  # noqa: ASYNC220
                command,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=functools.partial(set_parent_death_signal, signal.SIGTERM),
            )
        finally:
            os.close(fd)
        await self._wait_ready()

    def _log_text(self) -> str:
        try:
            return self._log.read_text(errors="replace") if self._log else ""
        except OSError:
            return ""

    async def _wait_ready(self) -> None:
        import httpx  # the [service] extra; the lab checks for it before starting a service

        deadline = time.monotonic() + self._startup_timeout
        process = self._process
        assert process is not None
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    lines = [line for line in self._log_text().splitlines() if line.strip()]
                    raise LabError(
                        f"uvicorn exited with code {process.returncode} at start-up"
                        + (f": {lines[-1]}" if lines else "")
                    )
                if self._log_text().count(_READY_LINE) >= self.workers:
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/healthz")).status_code == 200:
                            return
                if time.monotonic() > deadline:
                    raise LabError(
                        N_(
                            "the service's {workers} uvicorn workers were not up within "
                            "{startup_timeout:.0f} s"
                        ),
                        workers=self.workers,
                        startup_timeout=self._startup_timeout,
                    )
                await asyncio.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful), then SIGKILL to uvicorn and its workers; delete the log."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                # Its own session: the group is uvicorn and its workers, nothing else.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None

    async def _aopen(self) -> None:
        await self.start()

    async def _aclose(self) -> None:
        self.stop()
