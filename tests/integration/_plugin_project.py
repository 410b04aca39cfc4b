"""A user's project, as files: its own models, a FastAPI app, and tests through every fixture.

``test_pytest_plugin.py`` writes a selection of these files into a pytester directory and
runs pytest on them in a subprocess, as a project that installed sqla-lab would.
"""

from __future__ import annotations

MODELS = '''
from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    pass


class User(Base):
    """The project's own ``users``: nothing like sqla-lab's demo table (id, name)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    nickname: Mapped[str | None]


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


def library(authors: int = 3, books: int = 2) -> list[Author]:
    return [
        Author(name=f"author {a}", books=[Book(title=f"book {a}.{b}") for b in range(books)])
        for a in range(authors)
    ]
'''

WEB = """
from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from myapp.models import Author

#: The app's own session factory; bound to an engine when the app starts (here: by a test).
SessionFactory = async_sessionmaker(expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionFactory() as session:
        yield session


app = FastAPI()


@app.get("/authors/lazy")
async def authors_lazy(session: AsyncSession = Depends(get_session)) -> list[dict]:
    authors = (await session.scalars(select(Author).order_by(Author.id))).all()
    return [
        {"name": a.name, "books": [b.title for b in await a.awaitable_attrs.books]}
        for a in authors
    ]


@app.get("/authors")
async def authors(session: AsyncSession = Depends(get_session)) -> list[dict]:
    statement = select(Author).options(selectinload(Author.books)).order_by(Author.id)
    authors = (await session.scalars(statement)).all()
    return [{"name": a.name, "books": [b.title for b in a.books]} for a in authors]
"""

CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def db_engine_options():
    return {"pool_size": 3, "max_overflow": 2}
"""

TEST_ASYNC = """
import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import selectinload

from myapp.models import Author, Book, User, library
from sqla_lab.errors import ExpectationFailed, NPlusOneDetected, QueryBudgetExceeded


def test_postgres_runs(postgres):
    assert postgres.status.value == "running"


def test_db_url_is_a_workspace_of_its_own(db_url, postgres):
    if "search_path" in db_url.query:
        assert db_url.query["search_path"].startswith("sqla_lab_pytest_")
    else:
        assert db_url.database.startswith("sqla_lab_pytest_")
        assert db_url.database != postgres.url.database


async def test_users_is_the_projects_table(db_engine):
    async with db_engine.connect() as conn:
        columns = await conn.run_sync(lambda c: inspect(c).get_columns("users"))
    assert {column["name"] for column in columns} == {"id", "email", "nickname"}


async def test_engine_options_reach_the_shared_engine(db_engine, db_sync_engine):
    assert db_engine.pool.size() == 3
    assert db_sync_engine.pool.size() == 3


@pytest.mark.parametrize("email", ["first@example.com", "second@example.com"])
async def test_each_test_starts_empty_even_after_a_commit(db_session, email):
    db_session.add(User(email=email))
    await db_session.commit()
    assert await db_session.scalar(select(func.count()).select_from(User)) == 1


async def test_sessions_keep_sqlalchemys_default_expire_on_commit(db_session):
    user = User(email="expired@example.com")
    db_session.add(user)
    await db_session.commit()
    with pytest.raises(MissingGreenlet):
        user.email  # expired by the commit: a lazy load, which asyncio cannot do implicitly


async def test_rollback_in_the_test_keeps_earlier_commits(db_session):
    db_session.add(User(email="kept@example.com"))
    await db_session.commit()
    db_session.add(User(email="dropped@example.com"))
    await db_session.rollback()
    emails = (await db_session.scalars(select(User.email))).all()
    assert emails == ["kept@example.com"]


async def test_two_statement_selectinload_after_a_commit(db_session, assert_num_queries):
    db_session.add_all(library())
    await db_session.commit()
    with assert_num_queries(2) as recorder:
        statement = select(Author).options(selectinload(Author.books))
        authors = (await db_session.scalars(statement)).all()
    assert [len(a.books) for a in authors] == [2, 2, 2]
    assert not any("SAVEPOINT" in q.sql for q in recorder.queries)


