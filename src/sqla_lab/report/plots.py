"""Draw a lab's :class:`~sqla_lab.lab.results.Chart` requests as inline SVG for the HTML report.

A lab declares *what* to plot as data (a chart kind, a table and its columns, or a finding
and the names of its measurements); this module decides *how*. Matplotlib draws through its
object-oriented API (a ``Figure`` saved with the SVG backend, never ``pyplot``), so no global
figure registry is touched and nothing needs a display. Text stays text in the SVG
(``svg.fonttype = none``): small, selectable and searchable.

Several SVG documents share one HTML page, so every ``id`` matplotlib writes (and every
reference to it) is prefixed with the chart's position in the report; ids never collide.

Kinds:
    ``box``: the samples of the named measurements of one finding, one horizontal box each,
    with the samples drawn as points over it.
    ``line``: ``y`` columns against ``x``, one line per distinct ``series`` value.
    ``bar``: the same data as grouped bars, ``x`` as categories.
    ``grid``: a table as a coloured grid: true, false and empty cells stand out, as in a
    state table.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.typing import RcKeyType

from sqla_lab.errors import LabError
from sqla_lab.lab.messages import format_value
from sqla_lab.lab.results import Cell, Chart, LabResult, Measurement, Table

__all__ = [
    "GRID_EMPTY",
    "GRID_FALSE",
    "GRID_OTHER",
    "GRID_TRUE",
    "PALETTE",
    "ChartError",
    "render_chart",
]

#: Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
#: Second and later rounds through the palette also change the marker, not only the dash.
_MARKERS = ("o", "s", "^", "D")
_LEGEND_INSIDE_MAX = 4
_LINE_STYLES = ("-", "--", ":", "-.")
_INK = "#1f2937"
_MUTED = "#6b7280"

#: Grid cell colours: (fill, text colour, label) for booleans and empty cells.
GRID_TRUE = ("#c7eed8", "#065f46", "yes")
GRID_FALSE = ("#fde2e1", "#991b1b", "no")
GRID_EMPTY = ("#f1f5f9", "#94a3b8", "—")
GRID_OTHER = ("#ffffff", _INK)

_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.edgecolor": "#9ca3af",
    "axes.labelcolor": "#374151",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "legend.frameon": False,
    "legend.fontsize": 9,
}


class ChartError(LabError):
    """A chart request does not match its lab's result (a missing table, column or finding)."""


def render_chart(chart: Chart, result: LabResult, *, id_prefix: str) -> str:
    """Draw ``chart`` from the data in ``result`` and return an ``<svg>`` element.

    Args:
        chart: what to draw.
        result: the lab result holding the chart's table or finding.
        id_prefix: prepended to every SVG id; unique per chart within one HTML page.

    Raises:
        ChartError: the chart names data the result does not have, or cannot be drawn.
    """
    draw = {"box": _draw_box, "line": _draw_lines, "bar": _draw_bars, "grid": _draw_grid}
    if chart.kind not in draw:
        raise ChartError(f"chart {chart.key!r}: unknown kind {chart.kind!r}")
    with _style(salt=id_prefix):
        figure = draw[chart.kind](chart, result)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return _inline_svg(buffer.getvalue(), id_prefix)


@contextmanager
def _style(*, salt: str) -> Iterator[None]:
    # A fixed hash salt makes the SVG deterministic, so a report can be diffed.
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": salt}):
        yield


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_ID_USES = re.compile(r'(\bid="|xlink:href="#|href="#|url\(#)([^")]+)')


def _inline_svg(document: str, id_prefix: str) -> str:
    """Strip the XML prolog and metadata and make every id unique to this chart."""
    svg = _METADATA.sub("", _PROLOG.sub("", document, count=1))
    return _ID_USES.sub(lambda m: f"{m.group(1)}{id_prefix}-{m.group(2)}", svg).strip()


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _label_axes(axes: Axes, chart: Chart, *, x: str | None, y: str | None) -> None:
    axes.set_xlabel(chart.x_label or x or "")
    axes.set_ylabel(chart.y_label or y or "")


