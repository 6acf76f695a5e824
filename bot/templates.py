"""WhatsApp Content templates for the messages the bot starts (notices), read from the
operator's TOML file (``WHATSAPP_TEMPLATES_FILE``; ``whatsapp_templates.example.toml`` shows it).

WhatsApp takes free text only within 24 hours of the user's last message. Past that, a notice
(a staff decision, activation, a claim's progress) can only go as a template Meta approved:
Twilio's ``content_sid`` with ``content_variables`` ``{"1": …, "2": …}``. Each notice kind has
one template per language, and names which of the notice's values fill ``{{1}}``, ``{{2}}``…

Pure: parsing and checking only; ``handlers.whatsapp`` sends.
"""

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.i18n import LOCALES, Catalogs

CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
NOTICE_PREFIX = "notice."


def notice_kind(msgid: str) -> str | None:
    """``notice.claim.paid`` → ``claim_paid``; None for a message that is no notice."""
    if not msgid.startswith(NOTICE_PREFIX):
        return None
    return msgid.removeprefix(NOTICE_PREFIX).replace(".", "_")


def notice_values(catalogs: Catalogs) -> dict[str, set[str]]:
    """Every notice kind, with the values its message takes."""
    return {kind: catalogs.placeholders(msgid) or set()
            for msgid in catalogs.messages[LOCALES[0]]
            if (kind := notice_kind(msgid)) is not None}


def one_line(text: str) -> str:
    """A value as WhatsApp takes it in a template: no new lines, tabs or runs of spaces
    (Meta refuses those in variables), never empty (nor is an empty variable allowed)."""
    return " ".join(text.split()) or "-"


@dataclass(frozen=True)
class Template:
    """One approved template: its Content SID and the notice values for ``{{1}}``, ``{{2}}``…"""

    content_sid: str
    variables: tuple[str, ...]

    def content_variables(self, values: Mapping[str, str]) -> dict[str, str]:
        return {str(n): one_line(values.get(name, "")) for n, name in
                enumerate(self.variables, 1)}


class BadTemplates(Exception):
    """The templates file has mistakes; the message lists each, one a line."""


@dataclass(frozen=True)
class Templates:
    by_kind: Mapping[str, Mapping[str, Template]]
    """kind → locale → template."""

    def pick(self, kind: str, locale: str) -> Template | None:
        """The template for this notice in the reader's language, else in Indonesian (a
        notice in the wrong language beats none), else None."""
        found = self.by_kind.get(kind, {})
        return found.get(locale) or found.get(LOCALES[0])

    def missing(self, kinds: list[str]) -> list[str]:
        """The notice kinds with no template: outside the window those wait for the user."""
        return [kind for kind in kinds if kind not in self.by_kind]


NO_TEMPLATES = Templates({})


def parse_templates(text: str, source: str, placeholders: Callable[[str], set[str] | None]
                    ) -> Templates:
    """The file's templates, checked whole. ``placeholders(kind)``: the values a notice kind
    has (the ``{names}`` of its message), or None for a kind that does not exist.

    Each table is a notice kind; ``variables`` lists the values, in order, and each language
    code (``id``, ``en``) gives that language's Content SID::

        [approved]
        variables = ["full_name", "reference", "programme"]
        id = "HX0123…"
        en = "HX4567…"
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadTemplates(f"{source}: not valid TOML: {exc}") from None
    errors: list[str] = []
    by_kind: dict[str, dict[str, Template]] = {}
    for kind, entry in data.items():
        where = f"{source} [{kind}]"
        known = placeholders(kind)
        if known is None:
            errors.append(f"{where}: no notice is called {kind!r}")
            continue
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a table with variables and id/en")
            continue
        variables = entry.get("variables", [])
        if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
            errors.append(f"{where}: variables must be a list of names, e.g. "
                          f"[\"full_name\", \"reference\"]")
            variables = []
        for name in variables:
            if name not in known:
                errors.append(f"{where}: this notice has no value {name!r} (it has: "
                              f"{', '.join(sorted(known)) or 'none'})")
        for key in entry:
            if key != "variables" and key not in LOCALES:
                errors.append(f"{where}: unknown field {key!r} (expected variables, "
                              f"{', '.join(LOCALES)})")
        templates = {}
        for locale in LOCALES:
            sid = entry.get(locale)
            if sid is None:
                continue
            if not isinstance(sid, str) or not CONTENT_SID.fullmatch(sid):
                errors.append(f"{where}: {locale} must be a Content SID, HX and 32 hex digits")
                continue
            templates[locale] = Template(sid, tuple(variables))
        if not templates:
            errors.append(f"{where}: give the Content SID of at least one language "
                          f"({', '.join(LOCALES)})")
        by_kind[kind] = templates
    if errors:
        raise BadTemplates("\n".join(errors))
    return Templates(by_kind)
