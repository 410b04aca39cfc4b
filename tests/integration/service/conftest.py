"""Fixtures: the demo app running in-process on the test server, with a seeded database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab import Settings
from sqla_lab.demo import seed
from sqla_lab.service import create_app

SEEDED_USERS = 6
POSTS_PER_USER = 3

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def seeded(db_engine: AsyncEngine) -> AsyncEngine:
    """The test database holding exactly 6 users with 3 posts each."""
    await seed(db_engine, users=SEEDED_USERS, posts_per_user=POSTS_PER_USER, reset=True)
    return db_engine


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and yield a client talking to it through ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


@pytest.fixture
def make_client(db_url: URL, seeded: AsyncEngine) -> ClientFactory:
    """Build an app with settings overrides, run it, and yield a client for it."""

    def factory(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        options: dict[str, Any] = {
            "database_url": db_url.render_as_string(hide_password=False),
            **overrides,
        }
        return running(create_app(Settings(**options)))

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the app with default settings."""
    async with make_client() as http:
        yield http


def metrics_of(response: httpx.Response) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Parse a ``/metrics`` answer: {family: [(sample name, labels, value), ...]}."""
    families: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        families[family.name] = [(s.name, s.labels, s.value) for s in family.samples]
    return families


def samples(
    families: dict[str, list[tuple[str, dict[str, str], float]]],
    family: str,
    suffix: str,
    **labels: str,
) -> list[float]:
    """Values of ``family + suffix`` samples whose labels include ``labels``."""
    return [
        value
        for name, sample_labels, value in families[family]
        if name == family + suffix and labels.items() <= sample_labels.items()
    ]
