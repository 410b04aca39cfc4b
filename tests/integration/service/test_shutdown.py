"""Stopping ``sqla-lab serve`` while requests are stuck answers them, and logs no traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from sqla_lab._process import free_port

STUCK_REQUESTS = 5


async def _wait_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=1) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.returncode is None:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError("sqla-lab serve did not become healthy")


@pytest.mark.slow
async def test_ctrl_c_with_stuck_requests_answers_them_and_logs_no_traceback(
    db_url: URL, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {
        **{k: v for k, v in os.environ.items() if k != "SQLA_LAB_DATABASE_URL"},
        "DATABASE_URL": db_url.render_as_string(hide_password=False),
        "SQLA_LAB_REQUEST_TIMEOUT": "2",
    }
    command = [sys.executable, "-m", "sqla_lab", "serve", "--port", str(port), "--json"]
    command += ["--users", str(STUCK_REQUESTS), "--posts-per-user", "1"]
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=subprocess.PIPE, stderr=output
        )
    # The service works in a workspace database of its own on the test server; lock its table.
    blocking = None
    try:
        assert process.stdout is not None
        announced = json.loads(await asyncio.wait_for(process.stdout.readline(), 120))
        workspace = make_url(announced["database"]).database
        blocking = create_async_engine(db_url.set(database=workspace))
        await _wait_healthy(url, process)
        async with blocking.connect() as blocker:
            await blocker.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                stuck = [
                    asyncio.create_task(client.get(f"/users/{i}"))
                    for i in range(1, STUCK_REQUESTS + 1)
                ]
                await asyncio.sleep(0.5)
                process.send_signal(signal.SIGINT)
                responses = await asyncio.gather(*stuck)
            await blocker.rollback()
        returncode = await asyncio.wait_for(process.wait(), 30)
    finally:
        if blocking is not None:
            await blocking.dispose()
        if process.returncode is None:
            process.kill()
            await process.wait()
    output_text = log.read_text(errors="replace")
    assert [r.status_code for r in responses] == [504] * STUCK_REQUESTS
    assert {r.json()["error"] for r in responses} == {"deadline"}
    assert returncode == 130, output_text
    assert "Exception in ASGI application" not in output_text
    assert "Traceback" not in output_text
