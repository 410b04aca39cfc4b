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

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sqla_lab.cli._common import (
    DatabaseUrlOption,
    PgVersionOption,
    check_output,
    handle_errors,
    load_settings,
    require_extra,
    write_json,
    write_output,
)
from sqla_lab.cli.labs import measure
from sqla_lab.errors import ConfigurationError
from sqla_lab.lab import select_labs
from sqla_lab.lab.results import LabResult, Verdict, dump_results, load_results
from sqla_lab.labs import ALL_LABS
from sqla_lab.report.comparison import compare_results

__all__ = ["read_results", "report"]


def read_results(path: Path) -> list[LabResult]:
    """Load a results file written by ``sqla-lab run --json``.

    Raises:
        ConfigurationError: the file is missing, unreadable, not JSON, or not a results
            document; the message is one line naming the file.
    """
    try:
        document: Any = json.loads(path.expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read results from {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"cannot read results from {path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise ConfigurationError(
            f"{path} is not a sqla-lab results document (nested too deeply)"
        ) from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path} is not a sqla-lab results document")
    try:
        return load_results(document)
    except KeyError as exc:
        raise ConfigurationError(f"{path} is not a valid results document: no {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigurationError(f"{path} is not a valid results document: {exc}") from None
    except RecursionError:
        raise ConfigurationError(
            f"{path} is not a valid results document (nested too deeply)"
        ) from None


def _read_runs(paths: Sequence[Path]) -> list[LabResult]:
    """Results from several files; one lab may come from only one of them."""
    results: list[LabResult] = []
    origin: dict[str, Path] = {}
    for path in paths:
        for result in read_results(path):
            if result.lab in origin:
                raise ConfigurationError(
                    f"lab {result.lab!r} is in both {origin[result.lab]} and {path}; "
                    "pass each lab once, or use --compare OLD NEW"
                )
            origin[result.lab] = path
            results.append(result)
    return results


def _keep(results: Sequence[LabResult], names: Sequence[str], where: str) -> list[LabResult]:
    """The results of labs ``names`` (all when empty), in the order named."""
    if not names:
        return list(results)
    by_lab = {r.lab: r for r in results}
    unknown = [n for n in names if n not in by_lab]
    if unknown:
        raise ConfigurationError(
            f"no results for lab {', '.join(map(repr, unknown))} in {where}; "
            f"it has: {', '.join(by_lab) or 'nothing'}"
        )
    return [by_lab[n] for n in dict.fromkeys(names)]


def _summary(results: Sequence[LabResult]) -> str:
    verdicts = Counter(f.verdict for r in results for f in r.findings)
    counts = ", ".join(f"{verdicts[v]} {v.value}" for v in Verdict)
    return f"{len(results)} labs, {sum(verdicts.values())} claims ({counts})"


@handle_errors
def report(
    labs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Labs to run, or to keep from the given files (default: all).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Write the HTML page here.")
    ] = Path("report.html"),
    from_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--from",
            help="Render results saved by 'sqla-lab run --json FILE' instead of running labs "
            "(repeatable).",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        tuple[Path, Path] | None,
        typer.Option(
            "--compare",
            metavar="OLD NEW",
            help="Compare two saved runs: both ledgers side by side, with new/old ratios.",
            show_default=False,
        ),
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the results (or the comparison) as JSON to FILE."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Fewer repetitions: faster, noisier.")
    ] = False,
    database_url: DatabaseUrlOption = None,
    pg_version: PgVersionOption = None,
) -> None:
    """Write one self-contained HTML page of findings and plots."""
    # Imported here: matplotlib and jinja2 take most of a second to load, and every other
    # sqla-lab command would pay for it at start-up.
    require_extra("report", "jinja2", "matplotlib")
    from sqla_lab.report.html import render_comparison, render_report

    names = labs or []
    if compare is not None and from_files:
        raise ConfigurationError("use either --from FILE... or --compare OLD NEW, not both")
    saved = compare is not None or bool(from_files)
    if saved and (quick or database_url or pg_version):
        raise ConfigurationError(
            "--quick, --database-url and --pg-version run labs; "
            "they do not apply to --from or --compare"
        )
    check_output(output)
    if json_file is not None:
        if str(json_file) == "-":
            raise ConfigurationError("report --json needs a file name; '-' is not supported")
        check_output(json_file)
    console = Console()

    document: dict[str, Any]
    if compare is not None:
        old_path, new_path = compare
        old = _keep(read_results(old_path), names, str(old_path))
        new = _keep(read_results(new_path), names, str(new_path))
        rendered = render_comparison(old, new, old_label=old_path.name, new_label=new_path.name)
        document = compare_results(old, new).to_dict()
        summary = f"{_summary(new)}; {document['verdict_changes']} verdicts changed"
    else:
        if from_files:
            results = _keep(_read_runs(from_files), names, ", ".join(map(str, from_files)))
        else:
            settings = load_settings(database_url=database_url, pg_version=pg_version)
            selected = select_labs(ALL_LABS, names)
            results = measure(selected, settings, console, quick=quick)
        rendered = render_report(results)
        document = dump_results(results)
        summary = _summary(results)

    _write(output, rendered.html)
    if json_file is not None:
        write_json(json_file, document)
    for problem in rendered.problems:
        console.print(f"[yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)
    console.print(f"report written to {output}: {summary}", highlight=False, soft_wrap=True)


def _write(output: Path, html: str) -> None:
    try:
        write_output(output, html)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {output}: {exc.strerror}") from None
