"""The journal of messages and the conversations' sessions: a message is journaled as it
arrives, then handled with the others of its chat, in their order, by one process at a time."""

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ARRAY, Text, bindparam, insert, or_, select, text, tuple_, update

from bot.messages import Inbound
from models.schema import (
    DELIVERED,
    NOTICE_LEASE,
    NOTICES_SENT,
    SEEN,
    SESSIONS,
    Pending,
    conversation,
    inbound,
    outbox,
)

LOCK_CHATS = text(
    "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) "
    "FROM unnest(CAST(:keys AS text[])) AS k").bindparams(bindparam("keys", type_=ARRAY(Text)))
"""PostgreSQL: each chat's lock, taken in the order given (sorted, so two processes never wait
on each other crosswise) and held until the transaction ends."""
UNHANDLED = select(inbound.c.id, inbound.c.message).where(
    inbound.c.handled.is_(False), inbound.c.chat_key.in_(bindparam("keys", expanding=True))
).order_by(inbound.c.chat_key, inbound.c.sequence, inbound.c.id)
HANDLED = update(inbound).where(inbound.c.id == bindparam("row_id")).values(
    handled=True, message=None, replies=bindparam("replies"), delivered=bindparam("done"),
    lease_until=bindparam("lease"), lease_holder=bindparam("holder"))


