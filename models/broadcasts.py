"""Broadcasts in the store: the recipients chosen once, when staff confirm, a row each; then
leased in batches by whichever process sends (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several share the work; SQLite's write lock serialises the leasing), and marked one by one."""

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update

from models.store import Store, contact, worker
from models.tables import Broadcast, BroadcastRecipient

broadcast = Broadcast.__table__
recipient = BroadcastRecipient.__table__

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
SENDING, DONE = "sending", "done"
LEASE = timedelta(minutes=1)
"""How long a process may take to send a leased batch before another takes it over."""
INSERT_CHUNK = 1000


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to: registered workers matching every filter given."""

    programme: str | None = None
    status: str | None = None
    occupation: str | None = None
    kelurahan: str | None = None
    locale: str | None = None
    channel: str | None = None

    def conditions(self) -> list:
        wanted = []
        if self.programme:
            wanted.append(worker.c.programme_id == self.programme)
        if self.status:
            wanted.append(worker.c.status == self.status)
        if self.occupation:
            wanted.append(worker.c.occupation == self.occupation)
        if self.kelurahan:
            wanted.append(func.lower(worker.c.kelurahan) == self.kelurahan.strip().lower())
        if self.locale:
            wanted.append(worker.c.locale == self.locale)
        if self.channel:
            wanted.append(worker.c.channel == self.channel)
        return wanted


@dataclass(frozen=True)
class Recipient:
    id: int
    broadcast_id: int
    chat_key: str
    locale: str
    text: str
    attempts: int


@dataclass(frozen=True)
class Preview:
    total: int
    opted_out: int
    by_channel: dict[str, int]
    """Recipients to send to, by channel (the opted-out not counted)."""


@dataclass(frozen=True)
class Progress:
    broadcast_id: int
    status: str
    pending: int
    sent: int
    failed: int
    skipped: int

    @property
    def total(self) -> int:
        return self.pending + self.sent + self.failed + self.skipped


class Broadcasts:
    def __init__(self, store: Store):
        self.store = store

    async def preview(self, audience: Audience) -> "Preview":
        """What staff see before confirming: how many, how many said STOP, which channels."""
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(self._chats(audience))).all()
        by_channel: dict[str, int] = {}
        for row in rows:
            if not row.opted_out:
                channel = row.chat_key.split(":", 1)[0]
                by_channel[channel] = by_channel.get(channel, 0) + 1
        return Preview(len(rows), sum(1 for r in rows if r.opted_out), by_channel)

    async def create(self, audience: Audience, text_id: str, text_en: str | None, actor: str,
                     now: datetime, scheduled_at: datetime | None = None) -> Progress:
        """Store the broadcast and a row for each chat it goes to (a chat once, however many
        registrations it holds); chats that said STOP are recorded as skipped. With
        ``scheduled_at``, nothing is sent before then."""
        async with self.store.transaction() as tx:
            broadcast_id = await tx.conn.scalar(insert(broadcast).values(
                created_by=actor, created_at=now,
                audience=json.dumps({k: v for k, v in asdict(audience).items() if v}),
                text_id=text_id, text_en=text_en or None, status=SENDING,
                scheduled_at=scheduled_at
            ).returning(broadcast.c.id))
            rows = [{"broadcast_id": broadcast_id, "chat_key": r.chat_key, "locale": r.locale,
                     "state": SKIPPED if r.opted_out else PENDING, "attempts": 0,
                     "error": "opted out" if r.opted_out else None}
                    for r in (await tx.conn.execute(self._chats(audience))).all()]
            for start in range(0, len(rows), INSERT_CHUNK):
                await tx.conn.execute(insert(recipient), rows[start:start + INSERT_CHUNK])
            if not any(r["state"] == PENDING for r in rows):
                await tx.conn.execute(update(broadcast).where(broadcast.c.id == broadcast_id)
                                      .values(status=DONE, finished_at=now))
        return await self.progress(broadcast_id)

    @staticmethod
    def _chats(audience: Audience):
        """Each matching chat once, with the language of its latest registration."""
        latest = (select(worker.c.chat_key, func.max(worker.c.id).label("id"))
                  .where(*audience.conditions()).group_by(worker.c.chat_key).subquery())
        return (select(worker.c.chat_key, worker.c.locale,
                       func.coalesce(contact.c.opted_out, False).label("opted_out"))
                .join(latest, latest.c.id == worker.c.id)
                .outerjoin(contact, contact.c.chat_key == worker.c.chat_key)
                .order_by(worker.c.id))

    async def claim(self, now: datetime, limit: int, channels: Iterable[str] | None = None,
                    lease: timedelta = LEASE) -> list[Recipient]:
        """Lease up to ``limit`` recipients nobody is sending to (of these channels) until
        ``now + lease``."""
        query = (select(recipient.c.id, recipient.c.broadcast_id, recipient.c.chat_key,
                        recipient.c.locale, recipient.c.attempts, broadcast.c.text_id,
                        broadcast.c.text_en)
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
                          r.text_en if r.locale == "en" and r.text_en else r.text_id,
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
                    update(recipient).where(recipient.c.id == bindparam("rid"))
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
            status = await conn.scalar(select(broadcast.c.status).where(
                broadcast.c.id == broadcast_id))
            if status is None:
                return None
            counts = dict((await conn.execute(
                select(recipient.c.state, func.count()).where(
                    recipient.c.broadcast_id == broadcast_id).group_by(recipient.c.state)
            )).all())
        return Progress(broadcast_id, status, counts.get(PENDING, 0), counts.get(SENT, 0),
                        counts.get(FAILED, 0), counts.get(SKIPPED, 0))
