"""The user's models: the ``sqla_lab_metadata`` ini option, and their tables in the test database.

One ``module:attribute`` per line, each a ``MetaData`` or anything that carries one as
``.metadata`` (a declarative base, a ``registry``)::

    [tool.pytest.ini_options]
    sqla_lab_metadata = ["app.models:Base", "app.audit:metadata"]

The lines are checked when pytest starts (:func:`parse_specs`, no import: a run that uses no
database fixture must stay cheap); the modules are imported, and the tables created, when the
first test asks for the database (:func:`load_metadata`, :func:`create_tables`). Nothing
configured: no tables.

Why our own code: pytest-postgresql and pytest-alembic take a loader callable or migrations;
an ini line naming the declarative base is what a project with SQLAlchemy models already has.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqla_lab.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL

__all__ = [
    "INI_OPTION",
    "MetadataSpec",
    "create_tables",
    "load_metadata",
    "parse_specs",
]

#: The pytest ini option.
INI_OPTION = "sqla_lab_metadata"

_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_SPEC = re.compile(rf"^(?P<module>{_DOTTED}):(?P<attribute>{_DOTTED})$")


@dataclass(frozen=True, slots=True)
class MetadataSpec:
    """One line of the ini option: where a ``MetaData`` (or a declarative base) lives."""

    module: str
    attribute: str

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"


def parse_specs(lines: Iterable[str]) -> tuple[MetadataSpec, ...]:
    """Read the ini lines (blank lines and ``#`` comments are skipped).

    Raises:
        ConfigurationError: a line is not ``module:attribute``, or a line is repeated.
    """
    specs: list[MetadataSpec] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _SPEC.match(line)
        if match is None:
            raise ConfigurationError(
                f"{INI_OPTION}: {line!r} is not 'module:attribute' "
                "(e.g. 'app.models:Base', one per line)"
            )
        spec = MetadataSpec(match["module"], match["attribute"])
        if spec in specs:
            raise ConfigurationError(f"{INI_OPTION}: {spec} is listed twice")
        specs.append(spec)
    return tuple(specs)


def _resolve(spec: MetadataSpec) -> MetaData:
    from sqlalchemy import MetaData

    try:
        value: object = importlib.import_module(spec.module)
    except Exception as exc:  # the user's module may fail in any way while importing
        raise ConfigurationError(
            f"{INI_OPTION}: cannot import {spec.module!r}: {type(exc).__name__}: {exc}"
        ) from None
    for part in spec.attribute.split("."):
        if not hasattr(value, part):
            raise ConfigurationError(f"{INI_OPTION}: {spec.module!r} has no {spec.attribute!r}")
        value = getattr(value, part)
    if isinstance(value, MetaData):
        return value
    metadata = getattr(value, "metadata", None)
    if isinstance(metadata, MetaData):
        return metadata
    raise ConfigurationError(
        f"{INI_OPTION}: {spec} is a {type(value).__name__}, not a MetaData or a declarative "
        "base (a class with .metadata)"
    )


def load_metadata(specs: Sequence[MetadataSpec]) -> list[MetaData]:
    """Import each spec's ``MetaData``.

    Raises:
        ConfigurationError: a module cannot be imported, an attribute is missing or is not
            a ``MetaData`` nor carries one, or two entries define the same table.
    """
    loaded: list[MetaData] = []
    owners: dict[str, MetadataSpec] = {}
    for spec in specs:
        metadata = _resolve(spec)
        if any(metadata is known for known in loaded):
            continue  # two names for one MetaData (a base and its .metadata)
        for key in metadata.tables:
            if key in owners:
                raise ConfigurationError(
                    f"{INI_OPTION}: table {key!r} is defined by both {owners[key]} and {spec}"
                )
            owners[key] = spec
        loaded.append(metadata)
    return loaded


def create_tables(url: URL, metadatas: Sequence[MetaData], *, schema: str | None) -> None:
    """Create every table (and the schemas tables name) in the database ``url`` leads into.

    Args:
        url: the test database (a workspace's sync URL).
        metadatas: what :func:`load_metadata` returned.
        schema: the workspace's schema when it is a schema in the user's database rather than
            a database of its own; tables in other schemas are refused there, since creating
            them would write outside the workspace.

    Raises:
        ConfigurationError: a table names a schema of its own in a schema workspace.
    """
    if not metadatas:
        return
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool
    from sqlalchemy.schema import CreateSchema

    named = sorted({t.schema for m in metadatas for t in m.tables.values() if t.schema})
    if named and schema is not None:
        raise ConfigurationError(
            f"{INI_OPTION}: tables in schema(s) {', '.join(named)} cannot be created: without "
            f"CREATEDB the test database is schema {schema!r} of the DATABASE_URL database, and "
            "sqla-lab writes nowhere else there (grant CREATEDB to test with schemas)"
        )
    # A sync engine keeps this session-scoped step free of any event loop.
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            for name in named:
                connection.execute(CreateSchema(name, if_not_exists=True))
            for metadata in metadatas:
                metadata.create_all(connection)
    finally:
        engine.dispose()
