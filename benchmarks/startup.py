"""Embedded PostgreSQL start-up budget: cold init+start, warm start of a kept dir, stop.

Budget on a 2-core machine: cold < 3 s, warm < 1 s, stop < 1 s. Runs are interleaved
(cold, warm, cold, warm, ...) so drift hits both alike. Usage: ``python benchmarks/startup.py [N]``.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import row
from sqla_lab.postgres import EmbeddedPostgres


def main(rounds: int) -> None:
    cold, warm, stop = [], [], []
    kept = Path(tempfile.mkdtemp(prefix="sqla-lab-bench-"))
    kept.chmod(0o755)
    try:
        EmbeddedPostgres(data_dir=kept / "data", keep=True).init()
        for _ in range(rounds):
            started = time.perf_counter()
            fresh = EmbeddedPostgres()
            fresh.start()
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            fresh.stop()
            stop.append(time.perf_counter() - started)
            fresh.destroy()

            started = time.perf_counter()
            again = EmbeddedPostgres(data_dir=kept / "data", keep=True)
            again.start()
            warm.append(time.perf_counter() - started)
            again.stop()
    finally:
        shutil.rmtree(kept, ignore_errors=True)
    cold_s, warm_s, stop_s = (statistics.median(x) for x in (cold, warm, stop))
    print(f"embedded PostgreSQL start-up, median of {rounds} interleaved rounds")
    row("cold: initdb + start + first connection", f"{cold_s:.3f} s   (budget 3 s)")
    row("warm: start of a kept data dir + first connection", f"{warm_s:.3f} s   (budget 1 s)")
    row("stop (fast shutdown)", f"{stop_s:.3f} s   (budget 1 s)")
    row("ratio warm / cold", f"{warm_s / cold_s:.2f}")
    row("ratio stop / cold", f"{stop_s / cold_s:.2f}")
    within = cold_s < 3 and warm_s < 1 and stop_s < 1
    print(f"  within budget: {'yes' if within else 'NO'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