def _log_scale(axes: Axes, axis: str) -> None:
    """A log axis labelled 0.1, 1, 10 rather than 10^-1, 10^0, 10^1."""
    if axis == "x":
        axes.set_xscale("log")
    else:
        axes.set_yscale("log")
    target = axes.xaxis if axis == "x" else axes.yaxis
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


# --- box ----------------------------------------------------------------------------------


def _measurements(chart: Chart, result: LabResult) -> list[Measurement]:
    if not chart.finding:
        raise ChartError(f"chart {chart.key!r}: a box chart needs a finding")
    try:
        finding = result.finding(chart.finding)
    except KeyError:
        raise ChartError(f"chart {chart.key!r}: no finding {chart.finding!r}") from None
    names = chart.measurements or tuple(m.name for m in finding.measurements if m.samples)
    if not names:
        raise ChartError(f"chart {chart.key!r}: finding {finding.key!r} has no samples")
    chosen = []
    for name in names:
        try:
            chosen.append(finding.measurement(name))
        except KeyError:
            raise ChartError(
                f"chart {chart.key!r}: finding {finding.key!r} has no measurement {name!r}"
            ) from None
    return chosen


def _draw_box(chart: Chart, result: LabResult) -> Figure:
    chosen = _measurements(chart, result)
    # Bottom to top in the order the lab listed them, so the first one is on top.
    chosen.reverse()
    data = [list(m.samples) or [m.value] for m in chosen]
    figure, axes = _figure(7.6, 0.9 + 0.75 * len(chosen))
    positions = list(range(1, len(chosen) + 1))
    boxes = axes.boxplot(
        data,
        positions=positions,
        orientation="horizontal",
        widths=0.55,
        patch_artist=True,
        showfliers=False,
        medianprops={"color": _INK, "linewidth": 1.6},
        whiskerprops={"color": _MUTED},
        capprops={"color": _MUTED},
    )
    for index, box in enumerate(boxes["boxes"]):
        colour = PALETTE[(len(chosen) - 1 - index) % len(PALETTE)]
        box.set_facecolor(colour + "40")
        box.set_edgecolor(colour)
    for position, samples, index in zip(positions, data, range(len(data)), strict=True):
        colour = PALETTE[(len(chosen) - 1 - index) % len(PALETTE)]
        offsets = _jitter(len(samples))
        axes.scatter(
            samples,
            [position + o for o in offsets],
            s=9,
            color=colour,
            alpha=0.45,
            linewidths=0,
            zorder=3,
        )
    axes.set_yticks(positions, [_box_label(m) for m in chosen])
    axes.grid(axis="y", visible=False)
    if chart.log_y:
        _log_scale(axes, "x")
    unit = chosen[0].unit if len({m.unit for m in chosen}) == 1 else None
    axes.set_xlabel(chart.y_label or unit or "")
    return figure


def _box_label(m: Measurement) -> str:
    count = f", n={len(m.samples)}" if m.samples else ""
    return f"{_wrap(m.name, 30)}\nmedian {format_value(m.value, m.unit)}{count}"


def _jitter(count: int) -> list[float]:
    """Deterministic vertical spread for the sample dots (a golden-ratio sequence)."""
    return [((i * 0.618034) % 1.0 - 0.5) * 0.36 for i in range(count)]


# --- line and bar -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    label: str
    points: tuple[tuple[Cell, float], ...]


def _table(chart: Chart, result: LabResult) -> Table:
    if not chart.table:
        raise ChartError(f"chart {chart.key!r}: a {chart.kind} chart needs a table")
    try:
        return result.table(chart.table)
    except KeyError:
        raise ChartError(f"chart {chart.key!r}: no table {chart.table!r}") from None


def _require_columns(chart: Chart, table: Table, names: Sequence[str]) -> None:
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ChartError(
            f"chart {chart.key!r}: table {table.key!r} has no column {', '.join(missing)}"
        )


