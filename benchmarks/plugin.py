"""The pytest plugin: per-test isolation cost against the real alternatives, and start-up cost.

Run with ``python benchmarks/plugin.py [--tests 200] [--rounds 5] [--callgrind] [--json]``
(progress on stderr, results on stdout). An embedded PostgreSQL is started unless
``DATABASE_URL`` is set; every pytest run below works in a database of its own on that server
(the plugin's ``db_url``).

**Isolation.** One generated project of ``--tests`` tests, each adding a row, committing,
and counting the rows (exactly 1: the test sees no other test's row). The same tests run,
in separate pytest processes, side by side and interleaved over ``--rounds`` rounds, with:

* ``db_session``: the plugin's fixture, pytest-asyncio ``session`` loop scope (one shared
  engine and pool; an outer transaction rolled back per test);
* ``db_session, function loops``: the same fixture under pytest-asyncio's default
  ``function`` loop scope (the shared engine's pool is emptied when each test's loop ends);
* ``new engine per test``: an engine made and disposed per test around the same outer
  transaction (what sqla-lab's plugin did before; the issue's 20-27 ms);
* ``truncate after each test``: one shared engine, sessions commit for real, and every
  table (``--tables``, default 10: the one the tests use and others they never touch, as in
  a real schema) is truncated after each test;
* ``no isolation``: the shared engine, real commits, nothing undone: for reference, what the
  same tests cost with no isolation at all (a real COMMIT instead of a RELEASE SAVEPOINT).

A test's time is its set-up + call + tear-down as pytest reports them; the first test of a
run (it pays for the server connection, the test database and its tables) is left out.
Reported: the median over rounds of each run's median time per test (a median, because other
processes on a shared machine make single tests slow now and then), and the ratios to
``db_session``.

**Start-up.** CPU time (user + system, of the child) of ``pytest --co`` on an empty project,
with and without ``-p no:sqla_lab``, interleaved, median of ``--startup-runs`` (7) each and
median of the paired differences; the CPU time of importing and registering the plugin's
modules, in-process; and with ``--callgrind``, the instructions ``pytest --co`` executes with
and without the plugin under valgrind (repeatable where times are not; about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import row
from sqla_lab.postgres import server_from_url
from sqla_lab.pytest_plugin import TEST_SERVER_SETTINGS

MODELS = """
from sqlalchemy import Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


# The rest of a schema: tables the tests never touch, as in any real project.
for number in range(1, {tables}):
    Table(
        f"other_{{number}}",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column("item_id", ForeignKey("items.id")),
        Column("note", String(100)),
    )
"""

# Each conftest gives the tests a fixture named `session`; the tests are the same for all.
CONFTESTS = {
    "db_session": """
import pytest


@pytest.fixture
def session(db_session):
    return db_session
""",
    "new engine per test": """
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine


@pytest.fixture
async def session(db_url):
    engine = create_async_engine(db_url)
    async with engine.connect() as connection:
        outer = await connection.begin()
        session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
        yield session
        await session.close()
        await outer.rollback()
    await engine.dispose()
""",
    "truncate after each test": """
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from models import Base

TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)


@pytest.fixture
async def session(db_engine):
    async with AsyncSession(db_engine) as session:
        yield session
    async with db_engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
""",
}
CONFTESTS["db_session, function loops"] = CONFTESTS["db_session"]
CONFTESTS["no isolation"] = """
import pytest
from sqlalchemy.ext.asyncio import AsyncSession


@pytest.fixture
async def session(db_engine):
    async with AsyncSession(db_engine) as session:
        yield session
"""
VARIANTS = (
    "db_session",
    "db_session, function loops",
    "new engine per test",
    "truncate after each test",
    "no isolation",
)
NO_ISOLATION = "no isolation"

TESTS = """
import pytest
from sqlalchemy import func, select

from models import Item


@pytest.mark.parametrize("n", range({count}))
async def test_add_commit_count(session, n):
    session.add(Item(name=f"item {{n}}"))
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Item)) {expected}
"""

# Collects each test's set-up + call + tear-down into a JSON file.
TIMING_PLUGIN = """
import json
import os

