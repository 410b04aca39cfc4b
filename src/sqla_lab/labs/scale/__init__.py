"""The ``scale`` lab: app processes, PgBouncer and a read replica (see :mod:`._lab`)."""

from __future__ import annotations

from sqla_lab.labs.scale._lab import scale_lab

__all__ = ["scale_lab"]
