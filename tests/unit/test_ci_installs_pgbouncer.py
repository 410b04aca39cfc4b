"""CI must be able to run the scale lab's tests: ``.ci/run`` installs PgBouncer first."""

from __future__ import annotations

from pathlib import Path

CI_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "run"


def test_ci_installs_pgbouncer_before_the_tests() -> None:
    lines = CI_SCRIPT.read_text(encoding="utf-8").splitlines()
    install = next(
        i
        for i, line in enumerate(lines)
        if "apt-get install" in line and "pgbouncer" in line and not line.lstrip().startswith("#")
    )
    tests = next(i for i, line in enumerate(lines) if ".venv/bin/pytest" in line)
    assert install < tests
    # Skipped when already installed, on PATH or in Debian's /usr/sbin.
    assert "command -v pgbouncer" in lines[install]
    assert "/usr/sbin/pgbouncer" in lines[install]