async def test_commit_costs_no_statement_and_own_savepoints_count(
    db_session, assert_num_queries
):
    db_session.add(User(email="a@example.com"))
    async with assert_num_queries(1):
        await db_session.commit()  # the INSERT; RELEASE SAVEPOINT is the fixture's
    with assert_num_queries(3):  # SAVEPOINT, SELECT, RELEASE: the test's own begin_nested
        async with db_session.begin_nested():
            await db_session.execute(text("SELECT 1"))


async def test_wrong_counts_fail_with_the_statements(
    db_session, assert_num_queries, assert_max_queries
):
    with pytest.raises(QueryBudgetExceeded, match="expected exactly 1 .* sent 2") as too_many:
        with assert_num_queries(1):
            await db_session.execute(text("SELECT 'first'"))
            await db_session.execute(text("SELECT 'second'"))
    assert "SELECT 'second'" in str(too_many.value)
    with pytest.raises(ExpectationFailed, match="expected exactly 2 .* sent 1"):
        with assert_num_queries(2):
            await db_session.execute(text("SELECT 1"))
    with assert_max_queries(2):
        await db_session.execute(text("SELECT 1"))
    with pytest.raises(QueryBudgetExceeded, match="at most 0"):
        async with assert_max_queries(0):
            await db_session.execute(text("SELECT 1"))


async def test_every_engine_on_the_test_database_counts_and_no_other(
    db_url, postgres, assert_num_queries
):
    mine = create_async_engine(db_url)
    other = create_async_engine(postgres.url)  # the server's own database: not the test's
    try:
        with assert_num_queries(1):
            async with mine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            async with other.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await mine.dispose()
        await other.dispose()


async def test_target_narrows_the_block(db_session, db_engine, assert_num_queries):
    with assert_num_queries(1, target=db_session):
        await db_session.execute(text("SELECT 'session'"))
        async with db_engine.connect() as conn:
            await conn.execute(text("SELECT 'elsewhere'"))


async def test_query_recorder_sees_the_whole_test(db_session, query_recorder):
    db_session.add(User(email="recorded@example.com"))
    await db_session.commit()
    await db_session.scalar(select(func.count()).select_from(User))
    assert [q.sql.split()[0] for q in query_recorder.queries] == ["INSERT", "SELECT"]


async def test_no_n_plus_one_catches_a_lazy_loop_and_passes_selectin(db_session, no_n_plus_one):
    db_session.add_all(library())
    await db_session.commit()
    with pytest.raises(NPlusOneDetected, match="Author.books lazy-loaded .*selectinload"):
        with no_n_plus_one():
            for author in (await db_session.scalars(select(Author))).all():
                await author.awaitable_attrs.books
    db_session.expunge_all()
    async with no_n_plus_one():
        statement = select(Author).options(selectinload(Author.books))
        for author in (await db_session.scalars(statement)).all():
            assert author.books
    db_session.expunge_all()
    with no_n_plus_one(allow=[Author.books]):
        for author in (await db_session.scalars(select(Author))).all():
            await author.awaitable_attrs.books


@pytest.mark.asyncio(loop_scope="module")
async def test_a_loop_other_than_the_fixtures_is_refused(db_session):
    pass  # the db_session fixture fails first, naming the two loop scopes
"""

TEST_WEB = '''
import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import create_async_engine

from myapp import web
from myapp.models import Author, Book, library
from sqla_lab.errors import NPlusOneDetected


@pytest.fixture
async def client(db_session):
    """The app, its session dependency overridden by the test's rolled-back session."""

    async def test_session():
        yield db_session

    web.app.dependency_overrides[web.get_session] = test_session
    transport = httpx.ASGITransport(app=web.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        yield http
    web.app.dependency_overrides.clear()


@pytest.fixture
async def seeded(db_session):
    db_session.add_all(library())
    await db_session.commit()
    db_session.expunge_all()  # the routes must load from the database, not the identity map


async def test_selectin_route_sends_two_statements(
    client, seeded, assert_num_queries, no_n_plus_one
):
    with assert_num_queries(2), no_n_plus_one():
        response = await client.get("/authors")
    assert response.status_code == 200
    assert [len(a["books"]) for a in response.json()] == [2, 2, 2]


async def test_lazy_route(client, seeded, no_n_plus_one):
    # Expected to FAIL: the route lazy-loads Author.books once per author.
    with no_n_plus_one():
        response = await client.get("/authors/lazy")
    assert response.status_code == 200


@pytest.fixture
async def own_engine(db_url):
    """The app's own engine on the test database (its sessions commit for real)."""
    engine = create_async_engine(db_url)
    web.SessionFactory.configure(bind=engine)
    async with engine.begin() as conn:
        await conn.execute(Author.__table__.insert(), [{"name": "x"}, {"name": "y"}])
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(Book))
            await conn.execute(delete(Author))
        await engine.dispose()


