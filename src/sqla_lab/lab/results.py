"""What a lab returns: frozen, JSON-round-trippable values with no rendering in them.

A :class:`LabResult` holds :class:`Finding` objects; each finding states a claim, where the
claim comes from, the :class:`Measurement` values taken on this machine and a
:class:`Verdict` computed from them. :class:`Table` carries tabular evidence (a sweep, a state
table). The terminal, JSON and HTML renderers all read these same objects.

A comparison (a ratio, a difference, a share) carries the :class:`Interval` its samples allow;
a difference is a measurement of kind ``"difference"`` and is the only kind that may be
negative in a unit of time or size. A finding records the versions its behaviour depends on,
and a ``depends`` verdict says on what (:class:`Dependency`); an ``inconclusive`` one says why
and what would settle it. Explanations are :class:`~sqla_lab.lab.messages.Message` objects.

Results schema 2 added those fields; documents of schema 1 still load (:func:`load_results`).
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
from sqla_lab.lab.messages import N_, NON_NEGATIVE_UNITS, Message, message_from_dict

__all__ = [
    "DEFAULT_VERSIONS",
    "DEPENDENCY_KINDS",
    "RESULTS_SCHEMA_VERSION",
    "VERDICT_NAMES",
    "Cell",
    "Chart",
    "ChartKind",
    "Dependency",
    "Environment",
    "Finding",
    "Interval",
    "LabResult",
    "Measurement",
    "MeasurementKind",
    "Table",
    "Verdict",
    "dump_results",
    "judge_ratio",
    "load_results",
]

RESULTS_SCHEMA_VERSION = 2
#: Older schemas :func:`load_results` still reads.
_READABLE_SCHEMAS = (1, 2)


def _json_number(value: float) -> float | str:
    """``value`` as strict JSON allows it: an unbounded ratio becomes ``"Infinity"``, which
    ``float()`` reads back (``json.dumps`` would write a bare ``Infinity``, not JSON)."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


#: What a table cell may hold: JSON scalars, or a message (a phrase with the run's numbers,
#: worded when shown: "0.2 ms less").
Cell = str | int | float | bool | Message | None


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


#: How each verdict reads (templates: the JSON keeps ``verdict.value``, a stable key).
VERDICT_NAMES = {
    Verdict.CONFIRMED: N_("confirmed"),
    Verdict.REFUTED: N_("refuted"),
    Verdict.DEPENDS: N_("depends"),
    Verdict.INCONCLUSIVE: N_("inconclusive"),
    Verdict.SKIPPED: N_("skipped"),
}


