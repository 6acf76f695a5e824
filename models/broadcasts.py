"""Broadcasts in the store: the recipients chosen once, when staff confirm, a row each; then
leased in batches by whichever process sends (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several share the work; SQLite's write lock serialises the leasing), and marked one by one."""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import claims, enrolment
from bot.broadcasting import READY, Audience, Preview, Progress
from bot.channels import BROADCAST
from bot.quiet_hours import WIB
from models.schema import (
    ALIVE,
    UNRESTRICTED,
    as_utc,
    claim,
    claim_document,
    contact,
    worker,
    worker_chat,
)
from models.tables import Broadcast, BroadcastRecipient

if TYPE_CHECKING:
    from models.store import Store, Tx

broadcast = Broadcast.__table__
recipient = BroadcastRecipient.__table__

PENDING, SENT, FAILED, SKIPPED, CANCELLED = "pending", "sent", "failed", "skipped", "cancelled"
SENDING, DONE = "sending", "done"
LEASE = timedelta(minutes=1)
"""How long a process may take to send a leased batch before another takes it over."""
INSERT_CHUNK = 1000


class NotApplicable(ValueError):
    """Filters a ready reminder does not take (a reminder to heirs has no programme filter)."""


@dataclass(frozen=True)
class Recipient:
    id: int
    broadcast_id: int
    chat_key: str
    locale: str
    text: str | None
    """The text in the recipient's language; None for a ready reminder."""
    reminder: str | None
    params: dict | None
    attempts: int


@dataclass(frozen=True)
class ProgressDue:
    """A broadcast whose progress is due to be shown to the staff member who started it."""

    broadcast_id: int
    chat_key: str
    locale: str
    message_id: str | None


def worker_conditions(audience: Audience) -> list:
    """The workers an audience takes: never one whose death was reported, nor one who did not
    consent to the messages the bot starts, nor a chat on a channel that takes no broadcasts
    (the terminal), nor one restricted while a correction of their data waits."""
    wanted = [ALIVE, UNRESTRICTED, worker.c.channel.in_(BROADCAST),
              worker.c.messages_ok.is_(True)]
    if audience.programme:
        wanted.append(worker.c.programme_id == audience.programme)
    if audience.status:
        wanted.append(worker.c.status == audience.status)
    if audience.occupation:
        wanted.append(worker.c.occupation == audience.occupation)
    if audience.kelurahan:
        wanted.append(func.lower(worker.c.kelurahan) == audience.kelurahan.strip().lower())
    if audience.locale:
        wanted.append(worker.c.locale == audience.locale)
    if audience.channel:
        wanted.append(worker.c.channel == audience.channel)
    if audience.invite:
        wanted += [worker.c.consent_version == enrolment.IMPORTED, ~exists().where(
            worker_chat.c.worker_reference == worker.c.reference), ~exists().where(
            contact.c.chat_key == worker.c.chat_key, contact.c.last_inbound_at.is_not(None))]
    return wanted


def check_filters(audience: Audience, reminder: str | None) -> None:
    """``NotApplicable`` naming the filters this reminder does not take."""
    if reminder is None:
        return
    extra = sorted(set(audience.given()) - set(READY[reminder].filters))
    if extra:
        raise NotApplicable(", ".join(extra))


async def recipients(conn: AsyncConnection, audience: Audience, reminder: str | None,
                     today: date) -> list[dict]:
    """The rows a broadcast would have: for a text, each matching chat once, in the language
    of its latest registration; for a ready reminder, each worker (or claim) it is about, with
    its values. Chats that said STOP are there as ``opted_out``."""
    check_filters(audience, reminder)
    if reminder == "coverage_ending":
        return [_row(r, r.reference, {"full_name": r.full_name, "reference": r.reference,
                                      "coverage_end": r.coverage_end.isoformat()})
                for r in (await conn.execute(coverage_query(audience, today))).all()]
    if reminder == "documents_missing":
        return await waiting_claims(conn, documents_query(audience))
    latest = (select(worker.c.chat_key, func.max(worker.c.id).label("id"))
              .where(*worker_conditions(audience)).group_by(worker.c.chat_key).subquery())
    query = (select(worker.c.chat_key, worker.c.locale, opted_out())
             .join(latest, latest.c.id == worker.c.id)
             .outerjoin(contact, contact.c.chat_key == worker.c.chat_key)
             .order_by(worker.c.id))
    return [_row(r, "", None) for r in (await conn.execute(query)).all()]