async def test_an_app_with_its_own_engine_is_watched_too(own_engine, no_n_plus_one):
    transport = httpx.ASGITransport(app=web.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        with pytest.raises(NPlusOneDetected, match="Author.books"):
            with no_n_plus_one():
                await http.get("/authors/lazy")
        with no_n_plus_one():
            assert (await http.get("/authors")).status_code == 200
'''

TEST_OWN_FACTORY = """
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from myapp.models import User


class ProjectSession(AsyncSession):
    pass


@pytest.fixture
def db_sessionmaker(db_engine):
    return async_sessionmaker(db_engine, class_=ProjectSession, info={"project": True})


@pytest.mark.parametrize("email", ["one@example.com", "two@example.com"])
async def test_the_projects_factory_is_used_and_still_isolated(db_session, email):
    assert isinstance(db_session, ProjectSession)
    assert db_session.info["project"] is True
    db_session.add(User(email=email))
    await db_session.commit()
    assert await db_session.scalar(select(func.count()).select_from(User)) == 1
"""

TEST_SYNC = """
import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import selectinload

from myapp.models import Author, User, library
from sqla_lab.errors import NPlusOneDetected, QueryBudgetExceeded


def test_users_is_the_projects_table(db_sync_engine):
    columns = {c["name"] for c in inspect(db_sync_engine).get_columns("users")}
    assert columns == {"id", "email", "nickname"}


@pytest.mark.parametrize("email", ["first@example.com", "second@example.com"])
def test_each_sync_test_starts_empty_even_after_a_commit(db_sync_session, email):
    db_sync_session.add(User(email=email))
    db_sync_session.commit()
    assert db_sync_session.scalar(select(func.count()).select_from(User)) == 1


def test_sync_selectinload_after_a_commit(db_sync_session, assert_num_queries):
    db_sync_session.add_all(library())
    db_sync_session.commit()
    with assert_num_queries(2):
        authors = db_sync_session.scalars(select(Author).options(selectinload(Author.books))).all()
    assert [len(a.books) for a in authors] == [2, 2, 2]


def test_sync_no_n_plus_one(db_sync_session, no_n_plus_one, query_recorder):
    db_sync_session.add_all(library())
    db_sync_session.commit()
    db_sync_session.expunge_all()
    with pytest.raises(NPlusOneDetected, match="Author.books"):
        with no_n_plus_one():
            for author in db_sync_session.scalars(select(Author)).all():
                author.books
    assert not any("SAVEPOINT" in q.sql for q in query_recorder.queries)


def test_sync_max_queries(db_sync_session, assert_max_queries):
    with assert_max_queries(1):
        db_sync_session.execute(text("SELECT 1"))
    with pytest.raises(QueryBudgetExceeded, match="at most 0"):
        with assert_max_queries(0):
            db_sync_session.execute(text("SELECT 1"))
"""

TEST_SYNC_OPTIONS = """
import pytest
from sqlalchemy import inspect

from myapp.models import User


@pytest.fixture(scope="module")
def db_session_options():
    return {"expire_on_commit": False}


def test_session_options_reach_the_sync_factory(db_sync_session):
    user = User(email="kept@example.com")
    db_sync_session.add(user)
    db_sync_session.commit()
    assert not inspect(user).expired
"""

TEST_NEEDS_ASYNCIO = """
def test_async_fixture_without_pytest_asyncio(db_session):
    pass
"""
