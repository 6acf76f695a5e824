"""Sending as fast as a channel allows and no faster, with one budget per channel that every
process sharing the database draws on: an overall rate (Telegram about 30 messages a second for
a bot, Twilio's WhatsApp sender 80) and a least interval between two messages to one chat
(Telegram: one a second). Every API call that sends (a reply, a notice, a broadcast, each part
of one) takes a slot first.

Slots are spaced evenly rather than in bursts: a burst of 30 at the start of each second is
what trips Telegram's flood control. A 429 pauses the whole channel, for every process.

**Replies before notices before broadcasts**, as RapidPro's courier does: the slots are booked
in the channel's schedule (``Book``), and a kind of message only books while the schedule is
booked less than its horizon ahead. A reply books behind anything; a notice only when less than
a second is booked; a broadcast only when the schedule is nearly free. At saturation the slots
go to replies, and a burst of notices (an import activating thousands) or a broadcast fills the
gaps between them, never pushing the replies back by more than a quarter of a second.

The kind of a send is taken from ``PRIORITY`` (a context variable), so the channels' send
methods keep one signature: the message path sets it for notices, broadcast delivery for
broadcasts; anything else is a reply.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("lindungi.pacing")

REPLY, NOTICE, BROADCAST = 0, 1, 2
PRIORITY: ContextVar[int] = ContextVar("lindungi_send_priority", default=REPLY)
HORIZON_S = {REPLY: 3600.0, NOTICE: 1.0, BROADCAST: 0.25}
"""How far ahead the schedule may be booked for a send of each kind to still book a slot."""
JITTER_MARGIN = 1.02
"""Slots are spaced 2% wider than the limit: a send held up a few milliseconds on its way must
not land in the same second as one 30 slots later."""
ROUND_LIMIT_S = 2.0
"""A round books at most this many seconds of slots (at the overall rate) at once."""
LATE_S = 0.05
"""A slot missed by more than this is left unused (see ``Pacer.sending``)."""
LATE_REBOOKS = 3
"""How many slots a send books at most before it goes, however late."""
RETRY_S = 0.05
"""How soon a round is tried again when nothing could be booked."""


class Book(Protocol):
    """A channel's schedule of slots: in this process (``MemoryBook``), or shared by every
    process in the database (``models.send_budget.SharedBook``). Times are seconds since the
    epoch (``time.time``), the same on every host kept by NTP."""

    async def reserve(self, channel: str, count: int, spacing: float, now: float,
                      horizon: float) -> float | None:
        """Book ``count`` slots ``spacing`` apart, after those booked (or ``now``); returns the
        first one's time, or None when more than ``horizon`` seconds are booked ahead."""

    async def pace_chats(self, channel: str, slots: dict[str, float], interval: float
                         ) -> dict[str, float]:
        """For each chat, take its slot if the chat's last one is ``interval`` before it or
        more; returns the chats whose slots were not taken, each with when it may have one."""

    async def pause(self, channel: str, until: float) -> None:
        """Nothing is booked before ``until`` (the channel asked to wait)."""


class MemoryBook:
    """The schedule in this process: for SQLite, where one process runs the bot."""

    def __init__(self):
        self._next: dict[str, float] = {}
        self._chats: dict[str, float] = {}

    async def reserve(self, channel: str, count: int, spacing: float, now: float,
                      horizon: float) -> float | None:
        booked = self._next.get(channel, 0.0)
        if booked > now + horizon:
            return None
        start = max(booked, now)
        self._next[channel] = start + count * spacing
        return start

    async def pace_chats(self, channel: str, slots: dict[str, float], interval: float
                         ) -> dict[str, float]:
        refused = {}
        for chat_key, at in slots.items():
            allowed = self._chats.get(chat_key, 0.0)
            if allowed <= at:
                self._chats[chat_key] = at + interval
            else:
                refused[chat_key] = allowed
        if len(self._chats) > 10_000:  # forget chats whose interval is long over
            oldest = min(slots.values(), default=0.0)
            self._chats = {k: t for k, t in self._chats.items() if t > oldest}
        return refused

    async def pause(self, channel: str, until: float) -> None:
        self._next[channel] = max(self._next.get(channel, 0.0), until)


@dataclass
class _Waiting:
    chat_key: str
    priority: int
    granted: asyncio.Future
    not_before: float = 0.0
    order: int = field(default=0)


