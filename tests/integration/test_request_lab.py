"""The ``request`` lab: its endpoint variants agree, and a quick run judges every claim."""

from __future__ import annotations

import gc
import math

import httpx
import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab import Settings
from sqla_lab.demo import seed
from sqla_lab.lab import Verdict, run_labs
from sqla_lab.labs.request import request_lab
from sqla_lab.labs.request._endpoints import build_app
from sqla_lab.labs.request._variants import VARIANTS
from sqla_lab.postgres import PostgresServer
from sqla_lab.urls import asyncpg_dsn

FINDINGS = {
    "request.orm-vs-raw",
    "request.dependency-overrides",
    "request.yield-dependency",
    "request.per-request-options",
    "request.shielded-close",
    "request.greenlet-per-call",
    "request.gc",
    "request.avoidable",
    "request.floor",
}


async def test_every_variant_answers_the_same_json(db_url: URL, db_engine: AsyncEngine) -> None:
    await seed(db_engine, users=3, posts_per_user=2, reset=True)
    answers = {}
    for variant in VARIANTS:
        app = build_app(db_url, asyncpg_dsn(db_url), variant.key)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://lab") as client:
                found, missing = await client.get("/users/2"), await client.get("/users/9")
        answers[variant.key] = (found.status_code, found.json(), missing.status_code)
    expected = (
        200,
        {
            "id": 2,
            "name": "user-2",
            "posts": [
                {"id": 3, "user_id": 2, "title": "post 1 of user 2"},
                {"id": 4, "user_id": 2, "title": "post 2 of user 2"},
            ],
        },
        404,
    )
    assert answers == dict.fromkeys(answers, expected)
    assert len(answers) == len(VARIANTS)


@pytest.mark.slow
async def test_quick_run_judges_every_claim_and_restores_the_collector(
    postgres: PostgresServer,
) -> None:
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    (result,) = await run_labs([request_lab], server=postgres, settings=Settings(), quick=True)
    assert (gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()) == (thresholds, frozen, True)
    assert {finding.key for finding in result.findings} == FINDINGS
    for finding in result.findings:
        assert finding.measurements, finding.key
        assert finding.source.startswith("sqla-lab issue 18")
        assert finding.verdict is not Verdict.SKIPPED, finding.key
        # The verdict is the rule's, on the interval the measurements carry.
        judged = [m for m in finding.measurements if m.interval is not None]
        assert judged, finding.key
    variants = result.table("request.variants")
    assert len(variants.rows) == len(VARIANTS) + 2  # and the two units of work
    assert all(isinstance(cpu, float) and cpu > 0 for cpu in variants.column("cpu_ms"))
    assert variants.column("x_raw")[0] == 1.0
    assert result.table("request.gc").column("collector") == ("default", "tuned")
    # One paired cost per block behind each avoidable-cost claim (quick: six blocks), and a
    # 95% interval (six rounds are the fewest that give one).
    overrides = result.finding("dependency-overrides")
    cost = overrides.measurement("added CPU per request, in raw asyncpg requests")
    assert cost.interval is not None
    assert (cost.interval.n, cost.interval.level) == (6, pytest.approx(1 - 2 / 2**6))
    ratio = result.finding("orm-vs-raw").measurement("ORM / raw asyncpg")
    assert ratio.interval is not None
    assert math.isfinite(ratio.value)


async def test_without_fastapi_every_finding_is_skipped_and_says_why(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqla_lab.labs.request import _lab

    monkeypatch.setattr(_lab, "NEEDS", ("fastapi", "no_such_module_for_sqla_lab"))
    (result,) = await run_labs([request_lab], server=postgres, settings=Settings(), quick=True)
    assert {f.key for f in result.findings} == FINDINGS
    assert {f.verdict for f in result.findings} == {Verdict.SKIPPED}
    assert all("no_such_module_for_sqla_lab" in str(f.explanation) for f in result.findings)
