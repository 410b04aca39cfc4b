"""The instruments users take into their own projects, on one event core.

Each is a context manager (``with`` or ``async with``) that attaches SQLAlchemy event
listeners on enter and always removes them (:mod:`._core`):

* :class:`QueryRecorder`: every statement a target sends, with rows, timing and caller;
* :class:`StatementCounter`: how many statements each session sent (cheap, for services);
* :class:`NPlusOneDetector`: N+1 loads and eager loads nobody read;
* :class:`PoolMonitor`: pool events and checkout waits;
* :class:`StateTracer`: ORM object state transitions;
* :class:`FaultProxy`: a TCP proxy that delays, black-holes or resets the database link.
"""

from __future__ import annotations

from sqla_lab.instruments._core import InstrumentState
from sqla_lab.instruments.counter import StatementCounter, Tally
from sqla_lab.instruments.faults import FaultMode, FaultProxy
from sqla_lab.instruments.n_plus_one import LoadFinding, NPlusOneDetector, NPlusOneWarning
from sqla_lab.instruments.pool import CheckoutWait, PoolMonitor, PoolSnapshot
from sqla_lab.instruments.recorder import QueryLog, QueryRecorder, RecordedQuery
from sqla_lab.instruments.states import StateStep, StateTimeline, StateTracer

__all__ = [
    "CheckoutWait",
    "FaultMode",
    "FaultProxy",
    "InstrumentState",
    "LoadFinding",
    "NPlusOneDetector",
    "NPlusOneWarning",
    "PoolMonitor",
    "PoolSnapshot",
    "QueryLog",
    "QueryRecorder",
    "RecordedQuery",
    "StateStep",
    "StateTimeline",
    "StateTracer",
    "StatementCounter",
    "Tally",
]
