"""The ways the ``request`` lab writes ``GET /users/{id}``, by key, and what each is called.

Kept apart from :mod:`._endpoints` (which imports FastAPI) so that the findings and tables can
name the variants without importing a web framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqla_lab.lab.messages import N_

__all__ = ["UNITS_OF_WORK", "VARIANTS", "Variant", "labels"]


@dataclass(frozen=True)
class Variant:
    """One way of writing the endpoint; ``label`` names it in tables and findings."""

    key: str
    label: str


#: ``raw`` and ``core`` are the baselines; ``best`` is the cheapest ORM form measured; each
#: ``with-*`` is ``best`` with one avoidable cost put back; ``all-costs`` has all of them.
VARIANTS: Final = (
    Variant("raw", N_("raw asyncpg")),
    Variant("core", N_("SQLAlchemy Core")),
    Variant("best", N_("ORM, cheapest form")),
    Variant("with-overrides", N_("ORM + yield dependency + a dependency override")),
    Variant("with-yield-dependency", N_("ORM + session from a yield dependency")),
    Variant("with-per-request-options", N_("ORM + AUTOCOMMIT per request (execution options)")),
    Variant("with-shielded-close", N_("ORM + async with AsyncSession (shielded close)")),
    Variant("with-greenlet-per-call", N_("ORM + a greenlet per awaited call")),
    Variant("all-costs", N_("ORM with every avoidable cost (the old 'bare ORM')")),
)

#: The same work without FastAPI: what the ORM's floor is measured from.
UNITS_OF_WORK: Final = (
    Variant("raw-work", N_("unit of work, raw asyncpg (no FastAPI)")),
    Variant("orm-work", N_("unit of work, ORM (no FastAPI)")),
)


def labels() -> dict[str, str]:
    """Every variant's and unit of work's label, by key."""
    return {v.key: v.label for v in (*VARIANTS, *UNITS_OF_WORK)}
