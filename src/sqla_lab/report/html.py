"""The HTML report: every lab result on one self-contained page that works offline.

The page is rendered by a Jinja2 template (``templates/report.html.j2``) from the same
:class:`~sqla_lab.lab.results.LabResult` objects the terminal renderer prints. Styles are inlined
and charts are SVG drawn by :mod:`sqla_lab.report.plots`, so the file needs no server, no
script and no network: it can be mailed, attached to an issue or opened years later.

The first screen is the summary: the tally, then the refuted and the inconclusive claims with
the number that decides each. The claims ledger follows (every claim, its verdict and deciding
number), then one collapsible section per lab (``<details>``: its findings, charts and
tables), then the environment. :func:`render_comparison` puts the ledgers of two runs side by
side instead.

Every word goes through ``translate`` (the template calls it ``_``; strings there are
extracted by Babel's Jinja2 extractor), the page says which language it is in
(``<html lang>``), and its font stack falls back to CJK fonts, so Korean never shows as boxes.
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

from sqla_lab.lab.messages import Translate, as_written, format_value, render_text
from sqla_lab.lab.results import Chart, Environment, Finding, LabResult, Table, Verdict
from sqla_lab.lab.sources import source_links
from sqla_lab.lab.wording import (
    cell_text,
    claim_text,
    deciding_value,
    display_name,
    finding_notes,
    measured_value,
    verdict_name,
)
from sqla_lab.report.comparison import CHANGE_WORDS, MeasurementChange, compare_results
from sqla_lab.report.console import tally
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
    tables: tuple[Table, ...]
    verdicts: Counter[Verdict]


@dataclass(frozen=True)
class _EnvironmentView:
    environment: Environment
    labs: tuple[str, ...]


@dataclass(frozen=True)
class _Highlight:
    lab: str
    finding: Finding


def slug(text: str) -> str:
    """An HTML id fragment: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _is_number(cell: object) -> bool:
    return isinstance(cell, int | float) and not isinstance(cell, bool)


def _ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"×{ratio:.2f}"


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

    def change_text(change: MeasurementChange) -> str:
        if change.change is not None:
            return translate(CHANGE_WORDS[change.change])
        return _ratio(change.ratio)

    def optional_value(value: float | None, unit: str) -> str:
        return "—" if value is None else format_value(value, unit, translate)

    env.globals.update(_=translate)
    env.filters.update(
        cell=lambda cell: cell_text(cell, translate),
        measurement=lambda m: measured_value(m, translate),
        value=optional_value,
        change_value=change_value,
        change_text=change_text,
        notes=lambda finding: finding_notes(finding, translate),
        explain=lambda message: message.render(translate),
        text=lambda text: render_text(text, translate),
        claim=lambda finding: claim_text(finding, translate),
        deciding=lambda finding: deciding_value(finding, translate) or "—",
        verdict=lambda verdict: verdict_name(verdict, translate),
        sources=lambda finding: [
            (link.label.render(translate), link.url) for link in source_links(finding.source)
        ],
        fill=lambda template, **values: template.format(**values),
        tr=translate,
        name=lambda m: display_name(m, translate),
        ratio=_ratio,
        slug=slug,
    )
    env.tests.update(number=_is_number, notable=_notable)
    return env


def _drawn_as_grid(result: LabResult) -> set[str]:
    """Tables a grid chart already shows in full: the page does not print them twice."""
    return {c.table for c in result.charts if c.kind == "grid" and c.table}


def _lab_views(
    results: Sequence[LabResult], problems: list[str], translate: Translate
) -> list[_LabView]:
    views = []
    for lab_index, result in enumerate(results):
        anchor = f"lab-{slug(result.lab)}"
        charts = []
        for chart_index, chart in enumerate(result.charts):
            chart_anchor = f"chart-{lab_index}-{chart_index}-{slug(chart.key)}"
            try:
                # Markup: the SVG is matplotlib's output, with every text in it escaped.
                svg = Markup(
                    render_chart(chart, result, id_prefix=chart_anchor, translate=translate)
                )
                charts.append(_ChartView(chart, chart_anchor, svg, None))
            except ChartError as exc:
                problems.append(f"{result.lab}: {exc}")
                charts.append(_ChartView(chart, chart_anchor, None, str(exc)))
        gridded = _drawn_as_grid(result)
        views.append(
            _LabView(
                result=result,
                anchor=anchor,
                charts=tuple(charts),
                tables=tuple(
                    t
                    for t in result.tables
                    if t.key not in gridded and f"{result.lab}.{t.key}" not in gridded
                ),
                verdicts=Counter(f.verdict for f in result.findings),
            )
        )
    return views


def _environments(results: Sequence[LabResult]) -> list[_EnvironmentView]:
    grouped: dict[Environment, list[str]] = {}
    for result in results:
        grouped.setdefault(result.environment, []).append(result.lab)
    return [_EnvironmentView(env, tuple(labs)) for env, labs in grouped.items()]


def _highlights(results: Sequence[LabResult], verdict: Verdict) -> list[_Highlight]:
    return [_Highlight(r.lab, f) for r in results for f in r.findings if f.verdict is verdict]


def _stamp(generated_at: datetime | None) -> str:
    moment = generated_at or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _language(translate: Translate) -> str:
    language = getattr(translate, "language", None)
    return str(getattr(language, "value", "en"))


def _page(
    results: Sequence[LabResult], *, translate: Translate, **context: object
) -> RenderedReport:
    """Render the template for ``results``'s lab sections, plus ``context``."""
    problems: list[str] = []
    labs = _lab_views(results, problems, translate)
    html = (
        _environment(translate)
        .get_template("report.html.j2")
        .render(
            version=_installed_version(),
            lang=_language(translate),
            environments=_environments(results),
            labs=labs,
            verdicts=Counter(f.verdict for r in results for f in r.findings),
            tally=tally(results, translate),
            refuted=_highlights(results, Verdict.REFUTED),
            inconclusive=_highlights(results, Verdict.INCONCLUSIVE),
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
    translate: Translate = as_written,
) -> RenderedReport:
    """Render ``results`` as one self-contained HTML page.

    Args:
        results: lab results, in the order their sections should appear.
        generated_at: the time stamp shown in the header (default: now).
        translate: the reader's language (a :class:`~sqla_lab.translation.Translation`):
            applied to every word on the page, the charts' included.
    """
    return _page(
        results,
        translate=translate,
        comparison=None,
        generated=_stamp(generated_at),
    )


def render_comparison(
    old: Sequence[LabResult],
    new: Sequence[LabResult],
    *,
    old_label: str = "old",
    new_label: str = "new",
    generated_at: datetime | None = None,
    translate: Translate = as_written,
) -> RenderedReport:
    """Render two runs' ledgers side by side, then the new run's lab sections.

    Args:
        old: the baseline run.
        new: the run to compare with it.
        old_label: how the page names the old run (e.g. its file name).
        new_label: how the page names the new run.
        generated_at: the time stamp shown in the header (default: now).
        translate: the reader's language (see :func:`render_report`).
    """
    return _page(
        new,
        translate=translate,
        comparison=compare_results(old, new),
        old_label=old_label,
        new_label=new_label,
        generated=_stamp(generated_at),
    )
