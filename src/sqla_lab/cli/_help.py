"""The command line's help in the user's language.

Help is printed before a command runs, so the language of the help has to be known from the
arguments alone: ``--lang`` anywhere among them, else ``SQLA_LAB_LANG``, else the locale.
:func:`help_in` then builds the click command tree with every help text translated, and
:func:`typer_words` puts typer's own words ("Options", "[default: ...]") in the same language
for the length of the call. Why not typer itself: typer has no translation hook for help texts
(they are read once, when the click command is built), so the built tree is translated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import typer
import typer.main
import typer.rich_utils

from sqla_lab.cli._common import fail, language_from_environment
from sqla_lab.errors import ConfigurationError, SqlaLabError
from sqla_lab.translation import N_, Language, Translate, translation

__all__ = [
    "HELP",
    "TYPER_WORDS",
    "VERSION_HELP",
    "VERSION_OPTION_HELP",
    "check_language",
    "given_language",
    "help_in",
    "language_defaults",
    "requested_language",
    "typer_words",
]

HELP = N_("Measure SQLAlchemy 2.x async ORM behaviour on a real PostgreSQL.")
VERSION_HELP = N_("Print the sqla-lab version.")
VERSION_OPTION_HELP = N_("Print the version and exit.")

#: typer's own words in its help and error panels, by the module constant that holds them.
TYPER_WORDS = {
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
    "DEFAULT_STRING": N_("[default: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "ENVVAR_STRING": N_("[env var: {}]"),
    "RICH_HELP": N_("Try [blue]'{command_path} {help_option}'[/] for help."),
}
#: Help texts click and typer write themselves.
_BUILT_IN_HELP = (
    N_("Show this message and exit."),
    N_("Install completion for the current shell."),
    N_("Show completion for the current shell, to copy it or customize the installation."),
)


# The click objects are typed loosely (Any): typer builds them from its own copy of click
# (``typer._click`` since typer 0.2x) or from click itself, by version; both have these names.


def _translate_tree(command: Any, context: Any, translate: Translate) -> None:
    """Translate the help of ``command``, its parameters and its subcommands, in place."""
    if command.help:
        command.help = translate(command.help)
    if command.short_help:
        command.short_help = translate(command.short_help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = translate(param.help)
    # click (>= 8.1.8) caches the help option on the command: the one translated is shown.
    help_option = command.get_help_option(context)
    if help_option is not None and help_option.help:
        help_option.help = translate(help_option.help)
    for name, sub in getattr(command, "commands", {}).items():
        _translate_tree(sub, typer.Context(sub, info_name=name, parent=context), translate)


def language_defaults(command: Any, language: Language) -> dict[str, Any]:
    """A click ``default_map`` giving every ``--lang`` in the tree the value ``language``."""
    defaults: dict[str, Any] = {}
    params = {getattr(p, "name", None) for p in command.params}
    if "lang" in params:
        defaults["lang"] = language.value
    for name, sub in getattr(command, "commands", {}).items():
        # click looks parameters and subcommands up in one map: a subcommand named like a
        # parameter ("version" and --version) would give that parameter a dict.
        if name not in params:
            defaults[name] = language_defaults(sub, language)
    return defaults


def help_in(app: typer.Typer, language: Language) -> Any:
    """The click command tree of ``app``, every help text in ``language``.

    Each call builds a new tree (typer makes one per call), so nothing shared is changed.
    """
    command = typer.main.get_command(app)
    if language is not Language.EN:
        context = typer.Context(command, info_name="sqla-lab", **(app.info.context_settings or {}))
        _translate_tree(command, context, translation(language))
    return command


@contextlib.contextmanager
def typer_words(language: Language) -> Iterator[None]:
    """typer's panel titles and notes in ``language``, for the length of a call."""
    translate = translation(language)
    saved = {name: getattr(typer.rich_utils, name) for name in TYPER_WORDS}
    try:
        for name, template in TYPER_WORDS.items():
            setattr(typer.rich_utils, name, translate(template))
        yield
    finally:
        for name, value in saved.items():
            setattr(typer.rich_utils, name, value)


def _lang_value(args: Sequence[str]) -> str | None:
    """What ``--lang`` is given among ``args`` (the first one), or ``None``."""
    for index, arg in enumerate(args):
        if arg == "--":
            return None
        if arg == "--lang" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


def given_language(args: Sequence[str]) -> Language | None:
    """The language ``--lang`` names among ``args``, anywhere (before the command or after
    it); ``None`` when it is not given or names an unknown one (see :func:`check_language`)."""
    value = _lang_value(args)
    if value is None:
        return None
    try:
        return Language(value.lower())
    except ValueError:
        return None


def check_language(args: Sequence[str], language: Language) -> None:
    """Refuse a ``--lang`` sqla-lab does not speak: one line on stderr (in ``language``) and
    exit 2, before click would draw its error panel.

    Raises:
        SystemExit: ``--lang`` names no language sqla-lab speaks.
    """
    value = _lang_value(args)
    if value is None or given_language(args) is not None:
        return
    error = ConfigurationError(
        _UNKNOWN_LANGUAGE,
        value=value,
        languages=", ".join(known.value for known in Language),
    )
    translate = translation(language)
    try:
        fail(error.render(translate), error.exit_code, translate)
    except typer.Exit as exit_:
        raise SystemExit(exit_.exit_code) from None


_UNKNOWN_LANGUAGE = N_("--lang {value!r}: sqla-lab speaks {languages}")


def requested_language(args: Sequence[str]) -> Language:
    """The language of the help and the errors: ``--lang`` among ``args``, else the
    environment's; English when either names an unknown one (the command then says so)."""
    given = given_language(args)
    if given is not None:
        return given
    try:
        return language_from_environment()
    except SqlaLabError:
        return Language.EN
