"""The ``states`` lab: an ORM object's journey through the session state machine, measured."""

from __future__ import annotations

from sqla_lab.labs.states._lab import STATE_FLAGS, state_vector, states_lab

__all__ = ["STATE_FLAGS", "state_vector", "states_lab"]
