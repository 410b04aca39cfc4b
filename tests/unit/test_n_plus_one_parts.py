"""The N+1 detector's parts that need no database: statement roles, parameters, call sites."""

from __future__ import annotations

from typing import Any

import greenlet  # type: ignore[import-untyped]  # greenlet ships no type information
import pytest
from sqlalchemy import bindparam, delete, func, insert, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import joinedload, selectinload

from sqla_lab.demo import PostEntity, UserEntity
from sqla_lab.instruments._n_plus_one_stack import CallSiteFinder
from sqla_lab.instruments._n_plus_one_statements import describe, fold_parameters

DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]  # untyped constructor


def _describe(statement: Any) -> Any:
    compiled = statement.compile(dialect=DIALECT)
    return describe(compiled, compiled.string)


@pytest.mark.parametrize(
    ("statement", "roles"),
    [
        pytest.param(select(UserEntity).where(UserEntity.id == 1), {"id_1": "key"}, id="eq-key"),
        pytest.param(
            select(UserEntity).order_by(UserEntity.id).limit(5).offset(10),
            {"param_1": "paging", "param_2": "paging"},
            id="limit-offset",
        ),
        pytest.param(
            select(UserEntity).where(UserEntity.id > 3).limit(5),
            {"id_1": "paging", "param_1": "paging"},
            id="keyset",
        ),
        pytest.param(
            select(UserEntity).where(tuple_(UserEntity.id, UserEntity.name) > (1, "a")),
            {"param_1": "paging", "param_2": "paging"},
            id="keyset-tuple",
        ),
        pytest.param(
            select(UserEntity).where(UserEntity.id.in_([1, 2])), {"id_1": "in"}, id="in-list"
        ),
        pytest.param(
            select(func.count()).select_from(PostEntity).where(PostEntity.user_id == 7),
            {"user_id_1": "key"},
            id="count-per-key",
        ),
    ],
)
def test_bind_roles(statement: Any, roles: dict[str, str]) -> None:
    info = _describe(statement)
    assert info.kind == "select"
    assert dict(info.roles) == roles


def test_select_of_an_entity_is_labelled_by_it_and_lists_joined_eager_loads() -> None:
    info = _describe(select(PostEntity).options(joinedload(PostEntity.user)))
    assert (info.kind, info.label) == ("select", "PostEntity")
    assert [prop.key for prop in info.joined] == ["user"]
    assert _describe(select(UserEntity).options(selectinload(UserEntity.posts))).joined == ()


def test_text_roles_and_kinds() -> None:
    paged = text("SELECT * FROM t WHERE id > :last ORDER BY id LIMIT :size")
    info = describe(paged.compile(dialect=DIALECT), "")
    assert info.kind == "select"
    assert dict(info.roles) == {"last": "paging", "size": "paging"}
    expanding = text("SELECT * FROM t WHERE id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    assert dict(describe(expanding.compile(dialect=DIALECT), "").roles) == {"ids": "in"}
    assert describe(None, "SAVEPOINT sa_savepoint_1").kind == "other"
    assert describe(None, "  select 1").kind == "select"
    assert describe(None, 'DELETE FROM "posts" WHERE id = $1').tables == frozenset({"posts"})


def test_writes_are_not_selects() -> None:
    assert _describe(insert(PostEntity).values(title="t", user_id=1)).kind == "other"
    deleted = _describe(delete(PostEntity).where(PostEntity.id == 1))
    assert (deleted.kind, deleted.tables) == ("delete", frozenset({"posts"}))


def test_fold_parameters_puts_expanded_lists_back_together() -> None:
    params = {"id_1_1": 1, "id_1_2": 2, "id_1_3": 3, "name_1": "x"}
    assert fold_parameters(params, frozenset({"id_1"})) == {"id_1": (1, 2, 3), "name_1": "x"}
    assert fold_parameters({"a": 1}, frozenset()) == {"a": 1}


def _site_here(finder: CallSiteFinder) -> Any:
    return finder.find()


def test_call_sites_tell_lines_apart_and_a_loop_is_one_site() -> None:
    finder = CallSiteFinder(("sqlalchemy", "sqla_lab"))
    first = _site_here(finder)
    second = _site_here(finder)
    assert first != second  # two lines of this test
    looped = {_site_here(finder) for _ in range(3)}
    assert len(looped) == 1
    location = finder.location(first)
    assert location is not None
    assert location.startswith(f"{__file__}:")
    assert finder.location(()) is None


def test_call_site_inside_a_child_greenlet_is_the_functions_own_line() -> None:
    finder = CallSiteFinder(("sqlalchemy", "sqla_lab"))

    def work() -> list[Any]:
        first = _site_here(finder)
        second = _site_here(finder)
        return [first, second]

    sites = greenlet.greenlet(work).switch()
    assert sites[0] != sites[1]