def opted_out():
    return func.coalesce(contact.c.opted_out, False).label("opted_out")


def coverage_query(audience: Audience, today: date):
    """Workers holding cover that has not ended, with what the reminder tells them."""
    return (select(worker.c.chat_key, worker.c.locale, worker.c.reference, worker.c.full_name,
                   worker.c.coverage_end, opted_out())
            .outerjoin(contact, contact.c.chat_key == worker.c.chat_key)
            .where(worker.c.status.in_(enrolment.HOLDING), worker.c.coverage_end >= today,
                   *worker_conditions(audience))
            .order_by(worker.c.id))


def documents_query(audience: Audience):
    """Claims waiting for the heir's documents."""
    wanted = [claim.c.status.in_(claims.WAITING_FOR_DOCUMENTS), claim.c.channel.in_(BROADCAST)]
    if audience.locale:
        wanted.append(claim.c.locale == audience.locale)
    if audience.channel:
        wanted.append(claim.c.channel == audience.channel)
    return (select(claim.c.id, claim.c.chat_key, claim.c.locale, claim.c.reference,
                   claim.c.relationship, claim.c.changed_at, opted_out())
            .outerjoin(contact, contact.c.chat_key == claim.c.chat_key)
            .where(*wanted).order_by(claim.c.id))


async def waiting_claims(conn: AsyncConnection, query) -> list[dict]:
    """The claims of ``query`` with the documents each still lacks (a claim lacking none,
    staff having asked for something else, is told of its reference only)."""
    found = (await conn.execute(query)).all()
    sent: dict[int, dict[str, str]] = {}
    for start in range(0, len(found), INSERT_CHUNK):
        ids = [r.id for r in found[start:start + INSERT_CHUNK]]
        for row in (await conn.execute(select(
                claim_document.c.claim_id, claim_document.c.kind, claim_document.c.status)
                .where(claim_document.c.claim_id.in_(ids)))).all():
            sent.setdefault(row.claim_id, {})[row.kind] = row.status
    return [_row(r, r.reference, {"reference": r.reference, "documents": list(
        claims.missing(r.relationship, sent.get(r.id, {})))},
        cycle=getattr(r, "cycle", None)) for r in found]


def _row(row, subject: str, params: dict | None, **extra) -> dict:
    return {"chat_key": row.chat_key, "locale": row.locale, "opted_out": bool(row.opted_out),
            "subject": subject, "params": params, **extra}


def preview_of(rows: list[dict]) -> Preview:
    by_channel: dict[str, int] = {}
    for row in rows:
        if not row["opted_out"]:
            channel = row["chat_key"].split(":", 1)[0]
            by_channel[channel] = by_channel.get(channel, 0) + 1
    sample = next((r["params"] for r in rows if not r["opted_out"]), None)
    return Preview(len(rows), sum(1 for r in rows if r["opted_out"]), by_channel, sample)


async def store_broadcast(conn: AsyncConnection, rows: list[dict], *, audience: dict,
                          text_id: str | None, text_en: str | None, reminder: str | None,
                          actor: str, now: datetime, scheduled_at: datetime | None = None,
                          progress_chat: str | None = None,
                          progress_locale: str | None = None) -> int:
    """Store a broadcast and its rows (from ``recipients``), in the caller's transaction;
    chats that said STOP are recorded as skipped. Returns its id."""
    broadcast_id = await conn.scalar(insert(broadcast).values(
        created_by=actor, created_at=now, audience=json.dumps(audience, ensure_ascii=False),
        text_id=text_id, text_en=text_en or None, reminder=reminder, status=SENDING,
        # in UTC, as every time is stored: SQLite keeps the digits and drops the zone
        scheduled_at=scheduled_at.astimezone(UTC) if scheduled_at else None,
        progress_chat=progress_chat,
        progress_locale=progress_locale).returning(broadcast.c.id))
    stored = [{"broadcast_id": broadcast_id, "chat_key": r["chat_key"], "locale": r["locale"],
               "subject": r["subject"],
               "params": json.dumps(r["params"], ensure_ascii=False) if r["params"] else None,
               "state": SKIPPED if r["opted_out"] else PENDING, "attempts": 0,
               "error": "opted out" if r["opted_out"] else None} for r in rows]
    for start in range(0, len(stored), INSERT_CHUNK):
        await conn.execute(insert(recipient), stored[start:start + INSERT_CHUNK])
    if not any(r["state"] == PENDING for r in stored):
        await conn.execute(update(broadcast).where(broadcast.c.id == broadcast_id)
                           .values(status=DONE, finished_at=now))
    return broadcast_id


