"""Terminal rendering with rich: findings tables, evidence tables, and a progress adapter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console, Group
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
from sqla_lab.lab.messages import Translate, format_value
from sqla_lab.lab.results import Finding, LabResult, Measurement, Table, Verdict
from sqla_lab.lab.stats import Estimate, describe_estimate

__all__ = [
    "VERDICT_STYLE",
    "ConsoleProgress",
    "evidence_table",
    "finding_notes",
    "format_measurement",
    "measured_value",
    "render_labs",
    "render_results",
]

VERDICT_STYLE = {
    Verdict.CONFIRMED: "bold green",
    Verdict.REFUTED: "bold red",
    Verdict.DEPENDS: "bold yellow",
    Verdict.INCONCLUSIVE: "bold magenta",
    Verdict.SKIPPED: "dim",
}


def _same(text: str) -> str:
    return text


def measured_value(m: Measurement, translate: Translate = _same) -> str:
    """A measurement's value in words: with its interval when it is a comparison, and a
    difference without a sign ("0.2 ms less", "no measurable difference (within ±x)")."""
    if m.interval is None and m.kind == "value":
        return format_value(m.value, m.unit)
    return describe_estimate(Estimate.of(m), m.unit, kind=m.kind).render(translate)


def format_measurement(m: Measurement, translate: Translate = _same) -> str:
    """``name: value unit (p95 ...)``, or the value with its interval for a comparison."""
    text = f"{m.name}: {measured_value(m, translate)}"
    if m.p95 is not None and m.samples and m.interval is None:
        text += f" (p95 {format_value(m.p95, m.unit)}, n={len(m.samples)})"
    return text


def finding_notes(finding: Finding, translate: Translate = _same) -> list[tuple[str, str]]:
    """The labelled lines under a finding's explanation: why, what would settle it, what it
    depends on and the versions it was measured with."""
    notes: list[tuple[str, str]] = []
    reason, settle = finding.reason_message, finding.settle_message
    if reason is not None:
        notes.append(("why", reason.render(translate)))
    if settle is not None:
        notes.append(("would settle it", settle.render(translate)))
    for dependency in finding.depends_on:
        detail = dependency.message.render(translate)
        notes.append(
            ("depends on", f"{dependency.on} {dependency.name}" + (f": {detail}" if detail else ""))
        )
    if finding.versions:
        notes.append(
            ("versions", ", ".join(f"{name} {v}" for name, v in sorted(finding.versions.items())))
        )
    return notes


def _verdict_text(verdict: Verdict) -> Text:
    return Text(verdict.value, style=VERDICT_STYLE[verdict])


def _findings_table(findings: Sequence[Finding], translate: Translate) -> RichTable:
    table = RichTable(show_lines=True, expand=True)
    table.add_column("Claim (source)", ratio=3)
    table.add_column("Measured here", ratio=4)
    table.add_column("Verdict", no_wrap=True, min_width=9)
    for finding in findings:
        claim = Text(finding.claim)
        claim.append(f"\n{finding.source}", style="dim")
        measured = "\n".join(format_measurement(m, translate) for m in finding.measurements)
        table.add_row(claim, measured, _verdict_text(finding.verdict))
    return table


def evidence_table(table: Table) -> RichTable:
    """A :class:`~sqla_lab.lab.results.Table` as a rich table."""
    rendered = RichTable(title=table.title, title_justify="left")
    for column in table.columns:
        rendered.add_column(column)
    for row in table.rows:
        rendered.add_row(*("" if cell is None else _cell(cell) for cell in row))
    return rendered


def _cell(cell: object) -> str:
    if isinstance(cell, float):
        return format_value(cell, "")
    return str(cell)


def render_results(
    console: Console, results: Sequence[LabResult], *, translate: Translate = _same
) -> None:
    """Print each lab's findings, explanations and evidence tables.

    ``translate`` (``gettext``'s ``gettext``, say) is applied to every message template:
    explanations, reasons, what would settle a verdict, what it depends on.
    """
    for result in results:
        parts: list[RichTable | Text] = [_findings_table(result.findings, translate)]
        for finding in result.findings:
            line = Text.assemble(
                ("• ", "dim"), (finding.verdict.value, VERDICT_STYLE[finding.verdict]), " "
            )
            line.append(finding.explanation_message.render(translate))
            for label, note in finding_notes(finding, translate):
                line.append(f"\n    {label}: ", style="dim")
                line.append(note)
            parts.append(line)
        parts.extend(evidence_table(t) for t in result.tables)
        console.print(
            Panel(
                Group(*parts),
                title=f"[bold]{result.lab}[/]: {result.title}",
                subtitle=f"{result.duration_s:.1f} s",
            )
        )
    if results:
        env = results[-1].environment
        console.print(
            f"[dim]PostgreSQL {env.postgresql} ({'embedded' if env.embedded else 'external'}), "
            f"SQLAlchemy {env.sqlalchemy}, asyncpg {env.asyncpg}, Python {env.python}, "
            f"{env.cpu_count} CPUs[/]"
        )


def render_labs(console: Console, labs: Iterable[Lab]) -> None:
    """The ``sqla-lab list`` table."""
    table = RichTable()
    table.add_column("Lab", style="bold")
    table.add_column("Claim it tests")
    for item in labs:
        table.add_row(item.name, item.title)
    console.print(table)


class ConsoleProgress:
    """Adapts the labs' :class:`~sqla_lab.lab.Progress` protocol to a rich progress bar."""

    def __init__(self, console: Console) -> None:
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
        description = f"[bold]lab {index}/{total}: {lab.name}[/]"
        if self._labs is None:
            self._labs = self._bar.add_task(description, total=total, completed=index - 1)
        else:
            self._bar.update(self._labs, description=description, completed=index - 1)

    def start(self, description: str, total: int) -> None:
        """Begin a phase: finish the previous bar and start a new one."""
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(description, total=total)

    def advance(self, steps: int = 1) -> None:
        """Advance the current bar."""
        if self._task is not None:
            self._bar.advance(self._task, steps)
