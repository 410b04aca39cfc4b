"""Renderers: the same :class:`~sqla_lab.lab.LabResult` objects, drawn for people.

:mod:`.console` (rich, in the core install), :mod:`.html` and :mod:`.plots` (jinja2 and
matplotlib: the ``[report]`` extra), :mod:`.comparison` (two runs side by side).
"""

from __future__ import annotations

__all__: list[str] = []
