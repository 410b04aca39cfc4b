"""The seed's demo domain: users and their posts, and fast seeding.

The labs, the demo service and sqla-lab's own tests use these; your project has its own models
(the pytest fixtures take them through the ``sqla_lab_metadata`` ini option).
"""

from __future__ import annotations

from sqla_lab.demo.models import Base, Post, PostEntity, User, UserEntity
from sqla_lab.demo.seeding import SeedCounts, seed, seeded_counts

__all__ = [
    "Base",
    "Post",
    "PostEntity",
    "SeedCounts",
    "User",
    "UserEntity",
    "seed",
    "seeded_counts",
]
