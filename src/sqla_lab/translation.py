"""Languages and their catalogs: what a user reads, in English or Korean.

Every sentence sqla-lab shows is written in English in the code, marked with :func:`N_` (a
no-op that ``pybabel extract`` looks for), and looked up at rendering time in a gettext catalog
compiled from ``locale/<lang>/LC_MESSAGES/sqla_lab.po``::

    GREETING = N_("{count} claims measured")
    translation(Language.KO)(GREETING)      # "주장 {count}개 측정"

The runtime uses only the standard library's :mod:`gettext` on the compiled ``.mo`` files
shipped in the wheel; Babel extracts, updates and compiles the catalogs at development time
(see ``docs/writing-a-lab.md``, "Sentences and translations").

Which language a command speaks is decided at the command line's edge
(``sqla_lab.cli._common``: ``--lang``, ``SQLA_LAB_LANG``, the locale); everything below it
takes a :class:`Translation` (or any ``Callable[[str], str]``) and never reads the environment.
"""

from __future__ import annotations

import enum
import functools
import gettext
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "DOMAIN",
    "LOCALE_DIR",
    "N_",
    "Language",
    "Translate",
    "Translation",
    "as_written",
    "language_of",
    "language_of_locale",
    "translation",
]

#: The gettext domain: ``locale/<lang>/LC_MESSAGES/sqla_lab.mo``.
DOMAIN = "sqla_lab"
#: Where the catalogs live, inside the installed package.
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

#: Anything that turns a template into its translation (``Translation``, ``gettext.gettext``).
Translate = Callable[[str], str]


def as_written(text: str) -> str:
    """``text`` as the code writes it: English, the source language (no catalog)."""
    return text


def N_(template: str) -> str:
    """Mark ``template`` for translation without translating it (gettext's ``N_``)."""
    return template


class Language(enum.StrEnum):
    """The languages sqla-lab speaks; English is the source language."""

    EN = "en"
    KO = "ko"


class Translation:
    """One language's catalog, called like ``gettext.gettext``.

    A template the catalog lacks comes back unchanged (in English), so a missing translation
    never breaks a rendering; :meth:`knows` tells tests which ones are missing.
    """

    def __init__(self, language: Language, catalog: gettext.NullTranslations) -> None:
        self.language = language
        self._catalog = catalog

    def __call__(self, text: str) -> str:
        """``text`` translated, or ``text`` itself when the catalog lacks it."""
        if not text:
            return text
        return self._catalog.gettext(text)

    def knows(self, text: str) -> bool:
        """Whether the catalog holds a translation of ``text`` (English knows everything)."""
        if self.language is Language.EN or not text:
            return True
        # GNUTranslations keeps its messages in ``_catalog``; a translation equal to its
        # msgid (a code name, a placeholder-only template) is still a translation.
        messages: dict[str, str] = getattr(self._catalog, "_catalog", {})
        return bool(messages.get(text))

    def __repr__(self) -> str:
        return f"Translation({self.language.value!r})"


@functools.cache
def translation(language: Language | str) -> Translation:
    """The catalog of ``language`` (cached: catalogs never change while a process runs).

    Raises:
        ValueError: not a language sqla-lab speaks.
    """
    chosen = Language(language)
    if chosen is Language.EN:
        return Translation(chosen, gettext.NullTranslations())
    catalog = gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[chosen.value])
    return Translation(chosen, catalog)


def language_of(translate: Translate) -> Language:
    """The language a translate function speaks: a :class:`Translation`'s, else English."""
    language = getattr(translate, "language", None)
    return language if isinstance(language, Language) else Language.EN


def language_of_locale(name: str | None) -> Language | None:
    """The language a locale name asks for (``ko_KR.UTF-8`` -> Korean), or ``None`` when it
    names none sqla-lab speaks (``C``, ``POSIX``, ``fr_FR``, empty)."""
    if not name:
        return None
    code = name.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    try:
        return Language(code)
    except ValueError:
        return None
