"""placeholder."""

from sqla_lab.lab import LabContext, LabOutput, lab


@lab("sessions")
async def sessions_lab(ctx: LabContext) -> LabOutput:
    """placeholder."""
    return LabOutput(findings=())
