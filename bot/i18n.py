"""Texts in the user's language, from the Babel catalogs under ``locales/``.

The ``.po`` files are read and compiled in memory at start-up, so the catalogs the bot uses can
never be stale or missing: a missing catalog stops start-up, and a test checks that every message
the code uses is translated in every language.
"""

import gettext
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from string import Formatter
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

LOCALES = ("id", "en")
"""Supported languages, Indonesian first."""

BABEL_LOCALES = {"id": Locale.parse("id_ID"), "en": Locale.parse("en_ID")}
"""English as used in Indonesia: rupiah as ``Rp16.800``, dates as ``17 August 1985``. Parsed
once: Babel would parse a locale name again on every call."""

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


def N_(msgid: str) -> str:
    """Marks a message id for extraction (``pybabel extract -k N_``); returns it unchanged."""
    return msgid


NP_ = N_
"""Marks the id of a message with plural forms (``msgid_plural`` in the catalogs, the same
id), used as ``Plural(NP_("…"), n)``."""


@dataclass(frozen=True)
class Money:
    """An amount in rupiah, formatted for the reader's locale."""

    rupiah: int


@dataclass(frozen=True)
class Duration:
    """A length of time as people say it ("5 menit", "about 2 hours"), rounded."""

    seconds: float


@dataclass(frozen=True)
class When:
    """A moment, shown as a Jakarta date and time ("15 Desember 2026 08.00")."""

    at: datetime


@dataclass(frozen=True)
class Msg:
    """A message used as a parameter of another, translated with it (e.g. an occupation)."""

    msgid: str
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Plural:
    """A count with its words in the reader's language ("1 recipient", "2 recipients", "2
    penerima"): the form of the message the catalog's ``Plural-Forms`` picks for ``n``,
    with ``{n}`` and ``params`` filled in."""

    msgid: str
    n: int
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Lines:
    """Several messages as one parameter, a line each (e.g. a list of registrations)."""

    items: tuple[Msg, ...]


class MissingCatalog(RuntimeError):
    pass


class Catalogs:
    """All languages' messages, looked up by message id."""

    def __init__(self, directory: Path = LOCALES_DIR, locales: tuple[str, ...] = LOCALES):
        self.messages: dict[str, dict[str, str]] = {}
        self.plurals: dict[str, dict[str, tuple[str, ...]]] = {}
        self._plural_form: dict[str, Callable[[int], int]] = {}
        for locale in locales:
            path = directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
            if not path.is_file():
                raise MissingCatalog(f"missing translation catalog {path}")
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=locale)
            self.messages[locale] = {
                m.id: m.string
                for m in catalog
                if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
            }
            self.plurals[locale] = {
                m.id[0]: tuple(m.string)
                for m in catalog
                if isinstance(m.id, tuple) and all(m.string) and not m.fuzzy
            }
            self._plural_form[locale] = gettext.c2py(catalog.plural_expr)

    def has(self, locale: str, msgid: str) -> bool:
        return msgid in self.messages.get(locale, {}) or msgid in self.plurals.get(locale, {})

    def plural(self, locale: str, value: Plural) -> str:
        """``value`` in ``locale`` (falling back to Indonesian): Babel's ngettext, by id."""
        if value.msgid not in self.plurals.get(locale, {}):
            locale = LOCALES[0]
        forms = self.plurals[locale].get(value.msgid, (value.msgid,))
        form = forms[min(self._plural_form[locale](value.n), len(forms) - 1)]
        params = {k: self.format(v, locale) for k, v in (value.params or {}).items()}
        return form.format_map({**params, "n": format_value(value.n, locale)})

    def placeholders(self, msgid: str) -> set[str] | None:
        """The ``{names}`` a message takes (from its Indonesian text); None: no such message."""
        text = self.messages[LOCALES[0]].get(msgid)
        if text is None and msgid in self.plurals[LOCALES[0]]:
            text = " ".join(self.plurals[LOCALES[0]][msgid])
        if text is None:
            return None
        return {name for _, name, _, _ in Formatter().parse(text) if name}

    def text(self, locale: str, msgid: str, params: Mapping[str, Any] | None = None) -> str:
        """The message in ``locale`` (falling back to Indonesian), with formatted parameters."""
        template = self.messages.get(locale, {}).get(msgid) or self.messages[LOCALES[0]].get(
            msgid, msgid
        )
        if not params:
            return template
        return template.format_map({k: self.format(v, locale) for k, v in params.items()})

    def format(self, value: Any, locale: str) -> str:
        """One parameter as text: money and dates by Babel, nested messages translated."""
        if isinstance(value, Msg):
            return self.text(locale, value.msgid, value.params)
        if isinstance(value, Lines):
            return "\n".join(self.format(item, locale) for item in value.items)
        if isinstance(value, Plural):
            return self.plural(locale, value)
        return format_value(value, locale)


def format_value(value: Any, locale: str) -> str:
    babel_locale = BABEL_LOCALES.get(locale, BABEL_LOCALES[LOCALES[0]])
    if isinstance(value, Money):
        return format_currency(
            value.rupiah, "IDR", locale=babel_locale, format="¤#,##0", currency_digits=False
        )
    if isinstance(value, Duration):
        return format_timedelta(timedelta(seconds=max(value.seconds, 1)), threshold=1.5,
                                locale=babel_locale)
    if isinstance(value, When):
        clock = "HH.mm" if locale == "id" else "HH:mm"  # as each is written: 08.05, 08:05
        return (f"{format_date(value.at, 'd MMMM y', locale=babel_locale)} "
                f"{format_time(value.at, clock, locale=babel_locale)}")
    if isinstance(value, date):
        return format_date(value, "d MMMM y", locale=babel_locale)
    if isinstance(value, int) and not isinstance(value, bool):
        return format_decimal(value, locale=babel_locale)
    return str(value)
