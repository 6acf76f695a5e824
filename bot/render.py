"""Turning the engine's replies into text in the user's language."""

from bot.i18n import N_, Catalogs
from bot.messages import NoticeValues, Rendered, Reply
from bot.templates import notice_kind, one_line


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
        )

    def _notice(self, reply: Reply, locale: str) -> NoticeValues | None:
        kind = notice_kind(reply.msgid)
        if kind is None:
            return None
        return NoticeValues(kind, locale, {name: one_line(self.catalogs.format(value, locale))
                                           for name, value in reply.params.items()})
