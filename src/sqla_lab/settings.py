"""Settings read from the environment (prefix ``SQLA_LAB_``) or passed in code.

``DATABASE_URL`` (unprefixed, the common convention) and ``SQLA_LAB_DATABASE_URL`` both
select an existing server; when neither is set, sqla-lab starts its own embedded PostgreSQL.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Engine, pool and server settings; every field also reads ``SQLA_LAB_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SQLA_LAB_", frozen=True, extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SQLA_LAB_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="An existing PostgreSQL server; unset means the embedded one.",
    )
    pg_version: str = Field(default="18", description="Bundled PostgreSQL major: 18 or 16.")
    pg_bin: str | None = Field(default=None, description="A directory of your own binaries.")
    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=10, ge=-1)
    pool_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    pool_recycle: int = Field(default=-1, ge=-1, description="Seconds; -1 disables.")
    pool_pre_ping: bool = False
    statement_timeout_ms: int | None = Field(
        default=None, ge=0, description="PostgreSQL statement_timeout, sent at connect."
    )
    echo: bool = False
    pgbouncer: str | None = Field(
        default=None, description="The pgbouncer executable (default: found on PATH)."
    )
    pgbouncer_url: str | None = Field(
        default=None, description="A PgBouncer of yours for the scale lab, instead of its own."
    )
    replica_url: str | None = Field(
        default=None, description="A streaming replica of DATABASE_URL's server for the scale lab."
    )
    request_timeout: float = Field(
        default=10.0,
        gt=0,
        allow_inf_nan=False,
        description="The service's deadline for one request's database work, in seconds.",
    )
    connect_timeout: float = Field(
        default=5.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds the service waits for a new database connection to open.",
    )
