"""The seed's ``Database`` class done right: one engine, one session factory, sessions that
commit on success, roll back on error and always close.

Sessions are handed out per unit of work (``async with db.session() as session``), which is
what SQLAlchemy's asyncio docs recommend for new code; no global engine, no registry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from sqla_lab._lifecycle import AsyncManaged
from sqla_lab.settings import Settings
from sqla_lab.urls import parse_database_url

__all__ = ["Database", "engine_options"]


def engine_options(settings: Settings) -> dict[str, Any]:
    """Translate :class:`Settings` into ``create_async_engine`` keyword arguments."""
    options: dict[str, Any] = {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_recycle": settings.pool_recycle,
        "pool_pre_ping": settings.pool_pre_ping,
        "echo": settings.echo,
    }
    if settings.statement_timeout_ms is not None:
        # asyncpg sends server_settings in the startup packet: no extra round trip.
        options["connect_args"] = {
            "server_settings": {"statement_timeout": str(settings.statement_timeout_ms)}
        }
    return options


class Database(AsyncManaged):
    """An :class:`AsyncEngine` and its :class:`async_sessionmaker`.

    Args:
        url: a PostgreSQL URL; any driver spelling is turned into ``postgresql+asyncpg``.
        expire_on_commit: passed to the session factory. ``False`` (the default here, as in
            the seed) keeps loaded attributes readable after commit without a lazy load,
            which async code cannot do implicitly.
        **engine_kwargs: anything ``create_async_engine`` accepts (``pool_size``, ...).
    """

    def __init__(
        self, url: str | URL, *, expire_on_commit: bool = False, **engine_kwargs: Any
    ) -> None:
        self.url = parse_database_url(url)
        self.engine: AsyncEngine = create_async_engine(self.url, **engine_kwargs)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=expire_on_commit
        )

    @classmethod
    def from_settings(cls, url: str | URL, settings: Settings, **overrides: Any) -> Database:
        """Build from :class:`Settings`; ``overrides`` win over them."""
        return cls(url, **{**engine_options(settings), **overrides})

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session; commit if the block succeeds, roll back if it raises, always close."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            else:
                await session.commit()

    async def ping(self) -> None:
        """Run ``SELECT 1``; raises the driver's error if the database is unreachable."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def create_schema(self, metadata: MetaData) -> None:
        """Create the tables of ``metadata`` that do not exist yet (``create_all``)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def drop_schema(self, metadata: MetaData) -> None:
        """Drop the tables of ``metadata`` (``drop_all``)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def _aopen(self) -> None:
        """Nothing to open: the engine connects on first use."""

    async def _aclose(self) -> None:
        await self.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
