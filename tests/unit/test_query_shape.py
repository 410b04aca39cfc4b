"""Statement shapes and the frozen log, without a database."""

from __future__ import annotations

import pytest

from sqla_lab.instruments.recorder import QueryLog, RecordedQuery, statement_shape


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        pytest.param(
            "SELECT posts.id FROM posts WHERE posts.user_id IN ($1::INTEGER, $2::INTEGER)",
            "SELECT posts.id FROM posts WHERE posts.user_id IN (?, ...)",
            id="asyncpg-in-list",
        ),
        pytest.param(
            "SELECT posts.id FROM posts WHERE posts.user_id IN ($1::INTEGER)",
            "SELECT posts.id FROM posts WHERE posts.user_id IN (?)",
            id="asyncpg-single",
        ),
        pytest.param(
            "SELECT * FROM users WHERE id = %(id_1)s AND name = 'x''y'",
            "SELECT * FROM users WHERE id = ? AND name = ?",
            id="psycopg-pyformat-and-literal",
        ),
        pytest.param(
            "SELECT  1\n  FROM t LIMIT 10",
            "SELECT ? FROM t LIMIT ?",
            id="whitespace-and-numbers",
        ),
        pytest.param("SELECT x::text FROM t", "SELECT x::text FROM t", id="cast-kept"),
    ],
)
def test_statement_shape(sql: str, shape: str) -> None:
    assert statement_shape(sql) == shape


def _query(sql: str, rows: int | None = 1, location: str | None = None) -> RecordedQuery:
    return RecordedQuery(
        sql=sql,
        parameter_count=1,
        parameter_sets=1,
        rows=rows,
        duration_ms=1.5,
        location=location,
    )


def test_log_groups_by_shape_most_frequent_first() -> None:
    log = QueryLog(
        (
            _query("SELECT users.id FROM users"),
            _query("SELECT posts.id FROM posts WHERE user_id = $1", 3, "a.py:1"),
            _query("SELECT posts.id FROM posts WHERE user_id = $1", 2, "a.py:1"),
            _query("SELECT posts.id FROM posts WHERE user_id = $1", None, "b.py:2"),
        )
    )
    shapes = log.shapes()
    assert [(s.count, s.rows) for s in shapes] == [(3, 5), (1, 1)]
    assert shapes[0].locations == ("a.py:1", "b.py:2")
    assert log.count == 4
    assert log.rows == 6
    assert log.total_ms == pytest.approx(6.0)
    assert len(log.matching(r"from posts")) == 3


def test_format_numbers_statements_and_truncates() -> None:
    log = QueryLog(tuple(_query(f"SELECT {i}", location="x.py:9") for i in range(3)))
    text = log.format(limit=2)
    assert text.splitlines()[0] == "3 statement(s):"
    assert "   1. SELECT 0  -- rows=1 1.50 ms  [x.py:9]" in text
    assert text.splitlines()[-1].strip() == "... 1 more"
    assert log.to_dict()["count"] == 3
