"""The ``connect`` lab in quick mode: its readings, the pooled request and echo=True."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from sqla_lab import PostgresServer, Settings
from sqla_lab.lab import LabResult, Verdict, run_labs
from sqla_lab.labs import connect_lab
from sqla_lab.labs.connect import NEW_ACQUIRE, POOLED_ACQUIRE

ENGINE_LOGGER = "sqlalchemy.engine.Engine"


@pytest.fixture(scope="module")
def handlers_before() -> list[logging.Handler]:
    return list(logging.getLogger(ENGINE_LOGGER).handlers)


@pytest.fixture(scope="module")
def result(postgres: PostgresServer, handlers_before: list[logging.Handler]) -> LabResult:
    (lab_result,) = asyncio.run(
        run_labs([connect_lab], server=postgres, settings=Settings(), quick=True)
    )
    return lab_result


def test_findings_and_round_trip(result: LabResult) -> None:
    assert [f.key for f in result.findings] == [
        "connect.pooled-vs-new",
        "connect.connect-dominates",
        "connect.echo-cost",
    ]
    assert LabResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    for finding in result.findings:
        assert finding.versions["sqlalchemy"] == result.environment.sqlalchemy


def test_both_readings_of_the_speed_up_carry_paired_intervals(result: LabResult) -> None:
    finding = result.finding("pooled-vs-new")
    for name in (
        "speed-up, getting a connection: new / pooled",
        "speed-up, one-query unit of work: new / pooled",
    ):
        interval = finding.measurement(name).interval
        assert interval is not None
        assert interval.n == 50
        assert interval.method == "order statistics"
    assert len(finding.measurement(NEW_ACQUIRE).samples) == 50
    assert len(finding.measurement(POOLED_ACQUIRE).samples) == 50
    if finding.verdict is Verdict.DEPENDS:
        assert [d.name for d in finding.depends_on] == ["what is compared"]
    if finding.verdict is Verdict.INCONCLUSIVE:
        assert finding.settle is not None


def test_connect_dominates_is_measured_on_a_pooled_request_too(result: LabResult) -> None:
    finding = result.finding("connect-dominates")
    pooled = finding.measurement("share of time in database round trips (pooled request)")
    new = finding.measurement("share of time spent connecting (new connection)")
    assert pooled.interval is not None
    assert new.interval is not None
    assert (pooled.interval.n, new.interval.n) == (200, 50)
    assert 0 < pooled.value < 1
    wall = finding.measurement("pooled request, wall time")
    database = finding.measurement("pooled request, statement execution")
    assert len(wall.samples) == len(database.samples) == 200
    # The statement time is part of the request's time, round by round.
    assert all(d < w for d, w in zip(database.samples, wall.samples, strict=True))
    if finding.verdict is Verdict.DEPENDS:
        assert [d.name for d in finding.depends_on] == ["connection pooling"]


def test_echo_is_measured_and_its_handler_removed(
    result: LabResult, handlers_before: list[logging.Handler]
) -> None:
    finding = result.finding("echo-cost")
    names = {m.name for m in finding.measurements}
    assert {
        "pre-ping overhead with echo=True",
        "pre-ping overhead without echo",
        "echo=True / without, pooled + SELECT 1",
        "echo='debug' / without, pooled + SELECT 1",
        "echo=True / without, first connection of a fresh engine",
    } <= names
    assert finding.measurement("pre-ping overhead with echo=True").kind == "difference"
    assert len(finding.measurement("pooled checkout + SELECT 1, echo=True").samples) == 120
    assert len(finding.measurement("first connection of a fresh engine").samples) == 10
    assert finding.measurement("log written").value > 0
    assert logging.getLogger(ENGINE_LOGGER).handlers == handlers_before
    assert {c.key for c in result.charts} == {"connect.distributions", "connect.echo"}
