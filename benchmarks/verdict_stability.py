"""Do verdicts hold? Run ``sqla-lab run --quick`` K times and the full run once; per claim,
print the verdicts seen.

The goal: for every claim the same verdict in at least 95% of the quick runs, and the quick
verdict agreeing with the full run's. Where noise cannot decide, the labs must say
``inconclusive`` rather than flip between decided verdicts: so the table also counts
*contradictions*, two different decided verdicts (confirmed / refuted / depends) for one claim,
which is what must never happen, apart from *undecided* runs (``inconclusive`` next to a
decided verdict), which are honest but not yet stable.

Each run is the real command line (``python -m sqla_lab run ... --json FILE``), one after the
other, each on its own embedded server (or on ``DATABASE_URL``'s server, in a database of its
own), exactly as a user runs it. Results are kept in ``--out`` so a table can be printed again
from them (``--from DIR``) without measuring.

Usage::

    python benchmarks/verdict_stability.py --quick-runs 5          # and one full run
    python benchmarks/verdict_stability.py --quick-runs 5 --no-full connect pool
    python benchmarks/verdict_stability.py --from stability-runs --json table.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqla_lab.lab.results import Verdict, load_results

DECIDED = {Verdict.CONFIRMED, Verdict.REFUTED, Verdict.DEPENDS}
GOAL = 0.95


@dataclass
class Claim:
    """The verdicts one claim got."""

    key: str
    quick: list[Verdict] = field(default_factory=list)
    full: Verdict | None = None

    @property
    def most_common(self) -> tuple[Verdict | None, float]:
        """The quick runs' most common verdict and its share."""
        if not self.quick:
            return None, 0.0
        verdict, count = Counter(self.quick).most_common(1)[0]
        return verdict, count / len(self.quick)

    @property
    def contradiction(self) -> bool:
        """Two different decided verdicts among all runs."""
        seen = {*self.quick, *([self.full] if self.full else [])}
        return len(seen & DECIDED) > 1

    @property
    def stable(self) -> bool:
        """The same verdict in at least 95% of the quick runs."""
        return self.most_common[1] >= GOAL

    @property
    def agrees(self) -> bool | None:
        """Whether the quick runs' verdict is the full run's (None without a full run)."""
        if self.full is None:
            return None
        return self.most_common[0] is self.full

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        verdict, share = self.most_common
        return {
            "key": self.key,
            "quick": [v.value for v in self.quick],
            "full": self.full.value if self.full else None,
            "most_common_quick": verdict.value if verdict else None,
            "share": share,
            "stable": self.stable,
            "agrees_with_full": self.agrees,
            "contradiction": self.contradiction,
        }


def _run(labs: list[str], *, quick: bool, out: Path, extra: list[str]) -> float:
    """One ``sqla-lab run``; returns its wall time. Raises if it fails."""
    command = [sys.executable, "-m", "sqla_lab", "run", *labs, "--json", str(out), *extra]
    if quick:
        command.append("--quick")
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"run failed ({' '.join(command[3:])}): " + " | ".join(tail))
    return time.monotonic() - started


def _verdicts(path: Path) -> dict[str, Verdict]:
    results = load_results(json.loads(path.read_text()))
    return {f.key: f.verdict for r in results for f in r.findings}


def collect(directory: Path) -> dict[str, Claim]:
    """Claims from the saved runs in ``directory`` (``quick-*.json`` and ``full.json``)."""
    claims: dict[str, Claim] = {}
    for path in sorted(directory.glob("quick-*.json")):
        for key, verdict in _verdicts(path).items():
            claims.setdefault(key, Claim(key)).quick.append(verdict)
    full = directory / "full.json"
    if full.exists():
        for key, verdict in _verdicts(full).items():
            claims.setdefault(key, Claim(key)).full = verdict
    return claims


def _cell(verdicts: list[Verdict]) -> str:
    counts = Counter(v.value for v in verdicts)
    return ", ".join(f"{name} {count}" for name, count in counts.most_common()) or "-"


def table(claims: dict[str, Claim]) -> str:
    """The table: one line per claim."""
    width = max((len(k) for k in claims), default=10)
    lines = [
        f"{'claim':<{width}}  {'quick runs':<34} {'full':<13} {'same >=95%':<10} "
        f"{'quick = full':<12} contradiction",
    ]
    for claim in claims.values():
        agrees = "-" if claim.agrees is None else "yes" if claim.agrees else "no"
        lines.append(
            f"{claim.key:<{width}}  {_cell(claim.quick):<34} "
            f"{claim.full.value if claim.full else '-':<13} "
            f"{'yes' if claim.stable else 'no':<10} {agrees:<12} "
            f"{'YES' if claim.contradiction else 'no'}"
        )
    stable = sum(c.stable for c in claims.values())
    agreeing = sum(bool(c.agrees) for c in claims.values())
    contradictions = sum(c.contradiction for c in claims.values())
    lines.append(
        f"{len(claims)} claims: {stable} with the same verdict in >= 95% of quick runs, "
        f"{agreeing} where quick agrees with full, {contradictions} with contradicting "
        "decided verdicts"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="labs to run (default: all)")
    parser.add_argument("--quick-runs", type=int, default=5, metavar="K")
    parser.add_argument("--no-full", action="store_true", help="skip the full run")
    parser.add_argument("--out", type=Path, default=Path("stability-runs"))
    parser.add_argument("--from", dest="source", type=Path, help="only print, from saved runs")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    parser.add_argument("--database-url", help="passed to sqla-lab run")
    args = parser.parse_args(argv)
    if args.quick_runs < 1:
        parser.error("--quick-runs must be at least 1")
    directory = args.source or args.out
    if args.source is None:
        directory.mkdir(parents=True, exist_ok=True)
        extra = ["--database-url", args.database_url] if args.database_url else []
        plan = [(f"quick-{i + 1}.json", True) for i in range(args.quick_runs)]
        if not args.no_full:
            plan.append(("full.json", False))
        for index, (name, quick) in enumerate(plan, start=1):
            print(f"[{index}/{len(plan)}] {'quick' if quick else 'full'} run -> {name}", flush=True)
            seconds = _run(args.labs, quick=quick, out=directory / name, extra=extra)
            print(f"        done in {seconds:.0f} s", flush=True)
    claims = collect(directory)
    if not claims:
        print(f"no runs in {directory}", file=sys.stderr)
        return 2
    print(table(claims))
    if args.json is not None:
        args.json.write_text(
            json.dumps([c.to_dict() for c in claims.values()], indent=2) + "\n", encoding="utf-8"
        )
    return 1 if any(c.contradiction for c in claims.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
