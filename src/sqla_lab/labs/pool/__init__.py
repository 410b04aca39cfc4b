"""The ``pool`` lab: every connection-pool claim of the seed's section 1, measured."""

from __future__ import annotations

from sqla_lab.labs.pool._lab import (
    CLAIMED_PRE_PING_MS,
    COMMAND_TIMEOUT_S,
    judge_pre_ping,
    pool_lab,
    pre_ping_scale,
)

__all__ = [
    "CLAIMED_PRE_PING_MS",
    "COMMAND_TIMEOUT_S",
    "judge_pre_ping",
    "pool_lab",
    "pre_ping_scale",
]
