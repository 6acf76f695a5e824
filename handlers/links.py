"""Signed, expiring addresses of media this server serves (``handlers.web``): a membership
card's image, a received file (a claim document shown to staff) and a copy of a worker's data,
for a channel that sends
media by URL (WhatsApp: Twilio fetches the address within seconds)."""

import time
from collections.abc import Callable

from bot.cards import LINK_LIFETIME_S, CardData, sign_link
from bot.messages import Media

CARD_PATH = "/cards/{token}"
FILE_PATH = "/files/{token}"
COPY_PATH = "/copies/{token}"


class MediaLinks:
    def __init__(self, public_base_url: str, key: bytes,
                 clock: Callable[[], float] = time.time):
        """``key``: the links' own key (``Store.secret("links")``), not the cards' signing
        key: whoever checks cards cannot make download links."""
        self.base = public_base_url.rstrip("/")
        self.key = key
        self.clock = clock

    def card(self, card: CardData) -> str:
        return self._link(CARD_PATH, "card", card.reference)

    def file(self, media: Media, staff_chat: str) -> str | None:
        """A stored file, for the staff member of ``staff_chat`` (the link stops working once
        they are no longer staff); None for a file that was never stored."""
        if media.path is None:
            return None
        return self._link(FILE_PATH, "file", f"{media.path}@{staff_chat}")

    def copy(self, name: str) -> str:
        """A copy of someone's data written for this message (``handlers.data_copy``)."""
        return self._link(COPY_PATH, "copy", name)

    def _link(self, path: str, kind: str, subject: str) -> str:
        token = sign_link(self.key, kind, subject, int(self.clock()) + LINK_LIFETIME_S)
        return self.base + path.format(token=token)
