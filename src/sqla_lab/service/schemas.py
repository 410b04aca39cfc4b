"""Request and response bodies of the demo service (pydantic)."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field

from sqla_lab.demo.models import PostEntity, UserEntity

__all__ = [
    "MAX_PAGE_SIZE",
    "LoadStrategy",
    "NewPost",
    "NewUser",
    "PostOut",
    "UserOut",
]

#: ``GET /users`` never returns more than this many users at once.
MAX_PAGE_SIZE = 100


class LoadStrategy(enum.StrEnum):
    """How ``GET /users`` loads each user's posts."""

    SELECTIN = "selectin"
    """``selectinload``: one query for the users, one ``IN (...)`` query for all posts."""
    LAZY = "lazy"
    """``awaitable_attrs.posts`` per user: the N+1 pattern, made explicit for async."""
    JOINED = "joined"
    """``joinedload``: one query with a LEFT OUTER JOIN."""


class NewUser(BaseModel):
    """Body of ``POST /users``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)


class NewPost(BaseModel):
    """Body of ``POST /users/{id}/posts``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)


class PostOut(BaseModel):
    """A post as the API returns it."""

    id: int
    user_id: int
    title: str

    @classmethod
    def of(cls, post: PostEntity) -> PostOut:
        """Copy a loaded entity."""
        return cls(id=post.id, user_id=post.user_id, title=post.title)


class UserOut(BaseModel):
    """A user and their posts as the API returns them."""

    id: int
    name: str
    posts: list[PostOut]

    @classmethod
    def of(cls, user: UserEntity, posts: list[PostEntity]) -> UserOut:
        """Copy a loaded entity; ``posts`` are passed in so no lazy load can hide here."""
        return cls(id=user.id, name=user.name, posts=[PostOut.of(p) for p in posts])
