"""The Korean catalog: complete, compiled, shipped, and the only way words reach a reader.

Every test here scans the whole package (every lab, including labs added later), so a lab that
adds a sentence without translating it, or writes a sentence without marking it, fails here.
How to add sentences and update the catalog: docs/writing-a-lab.md, "Sentences and
translations".
"""

from __future__ import annotations

import ast
import gettext
import importlib
import io
import re
import string
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import sqla_lab
from sqla_lab.translation import LOCALE_DIR, Language, translation

SRC = Path(sqla_lab.__file__).resolve().parent
ROOT = SRC.parent.parent
PO = LOCALE_DIR / "ko" / "LC_MESSAGES" / "sqla_lab.po"
MO = PO.with_suffix(".mo")
PYBABEL = Path(sys.executable).parent / "pybabel"

#: Keyword arguments whose text a reader sees, by the call they are given to.
READ_KEYWORDS = {
    "Finding": {"claim", "headline", "explanation", "reason", "settle", "quote_note"},
    "skipped": {"claim", "headline", "reason"},
    "Table": {"title"},
    "Chart": {"title", "x_label", "y_label"},
    "LabResult": {"title"},
    "Option": {"help"},
    "Argument": {"help"},
    "command": {"help"},
    "sample_interleaved": {"description"},
    "verdict_fields": {"settle"},
}
#: Calls whose first argument is a name or a sentence a reader sees.
READ_FIRST_ARGUMENT = {"single", "from_samples", "measurement", "start"}
#: Exceptions the command line prints as they are: their message is a reader's sentence.
ERRORS = {
    "ConfigurationError",
    "DatabaseUnavailable",
    "LabError",
    "PgBouncerError",
    "PostgresError",
    "PostgresNotFoundError",
    "PostgresStartError",
    "StoppedByCtrlC",
}
#: Module constants holding a claim, a title or a headline.
READ_CONSTANT = re.compile(r"(^|_)(CLAIM|TITLE|HEADLINE)$")


@pytest.fixture(scope="module")
def korean() -> Catalog:
    with PO.open("rb") as handle:
        return read_po(handle, locale="ko")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The msgids ``pybabel extract`` finds today, with the documented command."""
    pot = tmp_path_factory.mktemp("catalog") / "sqla_lab.pot"
    subprocess.run(
        [
            *(str(PYBABEL), "extract", "-F", "pyproject.toml", "-k", "N_", "--no-location"),
            *("-o", str(pot), "src/sqla_lab"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return {str(m.id) for m in read_po(handle) if m.id}


def _fields(template: str) -> list[str]:
    return sorted(
        name.split(".")[0].split("[")[0]
        for _, name, _, _ in string.Formatter().parse(template)
        if name is not None
    )


def test_every_marked_string_is_in_the_korean_catalog(extracted: set[str], korean: Catalog) -> None:
    untranslated = sorted(
        text
        for text in extracted
        if (message := korean.get(text)) is None or not message.string or message.fuzzy
    )
    assert untranslated == [], "run the pybabel commands in docs/writing-a-lab.md"


def test_the_korean_catalog_holds_no_stale_sentences(extracted: set[str], korean: Catalog) -> None:
    stale = sorted(str(m.id) for m in korean if m.id and m.id not in extracted)
    assert stale == [], "run 'pybabel update' (docs/writing-a-lab.md)"


def test_translations_keep_the_placeholders(korean: Catalog) -> None:
    changed = [
        (m.id, m.string)
        for m in korean
        if m.id and "{" in str(m.id) and _fields(str(m.id)) != _fields(str(m.string))
    ]
    assert changed == []


def test_the_compiled_catalog_is_the_po_compiled(korean: Catalog) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, korean)
    fresh = gettext.GNUTranslations(io.BytesIO(compiled.getvalue()))
    with MO.open("rb") as handle:
        shipped = gettext.GNUTranslations(handle)
    # GNUTranslations keeps its messages in _catalog; no public accessor lists them.
    assert shipped._catalog == fresh._catalog, "run 'pybabel compile' (docs/writing-a-lab.md)"  # type: ignore[attr-defined]


def test_the_wheel_ships_the_compiled_catalog(tmp_path: Path) -> None:
    hatchling = Path(sys.executable).parent / "hatchling"
    subprocess.run(
        [str(hatchling), "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("sqla_lab/locale/ko/LC_MESSAGES/sqla_lab.mo")
    assert shipped == MO.read_bytes()


def test_korean_is_read_from_the_shipped_catalog() -> None:
    ko = translation(Language.KO)
    assert ko("confirmed") == "확인됨"
    assert ko.knows("Claims ledger")
    assert not ko.knows("a sentence no catalog holds")
    assert translation(Language.EN)("confirmed") == "confirmed"


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _is_sentence(node: ast.expr) -> bool:
    """A literal with words in it, or an f-string: text no catalog can hold."""
    if isinstance(node, ast.JoinedStr):
        return True
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(c.isalpha() for c in node.value)
    )


def _unmarked(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(SRC.parent)
    found = []
    for call in _calls(tree):
        name = _callee(call)
        for keyword in call.keywords:
            if keyword.arg in READ_KEYWORDS.get(name, ()) and _is_sentence(keyword.value):
                found.append(f"{where}:{keyword.value.lineno} {name}({keyword.arg}=...)")
        if name == "lab" and not any(k.arg == "title" for k in call.keywords):
            found.append(f"{where}:{call.lineno} lab(...) without title=N_(...)")
        first_read = name in READ_FIRST_ARGUMENT or name in ERRORS
        if first_read and call.args and _is_sentence(call.args[0]):
            found.append(f"{where}:{call.lineno} {name}(...)")
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if (
                isinstance(target, ast.Name)
                and READ_CONSTANT.search(target.id)
                and _is_sentence(node.value)
            ):
                found.append(f"{where}:{node.lineno} {target.id} = ...")
    return found


#: Speaks only in pytest's own output, which has no language option: English only.
NOT_TRANSLATED = ("pytest_plugin",)


def test_every_sentence_a_reader_sees_is_marked_for_translation() -> None:
    """Claims, headlines, explanations, titles, labels, help texts, measurement names and
    the command line's errors are ``N_()`` templates or messages, never bare literals."""
    unmarked = [
        line
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] not in NOT_TRANSLATED
        for line in _unmarked(path)
    ]
    assert unmarked == []


