"""The sweeper removes what killed runs of sqla-lab left, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqla_lab._process import STAGING_MARKER
from sqla_lab.postgres import sweep_stale_directories


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_binaries_copy_cut_short_is_swept_once_its_copier_is_gone(tmp_path: Path) -> None:
    dead = tmp_path / "sqla-lab-pg-pginstall18-65534.abc123"
    (dead / "install" / "bin").mkdir(parents=True)
    (dead / STAGING_MARKER).write_text(f"{_dead_pid()}\n")
    alive = tmp_path / "sqla-lab-pg-pginstall18-65534.def456"
    (alive / "install").mkdir(parents=True)
    (alive / STAGING_MARKER).write_text(f"{os.getpid()}\n")
    removed = sweep_stale_directories(tmp_path, older_than_s=3600)
    assert removed == [dead]
    assert alive.exists()


def test_an_unmarked_directory_with_our_prefix_is_never_touched(tmp_path: Path) -> None:
    somebody = tmp_path / "sqla-lab-pg-not-ours"
    somebody.mkdir()
    (somebody / "notes.txt").write_text("mine")
    assert sweep_stale_directories(tmp_path, older_than_s=0) == []
    assert (somebody / "notes.txt").read_text() == "mine"
