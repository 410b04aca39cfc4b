"""Benchmark: N+1 detection on the corpus, and what watching costs, for three tools.

Run with ``python benchmarks/n_plus_one.py [--json] [--callgrind]`` (progress goes to
stderr, the results to stdout; an embedded PostgreSQL is started unless
``DATABASE_URL`` names a server; either way the benchmark works in a database of its own,
``sqla_lab_n_plus_one_bench``, created at the start and dropped at the end). It prints, in one
run:

* **detection** on the corpus of ``tests/integration/_n_plus_one_corpus.py`` for sqla-lab's
  :class:`~sqla_lab.NPlusOneDetector`, queryspy and pytest-queryguard (with its opt-in unused
  eager-load check), each with its default settings: true positives, false positives,
  misses, precision and recall, and for sqla-lab whether the fix it names is the expected one.
  Goals: precision >= 0.98, recall >= 0.95.
* **overhead**: client CPU time (and wall time) per round with the tool versus bare, the
  median of per-round ratios over interleaved rounds, on 10,000 primary-key selects and on
  loading 1,000 users x 10 posts with ``selectinload`` (reading every user's posts), for the
  detector, :class:`~sqla_lab.QueryRecorder` and the peers. Goals for the detector: at most
  1.03x and 1.05x. Each variant runs in its own child process (pytest-queryguard installs
  process-wide listeners that cannot be removed, which would slow every other variant in a
  shared process); the parent tells the children in turn to run one round, rotating who
  goes first, so all variants see the same machine load. A second tool-less process
  ("bare, again") shows how far two identical processes differ: ratios closer to 1 than that
  cannot be told from noise. With ``--callgrind`` the instructions per primary-key select of
  the detector and QueryRecorder are counted under valgrind as well (repeatable, slow).

The peers are installed by this script with ``pip install --target`` into a directory of its
own under the system temporary directory (never into sqla-lab's environment, never a
dependency); a peer that cannot be installed is reported as such and left out.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the corpus lives in the test package
    sys.path.insert(0, str(ROOT))

PEERS = {"queryspy": "queryspy==0.6.0", "pytest-queryguard": "pytest-queryguard==0.4.1"}
PEER_MODULES = {"queryspy": "queryspy", "pytest-queryguard": "pytest_queryguard"}
BENCH_DATABASE = "sqla_lab_n_plus_one_bench"
# "bare, again" is a second process without any tool: its ratio to "bare" is how far two
# processes doing the same work differ here, the noise floor of every other ratio.
VARIANTS = (
    "bare",
    "bare, again",
    "NPlusOneDetector",
    "QueryRecorder",
    "queryspy",
    "pytest-queryguard",
)
PK_SELECTS = 10_000
PK_ROUNDS = 20
USERS = 1000
POSTS_PER_USER = 10
SELECTIN_ROUNDS = 30


def _progress(line: str) -> None:
    """Rewrite one progress line on a terminal; elsewhere stay quiet until the end."""
    if sys.stderr.isatty():
        print(f"\r{line}", end="", file=sys.stderr, flush=True)


# -- peers ---------------------------------------------------------------------------------


def install_peers(directory: Path) -> dict[str, str | None]:
    """Install the peers into ``directory``; returns peer -> error (``None``: installed)."""
    status: dict[str, str | None] = {}
    for name, requirement in PEERS.items():
        marker = directory / f".{name}.installed"
        if marker.exists():
            status[name] = None
            continue
        # --no-deps: their dependencies (SQLAlchemy, pytest) are the ones already here.
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
                str(directory),
                requirement,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            marker.write_text(requirement)
            status[name] = None
        else:
            lines = (done.stderr or done.stdout).strip().splitlines()
            status[name] = lines[-1] if lines else f"pip exited {done.returncode}"
    return status


def _peer(name: str) -> Any:
    return importlib.import_module(PEER_MODULES[name])


# -- detection on the corpus --------------------------------------------------------------


def _tool_contexts(name: str) -> Callable[[Any], AbstractContextManager[Callable[[], list[str]]]]:
    """For a tool: a context manager around one scenario, yielding a "what was found" call."""
    from sqla_lab import NPlusOneDetector

    if name == "sqla-lab":

        @contextmanager
        def ours(target: Any) -> Iterator[Callable[[], list[str]]]:
            with NPlusOneDetector(target, mode="collect") as detector:
                yield lambda: sorted({f.fix for f in detector.findings})

        return ours
    if name == "queryspy":
        queryspy = _peer("queryspy")

        @contextmanager
        def spy(target: Any) -> Iterator[Callable[[], list[str]]]:
            with queryspy.record() as recorder:
                yield lambda: sorted({f.kind for f in recorder.findings()})

        return spy
    guard = _peer("pytest-queryguard")
    eager = importlib.import_module("pytest_queryguard.eager")
    eager.enable()

    @contextmanager
    def queryguard(target: Any) -> Iterator[Callable[[], list[str]]]:
        tracker = eager.start()
        try:
            with guard.record_queries() as log:
                found: list[str] = []
                yield lambda: found
        finally:
            eager.stop(tracker)
        try:
            log.assert_no_nplusone()
        except guard.NPlusOneDetected:
            found.append("n+1")
        if eager.findings(tracker):
            found.append("unused eager load")

    return queryguard


async def detection(url: Any, tools: list[str]) -> dict[str, Any]:
    """Run every corpus scenario under each tool; counts and per-scenario verdicts."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from tests.integration._n_plus_one_corpus import SCENARIOS, environment
    from tests.integration.test_n_plus_one_corpus import target_of

    results: dict[str, Any] = {}
    engine = create_async_engine(url, pool_size=2, max_overflow=8)
    try:
        for tool in tools:
            watch = _tool_contexts(tool)
            verdicts = []
            for number, scenario in enumerate(SCENARIOS, start=1):
                _progress(f"  {tool}: scenario {number}/{len(SCENARIOS)}")
                async with environment(engine) as env:
                    with watch(target_of(scenario.target, env)) as found:
                        try:
                            await scenario.run(env)
                            error = None
                        except Exception as exc:  # a tool that breaks the code counts as such
                            error = f"{type(exc).__name__}: {exc}"
                    reported = found()
                verdicts.append(
                    {
                        "id": scenario.id,
                        "class": scenario.cls,
                        "expected": scenario.fix,
                        "reported": reported,
                        "error": error,
                    }
                )
            print(f"\r  {tool}: {len(SCENARIOS)} scenarios run", file=sys.stderr, flush=True)
            results[tool] = _score(verdicts, tool == "sqla-lab")
    finally:
        await engine.dispose()
    return results