_HANGUL_WORD = re.compile(r"[가-힣]{2,}")


def _seed_claims() -> Iterator[tuple[str, str, str]]:
    """``(key, claim, quote)`` of every finding that quotes the seed, from every lab."""
    for path in sorted((SRC / "labs").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [c for c in _calls(tree) if _callee(c) == "Finding"]
        if not calls:
            continue
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        namespace = vars(importlib.import_module(".".join(parts)))
        for call in calls:
            keywords = {k.arg: k.value for k in call.keywords}
            if "quote" not in keywords or "claim" not in keywords:
                continue
            values = [
                eval(compile(ast.Expression(keywords[name]), str(path), "eval"), namespace)
                for name in ("key", "claim", "quote")
            ]
            if all(isinstance(v, str) for v in values):
                yield values[0], values[1], values[2]


def test_the_seeds_claims_keep_the_seeds_own_words_in_korean() -> None:
    ko = translation(Language.KO)
    claims = list(_seed_claims())
    assert len(claims) >= 20  # every lab quotes the seed
    far = []
    for key, claim, quote in claims:
        words = set(_HANGUL_WORD.findall(quote))
        kept = {w for w in words if w in ko(claim)}
        if len(kept) < len(words) / 2:
            far.append((key, ko(claim), quote))
    assert far == []


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        pytest.param(12345.0, "rows", id="grouped"),
        pytest.param(0.3456, "ms", id="small"),
        pytest.param(43.09, "x", id="ratio"),
        pytest.param(0.87, "ratio", id="percent"),
    ],
)
def test_korean_numbers_are_written_as_english_ones(value: float, unit: str) -> None:
    """Why the runtime needs no Babel: in CLDR, Korean writes numbers with the same decimal
    point and grouping as English, so only the words around a number are translated."""
    from babel.numbers import get_decimal_symbol, get_group_symbol

    from sqla_lab.lab.messages import format_value

    assert get_decimal_symbol("ko") == get_decimal_symbol("en") == "."
    assert get_group_symbol("ko") == get_group_symbol("en") == ","
    english = format_value(value, unit)
    korean = format_value(value, unit, translation(Language.KO))
    digits = re.compile(r"[\d.,]+")
    assert digits.findall(korean) == digits.findall(english)
