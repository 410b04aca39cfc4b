"""``sqla-lab report``: run labs, or read saved results, and write one HTML page.

Three ways to get results, one page out:

* ``sqla-lab report [LAB...]`` runs the labs (as ``sqla-lab run`` does, with progress);
* ``sqla-lab report --from results.json [--from more.json]`` renders results saved by
  ``sqla-lab run --json``;
* ``sqla-lab report --compare old.json new.json`` renders two runs' ledgers side by side.

LAB names select labs to run, or select results from the files. The renderers
(:mod:`sqla_lab.report.html`: jinja2 and matplotlib, the ``[report]`` extra) are imported inside
the command, so no other command pays for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sqla_lab.cli._common import (
    DatabaseUrlOption,
    LanguageOption,
    PgVersionOption,
    check_output,
    handle_errors,
    load_settings,
    require_extra,
    say,
    translator,
    write_json,
    write_output,
)
from sqla_lab.cli.labs import keep_labs, measure, read_results
from sqla_lab.errors import ConfigurationError
from sqla_lab.lab import select_labs
from sqla_lab.lab.results import LabResult
from sqla_lab.lab.wording import rendered_results
from sqla_lab.labs import ALL_LABS
from sqla_lab.report.comparison import compare_results
from sqla_lab.report.console import tally
from sqla_lab.translation import N_

__all__ = ["REPORT_HELP", "report"]

REPORT_HELP = N_("Write one self-contained HTML page of findings and plots.")


def _read_runs(paths: Sequence[Path]) -> list[LabResult]:
    """Results from several files; one lab may come from only one of them."""
    results: list[LabResult] = []
    origin: dict[str, Path] = {}
    for path in paths:
        for result in read_results(path):
            if result.lab in origin:
                raise ConfigurationError(
                    N_(
                        "lab {lab!r} is in both {first} and {second}; pass each lab once, "
                        "or use --compare OLD NEW"
                    ),
                    lab=result.lab,
                    first=origin[result.lab],
                    second=path,
                )
            origin[result.lab] = path
            results.append(result)
    return results


@handle_errors
def report(
    labs: Annotated[
        list[str] | None,
        typer.Argument(
            help=N_("Labs to run, or to keep from the given files (default: all)."),
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help=N_("Write the HTML page here."))
    ] = Path("report.html"),
    from_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--from",
            help=N_(
                "Render results saved by 'sqla-lab run --json FILE' instead of running labs "
                "(repeatable)."
            ),
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        tuple[Path, Path] | None,
        typer.Option(
            "--compare",
            metavar="OLD NEW",
            help=N_(
                "Compare two saved runs: both ledgers side by side, with new/old ratios and "
                "changed/unchanged observations."
            ),
            show_default=False,
        ),
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json", help=N_("Also write the results (or the comparison) as JSON to FILE.")
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help=N_("Fewer repetitions: faster, noisier."))
    ] = False,
    database_url: DatabaseUrlOption = None,
    pg_version: PgVersionOption = None,
    lang: LanguageOption = None,
) -> None:
    """Write one self-contained HTML page of findings and plots."""
    # Imported here: matplotlib and jinja2 take most of a second to load, and every other
    # sqla-lab command would pay for it at start-up.
    require_extra("report", "jinja2", "matplotlib")
    from sqla_lab.report.html import render_comparison, render_report

    translate = translator(lang)
    names = labs or []
    if compare is not None and from_files:
        raise ConfigurationError(N_("use either --from FILE... or --compare OLD NEW, not both"))
    saved = compare is not None or bool(from_files)
    if saved and (quick or database_url or pg_version):
        raise ConfigurationError(
            N_(
                "--quick, --database-url and --pg-version run labs; "
                "they do not apply to --from or --compare"
            )
        )
    check_output(output)
    if json_file is not None:
        if str(json_file) == "-":
            raise ConfigurationError(N_("report --json needs a file name; '-' is not supported"))
        check_output(json_file)
    console = Console()

    document: dict[str, Any]
    if compare is not None:
        old_path, new_path = compare
        old = keep_labs(read_results(old_path), names, str(old_path))
        new = keep_labs(read_results(new_path), names, str(new_path))
        rendered = render_comparison(
            old, new, old_label=old_path.name, new_label=new_path.name, translate=translate
        )
        document = compare_results(old, new).to_dict(translate)
        summary = say(
            translate,
            N_("{tally}; {changes} verdicts changed"),
            tally=tally(new, translate),
            changes=document["verdict_changes"],
        )
    else:
        if from_files:
            results = keep_labs(_read_runs(from_files), names, ", ".join(map(str, from_files)))
        else:
            settings = load_settings(database_url=database_url, pg_version=pg_version)
            selected = select_labs(ALL_LABS, names)
            results = measure(selected, settings, console, quick=quick, translate=translate)
        rendered = render_report(results, translate=translate)
        document = rendered_results(results, translate, language=translate.language.value)
        summary = tally(results, translate)

    _write(output, rendered.html)
    if json_file is not None:
        write_json(json_file, document)
    warning = translate(N_("warning:"))
    for problem in rendered.problems:
        console.print(f"[yellow]{warning}[/] {problem}", highlight=False, soft_wrap=True)
    console.print(
        say(translate, N_("report written to {path}: {summary}"), path=output, summary=summary),
        highlight=False,
        soft_wrap=True,
    )


def _write(output: Path, html: str) -> None:
    try:
        write_output(output, html)
    except OSError as exc:
        raise ConfigurationError(
            N_("cannot write {path}: {why}"), path=output, why=exc.strerror
        ) from None
