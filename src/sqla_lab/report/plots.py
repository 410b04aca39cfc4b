"""Draw a lab's :class:`~sqla_lab.lab.results.Chart` requests as inline SVG for the HTML report.

A lab declares *what* to plot as data (a chart kind, a table and its columns, or a finding
and the names of its measurements); this module decides *how*. Matplotlib draws through its
object-oriented API (a ``Figure`` saved with the SVG backend, never ``pyplot``), so no global
figure registry is touched and nothing needs a display. Text stays text in the SVG
(``svg.fonttype = none``): small, selectable, searchable, and translated: every label goes
through ``translate``, and a Korean chart is laid out with a CJK font (Noto Sans CJK when the
machine has it) named first in the SVG's font list.

Several SVG documents share one HTML page, so every ``id`` matplotlib writes (and every
reference to it) is prefixed with the chart's position in the report; ids never collide.

Rules every chart follows:

* **At most six series in a panel.** More are drawn as small multiples: one panel per value
  of the chart's ``facet`` column, or panels of six; a series keeps its colour in every panel.
* **No label covers another.** Bars whose category labels would not fit side by side are
  drawn horizontally (one row per category); a bar's value is written only where it fits;
  a legend of more than four series goes beside the axes; box labels get the height their
  lines need.
* **Colour only where it carries meaning.** Lines and grouped bars are coloured by series
  (the legend says which); a single series, the boxes of a box plot (each labelled) and the
  cells of a grid are not: a grid marks "yes" with a light fill and bold text, "no" plainly.

Kinds:
    ``box``: the samples of the named measurements of one finding, one horizontal box each,
    with the samples drawn as points over it.
    ``line``: ``y`` columns against ``x``, one line per distinct ``series`` value.
    ``bar``: the same data as grouped bars, ``x`` as categories.
    ``grid``: a table as a grid of its cells, as in a state table.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.typing import RcKeyType
from rich.cells import cell_len

from sqla_lab.errors import LabError
from sqla_lab.lab.messages import N_, Message, Translate, as_written, format_value
from sqla_lab.lab.results import Cell, Chart, LabResult, Measurement, Table
from sqla_lab.lab.wording import cell_text, display_name
from sqla_lab.translation import Language, language_of

__all__ = [
    "CJK_FONTS",
    "GRID_EMPTY",
    "GRID_FALSE",
    "GRID_OTHER",
    "GRID_TRUE",
    "MAX_SERIES",
    "PALETTE",
    "ChartError",
    "render_chart",
]

#: Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
#: Most series one panel shows; more become small multiples.
MAX_SERIES = 6
#: A single series, and the boxes of a box plot: one colour, it means nothing more.
_PLAIN = "#4b6a8a"
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_LEGEND_INSIDE_MAX = 4
_INK = "#1f2937"
_MUTED = "#6b7280"

#: Grid cells: (fill, text colour, label) for yes, no and empty cells; no verdict colours.
GRID_TRUE = ("#dbe7f3", "#0b3d66", N_("yes"))
GRID_FALSE = ("#ffffff", "#4b5563", N_("no"))
GRID_EMPTY = ("#f3f4f6", "#9ca3af", "—")
GRID_OTHER = ("#ffffff", _INK)

#: Fonts with Hangul, preferred in this order for a Korean chart.
CJK_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic")

_MEDIAN = N_("median {value}, n={n}")
_MEDIAN_ONE = N_("median {value}")
_PANEL = N_("{facet}: {value}")
_PART = N_("part {index} of {count}")

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


def render_chart(
    chart: Chart, result: LabResult, *, id_prefix: str, translate: Translate = as_written
) -> str:
    """Draw ``chart`` from the data in ``result`` and return an ``<svg>`` element.

    Args:
        chart: what to draw.
        result: the lab result holding the chart's table or finding.
        id_prefix: prepended to every SVG id; unique per chart within one HTML page.
        translate: the reader's language, for every label in the chart.

    Raises:
        ChartError: the chart names data the result does not have, or cannot be drawn.
    """
    draw = {"box": _draw_box, "line": _draw_lines, "bar": _draw_bars, "grid": _draw_grid}
    if chart.kind not in draw:
        raise ChartError(f"chart {chart.key!r}: unknown kind {chart.kind!r}")
    with _style(salt=id_prefix, translate=translate):
        figure = draw[chart.kind](chart, result, translate)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return _inline_svg(buffer.getvalue(), id_prefix)


def _cjk_font() -> str | None:
    """A font with Hangul that matplotlib can use, registering the system's if needed.

    matplotlib's font list is cached on disk and may predate a font installed later
    (``fonts-noto-cjk``); the system's font files are then added to this process only.
    """
    known = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in known:
            return name
    for path in font_manager.findSystemFonts():
        if re.search(r"(NotoSansCJK|NotoSansKR|AppleSDGothicNeo|malgun)", path, re.IGNORECASE):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                font_manager.fontManager.addfont(path)
    known = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in known), None)


@contextmanager
def _style(*, salt: str, translate: Translate) -> Iterator[None]:
    # A fixed hash salt makes the SVG deterministic, so a report can be diffed.
    style = {**_STYLE, "svg.hashsalt": salt}
    cjk = _cjk_font() if language_of(translate) is not Language.EN else None
    if cjk is not None:
        style["font.sans-serif"] = [cjk, "DejaVu Sans"]
    with matplotlib.rc_context(style), warnings.catch_warnings():
        if language_of(translate) is not Language.EN and cjk is None:
            # No font with Hangul here: the SVG keeps the text and the reader's browser
            # finds a font; only the layout's text widths are estimated without one.
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_ID_USES = re.compile(r'(\bid="|xlink:href="#|href="#|url\(#)([^")]+)')


def _inline_svg(document: str, id_prefix: str) -> str:
    """Strip the XML prolog and metadata and make every id unique to this chart."""
    svg = _METADATA.sub("", _PROLOG.sub("", document, count=1))
    return _ID_USES.sub(lambda m: f"{m.group(1)}{id_prefix}-{m.group(2)}", svg).strip()


def _log_scale(axes: Axes, axis: str) -> None:
    """A log axis labelled 0.1, 1, 10 rather than 10^-1, 10^0, 10^1."""
    if axis == "x":
        axes.set_xscale("log")
    else:
        axes.set_yscale("log")
    target = axes.xaxis if axis == "x" else axes.yaxis
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _wrap(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` terminal cells (a Hangul syllable counts 2)."""
    if cell_len(text) == len(text):
        return "\n".join(textwrap.wrap(text, width)) or text
    lines: list[str] = []
    for word in text.split(" "):
        if lines and cell_len(lines[-1]) + 1 + cell_len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines) or text


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


