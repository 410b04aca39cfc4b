"""Bad input is a 422 (or 405), never a 500; the OpenAPI schema says what is accepted."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sqla_lab.service.schemas import MAX_ID, MAX_OFFSET

from .conftest import SEEDED_USERS


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/users/0", id="id-zero"),
        pytest.param("GET", "/users/-1", id="id-negative"),
        pytest.param("GET", f"/users/{MAX_ID + 1}", id="id-beyond-integer"),
        pytest.param("GET", "/users/99999999999999999999999", id="id-beyond-bigint"),
        pytest.param("GET", f"/users?offset={MAX_OFFSET + 1}", id="offset-beyond-bigint"),
        pytest.param("GET", "/users?limit=nan", id="limit-nan"),
        pytest.param("POST", f"/users/{MAX_ID + 1}/posts", id="post-to-id-beyond-integer"),
    ],
)
async def test_out_of_range_parameters_are_422(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"title": "t"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


async def test_the_largest_ids_and_offsets_are_accepted(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/users/{MAX_ID}")).status_code == 404
    response = await client.get("/users", params={"offset": MAX_OFFSET})
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    "raw_body",
    [
        pytest.param(b'{"name": NaN}', id="nan"),
        pytest.param(b'{"name": Infinity}', id="infinity"),
        pytest.param(b'{"name": -Infinity}', id="minus-infinity"),
        pytest.param(b'{"name": "\\ud800"}', id="lone-surrogate-value"),
        pytest.param(b'{"\\udfff": "x"}', id="lone-surrogate-key"),
        pytest.param(b'{"name": "\xff\xfe"}', id="not-utf8"),
        pytest.param(b'{"name": ', id="truncated"),
    ],
)
async def test_bodies_that_are_not_strict_json_are_422(
    client: httpx.AsyncClient, raw_body: bytes
) -> None:
    response = await client.post(
        "/users", content=raw_body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json()["detail"]
    assert error["type"] == "json_invalid"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/users", {"name": "nul\x00inside"}, id="name-with-nul"),
        pytest.param("/users/1/posts", {"title": "nul\x00inside"}, id="title-with-nul"),
        pytest.param("/users", {"name": " \t\n "}, id="blank-name"),
        pytest.param("/users", {"name": "\x1f"}, id="separator-only-name"),
        pytest.param("/users", {"name": " " + "x" * 100}, id="name-too-long-before-strip"),
        pytest.param(
            "/users/1/posts", {"title": "x" * 200 + " "}, id="title-too-long-before-strip"
        ),
        pytest.param("/users", {"name": 5}, id="name-not-a-string"),
    ],
)
async def test_text_postgresql_cannot_store_or_too_long_as_sent_is_422(
    client: httpx.AsyncClient, seeded: AsyncEngine, path: str, body: dict[str, object]
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    async with seeded.connect() as conn:
        users = await conn.scalar(text("SELECT count(*) FROM users"))
    assert users == SEEDED_USERS


async def test_names_are_stored_stripped_and_unicode_is_kept(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json={"name": "  Zoë 😀  "})
    assert created.status_code == 201
    assert created.json()["name"] == "Zoë 😀"
    longest = await client.post("/users", json={"name": "é" * 100})
    assert longest.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("DELETE", "/users", "GET, POST", id="users"),
        pytest.param("PUT", "/users/1", "GET", id="one-user"),
        pytest.param("GET", "/users/1/posts", "POST", id="posts"),
        pytest.param("POST", "/healthz", "GET", id="healthz"),
    ],
)
async def test_wrong_method_is_405_with_every_allowed_method(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_openapi_lists_every_status_each_operation_answers(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    documented = {
        (method.upper(), path): set(operation["responses"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert documented == {
        ("GET", "/users/{user_id}"): {"200", "404", "422", "500", "503", "504"},
        ("GET", "/users"): {"200", "422", "500", "503", "504"},
        ("POST", "/users"): {"201", "422", "500", "503", "504"},
        ("POST", "/users/{user_id}/posts"): {"201", "404", "422", "500", "503", "504"},
        ("GET", "/healthz"): {"200", "500", "503", "504"},
    }
    user_id = schema["paths"]["/users/{user_id}"]["get"]["parameters"][0]["schema"]
    assert (user_id["minimum"], user_id["maximum"]) == (1, MAX_ID)
