"""Delivering broadcasts: lease a batch of recipients, send each within its channel's rate
limits, record what became of it, and go on until none is left.

- a 429 (Telegram's ``retry_after``, Twilio's 429) pauses that channel and leaves the
  recipient pending for then;
- a chat that cannot receive (Telegram 403 blocked, Twilio 21610 opted out, a number that is
  not on WhatsApp) is marked failed with the reason, and the contact opted out: no later
  broadcast or notice tries it again;
- a network error is tried again with back-off, up to ``MAX_ATTEMPTS``, then failed with why.

A broadcast goes to WhatsApp as a notice (kind ``broadcast``, or the ready reminder's): past
the chat's 24 hours it takes that kind's template, or waits for the chat to write
(``handlers.whatsapp``).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.broadcasting import progress_reply, reminder_reply, text_reply
from bot.messages import OptOut, Rendered
from bot.quiet_hours import WIB, QuietHours
from bot.render import Renderer
from bot.rules import Rules
from handlers.conversations import RetryLater, Sender, Undeliverable
from handlers.pacing import BROADCAST, NOTICE, PRIORITY
from models.broadcasts import FAILED, LEASE, PENDING, SENDING, SENT, Broadcasts, Recipient

if TYPE_CHECKING:
    from models.job_lease import JobLeases

log = logging.getLogger("lindungi.broadcasts")

CONCURRENCY = 16
"""Sends in flight at once (each still waits for its slot in the channel's rate)."""
BATCH = 2 * CONCURRENCY
"""Recipients leased at once: few, so a batch is sent well within its lease."""
LEASE_MARGIN = timedelta(seconds=2)
"""A recipient whose lease has less than this left is not sent: another may take it."""
MAX_ATTEMPTS = 5
MAX_RATE_LIMITED = 20
"""Tries a recipient may be put off by 429s (or a channel down) before it is given up."""
IDLE_POLL_S = 2.0
REPORT_EVERY = timedelta(seconds=5)
"""How often the progress shown to staff is brought up to date (Telegram edits count against
the chat's limit of about one message a second)."""
PROGRESS_JOB = "broadcast-progress"
SHOWN = "shown"
"""The progress message of a channel that cannot edit: the first report went out."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class BroadcastDelivery:
    def __init__(self, broadcasts: Broadcasts, renderer: Renderer,
                 senders: Mapping[str, Sender], *,
                 clock: Callable[[], datetime] = utc_now, batch: int = BATCH,
                 concurrency: int = CONCURRENCY, lease: timedelta = LEASE,
                 quiet: QuietHours | None = None):
        """``senders``: the channels, which send within their budgets (``handlers.pacing``:
        a broadcast takes the slots replies and notices leave). ``quiet``: the Jakarta hours
        in which nothing is sent."""
        self.broadcasts = broadcasts
        self.quiet = quiet
        self.lease = lease
        self._marks = GroupCommit(lambda results: broadcasts.finish(results, self.clock()))
        self.renderer = renderer
        self.senders = senders
        self.clock = clock
        self.batch = batch
        self._in_flight = asyncio.Semaphore(concurrency)

    async def run_once(self) -> int:
        """Lease one batch and deliver it; returns how many recipients it held. Each
        recipient is recorded as soon as it is sent (commits shared by the sends finishing
        together), so a process killed mid-batch sends again only what was in flight."""
        now = self.clock()
        if self.quiet_now():
            return 0
        recipients = await self.broadcasts.claim(now, self.batch, self.senders, self.lease)
        if not recipients:
            return 0
        deadline = now + self.lease - LEASE_MARGIN
        await asyncio.gather(*(self._send_and_mark(r, deadline) for r in recipients))
        return len(recipients)

    async def _send_and_mark(self, recipient: Recipient, deadline: datetime) -> None:
        await self._marks.add(await self._deliver(recipient, deadline))

    async def run_until_idle(self) -> None:
        """Deliver until nothing is left to lease now (recipients waiting out a 429 or a
        back-off are taken by a later run)."""
        while await self.run_once():
            pass

    async def run_forever(self) -> None:
        """The running bot's loop: broadcasts started anywhere (the chat, the command line, a
        process that died) are finished here."""
        while True:
            try:
                if not await self.run_once():
                    await asyncio.sleep(IDLE_POLL_S)
            except Exception:
                log.warning("broadcast delivery failed; trying again", exc_info=True)
                await asyncio.sleep(IDLE_POLL_S)

    async def _deliver(self, recipient: Recipient, deadline: datetime
                       ) -> tuple[int, str, str | None]:
        channel, chat_id = recipient.chat_key.split(":", 1)
        PRIORITY.set(BROADCAST)  # this task's sends take the slots others leave
        async with self._in_flight:
            if self.quiet_now():
                return recipient.id, PENDING, "quiet hours"
            try:
                # Waiting for a slot ends with the lease: past it the recipient may pass to
                # another process (a long 429 pause, or replies taking every slot).
                async with asyncio.timeout((deadline - self.clock()).total_seconds()):
                    await self.senders[channel].send(chat_id, self._message(recipient))
            except TimeoutError:
                return recipient.id, PENDING, "lease ran out before sending"
            except RetryLater as exc:
                if recipient.attempts >= MAX_RATE_LIMITED:
                    return recipient.id, FAILED, f"still refused after {recipient.attempts} tries"
                await self.broadcasts.retry_after([recipient.id], self.clock()
                                                  + timedelta(seconds=exc.delay))
                return recipient.id, PENDING, f"rate limited: retry after {exc.delay:g}s"
            except Undeliverable as exc:
                await self._unreachable(recipient.chat_key)
                return recipient.id, FAILED, str(exc)
            except Exception as exc:  # noqa: BLE001 - the network, the channel: try again
                why = f"{type(exc).__name__}: {exc}"
                if recipient.attempts >= MAX_ATTEMPTS:
                    log.warning("broadcast %d: gave up on a %s chat after %d attempts: %s",
                                recipient.broadcast_id, channel, recipient.attempts, why)
                    return recipient.id, FAILED, why
                await self.broadcasts.retry_after([recipient.id], self.clock() + timedelta(
                    seconds=2 ** recipient.attempts))
                return recipient.id, PENDING, why
        return recipient.id, SENT, None

    def quiet_now(self) -> bool:
        return self.quiet is not None and self.quiet.covers(
            self.clock().astimezone(WIB).time())

    def _message(self, recipient: Recipient) -> Rendered:
        reply = (reminder_reply(recipient.reminder, recipient.params or {})
                 if recipient.reminder else text_reply(recipient.text or ""))
        return self.renderer.render(reply, recipient.locale)

    async def _unreachable(self, chat_key: str) -> None:
        """The chat blocked the bot or cannot receive: no more messages the bot starts."""
        async with self.broadcasts.store.transaction() as tx:
            await tx.opt_out(OptOut(chat_key, True), self.clock())


class ProgressReports:
    """Keeps the staff member who started a broadcast in the chat told how it goes: one
    message, edited in place every few seconds where the channel can (Telegram's ``post``);
    where it cannot (WhatsApp), the first report and the last."""

    def __init__(self, broadcasts: Broadcasts, renderer: Renderer,
                 senders: Mapping[str, Sender], rules: Rules, *,
                 clock: Callable[[], datetime] = utc_now, every: timedelta = REPORT_EVERY,
                 leases: "JobLeases | None" = None):
        """``leases``: shown by one process at a time of those sharing the database (two
        would both post a first message)."""
        self.leases = leases
        self.broadcasts = broadcasts
        self.renderer = renderer
        self.senders = senders
        self.rules = rules
        self.clock = clock
        self.every = every

    async def run_once(self) -> int:
        """Show the progress that is due; returns how many messages were sent or edited."""
        now = self.clock()
        shown = 0
        for due in await self.broadcasts.progress_due(now, self.every):
            channel, chat_id = due.chat_key.split(":", 1)
            sender = self.senders.get(channel)
            progress = await self.broadcasts.progress(due.broadcast_id)
            if sender is None or progress is None:
                continue
            final = progress.status != SENDING
            message = self.renderer.render(progress_reply(
                progress, now, self.rules.broadcast_rates, self.rules.quiet_hours), due.locale)
            post = getattr(sender, "post", None)
            message_id = due.message_id
            try:
                if post is not None:
                    message_id = await post(chat_id, message, due.message_id)
                elif due.message_id is None or final:
                    await sender.send(chat_id, message)
                    message_id = SHOWN
                else:
                    continue
            except Undeliverable as exc:
                log.warning("broadcast %d: its progress cannot be shown: %s",
                            due.broadcast_id, exc)
                final = True
            except Exception as exc:  # noqa: BLE001 - shown again at the next round
                log.warning("broadcast %d: showing its progress failed: %s", due.broadcast_id,
                            exc)
                continue
            await self.broadcasts.progress_shown(due.broadcast_id, message_id, final)
            shown += 1
        return shown

    async def run_forever(self) -> None:
        PRIORITY.set(NOTICE)
        while True:
            try:
                if self.leases is None or await self.leases.hold(
                        PROGRESS_JOB, self.clock(), 4 * self.every):
                    await self.run_once()
            except Exception:
                log.warning("showing broadcast progress failed; trying again", exc_info=True)
            await asyncio.sleep(self.every.total_seconds() / 2)


class GroupCommit:
    """Writes that arrive while one is under way are written together by the next, and each
    caller returns once its own is written (as the message path shares its commits)."""

    def __init__(self, write: Callable[[list], Awaitable[None]]):
        self.write = write
        self._waiting: list[tuple[object, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def add(self, item: object) -> None:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        await future

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self.write([item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each caller hears of it
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for _, future in batch:
                future.set_result(None)
