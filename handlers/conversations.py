"""The message path, once for every channel:

journal the inbound (unique by channel message id: a repeat is dropped) → load the session →
``engine.handle`` → save the session, the rows the step creates, and the rendered replies, in
**one transaction** → send the replies (in order per chat) → mark them delivered.

One writer task takes whatever messages are waiting (from every channel) and handles them in one
transaction, so commits are shared under load. A crash anywhere loses nothing: what was not
committed is redelivered by the channel (Telegram keeps unconfirmed updates, and we confirm them
only after the commit), and replies committed but not sent are sent at the next start.
"""

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from bot.context import Context, Turn
from bot.engine import Engine
from bot.i18n import N_
from bot.limits import LONGEST
from bot.messages import Inbound, Rendered, Reply
from bot.quiet_hours import WIB
from bot.render import Renderer
from bot.session import Session
from handlers.media import MediaStore
from models.console_access import ConsoleAccess
from models.effects import apply_effects
from models.store import Store, Tx

log = logging.getLogger("lindungi.conversations")

MAX_BATCH = 200
BATCH_ATTEMPTS = 3
SEND_ATTEMPTS = 6
FLUSH_DELAY_S = 0.2
NOTICE_POLL_S = 5.0
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PROOFS_KEPT = timedelta(days=90)
"""How long the record of who asked to act for a registration (and how it ended) is kept."""


class Undeliverable(Exception):
    """The chat cannot receive messages (e.g. the user blocked the bot): do not retry."""


class RetryLater(Exception):
    """A temporary failure (rate limit, network): try again after ``delay`` seconds."""

    def __init__(self, delay: float):
        super().__init__(f"retry after {delay}s")
        self.delay = delay


class Sender(Protocol):
    async def send(self, chat_id: str, message: Rendered) -> None: ...


def new_reference() -> str:
    """A registration reference such as ``LD-7K3Q-9XPA``: short to read out, hard to guess."""
    code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"LD-{code[:4]}-{code[4:]}"


