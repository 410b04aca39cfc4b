"""Every endpoint of the demo service, in-process, against the real database."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import generate_latest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from sqla_lab import Database, Settings
from sqla_lab.service import create_app
from sqla_lab.service.schemas import MAX_PAGE_SIZE

from .conftest import (
    POSTS_PER_USER,
    SEEDED_USERS,
    ClientFactory,
    metrics_of,
    running,
    samples,
)


async def test_get_user_returns_the_user_and_their_posts(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/2")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == 2
    assert body["name"] == "user-2"
    assert [p["title"] for p in body["posts"]] == [
        f"post {n} of user 2" for n in range(1, POSTS_PER_USER + 1)
    ]
    assert {p["user_id"] for p in body["posts"]} == {2}


@pytest.mark.parametrize("strategy", ["selectin", "lazy", "joined"])
async def test_list_users_pages_with_every_strategy(
    client: httpx.AsyncClient, strategy: str
) -> None:
    response = await client.get("/users", params={"limit": 4, "offset": 1, "strategy": strategy})
    assert response.status_code == 200
    users = response.json()
    assert [u["id"] for u in users] == [2, 3, 4, 5]
    assert all(len(u["posts"]) == POSTS_PER_USER for u in users)


async def test_list_users_defaults_to_all_seeded_users(client: httpx.AsyncClient) -> None:
    response = await client.get("/users")
    assert response.status_code == 200
    assert len(response.json()) == SEEDED_USERS


async def test_create_user_then_add_a_post(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json={"name": "  Ada  "})
    assert created.status_code == 201
    user = created.json()
    assert user["name"] == "Ada"
    assert user["posts"] == []
    assert user["id"] == SEEDED_USERS + 1

    posted = await client.post(f"/users/{user['id']}/posts", json={"title": "hello"})
    assert posted.status_code == 201
    assert posted.json()["user_id"] == user["id"]

    fetched = (await client.get(f"/users/{user['id']}")).json()
    assert [p["title"] for p in fetched["posts"]] == ["hello"]


async def test_healthz_pings_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/users/999", None, id="get-user"),
        pytest.param("POST", "/users/999/posts", {"title": "x"}, id="post-to-missing-user"),
    ],
)
async def test_unknown_user_is_404(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == 404
    assert response.json() == {"detail": "user 999 not found"}


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        pytest.param("GET", "/users/abc", None, None, id="non-numeric-id"),
        pytest.param("GET", "/users", {"limit": MAX_PAGE_SIZE + 1}, None, id="limit-too-big"),
        pytest.param("GET", "/users", {"limit": 0}, None, id="limit-zero"),
        pytest.param("GET", "/users", {"offset": -1}, None, id="negative-offset"),
        pytest.param("GET", "/users", {"strategy": "subquery"}, None, id="unknown-strategy"),
        pytest.param("POST", "/users", None, {"name": ""}, id="empty-name"),
        pytest.param("POST", "/users", None, {"name": "x" * 101}, id="name-too-long"),
        pytest.param("POST", "/users", None, {"nom": "x"}, id="unknown-field"),
        pytest.param("POST", "/users/1/posts", None, {}, id="missing-title"),
    ],
)
async def test_invalid_input_is_422(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    params: dict[str, object] | None,
    body: dict[str, str] | None,
) -> None:
    response = await client.request(method, path, params=params, json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("strategy", "expected_statements"),
    [
        pytest.param("selectin", 2, id="selectin"),
        pytest.param("joined", 1, id="joined"),
        pytest.param("lazy", 1 + 5, id="lazy"),
    ],
)
async def test_statements_per_request_by_strategy(
    make_client: ClientFactory, strategy: str, expected_statements: int
) -> None:
    async with make_client() as client:
        response = await client.get("/users", params={"limit": 5, "strategy": strategy})
        assert response.status_code == 200
        families = metrics_of(await client.get("/metrics"))
    labels = {"method": "GET", "route": "/users"}
    sums = samples(families, "sqla_lab_statements_per_request", "_sum", **labels)
    counts = samples(families, "sqla_lab_statements_per_request", "_count", **labels)
    assert (sums, counts) == ([float(expected_statements)], [1.0])


async def test_statements_per_request_of_writes(make_client: ClientFactory) -> None:
    async with make_client() as client:
        user = (await client.post("/users", json={"name": "w"})).json()
        assert (await client.post(f"/users/{user['id']}/posts", json={"title": "t"})).is_success
        families = metrics_of(await client.get("/metrics"))

    def total(route: str) -> list[float]:
        return samples(
            families, "sqla_lab_statements_per_request", "_sum", method="POST", route=route
        )

    # INSERT user; then SELECT the user (404 check) and INSERT the post.
    assert (total("/users"), total("/users/{user_id}/posts")) == ([1.0], [2.0])


async def test_metrics_exposition_parses_and_counts_requests(
    make_client: ClientFactory,
) -> None:
    async with make_client(pool_size=3, max_overflow=2) as client:
        for _ in range(3):
            assert (await client.get("/users/1")).status_code == 200
        assert (await client.get("/users/999")).status_code == 404
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = metrics_of(response)
    assert samples(families, "sqla_lab_pool_size", "") == [3.0]
    assert samples(families, "sqla_lab_pool_checked_out", "") == [0.0]
    assert samples(families, "sqla_lab_pool_overflow", "") == [0.0]
    requests = samples(families, "sqla_lab_http_requests", "_total", route="/users/{user_id}")
    assert sorted(requests) == [1.0, 3.0]
    assert samples(
        families, "sqla_lab_http_requests", "_total", route="/users/{user_id}", status="404"
    ) == [1.0]
    # One statement per GET /users/{id} (joinedload), found or not.
    assert samples(
        families, "sqla_lab_statements_per_request", "_sum", route="/users/{user_id}"
    ) == [4.0]
    # PoolMonitor: the start-up ping and the four requests each asked for one connection.
    assert samples(families, "sqla_lab_pool_checkout_waits", "_total") == [5.0]
    assert samples(families, "sqla_lab_pool_checkouts", "_total") == [5.0]
    assert samples(families, "sqla_lab_pool_checkout_timeouts", "_total") == [0.0]
    buckets = samples(families, "sqla_lab_pool_checkout_wait_seconds", "_bucket", le="+Inf")
    assert buckets == [5.0]


async def test_lifespan_opens_and_disposes_the_database(db_url: URL, seeded: AsyncEngine) -> None:
    app = create_app(Settings(database_url=db_url.render_as_string(hide_password=False)))
    async with running(app) as client:
        assert (await client.get("/users/1")).status_code == 200
        database: Database = app.state.database
        pool = database.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedin() == 1  # the start-up ping's connection, reused by the request
    # Disposed: the idle connection is closed and the pool gauges are unbound.
    assert pool.checkedin() == 0
    assert "sqla_lab_pool_size" not in generate_latest(app.state.metrics.registry).decode()
