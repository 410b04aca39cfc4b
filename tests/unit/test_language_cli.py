"""``--lang``, ``SQLA_LAB_LANG`` and the locale on the command line, and ``sqla-lab show``.

Run through :func:`sqla_lab.cli.main` in a subprocess (the console script's entry point):
the language is read from the arguments before click parses them, so help is translated too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sqla_lab.cli._common import language_from_environment
from sqla_lab.errors import ConfigurationError
from sqla_lab.lab.results import dump_results
from sqla_lab.translation import Language
from tests.unit.report_samples import all_results

FULL_RUN = Path(__file__).parent / "data" / "full-run-quick.json"
_CLEAN = {k: v for k, v in os.environ.items() if k not in ("SQLA_LAB_LANG", "LANGUAGE")}


def _sqla_lab(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {**_CLEAN, "LC_ALL": "", "LC_MESSAGES": "", "LANG": "C.UTF-8", "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "sqla_lab", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        pytest.param({}, Language.EN, id="nothing-set"),
        pytest.param({"LANG": "ko_KR.UTF-8"}, Language.KO, id="korean-locale"),
        pytest.param({"LANG": "fr_FR.UTF-8"}, Language.EN, id="other-locale"),
        pytest.param({"LANGUAGE": "ko:en", "LANG": "C"}, Language.KO, id="language-list"),
        pytest.param({"SQLA_LAB_LANG": "en", "LANG": "ko_KR.UTF-8"}, Language.EN, id="variable"),
        pytest.param({"SQLA_LAB_LANG": "KO"}, Language.KO, id="variable-any-case"),
    ],
)
def test_the_language_comes_from_the_variable_then_the_locale(
    environ: dict[str, str], language: Language
) -> None:
    assert language_from_environment(environ) is language


def test_an_unknown_variable_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="SQLA_LAB_LANG='fr': sqla-lab speaks en, ko"):
        language_from_environment({"SQLA_LAB_LANG": "fr"})


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(("list", "--lang", "fr"), {}, id="option"),
        pytest.param(("--lang=xx", "list"), {}, id="before-the-command"),
        pytest.param(("list",), {"SQLA_LAB_LANG": "fr"}, id="variable"),
    ],
)
def test_an_unknown_language_is_one_line_and_exit_2(
    args: tuple[str, ...], env: dict[str, str]
) -> None:
    result = _sqla_lab(*args, **env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "sqla-lab speaks en, ko" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--lang", "ko", "run", "--help"), id="before-the-command"),
        pytest.param(("run", "--help", "--lang", "ko"), id="after-the-command"),
    ],
)
def test_help_is_translated(args: tuple[str, ...]) -> None:
    result = _sqla_lab(*args)
    assert result.returncode == 0, result.stderr
    assert "주장 장부" in result.stdout  # the command's own help
    assert "옵션" in result.stdout  # typer's panel title


def test_list_as_json_keeps_english_keys_and_adds_the_rendered_title() -> None:
    result = _sqla_lab("list", "--json", LANG="ko_KR.UTF-8")
    assert result.returncode == 0, result.stderr
    labs = json.loads(result.stdout)
    assert {"name", "title", "rendered"} <= set(labs[0])
    assert labs[0]["title"].isascii()
    assert not labs[0]["rendered"]["title"].isascii()


def test_show_prints_each_labs_detail_from_a_file(tmp_path: Path) -> None:
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(dump_results(all_results())), encoding="utf-8")
    result = _sqla_lab("show", "pool", "--from", str(saved), "--lang", "ko")
    assert result.returncode == 0, result.stderr
    assert "pool:" in result.stdout
    assert "connect:" not in result.stdout
    assert "출처" in result.stdout  # "source", in Korean


def test_show_of_a_lab_not_in_the_file_is_one_line(tmp_path: Path) -> None:
    result = _sqla_lab("show", "nope", "--from", str(FULL_RUN))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: no results for lab 'nope' in {FULL_RUN}; it has: "
        "connect, pool, sessions, states, loading, scale"
    )


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_the_last_run_cache_never_writes_through_what_sqla_lab_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from sqla_lab.cli.labs import _keep_last_run, last_run_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = last_run_path()
    cache.parent.mkdir(parents=True)
    theirs = tmp_path / "theirs.txt"
    theirs.write_text("not sqla-lab's\n")
    if kind == "symlink":
        cache.symlink_to(theirs)
    else:
        os.mkfifo(cache)  # opening it for writing would block: it must not be opened
    _keep_last_run(all_results())
    assert theirs.read_text() == "not sqla-lab's\n"
    assert cache.is_symlink() if kind == "symlink" else cache.is_fifo()


def test_the_last_run_is_kept_in_sqla_labs_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqla_lab.cli.labs import _keep_last_run, last_run_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _keep_last_run(all_results())
    kept = json.loads(last_run_path().read_text())
    assert kept == json.loads(json.dumps(dump_results(all_results())))
