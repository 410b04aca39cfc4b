"""Two runs side by side: what an upgrade of SQLAlchemy, asyncpg or PostgreSQL changed.

Findings are matched by ``key`` (``lab.slug``) and, within a finding, measurements by
``name``; a matched quantity gets the ratio new / old, a matched observation (yes/no, a
difference, a count of something that either happened or not) is *changed* or *unchanged*
instead: a ratio of two yes/no values means nothing. A finding or measurement present in only
one run is kept, marked as added or removed, so nothing silently disappears.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqla_lab.lab.messages import N_, Translate, as_written
from sqla_lab.lab.results import Environment, Finding, LabResult, Measurement, Verdict
from sqla_lab.lab.wording import claim_text, display_name, measured_value, verdict_name

__all__ = [
    "CHANGE_WORDS",
    "Change",
    "Comparison",
    "FindingChange",
    "MeasurementChange",
    "Presence",
    "compare_results",
]

Presence = Literal["both", "added", "removed"]
#: How an observation that has no ratio moved between the runs.
Change = Literal["changed", "unchanged"]
#: How each :data:`Change` reads.
CHANGE_WORDS = {"changed": N_("changed"), "unchanged": N_("unchanged")}
#: Units whose values are observations, compared as changed or unchanged.
_OBSERVED_UNITS = frozenset({"bool"})


@dataclass(frozen=True, kw_only=True)
class MeasurementChange:
    """One measurement in the old and the new run (``None`` where a run lacks it)."""

    name: str
    unit: str
    old: float | None
    new: float | None
    old_measurement: Measurement | None = None
    new_measurement: Measurement | None = None

    @property
    def observed(self) -> bool:
        """Whether the values are observations (yes/no), compared as changed or unchanged
        rather than by a ratio."""
        return self.unit in _OBSERVED_UNITS

    @property
    def ratio(self) -> float | None:
        """``new / old``, or ``None`` when either is missing, the old value is zero, the
        values are observations (see :attr:`change`) or signed differences (a ratio of two
        differences means nothing)."""
        if self.old is None or self.new is None or self.old == 0 or self.observed:
            return None
        if any(m is not None and m.kind == "difference" for m in self._measurements):
            return None
        return self.new / self.old

    @property
    def change(self) -> Change | None:
        """For an observation in both runs: ``changed`` or ``unchanged``."""
        if not self.observed or self.old is None or self.new is None:
            return None
        return "unchanged" if bool(self.old) == bool(self.new) else "changed"

    @property
    def _measurements(self) -> tuple[Measurement | None, Measurement | None]:
        return self.old_measurement, self.new_measurement

    def to_dict(self, translate: Translate = as_written) -> dict[str, Any]:
        """Plain JSON-ready dictionary (stable English keys, and the text a reader sees)."""
        old, new = self._measurements
        either = new or old
        change = self.change
        return {
            "name": self.name,
            "unit": self.unit,
            "kind": either.kind if either is not None else "value",
            "old": self.old,
            "new": self.new,
            "old_interval": old.interval.to_dict() if old and old.interval else None,
            "new_interval": new.interval.to_dict() if new and new.interval else None,
            "ratio": self.ratio,
            "change": change,
            "rendered": {
                "name": display_name(either, translate) if either else translate(self.name),
                "old": measured_value(old, translate) if old is not None else None,
                "new": measured_value(new, translate) if new is not None else None,
                "change": translate(CHANGE_WORDS[change]) if change else None,
            },
        }


@dataclass(frozen=True, kw_only=True)
class FindingChange:
    """One claim in both runs: its verdicts and its matched measurements."""

    key: str
    lab: str
    claim: str
    source: str
    old_verdict: Verdict | None
    new_verdict: Verdict | None
    measurements: tuple[MeasurementChange, ...]
    finding: Finding | None = None

    @property
    def presence(self) -> Presence:
        """``both``, or ``added``/``removed`` when only the new/old run has the finding."""
        if self.old_verdict is None:
            return "added"
        if self.new_verdict is None:
            return "removed"
        return "both"

    @property
    def verdict_changed(self) -> bool:
        """Whether both runs judged the claim, differently."""
        return self.presence == "both" and self.old_verdict is not self.new_verdict

    def to_dict(self, translate: Translate = as_written) -> dict[str, Any]:
        """Plain JSON-ready dictionary (stable English keys, and the text a reader sees)."""
        return {
            "key": self.key,
            "lab": self.lab,
            "claim": self.claim,
            "source": self.source,
            "presence": self.presence,
            "old_verdict": self.old_verdict.value if self.old_verdict else None,
            "new_verdict": self.new_verdict.value if self.new_verdict else None,
            "verdict_changed": self.verdict_changed,
            "measurements": [m.to_dict(translate) for m in self.measurements],
            "rendered": {
                "claim": claim_text(self.finding, translate)
                if self.finding
                else translate(self.claim),
                "old_verdict": verdict_name(self.old_verdict, translate)
                if self.old_verdict
                else None,
                "new_verdict": verdict_name(self.new_verdict, translate)
                if self.new_verdict
                else None,
            },
        }


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The claims ledger of two runs, matched finding by finding."""

    old_environment: Environment | None
    new_environment: Environment | None
    findings: tuple[FindingChange, ...]

    @property
    def verdict_changes(self) -> int:
        """How many claims got a different verdict."""
        return sum(f.verdict_changed for f in self.findings)

    def to_dict(self, translate: Translate = as_written) -> dict[str, Any]:
        """Plain JSON-ready dictionary (stable English keys, and the text a reader sees)."""
        return {
            "old_environment": self.old_environment.to_dict() if self.old_environment else None,
            "new_environment": self.new_environment.to_dict() if self.new_environment else None,
            "verdict_changes": self.verdict_changes,
            "findings": [f.to_dict(translate) for f in self.findings],
        }


