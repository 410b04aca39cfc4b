"""Renderers: the same :class:`~sqla_lab.results.LabResult` objects, drawn for people."""
