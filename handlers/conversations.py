"""The message path, once for every channel:

journal the inbound as it arrives (unique by channel message id: a repeat is dropped; one
transaction) → take its chat: every message of that chat not handled yet, in the channel's order
→ load the session → ``engine.handle`` → save the session, the rows the step creates, and the
rendered replies (a second transaction) → send the replies (in order per chat) → mark them
delivered.

Several processes may share one PostgreSQL database behind one address: a chat is taken by one
process at a time (an advisory lock held by the second transaction), so its messages are
handled one after the other in their order, whichever process received them; the process that
waited finds them handled. On SQLite the database's single writer is that isolation.

One writer task takes whatever messages are waiting (from every channel) and handles them
together, so commits are shared under load. A crash anywhere loses nothing: what was not
journaled is redelivered by the channel (Telegram keeps unconfirmed updates, and we confirm them
only after the commit), what was journaled but not handled is taken by any process that finds
it waiting, and replies committed but not sent are sent under a lease: by their process when it
starts again, or by another once the lease has lapsed.
"""

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from bot.context import Context, Turn
from bot.engine import Engine
from bot.i18n import N_
from bot.limits import LONGEST
from bot.messages import Inbound, Later, Rendered, Reply
from bot.quiet_hours import WIB
from bot.render import Renderer
from bot.session import Session
from handlers.media import MediaStore
from handlers.pacing import NOTICE, PRIORITY, REPLY
from models.console_access import ConsoleAccess
from models.effects import apply_effects
from models.long_work import answer_failed, do_later
from models.store import Store, Tx

log = logging.getLogger("lindungi.conversations")

WriteItem = tuple[list[Inbound], frozenset[str], asyncio.Future]
"""For the writer: messages to journal, chats to take besides theirs, and who waits."""

MAX_BATCH = 200
BATCH_ATTEMPTS = 3
SEND_ATTEMPTS = 6
FLUSH_DELAY_S = 0.2
NOTICE_POLL_S = 5.0
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PROOFS_KEPT = timedelta(days=90)
"""How long the record of who asked to act for a registration (and how it ended) is kept."""
REPLY_LEASE = timedelta(minutes=1)
"""How long a process may take to send a message's replies before another may send them."""
WAITING_AFTER = timedelta(seconds=10)
"""A message journaled this long ago and not handled was left by a process that stopped."""
LATER_AT_ONCE = 2
"""Long work (``Later``) done at once by a process: the rest waits, the messages do not."""
LATER_ATTEMPTS = 3


class Undeliverable(Exception):
    """The chat cannot receive messages (e.g. the user blocked the bot): do not retry."""


class RetryLater(Exception):
    """A temporary failure (rate limit, network): try again after ``delay`` seconds."""

    def __init__(self, delay: float):
        super().__init__(f"retry after {delay}s")
        self.delay = delay


class Sender(Protocol):
    async def send(self, chat_id: str, message: Rendered) -> None: ...