def _draw_box(chart: Chart, result: LabResult, translate: Translate) -> Figure:
    chosen = _measurements(chart, result)
    # Bottom to top in the order the lab listed them, so the first one is on top.
    chosen.reverse()
    labels = [_box_label(m, translate) for m in chosen]
    # Each row as tall as its label's lines need, so labels never touch.
    rows = [max(2, label.count("\n") + 1) * 0.19 + 0.2 for label in labels]
    data = [list(m.samples) or [m.value] for m in chosen]
    figure = Figure(figsize=(7.6, 0.7 + sum(rows)), layout="constrained")
    axes = figure.add_subplot()
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
    for box in boxes["boxes"]:
        box.set_facecolor(_PLAIN + "33")
        box.set_edgecolor(_PLAIN)
    for position, samples in zip(positions, data, strict=True):
        offsets = _jitter(len(samples))
        axes.scatter(
            samples,
            [position + o for o in offsets],
            s=9,
            color=_PLAIN,
            alpha=0.45,
            linewidths=0,
            zorder=3,
        )
    axes.set_yticks(positions, labels)
    axes.grid(axis="y", visible=False)
    if chart.log_y:
        _log_scale(axes, "x")
    unit = chosen[0].unit if len({m.unit for m in chosen}) == 1 else None
    axes.set_xlabel(translate(chart.y_label or unit or ""))
    return figure


def _box_label(m: Measurement, translate: Translate) -> str:
    value = format_value(m.value, m.unit, translate)
    median = (
        Message(_MEDIAN, {"value": value, "n": len(m.samples)})
        if m.samples
        else Message(_MEDIAN_ONE, {"value": value})
    )
    return f"{_wrap(display_name(m, translate), 34)}\n{median.render(translate)}"


