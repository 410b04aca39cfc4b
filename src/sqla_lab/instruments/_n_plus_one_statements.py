"""What a statement is, for the N+1 detector, read once per compiled statement.

The detector listens where every statement passes, the engine's ``after_cursor_execute``
(ORM statements, Core ``select()`` and ``text()`` on a ``Connection`` alike), and needs to know
of each one: is it a top-level SELECT, a relationship load, a column refresh, a DELETE; which
entity, relationship or table it is about; which relationships it joins eagerly; and what its
bound parameters *do* (an equality key, an ``IN`` list, a LIMIT/OFFSET or a range bound).
SQLAlchemy caches compiled statements by cache key, so :func:`describe` runs once per
statement shape and its :class:`StatementInfo` is kept for the block; each execution only
reads its parameters (:func:`fold_parameters`).

Why our own code: SQLAlchemy exposes the pieces (``compiled.bind_names``, the ORM compile
state's loader path and ``eager_row_processor`` entries, ``compile_options``) but no summary
of them; the peers reason over SQL text instead, which cannot tell a relationship from a table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Mapper, RelationshipProperty
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, TextClause

__all__ = [
    "BindRole",
    "StatementInfo",
    "StatementKind",
    "describe",
    "fold_parameters",
    "relationship_label",
]

#: ``select``: a top-level SELECT; ``relationship``: a relationship load (lazy or eager);
#: ``column``: a refresh of an object's deferred or expired columns; ``delete``: a DELETE;
#: ``other``: anything else (INSERT, UPDATE, DDL, SAVEPOINT...), never an N+1 here.
StatementKind = Literal["select", "relationship", "column", "delete", "other"]
#: ``key``: compared for equality (or anything unknown); ``in``: an expanding ``IN`` list;
#: ``paging``: LIMIT/OFFSET or a range bound (``>``, ``<``...), what paging loops change.
BindRole = Literal["key", "in", "paging"]

_RANGE = frozenset({operators.gt, operators.ge, operators.lt, operators.le})
_IN = frozenset({operators.in_op, operators.not_in_op})
_SELECT_TEXT = re.compile(r"^\s*(\(\s*)*(select|with|values|table)\b", re.IGNORECASE)
_DELETE_TEXT = re.compile(r"^\s*delete\s+from\s+([\w.\"]+)", re.IGNORECASE)
# In text(): ":name" after a comparison or LIMIT/OFFSET (SQLAlchemy renders them as $n later).
_TEXT_PAGING = re.compile(r"(?:[<>]=?|\blimit|\boffset)\s*:(\w+)", re.IGNORECASE)
_TEXT_BIND = re.compile(r"(?<![:\w]):(\w+)")


@dataclass(frozen=True, slots=True)
class StatementInfo:
    """One compiled statement, as the detector sees it (see the module docstring)."""

    kind: StatementKind
    label: str
    mapper: Mapper[Any] | None = None
    prop: RelationshipProperty[Any] | None = None
    roles: Mapping[str, BindRole] = field(default_factory=dict)
    expanding: frozenset[str] = frozenset()
    joined: tuple[RelationshipProperty[Any], ...] = ()
    only_load_props: frozenset[str] = frozenset()
    tables: frozenset[str] = frozenset()


def relationship_label(prop: RelationshipProperty[Any]) -> str:
    """``Model.relationship``."""
    return f"{prop.parent.class_.__name__}.{prop.key}"


def describe(compiled: Any, sql: str) -> StatementInfo:
    """Describe ``compiled`` (``None`` for ``exec_driver_sql``), whose SQL is ``sql``."""
    if compiled is None:
        return _describe_text(sql, None)
    statement = compiled.statement
    if isinstance(statement, TextClause):
        return _describe_text(statement.text, statement)
    if getattr(compiled, "isdelete", False):
        table = getattr(statement, "table", None)
        name = getattr(table, "name", None)
        return StatementInfo(kind="delete", label=str(name), tables=frozenset({str(name)}))
    compile_state = getattr(compiled, "compile_state", None)
    if not getattr(statement, "is_select", False) or compile_state is None:
        return StatementInfo(kind="other", label="")
    core = getattr(compile_state, "statement", None)
    if core is None:
        core = statement
    roles, expanding = _bind_roles(compiled, (statement, core))
    options = getattr(compile_state, "compile_options", None)
    mapper = _primary_mapper(compile_state)
    joined = _joined_eager(compile_state)
    label = mapper.class_.__name__ if mapper is not None else _table_label(core)
    path = getattr(options, "_current_path", None)
    if options is not None and getattr(options, "_for_refresh_state", False):
        return StatementInfo(
            kind="column",
            label=label,
            mapper=mapper,
            roles=roles,
            expanding=expanding,
            joined=joined,
            only_load_props=frozenset(getattr(options, "_only_load_props", None) or ()),
        )
    if path is not None and len(path) and isinstance(path[-1], RelationshipProperty):
        prop = path[-1]
        return StatementInfo(
            kind="relationship",
            label=relationship_label(prop),
            mapper=mapper,
            prop=prop,
            roles=roles,
            expanding=expanding,
            joined=joined,
        )
    return StatementInfo(
        kind="select", label=label, mapper=mapper, roles=roles, expanding=expanding, joined=joined
    )


def _describe_text(text: str, clause: TextClause | None) -> StatementInfo:
    deleted = _DELETE_TEXT.match(text)
    if deleted:
        name = deleted.group(1).strip('"').rsplit(".", 1)[-1]
        return StatementInfo(kind="delete", label=name, tables=frozenset({name}))
    if not _SELECT_TEXT.match(text):
        return StatementInfo(kind="other", label="")
    roles: dict[str, BindRole] = dict.fromkeys(_TEXT_BIND.findall(text), "key")
    roles.update(dict.fromkeys(_TEXT_PAGING.findall(text), "paging"))
    expanding = frozenset(
        name
        for name, bind in (clause._bindparams if clause is not None else {}).items()
        if bind.expanding
    )
    roles.update(dict.fromkeys(expanding, "in"))
    label = "text: " + " ".join(text.split())[:60]
    return StatementInfo(kind="select", label=label, roles=roles, expanding=expanding)


def _bind_roles(
    compiled: Any, statements: tuple[Any, ...]
) -> tuple[dict[str, BindRole], frozenset[str]]:
    names: Mapping[BindParameter[Any], str] = compiled.bind_names
    roles: dict[str, BindRole] = {}
    expanding: set[str] = set()
    seen: set[int] = set()
    for statement in statements:
        if id(statement) in seen:
            continue
        seen.add(id(statement))
        for element in visitors.iterate(statement):
            if isinstance(element, BinaryExpression):
                role: BindRole
                if element.operator in _RANGE:
                    role = "paging"
                elif element.operator in _IN:
                    role = "in"
                else:
                    role = "key"
                for side in (element.left, element.right):
                    for bind in _binds_in(side):
                        name = names.get(bind)
                        if name is not None and name not in roles:
                            roles[name] = "in" if bind.expanding else role
            elif isinstance(element, BindParameter):
                name = names.get(element)
                if name is not None and element.expanding:
                    expanding.add(name)
                    roles[name] = "in"
        for clause in (
            getattr(statement, "_limit_clause", None),
            getattr(statement, "_offset_clause", None),
            getattr(statement, "_fetch_clause", None),
        ):
            for bind in _binds_in(clause):
                name = names.get(bind)
                if name is not None:
                    roles[name] = "paging"
    # Binds nowhere in a comparison (a function argument, a CASE...) count as keys.
    for name in names.values():
        roles.setdefault(name, "key")
    return roles, frozenset(expanding)


def _binds_in(clause: Any) -> list[BindParameter[Any]]:
    if clause is None:
        return []
    if isinstance(clause, BindParameter):
        return [clause]
    if isinstance(clause, BinaryExpression):
        return []  # its own operator decides its binds' role
    return [e for e in visitors.iterate(clause) if isinstance(e, BindParameter)]


def _primary_mapper(compile_state: Any) -> Mapper[Any] | None:
    for entity in getattr(compile_state, "_entities", ()):
        mapper = getattr(entity, "mapper", None)
        if isinstance(mapper, Mapper):
            return mapper
    return None


def _joined_eager(compile_state: Any) -> tuple[RelationshipProperty[Any], ...]:
    attributes = getattr(compile_state, "attributes", None)
    if not attributes:
        return ()
    found: list[RelationshipProperty[Any]] = []
    for key in attributes:
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == "eager_row_processor"):
            continue
        if ("user_defined_eager_row_processor", key[1]) in attributes:
            continue  # contains_eager(): the JOIN is the user's own, for filtering
        path = key[1]
        if path and isinstance(path[-1], RelationshipProperty) and path[-1] not in found:
            found.append(path[-1])
    return tuple(found)


def _table_label(statement: Any) -> str:
    try:
        froms = statement.get_final_froms()
    except AttributeError:
        return "statement"
    names = [str(getattr(f, "name", None) or getattr(f, "description", "?")) for f in froms]
    return ", ".join(names) or "statement"


def fold_parameters(params: Mapping[str, Any], expanding: frozenset[str]) -> dict[str, Any]:
    """Parameters with each expanded ``IN`` list (``id_1_1``, ``id_1_2``...) folded back into
    one tuple under its name (``id_1``), so executions of one statement compare name by name."""
    if not expanding:
        return dict(params)
    folded: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {name: [] for name in expanding}
    for name, value in params.items():
        base, _, suffix = name.rpartition("_")
        if base in lists and suffix.isdigit():
            lists[base].append(value)
        else:
            folded[name] = value
    for name, values in lists.items():
        folded[name] = tuple(values)
    return folded
