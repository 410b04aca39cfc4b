"""Terminal rendering with rich: the claims ledger, each lab's detail, and progress.

First contact is the **claims ledger**: one line per claim (lab, verdict chip, the claim in a
few words, the one number that decides it) and a tally; a full run fits a screen or two. The
**detail** of a lab (every measurement with its interval, the explanation, why, what would
settle it, what it depends on, the evidence tables) is printed by ``run --verbose`` and
``sqla-lab show LAB``.

Nothing a reader needs is cut: at any width the ledger keeps each number whole (it shortens
the claim, then drops the lab column, then wraps); the detail wraps its text at spaces and
prints an evidence table too wide for the terminal as one block per row instead of cutting
its cells. Every word goes through ``translate`` (see :mod:`sqla_lab.lab.wording`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from rich.cells import cell_len, set_cell_size
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table as RichTable
from rich.text import Text

from sqla_lab.lab import Lab
from sqla_lab.lab.messages import N_, Message, Translate, as_written, render_text
from sqla_lab.lab.results import Environment, Finding, LabResult, Table, Verdict
from sqla_lab.lab.sources import source_links
from sqla_lab.lab.wording import (
    cell_text,
    claim_text,
    deciding_value,
    finding_notes,
    format_measurement,
    headline_text,
    verdict_name,
)

__all__ = [
    "VERDICT_STYLE",
    "ConsoleProgress",
    "environment_line",
    "evidence_table",
    "render_details",
    "render_labs",
    "render_ledger",
    "render_results",
    "tally",
]

VERDICT_STYLE = {
    Verdict.CONFIRMED: "bold green",
    Verdict.REFUTED: "bold red",
    Verdict.DEPENDS: "bold yellow",
    Verdict.INCONCLUSIVE: "bold magenta",
    Verdict.SKIPPED: "dim",
}
#: Chips: the verdict on its colour; the colour is the verdict, nothing else.
_CHIP_STYLE = {
    Verdict.CONFIRMED: "bold black on green",
    Verdict.REFUTED: "bold white on red",
    Verdict.DEPENDS: "bold black on yellow",
    Verdict.INCONCLUSIVE: "bold white on magenta",
    Verdict.SKIPPED: "dim",
}

_LEDGER_TITLE = N_("Claims ledger")
_TALLY = N_("{claims} claims in {labs} labs: {counts}")
_TALLY_COUNT = N_("{count} {verdict}")
_LAB_HEADER = N_("{lab}: {title}")
_DURATION = N_("{seconds} s")
_SOURCE = N_("source")
_MEASURED = N_("measured here")
_ENVIRONMENT = N_(
    "PostgreSQL {postgresql} ({where}), SQLAlchemy {sqlalchemy}, asyncpg {asyncpg}, "
    "Python {python}, {cpus} CPUs"
)
_EMBEDDED = N_("embedded")
_EXTERNAL = N_("external")
_LAB = N_("Lab")
_CLAIM_IT_TESTS = N_("Claim it tests")
_ROW = N_("row {index}")
_LAB_PROGRESS = N_("lab {index}/{total}: {lab}")

#: Narrowest claim the ledger prints before it drops the lab column, then wraps.
_MIN_CLAIM = 18


def tally(results: Sequence[LabResult], translate: Translate = as_written) -> str:
    """``42 claims in 6 labs: 20 confirmed, 5 refuted, ...`` (every verdict, zeros too)."""
    counts = Counter(f.verdict for r in results for f in r.findings)
    parts = [
        translate(_TALLY_COUNT).format(count=counts[v], verdict=verdict_name(v, translate))
        for v in Verdict
    ]
    return translate(_TALLY).format(
        claims=sum(counts.values()), labs=len(results), counts=", ".join(parts)
    )


def environment_line(env: Environment, translate: Translate = as_written) -> str:
    """Where the measurements were taken, in one line."""
    return Message(
        _ENVIRONMENT,
        {
            "postgresql": env.postgresql,
            "where": Message(_EMBEDDED if env.embedded else _EXTERNAL),
            "sqlalchemy": env.sqlalchemy,
            "asyncpg": env.asyncpg,
            "python": env.python,
            "cpus": env.cpu_count,
        },
    ).render(translate)


def _chip(verdict: Verdict, translate: Translate, width: int) -> Text:
    name = verdict_name(verdict, translate)
    return Text(" " + name + " " * (width - cell_len(name) + 1), style=_CHIP_STYLE[verdict])


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells with an ellipsis (wide characters count 2)."""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(width - 1, 0)).rstrip() + "…"


