"""The ``request`` lab: what one ORM request costs against raw asyncpg and Core."""

from __future__ import annotations

from sqla_lab.labs.request._lab import request_lab

__all__ = ["request_lab"]