_TIMES = {}


def pytest_runtest_logreport(report):
    _TIMES[report.nodeid] = _TIMES.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    with open(os.environ["SQLA_LAB_BENCH_TIMES"], "w") as out:
        json.dump(list(_TIMES.values()), out)
"""


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _ini(loop_scope: str) -> str:
    return (
        "[pytest]\n"
        "pythonpath = .\n"
        "asyncio_mode = auto\n"
        f"asyncio_default_fixture_loop_scope = {loop_scope}\n"
        f"asyncio_default_test_loop_scope = {loop_scope}\n"
        "sqla_lab_metadata = models:Base\n"
    )


def _project(root: Path, variant: str, tests: int, tables: int) -> Path:
    path = root / "".join(c if c.isalnum() else "_" for c in variant)
    path.mkdir()
    loop_scope = "function" if "function loops" in variant else "session"
    (path / "pytest.ini").write_text(_ini(loop_scope))
    (path / "models.py").write_text(MODELS.format(tables=tables))
    (path / "conftest.py").write_text(CONFTESTS[variant])
    (path / "timing.py").write_text(TIMING_PLUGIN)
    # Every variant but the last proves its isolation: each test sees its own row only.
    expected = ">= 1" if variant == NO_ISOLATION else "== 1"
    (path / "test_items.py").write_text(TESTS.format(count=tests, expected=expected))
    return path


def _run_tests(project: Path, url: str, times_file: Path) -> list[float]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.update(DATABASE_URL=url, SQLA_LAB_BENCH_TIMES=str(times_file), PYTHONPATH=str(project))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "timing"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pytest failed in {project.name}:\n{done.stdout[-3000:]}")
    durations: list[float] = json.loads(times_file.read_text())
    return durations[1:]  # the first test pays for the test database


def isolation(url: str, tests: int, tables: int, rounds: int) -> dict[str, Any]:
    """Median time per test of each variant, per round (interleaved, rotating who goes first)."""
    root = Path(tempfile.mkdtemp(prefix="sqla-lab-bench-plugin-"))
    try:
        projects = {variant: _project(root, variant, tests, tables) for variant in VARIANTS}
        per_round: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for number in range(rounds):
            order = VARIANTS[number % len(VARIANTS) :] + VARIANTS[: number % len(VARIANTS)]
            for variant in order:
                started = time.perf_counter()
                durations = _run_tests(projects[variant], url, root / "times.json")
                per_round[variant].append(statistics.median(durations) * 1000.0)
                _progress(
                    f"  round {number + 1}/{rounds} {variant}: {per_round[variant][-1]:.2f} ms "
                    f"per test ({time.perf_counter() - started:.1f} s for the run)"
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    medians = {variant: statistics.median(values) for variant, values in per_round.items()}
    base = medians["db_session"]
    return {
        "tests": tests,
        "tables": tables,
        "rounds": rounds,
        "ms_per_test": medians,
        "ms_per_test_rounds": per_round,
        "ratio_to_db_session": {variant: ms / base for variant, ms in medians.items()},
    }


def _child_cpu(args: list[str], cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, cwd=cwd, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# Imports and registers what pytest loads of the plugin in a run that uses no fixture.
IMPORT_COST = """
import time
import pytest, pytest_asyncio.plugin
started = time.process_time()
import sqla_lab.pytest_plugin
from sqla_lab.pytest_plugin import assertions, async_fixtures, sync_fixtures
manager = pytest.PytestPluginManager()
for module in (assertions, async_fixtures, sync_fixtures):
    manager.register(module)