@dataclass(frozen=True, kw_only=True)
class Interval:
    """Where a measured value lies, at a stated confidence.

    Attributes:
        low: the lower end.
        high: the upper end.
        level: the confidence (0.95 for a 95% interval; 1.0 for an exact value).
        method: how it was computed: ``order statistics``, ``range of rounds``, ``bootstrap``
            or ``exact``.
        n: rounds or samples behind it.
    """

    low: float
    high: float
    level: float
    method: str
    n: int

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"interval low {self.low} is above high {self.high}")

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the interval."""
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "low": _json_number(self.low),
            "high": _json_number(self.high),
            "level": self.level,
            "method": self.method,
            "n": self.n,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        """Inverse of :meth:`to_dict`."""
        return cls(
            low=float(data["low"]),
            high=float(data["high"]),
            level=float(data["level"]),
            method=str(data["method"]),
            n=int(data["n"]),
        )


#: ``value``: a quantity; ``difference``: a signed difference between two quantities.
MeasurementKind = Literal["value", "difference"]


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One measured quantity; ``value`` is the median when there are samples.

    Attributes:
        interval: for a comparison (a ratio, a difference, a share), where the noise allows
            the value to be.
        kind: ``"difference"`` for a signed difference, the only kind whose duration or size
            may be negative (renderings word it, "0.1 ms less", never print the sign).
        label: for a name built from the run's values ("failures at 5 workers"), the name as
            a message (template and values), so it renders in any language; ``name`` stays
            its English text, the stable key charts and comparisons use.
    """

    name: str
    value: float
    unit: str
    samples: tuple[float, ...] = ()
    p50: float | None = None
    p95: float | None = None
    interval: Interval | None = None
    kind: MeasurementKind = "value"
    label: Message | None = None

    def __post_init__(self) -> None:
        if self.kind == "value" and self.unit in NON_NEGATIVE_UNITS and self.value < 0:
            raise ValueError(
                f"measurement {self.name!r}: a {self.unit} value cannot be negative "
                f"({self.value}); a difference is Measurement(kind='difference')"
            )

    @classmethod
    def from_samples(cls, name: str | Message, samples: Iterable[float], unit: str) -> Measurement:
        """Summarise repeated observations: value = median, with p50 and p95.

        ``name`` is a template, or a :class:`Message` when it holds the run's values.
        """
        key, label = _name_and_label(name)
        values = tuple(float(s) for s in samples)
        if not values:
            raise ValueError(f"measurement {key!r} has no samples")
        median = statistics.median(values)
        return cls(
            name=key,
            value=median,
            unit=unit,
            samples=values,
            p50=median,
            p95=percentile(values, 95),
            label=label,
        )

    @classmethod
    def single(cls, name: str | Message, value: float, unit: str) -> Measurement:
        """A single observed value (a count, a ratio, a size); ``name`` as in
        :meth:`from_samples`."""
        key, label = _name_and_label(name)
        return cls(name=key, value=float(value), unit=unit, label=label)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {
            "name": self.name,
            "value": _json_number(self.value),
            "unit": self.unit,
            "kind": self.kind,
            "interval": self.interval.to_dict() if self.interval else None,
            "p50": self.p50,
            "p95": self.p95,
            "samples": list(self.samples),
            "label": self.label.to_dict() if self.label else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of :meth:`to_dict`."""
        interval = data.get("interval")
        kind = data.get("kind", "value")
        if kind not in ("value", "difference"):
            raise ValueError(f"measurement {data.get('name')!r}: unknown kind {kind!r}")
        return cls(
            name=data["name"],
            value=float(data["value"]),
            unit=data["unit"],
            samples=tuple(float(s) for s in data.get("samples", ())),
            p50=data.get("p50"),
            p95=data.get("p95"),
            interval=Interval.from_dict(interval) if interval else None,
            kind=kind,
            label=message_from_dict(data["label"]) if data.get("label") else None,
        )


def _name_and_label(name: str | Message) -> tuple[str, Message | None]:
    """A measurement's key (English text) and, for a message, the message itself."""
    if isinstance(name, Message):
        return name.render(), name
    return name, None


@dataclass(frozen=True, kw_only=True)
class Dependency:
    """What a ``depends`` verdict depends on, as data.

    Attributes:
        on: the kind of thing: ``version`` (a library or server version), ``setting`` (an
            engine, session or server setting), ``size`` (N, rows, posts per user), ``network``
            (latency between client and server), ``machine`` (CPU, load), ``reading`` (which
            reading of an ambiguous claim), ``state`` (what the program has done before).
        name: which one: ``asyncpg``, ``expire_on_commit``, ``N``, ...
        detail: how the outcome changes with it, computed from the run.
    """

    on: str
    name: str
    detail: Message | str = ""

    def __post_init__(self) -> None:
        if isinstance(self.detail, str):
            object.__setattr__(self, "detail", Message(self.detail))

    @property
    def message(self) -> Message:
        """``detail`` as a :class:`~sqla_lab.lab.messages.Message`."""
        return self.detail if isinstance(self.detail, Message) else Message(self.detail)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return {"on": self.on, "name": self.name, "detail": self.message.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dependency:
        """Inverse of :meth:`to_dict`."""
        return cls(on=data["on"], name=data["name"], detail=message_from_dict(data["detail"]))


#: How each kind of :class:`Dependency` reads.
DEPENDENCY_KINDS = {
    "version": N_("version"),
    "setting": N_("setting"),
    "size": N_("size"),
    "network": N_("network"),
    "machine": N_("machine"),
    "reading": N_("reading"),
    "state": N_("state"),
    "unrecorded": N_("not recorded"),
}


def _message(value: Message | str | None) -> Message | None:
    if value is None or isinstance(value, Message):
        return value
    return Message(value)


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
        explanation: one paragraph built from the numbers: a
            :class:`~sqla_lab.lab.messages.Message` (a plain string is accepted and wrapped).
        reason: why this verdict, from the numbers (the rule and the interval that decided).
        settle: what would decide an ``inconclusive`` verdict (required for one).
        depends_on: what a ``depends`` verdict depends on (required for one).
        versions: the versions the measured behaviour depends on (``{"asyncpg": "0.32.0"}``);
            left empty, the runner records SQLAlchemy, asyncpg and PostgreSQL.
        headline: the claim in a few words (about 40 characters), for the one line the
            terminal's claims ledger gives it; without one the ledger shortens ``claim``.
        deciding: the name of the measurement whose number decides the verdict, shown next
            to the claim in the ledgers; without one the first comparison (a measurement with
            an interval) is shown, else the first measurement.

    Raises:
        ValueError: a ``depends`` verdict without ``depends_on``, an ``inconclusive`` one
            without ``reason`` and ``settle``, or ``deciding`` naming no measurement.
    """

    key: str
    claim: str
    source: str
    measurements: tuple[Measurement, ...]
    verdict: Verdict
    explanation: Message | str
    quote: str | None = None
    reason: Message | str | None = None
    settle: Message | str | None = None
    depends_on: tuple[Dependency, ...] = ()
    versions: Mapping[str, str] = field(default_factory=dict)
    headline: str | None = None
    deciding: str | None = None

    def __post_init__(self) -> None:
        if self.deciding is not None and self.deciding not in {m.name for m in self.measurements}:
            raise ValueError(
                f"finding {self.key!r}: deciding measurement {self.deciding!r} is not measured"
            )
        for name in ("explanation", "reason", "settle"):
            object.__setattr__(self, name, _message(getattr(self, name)))
        object.__setattr__(self, "depends_on", tuple(self.depends_on))
        object.__setattr__(self, "versions", dict(self.versions))
        if self.verdict is Verdict.DEPENDS and not self.depends_on:
            raise ValueError(f"finding {self.key!r}: a 'depends' verdict must say on what")
        if self.verdict is Verdict.INCONCLUSIVE and (self.reason is None or self.settle is None):
            raise ValueError(
                f"finding {self.key!r}: an 'inconclusive' verdict needs a reason and what "
                "would settle it"
            )

    @property
    def explanation_message(self) -> Message:
        """The explanation as a :class:`~sqla_lab.lab.messages.Message`."""
        return _message(self.explanation) or Message("")

    @property
    def reason_message(self) -> Message | None:
        """The reason as a :class:`~sqla_lab.lab.messages.Message`, if any."""
        return _message(self.reason)

    @property
    def settle_message(self) -> Message | None:
        """What would settle the verdict, as a :class:`~sqla_lab.lab.messages.Message`."""
        return _message(self.settle)

    def measurement(self, name: str) -> Measurement:
        """The measurement called ``name``."""
        for m in self.measurements:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def deciding_measurement(self) -> Measurement | None:
        """The measurement whose number decides the verdict (see ``deciding``), if any."""
        if self.deciding is not None:
            return self.measurement(self.deciding)
        compared = [m for m in self.measurements if m.interval is not None]
        candidates = compared or list(self.measurements)
        return candidates[0] if candidates else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary.

        ``explanation`` is the English text; ``explanation_message`` (and ``reason``,
        ``settle``, each dependency's ``detail``) carry the template and values, so a
        translation can render them again.
        """
        reason, settle = self.reason_message, self.settle_message
        return {
            "key": self.key,
            "claim": self.claim,
            "source": self.source,
            "quote": self.quote,
            "verdict": self.verdict.value,
            "explanation": self.explanation_message.render(),
            "explanation_message": self.explanation_message.to_dict(),
            "reason": reason.to_dict() if reason else None,
            "settle": settle.to_dict() if settle else None,
            "depends_on": [d.to_dict() for d in self.depends_on],
            "versions": dict(self.versions),
            "headline": self.headline,
            "deciding": self.deciding,
            "measurements": [m.to_dict() for m in self.measurements],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict`."""
        message = data.get("explanation_message")
        reason, settle = data.get("reason"), data.get("settle")
        return cls(
            key=data["key"],
            claim=data["claim"],
            source=data["source"],
            quote=data.get("quote"),
            verdict=Verdict(data["verdict"]),
            explanation=message_from_dict(message or data["explanation"]),
            reason=message_from_dict(reason) if reason is not None else None,
            settle=message_from_dict(settle) if settle is not None else None,
            depends_on=tuple(Dependency.from_dict(d) for d in data.get("depends_on", ())),
            versions={str(k): str(v) for k, v in data.get("versions", {}).items()},
            measurements=tuple(Measurement.from_dict(m) for m in data["measurements"]),
            headline=data.get("headline"),
            deciding=data.get("deciding"),
        )


def _title_to_dict(title: Message | str) -> dict[str, Any]:
    if isinstance(title, Message):
        return {"title": title.render(), "title_message": title.to_dict()}
    return {"title": title}


def _title_from_dict(data: Mapping[str, Any]) -> Message | str:
    message = data.get("title_message")
    return message_from_dict(message) if message else str(data["title"])


@dataclass(frozen=True, kw_only=True)
class Table:
    """Tabular evidence: a sweep, a state table; cells are JSON scalars.

    ``title`` is a template (a plain string) or a :class:`Message` with the run's values;
    ``columns`` are stable English keys (charts name them), translated when shown.
    """

    key: str
    title: Message | str
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
        """Plain JSON-ready dictionary; a message cell is its English text, template and
        values."""
        return {
            "key": self.key,
            **_title_to_dict(self.title),
            "columns": list(self.columns),
            "rows": [[_cell_to_json(c) for c in r] for r in self.rows],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Table:
        """Inverse of :meth:`to_dict`."""
        return cls(
            key=data["key"],
            title=_title_from_dict(data),
            columns=tuple(data["columns"]),
            rows=tuple(tuple(_cell_from_json(c) for c in r) for r in data["rows"]),
        )


def _cell_to_json(cell: Cell) -> Any:
    return cell.to_dict() if isinstance(cell, Message) else cell


def _cell_from_json(cell: Any) -> Cell:
    if isinstance(cell, dict) and "template" in cell:
        return message_from_dict(cell)
    if cell is None or isinstance(cell, str | int | float | bool):
        return cell
    raise ValueError(f"a table cell holds {cell!r}")


ChartKind = Literal["line", "bar", "box", "grid"]


@dataclass(frozen=True, kw_only=True)
class Chart:
    """A plot a lab asks for, as data: the HTML report draws it, a lab never does.

    Kinds:
        ``line``/``bar``: ``y`` columns of table ``table`` against column ``x``, one line per
        distinct value of ``series`` when given.
        ``box``: the samples of measurements ``measurements`` of finding ``finding``.
        ``grid``: table ``table`` drawn as a grid of its cells (e.g. the state table).

    A line or bar chart shows at most six series in one panel: ``facet`` names a column
    whose values each get a panel of their own (small multiples, sharing their axes); more
    than six series without one are split into panels of six.
    """

    key: str
    title: Message | str
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
    facet: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data.update(_title_to_dict(self.title))
        data["y"] = list(self.y)
        data["measurements"] = list(self.measurements)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chart:
        """Inverse of :meth:`to_dict`."""
        values = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        values["title"] = _title_from_dict(data)
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

    def versions(self, *components: str) -> dict[str, str]:
        """The versions of ``components``, for :attr:`Finding.versions`.

        ``postgresql``, ``sqlalchemy``, ``asyncpg`` and ``python`` come from this environment
        (what the run used); any other name is an installed distribution (``psycopg``,
        ``psycopg-pool``), or "not installed".
        """
        known = {
            "postgresql": self.postgresql,
            "sqlalchemy": self.sqlalchemy,
            "asyncpg": self.asyncpg,
            "python": self.python,
        }
        return {name: known.get(name) or _version(name) for name in components}


#: What a finding that names no versions is recorded against.
DEFAULT_VERSIONS = ("postgresql", "sqlalchemy", "asyncpg")


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
    """Read a document written by :func:`dump_results`, of this schema or schema 1.

    A schema-1 document (before intervals, versions and ``depends_on``) is upgraded on the
    way in: a negative duration becomes a difference, a finding records the run's SQLAlchemy,
    asyncpg and PostgreSQL versions, and a ``depends`` verdict says that schema 1 did not
    record on what.

    Raises:
        ValueError: not a sqla-lab results document, or a schema this version cannot read.
    """
    version = document.get("schema_version")
    if version not in _READABLE_SCHEMAS:
        raise ValueError(
            f"not a sqla-lab results document of schema "
            f"{' or '.join(map(str, _READABLE_SCHEMAS))} (schema_version={version!r})"
        )
    results = document["results"]
    if version == 1:
        results = [_upgrade_v1(r) for r in results]
    return [LabResult.from_dict(r) for r in results]


_UNRECORDED = Dependency(
    on="unrecorded",
    name="not recorded",
    detail="results schema 1 did not record what this verdict depends on",
)


def _upgrade_v1(result: Mapping[str, Any]) -> dict[str, Any]:
    """A schema-1 lab result in schema-2 form."""
    env = result["environment"]
    versions = {name: env[name] for name in DEFAULT_VERSIONS}
    findings = []
    for finding in result["findings"]:
        measurements = [
            {**m, "kind": "difference"}
            if m["unit"] in NON_NEGATIVE_UNITS and float(m["value"]) < 0
            else m
            for m in finding["measurements"]
        ]
        depends = [_UNRECORDED.to_dict()] if finding["verdict"] == Verdict.DEPENDS.value else []
        findings.append(
            {**finding, "measurements": measurements, "depends_on": depends, "versions": versions}
        )
    return {**result, "findings": findings}


def judge_ratio(measured: float, claimed: float, *, tolerance: float = 2.0) -> Verdict:
    """Judge a claim of the form "A is about ``claimed`` times B" against ``measured``.

    Confirmed when the measured ratio is within a factor ``tolerance`` of the claim; refuted
    when there is no real effect (the ratio is under 1.5, or on the other side of 1 than
    claimed); depends otherwise: the effect is there but its size differs enough that it must
    depend on the machine, the driver or the settings.

    This is the rule on a single number, without noise. A measured ratio has an interval: judge
    it with ``stats.judge(estimate, stats.ratio_claim_scale(claimed), ...)``, which gives the
    same verdicts when the interval is narrow and ``inconclusive`` when it is not.
    """
    if measured <= 0 or claimed <= 0:
        raise ValueError("ratios must be positive")
    if claimed / tolerance <= measured <= claimed * tolerance:
        return Verdict.CONFIRMED
    if (claimed > 1) != (measured > 1) or abs(math.log(measured)) < math.log(1.5):
        return Verdict.REFUTED
    return Verdict.DEPENDS
