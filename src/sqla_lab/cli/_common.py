"""What every command shares: options, error handling, settings, servers, output files, and
the language everything is printed in.

The language is read here and nowhere else: ``--lang ko|en`` on every command, else
``SQLA_LAB_LANG``, else the locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``: Korean
when it names Korean), else English. Commands pass the resulting
:class:`~sqla_lab.translation.Translation` down to the renderers; nothing below reads it from
the environment.

Errors the user can fix print one line on stderr and exit non-zero: 2 for bad input or an
unusable database, 130 for Ctrl-C. Output files follow one rule (:func:`check_output`,
:func:`write_output`): ``-`` is stdout; a regular file is replaced atomically; a FIFO or a
character device (``/dev/stdout``) is written through, never replaced; a symlink is followed;
anything else is refused before any work starts.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import importlib.util
import json
import os
import signal
import stat
import sys
import tempfile
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import pydantic
import typer
from rich.console import Console

from sqla_lab.errors import ConfigurationError, SqlaLabError
from sqla_lab.postgres import PostgresServer, server_from_url
from sqla_lab.settings import Settings
from sqla_lab.translation import N_, Language, Translation, language_of_locale, translation

__all__ = [
    "LOCALE_VARIABLES",
    "UNWIND_SIGNALS",
    "DatabaseUrlOption",
    "JsonFileOption",
    "KeepDatabaseOption",
    "LanguageOption",
    "PgVersion",
    "PgVersionOption",
    "StoppedByCtrlC",
    "check_output",
    "emit_json",
    "fail",
    "handle_errors",
    "language_from_environment",
    "load_settings",
    "require_extra",
    "resolve_language",
    "run_async",
    "say",
    "server_for",
    "stderr",
    "translator",
    "write_json",
    "write_output",
    "writes_through",
]

#: Where the locale is read from, first non-empty wins (gettext's order).
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


class PgVersion(enum.StrEnum):
    """The PostgreSQL majors sqla-lab ships."""

    V18 = "18"
    V16 = "16"


DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help=N_(
            "Use this existing PostgreSQL server (default: $DATABASE_URL, else embedded). "
            "sqla-lab works only in a database or schema it creates there."
        ),
        show_default=False,
    ),
]
PgVersionOption = Annotated[
    PgVersion | None,
    typer.Option(
        "--pg-version",
        help=N_("Bundled PostgreSQL major version (default: $SQLA_LAB_PG_VERSION, else 18)."),
        show_default=False,
    ),
]
JsonFileOption = Annotated[
    Path | None,
    typer.Option(
        "--json",
        metavar="FILE",
        help=N_("Also write the results as JSON to FILE ('-' for stdout)."),
        show_default=False,
    ),
]
KeepDatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--keep-database",
        metavar="NAME",
        help=N_(
            "Keep the data in database NAME (created by sqla-lab, or an empty one) instead "
            "of a temporary database dropped at the end."
        ),
        show_default=False,
    ),
]
LanguageOption = Annotated[
    Language | None,
    typer.Option(
        "--lang",
        help=N_(
            "Language of everything printed: ko or en (default: $SQLA_LAB_LANG, else the "
            "locale, else English)."
        ),
        case_sensitive=False,
        show_default=False,
    ),
]

#: Signals that unwind like Ctrl-C, so that context managers stop what we started.
UNWIND_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class StoppedByCtrlC(Exception):
    """Raised by a command whose normal end is Ctrl-C (``serve``, ``db up``): one plain
    line, exit 130, no red ``error:``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def stderr() -> Console:
    """A console on stderr."""
    return Console(stderr=True)


def language_from_environment(environ: Mapping[str, str] | None = None) -> Language:
    """``SQLA_LAB_LANG``, else the locale's language when sqla-lab speaks it, else English.

    Raises:
        ConfigurationError: ``SQLA_LAB_LANG`` names a language sqla-lab does not speak.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("SQLA_LAB_LANG", "").strip()
    if explicit:
        try:
            return Language(explicit.lower())
        except ValueError:
            raise ConfigurationError(
                N_("SQLA_LAB_LANG={value!r}: sqla-lab speaks {languages}"),
                value=explicit,
                languages=", ".join(language.value for language in Language),
            ) from None
    for name in LOCALE_VARIABLES:
        value = env.get(name, "")
        if value:
            # LANGUAGE is a priority list ("ko:en"); its first entry decides.
            return language_of_locale(value.split(":")[0]) or Language.EN
    return Language.EN


def resolve_language(option: Language | str | None = None) -> Language:
    """The language a command speaks: its ``--lang`` (``sqla-lab --lang ko run`` fills the
    command's own through click's defaults), else :func:`language_from_environment`."""
    if option is not None:
        return Language(option)
    return language_from_environment()


def translator(option: Language | str | None = None) -> Translation:
    """The catalog of :func:`resolve_language`."""
    return translation(resolve_language(option))


def say(translate: Callable[[str], str], template: str, **values: object) -> str:
    """``template`` in the command's language, filled with ``values`` (never translated)."""
    text = translate(template)
    return text.format(**values) if values else text


_ERROR = N_("error:")
_INTERRUPTED = N_("interrupted; everything sqla-lab started has been stopped")