print(time.process_time() - started)
"""
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def _instructions(command: list[str], cwd: Path) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    match = _COLLECTED.search(done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def startup(runs: int, *, callgrind: bool) -> dict[str, Any]:
    """What the plugin adds to ``pytest --co`` on an empty project (see the module doc)."""
    root = Path(tempfile.mkdtemp(prefix="sqla-lab-bench-startup-"))
    try:
        (root / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
        command = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
        without_plugin = [*command, "-p", "no:sqla_lab"]
        with_plugin: list[float] = []
        without: list[float] = []
        _child_cpu(command, root)  # warm the file system caches
        for _ in range(runs):
            with_plugin.append(_child_cpu(command, root))
            without.append(_child_cpu(without_plugin, root))
        imports = []
        for _ in range(runs):
            done = subprocess.run(
                [sys.executable, "-c", IMPORT_COST], capture_output=True, text=True, check=True
            )
            imports.append(float(done.stdout))
        counted: dict[str, int] = {}
        if callgrind:
            _progress("  pytest --co under callgrind, with and without the plugin")
            counted = {
                "with_plugin": _instructions(command, root),
                "without_plugin": _instructions(without_plugin, root),
            }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    plugin_s, bare_s = statistics.median(with_plugin), statistics.median(without)
    return {
        "runs": runs,
        "cpu_s_with_plugin": plugin_s,
        "cpu_s_without_plugin": bare_s,
        "added_s": plugin_s - bare_s,
        "added_s_paired": statistics.median(
            a - b for a, b in zip(with_plugin, without, strict=True)
        ),
        "import_and_register_cpu_s": statistics.median(imports),
        "samples_with_plugin": with_plugin,
        "samples_without_plugin": without,
        "instructions": counted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200, help="tests per run (default 200)")
    parser.add_argument("--tables", type=int, default=10, help="tables in the schema (10)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--startup-runs", type=int, default=7, help="pytest --co runs (7)")
    parser.add_argument(
        "--callgrind", action="store_true", help="count pytest --co's instructions (valgrind)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    options = parser.parse_args()
    if options.callgrind and shutil.which("valgrind") is None:
        parser.error("--callgrind needs valgrind")
    if options.tests < 2 or min(options.tables, options.rounds, options.startup_runs) < 1:
        parser.error("--tests must be at least 2; --tables, --rounds, --startup-runs at least 1")

    _progress(f"start-up: {options.startup_runs} x pytest --co, with and without the plugin")
    started = startup(options.startup_runs, callgrind=options.callgrind)
    server = server_from_url(
        os.environ.get("SQLA_LAB_DATABASE_URL") or os.environ.get("DATABASE_URL"),
        version=os.environ.get("SQLA_LAB_PG_VERSION", "18"),
        server_settings=TEST_SERVER_SETTINGS,
    )
    with server:
        url = server.url.render_as_string(hide_password=False)
        _progress(f"isolation: {len(VARIANTS)} variants x {options.rounds} rounds")
        isolated = isolation(url, options.tests, options.tables, options.rounds)
    results = {"startup": started, "isolation": isolated}
    if options.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"pytest plugin: {options.tests} tests per run (add, commit, count), {options.tables} "
        f"tables, median of {options.rounds} interleaved rounds"
    )
    for variant in VARIANTS:
        ms = isolated["ms_per_test"][variant]
        ratio = isolated["ratio_to_db_session"][variant]
        row(f"{variant}", f"{ms:7.2f} ms per test   {ratio:5.2f}x db_session")
    print(f"start-up: CPU of pytest --co on an empty project, median of {options.startup_runs}")
    row("with the sqla-lab plugin", f"{started['cpu_s_with_plugin']:.3f} s")
    row("without (-p no:sqla_lab)", f"{started['cpu_s_without_plugin']:.3f} s")
    row("added by the plugin", f"{started['added_s']:+.3f} s   (goal < 0.1 s)")
    row("added, median of the paired differences", f"{started['added_s_paired']:+.3f} s")
    row(
        "importing + registering the plugin (in-process)",
        f"{started['import_and_register_cpu_s'] * 1000:.1f} ms CPU",
    )
    counted = started["instructions"]
    if counted:
        extra = counted["with_plugin"] / counted["without_plugin"]
        row(
            "instructions under callgrind, with / without",
            f"{counted['with_plugin']:,} / {counted['without_plugin']:,} = {extra:.4f}x",
        )


if __name__ == "__main__":
    main()
