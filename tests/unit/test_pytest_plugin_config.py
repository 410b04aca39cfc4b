"""The pytest plugin before any database: its start-up imports, and its ini option.

A run that uses no fixture must not pay for SQLAlchemy, the drivers or the server; a bad
``sqla_lab_metadata`` is one line, before anything is started.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, Table

from sqla_lab.errors import ConfigurationError
from sqla_lab.pytest_plugin._metadata import MetadataSpec, load_metadata, parse_specs

# Written into the inner project: what the run imported, printed when it ends.
IMPORTS_REPORTER = """
import sys


def pytest_sessionfinish(session):
    heavy = sorted(
        name for name in sys.modules
        if name.split(".")[0] in ("sqlalchemy", "asyncpg", "psycopg", "pydantic")
        or name.startswith(("sqla_lab.instruments", "sqla_lab.postgres", "sqla_lab.workspace"))
    )
    loaded = "sqla_lab.pytest_plugin.sync_fixtures" in sys.modules
    print(f"\\nPLUGIN LOADED {loaded}\\nHEAVY {heavy}")
"""

#: Imported by the unit tests below through ``sqla_lab_metadata`` specs.
metadata = MetaData()
Table("users", metadata, Column("id", Integer, primary_key=True))
other_metadata = MetaData()
Table("users", other_metadata, Column("id", Integer, primary_key=True))


class Base:
    """Stands in for a declarative base: a class carrying ``.metadata``."""

    metadata = metadata


def test_a_run_without_fixtures_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(IMPORTS_REPORTER)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["PLUGIN LOADED True", "HEAVY []"])


def test_a_malformed_ini_line_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsqla_lab_metadata =\n    app.models:Base\n    app.models\n")
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line.strip()] == [
        "ERROR: sqla_lab_metadata: 'app.models' is not 'module:attribute' "
        "(e.g. 'app.models:Base', one per line)"
    ]


def test_models_that_cannot_be_imported_fail_in_one_line_before_any_server(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nsqla_lab_metadata = no_such_package.models:Base\n")
    pytester.makeconftest(IMPORTS_REPORTER)
    pytester.makepyfile(test_db="def test_db(db_url):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_db*",
            "sqla-lab: sqla_lab_metadata: cannot import 'no_such_package.models': "
            "ModuleNotFoundError: No module named 'no_such_package'",
        ]
    )
    assert "During handling" not in result.stdout.str()
    # The models were imported before the server: it was never started, nor its code loaded.
    (heavy,) = [line for line in result.stdout.lines if line.startswith("HEAVY ")]
    assert "sqla_lab.postgres" not in heavy


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        pytest.param(["app:Base", "app:Base"], "app:Base is listed twice", id="twice"),
        pytest.param(["app/models.py:Base"], "is not 'module:attribute'", id="a-path"),
        pytest.param(["app.models:"], "is not 'module:attribute'", id="no-attribute"),
    ],
)
def test_bad_lines_are_refused(lines: list[str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_specs(lines)


def test_lines_accept_comments_blanks_and_dotted_attributes() -> None:
    assert parse_specs(["", "  app.models:Base  # the models", "# nothing", "a:b.c"]) == (
        MetadataSpec("app.models", "Base"),
        MetadataSpec("a", "b.c"),
    )


def test_a_metadata_and_a_base_carrying_it_are_loaded() -> None:
    here = __name__
    loaded = load_metadata(parse_specs([f"{here}:metadata", f"{here}:Base"]))
    assert loaded == [metadata]  # one MetaData, named twice


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(f"{__name__}:missing", "has no 'missing'", id="missing"),
        pytest.param(f"{__name__}:IMPORTS_REPORTER", "is a str, not a MetaData", id="not-metadata"),
        pytest.param("no_such_module:Base", "cannot import 'no_such_module'", id="unimportable"),
    ],
)
def test_what_is_not_a_metadata_is_refused_in_one_line(line: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_metadata(parse_specs([line]))


def test_one_table_in_two_metadatas_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="table 'users' is defined by both"):
        load_metadata(parse_specs([f"{__name__}:metadata", f"{__name__}:other_metadata"]))
