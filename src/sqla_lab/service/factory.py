"""The demo service as an app factory for ``uvicorn --factory``, configured from the environment.

``uvicorn --workers N`` needs an import string, and :func:`sqla_lab.service.create_app` needs
settings: :func:`app_from_environment` reads them (``DATABASE_URL``, ``SQLA_LAB_POOL_SIZE``,
...) in each worker process::

    DATABASE_URL=... uvicorn --factory sqla_lab.service.factory:app_from_environment --workers 2

Two more environment variables, both read only here:

* ``SQLA_LAB_STATEMENT_CACHE_SIZE``: asyncpg's ``statement_cache_size`` for every connection
  the worker opens (``0`` is the fix for PgBouncer's transaction mode that the ``scale`` lab
  measures);
* ``SQLA_LAB_DIE_WITH_PARENT=1``: each worker asks for SIGTERM when its parent dies, so a
  killed supervisor (the ``scale`` lab, say) leaves no worker behind.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine

from sqla_lab._process import set_parent_death_signal
from sqla_lab.service.app import create_app
from sqla_lab.settings import Settings

__all__ = ["DIE_WITH_PARENT_ENV", "STATEMENT_CACHE_ENV", "app_from_environment"]

STATEMENT_CACHE_ENV = "SQLA_LAB_STATEMENT_CACHE_SIZE"
DIE_WITH_PARENT_ENV = "SQLA_LAB_DIE_WITH_PARENT"


def app_from_environment() -> FastAPI:
    """The demo service, configured from the environment (uvicorn calls this per worker)."""
    if os.environ.get(DIE_WITH_PARENT_ENV) == "1":
        set_parent_death_signal(signal.SIGTERM)
    cache_size = os.environ.get(STATEMENT_CACHE_ENV)
    if cache_size is not None:
        size = int(cache_size)

        def statement_cache(
            dialect: Dialect, conn_rec: Any, cargs: Any, cparams: dict[str, Any]
        ) -> None:
            cparams["statement_cache_size"] = size

        # Engine-wide: this worker process runs nothing but the service.
        event.listen(Engine, "do_connect", statement_cache)
    return create_app(Settings())
