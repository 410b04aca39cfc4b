"""The demo service's endpoints: users and their posts, health and metrics.

Each database route is a thin ``async def`` that hands a plain function of the
:class:`~sqlalchemy.orm.Session` to :class:`~sqla_lab.service.sessions.RequestSessions`
(``request.app.state.sessions``); the function runs in one greenlet, where the ORM may do its
I/O implicitly (so the ``lazy`` strategy lazy-loads with plain attribute access: 1 + N).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import BigInteger, Integer, bindparam, select
from sqlalchemy.orm import Session, joinedload, selectinload

from sqla_lab.demo.models import PostEntity, UserEntity
from sqla_lab.demo.schemas import PostOut, UserOut
from sqla_lab.service.errors import NotFound, documented_errors
from sqla_lab.service.json_bodies import StrictJSONRoute
from sqla_lab.service.metrics import ServiceMetrics
from sqla_lab.service.schemas import (
    LoadStrategy,
    NewPost,
    NewUser,
    Offset,
    PageSize,
    UserId,
)
from sqla_lab.service.sessions import RequestSessions

__all__ = [
    "CREATE_POST",
    "CREATE_USER",
    "GET_USER",
    "LIST_USERS",
    "PAGES",
    "USER_WITH_POSTS",
    "add_routes",
    "create_post",
    "create_user",
    "get_user",
    "healthz",
    "list_users",
    "metrics",
]

#: Built once: constructing the select and its loader option per request costs more than
#: running the cached compiled form (about 0.13 ms of 0.75 ms, ``benchmarks/service.py``).
USER_WITH_POSTS = (
    select(UserEntity)
    .where(UserEntity.id == bindparam("user_id"))
    .options(joinedload(UserEntity.posts))
)

_PAGE = (
    select(UserEntity)
    .order_by(UserEntity.id)
    .limit(bindparam("limit", type_=Integer))
    .offset(bindparam("offset", type_=BigInteger))
)
#: One prebuilt page query per strategy: building them per request cost CPU and left cyclic
#: garbage (their bound parameters) for the collector.
PAGES = {
    LoadStrategy.SELECTIN: _PAGE.options(selectinload(UserEntity.posts)),
    LoadStrategy.JOINED: _PAGE.options(joinedload(UserEntity.posts)),
    LoadStrategy.LAZY: _PAGE,
}

# (method, route template): the labels of sqla_lab_statements_per_request.
GET_USER: Final = ("GET", "/users/{user_id}")
LIST_USERS: Final = ("GET", "/users")
CREATE_USER: Final = ("POST", "/users")
CREATE_POST: Final = ("POST", "/users/{user_id}/posts")

_READ_ERRORS = documented_errors(500, 503, 504)
_ONE_USER_ERRORS = documented_errors(404, 500, 503, 504)


def _sessions(request: Request) -> RequestSessions:
    sessions: RequestSessions = request.app.state.sessions
    return sessions


def _user_with_posts(session: Session, user_id: int) -> UserOut:
    user = session.scalars(USER_WITH_POSTS, {"user_id": user_id}).unique().one_or_none()
    if user is None:
        raise NotFound(f"user {user_id}")
    return UserOut.model_validate(user)


async def get_user(user_id: UserId, request: Request) -> UserOut:
    """One user with their posts, in one statement.

    ``joinedload`` here, not ``selectinload``: for a single parent the JOIN repeats only that
    user's columns per post, and saves a round trip and a second statement
    (``benchmarks/service.py`` measures the service with it).
    """
    return await _sessions(request).read(GET_USER, _user_with_posts, user_id)


def _page(session: Session, limit: int, offset: int, strategy: LoadStrategy) -> list[UserOut]:
    # With LoadStrategy.LAZY each user's posts are lazy-loaded when read below: 1 + N.
    users = session.scalars(PAGES[strategy], {"limit": limit, "offset": offset}).unique().all()
    return [UserOut.model_validate(user) for user in users]


async def list_users(
    request: Request,
    limit: PageSize = 20,
    offset: Offset = 0,
    strategy: LoadStrategy = LoadStrategy.SELECTIN,
) -> list[UserOut]:
    """A page of users with their posts, loaded the way ``strategy`` says."""
    return await _sessions(request).read(LIST_USERS, _page, limit, offset, strategy)


def _new_user(session: Session, name: str) -> UserOut:
    user = UserEntity(name=name, posts=[])
    session.add(user)
    session.flush()
    return UserOut.model_validate(user)


async def create_user(body: NewUser, request: Request) -> UserOut:
    """Create a user without posts."""
    return await _sessions(request).write(CREATE_USER, _new_user, body.name)


def _new_post(session: Session, user_id: int, title: str) -> PostOut:
    if session.get(UserEntity, user_id) is None:
        raise NotFound(f"user {user_id}")
    post = PostEntity(user_id=user_id, title=title)
    session.add(post)
    session.flush()
    return PostOut.model_validate(post)


async def create_post(user_id: UserId, body: NewPost, request: Request) -> PostOut:
    """Add a post to an existing user."""
    return await _sessions(request).write(CREATE_POST, _new_post, user_id, body.title)


async def healthz(request: Request) -> dict[str, str]:
    """``{"status": "ok"}`` if the database answers ``SELECT 1``; 503 otherwise."""
    await _sessions(request).ping()
    return {"status": "ok", "database": "ok"}


async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's registry."""
    registry: ServiceMetrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)


def add_routes(router: APIRouter) -> tuple[APIRoute, ...]:
    """Register the service's routes directly on ``router`` (the app's own) and return them.

    Not through ``include_router``: FastAPI matches an included router's routes through an
    extra layer on every request (about 150 more Python calls per request with two levels,
    some 10% of ``GET /users/{id}`` in ``benchmarks/service.py``).
    """
    created = 201
    specs: list[tuple[str, Callable[..., Any], str, dict[str, Any]]] = [
        (GET_USER[1], get_user, "GET", {"responses": _ONE_USER_ERRORS}),
        (LIST_USERS[1], list_users, "GET", {"responses": _READ_ERRORS}),
        (CREATE_USER[1], create_user, "POST", {"status_code": created, "responses": _READ_ERRORS}),
        (
            CREATE_POST[1],
            create_post,
            "POST",
            {"status_code": created, "responses": _ONE_USER_ERRORS},
        ),
        ("/healthz", healthz, "GET", {"responses": _READ_ERRORS}),
        ("/metrics", metrics, "GET", {"include_in_schema": False}),
    ]
    for path, endpoint, method, options in specs:
        # Only the routes with a body parse it, so only they need the strict parser.
        route_class = StrictJSONRoute if method == "POST" else APIRoute
        router.add_api_route(
            path, endpoint, methods=[method], route_class_override=route_class, **options
        )
    paths = {path for path, *_ in specs}
    return tuple(r for r in router.routes if isinstance(r, APIRoute) and r.path in paths)
