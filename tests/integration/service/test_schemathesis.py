"""schemathesis against the running service: every check, about a thousand generated cases.

It reads the service's OpenAPI schema, generates valid and invalid requests for every
operation (boundary values, wrong types, stateful sequences through the API's links) and
checks every answer: no 5xx, every status and header documented, every body matching its
schema, invalid input rejected and valid input accepted, a correct ``Allow`` header.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab.service.server import ServiceProcess

#: Generated cases per operation and phase; with five operations about a thousand in all.
MAX_EXAMPLES = 100
SCHEMATHESIS = "from schemathesis.cli import schemathesis; schemathesis()"


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    seeded: AsyncEngine, db_url: URL, tmp_path: Path
) -> None:
    url = db_url.render_as_string(hide_password=False)
    report = tmp_path / "schemathesis.json"
    with ServiceProcess(url, pool_size=4, log_file=tmp_path / "service.log") as service:
        command = [sys.executable, "-c", SCHEMATHESIS, "run", f"{service.url}/openapi.json"]
        command += ["--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", "1"]
        command += ["--workers", "1", "--no-color", "--report", "json"]
        command += ["--report-json-path", str(report), "--request-timeout", "30"]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False
        )
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    print(f"schemathesis: {cases['generated']} cases, {cases['with_failures']} with failures")
    assert result.returncode == 0, result.stdout[-5000:]
    assert summary["failures"] == [], summary["failures"]
    assert summary["errors"] == []
    assert cases["with_failures"] == 0
    assert cases["generated"] >= 900
    assert summary["operations"]["tested"] == 5
