"""CI must be able to run the report's browser test: ``.ci/run`` installs chromium first."""

from __future__ import annotations

from pathlib import Path

CI_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "run"


def test_ci_installs_chromium_before_the_tests() -> None:
    lines = CI_SCRIPT.read_text(encoding="utf-8").splitlines()
    install = next(
        i
        for i, line in enumerate(lines)
        if "apt-get install" in line and "chromium" in line and not line.lstrip().startswith("#")
    )
    tests = next(i for i, line in enumerate(lines) if ".venv/bin/pytest" in line)
    assert install < tests
    assert "command -v chromium" in lines[install]  # skipped when already installed


def test_ci_installs_a_hangul_font_before_the_tests() -> None:
    lines = CI_SCRIPT.read_text(encoding="utf-8").splitlines()
    install = next(
        i
        for i, line in enumerate(lines)
        if "apt-get install" in line
        and "fonts-noto-cjk" in line
        and not line.lstrip().startswith("#")
    )
    tests = next(i for i, line in enumerate(lines) if ".venv/bin/pytest" in line)
    assert install < tests
    assert "fc-list :lang=ko" in lines[install]  # skipped when one is already installed
