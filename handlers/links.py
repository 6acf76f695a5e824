"""Signed, expiring addresses of media this server serves (``handlers.web``): a membership
card's image and a received file (a claim document shown to staff), for a channel that sends
media by URL (WhatsApp: Twilio fetches the address within seconds)."""

import time
from collections.abc import Callable

from bot.cards import CardData, sign_link
from bot.messages import Media

CARD_PATH = "/cards/{token}"
FILE_PATH = "/files/{token}"
LINK_TTL_S = 3600
"""How long a link works: Twilio fetches it within seconds; nobody else should later."""


class MediaLinks:
    def __init__(self, public_base_url: str, key: bytes,
                 clock: Callable[[], float] = time.time):
        self.base = public_base_url.rstrip("/")
        self.key = key
        self.clock = clock

    def card(self, card: CardData) -> str:
        return self._link(CARD_PATH, "card", card.reference)

    def file(self, media: Media) -> str | None:
        """None for a file that was never stored (nothing to serve)."""
        if media.path is None:
            return None
        return self._link(FILE_PATH, "file", media.path)

    def _link(self, path: str, kind: str, subject: str) -> str:
        token = sign_link(self.key, kind, subject, int(self.clock()) + LINK_TTL_S)
        return self.base + path.format(token=token)
