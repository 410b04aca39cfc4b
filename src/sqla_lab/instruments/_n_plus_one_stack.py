"""Where a statement comes from: the user's own frames, across SQLAlchemy's greenlets.

The N+1 detector groups statements by *call site*: the same statement sent from the same
place again and again is a loop; the same statement sent from three different lines is three
statements. :class:`CallSiteFinder` returns the first ``depth`` frames of the user's own code
(not SQLAlchemy, not sqla-lab, not the standard library or an installed library) as a tuple
of ``(code, line)`` pairs, so that a helper called from three lines gives three call sites
while a loop around it gives one.

SQLAlchemy's asyncio layer runs the synchronous ORM in a child greenlet
(``greenlet_spawn``) while the caller's coroutine is suspended in the parent. For a plain
``await session.scalars(...)`` every frame of the child belongs to SQLAlchemy; for
``await session.run_sync(fn)`` the child holds ``fn`` and everything it calls, so the child
is walked first and only then the parent: each statement inside ``fn`` gets its own line
instead of all of them getting the ``run_sync`` line.

Why our own code: ``traceback``/``inspect.stack`` build every frame's source context and do
not cross greenlets; this walk touches each frame once and caches its verdict per code object.
"""

from __future__ import annotations

import functools
import sys
import sysconfig
from collections.abc import Iterable
from types import CodeType, FrameType

import greenlet  # type: ignore[import-untyped]  # greenlet ships no type information

__all__ = ["CallSite", "CallSiteFinder"]

#: ``(id(code), line, ...)`` of the user's frames that sent a statement, innermost first.
CallSite = tuple[int, ...]

_USER, _LIBRARY, _IGNORED = 0, 1, 2
# Beyond this many frames the walk stops: deep pytest or ASGI stacks would cost more than
# the extra frames are worth for telling call sites apart. Once the first user frame is
# found, the outer ones are looked for only this far.
_MAX_FRAMES = 80
_MAX_FRAMES_AFTER_FIRST = 24


@functools.cache  # the interpreter's paths: fixed for the process, and slow to expand
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    names = ("stdlib", "platstdlib", "purelib", "platlib")
    roots = {paths[name] for name in names if name in paths}
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(sorted(root.rstrip("/") + "/" for root in roots if root))


class CallSiteFinder:
    """Find the user's frames that sent the current statement (see the module docstring).

    Args:
        ignored_modules: module prefixes that are never the caller (SQLAlchemy, sqla-lab...).
        depth: how many of the user's frames make a call site.
    """

    def __init__(self, ignored_modules: Iterable[str], *, depth: int = 3) -> None:
        self._ignored = tuple(ignored_modules)
        self._library = _library_roots()
        self._depth = depth
        # id(code) -> verdict; the code objects are kept alive so that ids stay theirs.
        self._verdicts: dict[int, int] = {}
        self._codes: dict[int, CodeType] = {}

    def location(self, site: CallSite) -> str | None:
        """``path:line`` of the innermost frame of ``site``, or ``None`` for an empty one."""
        if not site:
            return None
        return f"{self._codes[site[0]].co_filename}:{site[1]}"

    def _classify(self, code: CodeType, module: str) -> int:
        if any(module == m or module.startswith(m + ".") for m in self._ignored):
            verdict = _IGNORED
        elif code.co_filename.startswith(self._library) or code.co_filename.startswith("<"):
            verdict = _LIBRARY
        else:
            verdict = _USER
        self._verdicts[id(code)] = verdict
        self._codes[id(code)] = code
        return verdict

    def _spawned_by_library(self, parent: greenlet.greenlet) -> bool:
        """Whether the current greenlet runs only library code: SQLAlchemy's own
        ``greenlet_spawn(session.execute, ...)``, not ``run_sync(fn)`` of the user's ``fn``.

        Told by who awaits ``greenlet_spawn`` (the parent's frame above it): an ignored
        module other than ``run_sync`` means the spawned function is SQLAlchemy's own. This
        reads two frames instead of walking the ~25 frames of the ORM in the child.
        """
        spawn = parent.gr_frame
        if spawn is None or spawn.f_code.co_name != "greenlet_spawn":
            return False
        caller = spawn.f_back
        if caller is None:
            return False
        code = caller.f_code
        if code.co_name == "run_sync":
            return False
        verdict = self._verdicts.get(id(code))
        if verdict is None:
            verdict = self._classify(code, str(caller.f_globals.get("__name__", "")))
        return verdict == _IGNORED

    def find(self) -> CallSite:
        """The call site of the statement being sent now (innermost user frame first)."""
        return self._walk(self._depth * 2)

    def find_innermost(self) -> CallSite:
        """Only the innermost user frame: a few frames' walk instead of ``depth`` frames'."""
        return self._walk(2)

    def _walk(self, depth: int) -> CallSite:
        verdicts = self._verdicts
        found: list[int] = []
        fallback: CallSite = ()
        current: greenlet.greenlet | None = greenlet.getcurrent()
        frame: FrameType | None = sys._getframe(1)
        parent = current.parent if current is not None else None
        if parent is not None and self._spawned_by_library(parent):
            # The child greenlet runs a SQLAlchemy function (session.execute...): none of its
            # frames is the user's, so start in the coroutine that awaits it.
            current, frame = parent, parent.gr_frame
        budget = _MAX_FRAMES
        while True:
            while frame is not None and budget:
                budget -= 1
                code = frame.f_code
                verdict = verdicts.get(id(code))
                if verdict is None:
                    verdict = self._classify(code, str(frame.f_globals.get("__name__", "")))
                if verdict == _USER:
                    if not found:
                        budget = min(budget, _MAX_FRAMES_AFTER_FIRST)
                    found.append(id(code))
                    found.append(frame.f_lineno)
                    if len(found) == depth:
                        return tuple(found)
                elif verdict == _LIBRARY and not fallback:
                    fallback = (id(code), frame.f_lineno)
                frame = frame.f_back
            # The greenlet's stack is done: the caller's coroutine waits in the parent.
            current = current.parent if current is not None else None
            if current is None or not budget:
                break
            frame = current.gr_frame
        return tuple(found) if found else fallback