def _jitter(count: int) -> list[float]:
    """Deterministic vertical spread for the sample dots (a golden-ratio sequence)."""
    return [((i * 0.618034) % 1.0 - 0.5) * 0.36 for i in range(count)]


# --- line and bar -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    label: str
    points: tuple[tuple[Cell, float], ...]


@dataclass(frozen=True)
class _Panel:
    title: str | None
    series: tuple[_Series, ...]


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


def _series(
    chart: Chart, table: Table, rows: Sequence[Sequence[Cell]], translate: Translate
) -> list[_Series]:
    assert chart.x is not None
    groups: dict[str, dict[str, list[tuple[Cell, float]]]] = {}
    for row in rows:
        cells = dict(zip(table.columns, row, strict=True))
        if cells[chart.x] is None:
            continue  # a point with no position
        group = cell_text(cells[chart.series], translate) if chart.series else ""
        for y in chart.y:
            value = cells[y]
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ChartError(f"chart {chart.key!r}: column {y!r} holds {value!r}")
            x = cells[chart.x]
            # A category is its text: a worded cell (a message) is shown, and compared, as such.
            position: Cell = x if _is_number(x) else cell_text(x, translate)
            groups.setdefault(group, {}).setdefault(y, []).append((position, float(value)))
    result = []
    for group, by_column in groups.items():
        for y, points in by_column.items():
            parts = [p for p in (group, translate(y) if len(chart.y) > 1 else "") if p]
            result.append(_Series(" · ".join(parts) or translate(y), tuple(points)))
    return result


def _panels(chart: Chart, result: LabResult, translate: Translate) -> list[_Panel]:
    """The chart's series, in panels of at most :data:`MAX_SERIES` (small multiples)."""
    table = _table(chart, result)
    if not chart.x or not chart.y:
        raise ChartError(f"chart {chart.key!r}: a {chart.kind} chart needs x and y columns")
    extra = [c for c in (chart.series, chart.facet) if c]
    _require_columns(chart, table, [chart.x, *chart.y, *extra])
    groups: list[tuple[str | None, list[Sequence[Cell]]]] = []
    if chart.facet:
        index = table.columns.index(chart.facet)
        by_value: dict[str, list[Sequence[Cell]]] = {}
        for row in table.rows:
            by_value.setdefault(cell_text(row[index], translate), []).append(row)
        facet = translate(chart.facet)
        groups = [
            (Message(_PANEL, {"facet": facet, "value": value}).render(translate), rows)
            for value, rows in by_value.items()
        ]
    else:
        groups = [(None, list(table.rows))]
    panels: list[_Panel] = []
    for title, rows in groups:
        series = _series(chart, table, rows, translate)
        chunks = [series[i : i + MAX_SERIES] for i in range(0, len(series), MAX_SERIES)]
        for number, chunk in enumerate(chunks, start=1):
            part = (
                Message(_PART, {"index": number, "count": len(chunks)}).render(translate)
                if len(chunks) > 1
                else None
            )
            shown = " · ".join(t for t in (title, part) if t) or None
            panels.append(_Panel(shown, tuple(chunk)))
    if not any(p.series for p in panels):
        raise ChartError(f"chart {chart.key!r}: table {table.key!r} has no values to plot")
    return [p for p in panels if p.series]


def _colours(panels: Sequence[_Panel]) -> dict[str, str]:
    """One colour per series label, the same in every panel."""
    labels = list(dict.fromkeys(s.label for p in panels for s in p.series))
    if len(labels) == 1:
        return {labels[0]: _PLAIN}
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def _is_number(cell: Cell) -> bool:
    return isinstance(cell, int | float) and not isinstance(cell, bool)


def _grid_of(count: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(width, height * count), layout="constrained")
    axes = figure.subplots(count, 1, squeeze=False, sharex=True)
    return figure, [row[0] for row in axes]