def _findings(results: Sequence[LabResult]) -> dict[str, tuple[str, Finding]]:
    return {f.key: (r.lab, f) for r in results for f in r.findings}


def _match_measurements(
    old: Sequence[Measurement], new: Sequence[Measurement]
) -> tuple[MeasurementChange, ...]:
    old_by_name = {m.name: m for m in old}
    new_by_name = {m.name: m for m in new}
    changes = []
    for name in dict.fromkeys([*new_by_name, *old_by_name]):
        before, after = old_by_name.get(name), new_by_name.get(name)
        if before is not None and after is not None and before.unit != after.unit:
            # Different units are different quantities: show both rows, ratio none.
            changes.append(
                MeasurementChange(
                    name=name,
                    unit=before.unit,
                    old=before.value,
                    new=None,
                    old_measurement=before,
                )
            )
            changes.append(
                MeasurementChange(
                    name=name, unit=after.unit, old=None, new=after.value, new_measurement=after
                )
            )
            continue
        unit = after.unit if after is not None else before.unit if before is not None else ""
        changes.append(
            MeasurementChange(
                name=name,
                unit=unit,
                old=before.value if before else None,
                new=after.value if after else None,
                old_measurement=before,
                new_measurement=after,
            )
        )
    return tuple(changes)


def compare_results(old: Sequence[LabResult], new: Sequence[LabResult]) -> Comparison:
    """Match the findings of two runs by key and their measurements by name.

    The new run's order comes first; findings only the old run has follow, in its order.
    """
    old_findings, new_findings = _findings(old), _findings(new)
    changes = []
    for key in dict.fromkeys([*new_findings, *old_findings]):
        old_entry, new_entry = old_findings.get(key), new_findings.get(key)
        lab, finding = new_entry if new_entry is not None else old_findings[key]
        changes.append(
            FindingChange(
                key=key,
                lab=lab,
                claim=finding.claim,
                source=finding.source,
                old_verdict=old_entry[1].verdict if old_entry else None,
                new_verdict=new_entry[1].verdict if new_entry else None,
                measurements=_match_measurements(
                    old_entry[1].measurements if old_entry else (),
                    new_entry[1].measurements if new_entry else (),
                ),
                finding=finding,
            )
        )
    return Comparison(
        old_environment=old[0].environment if old else None,
        new_environment=new[0].environment if new else None,
        findings=tuple(changes),
    )