FOLLOWED: ContextVar[bool] = ContextVar("lindungi_reply_followed", default=False)
"""True while a sender sends a message that another of the same reply follows (a channel that
could send it out of band, as Telegram's webhook answer, keeps it in line instead)."""


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
                 media: MediaStore | None = None, instance: str = "local",
                 reply_lease: timedelta = REPLY_LEASE):
        """``media``: where the channels store the files users send; a file no claim and no
        conversation keeps after its message is handled is deleted there at once.
        ``instance``: this process's name among those sharing the database (``INSTANCE``),
        the holder of the replies it sends, for ``reply_lease``."""
        self.store = store
        self.instance = instance
        self.reply_lease = reply_lease
        self.media = media
        self._received: dict[str, str] = {}
        """Files received since the last discard, each with the chat that sent it."""
        self.journal_retention = journal_retention
        self.engine = engine
        self.renderer = renderer
        self.clock = clock
        self.references = references
        self.senders: dict[str, Sender] = {}
        self._queue: asyncio.Queue[WriteItem] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._tails: dict[str, asyncio.Task] = {}
        self._sending: set[tuple[str, ...]] = set()
        """Marks of the replies and notices this process is sending: their leases are renewed
        while it does (a channel may ask to wait longer than a lease)."""
        self._delivered: list[tuple[str, ...]] = []
        self._flush_pending = False
        self._notices: asyncio.Task | None = None
        self._held_released = False
        self._later: list[tuple[str, str, Later]] = []
        """Long work the last handled messages asked for: done once they are committed."""
        self._working: set[asyncio.Task] = set()
        self._later_slots = asyncio.Semaphore(LATER_AT_ONCE)

    def add_channel(self, name: str, sender: Sender) -> None:
        self.senders[name] = sender

    async def start(self) -> None:
        """Send what this process stored before it stopped but did not send (and what others
        left), take the chats whose messages wait, then start taking messages (and sending
        the notices other processes store)."""
        await self.deliver_replies(restarted=True)
        self._writer = asyncio.create_task(self._write_loop(), name="lindungi-writer")
        await self.take_waiting(None)
        await self.deliver_notices()
        self._notices = asyncio.create_task(self._poll_notices(), name="lindungi-notices")

    async def stop(self, grace_s: float = 15.0) -> None:
        """Finish what was taken: pending writes, sends in flight, delivery marks. Replies still
        unsent after ``grace_s`` seconds stay stored and go out at the next start."""
        try:
            await asyncio.wait_for(self.idle(), grace_s)
        except TimeoutError:
            log.warning("stopping with %d chats' replies unsent", len(self._tails))
        for task in [*self._tails.values(), *self._working]:
            task.cancel()
        if self._notices:
            self._notices.cancel()
            await asyncio.gather(self._notices, return_exceptions=True)
            self._notices = None
        if self._writer:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    def sending_to(self, chat_key: str) -> bool:
        """Whether this process has messages for this chat to send (or is sending them)."""
        return chat_key in self._tails

    async def delivered(self, chat_key: str) -> None:
        """Wait until the replies queued for one chat are sent."""
        while (tail := self._tails.get(chat_key)) is not None:
            await asyncio.wait([tail])

    async def idle(self) -> None:
        """Wait until every submitted message is stored, its replies sent and marked sent (and
        the long work it asked for done, its result handled in turn)."""
        while self._tails or self._delivered or self._working or not self._queue.empty():
            if self._tails or self._working:
                await asyncio.gather(*self._tails.values(), *self._working,
                                     return_exceptions=True)
            if self._delivered:
                await self.submit([])
            await asyncio.sleep(0.01)

    async def submit(self, inbounds: list[Inbound], chats: frozenset[str] = frozenset()
                     ) -> None:
        """Handle these messages (and whatever waits in ``chats``); returns once they and
        their replies are committed."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((inbounds, chats, future))
        await future

    async def take_waiting(self, received_before: datetime | None) -> int:
        """Handle the messages journaled before then (None: whenever) that no process
        handled (it stopped in between); returns how many chats were taken."""
        async with self.store.reading() as tx:
            chats = await tx.waiting_chats(received_before)
        if chats:
            log.info("taking %d chats whose messages were left unhandled", len(chats))
            await self.submit([], frozenset(chats))
        return len(chats)

    async def deliver_replies(self, restarted: bool = False) -> int:
        """Send the replies whose sender's lease has lapsed (its process stopped before it
        sent them); ``restarted``: and those this process left before it started again."""
        if not self.senders:
            return 0
        async with self.store.transaction() as tx:
            pending = await tx.claim_replies(self.clock(), self.instance, self.reply_lease,
                                             restarted=restarted)
        for reply in pending:
            self._deliver_later(reply.channel, ("journal", reply.channel, reply.external_id),
                                reply.chat_key, [Rendered.from_json(r) for r in reply.replies])
        return len(pending)

    async def renew_leases(self) -> None:
        """Keep what this process is still sending its own (see ``_sending``)."""
        if self._sending:
            async with self.store.transaction() as tx:
                await tx.renew_leases(list(self._sending), self.instance, self.clock(),
                                      self.reply_lease)

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
        """What other processes leave: their notices, their replies, their messages."""
        while True:
            await asyncio.sleep(NOTICE_POLL_S)
            try:
                await self.renew_leases()
                await self.deliver_notices()
                await self.deliver_replies()
                await self.take_waiting(self.clock() - WAITING_AFTER)
            except Exception as exc:
                log.warning("could not read the outbox or the journal: %s",
                            database_error(exc))

    # --- writing ------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            items = [await self._queue.get()]
            count = len(items[0][0]) + len(items[0][1])
            while count < MAX_BATCH and not self._queue.empty():
                item = self._queue.get_nowait()
                items.append(item)
                count += len(item[0]) + len(item[1])
            inbounds = [inbound for batch, _, _ in items for inbound in batch]
            chats = frozenset().union(*(chats for _, chats, _ in items))
            try:
                deliveries = await self._process_with_retries(inbounds, chats)
            except Exception as exc:  # the database is gone: callers must not confirm
                log.error("could not store %d messages: %s", len(inbounds), database_error(exc))
                for _, _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            await self._discard_unused()  # before the replies: once told, it is gone
            for delivery in deliveries:
                self._deliver_later(*delivery)
            self._start_later()
            if self._held_released:
                self._held_released = False
                await self._deliver_released()
            for _, _, future in items:
                if not future.done():
                    future.set_result(None)

    async def _process_with_retries(self, inbounds: list[Inbound],
                                    chats: frozenset[str] = frozenset()) -> list[tuple]:
        """Store a batch, retrying conflicts (e.g. the same NIK from another process). A batch
        that keeps failing is split by chat, so one bad message cannot hold up the others; a
        chat that fails alone has its first waiting message answered with an apology and
        counted as handled."""
        error: Exception | None = None
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            marks, self._delivered = self._delivered, []
            try:
                return await self._process(inbounds, marks, chats)
            except Exception as exc:  # conflicts, a database error, a session that won't load
                self._delivered = marks + self._delivered
                error = exc
                log.warning("batch of %d failed (%s), attempt %d", len(inbounds),
                            database_error(exc), attempt)
                await asyncio.sleep(0.05 * attempt)
        by_chat: dict[str, list[Inbound]] = {key: [] for key in sorted(chats)}
        for inbound in inbounds:
            by_chat.setdefault(inbound.chat_key, []).append(inbound)
        if len(by_chat) > 1:
            deliveries = []
            for key, own in by_chat.items():
                deliveries += await self._process_with_retries(own, frozenset([key]))
            return deliveries
        if not by_chat:
            raise error
        key, own = next(iter(by_chat.items()))
        return await self._apologise(key, own, error)

    async def _apologise(self, chat_key: str, inbounds: list[Inbound],
                         error: Exception | None) -> list[tuple]:
        """Answer the first waiting message of a chat that cannot be handled with an apology,
        as handled (one that could not even be journaled is journaled so); raises when even
        that fails: then the database is down and the channel must deliver it again."""
        now = self.clock()
        async with self.store.transaction() as tx:
            waiting = await tx.take_chats([chat_key])
            stored = await tx.load_sessions([chat_key])
            locale = stored.get(chat_key, {}).get("locale", self.engine.rules.default_locale)
            replies = [self.renderer.render(Reply(N_("error.internal")), locale)]
            shown = [r.to_json() for r in replies]
            if waiting:
                row_id, first = waiting[0]
                await tx.handled([(row_id, shown)], self.instance, now + self.reply_lease)
            else:
                fresh = await self._unseen(tx, inbounds)
                if not fresh:
                    return []
                first = fresh[0]
                await tx.journal([{**self._journal_row(first, replies, now),
                                   "lease_until": now + self.reply_lease,
                                   "lease_holder": self.instance}])
        log.error("message %s:%s could not be handled: %s", first.channel, first.external_id,
                  database_error(error))
        return [(first.channel, ("journal", first.channel, first.external_id), chat_key,
                 replies)]

    async def _process(self, inbounds: list[Inbound], marks: list[tuple[str, str]],
                       chats: frozenset[str] = frozenset()) -> list[tuple]:
        """Journal the messages not seen before (committed), then take their chats (and
        ``chats``) and handle what waits there."""
        now = self.clock()
        async with self.store.transaction() as tx:
            if marks:
                await tx.mark_delivered(marks)
            await tx.receive(await self._unseen(tx, inbounds), now)
        keys = chats | {inbound.chat_key for inbound in inbounds}
        return await self._handle(keys) if keys else []

    async def _handle(self, chat_keys: frozenset[str]) -> list[tuple]:
        """Every message waiting in these chats, in its chat's order, in one transaction;
        returns what to send."""
        now = self.clock()
        deliveries: list[tuple] = []
        async with self.store.transaction() as tx:
            waiting = await tx.take_chats(chat_keys)
            if not waiting:
                return deliveries
            fresh = [inbound for _, inbound in waiting]
            stored = await tx.load_sessions(i.chat_key for i in fresh)
            sessions = {key: Session.from_json(state) for key, state in stored.items()}
            ctx = self._context(tx, now)
            await tx.prefetch_workers(nik for i in fresh for nik in self.engine.niks_wanted(
                sessions.get(i.chat_key), i, ctx.today))
            changed: set[str] = set()
            handled = []
            later: list[tuple[str, str, Later]] = []
            for row_id, inbound in waiting:
                replies, notices = await self._step(tx, inbound, sessions, changed, ctx,
                                                    later)
                handled.append((row_id, [r.to_json() for r in replies]))
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
            await tx.handled(handled, self.instance, now + self.reply_lease)
        self._later += later
        self._received.update({i.media.path: i.chat_key for i in fresh
                               if i.media and i.media.path})
        return deliveries

    def _start_later(self) -> None:
        for channel, chat_id, later in self._later:
            task = asyncio.create_task(self._do_later(channel, chat_id, later))
            self._working.add(task)
            task.add_done_callback(self._working.discard)
        self._later.clear()

    async def _do_later(self, channel: str, chat_id: str, later: Later) -> None:
        """Do long work in its own transaction with its result journaled (``models.long_work``),
        then handle that result in turn. Work that keeps failing is answered as failed; if
        even that cannot be stored, staff asking again (their next message) asks for it
        again."""
        async with self._later_slots:
            for attempt in range(1, LATER_ATTEMPTS + 2):
                try:
                    if attempt > LATER_ATTEMPTS:
                        await answer_failed(self.store, channel, chat_id, later, self.clock())
                    elif not await do_later(self.store, channel, chat_id, later, self.clock()):
                        return  # done before: its result is handled where it was journaled
                    break
                except Exception as exc:  # a conflict with the same work, the database
                    log.warning("long work for a %s chat failed (%s), attempt %d", channel,
                                database_error(exc), attempt)
                    await asyncio.sleep(0.2 * attempt)
            else:
                return
        try:
            await self.submit([], frozenset([f"{channel}:{chat_id}"]))
        except Exception as exc:  # journaled: taken by whichever process finds it waiting
            log.warning("a long work's result waits: %s", database_error(exc))

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
        """The messages not journaled before, each once, in arrival order."""
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
                    changed: set[str], ctx: Context, later: list[tuple[str, str, Later]]
                    ) -> tuple[list[Rendered], list[tuple]]:
        """One message through the engine: keep its session and rows, render its replies
        (and the notices it sends others), add the long work it asks for to ``later``. A
        step that fails changes nothing, and the user is told to try again."""
        key = inbound.chat_key
        try:
            outcome = await self.engine.handle(sessions.get(key), inbound, ctx)
        except Exception:
            log.exception("message %s:%s failed", inbound.channel, inbound.external_id)
            locale = sessions[key].locale if key in sessions else self.engine.rules.default_locale
            return [self.renderer.render(Reply(N_("error.internal")), locale)], []
        later += [(inbound.channel, inbound.chat_id, e) for e in outcome.effects
                  if isinstance(e, Later)]
        notices = await apply_effects(tx, self.renderer, [
            e for e in outcome.effects if not isinstance(e, Later)], ctx.now,
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
        self._sending.add(mark)

        def forget(done: asyncio.Task) -> None:
            self._sending.discard(mark)
            if self._tails.get(chat_key) is done:
                del self._tails[chat_key]

        task.add_done_callback(forget)

    async def _deliver(self, previous: asyncio.Task | None, channel: str, mark: tuple[str, ...],
                       chat_key: str, messages: list[Rendered]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        PRIORITY.set(NOTICE if mark[0] == "outbox" else REPLY)  # for this task's sends
        sender = self.senders[channel]
        chat_id = chat_key.split(":", 1)[1]
        for position, message in enumerate(messages, 1):
            FOLLOWED.set(position < len(messages))
            if not await self._send(sender, chat_id, message):
                return  # left undelivered: sent again once its lease lapses
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
            self._queue.put_nowait(([], frozenset(), future))

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
