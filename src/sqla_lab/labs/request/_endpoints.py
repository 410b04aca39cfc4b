"""The same ``GET /users/{id}`` endpoint written eleven ways, each a FastAPI app of its own.

Every variant answers the same JSON (a user and their ten posts) from the same single
``LEFT OUTER JOIN``. ``raw`` uses asyncpg, ``core`` SQLAlchemy Core, the others the ORM
(``select(UserEntity)`` with ``joinedload``) through an ``AsyncSession``. ``best`` is the
cheapest ORM form measured; each ``with-*`` variant is ``best`` with one avoidable cost put
back, so that its price is measured alone; ``all-costs`` has all of them at once (the "bare
ORM" that ``benchmarks/service.py`` used to measure).

The response models are the lab's own (this lab sits below the demo service and does not
import it); they have the service's shape. FastAPI is imported with this module, which the lab
imports only when it runs (``sqla-lab list`` stays light). No ``from __future__ import
annotations`` here: FastAPI reads the endpoints' annotations at runtime, and some name
dependencies local to a factory.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final, Protocol

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Path
from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, joinedload

from sqla_lab.demo.models import UserEntity
from sqla_lab.demo.schemas import PostOut, UserOut
from sqla_lab.labs.request import _dependencies as dependencies

__all__ = [
    "JOIN_SQL",
    "POOL_SIZE",
    "USER_WITH_POSTS",
    "Row",
    "UserId",
    "build_app",
    "load_and_close",
    "user_from_rows",
]

POOL_SIZE: Final = 10
JOIN_SQL: Final = (
    "SELECT u.id, u.name, p.id AS post_id, p.title FROM users AS u "
    "LEFT OUTER JOIN posts AS p ON p.user_id = u.id WHERE u.id = $1 ORDER BY p.id"
)
USER_WITH_POSTS: Final = (
    select(UserEntity)
    .where(UserEntity.id == bindparam("user_id"))
    .options(joinedload(UserEntity.posts))
)

UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class Row(Protocol):
    """A row of :data:`JOIN_SQL` as asyncpg (``Record``) or SQLAlchemy (``RowMapping``) gives it."""

    def __getitem__(self, key: str) -> Any: ...


def user_from_rows(rows: Sequence[Row]) -> UserOut:
    """The response model from the rows of :data:`JOIN_SQL` (at least one)."""
    posts = [
        PostOut(id=row["post_id"], user_id=row["id"], title=row["title"])
        for row in rows
        if row["post_id"] is not None
    ]
    return UserOut(id=rows[0]["id"], name=rows[0]["name"], posts=posts)


def _not_found(user_id: int) -> HTTPException:
    return HTTPException(404, f"user {user_id} not found")


def _load(session: Session, user_id: int) -> UserOut:
    """The ORM unit of work: one select, 11 entities, the response model."""
    user = session.scalars(USER_WITH_POSTS, {"user_id": user_id}).unique().one_or_none()
    if user is None:
        raise _not_found(user_id)
    return UserOut.model_validate(user)


def load_and_close(session: Session, user_id: int) -> UserOut:
    """:func:`_load`, then close the session in the same greenlet."""
    result = _load(session, user_id)
    session.close()  # autocommit: no I/O left, so this close cannot be interrupted
    return result


def _load_with_options(session: Session, user_id: int) -> UserOut:
    session.connection(execution_options=dependencies.AUTOCOMMIT)
    return load_and_close(session, user_id)


def _raw_app(dsn: str) -> FastAPI:
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/users/{user_id}")
    async def get_user(user_id: UserId) -> UserOut:
        assert pool is not None
        rows = await pool.fetch(JOIN_SQL, user_id)
        if not rows:
            raise _not_found(user_id)
        return user_from_rows(rows)

    return app


def _core_app(url: URL) -> FastAPI:
    engine = create_async_engine(
        url, pool_size=POOL_SIZE, max_overflow=0, isolation_level="AUTOCOMMIT"
    )
    statement = text(JOIN_SQL.replace("$1", ":user_id"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/users/{user_id}")
    async def get_user(user_id: UserId) -> UserOut:
        async with engine.connect() as conn:
            rows = (await conn.execute(statement, {"user_id": user_id})).mappings().all()
        if not rows:
            raise _not_found(user_id)
        return user_from_rows(rows)

    return app


def _orm_app(url: URL, key: str) -> FastAPI:
    # Autocommit once per connection, on the engine; or per request, on a default engine.
    per_request = key in ("with-per-request-options", "all-costs")
    engine = create_async_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=0,
        **({} if per_request else {"isolation_level": "AUTOCOMMIT"}),
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.state.sessions = sessions

    async def best(user_id: UserId) -> UserOut:
        session = sessions()
        try:
            return await session.run_sync(load_and_close, user_id)
        except BaseException:
            await session.close()
            raise

    async def with_yield_dependency(
        user_id: UserId, session: Annotated[AsyncSession, Depends(dependencies.session)]
    ) -> UserOut:
        return await session.run_sync(load_and_close, user_id)

    async def with_per_request_options(user_id: UserId) -> UserOut:
        session = sessions()
        try:
            return await session.run_sync(_load_with_options, user_id)
        except BaseException:
            await session.close()
            raise

    async def with_shielded_close(user_id: UserId) -> UserOut:
        async with sessions() as session:
            return await session.run_sync(_load, user_id)

    async def with_greenlet_per_call(user_id: UserId) -> UserOut:
        session = sessions()
        try:
            result = await session.scalars(USER_WITH_POSTS, {"user_id": user_id})
            user = result.unique().one_or_none()
            if user is None:
                raise _not_found(user_id)
            return UserOut.model_validate(user)
        finally:
            await session.close()

    async def all_costs(
        user_id: UserId, session: Annotated[AsyncSession, Depends(dependencies.closing_session)]
    ) -> UserOut:
        result = await session.scalars(USER_WITH_POSTS, {"user_id": user_id})
        user = result.unique().one_or_none()
        if user is None:
            raise _not_found(user_id)
        return UserOut.model_validate(user)

    endpoints: dict[str, Callable[..., Awaitable[UserOut]]] = {
        "best": best,
        "with-overrides": with_yield_dependency,
        "with-yield-dependency": with_yield_dependency,
        "with-per-request-options": with_per_request_options,
        "with-shielded-close": with_shielded_close,
        "with-greenlet-per-call": with_greenlet_per_call,
        "all-costs": all_costs,
    }
    app.get("/users/{user_id}")(endpoints[key])
    if key in ("with-overrides", "all-costs"):
        # Any entry, even one mapping a dependency to itself, makes FastAPI re-inspect every
        # dependency's signature on every request (fastapi.dependencies.utils).
        dependency = (
            dependencies.session if key == "with-overrides" else dependencies.closing_session
        )
        app.dependency_overrides[dependency] = dependency
    return app


def build_app(url: URL, dsn: str, key: str) -> FastAPI:
    """The app of the variant called ``key`` (see :data:`VARIANTS`) on the database at ``url``
    (``dsn``: the same database for raw asyncpg)."""
    if key == "raw":
        return _raw_app(dsn)
    if key == "core":
        return _core_app(url)
    return _orm_app(url, key)
