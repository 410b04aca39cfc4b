"""The seed's entities, done right: typed mappings, both sides of the relationship, and
plain domain dataclasses that never leak a session.

The seed declares ``Post.user_id: str`` although the column is an integer foreign key; here
it is an ``int``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "Post", "PostEntity", "User", "UserEntity"]


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base with ``awaitable_attrs`` on every entity."""


class UserEntity(Base):
    """A row of ``users``."""

    __tablename__ = "users"
    # The mark that tells sqla-lab's tables from a user's in a kept database.
    __table_args__ = ({"comment": "sqla-lab table: the demo's users"},)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    posts: Mapped[list[PostEntity]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="PostEntity.id"
    )

    def to_domain(self) -> User:
        """Copy into a :class:`User`; touches ``posts``, so load them first."""
        return User(id=self.id, name=self.name, posts=[p.to_domain() for p in self.posts])

    @staticmethod
    def from_domain(user: User) -> UserEntity:
        """Build a transient entity (with transient posts) from a :class:`User`."""
        entity = UserEntity(name=user.name)
        if user.id is not None:
            entity.id = user.id
        entity.posts = [PostEntity.from_domain(p) for p in user.posts]
        return entity

    def __repr__(self) -> str:
        return f"UserEntity(id={self.id!r}, name={self.name!r})"


class PostEntity(Base):
    """A row of ``posts``."""

    __tablename__ = "posts"
    __table_args__ = ({"comment": "sqla-lab table: the demo's posts"},)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    user: Mapped[UserEntity] = relationship(back_populates="posts")

    def to_domain(self) -> Post:
        """Copy into a :class:`Post`."""
        return Post(id=self.id, user_id=self.user_id, title=self.title)

    @staticmethod
    def from_domain(post: Post) -> PostEntity:
        """Build a transient entity from a :class:`Post`."""
        entity = PostEntity(title=post.title)
        if post.id is not None:
            entity.id = post.id
        if post.user_id is not None:
            entity.user_id = post.user_id
        return entity

    def __repr__(self) -> str:
        return f"PostEntity(id={self.id!r}, user_id={self.user_id!r}, title={self.title!r})"


@dataclass
class Post:
    """A post, free of any session."""

    id: int | None
    user_id: int | None
    title: str

    @staticmethod
    def new(user_id: int | None, title: str) -> Post:
        """A post not stored yet."""
        return Post(id=None, user_id=user_id, title=title)


@dataclass
class User:
    """A user and their posts, free of any session."""

    id: int | None
    name: str
    posts: list[Post] = field(default_factory=list)

    @staticmethod
    def new(name: str) -> User:
        """A user not stored yet."""
        return User(id=None, name=name, posts=[])
