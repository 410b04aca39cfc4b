"""The N+1 corpus: scenarios an N+1 detector must report, and correct code it must not.

Each :class:`Scenario` is one pattern, named by its id, in a class (the false-alarm and miss
classes of issue 13, plus the plain N+1 shapes), with the fix a detector should name
(``None``: must not be reported). ``tests/integration/test_n_plus_one_corpus.py`` runs them
under :class:`~sqla_lab.NPlusOneDetector`; ``benchmarks/n_plus_one.py`` runs the same ones
under queryspy and pytest-queryguard as well. Each scenario runs against the corpus tables
(:mod:`tests.integration._n_plus_one_corpus_models`) on the real PostgreSQL, in a session
joined to an outer transaction that is rolled back afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import jinja2
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    ARRAY,
    Integer,
    any_,
    bindparam,
    cast,
    exists,
    func,
    inspect,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (
    Session,
    contains_eager,
    defer,
    immediateload,
    joinedload,
    load_only,
    selectinload,
    subqueryload,
    with_parent,
)
from sqlalchemy.pool import NullPool

from tests.integration._n_plus_one_corpus_models import AUTHORS, Author, Book, Chapter, Tag

Target = Literal["session", "engine", "sessionmaker", "scope"]


@dataclass
class Env:
    """What a scenario works with."""

    engine: AsyncEngine
    connection: AsyncConnection
    session: AsyncSession
    sessionmaker: async_sessionmaker[AsyncSession]

    def joined_session(self, **kwargs: Any) -> AsyncSession:
        """Another session in the scenario's outer transaction (rolled back afterwards)."""
        return AsyncSession(
            bind=self.connection, join_transaction_mode="create_savepoint", **kwargs
        )


@dataclass(frozen=True)
class Scenario:
    """One pattern: its id, class, the fix expected (``None``: not an N+1) and its code."""

    id: str
    cls: str
    fix: str | None
    run: Callable[[Env], Awaitable[None]]
    target: Target = "session"

    @property
    def positive(self) -> bool:
        return self.fix is not None


