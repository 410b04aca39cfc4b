"""The instrument fixtures: ``query_recorder``, ``assert_num_queries``, ``assert_max_queries``
and ``no_n_plus_one``.

All are sync fixtures whose blocks work as ``with`` and as ``async with`` (entering and leaving
an instrument never awaits), so they need no event loop and no pytest-asyncio. By default
they watch "everything on the test database during the block": every engine connected to the
test database, existing or created in the block, whichever task or thread sends the statement
(a ``QueryRecorder``/``NPlusOneDetector`` whose target is ``db_url``). An application under
test with its own engine and session dependency, called through httpx's ``ASGITransport`` or
served by a thread, is covered. The savepoints ``db_session``/``db_sync_session`` use to
isolate a test are never counted: a ``commit()`` in the test costs what it costs in
production, no statement.

``target=`` narrows a block to an engine, a connection, a session or a session factory (sync
or async), or points it at another database's ``URL``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import pytest

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from sqla_lab.instruments.n_plus_one import AllowEntry, DetectorTarget, NPlusOneDetector
    from sqla_lab.instruments.recorder import QueryRecorder, RecorderTarget

__all__ = [
    "AssertQueries",
    "NoNPlusOne",
    "NoNPlusOneBlock",
    "QueryCountBlock",
    "assert_max_queries",
    "assert_num_queries",
    "no_n_plus_one",
    "query_recorder",
]


_Instrument = TypeVar("_Instrument")


class _Block(Generic[_Instrument]):
    """A block usable as ``with`` and ``async with`` (an instrument never awaits)."""

    def __enter__(self) -> _Instrument:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> _Instrument:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        self.__exit__(exc_type, exc, tb)


class _TestDatabase:
    """The test database's URL, asked of pytest only when a block watches it."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request

    def url(self) -> URL:
        url: URL = self._request.getfixturevalue("db_url")
        return url


class QueryCountBlock(_Block["QueryRecorder"]):
    """A block that fails unless it sent ``expected`` statements (exactly, or at most).

    ``with`` and ``async with`` yield the :class:`~sqla_lab.QueryRecorder`. On leaving a block
    that raised nothing, a wrong count raises :class:`~sqla_lab.errors.QueryBudgetExceeded`
    (too many) or :class:`~sqla_lab.errors.ExpectationFailed` (too few, exact form), whose
    message lists every statement with its calling line.
    """

    def __init__(
        self,
        database: _TestDatabase,
        expected: int,
        target: RecorderTarget | None,
        *,
        exact: bool,
    ) -> None:
        if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
            raise TypeError(f"the expected number of statements must be an int >= 0: {expected!r}")
        self.expected = expected
        self.exact = exact
        self._database = database
        self._target = target
        self._recorder: QueryRecorder | None = None

    def __enter__(self) -> QueryRecorder:
        from sqla_lab.instruments.recorder import QueryRecorder

        target = self._target if self._target is not None else self._database.url()
        self._recorder = QueryRecorder(target)
        return self._recorder.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        recorder = self._recorder
        assert recorder is not None, "the block was never entered"
        recorder.__exit__(exc_type, exc, tb)
        if exc_type is not None:
            return
        from sqla_lab.errors import ExpectationFailed, QueryBudgetExceeded

        count = recorder.count
        where = "on the test database" if self._target is None else "through the target"
        if count > self.expected:
            qualifier = "exactly" if self.exact else "at most"
            raise QueryBudgetExceeded(
                f"expected {qualifier} {self.expected} statement(s) {where}, the block sent "
                f"{count}\n{recorder.log.format()}"
            )
        if self.exact and count < self.expected:
            raise ExpectationFailed(
                f"expected exactly {self.expected} statement(s) {where}, the block sent "
                f"{count}\n{recorder.log.format()}"
            )


class NoNPlusOneBlock(_Block["NPlusOneDetector"]):
    """A block that fails when an N+1 happened in it, or an eager load went unread.

    ``with`` and ``async with`` yield the :class:`~sqla_lab.NPlusOneDetector` (collecting, so
    the application under test runs undisturbed, its error handlers included); on leaving a
    block that raised nothing, any finding raises :class:`~sqla_lab.errors.NPlusOneDetected`
    with one line per finding: what, where, and the fix.
    """

    def __init__(
        self,
        database: _TestDatabase,
        target: DetectorTarget,
        allow: Iterable[AllowEntry],
    ) -> None:
        self._database = database
        self._target = target
        self._allow = tuple(allow)
        self._detector: NPlusOneDetector | None = None

    def __enter__(self) -> NPlusOneDetector:
        from sqla_lab.instruments.n_plus_one import NPlusOneDetector

        target = self._target if self._target is not None else self._database.url()
        self._detector = NPlusOneDetector(target, mode="collect", allow=self._allow)
        return self._detector.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        detector = self._detector
        assert detector is not None, "the block was never entered"
        detector.__exit__(exc_type, exc, tb)
        if exc_type is not None or not detector.findings:
            return
        from sqla_lab.errors import NPlusOneDetected

        lines = "\n".join(f"  {finding.message}" for finding in detector.findings)
        raise NPlusOneDetected(f"{len(detector.findings)} finding(s) in the block:\n{lines}")


class AssertQueries(Protocol):
    """What ``assert_num_queries`` and ``assert_max_queries`` are."""

    def __call__(self, expected: int, target: RecorderTarget | None = None) -> QueryCountBlock: ...


class NoNPlusOne(Protocol):
    """What ``no_n_plus_one`` is."""

    def __call__(
        self, target: DetectorTarget = None, *, allow: Iterable[AllowEntry] = ()
    ) -> NoNPlusOneBlock: ...


@pytest.fixture
def query_recorder(db_url: URL) -> Iterator[QueryRecorder]:
    """A ``QueryRecorder`` of every statement on the test database from here to the test's end.

    It starts when the fixture is set up: ask for it after the fixtures whose statements it
    should not see.
    """
    from sqla_lab.instruments.recorder import QueryRecorder

    with QueryRecorder(db_url) as recorder:
        yield recorder


def _count_blocks(request: pytest.FixtureRequest, *, exact: bool) -> AssertQueries:
    database = _TestDatabase(request)

    def block(expected: int, target: RecorderTarget | None = None) -> QueryCountBlock:
        return QueryCountBlock(database, expected, target, exact=exact)

    return block


@pytest.fixture
def assert_num_queries(request: pytest.FixtureRequest) -> AssertQueries:
    """``with assert_num_queries(n, target=None):`` fails unless the block sends exactly n."""
    return _count_blocks(request, exact=True)


@pytest.fixture
def assert_max_queries(request: pytest.FixtureRequest) -> AssertQueries:
    """``with assert_max_queries(n, target=None):`` fails when the block sends more than n."""
    return _count_blocks(request, exact=False)


@pytest.fixture
def no_n_plus_one(request: pytest.FixtureRequest) -> NoNPlusOne:
    """``with no_n_plus_one(target=None, allow=...):`` fails on an N+1 or an unread eager load.

    ``allow`` takes models or relationships never reported (``"Author"``,
    ``"Author.books"``, ``Author``, ``Author.books``).
    """
    database = _TestDatabase(request)

    def block(
        target: DetectorTarget = None, *, allow: Iterable[AllowEntry] = ()
    ) -> NoNPlusOneBlock:
        return NoNPlusOneBlock(database, target, allow)

    return block
