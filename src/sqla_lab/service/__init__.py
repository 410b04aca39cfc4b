"""The demo FastAPI service: the seed's users-and-posts app done right, with metrics.

``create_app(settings)`` builds it; ``sqla-lab serve`` runs it on an embedded (or your)
PostgreSQL and ``sqla-lab load`` drives it with locust.
"""

from __future__ import annotations

from sqla_lab.service.app import create_app
from sqla_lab.service.schemas import LoadStrategy

__all__ = ["LoadStrategy", "create_app"]
