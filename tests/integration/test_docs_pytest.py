"""docs/pytest.md is a project: its code blocks, written to files and run by pytest.

Every fenced block whose first line is a file-name comment (``# app/models.py``) is written to
that file (blocks naming one file are joined in order), and pytest runs the project in a
subprocess on the embedded server. The failure the page shows for a route that lazy-loads is
checked the same way: the page's own route, changed as the page says, run again.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "pytest.md"

pytestmark = pytest.mark.timeout(300)

_BLOCK = re.compile(r"^```(?P<lang>\w+)\n(?P<body>.*?)^```$", re.M | re.S)
_FILE_NAME = re.compile(r"^# (?P<path>[\w./-]+\.(?:py|toml))\n")

SELECTIN_ROUTE = """\
    statement = select(Author).options(selectinload(Author.books)).order_by(Author.id)
    authors = (await session.scalars(statement)).all()
    return [{"name": a.name, "books": [b.title for b in a.books]} for a in authors]
"""
# The change the page describes, on the same lines.
LAZY_ROUTE = (
    "    statement = select(Author).order_by(Author.id)\n"
    "    authors = (await session.scalars(statement)).all()\n"
    '    return [{"name": a.name, "books": [b.title for b in await a.awaitable_attrs.books]}'
    " for a in authors]\n"
)
COUNT_ONLY = """
import pytest

from app.models import Author, Book
from sqla_lab.errors import QueryBudgetExceeded


async def test_the_count_fails_too(client, db_session, assert_num_queries):
    db_session.add_all([Author(name=f"a{i}", books=[Book(title="b")]) for i in range(3)])
    await db_session.commit()
    db_session.expunge_all()
    with pytest.raises(QueryBudgetExceeded, match="the block sent 4"):
        with assert_num_queries(2):
            await client.get("/authors")
"""


def _files() -> dict[str, str]:
    files: dict[str, str] = {}
    for block in _BLOCK.finditer(PAGE.read_text()):
        named = _FILE_NAME.match(block["body"])
        if named is None:
            continue
        path = named["path"]
        files[path] = files.get(path, "") + ("\n" if path in files else "") + block["body"]
    return files


def _write(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for package in ("app", "tests"):
        (pytester.path / package / "__init__.py").touch()


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *paths: str
) -> pytest.RunResult:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SQLA_LAB_DATABASE_URL", raising=False)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", *paths)


def test_the_page_names_the_project_files() -> None:
    assert sorted(_files()) == [
        "app/main.py",
        "app/models.py",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/test_authors.py",
        "tests/test_identity_map.py",
        "tests/test_sync.py",
        "tests/test_targets.py",
    ]


def test_the_pages_project_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files()
    _write(pytester, files)
    result = _run(pytester, monkeypatch, "tests")
    tests = sum(
        text.count("\ndef test_") + text.count("\nasync def test_") for text in files.values()
    )
    result.assert_outcomes(passed=tests)


def test_the_pages_failure_is_what_a_lazy_route_gives(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files()
    assert SELECTIN_ROUTE in files["app/main.py"]
    files["app/main.py"] = files["app/main.py"].replace(SELECTIN_ROUTE, LAZY_ROUTE)
    files["tests/test_count_only.py"] = COUNT_ONLY
    _write(pytester, files)
    result = _run(pytester, monkeypatch, "tests/test_authors.py", "tests/test_count_only.py")
    result.assert_outcomes(passed=1, failed=1)  # the count test passes by failing the count
    shown = re.search(r"```text\n(?P<lines>E .*?)```", PAGE.read_text(), re.S)
    assert shown is not None
    patterns = [
        "*" + line.lstrip("E").strip().replace("...", "*") for line in shown["lines"].splitlines()
    ]
    result.stdout.fnmatch_lines(patterns)
    result.stdout.fnmatch_lines(["FAILED tests/test_authors.py::test_authors_and_their_books*"])
