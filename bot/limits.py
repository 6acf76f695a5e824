"""What a chat may try on registrations it does not hold, counted in the database.

A NIK is printed on the KTP, the family card and many forms, so anyone may type one. Each step
that takes a NIK from a chat that does not hold that registration (registering, linking a chat,
checking someone else, reporting a death, following a claim) is counted, per chat and per NIK,
in ``limit_event``: a new chat, a new number or another channel starts from the same count, and
so does another process. Files received count per chat too (``handlers.media``).
"""

from dataclasses import dataclass
from datetime import timedelta

from bot.context import Context
from bot.messages import Count

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Limit:
    kind: str
    most: int
    window: timedelta

    def count(self, key: str, amount: int = 1) -> Count:
        return Count(self.kind, key, amount)

    def exceeded_by(self, used: int, adding: int = 1) -> bool:
        return used + adding > self.most

    async def used(self, ctx: Context, key: str) -> int:
        """How much of this limit ``key`` has used in the window up to now."""
        return await ctx.lookup.limit_used(self.kind, key, ctx.now - self.window)

    async def reached(self, ctx: Context, key: str) -> bool:
        """Whether ``key`` has used this limit up: one more would go over it."""
        return self.exceeded_by(await self.used(ctx, key))


CHAT_NIKS = Limit("chat.nik", 10, DAY)
"""NIKs a chat may enter a day for registrations it does not hold: a family registering its
members from one phone stays well within it, someone trying NIKs does not."""
CHAT_FAILURES = Limit("chat.failure", 5, DAY)
"""Wrong codes a chat may type a day."""
NIK_FAILURES = Limit("nik.failure", 5, DAY)
"""Wrong codes typed for one NIK a day, from all chats together: with 6-digit codes, five
guesses a day give one chance in 200,000."""
NIK_CODES = Limit("nik.code", 5, DAY)
"""Codes asked for one NIK a day: the owner is not flooded with them."""
CHAT_FILES = Limit("chat.file", 30, DAY)
"""Files (photos, PDFs) a chat may send a day: a claim needs at most seven."""
CHAT_FILE_BYTES = Limit("chat.file_bytes", 200 * 1024 * 1024, DAY)
"""Bytes of files a chat may send a day."""

CONSOLE_ACCOUNT = Limit("console.account", 5, timedelta(minutes=15))
"""Sign-in links asked for one staff account (as typed) in 15 minutes: enough for a slip,
not to flood a chat with links."""
CONSOLE_ADDRESS = Limit("console.address", 20, timedelta(hours=1))
"""Sign-in requests from one network address an hour, whatever accounts they name."""

LIMITS = (CHAT_NIKS, CHAT_FAILURES, NIK_FAILURES, NIK_CODES, CHAT_FILES, CHAT_FILE_BYTES,
          CONSOLE_ACCOUNT, CONSOLE_ADDRESS)
LONGEST = max(limit.window for limit in LIMITS)
"""Counts older than this count for nothing and are deleted by the sweep."""