def _series(chart: Chart, table: Table) -> list[_Series]:
    if not chart.x or not chart.y:
        raise ChartError(f"chart {chart.key!r}: a {chart.kind} chart needs x and y columns")
    _require_columns(chart, table, [chart.x, *chart.y, *([chart.series] if chart.series else [])])
    groups: dict[str, dict[str, list[tuple[Cell, float]]]] = {}
    for row in table.rows:
        cells = dict(zip(table.columns, row, strict=True))
        if cells[chart.x] is None:
            continue  # a point with no position
        group = str(cells[chart.series]) if chart.series else ""
        for y in chart.y:
            value = cells[y]
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ChartError(f"chart {chart.key!r}: column {y!r} holds {value!r}")
            groups.setdefault(group, {}).setdefault(y, []).append((cells[chart.x], float(value)))
    result = []
    for group, by_column in groups.items():
        for y, points in by_column.items():
            parts = [p for p in (group, y if len(chart.y) > 1 else "") if p]
            result.append(_Series(" · ".join(parts) or y, tuple(points)))
    if not result:
        raise ChartError(f"chart {chart.key!r}: table {table.key!r} has no values to plot")
    return result


def _is_number(cell: Cell) -> bool:
    return isinstance(cell, int | float) and not isinstance(cell, bool)


