"""``python -m sqla_lab`` and the ``sqla-lab`` command.

The command line is imported here, inside ``main``, so that a Ctrl-C during the second or so
of imports ends with one line and exit 130 instead of a ``KeyboardInterrupt`` traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Import the command line and run it."""
    try:
        from sqla_lab.cli import main as run_cli
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted while starting; nothing was started\n")
        raise SystemExit(130) from None
    run_cli()


if __name__ == "__main__":
    main()