class SessionsTx:
    """Part of ``models.store.Tx``: it runs on that transaction's connection (``conn``,
    ``postgres``) and shares its caches."""

    async def seen(self, channel: str, external_ids: Sequence[str]) -> set[str]:
        """Which of these message ids were handled before."""
        if not external_ids:
            return set()
        rows = await self.conn.execute(SEEN, {"channel": channel, "ids": list(external_ids)})
        return {row[0] for row in rows}

    async def load_sessions(self, chat_keys: Iterable[str]) -> dict[str, dict]:
        """Stored sessions by chat key; on PostgreSQL the rows stay locked until commit."""
        query = SESSIONS.with_for_update() if self.postgres else SESSIONS
        rows = await self.conn.execute(query, {"keys": sorted(set(chat_keys))})
        return {key: json.loads(state) for key, state in rows}

    async def save_sessions(self, states: dict[str, dict], existing: set[str],
                            now: datetime) -> None:
        updates = [{"k": k, "state": json.dumps(v), "now": now}
                   for k, v in states.items() if k in existing]
        inserts = [{"chat_key": k, "state": json.dumps(v), "updated_at": now}
                   for k, v in states.items() if k not in existing]
        if updates:
            await self.conn.execute(
                update(conversation).where(conversation.c.chat_key == bindparam("k"))
                .values(state=bindparam("state"), updated_at=bindparam("now")), updates)
        if inserts:
            await self.conn.execute(insert(conversation), inserts)

    async def journal(self, rows: list[dict]) -> None:
        """Record handled messages: dicts with channel, external_id, chat_key, received_at,
        replies (a list of rendered messages, or None when there is nothing to send) and
        optionally lease_until (this process sends them until then)."""
        if rows:
            await self.conn.execute(insert(inbound), [
                {"lease_until": None, **row,
                 "replies": json.dumps(row["replies"]) if row["replies"] else None,
                 "delivered": not row["replies"]} for row in rows])

    async def receive(self, messages: Sequence[Inbound], now: datetime) -> None:
        """Journal messages as they arrive (not seen before: see ``seen``), to be handled by
        whichever process takes their chat (``take_chats``)."""
        if messages:
            await self.conn.execute(insert(inbound), [
                {"channel": m.channel, "external_id": m.external_id, "chat_key": m.chat_key,
                 "received_at": now, "sequence": m.order, "handled": False,
                 "message": json.dumps(m.to_json()), "delivered": False} for m in messages])

    async def take_chats(self, chat_keys: Iterable[str]) -> list[tuple[int, Inbound]]:
        """The messages of these chats not handled yet, each chat's in its order, with their
        journal ids. On PostgreSQL the chats are locked first, until the transaction ends:
        a chat is handled by one process at a time, and the one that waited finds what the
        other handled gone from this list."""
        keys = sorted(set(chat_keys))
        if not keys:
            return []
        if self.postgres:
            await self.conn.execute(LOCK_CHATS, {"keys": keys})
        rows = await self.conn.execute(UNHANDLED, {"keys": keys})
        return [(row_id, Inbound.from_json(json.loads(message))) for row_id, message in rows]

    async def handled(self, rows: list[tuple[int, list[dict] | None]], holder: str,
                      lease_until: datetime) -> None:
        """Record messages handled: (journal id, the replies to send or None); the replies
        are ``holder``'s to send until ``lease_until``."""
        if rows:
            await self.conn.execute(HANDLED, [
                {"row_id": row_id, "replies": json.dumps(replies) if replies else None,
                 "done": not replies, "lease": lease_until if replies else None,
                 "holder": holder if replies else None}
                for row_id, replies in rows])

    async def waiting_chats(self, received_before: datetime | None, limit: int = 200
                            ) -> list[str]:
        """Chats with messages journaled before then (None: ever) and still not handled
        (their process stopped between the two)."""
        query = select(inbound.c.chat_key).distinct().where(inbound.c.handled.is_(False))
        if received_before is not None:
            query = query.where(inbound.c.received_at < received_before)
        rows = await self.conn.execute(query.limit(limit))
        return [key for (key,) in rows]

    async def claim_replies(self, now: datetime, holder: str, lease: timedelta, *,
                            restarted: bool = False, limit: int = 200) -> list[Pending]:
        """Replies handled but not sent whose sender's lease has lapsed (its process stopped
        or crashed), oldest first, leased to ``holder``; ``restarted``: with those ``holder``
        itself left before it started again."""
        free = [inbound.c.lease_until.is_(None), inbound.c.lease_until < now]
        if restarted:
            free.append(inbound.c.lease_holder == holder)
        query = (select(inbound.c.id, inbound.c.channel, inbound.c.external_id,
                        inbound.c.chat_key, inbound.c.replies)
                 .where(inbound.c.handled.is_(True), inbound.c.delivered.is_(False),
                        or_(*free))
                 .order_by(inbound.c.id).limit(limit))
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        rows = (await self.conn.execute(query)).all()
        if rows:
            await self.conn.execute(update(inbound).where(
                inbound.c.id.in_(bindparam("ids", expanding=True))).values(
                lease_until=now + lease, lease_holder=holder), {"ids": [r.id for r in rows]})
        return [Pending(r.channel, r.external_id, r.chat_key, json.loads(r.replies))
                for r in rows]

    async def renew_leases(self, marks: Iterable[tuple[str, ...]], holder: str,
                           now: datetime, reply_lease: timedelta) -> None:
        """``holder`` is still sending these (marks as for ``mark_delivered``), waiting out a
        channel's "retry after": nobody else takes them for another lease (replies'
        ``reply_lease``, notices' ``NOTICE_LEASE``)."""
        marks = list(marks)
        keys = [(m[1], m[2]) for m in marks if m[0] == "journal"]
        notices = [m[1] for m in marks if m[0] == "outbox"]
        for start in range(0, len(keys), 500):
            await self.conn.execute(update(inbound).where(
                tuple_(inbound.c.channel, inbound.c.external_id).in_(
                    bindparam("keys", expanding=True)),
                inbound.c.lease_holder == holder, inbound.c.delivered.is_(False)
            ).values(lease_until=now + reply_lease), {"keys": keys[start:start + 500]})
        for start in range(0, len(notices), 500):
            await self.conn.execute(update(outbox).where(
                outbox.c.id.in_(bindparam("ids", expanding=True)),
                outbox.c.delivered.is_(False)).values(lease_until=now + NOTICE_LEASE),
                {"ids": notices[start:start + 500]})

    async def mark_delivered(self, marks: Iterable[tuple[str, ...]]) -> None:
        """Record what was sent: ``("journal", channel, external_id)`` forgets a message's
        replies, ``("outbox", id)`` a notice's."""
        marks = list(marks)
        keys = [(m[1], m[2]) for m in marks if m[0] == "journal"]
        notices = [m[1] for m in marks if m[0] == "outbox"]
        for start in range(0, len(keys), 500):
            await self.conn.execute(DELIVERED, {"keys": keys[start:start + 500]})
        for start in range(0, len(notices), 500):
            await self.conn.execute(NOTICES_SENT, {"ids": notices[start:start + 500]})
