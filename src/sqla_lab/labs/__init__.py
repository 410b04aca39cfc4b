"""Every lab sqla-lab ships, in the order ``sqla-lab run`` runs them (the seed's order)."""

from __future__ import annotations

from sqla_lab.lab import Lab
from sqla_lab.labs.connect import connect_lab
from sqla_lab.labs.loading import loading_lab
from sqla_lab.labs.pool import pool_lab
from sqla_lab.labs.request import request_lab
from sqla_lab.labs.scale import scale_lab
from sqla_lab.labs.sessions import sessions_lab
from sqla_lab.labs.states import states_lab

__all__ = [
    "ALL_LABS",
    "Lab",
    "connect_lab",
    "loading_lab",
    "pool_lab",
    "request_lab",
    "scale_lab",
    "sessions_lab",
    "states_lab",
]

#: An explicit, immutable list: adding a lab means adding it here.
ALL_LABS: tuple[Lab, ...] = (
    connect_lab,
    pool_lab,
    sessions_lab,
    states_lab,
    loading_lab,
    request_lab,
    scale_lab,
)
