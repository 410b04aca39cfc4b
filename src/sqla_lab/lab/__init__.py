"""The lab framework, one import for lab authors: ``from sqla_lab.lab import ...``.

A lab is a plain ``async def`` that measures and returns frozen findings::

    @lab("connect")
    async def connect_lab(ctx: LabContext) -> LabOutput:
        \"\"\"Reusing a pooled connection is about 20x faster than opening one.\"\"\"
        ...
        return LabOutput(findings=(finding,))

:mod:`~sqla_lab.lab.context` is what a lab gets and gives, :mod:`~sqla_lab.lab.registry` turns
functions into labs and runs them, :mod:`~sqla_lab.lab.results` holds the frozen results and
their JSON form, :mod:`~sqla_lab.lab.measure` samples timings, :mod:`~sqla_lab.lab.stats`
turns samples into estimates with intervals and judges claims on them,
:mod:`~sqla_lab.lab.messages` builds explanations as translatable messages,
:mod:`~sqla_lab.lab.outcome` records what an operation raised.
"""

from __future__ import annotations

from sqla_lab._stats import percentile
from sqla_lab.lab.context import LabContext, LabFunction, LabOutput, NullProgress, Progress
from sqla_lab.lab.measure import sample_interleaved, timed
from sqla_lab.lab.messages import N_, Message, format_value
from sqla_lab.lab.outcome import OK, Outcome, attempt, describe, exception_name, warning_names
from sqla_lab.lab.registry import Lab, lab, run_labs, select_labs
from sqla_lab.lab.results import (
    DEFAULT_VERSIONS,
    RESULTS_SCHEMA_VERSION,
    Cell,
    Chart,
    Dependency,
    Environment,
    Finding,
    Interval,
    LabResult,
    Measurement,
    Table,
    Verdict,
    dump_results,
    judge_ratio,
    load_results,
)
from sqla_lab.lab.stats import (
    Band,
    Estimate,
    Judgement,
    Scale,
    combine,
    decided,
    describe_estimate,
    exact,
    fitted_slope,
    judge,
    paired,
    paired_difference,
    paired_ratio,
    ratio_claim_scale,
    slope_ratio,
    threshold_scale,
    unpaired_difference,
    unpaired_ratio,
)

__all__ = [
    "DEFAULT_VERSIONS",
    "N_",
    "OK",
    "RESULTS_SCHEMA_VERSION",
    "Band",
    "Cell",
    "Chart",
    "Dependency",
    "Environment",
    "Estimate",
    "Finding",
    "Interval",
    "Judgement",
    "Lab",
    "LabContext",
    "LabFunction",
    "LabOutput",
    "LabResult",
    "Measurement",
    "Message",
    "NullProgress",
    "Outcome",
    "Progress",
    "Scale",
    "Table",
    "Verdict",
    "attempt",
    "combine",
    "decided",
    "describe",
    "describe_estimate",
    "dump_results",
    "exact",
    "exception_name",
    "fitted_slope",
    "format_value",
    "judge",
    "judge_ratio",
    "lab",
    "load_results",
    "paired",
    "paired_difference",
    "paired_ratio",
    "percentile",
    "ratio_claim_scale",
    "run_labs",
    "sample_interleaved",
    "select_labs",
    "slope_ratio",
    "threshold_scale",
    "timed",
    "unpaired_difference",
    "unpaired_ratio",
    "warning_names",
]
