"""Strict JSON request bodies: RFC 8259 text in UTF-8, nothing Python's parser merely tolerates.

Starlette parses bodies with ``json.loads``, which accepts ``NaN``, ``Infinity`` and
``-Infinity`` (not JSON), and turns ``"\\ud800"`` into a Python string holding a lone
surrogate, which no UTF-8 encoder, and so neither PostgreSQL nor the JSON error report, can
encode. Such a body used to come back as a plain-text 500 with a traceback in the log. Here
each of them is a JSON syntax error, which FastAPI answers with its usual 422 report
(``json_invalid``), as it does for any other malformed body.

FastAPI has no setting for the body parser; its documented extension point is a custom
``APIRoute`` whose handler receives a custom ``Request`` ("Custom Request and APIRoute
class"), used here only on the routes that take a body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["StrictJSONRoute", "loads_strict"]


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def _has_lone_surrogate(value: object) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def loads_strict(body: bytes) -> Any:
    """Parse a request body as strict JSON.

    Raises:
        json.JSONDecodeError: not UTF-8, not JSON, a non-finite number or a lone surrogate.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError(
            "the body is not UTF-8", body.decode("utf-8", "replace"), error.start
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError:
        raise
    except ValueError as error:  # from _reject_constant
        raise json.JSONDecodeError(str(error), text, 0) from None
    if _has_lone_surrogate(value):
        raise json.JSONDecodeError("a string holds a lone UTF-16 surrogate", text, 0)
    return value


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_strict(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An ``APIRoute`` whose request body is parsed by :func:`loads_strict`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler so that it reads the body through the strict parser."""
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict_handler
