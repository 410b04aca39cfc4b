"""Without any PgBouncer the pooler findings are skipped, saying why, and nothing runs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sqla_lab.lab.results import Verdict
from sqla_lab.labs.scale._app_pool import app_pool
from sqla_lab.labs.scale._pgbouncer import NOT_FOUND
from sqla_lab.labs.scale._prepared import prepared_statements


class _NoWork:
    """A worker pool and a context that fail if anything is asked of them."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"nothing should run without a PgBouncer (asked for {name})")


@pytest.mark.parametrize(
    ("part", "keys"),
    [
        pytest.param(
            prepared_statements,
            ["scale.prepared-statement-clash", "scale.prepared-statement-fixes"],
            id="prepared-statements",
        ),
        pytest.param(app_pool, ["scale.app-pool-behind-pgbouncer"], id="app-pool"),
    ],
)
async def test_skipped_without_a_pooler(part: Any, keys: list[str]) -> None:
    output = await part(_NoWork(), SimpleNamespace(pooler=None), _NoWork())
    assert [f.key for f in output.findings] == keys
    for finding in output.findings:
        assert finding.verdict is Verdict.SKIPPED
        assert finding.explanation_message.render() == NOT_FOUND
        assert finding.measurements == ()
        assert finding.claim
        assert finding.source.startswith("https://")
    assert output.tables == ()
