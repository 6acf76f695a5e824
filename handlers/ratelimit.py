"""Sending as fast as a channel allows, and no faster: an overall rate (Telegram about 30
messages a second for a bot, Twilio's WhatsApp sender 80) and a least interval between two
messages to one chat (Telegram: one a second).

Sends are spaced evenly rather than in bursts: a burst of 30 at the start of each second is what
trips Telegram's flood control. A 429 pauses the whole channel for the time it asks.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

JITTER_MARGIN = 1.02
"""Sends are spaced 2% wider than the limit: a send held up a few milliseconds on its way must
not land in the same second as one 30 slots later."""


class RateLimiter:
    def __init__(self, per_second: float, per_chat_interval_s: float = 0.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        """``per_second``: the overall rate (0 or less: no limit); ``per_chat_interval_s``:
        the least time between two messages to one chat."""
        self.spacing = JITTER_MARGIN / per_second if per_second > 0 else 0.0
        self.per_chat = per_chat_interval_s
        self.clock, self.sleep = clock, sleep
        self._next = 0.0
        self._chat_next: dict[str, float] = {}

    def reserve(self, chat_key: str) -> float:
        """Take the next slot for this chat; returns how long to wait for it (no waiting)."""
        now = self.clock()
        start = max(now, self._next, self._chat_next.get(chat_key, 0.0))
        self._next = start + self.spacing
        if self.per_chat > 0:
            self._chat_next[chat_key] = start + self.per_chat
            if len(self._chat_next) > 10_000:  # forget chats whose interval is long over
                self._chat_next = {k: t for k, t in self._chat_next.items() if t > now}
        return start - now

    async def acquire(self, chat_key: str) -> None:
        """Wait for this chat's next slot."""
        delay = self.reserve(chat_key)
        if delay > 0:
            await self.sleep(delay)

    def pause(self, seconds: float) -> None:
        """The channel asked to wait (Telegram's 429 ``retry_after``): nothing goes before."""
        self._next = max(self._next, self.clock() + seconds)
