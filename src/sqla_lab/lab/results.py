"""What a lab returns: frozen, JSON-round-trippable values with no rendering in them.

A :class:`LabResult` holds :class:`Finding` objects; each finding states a claim, where the
claim comes from, the :class:`Measurement` values taken on this machine and a
:class:`Verdict` computed from them. :class:`Table` carries tabular evidence (a sweep, a state
table). The terminal, JSON and HTML renderers all read these same objects.
"""

from __future__ import annotations

import enum
import math
import platform
import statistics
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

from sqla_lab._stats import percentile

__all__ = [
    "RESULTS_SCHEMA_VERSION",
    "Cell",
    "Chart",
    "ChartKind",
    "Environment",
    "Finding",
    "LabResult",
    "Measurement",
    "Table",
    "Verdict",
    "dump_results",
    "judge_ratio",
    "load_results",
]

RESULTS_SCHEMA_VERSION = 1

#: What a table cell may hold: JSON scalars only.
Cell = str | int | float | bool | None


class Verdict(enum.Enum):
    """What the measurement says about a claim.

    ``inconclusive``: measured, but the numbers cannot decide. ``skipped``: not measured,
    because something the claim needs is missing here (the explanation says what).
    """

    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    DEPENDS = "depends"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One measured quantity; ``value`` is the median when there are samples."""

    name: str
    value: float
    unit: str
    samples: tuple[float, ...] = ()
    p50: float | None = None
    p95: float | None = None

    @classmethod
    def from_samples(cls, name: str, samples: Iterable[float], unit: str) -> Measurement:
        """Summarise repeated observations: value = median, with p50 and p95."""
        values = tuple(float(s) for s in samples)
        if not values:
            raise ValueError(f"measurement {name!r} has no samples")
        median = statistics.median(values)
        return cls(
            name=name,
            value=median,
            unit=unit,
            samples=values,
            p50=median,
            p95=percentile(values, 95),
        )

    @classmethod
    def single(cls, name: str, value: float, unit: str) -> Measurement:
        """A single observed value (a count, a ratio, a size)."""
        return cls(name=name, value=float(value), unit=unit)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "p50": self.p50,
            "p95": self.p95,
            "samples": list(self.samples),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=data["name"],
            value=float(data["value"]),
            unit=data["unit"],
            samples=tuple(float(s) for s in data.get("samples", ())),
            p50=data.get("p50"),
            p95=data.get("p95"),
        )


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A claim checked against measurements.

    Attributes:
        key: stable identifier (``lab.slug``) so runs can be compared.
        claim: the claim under test, in English.
        source: where the claim comes from: a seed section or a documentation URL.
        quote: the claim's original words, when it comes from the (Korean) seed.
        measurements: what was measured here.
        verdict: computed from ``measurements``, never written in advance.
        explanation: one paragraph built from the numbers.
    """

    key: str
    claim: str
    source: str
    measurements: tuple[Measurement, ...]
    verdict: Verdict
    explanation: str
    quote: str | None = None

    def measurement(self, name: str) -> Measurement:
        """The measurement called ``name``."""
        for m in self.measurements:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "key": self.key,
            "claim": self.claim,
            "source": self.source,
            "quote": self.quote,
            "verdict": self.verdict.value,
            "explanation": self.explanation,
            "measurements": [m.to_dict() for m in self.measurements],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict`."""
        return cls(
            key=data["key"],
            claim=data["claim"],
            source=data["source"],
            quote=data.get("quote"),
            verdict=Verdict(data["verdict"]),
            explanation=data["explanation"],
            measurements=tuple(Measurement.from_dict(m) for m in data["measurements"]),
        )


@dataclass(frozen=True, kw_only=True)
class Table:
    """Tabular evidence: a sweep, a state table; cells are JSON scalars."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.key!r}: row {row!r} does not match the columns")

    def column(self, name: str) -> tuple[Cell, ...]:
        """All cells of the column called ``name``."""
        index = self.columns.index(name)
        return tuple(row[index] for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "key": self.key,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Table:
        """Inverse of :meth:`to_dict`."""
        return cls(
            key=data["key"],
            title=data["title"],
            columns=tuple(data["columns"]),
            rows=tuple(tuple(r) for r in data["rows"]),
        )


ChartKind = Literal["line", "bar", "box", "grid"]


@dataclass(frozen=True, kw_only=True)
class Chart:
    """A plot a lab asks for, as data: the HTML report draws it, a lab never does.

    Kinds:
        ``line``/``bar``: ``y`` columns of table ``table`` against column ``x``, one line per
        distinct value of ``series`` when given.
        ``box``: the samples of measurements ``measurements`` of finding ``finding``.
        ``grid``: table ``table`` drawn as a coloured grid (e.g. the state table).
    """

    key: str
    title: str
    kind: ChartKind
    table: str | None = None
    x: str | None = None
    y: tuple[str, ...] = ()
    series: str | None = None
    finding: str | None = None
    measurements: tuple[str, ...] = ()
    log_x: bool = False
    log_y: bool = False
    x_label: str | None = None
    y_label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data["y"] = list(self.y)
        data["measurements"] = list(self.measurements)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chart:
        """Inverse of :meth:`to_dict`."""
        values = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        values["y"] = tuple(values.get("y", ()))
        values["measurements"] = tuple(values.get("measurements", ()))
        return cls(**values)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Where the measurements were taken."""

    postgresql: str
    sqlalchemy: str
    asyncpg: str
    python: str
    platform: str
    cpu_count: int
    embedded: bool

    @classmethod
    def current(cls, *, postgresql: str, embedded: bool) -> Environment:
        """Describe this process, given what the server reported."""
        import os

        return cls(
            postgresql=postgresql,
            sqlalchemy=_version("sqlalchemy"),
            asyncpg=_version("asyncpg"),
            python=platform.python_version(),
            platform=f"{sys.platform}-{platform.machine()}",
            cpu_count=os.cpu_count() or 1,
            embedded=embedded,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "postgresql": self.postgresql,
            "sqlalchemy": self.sqlalchemy,
            "asyncpg": self.asyncpg,
            "python": self.python,
            "platform": self.platform,
            "cpu_count": self.cpu_count,
            "embedded": self.embedded,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Environment:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True, kw_only=True)
class LabResult:
    """Everything one lab produced in one run."""

    lab: str
    title: str
    findings: tuple[Finding, ...]
    environment: Environment
    duration_s: float
    tables: tuple[Table, ...] = field(default=())
    charts: tuple[Chart, ...] = field(default=())

    def finding(self, key: str) -> Finding:
        """The finding whose key is ``key`` (with or without the ``lab.`` prefix)."""
        for f in self.findings:
            if f.key in (key, f"{self.lab}.{key}"):
                return f
        raise KeyError(key)

    def table(self, key: str) -> Table:
        """The table whose key is ``key``."""
        for t in self.tables:
            if t.key in (key, f"{self.lab}.{key}"):
                return t
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "lab": self.lab,
            "title": self.title,
            "duration_s": self.duration_s,
            "environment": self.environment.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "tables": [t.to_dict() for t in self.tables],
            "charts": [c.to_dict() for c in self.charts],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            lab=data["lab"],
            title=data["title"],
            duration_s=float(data["duration_s"]),
            environment=Environment.from_dict(data["environment"]),
            findings=tuple(Finding.from_dict(f) for f in data["findings"]),
            tables=tuple(Table.from_dict(t) for t in data.get("tables", ())),
            charts=tuple(Chart.from_dict(c) for c in data.get("charts", ())),
        )


def dump_results(results: Iterable[LabResult]) -> dict[str, Any]:
    """The JSON document ``sqla-lab run --json`` writes."""
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "results": [r.to_dict() for r in results],
    }


def load_results(document: Mapping[str, Any]) -> list[LabResult]:
    """Read a document written by :func:`dump_results`.

    Raises:
        ValueError: not a sqla-lab results document, or a newer schema.
    """
    version = document.get("schema_version")
    if version != RESULTS_SCHEMA_VERSION:
        raise ValueError(
            f"not a sqla-lab results document of schema {RESULTS_SCHEMA_VERSION} "
            f"(schema_version={version!r})"
        )
    return [LabResult.from_dict(r) for r in document["results"]]


def judge_ratio(measured: float, claimed: float, *, tolerance: float = 2.0) -> Verdict:
    """Judge a claim of the form "A is about ``claimed`` times B" against ``measured``.

    Confirmed when the measured ratio is within a factor ``tolerance`` of the claim; refuted
    when there is no real effect (the ratio is under 1.5, or on the other side of 1 than
    claimed); depends otherwise: the effect is there but its size differs enough that it must
    depend on the machine, the driver or the settings.
    """
    if measured <= 0 or claimed <= 0:
        raise ValueError("ratios must be positive")
    if claimed / tolerance <= measured <= claimed * tolerance:
        return Verdict.CONFIRMED
    if (claimed > 1) != (measured > 1) or abs(math.log(measured)) < math.log(1.5):
        return Verdict.REFUTED
    return Verdict.DEPENDS
