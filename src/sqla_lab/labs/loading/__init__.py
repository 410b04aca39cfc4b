"""The ``loading`` lab: how each relationship loader strategy scales with N and with distance."""

from __future__ import annotations

from sqla_lab.labs.loading._lab import loading_lab

__all__ = ["loading_lab"]
