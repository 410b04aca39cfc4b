"""The public surface: exports, lab framework, settings and URL validation."""

from __future__ import annotations

import pytest

from sqla_lab.errors import ConfigurationError
from sqla_lab.lab import LabContext, LabOutput, lab, select_labs
from sqla_lab.labs import ALL_LABS
from sqla_lab.settings import Settings
from sqla_lab.urls import parse_database_url
from sqla_lab.workspace import Workspace


def test_lab_title_is_the_docstring_first_line() -> None:
    @lab("demo")
    async def demo(ctx: LabContext) -> LabOutput:
        """A claim.

        Details.
        """
        return LabOutput(findings=())

    assert (demo.name, demo.title, demo.description) == ("demo", "A claim.", "Details.")


def test_lab_without_docstring_is_rejected() -> None:
    async def bare(ctx: LabContext) -> LabOutput:
        return LabOutput(findings=())

    with pytest.raises(TypeError, match="docstring"):
        lab("bare")(bare)


def test_select_labs_keeps_order_and_rejects_unknown() -> None:
    names = [item.name for item in ALL_LABS]
    assert [x.name for x in select_labs(ALL_LABS, [])] == names
    assert [x.name for x in select_labs(ALL_LABS, [names[0], names[0]])] == [names[0]]
    with pytest.raises(ConfigurationError, match="unknown lab 'nope'"):
        select_labs(ALL_LABS, ["nope"])


def test_lab_names_are_unique() -> None:
    names = [item.name for item in ALL_LABS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("not a url", "not a valid database URL", id="unparsable"),
        pytest.param("mysql://u:p@localhost/db", "must be a PostgreSQL URL", id="mysql"),
        pytest.param("sqlite:///x.db", "must be a PostgreSQL URL", id="sqlite"),
        pytest.param("postgresql://u:p@localhost:99999/db", "invalid", id="bad-port"),
    ],
)
def test_bad_database_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_database_url(url)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://u:p@db:5433/x", id="plain"),
        pytest.param("postgres://u:p@db:5433/x", id="heroku-style"),
        pytest.param("postgresql+psycopg://u:p@db:5433/x", id="psycopg"),
    ],
)
def test_good_database_urls_get_the_asyncpg_driver(url: str) -> None:
    parsed = parse_database_url(url)
    assert parsed.drivername == "postgresql+asyncpg"
    assert (parsed.host, parsed.port, parsed.database) == ("db", 5433, "x")


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@b/c")
    monkeypatch.setenv("SQLA_LAB_POOL_SIZE", "7")
    monkeypatch.setenv("SQLA_LAB_POOL_PRE_PING", "true")
    settings = Settings()
    assert (settings.database_url, settings.pool_size, settings.pool_pre_ping) == (
        "postgresql://a@b/c",
        7,
        True,
    )


def test_prefixed_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@b/plain")
    monkeypatch.setenv("SQLA_LAB_DATABASE_URL", "postgresql://a@b/prefixed")
    assert Settings().database_url == "postgresql://a@b/prefixed"


async def test_run_labs_reports_start_and_result_in_order() -> None:
    from sqla_lab.lab import run_labs
    from sqla_lab.lab.results import Finding, Measurement, Verdict
    from sqla_lab.postgres import ExistingPostgres

    def make(name: str) -> object:
        async def body(ctx: LabContext) -> LabOutput:
            """A claim."""
            finding = Finding(
                key=f"{name}.k",
                claim="c",
                source="s",
                measurements=(Measurement.single("m", 1.0, "x"),),
                verdict=Verdict.CONFIRMED,
                explanation="e",
            )
            return LabOutput(findings=(finding,))

        return lab(name)(body)

    events: list[str] = []
    results = await run_labs(
        [make("a"), make("b")],  # type: ignore[list-item]
        # A workspace is used as given, never contacted by run_labs itself.
        server=Workspace(ExistingPostgres("postgresql://u:p@127.0.0.1:1/db")),
        settings=Settings(),
        on_start=lambda item, index, total: events.append(f"start {item.name} {index}/{total}"),
        on_result=lambda result: events.append(f"done {result.lab}"),
    )
    assert events == ["start a 1/2", "done a", "start b 2/2", "done b"]
    assert [r.finding(f"{r.lab}.k").verdict for r in results] == [Verdict.CONFIRMED] * 2
