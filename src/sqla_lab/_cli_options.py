"""Command-line options shared by the commands of :mod:`sqla_lab.cli` and its sub-modules.

In their own module so that command modules registered on the main app (such as
:mod:`sqla_lab.service.cli`) can use them without importing :mod:`sqla_lab.cli` back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["DatabaseUrlOption", "JsonFileOption", "PgVersionOption"]

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Use this existing PostgreSQL server (default: $DATABASE_URL, else embedded).",
        show_default=False,
    ),
]
PgVersionOption = Annotated[
    str | None,
    typer.Option("--pg-version", help="Bundled PostgreSQL major version: 18 or 16."),
]
JsonFileOption = Annotated[
    Path | None,
    typer.Option("--json", help="Also write the results as JSON to FILE ('-' for stdout)."),
]