async def create_broadcast(tx: "Tx", audience: Audience, *, text_id: str | None,
                           text_en: str | None, reminder: str | None, actor: str,
                           now: datetime, today: date, scheduled_at: datetime | None = None,
                           progress_chat: str | None = None,
                           progress_locale: str | None = None,
                           rows: list[dict] | None = None) -> int:
    """Choose the recipients as they are now (or take ``rows``, from ``recipients`` in this
    transaction), store the broadcast, and record who sent it to whom, in the caller's
    transaction; returns its id."""
    if rows is None:
        rows = await recipients(tx.conn, audience, reminder, today)
    broadcast_id = await store_broadcast(
        tx.conn, rows, audience=audience.given(), text_id=text_id, text_en=text_en,
        reminder=reminder, actor=actor, now=now, scheduled_at=scheduled_at,
        progress_chat=progress_chat, progress_locale=progress_locale)
    await tx.record(actor, "broadcast.create", str(broadcast_id),
                    {"audience": audience.given(), "reminder": reminder,
                     "recipients": len(rows)}, now)
    return broadcast_id


async def cancel_broadcast(tx: "Tx", broadcast_id: int, actor: str, now: datetime) -> int:
    """Stop a broadcast: its recipients not sent yet are not sent (a send already under way
    still lands), recorded with who stopped it. Returns how many were stopped; 0 for a
    broadcast already over."""
    stopped = (await tx.conn.execute(update(recipient).where(
        recipient.c.broadcast_id == broadcast_id, recipient.c.state == PENDING)
        .values(state=CANCELLED, lease_until=None, error="cancelled"))).rowcount
    await tx.conn.execute(update(broadcast).where(broadcast.c.id == broadcast_id,
                                                  broadcast.c.status == SENDING)
                          .values(status=CANCELLED, finished_at=now))
    if stopped:
        await tx.record(actor, "broadcast.cancel", str(broadcast_id), {"not_sent": stopped},
                        now)
    return stopped


async def progress_of(conn: AsyncConnection, broadcast_id: int) -> Progress | None:
    row = (await conn.execute(select(broadcast.c.status, broadcast.c.scheduled_at).where(
        broadcast.c.id == broadcast_id))).first()
    if row is None:
        return None
    counts = dict((await conn.execute(
        select(recipient.c.state, func.count()).where(
            recipient.c.broadcast_id == broadcast_id).group_by(recipient.c.state))).all())
    by_channel = {}
    if counts.get(PENDING):
        for channel in BROADCAST:
            by_channel[channel] = await conn.scalar(
                select(func.count()).select_from(recipient).where(
                    recipient.c.broadcast_id == broadcast_id, recipient.c.state == PENDING,
                    recipient.c.chat_key.startswith(f"{channel}:")))
    scheduled = row.scheduled_at
    return Progress(broadcast_id, row.status, counts.get(PENDING, 0), counts.get(SENT, 0),
                    counts.get(FAILED, 0), counts.get(SKIPPED, 0), counts.get(CANCELLED, 0),
                    as_utc(scheduled) if scheduled else None,
                    {c: n for c, n in by_channel.items() if n})


@dataclass(frozen=True)
class Sent:
    """A broadcast as a list of them shows it."""

    broadcast_id: int
    created_by: str
    created_at: datetime
    text_id: str | None
    reminder: str | None
    scheduled_at: datetime | None
    progress: Progress