def render_ledger(
    console: Console, results: Sequence[LabResult], *, translate: Translate = as_written
) -> None:
    """One line per claim: lab, verdict chip, the claim in a few words, the deciding number;
    then the tally. Numbers are never cut: the claim gives way first, then the lab column."""
    rows = [(r.lab, f) for r in results for f in r.findings]
    console.print(Text(translate(_LEDGER_TITLE), style="bold"))
    if rows:
        numbers = {id(f): deciding_value(f, translate) or "" for _, f in rows}
        chip_width = max(cell_len(verdict_name(v, translate)) for v in Verdict)
        number_width = max(cell_len(n) for n in numbers.values())
        lab_width = max(cell_len(lab) for lab, _ in rows)
        fixed = (chip_width + 2) + 1 + 1 + number_width
        show_lab = console.width - fixed - (lab_width + 1) >= _MIN_CLAIM
        claim_width = console.width - fixed - ((lab_width + 1) if show_lab else 0)
        previous_lab = None
        for lab, finding in rows:
            if not show_lab and lab != previous_lab:
                console.print(Text(lab, style="bold"))
            previous_lab = lab
            console.print(
                _ledger_line(
                    lab if show_lab else None,
                    lab_width,
                    finding,
                    numbers[id(finding)],
                    number_width,
                    chip_width,
                    claim_width,
                    translate,
                ),
                no_wrap=claim_width >= _MIN_CLAIM,
                crop=False,
                soft_wrap=False,
            )
    console.print(Text(tally(results, translate), style="bold"))


def _ledger_line(
    lab: str | None,
    lab_width: int,
    finding: Finding,
    number: str,
    number_width: int,
    chip_width: int,
    claim_width: int,
    translate: Translate,
) -> Text:
    line = Text()
    if lab is not None:
        line.append(lab + " " * (lab_width - cell_len(lab) + 1), style="cyan")
    line.append_text(_chip(finding.verdict, translate, chip_width))
    line.append(" ")
    headline = headline_text(finding, translate)
    if claim_width >= _MIN_CLAIM:
        shown = _fit(headline, claim_width)
        line.append(shown + " " * (claim_width - cell_len(shown)))
        line.append(" " + " " * (number_width - cell_len(number)))
        line.append(number, style="bold")
        return line
    # Too narrow for even a short claim on one line: the number first, then the claim.
    line.append(number, style="bold")
    line.append("\n  " + headline)
    return line


# -- detail --------------------------------------------------------------------------------


def evidence_table(
    table: Table, translate: Translate = as_written, *, width: int | None = None
) -> RenderableType:
    """A :class:`~sqla_lab.lab.results.Table` for the terminal: a table when it fits
    ``width`` without cutting a cell, else one block per row (``column: value`` lines)."""
    title = render_text(table.title, translate)
    columns = [translate(c) for c in table.columns]
    rows = [[cell_text(cell, translate) for cell in row] for row in table.rows]
    natural = sum(
        max([cell_len(c), *(cell_len(r[i]) for r in rows)]) for i, c in enumerate(columns)
    )
    if width is None or natural + 3 * len(columns) + 1 <= width:
        rendered = RichTable(title=title, title_justify="left")
        for column in columns:
            rendered.add_column(column, overflow="fold")
        for row in rows:
            rendered.add_row(*row)
        return rendered
    parts: list[RenderableType] = [Text(title, style="italic")]
    for index, row in enumerate(rows, start=1):
        block = Text()
        block.append(translate(_ROW).format(index=index), style="dim")
        for column, value in zip(columns, row, strict=True):
            block.append(f"\n  {column}: ", style="dim")
            block.append(value)
        parts.append(block)
    return Group(*parts)


