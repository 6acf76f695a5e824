"""Turning the engine's replies into text in the user's language."""

import json

from babel.lists import format_list

from bot.i18n import BABEL_LOCALES, LOCALES, N_, Catalogs
from bot.messages import DataCopy, NoticeValues, Rendered, Reply
from bot.templates import notice_kind, one_line

MAX_LISTED = 4
"""Up to this many options, the reply hint names each number."""


class Renderer:
    def __init__(self, catalogs: Catalogs):
        self.catalogs = catalogs

    def render(self, reply: Reply, locale: str) -> Rendered:
        text = self.catalogs.text(locale, reply.msgid, reply.params)
        options = tuple(self.catalogs.text(locale, c.label, c.params) for c in reply.choices)
        return Rendered(
            text=text,
            options=options,
            contact_button=self.catalogs.text(locale, N_("nav.share_contact"))
            if reply.ask_contact else None,
            menu_button=self.catalogs.text(locale, N_("nav.menu")) if reply.navigation else None,
            card=reply.card,
            attachment=reply.attachment,
            notice=self._notice(reply, locale),
            reply_hint=self._reply_hint(len(options), locale),
            copy=DataCopy(reply.copy.reference, "\n\n".join(
                self.render(page, locale).text for page in reply.copy.pages),
                json.dumps(reply.copy.data, ensure_ascii=False, indent=2))
            if reply.copy else None,
        )

    def _reply_hint(self, count: int, locale: str) -> str | None:
        """"Balas 1, 2, atau 3." for a few options; "Balas dengan angka 1 sampai 11." for
        more (a list of eleven numbers reads worse than the range)."""
        if count == 0:
            return None
        if count > MAX_LISTED:
            return self.catalogs.text(locale, N_("nav.reply_range"), {"last": str(count)})
        numbers = format_list([str(n) for n in range(1, count + 1)], style="or",
                              locale=BABEL_LOCALES.get(locale, BABEL_LOCALES[LOCALES[0]]))
        return self.catalogs.text(locale, N_("nav.reply_numbers"), {"numbers": numbers})

    def _notice(self, reply: Reply, locale: str) -> NoticeValues | None:
        kind = notice_kind(reply.msgid)
        if kind is None:
            return None
        return NoticeValues(kind, locale, {name: one_line(self.catalogs.format(value, locale))
                                           for name, value in reply.params.items()})