def _score(verdicts: list[dict[str, Any]], with_fix: bool) -> dict[str, Any]:
    tp = sum(1 for v in verdicts if v["expected"] and v["reported"])
    fp = sum(1 for v in verdicts if not v["expected"] and v["reported"])
    missed = sum(1 for v in verdicts if v["expected"] and not v["reported"])
    score: dict[str, Any] = {
        "true_positives": tp,
        "false_positives": fp,
        "missed": missed,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + missed) if tp + missed else None,
        "false_positive_ids": [v["id"] for v in verdicts if not v["expected"] and v["reported"]],
        "missed_ids": [v["id"] for v in verdicts if v["expected"] and not v["reported"]],
        "errors": [f"{v['id']}: {v['error']}" for v in verdicts if v["error"]],
        "verdicts": verdicts,
    }
    if with_fix:
        score["right_fix"] = sum(
            1 for v in verdicts if v["expected"] and v["reported"] == [v["expected"]]
        )
    return score


# -- overhead: the child side ---------------------------------------------------------------


def _instrument(variant: str, session: Any) -> AbstractContextManager[Any]:
    from sqla_lab import NPlusOneDetector, QueryRecorder

    if variant == "NPlusOneDetector":
        return NPlusOneDetector(session, mode="collect")
    if variant == "QueryRecorder":
        return QueryRecorder(session)
    if variant == "queryspy":
        return _peer("queryspy").record()  # type: ignore[no-any-return]
    if variant == "pytest-queryguard":
        return _peer("pytest-queryguard").record_queries()  # type: ignore[no-any-return]
    return nullcontext()


