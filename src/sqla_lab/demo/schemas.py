"""The demo domain as JSON: what ``GET /users/{id}`` answers, in the service and in the labs.

One definition for both faces that build the endpoint (the demo service and the ``request``
lab, which may not import the service), so that they serialise exactly the same document.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["PostOut", "UserOut"]


class PostOut(BaseModel):
    """A post, read from a loaded ``PostEntity`` (``from_attributes``) or built from a row."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    title: str


class UserOut(BaseModel):
    """A user and their posts, read from a loaded ``UserEntity`` or built from rows."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    posts: list[PostOut]
