"""The service's input contract without a database: strict JSON bodies and storable text."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from sqla_lab.service.json_bodies import loads_strict
from sqla_lab.service.schemas import (
    MAX_NAME_LENGTH,
    MAX_TITLE_LENGTH,
    STORABLE_TEXT_PATTERN,
    NewPost,
    NewUser,
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b'{"name": "Ada"}', {"name": "Ada"}, id="object"),
        pytest.param(b'{"name": "\\ud83d\\ude00"}', {"name": "\U0001f600"}, id="surrogate-pair"),
        pytest.param('{"name": "Zoë"}'.encode(), {"name": "Zoë"}, id="utf8"),
        pytest.param(b"[1.5, -2e3, null, true]", [1.5, -2000.0, None, True], id="numbers"),
    ],
)
def test_strict_json_reads_what_rfc_8259_allows(body: bytes, expected: object) -> None:
    assert loads_strict(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"NaN", id="nan"),
        pytest.param(b'{"a": [Infinity]}', id="nested-infinity"),
        pytest.param(b"-Infinity", id="minus-infinity"),
        pytest.param(b'"\\ud800"', id="lone-high-surrogate"),
        pytest.param(b'["ok", {"\\udc00": 1}]', id="lone-low-surrogate-in-a-key"),
        pytest.param(b'"\xc3\x28"', id="invalid-utf8"),
        pytest.param(b"{", id="truncated"),
    ],
)
def test_strict_json_refuses_the_rest_as_a_decode_error(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        loads_strict(body)


@pytest.mark.parametrize(
    ("model", "field", "limit"),
    [
        pytest.param(NewUser, "name", MAX_NAME_LENGTH, id="name"),
        pytest.param(NewPost, "title", MAX_TITLE_LENGTH, id="title"),
    ],
)
def test_text_is_checked_as_sent_and_stored_stripped(
    model: type[NewUser] | type[NewPost], field: str, limit: int
) -> None:
    assert getattr(model(**{field: "  kept  "}), field) == "kept"
    assert getattr(model(**{field: "x" * limit}), field) == "x" * limit
    for bad in (" " + "x" * limit, "", " \t", "a\x00b", "\ud800"):
        with pytest.raises(ValidationError):
            model(**{field: bad})
    schema = model.model_json_schema()["properties"][field]
    assert (schema["minLength"], schema["maxLength"]) == (1, limit)
    assert schema["pattern"] == STORABLE_TEXT_PATTERN


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        NewUser.model_validate({"name": "a", "admin": True})
