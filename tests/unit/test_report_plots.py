"""Every chart kind drawn from fixed results: what the SVG says, and what a bad request raises."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from sqla_lab.lab.messages import format_value
from sqla_lab.lab.results import Chart, LabResult, Table
from sqla_lab.report.plots import GRID_TRUE, ChartError, render_chart
from tests.unit.html_page import svg_texts
from tests.unit.report_samples import connect_result, loading_result, pool_result, states_result


def _only_chart(result: LabResult, key: str) -> Chart:
    return next(c for c in result.charts if c.key == key)


def test_box_draws_each_measurement_with_its_median_top_down() -> None:
    result = connect_result()
    svg = render_chart(result.charts[0], result, id_prefix="c0")
    texts = svg_texts(svg)
    names = ["new connection", "raw asyncpg connect", "pooled checkout"]
    # Bottom-up on the axis, so the lab's first measurement is listed last in the SVG.
    positions = [next(i for i, t in enumerate(texts) if t == name) for name in names]
    assert positions == sorted(positions, reverse=True)
    finding = result.finding("pooled-vs-new")
    for name in names:
        m = finding.measurement(name)
        assert f"median {format_value(m.value, 'ms')}, n=30" in texts
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")


def test_box_on_a_log_axis_labels_decades_plainly() -> None:
    result = connect_result()
    texts = svg_texts(render_chart(result.charts[0], result, id_prefix="c0"))
    assert "1" in texts
    assert not [t for t in texts if "10^" in t or "$" in t]


def test_line_with_series_and_log_axes_draws_one_line_per_series() -> None:
    result = loading_result()
    svg = render_chart(result.charts[0], result, id_prefix="l0")
    texts = svg_texts(svg)
    assert texts.count("lazy") == 1
    assert texts.count("selectinload") == 1
    assert texts.count("joinedload") == 1
    assert "strategy" in texts  # the legend's title is the series column
    assert "parents (N)" in texts
    # Log x from 1 to 1000: decade ticks, not the 200, 400, ... of a linear axis.
    assert {"1", "10", "100", "1000"} <= set(texts)
    assert "200" not in texts
    # One polyline per strategy: three <path> elements under line2d groups with 4 points.
    assert svg.count('id="l0-line2d_') >= 3


def test_line_with_one_y_column_and_linear_axes() -> None:
    result = pool_result()
    chart = _only_chart(result, "pool.wait-over-time")
    texts = svg_texts(render_chart(chart, result, id_prefix="p0"))
    assert {"2", "5", "pool_size", "seconds since start", "wait (ms)"} <= set(texts)


def test_line_skips_cells_without_a_value_or_a_position() -> None:
    table = Table(
        key="t.sweep",
        title="Sweep",
        columns=("n", "ms"),
        rows=((1, 2.0), (2, None), (None, 9.0), (3, 4.0)),
    )
    chart = Chart(key="t.line", title="Line", kind="line", table="t.sweep", x="n", y=("ms",))
    result = dataclasses.replace(loading_result(), tables=(table,), charts=(chart,))
    svg = render_chart(chart, result, id_prefix="s0")
    # Two points plotted, (1, 2) and (3, 4): no axis reaches 9, and x stays numeric.
    texts = svg_texts(svg)
    numbers = [float(t) for t in texts if t.replace(".", "", 1).isdigit()]
    assert numbers
    assert max(numbers) <= 4
    assert "None" not in texts


def test_bar_groups_columns_per_category_with_value_labels() -> None:
    result = pool_result()
    chart = _only_chart(result, "pool.status-steps")
    texts = svg_texts(render_chart(chart, result, id_prefix="b0"))
    assert {"start", "2 checked out", "overflow", "returned", "checked_out"} <= set(texts)
    table = result.table("pool.status")
    # Each bar carries its value; 8 bars: 4 steps x 2 columns.
    labels = [str(v) for column in ("checked_out", "overflow") for v in table.column(column)]
    value_texts = [t for t in texts if t.isdigit()]
    assert Counter(labels) <= Counter(value_texts)


def test_grid_marks_each_boolean_and_empty_cells_without_alarm_colours() -> None:
    result = states_result()
    svg = render_chart(result.charts[0], result, id_prefix="g0")
    texts = svg_texts(svg)
    table = result.table("states.table")
    cells = [cell for row in table.rows for cell in row[1:]]
    assert texts.count("yes") == sum(cell is True for cell in cells)
    assert texts.count("no") == sum(cell is False for cell in cells)
    assert texts.count("—") == sum(cell is None for cell in cells)
    assert {"transient", "pending", "persistent", "deleted", "detached"} <= set(texts)
    assert "after flush()" in texts
    # "yes" is tinted, an ordinary "no" stays white: no red for a plain observation.
    assert GRID_TRUE[0] in svg
    assert "#fde2e1" not in svg


def test_grid_can_pick_its_label_and_columns() -> None:
    result = states_result()
    chart = dataclasses.replace(result.charts[0], x="state", y=("in session",))
    texts = svg_texts(render_chart(chart, result, id_prefix="g1"))
    assert "has identity" not in texts
    assert texts.count("yes") == 3


def test_ids_are_prefixed_and_output_is_deterministic() -> None:
    result = loading_result()
    first = render_chart(result.charts[0], result, id_prefix="a")
    second = render_chart(result.charts[0], result, id_prefix="a")
    assert first == second
    other = render_chart(result.charts[0], result, id_prefix="b")
    ids_a = set(_ids(first))
    ids_b = set(_ids(other))
    assert ids_a
    assert all(i.startswith("a-") for i in ids_a)
    assert not ids_a & ids_b


def _ids(svg: str) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', svg)


def _with_chart(result: LabResult, **changes: Any) -> tuple[Chart, LabResult]:
    chart = dataclasses.replace(result.charts[0], **changes)
    return chart, dataclasses.replace(result, charts=(chart,))


@pytest.mark.parametrize(
    ("make", "changes", "message"),
    [
        pytest.param(loading_result, {"table": "nope"}, "no table 'nope'", id="missing-table"),
        pytest.param(loading_result, {"y": ("nope",)}, "no column nope", id="missing-column"),
        pytest.param(loading_result, {"series": "gone"}, "no column gone", id="missing-series"),
        pytest.param(loading_result, {"y": ("strategy",)}, "holds 'lazy'", id="text-as-y"),
        pytest.param(loading_result, {"x": None}, "needs x and y", id="no-x"),
        pytest.param(connect_result, {"finding": "nope"}, "no finding 'nope'", id="no-finding"),
        pytest.param(
            connect_result, {"measurements": ("nope",)}, "no measurement 'nope'", id="no-measure"
        ),
        pytest.param(states_result, {"table": None}, "needs a table", id="grid-no-table"),
        pytest.param(loading_result, {"kind": "pie"}, "unknown kind 'pie'", id="unknown-kind"),
    ],
)
def test_a_chart_that_does_not_match_its_data_raises(
    make: Callable[[], LabResult], changes: dict[str, Any], message: str
) -> None:
    chart, result = _with_chart(make(), **changes)
    with pytest.raises(ChartError, match=message):
        render_chart(chart, result, id_prefix="x")


def test_empty_grid_table_raises() -> None:
    result = states_result()
    empty = Table(key="states.table", title="States", columns=("state", "a"), rows=())
    result = dataclasses.replace(result, tables=(empty,))
    with pytest.raises(ChartError, match="is empty"):
        render_chart(result.charts[0], result, id_prefix="x")
