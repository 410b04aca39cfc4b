"""The fault drill, short: writes through the service while the database breaks, then checks.

Backends terminated, PostgreSQL restarted, the network black-holed then reset
(:mod:`sqla_lab.service.drill`); ``benchmarks/faults.py`` runs a longer schedule.
"""

from __future__ import annotations

import pytest

from sqla_lab.service.drill import OUTCOME_UNKNOWN, RECOVERY_BOUND_S, run_drill

DEADLINE_S = 1.0


@pytest.mark.slow
async def test_no_write_is_lost_or_phantom_no_request_hangs_and_the_service_recovers() -> None:
    report = await run_drill(writers=4, request_timeout=DEADLINE_S)

    assert report.acknowledged > 50, report.errors_by_kind
    # Every acknowledged write has its row; no failed write left one (unless the service
    # said it could not know: outcome_unknown).
    assert report.lost == ()
    assert report.phantoms == ()
    # Every fault did break something, and the service answered (never a hang).
    assert {window.kind for window in report.faults} == {
        "terminate",
        "blackhole",
        "reset",
        "restart",
    }
    assert sum(report.errors_by_kind.values()) > 0
    assert "client_timeout" not in report.errors_by_kind
    assert set(report.errors_by_kind) <= {
        "unavailable",
        "deadline",
        "pool_exhausted",
        OUTCOME_UNKNOWN,
    }
    # No request outlived its deadline by more than scheduling noise on a busy machine.
    assert report.max_request_s <= DEADLINE_S * 1.5 + 0.5
    for window in report.faults:
        assert window.recovery_s is not None, window
        assert window.recovery_s < RECOVERY_BOUND_S, window
        assert window.failed_later == 0, window
