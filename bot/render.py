"""Turning the engine's replies into text in the user's language."""

from bot.i18n import N_, Catalogs
from bot.messages import Rendered, Reply


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
        )