def _draw_lines(chart: Chart, result: LabResult) -> Figure:
    table = _table(chart, result)
    series = _series(chart, table)
    figure, axes = _figure(7.6, 4.0)
    numeric_x = all(_is_number(x) for s in series for x, _ in s.points)
    categories = _categories(series)
    for index, item in enumerate(series):
        xs = [_position(x, categories, numeric=numeric_x) for x, _ in item.points]
        axes.plot(
            xs,
            [y for _, y in item.points],
            label=item.label,
            color=PALETTE[index % len(PALETTE)],
            linestyle=_LINE_STYLES[(index // len(PALETTE)) % len(_LINE_STYLES)],
            marker=_MARKERS[(index // len(PALETTE)) % len(_MARKERS)],
            markersize=4,
            linewidth=1.8,
        )
    if not numeric_x:
        axes.set_xticks(range(len(categories)), [str(c) for c in categories])
    _finish_axes(axes, chart, series, log_x=chart.log_x)
    return figure


def _finish_axes(axes: Axes, chart: Chart, series: Sequence[_Series], *, log_x: bool) -> None:
    """Scales, ticks, labels and legend shared by line and bar charts."""
    if log_x:
        _log_scale(axes, "x")
    if chart.log_y:
        _log_scale(axes, "y")
    _integer_ticks(axes, series, chart)
    _label_axes(axes, chart, x=chart.x, y=chart.y[0] if len(chart.y) == 1 else None)
    _legend(axes, chart, series)


def _integer_ticks(axes: Axes, series: Sequence[_Series], chart: Chart) -> None:
    """Counts (checked-out connections, statements) get whole-number ticks, not 0.5 steps."""
    if not chart.log_y and all(y == int(y) for s in series for _, y in s.points):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def _position(x: Cell, categories: list[Cell], *, numeric: bool) -> float:
    """Where ``x`` goes on the axis: itself if numeric, else its category's index."""
    if numeric and isinstance(x, int | float):
        return float(x)
    return float(categories.index(x))


def _categories(series: Sequence[_Series]) -> list[Cell]:
    seen: dict[Cell, None] = {}
    for item in series:
        for x, _ in item.points:
            seen.setdefault(x, None)
    return list(seen)


def _legend(axes: Axes, chart: Chart, series: Sequence[_Series]) -> None:
    if len(series) > _LEGEND_INSIDE_MAX:
        # Many series would cover the data: the legend goes beside the axes instead.
        axes.legend(title=chart.series, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    elif len(series) > 1 or chart.series:
        axes.legend(title=chart.series, loc="best")


def _draw_bars(chart: Chart, result: LabResult) -> Figure:
    table = _table(chart, result)
    series = _series(chart, table)
    categories = _categories(series)
    figure, axes = _figure(7.6, 4.0)
    width = 0.8 / len(series)
    for index, item in enumerate(series):
        offset = (index - (len(series) - 1) / 2) * width
        values = dict(item.points)
        positions = [i + offset for i, c in enumerate(categories) if c in values]
        heights = [values[c] for c in categories if c in values]
        bars = axes.bar(
            positions,
            heights,
            width=width * 0.92,
            label=item.label,
            color=PALETTE[index % len(PALETTE)],
        )
        if len(categories) * len(series) <= 16:
            axes.bar_label(bars, labels=[_short(h) for h in heights], fontsize=8, padding=2)
    axes.set_xticks(range(len(categories)), [_wrap(str(c), 14) for c in categories])
    axes.grid(axis="x", visible=False)
    # Bars stand on categories: a log x axis has no meaning there.
    _finish_axes(axes, chart, series, log_x=False)
    return figure


def _short(value: float) -> str:
    return format_value(value, "")


# --- grid ---------------------------------------------------------------------------------


def _grid_cell(cell: Cell) -> tuple[str, str, str]:
    if cell is True:
        return GRID_TRUE
    if cell is False:
        return GRID_FALSE
    if cell is None:
        return GRID_EMPTY
    text = format_value(cell, "") if isinstance(cell, float) else str(cell)
    return (*GRID_OTHER, text)


def _texts(cells: Sequence[Sequence[tuple[str, str, str]]]) -> list[list[str]]:
    return [[text for _, _, text in row] for row in cells]


def _draw_grid(chart: Chart, result: LabResult) -> Figure:
    table = _table(chart, result)
    if not table.rows:
        raise ChartError(f"chart {chart.key!r}: table {table.key!r} is empty")
    label_column = chart.x or table.columns[0]
    columns = list(chart.y) or [c for c in table.columns if c != label_column]
    _require_columns(chart, table, [label_column, *columns])
    if not columns:
        raise ChartError(f"chart {chart.key!r}: table {table.key!r} has no columns to colour")
    headers = [_wrap(c, 14) for c in columns]
    cells = [
        [_grid_cell(dict(zip(table.columns, row, strict=True))[c]) for c in columns]
        for row in table.rows
    ]
    # Column widths in inches, from the longest text in each column.
    widths = [
        max(0.75, 0.09 * max(len(text) for text in [*header.split("\n"), *column_texts]))
        for header, column_texts in zip(headers, zip(*_texts(cells), strict=True), strict=True)
    ]
    row_height = 0.34
    figure = Figure(figsize=(sum(widths), row_height * len(cells)))
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    lefts = [sum(widths[:i]) for i in range(len(widths))]
    for row_index, row in enumerate(cells):
        for column_index, (fill, ink, text) in enumerate(row):
            axes.add_patch(
                Rectangle(
                    (lefts[column_index], row_index),
                    widths[column_index],
                    1,
                    facecolor=fill,
                    edgecolor="#ffffff",
                    linewidth=2,
                )
            )
            axes.text(
                lefts[column_index] + widths[column_index] / 2,
                row_index + 0.5,
                text,
                ha="center",
                va="center",
                color=ink,
                fontsize=9,
                fontweight="bold" if text in (GRID_TRUE[2], GRID_FALSE[2]) else "normal",
            )
    axes.set_xlim(0, sum(widths))
    axes.set_ylim(len(cells), 0)
    axes.set_xticks([left + w / 2 for left, w in zip(lefts, widths, strict=True)], headers)
    axes.set_yticks(
        [i + 0.5 for i in range(len(cells))],
        [str(row[table.columns.index(label_column)]) for row in table.rows],
    )
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    axes.grid(visible=False)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if chart.x_label:
        axes.set_ylabel(chart.x_label)
    return figure