@asynccontextmanager
async def environment(engine: AsyncEngine) -> AsyncIterator[Env]:
    """An :class:`Env` whose writes are rolled back when the block ends."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield Env(
                engine=engine,
                connection=connection,
                session=session,
                sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
            )
        finally:
            await session.close()
            if transaction.is_active:
                await transaction.rollback()


async def _authors(session: AsyncSession, *options: Any, limit: int = AUTHORS) -> list[Author]:
    stmt = select(Author).order_by(Author.id).limit(limit).options(*options)
    return list((await session.scalars(stmt)).unique().all())


async def _books(session: AsyncSession, *options: Any) -> list[Book]:
    stmt = select(Book).order_by(Book.id).options(*options)
    return list((await session.scalars(stmt)).unique().all())


# -- N+1: lazy loads ------------------------------------------------------------------------


async def lazy_collection_loop(env: Env) -> None:
    for author in await _authors(env.session):
        await author.awaitable_attrs.books


async def lazy_many_to_one_loop(env: Env) -> None:
    for book in await _books(env.session):
        await book.awaitable_attrs.author


async def lazy_many_to_many_loop(env: Env) -> None:
    for book in await _books(env.session):
        await book.awaitable_attrs.tags


async def lazy_one_to_one_loop(env: Env) -> None:
    for author in await _authors(env.session):
        await author.awaitable_attrs.profile


async def lazy_second_level_loop(env: Env) -> None:
    for author in await _authors(env.session, selectinload(Author.books)):
        for book in author.books:
            await book.awaitable_attrs.chapters


async def _titles_of(author: Author) -> list[str]:
    return [book.title for book in await author.awaitable_attrs.books]


async def lazy_loop_through_helper(env: Env) -> None:
    for author in await _authors(env.session):
        await _titles_of(author)


async def lazy_loop_in_run_sync(env: Env) -> None:
    def count_books(session: Session) -> int:
        authors = session.scalars(select(Author).order_by(Author.id)).all()
        return sum(len(author.books) for author in authors)

    await env.session.run_sync(count_books)


async def lazy_loop_in_comprehension(env: Env) -> None:
    authors = await _authors(env.session)
    [await a.awaitable_attrs.profile for a in authors]


async def immediateload_per_parent(env: Env) -> None:
    authors = await _authors(env.session, immediateload(Author.books))
    assert sum(len(a.books) for a in authors) == 18


async def lazy_two_parents(env: Env) -> None:
    for author in await _authors(env.session, limit=2):
        await author.awaitable_attrs.books


async def lazy_loop_of_sync_attribute_access(env: Env) -> None:
    def titles(session: Session) -> list[str]:
        books = session.scalars(select(Book).order_by(Book.id)).all()
        return [book.author.name for book in books]

    await env.session.run_sync(titles)


# -- N+1: repeated selects ------------------------------------------------------------------


async def get_loop(env: Env) -> None:
    for author_id in range(1, AUTHORS + 1):
        await env.session.get(Author, author_id)


async def per_item_select_loop(env: Env) -> None:
    for author_id in range(1, AUTHORS + 1):
        await env.session.scalars(select(Book).where(Book.author_id == author_id))


async def per_item_latest_with_limit_one(env: Env) -> None:
    for author_id in range(1, AUTHORS + 1):
        stmt = select(Book).where(Book.author_id == author_id).order_by(Book.id.desc()).limit(1)
        (await env.session.scalars(stmt)).first()


async def per_item_count(env: Env) -> None:
    for author_id in range(1, AUTHORS + 1):
        stmt = select(func.count()).select_from(Book).where(Book.author_id == author_id)
        await env.session.scalar(stmt)


async def per_item_single_key_in_list(env: Env) -> None:
    for author_id in range(1, AUTHORS + 1):
        await env.session.scalars(select(Book).where(Book.author_id.in_([author_id])))


class _AuthorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_id(self, author_id: int) -> Author | None:
        return await self.session.scalar(select(Author).where(Author.id == author_id))


async def repository_get_loop(env: Env) -> None:
    repository = _AuthorRepository(env.session)
    for author_id in range(1, AUTHORS + 1):
        await repository.by_id(author_id)


async def filter_by_execute_loop(env: Env) -> None:
    for author_id in range(1, AUTHORS + 1):
        (await env.session.execute(select(Author).filter_by(id=author_id))).scalar_one()


async def merge_loop(env: Env) -> None:
    detached = [Author(id=i, name=f"author {i}", publisher_id=1 + i % 3) for i in range(1, 5)]
    for author in detached:
        await env.session.merge(author)


async def with_parent_loop(env: Env) -> None:
    for author in await _authors(env.session):
        await env.session.scalars(select(Book).where(with_parent(author, Author.books)))


async def exists_per_item(env: Env) -> None:
    for author_id in range(1, AUTHORS + 1):
        await env.session.scalar(select(exists().where(Book.author_id == author_id)))


async def load_only_then_read_loop(env: Env) -> None:
    for book in await _books(env.session, load_only(Book.id)):
        await book.awaitable_attrs.title


async def lazy_loop_over_streamed_rows(env: Env) -> None:
    stmt = select(Author).order_by(Author.id).execution_options(yield_per=2)
    authors = [author async for author in await env.session.stream_scalars(stmt)]
    for author in authors:
        await author.awaitable_attrs.profile


# -- misses: Core and text() on a Connection --------------------------------------------------


async def core_select_loop_on_connection(env: Env) -> None:
    books = Book.__table__
    async with env.engine.connect() as conn:
        for author_id in range(1, AUTHORS + 1):
            await conn.execute(select(books.c.title).where(books.c.author_id == author_id))


async def text_loop_on_connection(env: Env) -> None:
    stmt = text("SELECT title FROM npo_books WHERE author_id = :author_id")
    async with env.engine.connect() as conn:
        for author_id in range(1, AUTHORS + 1):
            await conn.execute(stmt, {"author_id": author_id})


async def text_loop_on_session(env: Env) -> None:
    stmt = text("SELECT title FROM npo_books WHERE author_id = :author_id")
    for author_id in range(1, AUTHORS + 1):
        await env.session.execute(stmt, {"author_id": author_id})


async def core_loop_on_session_connection(env: Env) -> None:
    conn = await env.session.connection()
    chapters = Chapter.__table__
    for book_id in range(1, 7):
        await conn.execute(select(chapters).where(chapters.c.book_id == book_id))


async def driver_sql_loop(env: Env) -> None:
    async with env.engine.connect() as conn:
        for author_id in range(1, AUTHORS + 1):
            await conn.exec_driver_sql(
                "SELECT title FROM npo_books WHERE author_id = $1", (author_id,)
            )


# -- misses: the per-item query on another session -------------------------------------------


async def new_session_per_item(env: Env) -> None:
    for author_id in range(1, AUTHORS + 1):
        async with env.sessionmaker() as session:
            await session.get(Author, author_id)


async def new_session_per_item_under_gather(env: Env) -> None:
    async def one(author_id: int) -> Author | None:
        async with env.sessionmaker() as session:
            return await session.get(Author, author_id)

    await asyncio.gather(*(one(i) for i in range(1, AUTHORS + 1)))


async def new_engine_session_per_item(env: Env) -> None:
    engine = create_async_engine(env.engine.url, poolclass=NullPool)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        for author_id in range(1, AUTHORS + 1):
            async with sessions() as session:
                await session.get(Author, author_id)
    finally:
        await engine.dispose()


async def lazy_loop_on_second_session(env: Env) -> None:
    async with env.sessionmaker() as other:
        for author in await _authors(other):
            await author.awaitable_attrs.books


async def select_loop_on_second_session(env: Env) -> None:
    async with env.sessionmaker() as other:
        for author_id in range(1, AUTHORS + 1):
            await other.scalars(select(Book).where(Book.author_id == author_id))


async def gather_of_per_item_selects(env: Env) -> None:
    async def titles(author_id: int) -> list[str]:
        async with env.sessionmaker() as session:
            stmt = select(Book.title).where(Book.author_id == author_id)
            return list((await session.scalars(stmt)).all())

    await asyncio.gather(*(titles(i) for i in range(1, AUTHORS + 1)))


# -- misses: unused eager loads (many-to-one and chains included) ----------------------------


async def unused_selectinload_collection(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    [a.name for a in authors]


async def unused_joinedload_collection(env: Env) -> None:
    authors = await _authors(env.session, joinedload(Author.books))
    [a.name for a in authors]


async def unused_subqueryload_collection(env: Env) -> None:
    authors = await _authors(env.session, subqueryload(Author.books))
    [a.name for a in authors]


async def unused_joinedload_many_to_one(env: Env) -> None:
    books = await _books(env.session, joinedload(Book.author))
    [b.title for b in books]


async def unused_selectinload_many_to_one(env: Env) -> None:
    books = await _books(env.session, selectinload(Book.author))
    [b.author_id for b in books]


async def unused_joinedload_one_to_one(env: Env) -> None:
    authors = await _authors(env.session, joinedload(Author.profile))
    [a.name for a in authors]


async def unused_many_to_many(env: Env) -> None:
    books = await _books(env.session, selectinload(Book.tags))
    [b.title for b in books]


async def unused_end_of_joined_chain(env: Env) -> None:
    books = await _books(env.session, joinedload(Book.author).joinedload(Author.publisher))
    [b.author.name for b in books]


async def unused_end_of_selectin_chain(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books).selectinload(Book.chapters))
    [b.title for a in authors for b in a.books]


async def unused_joined_inside_selectin_chain(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books).joinedload(Book.tags))
    [b.title for a in authors for b in a.books]


# -- column loads -----------------------------------------------------------------------------


async def deferred_column_loop(env: Env) -> None:
    for author in await _authors(env.session):
        await author.awaitable_attrs.bio


async def defer_option_loop(env: Env) -> None:
    for book in await _books(env.session, defer(Book.title)):
        await book.awaitable_attrs.title


async def expired_after_commit_loop(env: Env) -> None:
    session = env.joined_session(expire_on_commit=True)
    try:
        authors = await _authors(session)
        await session.commit()
        for author in authors:
            await author.awaitable_attrs.name
    finally:
        await session.close()


async def refresh_loop(env: Env) -> None:
    for author in await _authors(env.session):
        await env.session.refresh(author)


async def expire_then_read_loop(env: Env) -> None:
    authors = await _authors(env.session)
    for author in authors:
        env.session.expire(author)
    for author in authors:
        await author.awaitable_attrs.name


async def created_then_expired_read_loop(env: Env) -> None:
    session = env.joined_session(expire_on_commit=True)
    try:
        tags = [Tag(name=f"created {i}") for i in range(4)]
        session.add_all(tags)
        await session.commit()
        for tag in tags:
            await tag.awaitable_attrs.name
    finally:
        await session.close()


# -- not N+1: correct loading -----------------------------------------------------------------


async def selectinload_read(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    assert sum(len(a.books) for a in authors) == 18


async def joinedload_collection_read(env: Env) -> None:
    authors = await _authors(env.session, joinedload(Author.books))
    assert [b.title for a in authors for b in a.books]


async def joinedload_many_to_one_read(env: Env) -> None:
    books = await _books(env.session, joinedload(Book.author))
    assert {b.author.name for b in books}


async def subqueryload_read(env: Env) -> None:
    authors = await _authors(env.session, subqueryload(Author.books))
    assert all(a.books for a in authors)


async def one_statement_with_in_list(env: Env) -> None:
    stmt = select(Book).where(Book.author_id.in_(range(1, AUTHORS + 1)))
    assert len((await env.session.scalars(stmt)).all()) == 18


async def single_get(env: Env) -> None:
    assert await env.session.get(Author, 1) is not None


async def first_then_one_lazy_load(env: Env) -> None:
    author = (await env.session.scalars(select(Author).order_by(Author.id))).first()
    assert author is not None
    assert len(await author.awaitable_attrs.books) == 3


async def separate_statements_on_separate_lines(env: Env) -> None:
    await env.session.get(Author, 1)
    await env.session.get(Book, 1)
    await env.session.scalars(select(Tag))


async def identity_map_hits_in_a_loop(env: Env) -> None:
    loaded = await _authors(env.session)  # kept: the identity map holds objects weakly
    for author_id in range(1, AUTHORS + 1):
        assert await env.session.get(Author, author_id) in loaded


async def insert_loop_is_not_a_select(env: Env) -> None:
    for i in range(5):
        env.session.add(Tag(name=f"new {i}"))
        await env.session.flush()


async def selectinload_chain_read(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books).selectinload(Book.chapters))
    assert sum(len(b.chapters) for a in authors for b in a.books) == 36


async def loop_over_different_tables(env: Env) -> None:
    for entity in (Author, Book, Chapter, Tag):
        await env.session.scalars(select(entity).limit(1))


async def awaitable_attrs_read_of_eager(env: Env) -> None:
    for author in await _authors(env.session, selectinload(Author.books)):
        await author.awaitable_attrs.books


async def streamed_with_yield_per(env: Env) -> None:
    stmt = select(Chapter).order_by(Chapter.id).execution_options(yield_per=5)
    assert len([c async for c in await env.session.stream_scalars(stmt)]) == 36


async def same_key_in_new_sessions(env: Env) -> None:
    for _ in range(3):
        async with env.sessionmaker() as session:
            await session.get(Author, 1)


async def contains_eager_read(env: Env) -> None:
    stmt = (
        select(Book)
        .join(Book.author)
        .where(Author.name != "nobody")
        .options(contains_eager(Book.author))
    )
    assert {b.author.name for b in (await env.session.scalars(stmt)).all()}


async def loop_over_columns_of_one_table(env: Env) -> None:
    for column in (Book.id, Book.title, Book.author_id):
        await env.session.scalars(select(column).limit(3))


async def refreshing_one_object_again(env: Env) -> None:
    author = await env.session.get(Author, 1)
    assert author is not None
    for _ in range(3):
        await env.session.refresh(author)


async def create_commit_refresh_loop(env: Env) -> None:
    for i in range(4):
        tag = Tag(name=f"created {i}")
        env.session.add(tag)
        await env.session.commit()
        await env.session.refresh(tag)


# -- not N+1: pagination, chunking, polling ---------------------------------------------------


async def offset_pages(env: Env) -> None:
    for page in range(4):
        stmt = select(Book).order_by(Book.id).offset(page * 5).limit(5)
        await env.session.scalars(stmt)


async def keyset_pages(env: Env) -> None:
    last = 0
    while True:
        stmt = select(Book).where(Book.id > last).order_by(Book.id).limit(5)
        page = (await env.session.scalars(stmt)).all()
        if not page:
            break
        last = page[-1].id


async def keyset_pages_on_a_tuple(env: Env) -> None:
    last: tuple[int, int] = (0, 0)
    while True:
        stmt = (
            select(Book)
            .where(tuple_(Book.author_id, Book.id) > last)
            .order_by(Book.author_id, Book.id)
            .limit(7)
        )
        page = (await env.session.scalars(stmt)).all()
        if not page:
            break
        last = (page[-1].author_id, page[-1].id)


async def chunked_in_list(env: Env) -> None:
    keys = list(range(1, 1201))
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        await env.session.scalars(select(Chapter).where(Chapter.id.in_(chunk)))


async def chunked_in_list_with_text(env: Env) -> None:
    stmt = text("SELECT id FROM npo_chapters WHERE id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    keys = list(range(1, 1201))
    for start in range(0, len(keys), 500):
        await env.session.execute(stmt, {"ids": keys[start : start + 500]})


async def chunked_array_parameter(env: Env) -> None:
    keys = list(range(1, 37))
    for start in range(0, len(keys), 10):
        stmt = select(Chapter).where(
            Chapter.id == any_(cast(keys[start : start + 10], ARRAY(Integer)))
        )
        await env.session.scalars(stmt)


async def offset_pages_on_a_connection(env: Env) -> None:
    books = Book.__table__
    async with env.engine.connect() as conn:
        for page in range(4):
            await conn.execute(select(books).order_by(books.c.id).offset(page * 5).limit(5))


async def polling_loop_of_one_query(env: Env) -> None:
    for _ in range(5):
        pending = await env.session.scalar(select(func.count()).select_from(Book))
        if pending:
            await asyncio.sleep(0)


async def polling_loop_with_a_since_bound(env: Env) -> None:
    since = 0
    for _ in range(4):
        stmt = select(Book).where(Book.id > since).order_by(Book.id).limit(5)
        rows = (await env.session.scalars(stmt)).all()
        since = rows[-1].id if rows else since


async def retry_of_the_same_statement(env: Env) -> None:
    for _ in range(3):
        await env.session.execute(select(Author).where(Author.id == 1))


async def selectin_chunks_for_many_parents(env: Env) -> None:
    stmt = select(Chapter).options(selectinload(Chapter.book)).order_by(Chapter.id)
    chapters = (await env.session.scalars(stmt)).all()
    assert {c.book.title for c in chapters}


# -- not N+1: separate statements inside run_sync, or from separate lines --------------------


async def run_sync_gets_on_separate_lines(env: Env) -> None:
    def work(session: Session) -> None:
        session.get(Author, 1)
        session.get(Author, 2)
        session.get(Author, 3)

    await env.session.run_sync(work)


async def run_sync_selects_on_separate_lines(env: Env) -> None:
    def work(session: Session) -> None:
        stmt = select(Book).where(Book.author_id == bindparam("author"))
        session.scalars(stmt, {"author": 1}).all()
        session.scalars(stmt, {"author": 2}).all()
        session.scalars(stmt, {"author": 3}).all()

    await env.session.run_sync(work)


async def run_sync_lazy_loads_of_unrelated_objects(env: Env) -> None:
    def work(session: Session) -> None:
        first = session.scalars(select(Author).where(Author.id == 1)).one()
        second = session.scalars(select(Author).where(Author.id == 2)).one()
        len(first.books)
        len(second.books)

    await env.session.run_sync(work)


async def run_sync_helper_from_separate_lines(env: Env) -> None:
    def titles(session: Session, author_id: int) -> list[str]:
        stmt = select(Book.title).where(Book.author_id == author_id)
        return list(session.scalars(stmt).all())

    def work(session: Session) -> None:
        titles(session, 1)
        titles(session, 2)
        titles(session, 3)

    await env.session.run_sync(work)


async def awaited_gets_on_separate_lines(env: Env) -> None:
    await env.session.get(Author, 1)
    await env.session.get(Author, 2)
    await env.session.get(Author, 3)


async def helper_called_from_separate_lines(env: Env) -> None:
    repository = _AuthorRepository(env.session)
    await repository.by_id(1)
    await repository.by_id(2)
    await repository.by_id(3)


# -- not N+1: eager collections that were read ------------------------------------------------


class _BookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str


class _AuthorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    books: list[_BookOut]


class _BookWithAuthorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    author: _AuthorNameOut


class _AuthorNameOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str


_BookWithAuthorOut.model_rebuild()


async def pydantic_from_attributes(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    out = [_AuthorOut.model_validate(a) for a in authors]
    assert sum(len(o.books) for o in out) == 18


async def pydantic_many_to_one(env: Env) -> None:
    books = await _books(env.session, joinedload(Book.author))
    assert all(_BookWithAuthorOut.model_validate(b).author.name for b in books)


async def fastapi_response_model(env: Env) -> None:
    app = FastAPI()

    @app.get("/authors", response_model=list[_AuthorOut])
    async def list_authors() -> list[Author]:
        return await _authors(env.session, selectinload(Author.books))

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/authors")
    assert response.status_code == 200
    assert len(response.json()) == AUTHORS


async def repr_of_collection(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    assert all(repr(a.books) for a in authors)


async def str_of_collection(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    assert all(f"{a.books}" for a in authors)


async def equality_of_collection(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    assert not any(a.books == [] for a in authors)


async def len_of_collection(env: Env) -> None:
    authors = await _authors(env.session, joinedload(Author.books))
    assert sum(len(a.books) for a in authors) == 18


async def bool_of_collection(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    assert all(bool(a.books) for a in authors)


def _consume(value: object) -> int:
    return 1 if value is not None else 0


async def getattr_passed_on(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    assert sum(_consume(getattr(a, "books")) for a in authors) == AUTHORS  # noqa: B009


async def attribute_state_value(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    assert all(inspect(a).attrs.books.value for a in authors)


async def delete_cascade_uses_eager_collection(env: Env) -> None:
    books = selectinload(Author.books)
    options = (books.selectinload(Book.chapters), books.selectinload(Book.tags))
    authors = await _authors(env.session, joinedload(Author.profile), *options, limit=1)
    await env.session.delete(authors[0])
    await env.session.flush()


async def read_by_list_constructor(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    assert sum(len(list(a.books)) for a in authors) == 18


async def json_like_export(env: Env) -> None:
    books = await _books(env.session, selectinload(Book.tags))
    exported = [{"id": b.id, "tags": [t.name for t in b.tags]} for b in books]
    assert len(exported) == 18


async def jinja_template_read(env: Env) -> None:
    template = jinja2.Template(
        "{% for a in authors %}{{ a.name }}:{{ a.books|length }};{% endfor %}"
    )
    authors = await _authors(env.session, selectinload(Author.books))
    assert template.render(authors=authors).count(":3;") == AUTHORS


async def membership_test(env: Env) -> None:
    authors = await _authors(env.session, selectinload(Author.books))
    first_book = await env.session.get(Book, 1)
    assert sum(1 for a in authors if first_book in a.books) == 1


async def many_to_one_compared(env: Env) -> None:
    books = await _books(env.session, joinedload(Book.author))
    first = await env.session.get(Author, 1)
    assert sum(1 for b in books if b.author == first) == 3


def _scenarios() -> tuple[Scenario, ...]:
    n1 = "n-plus-one"
    core = "miss: Core/text loop on a Connection"
    other = "miss: per-item query on another session"
    unused = "miss: unused eager load"
    columns = "deferred/expired columns"
    correct = "correct loading"
    paging = "false alarm: paging, chunking, polling"
    run_sync = "false alarm: run_sync and separate lines"
    read = "false alarm: eager collection that was read"
    drop = "drop_eager_load"
    s = Scenario
    return (
        s("lazy-collection-loop", n1, "selectinload", lazy_collection_loop),
        s("lazy-many-to-one-loop", n1, "joinedload", lazy_many_to_one_loop),
        s("lazy-many-to-many-loop", n1, "selectinload", lazy_many_to_many_loop),
        s("lazy-one-to-one-loop", n1, "joinedload", lazy_one_to_one_loop),
        s("lazy-second-level-loop", n1, "selectinload", lazy_second_level_loop),
        s("lazy-loop-through-helper", n1, "selectinload", lazy_loop_through_helper),
        s("lazy-loop-in-run-sync", n1, "selectinload", lazy_loop_in_run_sync),
        s("lazy-loop-in-comprehension", n1, "joinedload", lazy_loop_in_comprehension),
        s("immediateload-per-parent", n1, "selectinload", immediateload_per_parent),
        s("lazy-two-parents", n1, "selectinload", lazy_two_parents),
        s("lazy-sync-access-in-run-sync", n1, "joinedload", lazy_loop_of_sync_attribute_access),
        s("session-get-loop", n1, "in_", get_loop),
        s("per-item-select-loop", n1, "in_", per_item_select_loop),
        s("per-item-latest-limit-1", n1, "in_", per_item_latest_with_limit_one),
        s("per-item-count", n1, "in_", per_item_count),
        s("per-item-single-key-in-list", n1, "in_", per_item_single_key_in_list),
        s("repository-get-loop", n1, "in_", repository_get_loop),
        s("filter-by-execute-loop", n1, "in_", filter_by_execute_loop),
        s("merge-loop", n1, "in_", merge_loop),
        s("with-parent-loop", n1, "in_", with_parent_loop),
        s("exists-per-item", n1, "in_", exists_per_item),
        s("lazy-loop-over-streamed-rows", n1, "joinedload", lazy_loop_over_streamed_rows),
        s("core-select-loop-on-connection", core, "in_", core_select_loop_on_connection),
        s("text-loop-on-connection", core, "in_", text_loop_on_connection),
        s("text-loop-on-session", core, "in_", text_loop_on_session),
        s("core-loop-on-session-connection", core, "in_", core_loop_on_session_connection),
        s("driver-sql-loop", core, "in_", driver_sql_loop),
        s("core-loop-watching-engine", core, "in_", core_select_loop_on_connection, "engine"),
        s("new-session-per-item", other, "in_", new_session_per_item),
        s("new-session-per-item-gather", other, "in_", new_session_per_item_under_gather),
        s("session-per-item-on-another-engine", other, "in_", new_engine_session_per_item),
        s("lazy-loop-on-second-session", other, "selectinload", lazy_loop_on_second_session),
        s("select-loop-on-second-session", other, "in_", select_loop_on_second_session),
        s("gather-of-per-item-selects", other, "in_", gather_of_per_item_selects),
        s("new-session-per-item-watching-engine", other, "in_", new_session_per_item, "engine"),
        s(
            "new-session-per-item-watching-sessionmaker",
            other,
            "in_",
            new_session_per_item,
            "sessionmaker",
        ),
        s("gather-watching-everything", other, "in_", gather_of_per_item_selects, "scope"),
        s("unused-selectinload", unused, drop, unused_selectinload_collection),
        s("unused-joinedload", unused, drop, unused_joinedload_collection),
        s("unused-subqueryload", unused, drop, unused_subqueryload_collection),
        s("unused-joinedload-many-to-one", unused, drop, unused_joinedload_many_to_one),
        s(
            "unused-selectinload-many-to-one",
            unused,
            drop,
            unused_selectinload_many_to_one,
        ),
        s("unused-joinedload-one-to-one", unused, drop, unused_joinedload_one_to_one),
        s("unused-many-to-many", unused, drop, unused_many_to_many),
        s("unused-end-of-joined-chain", unused, drop, unused_end_of_joined_chain),
        s("unused-end-of-selectin-chain", unused, drop, unused_end_of_selectin_chain),
        s(
            "unused-joined-inside-selectin-chain",
            unused,
            drop,
            unused_joined_inside_selectin_chain,
        ),
        s("deferred-column-loop", columns, "undefer", deferred_column_loop),
        s("defer-option-loop", columns, "undefer", defer_option_loop),
        s("expired-after-commit-loop", columns, "expire_on_commit", expired_after_commit_loop),
        s("refresh-loop", columns, "populate_existing", refresh_loop),
        s("expire-then-read-loop", columns, "expire_on_commit", expire_then_read_loop),
        s("load-only-then-read-loop", columns, "undefer", load_only_then_read_loop),
        s(
            "created-then-expired-read-loop",
            columns,
            "expire_on_commit",
            created_then_expired_read_loop,
        ),
        s("selectinload-read", correct, None, selectinload_read),
        s("joinedload-collection-read", correct, None, joinedload_collection_read),
        s("joinedload-many-to-one-read", correct, None, joinedload_many_to_one_read),
        s("subqueryload-read", correct, None, subqueryload_read),
        s("one-statement-with-in-list", correct, None, one_statement_with_in_list),
        s("single-get", correct, None, single_get),
        s("first-then-one-lazy-load", correct, None, first_then_one_lazy_load),
        s("separate-statements", correct, None, separate_statements_on_separate_lines),
        s("identity-map-hits-in-a-loop", correct, None, identity_map_hits_in_a_loop),
        s("insert-loop", correct, None, insert_loop_is_not_a_select),
        s("selectinload-chain-read", correct, None, selectinload_chain_read),
        s("loop-over-different-tables", correct, None, loop_over_different_tables),
        s("awaitable-attrs-read-of-eager", correct, None, awaitable_attrs_read_of_eager),
        s("selectin-for-36-parents", correct, None, selectin_chunks_for_many_parents),
        s("streamed-with-yield-per", correct, None, streamed_with_yield_per),
        s("contains-eager-read", correct, None, contains_eager_read),
        s("loop-over-columns-of-one-table", correct, None, loop_over_columns_of_one_table),
        s("offset-pages", paging, None, offset_pages),
        s("keyset-pages", paging, None, keyset_pages),
        s("keyset-pages-on-a-tuple", paging, None, keyset_pages_on_a_tuple),
        s("chunked-in-list", paging, None, chunked_in_list),
        s("chunked-in-list-text", paging, None, chunked_in_list_with_text),
        s("chunked-array-parameter", paging, None, chunked_array_parameter),
        s("offset-pages-on-a-connection", paging, None, offset_pages_on_a_connection),
        s("polling-loop", paging, None, polling_loop_of_one_query),
        s("polling-loop-with-since-bound", paging, None, polling_loop_with_a_since_bound),
        s("retry-same-statement", paging, None, retry_of_the_same_statement),
        s("same-key-in-new-sessions", paging, None, same_key_in_new_sessions),
        s("refreshing-one-object-again", paging, None, refreshing_one_object_again),
        s("create-commit-refresh-loop", correct, None, create_commit_refresh_loop),
        s("run-sync-gets-on-separate-lines", run_sync, None, run_sync_gets_on_separate_lines),
        s("run-sync-selects-on-separate-lines", run_sync, None, run_sync_selects_on_separate_lines),
        s(
            "run-sync-lazy-loads-of-unrelated-objects",
            run_sync,
            None,
            run_sync_lazy_loads_of_unrelated_objects,
        ),
        s("awaited-gets-on-separate-lines", run_sync, None, awaited_gets_on_separate_lines),
        s(
            "run-sync-helper-from-separate-lines",
            run_sync,
            None,
            run_sync_helper_from_separate_lines,
        ),
        s("helper-called-from-separate-lines", run_sync, None, helper_called_from_separate_lines),
        s("pydantic-from-attributes", read, None, pydantic_from_attributes),
        s("pydantic-many-to-one", read, None, pydantic_many_to_one),
        s("fastapi-response-model", read, None, fastapi_response_model),
        s("repr-of-collection", read, None, repr_of_collection),
        s("str-of-collection", read, None, str_of_collection),
        s("equality-of-collection", read, None, equality_of_collection),
        s("len-of-collection", read, None, len_of_collection),
        s("bool-of-collection", read, None, bool_of_collection),
        s("getattr-passed-on", read, None, getattr_passed_on),
        s("attribute-state-value", read, None, attribute_state_value),
        s("delete-cascade", read, None, delete_cascade_uses_eager_collection),
        s("list-constructor", read, None, read_by_list_constructor),
        s("json-like-export", read, None, json_like_export),
        s("jinja-template-read", read, None, jinja_template_read),
        s("membership-test", read, None, membership_test),
        s("many-to-one-compared", read, None, many_to_one_compared),
    )


#: Every scenario of the corpus.
SCENARIOS: tuple[Scenario, ...] = _scenarios()
