"""The N+1 corpus's own tables and rows: authors, books, chapters, tags, profiles, publishers.

Every table name starts with ``npo_``; :func:`create` makes them (and refuses if one exists)
and :func:`drop` drops only them, so the corpus never touches a table it did not create.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, Text, insert, inspect
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

AUTHORS = 6
BOOKS_PER_AUTHOR = 3
CHAPTERS_PER_BOOK = 2
PUBLISHERS = 3
TAGS = 4


class CorpusBase(AsyncAttrs, DeclarativeBase):
    """Declarative base of the corpus tables (its own metadata)."""


book_tags = Table(
    "npo_book_tags",
    CorpusBase.metadata,
    Column("book_id", ForeignKey("npo_books.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("npo_tags.id", ondelete="CASCADE"), primary_key=True),
)


class Publisher(CorpusBase):
    __tablename__ = "npo_publishers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Author(CorpusBase):
    __tablename__ = "npo_authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    bio: Mapped[str] = deferred(mapped_column(Text))
    publisher_id: Mapped[int] = mapped_column(ForeignKey("npo_publishers.id"))
    publisher: Mapped[Publisher] = relationship()
    books: Mapped[list[Book]] = relationship(
        back_populates="author", cascade="all, delete-orphan", order_by="Book.id"
    )
    profile: Mapped[Profile] = relationship(back_populates="author", cascade="all, delete-orphan")


class Profile(CorpusBase):
    __tablename__ = "npo_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("npo_authors.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(100))
    author: Mapped[Author] = relationship(back_populates="profile")


class Tag(CorpusBase):
    __tablename__ = "npo_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Book(CorpusBase):
    __tablename__ = "npo_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(
        ForeignKey("npo_authors.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(100))
    author: Mapped[Author] = relationship(back_populates="books")
    chapters: Mapped[list[Chapter]] = relationship(
        back_populates="book", cascade="all, delete-orphan", order_by="Chapter.id"
    )
    tags: Mapped[list[Tag]] = relationship(secondary=book_tags, order_by="Tag.id")


class Chapter(CorpusBase):
    __tablename__ = "npo_chapters"

    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("npo_books.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    book: Mapped[Book] = relationship(back_populates="chapters")


async def create(engine: AsyncEngine) -> None:
    """Create the corpus tables and their rows; refuse if any of them exists already."""
    names = sorted(CorpusBase.metadata.tables)
    async with engine.begin() as conn:
        existing = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        clash = sorted(set(existing) & set(names))
        if clash:
            raise RuntimeError(f"the corpus tables exist already, not touching them: {clash}")
        await conn.run_sync(CorpusBase.metadata.create_all)
        await conn.execute(
            insert(Publisher), [{"id": i, "name": f"publisher {i}"} for i in range(1, 4)]
        )
        await conn.execute(
            insert(Author),
            [
                {"id": i, "name": f"author {i}", "bio": f"bio {i}", "publisher_id": 1 + i % 3}
                for i in range(1, AUTHORS + 1)
            ],
        )
        await conn.execute(
            insert(Profile),
            [{"id": i, "author_id": i, "url": f"/a/{i}"} for i in range(1, AUTHORS + 1)],
        )
        books = [
            {"id": (a - 1) * BOOKS_PER_AUTHOR + b, "author_id": a, "title": f"book {a}.{b}"}
            for a in range(1, AUTHORS + 1)
            for b in range(1, BOOKS_PER_AUTHOR + 1)
        ]
        await conn.execute(insert(Book), books)
        await conn.execute(
            insert(Chapter),
            [
                {"book_id": book["id"], "title": f"chapter {c}"}
                for book in books
                for c in range(1, CHAPTERS_PER_BOOK + 1)
            ],
        )
        await conn.execute(insert(Tag), [{"name": f"tag {i}"} for i in range(1, TAGS + 1)])
        await conn.execute(
            insert(book_tags),
            [
                {"book_id": book["id"], "tag_id": 1 + (book["id"] + k) % TAGS}
                for book in books
                for k in range(2)
            ],
        )


async def drop(engine: AsyncEngine) -> None:
    """Drop the corpus tables (only those)."""
    async with engine.begin() as conn:
        await conn.run_sync(CorpusBase.metadata.drop_all)
