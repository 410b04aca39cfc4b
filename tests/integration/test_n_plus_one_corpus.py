"""The N+1 corpus under NPlusOneDetector: each scenario reported (with its fix) or not, exactly.

The scenarios live in :mod:`tests.integration._n_plus_one_corpus` (``benchmarks/n_plus_one.py``
runs the same ones under queryspy and pytest-queryguard). They run in a database of their
own, created for this module and dropped after it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from sqla_lab import NPlusOneDetector
from sqla_lab.instruments.n_plus_one import DetectorTarget
from sqla_lab.postgres import PostgresServer
from tests.integration import _n_plus_one_corpus_models as models
from tests.integration._loading_data import separate_database
from tests.integration._n_plus_one_corpus import SCENARIOS, Env, Scenario, Target, environment

CORPUS_DATABASE = "sqla_lab_n_plus_one_corpus"


@pytest.fixture(scope="module")
def corpus_url(postgres: PostgresServer) -> Iterator[URL]:
    """A database of the corpus's own, with its tables and rows, dropped afterwards."""
    with separate_database(postgres, CORPUS_DATABASE) as url:

        async def create() -> None:
            engine = create_async_engine(url, poolclass=NullPool)
            try:
                await models.create(engine)
            finally:
                await engine.dispose()

        asyncio.run(create())
        yield url


@pytest.fixture
async def corpus_engine(corpus_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(corpus_url, pool_size=2, max_overflow=8)
    try:
        yield engine
    finally:
        await engine.dispose()


def target_of(kind: Target, env: Env) -> DetectorTarget:
    """What the detector watches in a scenario."""
    if kind == "session":
        return env.session
    if kind == "engine":
        return env.engine
    if kind == "sessionmaker":
        return env.sessionmaker
    return None


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.id) for s in SCENARIOS])
async def test_scenario(scenario: Scenario, corpus_engine: AsyncEngine) -> None:
    async with environment(corpus_engine) as env:
        with NPlusOneDetector(target_of(scenario.target, env), mode="collect") as detector:
            await scenario.run(env)
    fixes = sorted({finding.fix for finding in detector.findings})
    expected = [scenario.fix] if scenario.fix is not None else []
    assert fixes == expected, [finding.message for finding in detector.findings]


def test_every_class_has_cases_on_both_sides_where_it_should() -> None:
    ids = [s.id for s in SCENARIOS]
    assert len(ids) == len(set(ids))
    assert len(SCENARIOS) >= 60
    by_class = Counter((s.cls, s.positive) for s in SCENARIOS)
    positives = sum(1 for s in SCENARIOS if s.positive)
    assert positives >= 30
    assert len(SCENARIOS) - positives >= 30
    for (cls, _), count in by_class.items():
        assert count >= 5, cls
