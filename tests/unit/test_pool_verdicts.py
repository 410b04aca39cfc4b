"""The pool lab's verdicts follow from the numbers (no database)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sqla_lab.lab.outcome import Outcome
from sqla_lab.lab.results import Measurement, Verdict
from sqla_lab.lab.stats import paired_difference
from sqla_lab.labs.connect import connect_lab
from sqla_lab.labs.pool import judge_pre_ping
from sqla_lab.labs.pool._connect import (
    POOLED,
    SCRAM,
    SSL,
    TCP,
    TRUST,
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
    ("overhead_ms", "jitter_ms", "verdict"),
    [
        pytest.param(0.2, 0.05, Verdict.REFUTED, id="far-cheaper"),
        pytest.param(0.0, 0.05, Verdict.REFUTED, id="no-difference"),
        pytest.param(-0.5, 0.05, Verdict.REFUTED, id="cheaper-than-without"),
        pytest.param(10.0, 0.5, Verdict.CONFIRMED, id="as-claimed"),
        pytest.param(4.0, 0.2, Verdict.CONFIRMED, id="within-3x-below"),
        pytest.param(29.0, 0.2, Verdict.CONFIRMED, id="within-3x-above"),
        pytest.param(45.0, 1.0, Verdict.DEPENDS, id="dearer"),
        pytest.param(3.3, 3.0, Verdict.INCONCLUSIVE, id="noise-across-the-edge"),
    ],
)
def test_pre_ping_cost_verdict(overhead_ms: float, jitter_ms: float, verdict: Verdict) -> None:
    without = [1.0 + 0.01 * i for i in range(30)]
    with_ping = [
        w + overhead_ms + jitter_ms * (1 if i % 2 else -1) * (i % 5) / 4
        for i, w in enumerate(without)
    ]
    assert judge_pre_ping(paired_difference(with_ping, without)).verdict is verdict


def _ms(name: str, *samples: float) -> Measurement:
    return Measurement.from_samples(name, samples, "ms")


def _rounds(centre: float, spread: float) -> tuple[float, ...]:
    return tuple(centre + spread * ((i * 7) % 11 - 5) / 5 for i in range(15))


@pytest.mark.parametrize(
    ("pooled_ms", "pooled_spread", "verdict"),
    [
        pytest.param(0.1, 0.01, Verdict.CONFIRMED, id="every-step-dearer"),
        pytest.param(3.0, 0.1, Verdict.REFUTED, id="a-step-not-dearer"),
        pytest.param(0.35, 0.3, Verdict.INCONCLUSIVE, id="tcp-inside-the-noise"),
    ],
)
def test_breakdown_verdict_and_table(
    pooled_ms: float, pooled_spread: float, verdict: Verdict
) -> None:
    measured = {
        TCP: _ms(TCP, *_rounds(0.35, 0.05)),
        SCRAM: _ms(SCRAM, *_rounds(10.0, 1.0)),
        SA_FIRST: _ms(SA_FIRST, *_rounds(21.0, 1.0)),
        POOLED: _ms(POOLED, *_rounds(pooled_ms, pooled_spread)),
    }
    output = _breakdown_output(measured, {SSL: "not measured: no TLS here"})
    (finding,) = output.findings
    assert finding.verdict is verdict
    (table,) = output.tables
    rows = {row[0]: row for row in table.rows}
    assert rows[SSL][2] is None
    assert rows[SSL][7] == "not measured: no TLS here"
    assert rows[SA_FIRST][5] == pytest.approx(21.0)  # its base step was not measured
    assert rows[SCRAM][5] == pytest.approx(10.0)  # trust not measured: added over nothing
    assert str(rows[SCRAM][4]).startswith("10 ms more")
    assert "not measured: no TLS here" in str(finding.explanation)


def test_breakdown_never_shows_a_negative_added_cost() -> None:
    measured = {
        TCP: _ms(TCP, *_rounds(0.35, 0.05)),
        # SCRAM measured cheaper than the trust step before it: noise, or a real saving.
        TRUST: _ms(TRUST, *_rounds(10.5, 0.1)),
        SCRAM: _ms(SCRAM, *_rounds(10.0, 0.1)),
        SA_FIRST: _ms(SA_FIRST, *_rounds(21.0, 1.0)),
        POOLED: _ms(POOLED, *_rounds(0.1, 0.01)),
    }
    (table,) = _breakdown_output(measured, {}).tables
    rows = {row[0]: row for row in table.rows}
    assert rows[SCRAM][5] is None  # no bar for a step that adds nothing measurable
    assert str(rows[SCRAM][4]).startswith("0.5 ms less")


def _half_open(hanging: set[str]) -> tuple[Verdict, Verdict, str, str]:
    outcomes: dict[str, Outcome[None]] = {
        name: Outcome(elapsed_s=3.0) for name in (DEFAULT, STATEMENT, PRE_PING)
    }
    outcomes[COMMAND] = Outcome(elapsed_s=3.0 if COMMAND in hanging else 0.5, error=TimeoutError())
    outcomes[CONNECT] = Outcome(elapsed_s=0.25, error=TimeoutError())
    outcomes[CANCEL] = Outcome(elapsed_s=2.25, error=TimeoutError())
    held, remedies = _output(outcomes, hanging, keepalive=False, kernel_keepalive_s=7875.0).findings
    return held.verdict, remedies.verdict, str(held.explanation), str(remedies.explanation)


def test_the_seeds_claim_and_the_remedy_are_judged_apart() -> None:
    held, remedies, _, said = _half_open({DEFAULT, STATEMENT, PRE_PING})
    assert (held, remedies) == (Verdict.CONFIRMED, Verdict.CONFIRMED)
    assert "command_timeout=0.25: ended after 0.5 s with builtins.TimeoutError" in said
    # A remedy that does not work (asyncpg 0.29's command_timeout) leaves the seed's claim alone.
    held, remedies, _, said = _half_open({DEFAULT, STATEMENT, PRE_PING, COMMAND})
    assert (held, remedies) == (Verdict.CONFIRMED, Verdict.DEPENDS)
    assert "command_timeout=0.25: was still waiting after 3 s" in said
    assert "ended after 3" not in said
    held, _, explained, _ = _half_open(set())
    assert held is Verdict.REFUTED
    assert "ended after 3 s with no error" in explained


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