def _finding_detail(finding: Finding, translate: Translate) -> Text:
    text = Text()
    text.append_text(
        _chip(finding.verdict, translate, cell_len(verdict_name(finding.verdict, translate)))
    )
    text.append(" " + claim_text(finding, translate), style="bold")
    sources = "; ".join(
        link.label.render(translate) + (f" <{link.url}>" if link.url else "")
        for link in source_links(finding.source)
    )
    text.append(f"\n  {translate(_SOURCE)}: ", style="dim")
    text.append(sources)
    if finding.quote and finding.quote not in claim_text(finding, translate):
        text.append(f"\n  “{finding.quote}”", style="italic")
    if finding.measurements:
        text.append(f"\n  {translate(_MEASURED)}:", style="dim")
        for m in finding.measurements:
            text.append("\n    • " + format_measurement(m, translate))
    text.append("\n  " + finding.explanation_message.render(translate))
    for label, note in finding_notes(finding, translate):
        text.append(f"\n  {label}: ", style="dim")
        text.append(note)
    return text


def render_details(
    console: Console, results: Sequence[LabResult], *, translate: Translate = as_written
) -> None:
    """Each lab's detail in a panel: every finding in full, then its evidence tables."""
    inner = console.width - 4
    for result in results:
        parts: list[RenderableType] = []
        for finding in result.findings:
            parts.append(_finding_detail(finding, translate))
            parts.append(Text(""))
        parts.extend(evidence_table(t, translate, width=inner) for t in result.tables)
        seconds = Message(_DURATION, {"seconds": f"{result.duration_s:.1f}"})
        console.print(
            Panel(
                Group(*parts),
                title=Text(
                    translate(_LAB_HEADER).format(lab=result.lab, title=translate(result.title)),
                    style="bold",
                ),
                title_align="left",
                subtitle=seconds.render(translate),
            )
        )


def render_results(
    console: Console,
    results: Sequence[LabResult],
    *,
    translate: Translate = as_written,
    verbose: bool = False,
) -> None:
    """What ``run`` prints at the end: with ``verbose`` each lab's detail first; always the
    claims ledger, its tally and where the numbers were measured, last."""
    if verbose:
        render_details(console, results, translate=translate)
    render_ledger(console, results, translate=translate)
    if results:
        console.print(environment_line(results[-1].environment, translate), style="dim")


def render_labs(
    console: Console, labs: Iterable[Lab], *, translate: Translate = as_written
) -> None:
    """The ``sqla-lab list`` table."""
    table = RichTable()
    table.add_column(translate(_LAB), style="bold", no_wrap=True)
    table.add_column(translate(_CLAIM_IT_TESTS))
    for item in labs:
        table.add_row(item.name, translate(item.title))
    console.print(table)


class ConsoleProgress:
    """Adapts the labs' :class:`~sqla_lab.lab.Progress` protocol to a rich progress bar."""

    def __init__(self, console: Console, *, translate: Translate = as_written) -> None:
        self._translate = translate
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None
        self._labs: TaskID | None = None

    def __enter__(self) -> ConsoleProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bar.stop()

    def lab_started(self, lab: Lab, index: int, total: int) -> None:
        """Show which lab of how many is running, above the phase bars."""
        label = self._translate(_LAB_PROGRESS).format(index=index, total=total, lab=lab.name)
        description = f"[bold]{label}[/]"
        if self._labs is None:
            self._labs = self._bar.add_task(description, total=total, completed=index - 1)
        else:
            self._bar.update(self._labs, description=description, completed=index - 1)

    def start(self, description: str | Message, total: int) -> None:
        """Begin a phase: finish the previous bar and start a new one."""
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(render_text(description, self._translate), total=total)

    def advance(self, steps: int = 1) -> None:
        """Advance the current bar."""
        if self._task is not None:
            self._bar.advance(self._task, steps)
