"""The ``connect`` lab: what opening a connection costs next to reusing a pooled one."""

from __future__ import annotations

from sqla_lab.labs.connect._echo import echo_finding
from sqla_lab.labs.connect._findings import (
    CLAIMED_SPEEDUP,
    NEW_ACQUIRE,
    NEW_ASYNCPG,
    NEW_SQLALCHEMY,
    POOLED,
    POOLED_ACQUIRE,
    REQUEST,
    SEED_QUOTE,
    SEED_SOURCE,
    RequestTimes,
    dominates_finding,
    speedup_finding,
)
from sqla_lab.labs.connect._lab import connect_lab

__all__ = [
    "CLAIMED_SPEEDUP",
    "NEW_ACQUIRE",
    "NEW_ASYNCPG",
    "NEW_SQLALCHEMY",
    "POOLED",
    "POOLED_ACQUIRE",
    "REQUEST",
    "SEED_QUOTE",
    "SEED_SOURCE",
    "RequestTimes",
    "connect_lab",
    "dominates_finding",
    "echo_finding",
    "speedup_finding",
]
