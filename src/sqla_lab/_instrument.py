"""The context-manager shape every sqla-lab instrument shares."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Instrument"]


class Instrument:
    """Base of instruments usable both as ``with`` and ``async with``.

    Subclasses implement :meth:`__enter__` (attach listeners) and :meth:`__exit__` (remove
    them in ``finally`` and freeze the result); nothing in them awaits, so the async forms
    simply delegate.
    """

    __slots__ = ()

    def __enter__(self) -> Self:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
