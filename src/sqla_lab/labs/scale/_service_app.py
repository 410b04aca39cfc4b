"""The demo service as uvicorn's ``--factory`` target, for the scale lab's service runs.

``uvicorn --workers N`` needs an import string, and :func:`sqla_lab.service.create_app`
needs settings; :func:`create_service_app` reads them from the environment (``DATABASE_URL``,
``SQLA_LAB_POOL_SIZE``, ...) in each worker process and builds the app, changing nothing in
the service itself. Two additions, both for the lab's sake:

* each uvicorn worker asks for SIGTERM when its parent dies, so a killed lab (or a killed
  uvicorn supervisor) leaves no worker behind;
* ``SQLA_LAB_SCALE_STATEMENT_CACHE_SIZE``, when set, passes asyncpg's
  ``statement_cache_size`` to every connection this process opens (SQLAlchemy's
  ``do_connect`` event), the fix the lab measures for PgBouncer's transaction mode; the
  service has no setting for driver arguments, and this process runs nothing else.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine

from sqla_lab._process import set_parent_death_signal
from sqla_lab.labs.scale._uvicorn import STATEMENT_CACHE_ENV
from sqla_lab.service import create_app
from sqla_lab.settings import Settings

__all__ = ["create_service_app"]


def create_service_app() -> FastAPI:
    """The demo service, configured from the environment (uvicorn calls this per worker)."""
    set_parent_death_signal(signal.SIGTERM)
    cache_size = os.environ.get(STATEMENT_CACHE_ENV)
    if cache_size is not None:
        size = int(cache_size)

        def statement_cache(
            dialect: Dialect, conn_rec: Any, cargs: Any, cparams: dict[str, Any]
        ) -> None:
            cparams["statement_cache_size"] = size

        event.listen(Engine, "do_connect", statement_cache)
    return create_app(Settings())