def _draw_lines(chart: Chart, result: LabResult, translate: Translate) -> Figure:
    panels = _panels(chart, result, translate)
    colours = _colours(panels)
    markers = {label: _MARKERS[i % len(_MARKERS)] for i, label in enumerate(colours)}
    figure, axes_list = _grid_of(len(panels), 7.6, 3.4 if len(panels) > 1 else 4.0)
    all_series = [s for p in panels for s in p.series]
    numeric_x = all(_is_number(x) for s in all_series for x, _ in s.points)
    categories = _categories(all_series)
    for axes, panel in zip(axes_list, panels, strict=True):
        for item in panel.series:
            xs = [_position(x, categories, numeric=numeric_x) for x, _ in item.points]
            axes.plot(
                xs,
                [y for _, y in item.points],
                label=item.label,
                color=colours[item.label],
                marker=markers[item.label],
                markersize=4,
                linewidth=1.8,
            )
        if not numeric_x:
            axes.set_xticks(
                range(len(categories)),
                [
                    _wrap(cell_text(c, translate), _category_width(len(categories)))
                    for c in categories
                ],
            )
        if panel.title:
            axes.set_title(panel.title, fontsize=10, loc="left")
        _finish_axes(axes, chart, panel.series, translate, log_x=chart.log_x)
    return figure


def _category_width(count: int) -> int:
    """How many cells a category label may use on a 7.6-inch axis before it would collide."""
    return max(6, int(60 / max(count, 1)))


def _finish_axes(
    axes: Axes,
    chart: Chart,
    series: Sequence[_Series],
    translate: Translate,
    *,
    log_x: bool,
    horizontal: bool = False,
) -> None:
    """Scales, ticks, labels and legend shared by line and bar charts."""
    if log_x:
        _log_scale(axes, "x")
    if chart.log_y:
        _log_scale(axes, "x" if horizontal else "y")
    _integer_ticks(axes, series, chart, horizontal=horizontal)
    x_label = translate(chart.x_label or chart.x or "")
    y_label = translate(chart.y_label or (chart.y[0] if len(chart.y) == 1 else ""))
    if horizontal:
        # The categories name themselves; a rotated label beside them only crowds them
        # (and, measured in matplotlib's font but drawn in the browser's, can overlap).
        axes.set_xlabel(y_label)
    else:
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
    _legend(axes, chart, series, translate)


def _integer_ticks(
    axes: Axes, series: Sequence[_Series], chart: Chart, *, horizontal: bool = False
) -> None:
    """Counts (checked-out connections, statements) get whole-number ticks, not 0.5 steps."""
    if not chart.log_y and all(y == int(y) for s in series for _, y in s.points):
        (axes.xaxis if horizontal else axes.yaxis).set_major_locator(MaxNLocator(integer=True))


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


def _legend(axes: Axes, chart: Chart, series: Sequence[_Series], translate: Translate) -> None:
    title = translate(chart.series) if chart.series else None
    if len(series) > _LEGEND_INSIDE_MAX:
        # Many series would cover the data: the legend goes beside the axes instead.
        axes.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    elif len(series) > 1 or chart.series:
        axes.legend(title=title, loc="best")


def _bars_horizontal(labels: Sequence[str], series: int) -> bool:
    """Whether category labels side by side under vertical bars would collide."""
    room = _category_width(len(labels))
    lines = [textwrap.wrap(label, room) or [label] for label in labels]
    too_wide = any(cell_len(line) > room for wrapped in lines for line in wrapped)
    return too_wide or any(len(wrapped) > 2 for wrapped in lines) or len(labels) * series > 24


