"""The locust file ``sqla-lab load`` runs (in a ``python -m locust`` child, never imported).

Importing locust monkey-patches the process with gevent, which breaks asyncio; so this file
is only ever loaded by locust itself. It is configured through the environment:

``SQLA_LAB_LOAD_SCENARIO``
    ``mixed`` (default: reads of one user and of a page of users, some writes), or a single
    endpoint: ``user``, ``users-selectin``, ``users-lazy``, ``users-joined``.
``SQLA_LAB_LOAD_MAX_USER_ID``
    Users are picked among ids 1..N (default 1000).
``SQLA_LAB_LOAD_PAGE_SIZE``
    ``limit`` of ``GET /users`` (default 20).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

from locust import FastHttpUser, constant

SCENARIO = os.environ.get("SQLA_LAB_LOAD_SCENARIO", "mixed")
MAX_USER_ID = int(os.environ.get("SQLA_LAB_LOAD_MAX_USER_ID", "1000"))
PAGE_SIZE = int(os.environ.get("SQLA_LAB_LOAD_PAGE_SIZE", "20"))


def _random_user_id() -> int:
    return random.randint(1, max(1, MAX_USER_ID))


def _random_offset() -> int:
    return random.randint(0, max(0, MAX_USER_ID - PAGE_SIZE))


def get_user(user: FastHttpUser) -> None:
    """GET one user and their posts."""
    user.client.get(f"/users/{_random_user_id()}", name="GET /users/{id}")


def _list_users(user: FastHttpUser, strategy: str) -> None:
    user.client.get(
        f"/users?limit={PAGE_SIZE}&offset={_random_offset()}&strategy={strategy}",
        name=f"GET /users?strategy={strategy}",
    )


def users_selectin(user: FastHttpUser) -> None:
    """GET a page of users, posts loaded with ``selectinload``."""
    _list_users(user, "selectin")


def users_lazy(user: FastHttpUser) -> None:
    """GET a page of users, posts loaded one user at a time (1 + N)."""
    _list_users(user, "lazy")


def users_joined(user: FastHttpUser) -> None:
    """GET a page of users, posts loaded with ``joinedload``."""
    _list_users(user, "joined")


def add_post(user: FastHttpUser) -> None:
    """POST a post to a random user."""
    user.client.post(
        f"/users/{_random_user_id()}/posts",
        json={"title": "written under load"},
        name="POST /users/{id}/posts",
    )


def _tasks(scenario: str) -> dict[Callable[[FastHttpUser], None], int]:
    single = {
        "user": get_user,
        "users-selectin": users_selectin,
        "users-lazy": users_lazy,
        "users-joined": users_joined,
    }
    if scenario == "mixed":
        return {get_user: 6, users_selectin: 3, add_post: 1}
    if scenario in single:
        return {single[scenario]: 1}
    raise ValueError(f"unknown SQLA_LAB_LOAD_SCENARIO {scenario!r}")


class ServiceUser(FastHttpUser):
    """A client that sends the scenario's requests back to back (no think time)."""

    wait_time = constant(0)
    tasks = _tasks(SCENARIO)  # type: ignore[assignment]  # locust accepts {callable: weight}
