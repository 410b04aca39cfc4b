"""``python -m sqla_lab.service``: serve the demo app on a database that is already prepared.

This is the child process :class:`~sqla_lab.service.server.ServiceProcess` starts. Its parent
created (and seeded) a workspace and passes its URL in ``DATABASE_URL``; unlike
``sqla-lab serve``, this entry point creates and drops nothing: it only serves.
"""

from __future__ import annotations

import argparse
import sys

from sqla_lab.errors import SqlaLabError
from sqla_lab.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Parse the options, then run uvicorn until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m sqla_lab.service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int)
    parser.add_argument("--max-overflow", type=int)
    parser.add_argument("--pool-timeout", type=float)
    parser.add_argument("--access-log", action="store_true")
    options = parser.parse_args(argv)
    overrides = {
        "pool_size": options.pool_size,
        "max_overflow": options.max_overflow,
        "pool_timeout": options.pool_timeout,
    }
    try:
        settings = Settings().model_copy(
            update={k: v for k, v in overrides.items() if v is not None}
        )
        from sqla_lab.service.server import serve_forever

        serve_forever(settings, host=options.host, port=options.port, access_log=options.access_log)
    except SqlaLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