def fail(message: str, code: int, translate: Callable[[str], str] | None = None) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    prefix = (translate or str)(_ERROR)
    stderr().print(f"[bold red]{prefix}[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _quiet_translator(kwargs: Mapping[str, Any]) -> Translation:
    """The command's catalog for its error messages; English if even that cannot be read."""
    try:
        return translator(kwargs.get("lang"))
    except (SqlaLabError, ValueError):
        return translation(Language.EN)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures into one line on stderr (in the command's language) and an
    exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SqlaLabError as exc:
            translate = _quiet_translator(kwargs)
            fail(exc.render(translate), exc.exit_code, translate)
        except StoppedByCtrlC as stopped:
            translate = _quiet_translator(kwargs)
            stderr().print(translate(str(stopped)), highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            translate = _quiet_translator(kwargs)
            fail(translate(_INTERRUPTED), 130, translate)

    return wrapper


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` where SIGTERM/SIGHUP cancel the work at an ``await``, as Ctrl-C does.

    Raising from a signal handler at an arbitrary bytecode could leave a half-built driver
    object behind (asyncpg then complains at exit); cancellation unwinds cleanly instead.
    """

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        previous = {sig: signal.getsignal(sig) for sig in UNWIND_SIGNALS}
        for sig in UNWIND_SIGNALS:
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await coroutine
        finally:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


def load_settings(**overrides: Any) -> Settings:
    """:class:`Settings` from the environment, with the command line's options on top.

    Raises:
        ConfigurationError: an environment variable holds an invalid value.
    """
    try:
        base = Settings()
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigurationError(
            N_("invalid setting {where}: {problem}"), where=where, problem=first["msg"]
        ) from None
    updates = {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in overrides.items()}
    updates = {k: v for k, v in updates.items() if v is not None}
    return base.model_copy(update=updates) if updates else base


def server_for(settings: Settings, **embedded_options: Any) -> PostgresServer:
    """The server the settings name: ``DATABASE_URL``'s, or a new embedded one."""
    return server_from_url(
        settings.database_url,
        version=settings.pg_version,
        bin_dir=settings.pg_bin,
        **embedded_options,
    )


def require_extra(extra: str, *modules: str) -> None:
    """Fail with one line naming the extra to install when one of ``modules`` is missing.

    Raises:
        ConfigurationError: a module is not installed.
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            N_("this command needs {modules}: pip install 'sqla-lab[{extra}]'"),
            modules=", ".join(missing),
            extra=extra,
        )


def emit_json(document: object, *, indent: int | None = 2) -> None:
    """Write ``document`` as JSON on stdout."""
    sys.stdout.write(json.dumps(document, indent=indent, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# -- output files ------------------------------------------------------------------------


def _resolved(path: Path) -> Path:
    """``path`` with ``~`` expanded and symlinks followed (the file a write really reaches)."""
    return Path(os.path.realpath(path.expanduser()))


def writes_through(path: Path) -> bool:
    """Whether ``path`` is a FIFO or character device: written to, never replaced."""
    try:
        mode = _resolved(path).stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


_CANNOT_WRITE = N_("cannot write results to {path}: {why}")


def check_output(path: Path) -> None:
    """Fail before any work if ``path`` could not be written at the end.

    Raises:
        ConfigurationError: a directory, a socket or block device, a missing or read-only
            parent directory, or a file that refuses writing.
    """
    if str(path) == "-":
        return
    target = _resolved(path)
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ConfigurationError(_CANNOT_WRITE, path=path, why=exc.strerror) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(N_("cannot write results to {path}: it is a directory"), path=path)
    if info is not None and (stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)):
        if not os.access(target, os.W_OK):
            raise ConfigurationError(
                N_("cannot write results to {path}: permission denied"), path=path
            )
        return
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ConfigurationError(
            N_("cannot write results to {path}: not a regular file"), path=path
        )
    parent = target.parent
    if not parent.is_dir():
        raise ConfigurationError(
            N_("cannot write results to {path}: {parent} does not exist"),
            path=path,
            parent=parent,
        )
    try:
        if info is not None:
            # Opening for appending writes nothing, yet fails where a write would (procfs,
            # read-only mounts, permissions), which os.access does not tell root.
            with target.open("ab"):
                pass
        probe_fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
        os.close(probe_fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigurationError(
            _CANNOT_WRITE, path=path, why=exc.strerror or "not writable"
        ) from None


def write_output(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` by the rules above (atomically where it is a file).

    Raises:
        ConfigurationError: the write failed (one line, no traceback).
    """
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = _resolved(path)
    try:
        if writes_through(target):
            with target.open("w", encoding="utf-8") as handle:
                handle.write(text)
            return
        if target.exists() and not target.is_file():
            raise ConfigurationError(N_("cannot write {path}: not a regular file"), path=path)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            # mkstemp creates the file 0600; give it the mode a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_name, 0o666 & ~umask)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigurationError(
            N_("cannot write {path}: {why}"), path=path, why=exc.strerror or exc
        ) from None


def write_json(path: Path, document: object) -> None:
    """:func:`write_output` of ``document`` as indented JSON."""
    write_output(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
