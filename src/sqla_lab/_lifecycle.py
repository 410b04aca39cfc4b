"""The context-manager shape of everything sqla-lab starts and stops: servers, processes, proxies.

A class says how to open and close itself; ``with`` (or ``async with``) opens it, closes it on
the way out, and also closes it when opening fails half-way, so a server that started but
never became ready is stopped all the same. The instruments have their own, stricter life
cycle (:mod:`sqla_lab.instruments._core`).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncManaged", "Managed"]


class Managed:
    """``with obj:`` runs :meth:`_open`, then :meth:`_close` (also if opening failed)."""

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self._open()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()


class AsyncManaged:
    """``async with obj:`` awaits :meth:`_aopen`, then :meth:`_aclose` (also if opening failed)."""

    async def _aopen(self) -> None:
        raise NotImplementedError

    async def _aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self._aopen()
        except BaseException:
            await self._aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._aclose()