def _draw_bars(chart: Chart, result: LabResult, translate: Translate) -> Figure:
    panels = _panels(chart, result, translate)
    colours = _colours(panels)
    all_series = [s for p in panels for s in p.series]
    categories = _categories(all_series)
    labels = [cell_text(c, translate) for c in categories]
    most = max(len(p.series) for p in panels)
    horizontal = _bars_horizontal(labels, most)
    if horizontal:
        per_panel = max(2.2, 0.55 + len(categories) * max(0.32, 0.2 * most))
        figure, axes_list = _grid_of(len(panels), 7.6, per_panel)
    else:
        figure, axes_list = _grid_of(len(panels), 7.6, 3.4 if len(panels) > 1 else 4.0)
    for axes, panel in zip(axes_list, panels, strict=True):
        width = 0.8 / len(panel.series)
        for index, item in enumerate(panel.series):
            offset = (index - (len(panel.series) - 1) / 2) * width
            values = dict(item.points)
            positions = [i + offset for i, c in enumerate(categories) if c in values]
            heights = [values[c] for c in categories if c in values]
            draw = axes.barh if horizontal else axes.bar
            bars = draw(
                positions,
                heights,
                width * 0.92,
                label=item.label,
                color=colours[item.label],
            )
            if _values_fit(len(categories), len(panel.series), horizontal=horizontal):
                axes.bar_label(
                    bars, labels=[_short(h, translate) for h in heights], fontsize=8, padding=2
                )
        if horizontal:
            axes.set_yticks(range(len(categories)), [_wrap(label, 34) for label in labels])
            axes.invert_yaxis()  # the first category on top, as a table reads
            axes.grid(axis="y", visible=False)
            axes.margins(x=0.12)  # room for the value written after the longest bar
        else:
            axes.set_xticks(
                range(len(categories)),
                [_wrap(label, _category_width(len(categories))) for label in labels],
            )
            axes.grid(axis="x", visible=False)
            axes.margins(y=0.1)
        if panel.title:
            axes.set_title(panel.title, fontsize=10, loc="left")
        # Bars stand on categories: a log x axis has no meaning there.
        _finish_axes(axes, chart, panel.series, translate, log_x=False, horizontal=horizontal)
    return figure


def _values_fit(categories: int, series: int, *, horizontal: bool) -> bool:
    """Whether every bar has room for its value without touching its neighbour's."""
    if horizontal:
        return series <= 3
    # A vertical bar is 7.6 in * 0.8 / (categories * series) wide; a value about 0.35 in.
    return 7.6 * 0.8 / (categories * series) >= 0.38


def _short(value: float, translate: Translate) -> str:
    return format_value(value, "", translate)


# --- grid ---------------------------------------------------------------------------------


def _grid_cell(cell: Cell, translate: Translate) -> tuple[str, str, str]:
    if cell is True:
        return (GRID_TRUE[0], GRID_TRUE[1], translate(GRID_TRUE[2]))
    if cell is False:
        return (GRID_FALSE[0], GRID_FALSE[1], translate(GRID_FALSE[2]))
    if cell is None:
        return GRID_EMPTY
    return (*GRID_OTHER, cell_text(cell, translate))


def _draw_grid(chart: Chart, result: LabResult, translate: Translate) -> Figure:
    table = _table(chart, result)
    if not table.rows:
        raise ChartError(f"chart {chart.key!r}: table {table.key!r} is empty")
    label_column = chart.x or table.columns[0]
    columns = list(chart.y) or [c for c in table.columns if c != label_column]
    _require_columns(chart, table, [label_column, *columns])
    if not columns:
        raise ChartError(f"chart {chart.key!r}: table {table.key!r} has no columns to colour")
    headers = [_wrap(translate(c), 14) for c in columns]
    cells = [
        [_grid_cell(dict(zip(table.columns, row, strict=True))[c], translate) for c in columns]
        for row in table.rows
    ]
    # Column widths in inches, from the widest line in each column (a Hangul syllable: 2).
    widths = [
        max(
            0.75,
            0.085 * max(cell_len(line) for text in [header, *texts] for line in text.split("\n")),
        )
        for header, texts in zip(
            headers, zip(*[[text for _, _, text in row] for row in cells], strict=True), strict=True
        )
    ]
    header_lines = max(h.count("\n") + 1 for h in headers)
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
                    edgecolor="#e5e7eb",
                    linewidth=1,
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
                fontweight="bold" if fill == GRID_TRUE[0] else "normal",
            )
    axes.set_xlim(0, sum(widths))
    axes.set_ylim(len(cells), 0)
    axes.set_xticks([left + w / 2 for left, w in zip(lefts, widths, strict=True)], headers)
    axes.set_yticks(
        [i + 0.5 for i in range(len(cells))],
        [cell_text(row[table.columns.index(label_column)], translate) for row in table.rows],
    )
    axes.xaxis.tick_top()
    axes.tick_params(length=0, pad=2 + 2 * math.floor(header_lines / 3))
    axes.grid(visible=False)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if chart.x_label:
        axes.set_ylabel(translate(chart.x_label))
    return figure