class Pacer:
    """One channel's sends: ``acquire`` waits for a slot. Requests waiting together are
    booked together (one round trip to a shared book for many sends), by kind, one slot per
    chat and round."""

    def __init__(self, book: Book, channel: str, per_second: float,
                 per_chat_interval_s: float = 0.0, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        """``per_second``: the overall rate (0 or less: no limit); ``per_chat_interval_s``:
        the least time between two messages to one chat (0: none)."""
        self.book, self.channel = book, channel
        self.spacing = JITTER_MARGIN / per_second if per_second > 0 else 0.0
        self.per_chat = per_chat_interval_s
        self.clock, self.sleep = clock, sleep
        self._waiting: list[_Waiting] = []
        self._rounds: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._count = 0
        self.ahead_s = 0.0
        """How far ahead the channel's schedule was booked by the last booking (its last
        slot's time from then): near 0 while the channel sends below its rate, growing while
        sends queue for it."""

    @property
    def limited(self) -> bool:
        return self.spacing > 0 or self.per_chat > 0

    @property
    def nearly_free(self) -> bool:
        """Whether the channel has room: its schedule booked no further ahead than a
        broadcast may book (a quarter of a second) by the last booking. Sends then go
        spread out, not back to back at the limit where any delay on the way bunches them."""
        return self.ahead_s <= HORIZON_S[BROADCAST]

    async def acquire(self, chat_key: str, priority: int | None = None) -> float:
        """Wait for this chat's next slot; ``priority``: the kind of send (else ``PRIORITY``).
        Returns the slot's time."""
        if not self.limited:
            return self.clock()
        at = await self._slot(chat_key, PRIORITY.get() if priority is None else priority)
        delay = at - self.clock()
        if delay > 0:
            await self.sleep(delay)
        return at

    @contextlib.asynccontextmanager
    async def sending(self, chat_key: str, limiter: asyncio.Semaphore
                      ) -> AsyncIterator[None]:
        """One send to this chat: its slot, then its place among the channel's connections
        (``limiter``, a few at a time), held inside. A slot missed by the time both are had
        (the loop was busy, the connections taken) is left unused: sent late, it would land
        among the slots after it, and a burst of late ones would break the limit; another
        is booked instead, a few times at most."""
        for attempt in range(1, LATE_REBOOKS + 1):
            at = await self.acquire(chat_key)
            await limiter.acquire()
            if self.clock() - at <= LATE_S or attempt == LATE_REBOOKS:
                break
            limiter.release()
        try:
            yield
        finally:
            limiter.release()

    async def _slot(self, chat_key: str, kind: int) -> float:
        loop = asyncio.get_running_loop()
        self._count += 1
        waiting = _Waiting(chat_key, kind, loop.create_future(), order=self._count)
        self._waiting.append(waiting)
        self._wake.set()
        if self._rounds is None or self._rounds.done():
            self._rounds = asyncio.create_task(self._book_rounds(), name="lindungi-pacing")
        try:
            return await waiting.granted
        finally:
            if waiting in self._waiting:  # cancelled before its slot came
                self._waiting.remove(waiting)

    async def pause(self, seconds: float) -> None:
        """The channel asked to wait (Telegram's 429 ``retry_after``): nothing goes before,
        from any process."""
        with contextlib.suppress(Exception):  # the schedule is unreachable: the 429 repeats
            await self.book.pause(self.channel, self.clock() + seconds)

    async def _book_rounds(self) -> None:
        while self._waiting:
            self._wake.clear()
            try:
                booked = await self._book_round()
            except Exception as exc:  # noqa: BLE001 - the shared book is unreachable
                log.warning("could not book %s slots: %s", self.channel, type(exc).__name__)
                booked = 0
            if self._waiting and not booked:  # until the soonest may go, or a new send
                soonest = min(w.not_before for w in self._waiting)
                pause = asyncio.ensure_future(
                    self.sleep(max(RETRY_S, min(soonest - self.clock(), 1.0))))
                woken = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait([pause, woken], return_when=asyncio.FIRST_COMPLETED)
                for task in (pause, woken):
                    task.cancel()

    async def _book_round(self) -> int:
        """Book slots for what waits, most urgent kind first; returns how many were given."""
        now = self.clock()
        given = 0
        limit = max(1, int(ROUND_LIMIT_S / self.spacing)) if self.spacing else len(
            self._waiting)
        chats: set[str] = set()
        for priority in sorted({w.priority for w in self._waiting}):
            batch = []
            for waiting in sorted(self._waiting, key=lambda w: w.order):
                if (waiting.priority == priority and waiting.not_before <= now
                        and waiting.chat_key not in chats and len(batch) < limit):
                    batch.append(waiting)
                    chats.add(waiting.chat_key)
            if not batch:
                continue
            start = now
            if self.spacing:
                start = await self.book.reserve(self.channel, len(batch), self.spacing, now,
                                                HORIZON_S[priority])
                if start is None:  # booked too far ahead for this kind, and those after it
                    self.ahead_s = max(self.ahead_s, HORIZON_S[priority])
                    for waiting in batch:
                        waiting.not_before = now + RETRY_S
                    break
                self.ahead_s = start + len(batch) * self.spacing - now
            slots = {w.chat_key: start + i * self.spacing for i, w in enumerate(batch)}
            refused = (await self.book.pace_chats(self.channel, slots, self.per_chat)
                       if self.per_chat else {})
            for waiting in batch:
                if waiting.chat_key in refused:  # too soon after its last: its slot is lost
                    self._later(waiting.chat_key, refused[waiting.chat_key])
                    continue
                self._waiting.remove(waiting)
                if not waiting.granted.done():
                    waiting.granted.set_result(slots[waiting.chat_key])
                self._later(waiting.chat_key, slots[waiting.chat_key] + self.per_chat)
                given += 1
        return given

    def _later(self, chat_key: str, allowed: float) -> None:
        """The chat's other sends wait until ``allowed`` before they are booked."""
        for waiting in self._waiting:
            if waiting.chat_key == chat_key:
                waiting.not_before = max(waiting.not_before, allowed)
