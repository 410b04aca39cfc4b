"""The ``sessions`` lab: which session does each thread and each asyncio task get?"""

from __future__ import annotations

from sqla_lab.labs.sessions._collisions import COLLISIONS
from sqla_lab.labs.sessions._lab import session_cost_variants, sessions_lab

__all__ = ["COLLISIONS", "session_cost_variants", "sessions_lab"]