class Broadcasts:
    def __init__(self, store: "Store"):
        self.store = store

    async def preview(self, audience: Audience, reminder: str | None = None,
                      today: date | None = None) -> Preview:
        """What staff see before confirming: how many, how many said STOP, which channels."""
        async with self.store.engine.connect() as conn:
            return preview_of(await recipients(conn, audience, reminder,
                                               today or datetime.now(WIB).date()))

    async def create(self, audience: Audience, text_id: str | None, text_en: str | None,
                     actor: str, now: datetime, scheduled_at: datetime | None = None,
                     reminder: str | None = None, today: date | None = None) -> Progress:
        """Store the broadcast and a row for each recipient. With ``scheduled_at``, nothing
        is sent before then."""
        async with self.store.transaction() as tx:
            broadcast_id = await create_broadcast(
                tx, audience, text_id=text_id, text_en=text_en, reminder=reminder, actor=actor,
                now=now, today=today or now.astimezone(WIB).date(), scheduled_at=scheduled_at)
        return await self.progress(broadcast_id)

    async def recent(self, limit: int = 20) -> list[Sent]:
        """The latest broadcasts (reminders the bot sends by itself among them), newest
        first, each with where it stands."""
        async with self.store.reading() as tx:
            rows = (await tx.conn.execute(select(broadcast).order_by(
                broadcast.c.id.desc()).limit(limit))).all()
            return [Sent(r.id, r.created_by, as_utc(r.created_at), r.text_id, r.reminder,
                         as_utc(r.scheduled_at) if r.scheduled_at else None,
                         await progress_of(tx.conn, r.id)) for r in rows]

    async def cancel(self, broadcast_id: int, actor: str, now: datetime) -> Progress | None:
        async with self.store.transaction() as tx:
            if await progress_of(tx.conn, broadcast_id) is None:
                return None
            await cancel_broadcast(tx, broadcast_id, actor, now)
        return await self.progress(broadcast_id)

    async def claim(self, now: datetime, limit: int, channels: Iterable[str] | None = None,
                    lease: timedelta = LEASE) -> list[Recipient]:
        """Lease up to ``limit`` recipients nobody is sending to (of these channels) until
        ``now + lease``."""
        query = (select(recipient.c.id, recipient.c.broadcast_id, recipient.c.chat_key,
                        recipient.c.locale, recipient.c.attempts, recipient.c.params,
                        broadcast.c.text_id, broadcast.c.text_en, broadcast.c.reminder)
                 .join(broadcast, broadcast.c.id == recipient.c.broadcast_id)
                 .where(recipient.c.state == PENDING,
                        or_(recipient.c.lease_until.is_(None), recipient.c.lease_until < now),
                        or_(broadcast.c.scheduled_at.is_(None), broadcast.c.scheduled_at <= now))
                 .order_by(recipient.c.id).limit(limit))
        if channels is not None:
            channels = list(channels)
            if not channels:
                return []
            query = query.where(or_(*(recipient.c.chat_key.startswith(f"{c}:")
                                      for c in channels)))
        async with self.store.transaction() as tx:
            if tx.postgres:
                query = query.with_for_update(of=recipient, skip_locked=True)
            rows = (await tx.conn.execute(query)).all()
            if rows:
                await tx.conn.execute(
                    update(recipient).where(recipient.c.id.in_(bindparam("ids",
                                                                         expanding=True)))
                    .values(lease_until=now + lease, attempts=recipient.c.attempts + 1),
                    {"ids": [r.id for r in rows]})
        return [Recipient(r.id, r.broadcast_id, r.chat_key, r.locale,
                          None if r.reminder else
                          r.text_en if r.locale == "en" and r.text_en else r.text_id,
                          r.reminder, json.loads(r.params) if r.params else None,
                          r.attempts + 1) for r in rows]

    async def finish(self, results: list[tuple[int, str, str | None]], now: datetime) -> None:
        """Record what became of each recipient: (id, ``sent`` or ``failed``, why), or
        (id, ``pending``, why) to try again once its lease runs out. A broadcast with no
        recipient left to send is done."""
        if not results:
            return
        async with self.store.transaction() as tx:
            final = [{"rid": rid, "state": state, "error": (error or None) and error[:200],
                      "sent_at": now if state == SENT else None}
                     for rid, state, error in results if state != PENDING]
            if final:
                await tx.conn.execute(
                    update(recipient).where(recipient.c.id == bindparam("rid"))
                    .values(state=bindparam("state"), error=bindparam("error"),
                            sent_at=bindparam("sent_at"), lease_until=None), final)
            again = [{"rid": rid, "error": (error or "")[:200]}
                     for rid, state, error in results if state == PENDING]
            if again:
                await tx.conn.execute(
                    update(recipient).where(recipient.c.id == bindparam("rid"),
                                            recipient.c.state == PENDING)
                    .values(error=bindparam("error")), again)
            ids = [rid for rid, _, _ in results]
            touched = select(recipient.c.broadcast_id).where(
                recipient.c.id.in_(bindparam("ids", expanding=True))).distinct()
            left = exists().where(and_(recipient.c.broadcast_id == broadcast.c.id,
                                       recipient.c.state == PENDING))
            await tx.conn.execute(
                update(broadcast).where(broadcast.c.id.in_(touched), broadcast.c.status == SENDING,
                                        ~left).values(status=DONE, finished_at=now),
                {"ids": ids})

    async def retry_after(self, ids: list[int], until: datetime) -> None:
        """Leave these recipients pending, not to be taken again before ``until``."""
        if ids:
            async with self.store.transaction() as tx:
                await tx.conn.execute(
                    update(recipient).where(recipient.c.id.in_(bindparam("ids",
                                                                         expanding=True)))
                    .values(lease_until=until), {"ids": ids})

    async def waiting(self, broadcast_id: int, channels: Iterable[str]) -> int:
        """Recipients of these channels still to send (leased or waiting out a 429)."""
        channels = list(channels)
        if not channels:
            return 0
        async with self.store.engine.connect() as conn:
            return await conn.scalar(select(func.count()).select_from(recipient).where(
                recipient.c.broadcast_id == broadcast_id, recipient.c.state == PENDING,
                or_(*(recipient.c.chat_key.startswith(f"{c}:") for c in channels))))

    async def progress(self, broadcast_id: int) -> Progress | None:
        async with self.store.engine.connect() as conn:
            return await progress_of(conn, broadcast_id)

    async def progress_due(self, now: datetime, every: timedelta) -> list[ProgressDue]:
        """The broadcasts started in a chat whose progress was last shown ``every`` ago or
        more (or never), or that ended since; each taken by one process (the others see it
        shown just now)."""
        async with self.store.transaction() as tx:
            rows = (await tx.conn.execute(select(
                broadcast.c.id, broadcast.c.progress_chat, broadcast.c.progress_locale,
                broadcast.c.progress_message, broadcast.c.progress_at, broadcast.c.status)
                .where(broadcast.c.progress_chat.is_not(None), ~broadcast.c.progress_final)
                .order_by(broadcast.c.id))).all()
            due = []
            for row in rows:
                last = as_utc(row.progress_at) if row.progress_at else None
                if row.status == SENDING and last is not None and now - last < every:
                    continue
                taken = await tx.conn.execute(update(broadcast).where(
                    broadcast.c.id == row.id,
                    broadcast.c.progress_at.is_(None) if last is None
                    else broadcast.c.progress_at == row.progress_at).values(progress_at=now))
                if taken.rowcount:
                    due.append(ProgressDue(row.id, row.progress_chat,
                                           row.progress_locale or "id", row.progress_message))
            return due

    async def progress_shown(self, broadcast_id: int, message_id: str | None,
                             final: bool) -> None:
        async with self.store.transaction() as tx:
            await tx.conn.execute(update(broadcast).where(broadcast.c.id == broadcast_id)
                                  .values(progress_message=message_id, progress_final=final))


class BroadcastsTx:
    """The engine's look-ups of broadcasts (``bot.context.Lookup``), as part of ``Tx``."""

    conn: AsyncConnection

    async def broadcast_progress(self, broadcast_id: int) -> Progress | None:
        return await progress_of(self.conn, broadcast_id)
