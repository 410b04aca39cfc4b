"""The launcher's run-time configuration helpers: pg_hba rules, data files, reload."""

from __future__ import annotations

import pytest

from sqla_lab import EmbeddedPostgres, PostgresError, PostgresServer


@pytest.fixture
def embedded(postgres: PostgresServer) -> EmbeddedPostgres:
    if not isinstance(postgres, EmbeddedPostgres):
        pytest.skip("needs the embedded server")
    return postgres


def test_hba_rules_go_first_and_only_once(embedded: EmbeddedPostgres) -> None:
    rule = "host all sqla_lab_nobody_uses 127.0.0.1/32 reject"
    embedded.add_hba_rules(rule)
    embedded.add_hba_rules(rule)
    assert embedded.data_dir is not None
    lines = (embedded.data_dir / "pg_hba.conf").read_text().splitlines()
    assert lines[0] == rule
    assert lines.count(rule) == 1


def test_write_data_file_writes_into_the_data_directory(embedded: EmbeddedPostgres) -> None:
    path = embedded.write_data_file("sqla-lab-test.txt", b"hello", mode=0o640)
    assert path.parent == embedded.data_dir
    assert path.read_bytes() == b"hello"
    assert path.stat().st_mode & 0o777 == 0o640
    path.unlink()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("../escape", id="parent"),
        pytest.param("sub/file", id="subdirectory"),
        pytest.param("..", id="dotdot"),
    ],
)
def test_write_data_file_rejects_paths(embedded: EmbeddedPostgres, name: str) -> None:
    with pytest.raises(PostgresError, match="not a plain file name"):
        embedded.write_data_file(name, b"")


def test_helpers_need_a_running_server() -> None:
    server = EmbeddedPostgres()
    with pytest.raises(PostgresError, match="not running"):
        server.add_hba_rules("host all all 127.0.0.1/32 reject")
    with pytest.raises(PostgresError, match="not running"):
        server.reload()
    with pytest.raises(PostgresError, match="no data directory"):
        server.write_data_file("x", b"")
