"""Request and response bodies of the demo service (pydantic), and the bounds of its input.

The input contract: everything a client sends is bounded in the OpenAPI schema the service
publishes, and the validators enforce exactly that schema, so a value the schema allows is
accepted and a value it forbids is answered 422, never 500:

* ids are ``1 .. 2**31 - 1`` (the ``integer`` primary keys), offsets ``0 .. 2**63 - 1``
  (PostgreSQL's ``OFFSET`` is a ``bigint``);
* names and titles are checked as sent: at most the column's length (a blank-padded value is
  not shortened *before* the check), at least one non-blank character, no NUL (PostgreSQL
  text cannot hold it) and no lone surrogate (not encodable in UTF-8); surrounding blanks are
  then stripped, and what is stored is never longer than the column.

The pattern uses Python's ``re`` (``regex_engine="python-re"``), the same dialect schemathesis
and ``jsonschema`` use to generate and check values, so ``\\s`` means the same blanks that
``str.strip()`` removes.
"""

from __future__ import annotations

import enum
from typing import Annotated, Final

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "MAX_ID",
    "MAX_NAME_LENGTH",
    "MAX_OFFSET",
    "MAX_PAGE_SIZE",
    "MAX_TITLE_LENGTH",
    "STORABLE_TEXT_PATTERN",
    "ErrorOut",
    "LoadStrategy",
    "Name",
    "NewPost",
    "NewUser",
    "NotFoundOut",
    "Offset",
    "PageSize",
    "Title",
    "UserId",
]

#: ``GET /users`` never returns more than this many users at once.
MAX_PAGE_SIZE: Final = 100
#: The largest value of PostgreSQL's ``integer``, the type of the ``id`` columns.
MAX_ID: Final = 2**31 - 1
#: The largest value of PostgreSQL's ``bigint``, the type of ``OFFSET``.
MAX_OFFSET: Final = 2**63 - 1
#: ``users.name`` is ``varchar(100)``, ``posts.title`` ``varchar(200)``.
MAX_NAME_LENGTH: Final = 100
MAX_TITLE_LENGTH: Final = 200

#: Some character that is neither blank nor NUL, and no NUL anywhere.
STORABLE_TEXT_PATTERN: Final = r"^[^\x00]*[^\s\x00][^\x00]*$"

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="A user's id.")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Users per page.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Users to skip.")]


def _stored_form(value: str) -> str:
    """Refuse what UTF-8 cannot encode, then strip the surrounding blanks."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value.strip()


def _text(max_length: int) -> object:
    return Field(min_length=1, max_length=max_length, pattern=STORABLE_TEXT_PATTERN)


Name = Annotated[str, _text(MAX_NAME_LENGTH), AfterValidator(_stored_form)]
Title = Annotated[str, _text(MAX_TITLE_LENGTH), AfterValidator(_stored_form)]


class LoadStrategy(enum.StrEnum):
    """How ``GET /users`` loads each user's posts."""

    SELECTIN = "selectin"
    """``selectinload``: one query for the users, one ``IN (...)`` query for all posts."""
    LAZY = "lazy"
    """A lazy load per user: the N+1 pattern."""
    JOINED = "joined"
    """``joinedload``: one query with a LEFT OUTER JOIN."""


class NewUser(BaseModel):
    """Body of ``POST /users``."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    name: Name


class NewPost(BaseModel):
    """Body of ``POST /users/{id}/posts``."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    title: Title


class NotFoundOut(BaseModel):
    """Body of a 404."""

    detail: str


class ErrorOut(BaseModel):
    """Body of a 5xx: a fixed sentence and the kind of failure."""

    detail: str
    error: str
