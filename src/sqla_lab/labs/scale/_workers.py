"""Real OS processes standing for an application's processes: started once, reused per run.

Each worker (:mod:`._worker`) is a ``python -m`` child with its own interpreter, engine and
pool, exactly as gunicorn/uvicorn workers or several hosts would be; nothing is shared with
the lab process. Starting a Python process with SQLAlchemy and asyncpg costs about a second
of CPU, so the pool starts its processes once and hands each run's jobs to the first N of
them. A run starts all its workers together (each reports ready, then all get "go"), so
their connection storms overlap as they would in production.

Every wait is bounded; a worker that dies or stops answering raises :class:`LabError`. The
workers get SIGTERM if the lab process dies (parent-death signal), and :meth:`close` stops
them on every other path.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqla_lab._lifecycle import AsyncManaged
from sqla_lab._process import set_parent_death_signal
from sqla_lab.errors import LabError
from sqla_lab.labs.scale._jobs import Job, JobResult
from sqla_lab.translation import N_

__all__ = [
    "OWNER_ENV",
    "WORKER_MODULE",
    "RunningJobs",
    "WorkerPool",
]

#: The worker module, next to this one wherever the package moves.
WORKER_MODULE = __name__.rsplit(".", 1)[0] + "._worker"
#: Set in the environment of every process the lab starts from Python (workers, uvicorn and
#: its workers) to the lab's pid, so a leak can be traced to its owner.
OWNER_ENV = "SQLA_LAB_SCALE_OWNER"
_STARTUP_TIMEOUT_S = 90.0
_ANSWER_TIMEOUT_S = 60.0
_LINE_LIMIT = 2**24


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process, index: int, log: Path) -> None:
        self.process = process
        self.index = index
        self.log = log
        self.greeted = False

    def send(self, message: dict[str, Any]) -> None:
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing():
            raise LabError(
                N_("scale worker {index} is gone{log_tail}"),
                index=self.index,
                log_tail=self._log_tail(),
            )
        stdin.write((json.dumps(message) + "\n").encode())

    async def receive(self, timeout_s: float) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            line = await asyncio.wait_for(stdout.readline(), timeout_s)
        except TimeoutError:
            raise LabError(
                N_("scale worker {index} did not answer within {timeout_s:.0f} s"),
                index=self.index,
                timeout_s=timeout_s,
            ) from None
        if not line:
            code = await self.process.wait()
            raise LabError(
                N_("scale worker {index} exited with code {code}{log_tail}"),
                index=self.index,
                code=code,
                log_tail=self._log_tail(),
            )
        message: dict[str, Any] = json.loads(line)
        if "failed" in message:
            raise LabError(
                N_("scale worker {index} could not run its job: {value}"),
                index=self.index,
                value=message["failed"],
            )
        return message

    def _log_tail(self) -> str:
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line]
        except OSError:
            return ""
        return f": {lines[-1]}" if lines else ""


class RunningJobs:
    """Jobs started on some workers; collect their results (or stop them first)."""

    def __init__(self, workers: Sequence[_Worker], jobs: Sequence[Job]) -> None:
        self._workers = tuple(workers)
        self._jobs = tuple(jobs)
        self._stopped = False

    def stop(self) -> None:
        """Ask every worker to finish now (for jobs without a duration)."""
        self._stopped = True
        for worker in self._workers:
            worker.send({"stop": True})

    async def results(self) -> list[JobResult]:
        """Each worker's result, in job order."""
        results = []
        for worker, job in zip(self._workers, self._jobs, strict=True):
            wait = _ANSWER_TIMEOUT_S + (job.duration_s or 0.0)
            if job.duration_s is None and not self._stopped:
                raise LabError(N_("a job without a duration must be stopped before its results"))
            message = await worker.receive(wait)
            results.append(JobResult.from_dict(message["result"]))
        return results


class WorkerPool(AsyncManaged):
    """``size`` worker processes for the lab's runs.

    Args:
        size: how many processes; a run may use any number up to it.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self._workers: list[_Worker] = []
        self._log_dir: Path | None = None

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [w.process.pid for w in self._workers]

    async def start(self) -> None:
        """Spawn the processes (they import in parallel while the lab does other work)."""
        self._log_dir = Path(tempfile.mkdtemp(prefix="sqla-lab-workers-"))
        for index in range(self.size):
            log = self._log_dir / f"worker-{index}.log"
            with log.open("wb") as handle:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    WORKER_MODULE,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=handle,
                    limit=_LINE_LIMIT,
                    env={**os.environ, OWNER_ENV: str(os.getpid())},
                    start_new_session=True,
                    preexec_fn=functools.partial(set_parent_death_signal, signal.SIGTERM),
                )
            self._workers.append(_Worker(process, index, log))

    async def begin(self, jobs: Sequence[Job]) -> RunningJobs:
        """Hand ``jobs`` to the first ``len(jobs)`` workers and start them together."""
        if not 0 < len(jobs) <= len(self._workers):
            raise LabError(
                N_("{count} jobs for a pool of {size} workers"),
                count=len(jobs),
                size=len(self._workers),
            )
        workers = self._workers[: len(jobs)]
        for worker in workers:
            if not worker.greeted:
                await worker.receive(_STARTUP_TIMEOUT_S)
                worker.greeted = True
        for worker, job in zip(workers, jobs, strict=True):
            worker.send({"job": job.to_dict()})
        for worker in workers:
            await worker.receive(_ANSWER_TIMEOUT_S)
        for worker in workers:
            worker.send({"go": True})
        return RunningJobs(workers, jobs)

    async def run(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Run ``jobs`` (each with a duration) to the end and return their results."""
        return await (await self.begin(jobs)).results()

    async def _aopen(self) -> None:
        await self.start()

    async def _aclose(self) -> None:
        await self.close()

    async def close(self) -> None:
        """Ask every worker to exit, kill what does not, delete the logs."""
        workers, self._workers = self._workers, []
        for worker in workers:
            stdin = worker.process.stdin
            if stdin is not None and not stdin.is_closing():
                with contextlib.suppress(OSError, RuntimeError):
                    stdin.write(b'{"exit": true}\n')
                    stdin.close()
        for worker in workers:
            if worker.process.returncode is None:
                try:
                    await asyncio.wait_for(asyncio.shield(worker.process.wait()), 3.0)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.kill()
                    await worker.process.wait()
        if self._log_dir is not None:
            for log in self._log_dir.glob("*"):
                log.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                os.rmdir(self._log_dir)
            self._log_dir = None
