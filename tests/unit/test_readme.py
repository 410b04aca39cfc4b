"""README.md must stay true: its set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ci_test_command() -> str:
    script = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"# TEST-COMMAND-BEGIN\n(.+?)\n# TEST-COMMAND-END", script, re.S)
    assert match, ".ci/run lost its TEST-COMMAND markers"
    return match.group(1).strip()


def test_readme_shows_the_exact_test_command_ci_runs() -> None:
    assert _ci_test_command() in (ROOT / "README.md").read_text()


def test_readme_shows_the_main_job() -> None:
    readme = (ROOT / "README.md").read_text()
    main_job = (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[all]' && .venv/bin/sqla-lab run"
    )
    assert main_job in readme
