"""``python -m sqla_lab`` and the ``sqla-lab`` command.

The command line takes a second or so to import. A Ctrl-C (or SIGTERM) during that time is
noted rather than raised: raised in the middle of some library's import it could be swallowed
by that library, or end in a traceback. Once the imports are done, a noted signal ends the
command with one line and exit 130, before anything was started.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def main() -> None:
    """Import the command line, then run it (unless a signal came meanwhile)."""
    if sys.argv[1:] in (["--version"], ["-V"]):
        # Answered without importing the command line (and SQLAlchemy with it).
        from importlib import metadata

        sys.stdout.write(f"sqla-lab {metadata.version('sqla-lab')}\n")
        return
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    watched = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, note) for sig in watched}
    try:
        from sqla_lab.cli import main as run_cli
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        sys.stderr.write("error: interrupted while starting; nothing was started\n")
        raise SystemExit(130)
    run_cli()


if __name__ == "__main__":
    main()