def _workloads(variant: str, url: str, per_round: int) -> tuple[Any, dict[str, Callable[[], Any]]]:
    """The engine and the two workloads, each one round under ``variant``'s instrument."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from sqlalchemy.orm import selectinload

    from sqla_lab import UserEntity

    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def pk_round(selects: int = per_round) -> None:
        async with sessions() as session:
            with _instrument(variant, session):
                for i in range(selects):
                    await session.scalar(select(UserEntity).where(UserEntity.id == 1 + i % 100))

    async def selectin_round() -> None:
        async with sessions() as session:
            with _instrument(variant, session):
                stmt = (
                    select(UserEntity)
                    .options(selectinload(UserEntity.posts))
                    .order_by(UserEntity.id)
                    .limit(USERS)
                )
                users = (await session.scalars(stmt)).all()
                assert sum(len(user.posts) for user in users) == USERS * POSTS_PER_USER

    return engine, {"pk": pk_round, "selectin": selectin_round}


async def _count_child(variant: str, kind: str, count: int, url: str) -> None:
    """What runs under callgrind: the same warm-up for every count, then ``count``
    primary-key selects in one session or ``count`` selectin loads (as ``_instrument_cost``)."""
    import gc

    engine, rounds = _workloads(variant, url, 20)
    try:
        await rounds["pk"]()
        await rounds["selectin"]()
        gc.collect()
        gc.freeze()  # the import-time heap out of later collections
        if kind == "pk":
            await rounds["pk"](count)  # count selects in one session, as in the rounds
        else:
            for _ in range(count):
                await rounds["selectin"]()
    finally:
        await engine.dispose()


async def _child(variant: str, url: str, per_round: int) -> None:
    """Run rounds on command (stdin) and answer with their CPU and wall seconds (stdout)."""
    engine, rounds = _workloads(variant, url, per_round)
    try:
        for warm in rounds.values():
            await warm()
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            command = line.strip()
            if command not in rounds:
                break
            cpu, wall = time.process_time(), time.perf_counter()
            await rounds[command]()
            print(f"{time.process_time() - cpu} {time.perf_counter() - wall}", flush=True)
    finally:
        await engine.dispose()


# -- overhead: the parent side --------------------------------------------------------------


def _child_env(peer_dir: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": "0", "SQLA_LAB_BENCH_PEERS": str(peer_dir)}


class _Child:
    def __init__(self, variant: str, url: str, peer_dir: Path, per_round: int) -> None:
        self.variant = variant
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                variant,
                url,
                str(per_round),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_child_env(peer_dir),
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError(f"{variant} child did not start: {ready!r}")

    def run(self, command: str) -> tuple[float, float]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        cpu, wall = self.process.stdout.readline().split()
        return float(cpu), float(wall)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def overhead(url: str, variants: list[str], peer_dir: Path, processes: int) -> dict[str, Any]:
    """Median per-round CPU and wall ratios of each variant versus bare (see module doc).

    Each variant runs in ``processes`` child processes and a round is the sum over them:
    two processes doing the same work differ by a few per cent here (where their memory
    landed, which core), and several per variant average that out.
    """
    results: dict[str, Any] = {}
    per_round = PK_SELECTS // (PK_ROUNDS * processes)
    with ExitStack() as stack:
        children: dict[str, list[_Child]] = {}
        for variant in variants:
            print(f"  starting {processes} x {variant}", file=sys.stderr, flush=True)
            children[variant] = []
            for _ in range(processes):
                child = _Child(variant, url, peer_dir, per_round)
                stack.callback(child.close)
                children[variant].append(child)
        for command, rounds in (("pk", PK_ROUNDS), ("selectin", SELECTIN_ROUNDS)):
            cpu: dict[str, list[float]] = {v: [] for v in variants}
            wall: dict[str, list[float]] = {v: [] for v in variants}
            for number in range(rounds):
                _progress(f"  {command}: round {number + 1}/{rounds}")
                shift = number % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    used = [child.run(command) for child in children[variant]]
                    cpu[variant].append(sum(u[0] for u in used))
                    wall[variant].append(sum(u[1] for u in used))
            print(f"\r  {command}: {rounds} rounds run", file=sys.stderr, flush=True)
            results[command] = {
                variant: {
                    "cpu_ratio": statistics.median(
                        a / b for a, b in zip(cpu[variant], cpu["bare"], strict=True)
                    ),
                    "wall_ratio": statistics.median(
                        a / b for a, b in zip(wall[variant], wall["bare"], strict=True)
                    ),
                    "median_cpu_ms": statistics.median(cpu[variant]) * 1000,
                }
                for variant in variants
            }
    return results


def _instructions(url: str, variants: list[str], peer_dir: Path) -> dict[str, Any]:
    """Client instructions per primary-key select and per selectin load under callgrind:
    runs of a small and a large count per variant, so start-up cancels in the difference."""
    import _instrument_cost

    if not _instrument_cost.available():
        return {"skipped": "valgrind is not installed"}
    counts = {"pk": (100, 400), "selectin": (1, 3)}
    jobs = [
        (variant, kind, count)
        for kind, pair in counts.items()
        for variant in variants
        for count in pair
    ]

    def run(job: tuple[str, str, int]) -> int:
        variant, kind, count = job
        command = [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            str(Path(__file__).resolve()),
            "--count-child",
            variant,
            kind,
            str(count),
            url,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, check=True, env=_child_env(peer_dir)
        )
        match = _instrument_cost._COLLECTED.search(done.stderr)
        if match is None:
            raise RuntimeError(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
        print(f"  counted {variant} {kind} x{count}", file=sys.stderr, flush=True)
        return int(match.group(1))

    with ThreadPoolExecutor(max_workers=2) as pool:
        collected = dict(zip(jobs, pool.map(run, jobs), strict=True))
    result: dict[str, Any] = {}
    for kind, (small, large) in counts.items():
        per_op = {
            v: (collected[v, kind, large] - collected[v, kind, small]) / (large - small)
            for v in variants
        }
        result[kind] = {
            v: {"ratio": per_op[v] / per_op["bare"], "instructions": per_op[v]} for v in variants
        }
    return result


# -- the run --------------------------------------------------------------------------------


def _bench_database(server: Any) -> AbstractContextManager[Any]:
    from tests.integration._loading_data import separate_database

    return separate_database(server, BENCH_DATABASE)


async def _prepare(url: Any) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine
    from tests.integration import _n_plus_one_corpus_models as corpus_models

    from sqla_lab import Base, seed

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await seed(engine, users=USERS, posts_per_user=POSTS_PER_USER)
        await corpus_models.create(engine)
    finally:
        await engine.dispose()


def _print_report(report: dict[str, Any]) -> None:
    print("\nDetection on the corpus (goals: precision >= 0.98, recall >= 0.95):")
    print(f"  {'tool':<20} {'TP':>4} {'FP':>4} {'missed':>6} {'precision':>9} {'recall':>7}")
    for tool, score in report["detection"].items():
        precision = score["precision"]
        recall = score["recall"]
        print(
            f"  {tool:<20} {score['true_positives']:>4} {score['false_positives']:>4} "
            f"{score['missed']:>6} {precision if precision is None else f'{precision:.3f}':>9} "
            f"{recall if recall is None else f'{recall:.3f}':>7}"
        )
        if score["false_positive_ids"]:
            print(f"  {'':<20} false alarms: {', '.join(score['false_positive_ids'])}")
        if score["missed_ids"]:
            print(f"  {'':<20} missed: {', '.join(score['missed_ids'])}")
        if score["errors"]:
            print(f"  {'':<20} errors: {'; '.join(score['errors'])}")
        if "right_fix" in score:
            print(f"  {'':<20} right fix named: {score['right_fix']}/{score['true_positives']}")
    for peer, error in report["peers"].items():
        if error is not None:
            print(f"  {peer}: not installable here ({error}); left out")
    labels = {
        "pk": f"{PK_SELECTS:,} primary-key selects (goal for the detector <= 1.03x)",
        "selectin": (
            f"{USERS:,} users x {POSTS_PER_USER} posts, selectinload "
            f"(goal for the detector <= 1.05x)"
        ),
    }
    instructions = report.get("instructions") or {}
    for kind, rows in instructions.items():
        if not isinstance(rows, dict):
            print(f"\nInstructions under callgrind: {rows}")
            continue
        print(
            f"\nInstructions per {'primary-key select' if kind == 'pk' else 'selectin load'}"
            " under callgrind (client side), ratio vs bare:"
        )
        for variant, row in rows.items():
            print(f"  {variant:<20} {row['ratio']:.3f}x  ({row['instructions']:,.0f})")
    for command, label in labels.items():
        rows = report["overhead"].get(command)
        if not rows:
            continue
        print(f"\nOverhead, {label}; median of per-round ratios vs bare:")
        for variant, row in rows.items():
            if variant == "bare":
                print(f"  {'bare':<20} {row['median_cpu_ms']:8.1f} ms CPU per round")
                continue
            print(
                f"  {variant:<20} {row['cpu_ratio']:.3f}x CPU  {row['wall_ratio']:.3f}x wall  "
                f"({row['median_cpu_ms']:.1f} ms CPU per round)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-overhead", action="store_true", help="detection only")
    parser.add_argument(
        "--callgrind", action="store_true", help="also count instructions under valgrind"
    )
    parser.add_argument(
        "--processes", type=int, default=3, help="child processes per variant (default 3)"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--count-child", nargs=4, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child or arguments.count_child:
        peers = os.environ.get("SQLA_LAB_BENCH_PEERS")
        if peers:
            sys.path.append(peers)
        if arguments.child:
            variant, url, per_round = arguments.child
            asyncio.run(_child(variant, url, int(per_round)))
        else:
            variant, kind, count, url = arguments.count_child
            asyncio.run(_count_child(variant, kind, int(count), url))
        return
    if arguments.processes < 1:
        parser.error("--processes must be at least 1")

    from _common import server

    peer_dir = Path(tempfile.gettempdir()) / "sqla-lab-n-plus-one-peers"
    peer_dir.mkdir(exist_ok=True)
    print(f"installing the peers into {peer_dir}", file=sys.stderr, flush=True)
    peers = install_peers(peer_dir)
    sys.path.append(str(peer_dir))
    tools = ["sqla-lab", *(name for name, error in peers.items() if error is None)]
    report: dict[str, Any] = {"peers": peers, "detection": {}, "overhead": {}}
    with server() as running, _bench_database(running) as url:
        asyncio.run(_prepare(url))
        print("detection on the corpus:", file=sys.stderr, flush=True)
        report["detection"] = asyncio.run(detection(url, tools))
        if not arguments.no_overhead:
            print("overhead (child processes, interleaved rounds):", file=sys.stderr, flush=True)
            variants = [v for v in VARIANTS if peers.get(v, None) is None]
            report["overhead"] = overhead(
                url.render_as_string(hide_password=False), variants, peer_dir, arguments.processes
            )
        if arguments.callgrind:
            print("instructions under callgrind (slow):", file=sys.stderr, flush=True)
            counted = [v for v in VARIANTS if v != "bare, again" and peers.get(v) is None]
            report["instructions"] = _instructions(
                url.render_as_string(hide_password=False), counted, peer_dir
            )
    if arguments.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_report(report)


if __name__ == "__main__":
    main()
