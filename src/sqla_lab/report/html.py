"""The HTML report: every lab result on one self-contained page that works offline.

The page is rendered by a Jinja2 template (``templates/report.html.j2``) from the same
:class:`~sqla_lab.lab.results.LabResult` objects the terminal renderer prints. Styles are inlined
and charts are SVG drawn by :mod:`sqla_lab.report.plots`, so the file needs no server, no
script and no network: it can be mailed, attached to an issue or opened years later.

Sections: the environment, the claims ledger (every finding of every lab; refuted and
"depends" claims stand out), then one section per lab with its findings, charts and tables.
:func:`render_comparison` renders the ledger of two runs side by side instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata

import jinja2
from markupsafe import Markup

from sqla_lab.lab.messages import Translate, format_value
from sqla_lab.lab.results import Cell, Chart, Environment, LabResult, Verdict
from sqla_lab.report.comparison import MeasurementChange, compare_results
from sqla_lab.report.console import finding_notes, measured_value
from sqla_lab.report.plots import ChartError, render_chart

__all__ = [
    "NOTABLE_RATIO",
    "OPEN_TABLE_ROWS",
    "RenderedReport",
    "render_comparison",
    "render_report",
    "slug",
]

#: Tables longer than this start folded, so a sweep does not push the charts off screen.
OPEN_TABLE_ROWS = 15
#: A ratio outside [1/x, x] between two runs is shown as a notable change.
NOTABLE_RATIO = 1.5


def _installed_version() -> str:
    try:
        return metadata.version("sqla-lab")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


@dataclass(frozen=True)
class RenderedReport:
    """A rendered page and the problems met while drawing it.

    Attributes:
        html: the complete, self-contained HTML document.
        problems: one line per chart that could not be drawn (the page shows why, in place).
    """

    html: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class _ChartView:
    chart: Chart
    anchor: str
    svg: Markup | None
    error: str | None


@dataclass(frozen=True)
class _LabView:
    result: LabResult
    anchor: str
    charts: tuple[_ChartView, ...]
    verdicts: Counter[Verdict]


@dataclass(frozen=True)
class _EnvironmentView:
    environment: Environment
    labs: tuple[str, ...]


def slug(text: str) -> str:
    """An HTML id fragment: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _cell(cell: Cell) -> str:
    if cell is None:
        return "—"
    if isinstance(cell, bool):
        return "yes" if cell else "no"
    if isinstance(cell, float):
        return format_value(cell, "")
    return str(cell)


def _is_number(cell: object) -> bool:
    return isinstance(cell, int | float) and not isinstance(cell, bool)


def _optional_value(value: float | None, unit: str) -> str:
    return "—" if value is None else format_value(value, unit)


def _same(text: str) -> str:
    return text


def _ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"×{ratio:.2f}"


def _notable(ratio: float | None) -> bool:
    return ratio is not None and not 1 / NOTABLE_RATIO < ratio < NOTABLE_RATIO


def _environment(translate: Translate) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sqla_lab.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def change_value(change: MeasurementChange, side: str) -> str:
        measurement = change.old_measurement if side == "old" else change.new_measurement
        return "—" if measurement is None else measured_value(measurement, translate)

    env.filters.update(
        cell=_cell,
        measurement=lambda m: measured_value(m, translate),
        value=_optional_value,
        change_value=change_value,
        notes=lambda finding: finding_notes(finding, translate),
        explain=lambda message: message.render(translate),
        ratio=_ratio,
        slug=slug,
    )
    env.tests.update(number=_is_number, notable=_notable)
    return env


def _lab_views(results: Sequence[LabResult], problems: list[str]) -> list[_LabView]:
    views = []
    for lab_index, result in enumerate(results):
        anchor = f"lab-{slug(result.lab)}"
        charts = []
        for chart_index, chart in enumerate(result.charts):
            chart_anchor = f"chart-{lab_index}-{chart_index}-{slug(chart.key)}"
            try:
                # Markup: the SVG is matplotlib's output, with every text in it escaped.
                svg = Markup(render_chart(chart, result, id_prefix=chart_anchor))
                charts.append(_ChartView(chart, chart_anchor, svg, None))
            except ChartError as exc:
                problems.append(f"{result.lab}: {exc}")
                charts.append(_ChartView(chart, chart_anchor, None, str(exc)))
        views.append(
            _LabView(
                result=result,
                anchor=anchor,
                charts=tuple(charts),
                verdicts=Counter(f.verdict for f in result.findings),
            )
        )
    return views


def _environments(results: Sequence[LabResult]) -> list[_EnvironmentView]:
    grouped: dict[Environment, list[str]] = {}
    for result in results:
        grouped.setdefault(result.environment, []).append(result.lab)
    return [_EnvironmentView(env, tuple(labs)) for env, labs in grouped.items()]


def _stamp(generated_at: datetime | None) -> str:
    moment = generated_at or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _page(
    results: Sequence[LabResult], *, translate: Translate, **context: object
) -> RenderedReport:
    """Render the template for ``results``'s lab sections, plus ``context``."""
    problems: list[str] = []
    labs = _lab_views(results, problems)
    html = (
        _environment(translate)
        .get_template("report.html.j2")
        .render(
            version=_installed_version(),
            environments=_environments(results),
            labs=labs,
            verdicts=Counter(f.verdict for r in results for f in r.findings),
            Verdict=Verdict,
            open_rows=OPEN_TABLE_ROWS,
            **context,
        )
    )
    return RenderedReport(html=html, problems=tuple(problems))


def render_report(
    results: Sequence[LabResult],
    *,
    generated_at: datetime | None = None,
    translate: Translate = _same,
) -> RenderedReport:
    """Render ``results`` as one self-contained HTML page.

    Args:
        results: lab results, in the order their sections should appear.
        generated_at: the time stamp shown in the header (default: now).
        translate: applied to every message template (explanations, reasons, ...).
    """
    return _page(
        results,
        translate=translate,
        title="sqla-lab report",
        generated=_stamp(generated_at),
        comparison=None,
    )


def render_comparison(
    old: Sequence[LabResult],
    new: Sequence[LabResult],
    *,
    old_label: str = "old",
    new_label: str = "new",
    generated_at: datetime | None = None,
    translate: Translate = _same,
) -> RenderedReport:
    """Render two runs' ledgers side by side, then the new run's lab sections.

    Args:
        old: the baseline run.
        new: the run to compare with it.
        old_label: how the page names the old run (e.g. its file name).
        new_label: how the page names the new run.
        generated_at: the time stamp shown in the header (default: now).
        translate: applied to every message template (explanations, reasons, ...).
    """
    return _page(
        new,
        translate=translate,
        title="sqla-lab comparison",
        generated=_stamp(generated_at),
        comparison=compare_results(old, new),
        old_label=old_label,
        new_label=new_label,
    )
