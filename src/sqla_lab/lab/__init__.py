"""The lab framework, one import for lab authors: ``from sqla_lab.lab import ...``.

A lab is a plain ``async def`` that measures and returns frozen findings::

    @lab("connect")
    async def connect_lab(ctx: LabContext) -> LabOutput:
        \"\"\"Reusing a pooled connection is about 20x faster than opening one.\"\"\"
        ...
        return LabOutput(findings=(finding,))

:mod:`~sqla_lab.lab.context` is what a lab gets and gives, :mod:`~sqla_lab.lab.registry` turns
functions into labs and runs them, :mod:`~sqla_lab.lab.results` holds the frozen results and
their JSON form, :mod:`~sqla_lab.lab.measure` samples timings, :mod:`~sqla_lab.lab.outcome`
records what an operation raised.
"""

from __future__ import annotations

from sqla_lab._stats import percentile
from sqla_lab.lab.context import LabContext, LabFunction, LabOutput, NullProgress, Progress
from sqla_lab.lab.measure import sample_interleaved, timed
from sqla_lab.lab.outcome import OK, Outcome, attempt, describe, exception_name, warning_names
from sqla_lab.lab.registry import Lab, lab, run_labs, select_labs
from sqla_lab.lab.results import (
    RESULTS_SCHEMA_VERSION,
    Cell,
    Chart,
    Environment,
    Finding,
    LabResult,
    Measurement,
    Table,
    Verdict,
    dump_results,
    judge_ratio,
    load_results,
)

__all__ = [
    "OK",
    "RESULTS_SCHEMA_VERSION",
    "Cell",
    "Chart",
    "Environment",
    "Finding",
    "Lab",
    "LabContext",
    "LabFunction",
    "LabOutput",
    "LabResult",
    "Measurement",
    "NullProgress",
    "Outcome",
    "Progress",
    "Table",
    "Verdict",
    "attempt",
    "describe",
    "dump_results",
    "exception_name",
    "judge_ratio",
    "lab",
    "load_results",
    "percentile",
    "run_labs",
    "sample_interleaved",
    "select_labs",
    "timed",
    "warning_names",
]
