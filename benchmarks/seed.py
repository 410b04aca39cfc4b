"""Bulk seeding: 10,000 users x 10 posts (budget: under 3 s), next to an ORM ``add_all``.

Both loads run in the same process on the same server, so the ratio holds even when the
machine is busy. Usage: ``python benchmarks/seed.py [USERS] [POSTS_PER_USER]``.
"""

from __future__ import annotations

import asyncio
import sys
import time

from _common import row, server
from sqla_lab import Database
from sqla_lab.demo import PostEntity, UserEntity, seed


async def measure(url: object, users: int, per_user: int) -> tuple[float, float, int]:
    async with Database(url) as db:  # type: ignore[arg-type]
        started = time.perf_counter()
        counts = await seed(db.engine, users=users, posts_per_user=per_user, reset=True)
        bulk_s = time.perf_counter() - started

        await seed(db.engine, users=0, posts_per_user=0, reset=True)
        orm_users = max(1, users // 10)  # a tenth: the ORM path is far slower
        started = time.perf_counter()
        async with db.session() as session:
            session.add_all(
                UserEntity(
                    name=f"user-{u}",
                    posts=[PostEntity(title=f"post {p} of user {u}") for p in range(per_user)],
                )
                for u in range(orm_users)
            )
        orm_s = (time.perf_counter() - started) * (users / orm_users)
        return bulk_s, orm_s, counts.users + counts.posts


def main(users: int, per_user: int) -> None:
    with server() as pg:
        bulk_s, orm_s, rows = asyncio.run(measure(pg.url, users, per_user))
    print(f"seeding {users:,} users x {per_user} posts ({rows:,} rows)")
    row("INSERT ... SELECT generate_series (sqla-lab seed)", f"{bulk_s:.3f} s   (budget 3 s)")
    row("ORM session.add_all, extrapolated from a tenth", f"{orm_s:.3f} s")
    row("ratio ORM / bulk", f"{orm_s / bulk_s:.1f}x")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*(args + [10_000, 10][len(args) :]))
