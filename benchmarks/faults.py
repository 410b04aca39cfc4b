"""Fault drill, long: writes through the demo service while its database breaks, repeatedly.

The same drill as ``tests/integration/service/test_faults.py`` (:mod:`sqla_lab.service.drill`:
the app in-process on a private embedded PostgreSQL behind a ``FaultProxy``, writers with
known unique names), with the schedule repeated ``--cycles`` times: backends terminated,
the proxy black-holing then resetting, PostgreSQL restarted. Prints what the issue asks for:
writes acknowledged and lost, failed writes that left a row, writes whose commit was not
confirmed (``outcome_unknown``) and what became of them, the longest request against the
deadline, and the recovery time after every fault.

Usage: ``python benchmarks/faults.py [--cycles 5] [--writers 8] [--deadline 1.0]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics

from sqla_lab.service.drill import DEFAULT_SCHEDULE, RECOVERY_BOUND_S, DrillReport, run_drill


def _print(report: DrillReport, args: argparse.Namespace) -> None:
    with_row, without_row = report.unknown
    print(
        f"{len(report.writes):,} writes by {args.writers} writers in {report.duration_s:.0f} s, "
        f"{len(report.faults)} faults, request deadline {report.deadline_s:g} s"
    )
    print(f"  acknowledged (2xx):                 {report.acknowledged:,}")
    print(f"  acknowledged but lost:              {len(report.lost)}")
    print(f"  failed but stored anyway:           {len(report.phantoms)}")
    print(f"  outcome_unknown (stored / not):     {with_row} / {without_row}")
    print(f"  failures by kind:                   {report.errors_by_kind}")
    print(f"  longest request:                    {report.max_request_s:.3f} s")
    by_kind: dict[str, list[float]] = {}
    never = 0
    for window in report.faults:
        if window.recovery_s is None:
            never += 1
        else:
            by_kind.setdefault(window.kind, []).append(window.recovery_s)
    for kind, values in sorted(by_kind.items()):
        print(
            f"  recovery after {kind:10} median {statistics.median(values):.3f} s, "
            f"max {max(values):.3f} s over {len(values)}"
        )
    failed_later = sum(window.failed_later for window in report.faults)
    print(f"  faults never recovered from:        {never}")
    print(f"  failures > {RECOVERY_BOUND_S:g} s after a fault ended:  {failed_later}")
    ok = (
        not report.lost
        and not report.phantoms
        and never == 0
        and failed_later == 0
        and (report.max_recovery_s or 0.0) < RECOVERY_BOUND_S
        and "client_timeout" not in report.errors_by_kind
    )
    print(f"verdict: {'every check held' if ok else 'A CHECK FAILED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=5, help="times the schedule repeats")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers")
    parser.add_argument("--deadline", type=float, default=1.0, help="request_timeout, s")
    args = parser.parse_args()
    # Each failed write logs a warning line; the summary below counts them by kind.
    logging.getLogger("sqla_lab.service").setLevel(logging.ERROR)
    report = asyncio.run(
        run_drill(
            schedule=DEFAULT_SCHEDULE * args.cycles,
            writers=args.writers,
            request_timeout=args.deadline,
        )
    )
    _print(report, args)


if __name__ == "__main__":
    main()
