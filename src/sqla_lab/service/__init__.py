"""The demo FastAPI service: the seed's users-and-posts app done right, with metrics.

``create_app(settings)`` builds it; ``sqla-lab serve`` runs it on an embedded (or your)
PostgreSQL and ``sqla-lab load`` drives it with locust. FastAPI is imported on first use of
:func:`create_app`, so importing :mod:`sqla_lab.service.load` (stdlib only) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqla_lab.service.app import create_app
    from sqla_lab.service.schemas import LoadStrategy

__all__ = ["LoadStrategy", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from sqla_lab.service.app import create_app

        return create_app
    if name == "LoadStrategy":
        from sqla_lab.service.schemas import LoadStrategy

        return LoadStrategy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
