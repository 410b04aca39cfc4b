"""The sessions and states labs, run once through the CLI: every measured behaviour, exactly."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sqla_lab import PostgresServer
from sqla_lab.cli import app
from sqla_lab.lab import LabResult, Verdict
from sqla_lab.lab.results import load_results
from sqla_lab.labs.sessions import COLLISIONS
from sqla_lab.labs.states import STATE_FLAGS

T, F = True, False


@pytest.fixture(scope="module")
def cli_run(postgres: PostgresServer) -> tuple[dict[str, LabResult], str]:
    """``sqla-lab run sessions states --quick --json -`` on the test server."""
    result = CliRunner().invoke(
        app,
        [
            *("run", "sessions", "states", "--quick", "--verbose", "--json", "-"),
            *("--database-url", postgres.dsn),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    results = load_results(json.loads(result.stdout))
    return {r.lab: r for r in results}, result.stderr


@pytest.fixture(scope="module")
def sessions(cli_run: tuple[dict[str, LabResult], str]) -> LabResult:
    return cli_run[0]["sessions"]


@pytest.fixture(scope="module")
def states(cli_run: tuple[dict[str, LabResult], str]) -> LabResult:
    return cli_run[0]["states"]


def test_cli_prints_findings_and_the_state_table(cli_run: tuple[dict[str, LabResult], str]) -> None:
    _, printed = cli_run
    for title in (
        "State flags after each step of the seed's journey",
        "Two tasks on one shared AsyncSession",
        "persistent_to_detached",
        "sessions: scoped_session is per thread",
        "states: An ORM object goes",
    ):
        assert title in printed


def test_json_round_trips(states: LabResult, sessions: LabResult) -> None:
    for result in (states, sessions):
        assert LabResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


# -- states -------------------------------------------------------------------------------

JOURNEY = {
    # step: (transient, pending, persistent, deleted, detached, expired, events)
    True: [
        ("new", T, F, F, F, F, F, ""),
        ("add", F, T, F, F, F, F, "transient_to_pending"),
        ("flush", F, F, T, F, F, F, "pending_to_persistent"),
        ("commit", F, F, T, F, F, T, ""),
        ("refresh", F, F, T, F, F, F, ""),
        ("close", F, F, F, F, T, F, "persistent_to_detached"),
    ],
    False: [
        ("new", T, F, F, F, F, F, ""),
        ("add", F, T, F, F, F, F, "transient_to_pending"),
        ("flush", F, F, T, F, F, F, "pending_to_persistent"),
        ("commit", F, F, T, F, F, F, ""),
        ("refresh", F, F, T, F, F, F, ""),
        ("close", F, F, F, F, T, F, "persistent_to_detached"),
    ],
}


@pytest.mark.parametrize(
    ("expire_on_commit", "index"),
    [
        pytest.param(expire, index, id=f"{'expire' if expire else 'keep'}-{row[0]}")
        for expire, rows in JOURNEY.items()
        for index, row in enumerate(rows)
    ],
)
def test_every_cell_of_the_state_table(
    states: LabResult, expire_on_commit: bool, index: int
) -> None:
    table = states.table("states.state-table")
    assert table.columns == ("expire_on_commit", "step", *STATE_FLAGS, "events")
    rows = [row for row in table.rows if row[0] is expire_on_commit]
    assert len(rows) == 6
    assert rows[index] == (expire_on_commit, *JOURNEY[expire_on_commit][index])


def test_state_table_is_drawn_as_a_grid(states: LabResult) -> None:
    (grid,) = [c for c in states.charts if c.key == "states.state-grid"]
    assert (grid.kind, grid.table) == ("grid", "states.state-table")


@pytest.mark.parametrize(
    ("key", "verdict"),
    [
        pytest.param("journey", Verdict.CONFIRMED, id="journey"),
        pytest.param("commit-expired", Verdict.REFUTED, id="commit-is-no-state"),
        pytest.param("refresh-detached", Verdict.REFUTED, id="refresh-does-not-detach"),
        pytest.param("operations", Verdict.DEPENDS, id="delete-depends-on-expire"),
        pytest.param("expired-access", Verdict.CONFIRMED, id="missing-greenlet"),
        pytest.param("detached-lazy-load", Verdict.CONFIRMED, id="detached-instance"),
        pytest.param("access-fixes", Verdict.CONFIRMED, id="fixes"),
        pytest.param("stale-read", Verdict.CONFIRMED, id="stale-read"),
        pytest.param("flush-commit", Verdict.CONFIRMED, id="flush-sends-commit-applies"),
        pytest.param("isolation-levels", Verdict.REFUTED, id="no-dirty-reads-on-postgresql"),
    ],
)
def test_states_verdicts(states: LabResult, key: str, verdict: Verdict) -> None:
    assert states.finding(key).verdict is verdict


def test_operations_table(states: LabResult) -> None:
    (dependency,) = states.finding("operations").depends_on
    assert (dependency.on, dependency.name) == ("setting", "expire_on_commit")
    table = states.table("states.operations")
    flags = {
        (row[0], row[1]): tuple(f for f in STATE_FLAGS if row[table.columns.index(f)])
        for row in table.rows
    }
    assert flags == {
        ("delete, expire_on_commit=True", "delete"): ("persistent",),
        ("delete, expire_on_commit=True", "flush"): ("deleted",),
        ("delete, expire_on_commit=True", "commit"): ("detached",),
        ("delete, expire_on_commit=True", "close"): ("detached",),
        ("delete, expire_on_commit=True", "session collected"): ("detached",),
        ("delete, expire_on_commit=False", "delete"): ("persistent",),
        ("delete, expire_on_commit=False", "flush"): ("deleted",),
        ("delete, expire_on_commit=False", "commit"): ("deleted",),
        ("delete, expire_on_commit=False", "close"): ("deleted",),
        ("delete, expire_on_commit=False", "session collected"): ("detached",),
        ("expunge", "expunge"): ("detached",),
        ("merge (given object)", "merge"): ("detached",),
        ("merge (returned copy)", "merge"): ("persistent",),
        ("make_transient", "make_transient"): ("transient",),
        ("expunge (pending)", "expunge"): ("transient",),
    }
    events = {(row[0], row[1]): row[-1] for row in table.rows}
    assert events[("delete, expire_on_commit=True", "commit")] == "deleted_to_detached"
    assert events[("delete, expire_on_commit=False", "commit")] == ""


def test_async_access_outcomes(states: LabResult) -> None:
    outcomes = {row[0]: row[2] for row in states.table("states.async-access").rows}
    assert outcomes == {
        "expired after commit": "sqlalchemy.exc.MissingGreenlet",
        "fix: await session.refresh(user)": "ok",
        "fix: await user.awaitable_attrs.name": "ok",
        "persistent, posts not loaded": "sqlalchemy.exc.MissingGreenlet",
        "fix: await user.awaitable_attrs.posts": "ok",
        "fix: expire_on_commit=False": "ok",
        "detached, posts not loaded": "sqlalchemy.orm.exc.DetachedInstanceError",
        "fix: selectinload, then detached": "ok",
    }


def test_stale_read(states: LabResult) -> None:
    values = {m.name: m.value for m in states.finding("stale-read").measurements}
    assert values == {
        "stale after the other session committed": 1.0,
        "stale after re-selecting the row": 1.0,
        "fresh after refresh": 1.0,
    }


# -- sessions -----------------------------------------------------------------------------


def _values(result: LabResult, key: str) -> dict[str, float]:
    return {m.name: m.value for m in result.finding(key).measurements}


def test_scoped_session_shares_one_session_across_tasks(sessions: LabResult) -> None:
    finding = sessions.finding("scoped-session-shared")
    values = _values(sessions, "scoped-session-shared")
    assert values["tasks"] == 4
    assert values["distinct sessions"] == 1
    assert values["distinct backend pids"] == 1
    assert values["distinct deprecation warnings"] == 1
    assert (
        "SADeprecationWarning: Using `scoped_session` with asyncio is deprecated and will raise "
        "an error in a future version. Please use `async_scoped_session` instead."
    ) in str(finding.explanation)
    assert "RuntimeWarning: coroutine 'AsyncSession.close' was never awaited" in str(
        finding.explanation
    )
    assert finding.verdict is Verdict.CONFIRMED


ANOTHER_OPERATION = (
    "sqlalchemy.exc.InterfaceError: (sqlalchemy.dialects.postgresql.asyncpg.InterfaceError) "
    "cannot perform operation: another operation is in progress"
)
ILLEGAL = "sqlalchemy.exc.IllegalStateChangeError: Method '{}()' can't be called here; method "
CLOSED = "sqlalchemy.exc.ResourceClosedError: This transaction is closed"
CANCELED = (
    "sqlalchemy.exc.DBAPIError: (sqlalchemy.dialects.postgresql.asyncpg.Error) "
    "canceling statement due to user request"
)


@pytest.mark.parametrize(
    ("first", "second", "second_outcome", "second_done", "first_outcome", "orphaned"),
    [
        pytest.param("execute", "execute", "ok", False, "ok", 0, id="execute+execute"),
        pytest.param(
            "execute", "rollback", ANOTHER_OPERATION, True, CANCELED, 0, id="execute+rollback"
        ),
        pytest.param("execute", "commit", ANOTHER_OPERATION, True, "ok", 0, id="execute+commit"),
        pytest.param("execute", "close", ANOTHER_OPERATION, True, "ok", 1, id="execute+close"),
        pytest.param("commit", "execute", ANOTHER_OPERATION, False, "ok", 0, id="commit+execute"),
        pytest.param(
            "commit", "rollback", ANOTHER_OPERATION, True, CLOSED, 0, id="commit+rollback"
        ),
        pytest.param(
            "commit", "commit", ILLEGAL.format("commit"), True, CLOSED, 0, id="commit+commit"
        ),
        pytest.param(
            "commit", "close", ILLEGAL.format("close"), True, CLOSED, 0, id="commit+close"
        ),
    ],
)
def test_collisions_on_a_shared_session(
    sessions: LabResult,
    first: str,
    second: str,
    second_outcome: str,
    second_done: bool,
    first_outcome: str,
    orphaned: int,
) -> None:
    rows = {(row[0], row[1]): row for row in sessions.table("collisions").rows}
    row = rows[(first, second)]
    assert str(row[2]).startswith(second_outcome)
    assert row[3] is second_done
    assert str(row[4]).startswith(first_outcome)
    assert row[5] == "ok"
    assert row[6] == orphaned


PROVISIONING = (
    "sqlalchemy.exc.InvalidRequestError: This session is provisioning a new connection; "
    "concurrent operations are not permitted"
)
CLOSE_WHILE_OPENING = (
    "sqlalchemy.exc.IllegalStateChangeError: Method 'close()' can't be called here; method "
    "'_connection_for_bind()' is already in progress"
)


@pytest.mark.parametrize(
    ("first", "second", "second_outcome"),
    [
        pytest.param(
            first,
            second,
            CLOSE_WHILE_OPENING if second == "close" else PROVISIONING,
            id=f"{first}+{second}",
        )
        for first, second in COLLISIONS
    ],
)
def test_collisions_while_the_connection_is_being_opened(
    sessions: LabResult, first: str, second: str, second_outcome: str
) -> None:
    rows = {(row[0], row[1]): row for row in sessions.table("collisions-opening").rows}
    _, _, outcome, failed, trials, _, finished_while_waiting = rows[(first, second)]
    assert str(outcome).startswith(second_outcome)
    assert (failed, trials, finished_while_waiting) == (3, 3, 3)


def test_collision_verdict_covers_both_windows(sessions: LabResult) -> None:
    finding = sessions.finding("shared-session-collides")
    assert finding.verdict is Verdict.DEPENDS
    assert _values(sessions, "shared-session-collides") == {
        "pairs with an error, connection held": 7,
        "pairs tried, connection held": 8,
        "connections orphaned": 1,
        "pairs with an error, connection opening": 8,
        "pairs tried, connection opening": 8,
        "second tasks failed, connection opening (all trials)": 24,
        "second tasks tried, connection opening": 24,
    }
    assert [(d.on, d.name) for d in finding.depends_on] == [
        ("state", "whether the session already holds a connection"),
        ("state", "which operations collide"),
    ]
    assert str(finding.depends_on[0].detail) == (
        "connection held: 7 of 8 pairs raised; connection being opened: 8 of 8 raised"
    )


def test_await_puts_the_task_at_the_back_of_the_queue(sessions: LabResult) -> None:
    order = sessions.table("await-order")
    assert [f"{row[1]}{row[2]}" for row in order.rows] == [
        "A0", "B0", "C0", "A1", "B1", "C1", "A2", "B2", "C2",
    ]  # fmt: skip
    finding = sessions.finding("await-order")
    assert _values(sessions, "await-order") == {
        "awaits with other tasks ready": 6,
        "resumed before the other ready tasks": 0,
        "resumed after all other ready tasks": 6,
    }
    assert finding.verdict is Verdict.REFUTED
    assert finding.versions.keys() == {"python"}


@pytest.mark.parametrize(
    ("key", "who"),
    [
        pytest.param("scoped-session-threads", "threads", id="threads-sync-engine"),
        pytest.param("async-scoped-per-task", "tasks", id="async-scoped-session"),
        pytest.param("session-per-request", "requests", id="session-per-request"),
    ],
)
def test_one_session_and_one_backend_each(sessions: LabResult, key: str, who: str) -> None:
    values = _values(sessions, key)
    assert values[who] == 4
    assert values["distinct sessions"] == 4
    assert values["distinct backend pids"] == 4


def test_threads_keep_their_session(sessions: LabResult) -> None:
    assert (
        _values(sessions, "scoped-session-threads")["same session on a second call in a thread"]
        == 1
    )


def test_async_scoped_registry_is_empty_after_remove(sessions: LabResult) -> None:
    assert _values(sessions, "async-scoped-per-task")["sessions left in the registry"] == 0


def test_forgotten_remove_keeps_one_session_per_task(sessions: LabResult) -> None:
    values = _values(sessions, "forgotten-remove")
    assert values["tasks"] == 500
    assert values["sessions kept without remove()"] == 500
    assert values["sessions kept with remove()"] == 0
    assert values["memory retained without remove()"] > values["memory retained with remove()"]
    assert sessions.finding("forgotten-remove").verdict is Verdict.CONFIRMED


def test_costs_are_reported_in_microseconds(sessions: LabResult) -> None:
    finding = sessions.finding("session-per-request")
    units = {m.name: m.unit for m in finding.measurements}
    assert units["async_sessionmaker per request"] == "µs"
    assert units["async_sessionmaker per request, await session.close()"] == "µs"
    assert units["async_scoped_session + remove()"] == "µs"
    assert finding.measurement("async_sessionmaker per request").samples
    ratio = finding.measurement("scoped / per-request, with SELECT 1")
    assert ratio.interval is not None
    assert ratio.interval.n == 120


# -- states: flush, commit and isolation ---------------------------------------------------


def test_flush_sends_and_commit_applies(states: LabResult) -> None:
    assert _values(states, "flush-commit") == {
        "statements sent by flush()": 1,
        "statements sent by commit()": 0,
        "row seen by the session after flush": 1,
        "row seen by another connection after flush": 0,
        "row seen by another connection after commit": 1,
        "flushed row kept after rollback": 0,
    }
    assert str(states.finding("flush-commit").explanation).startswith(
        "flush() sent INSERT; afterwards the session saw the row: yes, another connection saw "
        "it: no. commit() sent COMMIT"
    )


def test_isolation_levels_on_postgresql(states: LabResult) -> None:
    table = states.table("isolation")
    assert [row[:5] for row in table.rows] == [
        ("READ UNCOMMITTED", "read uncommitted", False, True, True),
        ("READ COMMITTED", "read committed", False, True, True),
        ("REPEATABLE READ", "repeatable read", False, False, False),
        ("SERIALIZABLE", "serializable", False, False, False),
    ]
    assert str(table.rows[0][5]).startswith("sqlalchemy.exc.ArgumentError")
    assert [row[5] for row in table.rows[1:]] == ["ok", "ok", "ok"]
    values = _values(states, "isolation-levels")
    assert values["dirty read under READ UNCOMMITTED"] == 0.0
    assert values["READ UNCOMMITTED behaves as READ COMMITTED"] == 1.0
    assert states.finding("isolation-levels").versions.keys() == {"postgresql"}
