"""The pool lab's verdicts follow from the numbers (no database)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sqla_lab.lab.outcome import Outcome
from sqla_lab.lab.results import Measurement, Verdict
from sqla_lab.labs.connect import connect_lab
from sqla_lab.labs.pool import judge_pre_ping
from sqla_lab.labs.pool._connect import (
    POOLED,
    SCRAM,
    SSL,
    TCP,
    _breakdown_output,
    _self_signed_certificate,
)
from sqla_lab.labs.pool._halfopen import (
    CANCEL,
    COMMAND,
    CONNECT,
    DEFAULT,
    PRE_PING,
    STATEMENT,
    _output,
)
from sqla_lab.labs.pool._settings import _settings_table

SA_FIRST = "SQLAlchemy first connect (fresh engine)"


@pytest.mark.parametrize(
    ("overhead_ms", "verdict"),
    [
        pytest.param(0.2, Verdict.REFUTED, id="far-cheaper"),
        pytest.param(10.0, Verdict.CONFIRMED, id="as-claimed"),
        pytest.param(4.0, Verdict.CONFIRMED, id="within-3x-below"),
        pytest.param(29.0, Verdict.CONFIRMED, id="within-3x-above"),
        pytest.param(45.0, Verdict.DEPENDS, id="dearer"),
    ],
)
def test_pre_ping_cost_verdict(overhead_ms: float, verdict: Verdict) -> None:
    assert judge_pre_ping(overhead_ms) is verdict


def _ms(name: str, *samples: float) -> Measurement:
    return Measurement.from_samples(name, samples, "ms")


@pytest.mark.parametrize(
    ("pooled_ms", "verdict"),
    [
        pytest.param(0.1, Verdict.CONFIRMED, id="every-step-dearer"),
        pytest.param(3.0, Verdict.DEPENDS, id="some-steps-dearer"),
        pytest.param(99.0, Verdict.REFUTED, id="no-step-dearer"),
    ],
)
def test_breakdown_verdict_and_table(pooled_ms: float, verdict: Verdict) -> None:
    measured = {
        TCP: _ms(TCP, 0.3, 0.4),
        SCRAM: _ms(SCRAM, 9.0, 11.0),
        SA_FIRST: _ms(SA_FIRST, 20.0, 22.0),
        POOLED: _ms(POOLED, pooled_ms, pooled_ms),
    }
    output = _breakdown_output(measured, {SSL: "not measured: no TLS here"})
    (finding,) = output.findings
    assert finding.verdict is verdict
    (table,) = output.tables
    rows = {row[0]: row for row in table.rows}
    assert rows[SSL][2] is None
    assert rows[SSL][6] == "not measured: no TLS here"
    assert rows[SA_FIRST][4] == pytest.approx(21.0)  # its base step was not measured
    assert rows[SCRAM][4] == pytest.approx(10.0)  # trust not measured: added over nothing
    assert "not measured: no TLS here" in finding.explanation


def _half_open(hanging: set[str], command_ok: bool) -> Verdict:
    outcomes: dict[str, Outcome[None]] = {
        name: Outcome(elapsed_s=3.0) for name in (DEFAULT, STATEMENT, PRE_PING)
    }
    outcomes[COMMAND] = Outcome(elapsed_s=0.5, error=None if command_ok else TimeoutError())
    outcomes[CONNECT] = Outcome(elapsed_s=0.25, error=TimeoutError())
    outcomes[CANCEL] = Outcome(elapsed_s=2.25, error=TimeoutError())
    (finding,) = _output(outcomes, hanging, keepalive=False, kernel_keepalive_s=7875.0).findings
    return finding.verdict


def test_half_open_verdict_needs_a_hang_and_a_bound() -> None:
    assert _half_open({DEFAULT, STATEMENT, PRE_PING}, command_ok=False) is Verdict.CONFIRMED
    assert _half_open(set(), command_ok=False) is Verdict.REFUTED
    assert _half_open({DEFAULT}, command_ok=True) is Verdict.REFUTED


def test_settings_table_finds_every_name_it_claims() -> None:
    table, in_sqlalchemy = _settings_table()
    assert in_sqlalchemy == 3
    assert len(table.rows) == 7
    assert not any(str(cell).startswith("missing") for row in table.rows for cell in row)


def test_connect_lab_is_kept() -> None:
    assert connect_lab.name == "connect"


def test_self_signed_certificate_for_the_tls_step(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl on this machine")
    pair = _self_signed_certificate(tmp_path)
    assert pair is not None
    cert, key = pair
    assert cert.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY-----" in key