def database_error(exc: Exception) -> str:
    """An error fit for the log: a database's own message may quote the row (NIK, name)."""
    if isinstance(exc, DBAPIError):
        return f"{type(exc).__name__} ({type(exc.orig).__name__})"
    return f"{type(exc).__name__}: {exc}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class Conversations:
    def __init__(self, store: Store, engine: Engine, renderer: Renderer, *,
                 clock: Callable[[], datetime] = utc_now,
                 references: Callable[[], str] = new_reference,
                 journal_retention: timedelta = timedelta(days=7),
                 media: MediaStore | None = None):
        """``media``: where the channels store the files users send; a file no claim and no
        conversation keeps after its message is handled is deleted there at once."""
        self.store = store
        self.media = media
        self._received: dict[str, str] = {}
        """Files received since the last discard, each with the chat that sent it."""
        self.journal_retention = journal_retention
        self.engine = engine
        self.renderer = renderer
        self.clock = clock
        self.references = references
        self.senders: dict[str, Sender] = {}
        self._queue: asyncio.Queue[tuple[list[Inbound], asyncio.Future]] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._tails: dict[str, asyncio.Task] = {}
        self._delivered: list[tuple[str, ...]] = []
        self._flush_pending = False
        self._notices: asyncio.Task | None = None
        self._held_released = False

    def add_channel(self, name: str, sender: Sender) -> None:
        self.senders[name] = sender

    async def start(self) -> None:
        """Send what a previous run stored but did not send, then start taking messages (and
        sending the notices other processes store)."""
        for pending in await self.store.undelivered():
            if pending.channel in self.senders:
                self._deliver_later(pending.channel, ("journal", pending.channel,
                                                      pending.external_id),
                                    pending.chat_key,
                                    [Rendered.from_json(r) for r in pending.replies])
        self._writer = asyncio.create_task(self._write_loop(), name="lindungi-writer")
        await self.deliver_notices()
        self._notices = asyncio.create_task(self._poll_notices(), name="lindungi-notices")

    async def stop(self, grace_s: float = 15.0) -> None:
        """Finish what was taken: pending writes, sends in flight, delivery marks. Replies still
        unsent after ``grace_s`` seconds stay stored and go out at the next start."""
        try:
            await asyncio.wait_for(self.idle(), grace_s)
        except TimeoutError:
            log.warning("stopping with %d chats' replies unsent", len(self._tails))
        for task in list(self._tails.values()):
            task.cancel()
        if self._notices:
            self._notices.cancel()
            await asyncio.gather(self._notices, return_exceptions=True)
            self._notices = None
        if self._writer:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    async def delivered(self, chat_key: str) -> None:
        """Wait until the replies queued for one chat are sent."""
        while (tail := self._tails.get(chat_key)) is not None:
            await asyncio.wait([tail])

    async def idle(self) -> None:
        """Wait until every submitted message is stored, its replies sent and marked sent."""
        while self._tails or self._delivered or not self._queue.empty():
            if self._tails:
                await asyncio.gather(*list(self._tails.values()), return_exceptions=True)
            if self._delivered:
                await self.submit([])
            await asyncio.sleep(0.01)

    async def submit(self, inbounds: list[Inbound]) -> None:
        """Handle these messages; returns once they and their replies are committed."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((inbounds, future))
        await future

    async def sweep(self) -> None:
        """Periodic upkeep: forget idle drafts (telling the user on their next message) and
        journal rows old enough that no channel will deliver those messages again."""
        now = self.clock()
        expired = await self.store.expire_sessions(
            now - self.engine.rules.session_ttl,
            lambda state: self.engine.expire_stored(state, now))
        forgotten = await self.store.forget_journal(now - self.journal_retention)
        forgotten += await self.store.forget_counts(now - LONGEST, now - PROOFS_KEPT)
        forgotten += await ConsoleAccess(self.store).forget(now)
        lapsed = await self.store.lapse(now.astimezone(WIB).date(), now)
        async with self.store.transaction() as tx:
            ctx = self._context(tx, now)
            deliveries = await apply_effects(tx, self.renderer,
                                             await self.engine.fill_places(ctx), now)
        for delivery in deliveries:
            self._deliver_later(*delivery)
        if expired or forgotten or lapsed or deliveries:
            log.info("sweep: %d idle drafts forgotten, %d old rows removed, %d covers "
                     "lapsed, %d workers enrolled from waiting lists", expired, forgotten,
                     lapsed, len(deliveries))

    async def act(self, step: Callable[[Context, Turn], Awaitable[None]]) -> Turn:
        """A staff action from outside the chat (the web console): ``step`` decides, as the
        chat desk does, in one transaction with what it stores; the notices it sends go
        after the commit (by this process's channels, or the running bot's)."""
        now = self.clock()
        turn = Turn()
        async with self.store.transaction() as tx:
            await step(self._context(tx, now), turn)
            deliveries = await apply_effects(tx, self.renderer, turn.effects, now,
                                             send_here=bool(self.senders))
        for delivery in deliveries:
            self._deliver_later(*delivery)
        return turn

    def _context(self, tx: Tx, now: datetime) -> Context:
        return Context(now=now, today=now.astimezone(WIB).date(), lookup=tx,
                       new_reference=self.references)

    async def deliver_notices(self) -> int:
        """Send the notices no process is sending (stored by another process, such as the
        KPJ import, or left by a crash); returns how many were taken."""
        if not self.senders:
            return 0
        async with self.store.transaction() as tx:
            pending = await tx.claim_notices(self.clock())
        for notice in pending:
            if notice.channel in self.senders:
                self._deliver_later(notice.channel, ("outbox", notice.external_id),
                                    notice.chat_key,
                                    [Rendered.from_json(r) for r in notice.replies])
        return len(pending)

    async def _deliver_released(self) -> None:
        """Send the notices held until their chats wrote again (after the replies to what
        they wrote); if the outbox cannot be read now, the poller sends them."""
        try:
            await self.deliver_notices()
        except Exception as exc:
            log.warning("could not read the outbox: %s", database_error(exc))

    async def _poll_notices(self) -> None:
        while True:
            await asyncio.sleep(NOTICE_POLL_S)
            try:
                await self.deliver_notices()
            except Exception as exc:
                log.warning("could not read the outbox: %s", database_error(exc))

    # --- writing ------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            items = [await self._queue.get()]
            count = len(items[0][0])
            while count < MAX_BATCH and not self._queue.empty():
                item = self._queue.get_nowait()
                items.append(item)
                count += len(item[0])
            inbounds = [inbound for batch, _ in items for inbound in batch]
            try:
                deliveries = await self._process_with_retries(inbounds)
            except Exception as exc:  # the database is gone: callers must not confirm
                log.error("could not store %d messages: %s", len(inbounds), database_error(exc))
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            await self._discard_unused()  # before the replies: once told, it is gone
            for delivery in deliveries:
                self._deliver_later(*delivery)
            if self._held_released:
                self._held_released = False
                await self._deliver_released()
            for _, future in items:
                if not future.done():
                    future.set_result(None)

    async def _process_with_retries(self, inbounds: list[Inbound]) -> list[tuple]:
        """Store a batch, retrying conflicts (e.g. the same NIK from another process). A batch
        that keeps failing is split, so one bad message cannot hold up the others; a message
        that fails alone is answered with an apology and counted as handled."""
        error: Exception | None = None
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            marks, self._delivered = self._delivered, []
            try:
                return await self._process(inbounds, marks)
            except Exception as exc:  # conflicts, a database error, a session that won't load
                self._delivered = marks + self._delivered
                error = exc
                log.warning("batch of %d failed (%s), attempt %d", len(inbounds),
                            database_error(exc), attempt)
                await asyncio.sleep(0.05 * attempt)
        if len(inbounds) > 1:
            deliveries = []
            for inbound in inbounds:
                deliveries += await self._process_with_retries([inbound])
            return deliveries
        return await self._apologise(inbounds[0], error)

    async def _apologise(self, inbound: Inbound, error: Exception | None) -> list[tuple]:
        """Journal a message that cannot be stored, with an apology as its reply (raises when
        even that fails: then the database is down and the channel must deliver it again)."""
        async with self.store.transaction() as tx:
            if await self._unseen(tx, [inbound]):
                stored = await tx.load_sessions([inbound.chat_key])
                locale = stored.get(inbound.chat_key, {}).get(
                    "locale", self.engine.rules.default_locale)
                replies = [self.renderer.render(Reply(N_("error.internal")), locale)]
                await tx.journal([self._journal_row(inbound, replies, self.clock())])
                log.error("message %s:%s could not be stored: %s", inbound.channel,
                          inbound.external_id, database_error(error))
                return [(inbound.channel, ("journal", inbound.channel, inbound.external_id),
                         inbound.chat_key, replies)]
        return []

    async def _process(self, inbounds: list[Inbound], marks: list[tuple[str, str]]
                       ) -> list[tuple]:
        now = self.clock()
        deliveries: list[tuple] = []
        async with self.store.transaction() as tx:
            if marks:
                await tx.mark_delivered(marks)
            fresh = await self._unseen(tx, inbounds)
            if not fresh:
                return deliveries
            stored = await tx.load_sessions(i.chat_key for i in fresh)
            sessions = {key: Session.from_json(state) for key, state in stored.items()}
            ctx = self._context(tx, now)
            await tx.prefetch_workers(nik for i in fresh for nik in self.engine.niks_wanted(
                sessions.get(i.chat_key), i, ctx.today))
            changed: set[str] = set()
            journal = []
            for inbound in fresh:
                replies, notices = await self._step(tx, inbound, sessions, changed, ctx)
                journal.append(self._journal_row(inbound, replies, now))
                if replies:
                    deliveries.append((inbound.channel, ("journal", inbound.channel,
                                                         inbound.external_id),
                                       inbound.chat_key, replies))
                deliveries += notices
            await tx.save_sessions({key: sessions[key].to_json() for key in changed},
                                   set(stored), now)
            if await tx.heard_from((i.chat_key for i in fresh), now):
                self._held_released = True
            await tx.flush()
            await tx.journal(journal)
        self._received.update({i.media.path: i.chat_key for i in fresh
                               if i.media and i.media.path})
        return deliveries

    async def _discard_unused(self) -> None:
        """Delete the files just received that nothing kept: a photo sent where text was
        asked, a file past the chat's quota. Personal data is not kept without a purpose."""
        received, self._received = self._received, {}
        if self.media is None or not received:
            return
        try:
            unused = set(received) - await self.store.files_in_use(
                set(received), drafts_of=set(received.values()))
            for path in unused:
                await asyncio.to_thread(self.media.discard, path)
        except Exception as exc:  # the sweep's prune deletes them later
            log.warning("could not delete unused files: %s", database_error(exc))

    @staticmethod
    def _journal_row(inbound: Inbound, replies: list[Rendered], now: datetime) -> dict:
        return {"channel": inbound.channel, "external_id": inbound.external_id,
                "chat_key": inbound.chat_key, "received_at": now,
                "replies": [r.to_json() for r in replies]}

    async def _unseen(self, tx: Tx, inbounds: list[Inbound]) -> list[Inbound]:
        """The messages not handled before, each once, in arrival order."""
        seen: set[tuple[str, str]] = set()
        for channel in {i.channel for i in inbounds}:
            ids = [i.external_id for i in inbounds if i.channel == channel]
            seen.update((channel, external_id) for external_id in await tx.seen(channel, ids))
        fresh = []
        for inbound in inbounds:
            key = (inbound.channel, inbound.external_id)
            if key not in seen:
                seen.add(key)
                fresh.append(inbound)
        return fresh

    async def _step(self, tx: Tx, inbound: Inbound, sessions: dict[str, Session],
                    changed: set[str], ctx: Context) -> tuple[list[Rendered], list[tuple]]:
        """One message through the engine: keep its session and rows, render its replies
        (and the notices it sends others). A step that fails changes nothing, and the user is
        told to try again."""
        key = inbound.chat_key
        try:
            outcome = await self.engine.handle(sessions.get(key), inbound, ctx)
        except Exception:
            log.exception("message %s:%s failed", inbound.channel, inbound.external_id)
            locale = sessions[key].locale if key in sessions else self.engine.rules.default_locale
            return [self.renderer.render(Reply(N_("error.internal")), locale)], []
        notices = await apply_effects(tx, self.renderer, outcome.effects, ctx.now,
                                      inbound.channel, key)
        sessions[key] = outcome.session
        changed.add(key)
        return [self.renderer.render(r, outcome.session.locale) for r in outcome.replies], notices

    # --- delivering -----------------------------------------------------------------------

    def _deliver_later(self, channel: str, mark: tuple[str, ...], chat_key: str,
                       messages: list[Rendered]) -> None:
        """Send after what this chat was sent before; ``mark`` records it sent (see
        ``Tx.mark_delivered``). A chat on a channel this process does not run (the terminal
        chat, WhatsApp without Twilio set) is left for a process that does."""
        if channel not in self.senders:
            log.info("a message to a %s chat waits: that channel is not running here",
                     channel)
            return
        previous = self._tails.get(chat_key)
        task = asyncio.create_task(
            self._deliver(previous, channel, mark, chat_key, messages))
        self._tails[chat_key] = task

        def forget(done: asyncio.Task) -> None:
            if self._tails.get(chat_key) is done:
                del self._tails[chat_key]

        task.add_done_callback(forget)

    async def _deliver(self, previous: asyncio.Task | None, channel: str, mark: tuple[str, ...],
                       chat_key: str, messages: list[Rendered]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        sender = self.senders[channel]
        chat_id = chat_key.split(":", 1)[1]
        for message in messages:
            if not await self._send(sender, chat_id, message):
                return  # left undelivered: sent again at the next start
        self._delivered.append(mark)
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_later(FLUSH_DELAY_S, self._flush)

    def _flush(self) -> None:
        """Record sent replies; under load this rides along with the next write instead."""
        self._flush_pending = False
        if self._delivered and self._queue.empty():
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(lambda f: f.exception())  # logged by the writer
            self._queue.put_nowait(([], future))

    async def _send(self, sender: Sender, chat_id: str, message: Rendered) -> bool:
        delay = 0.5
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                await sender.send(chat_id, message)
                return True
            except Undeliverable as exc:
                log.warning("chat %s cannot be reached: %s", chat_id, exc)
                return True
            except RetryLater as exc:
                await asyncio.sleep(exc.delay)
            except Exception:
                log.warning("sending to %s failed (attempt %d)", chat_id, attempt,
                            exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
        return False
