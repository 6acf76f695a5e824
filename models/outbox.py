"""Notices waiting to be sent (the outbox, leased so one process sends each), and the chats'
contact state: when they last wrote, whether they said STOP."""

import json
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update

from bot.messages import (
    OptOut,
    Rendered,
)
from models.schema import NOTICE_LEASE, Pending, contact, dialect_insert, outbox


class OutboxTx:
    """Part of ``models.store.Tx``: it runs on that transaction's connection (``conn``,
    ``postgres``) and shares its caches."""

    async def claim_notices(self, now: datetime, limit: int = 200) -> list[Pending]:
        """Notices nobody is sending (new from another process, or a lapsed lease), leased
        to the caller."""
        query = (select(outbox.c.id, outbox.c.channel, outbox.c.chat_key, outbox.c.replies)
                 .where(outbox.c.delivered.is_(False), outbox.c.held.is_(False),
                        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now))
                 .order_by(outbox.c.created_at, outbox.c.id).limit(limit))
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        rows = (await self.conn.execute(query)).all()
        if rows:
            await self.conn.execute(update(outbox).where(
                outbox.c.id.in_(bindparam("ids", expanding=True))).values(
                lease_until=now + NOTICE_LEASE), {"ids": [r.id for r in rows]})
        return [Pending(r.channel, r.id, r.chat_key, json.loads(r.replies)) for r in rows]

    async def heard_from(self, chat_keys: Iterable[str], now: datetime) -> int:
        """These chats wrote just now (WhatsApp's 24-hour window starts again): the notices
        held for them may go, unless they asked for none (STOP). Returns how many were held."""
        keys = sorted(set(chat_keys))
        rows = [{"chat_key": key, "last_inbound_at": now, "opted_out": False} for key in keys]
        if not rows:
            return 0
        upsert = dialect_insert(self.postgres, contact)
        await self.conn.execute(upsert.on_conflict_do_update(
            index_elements=[contact.c.chat_key],
            set_={"last_inbound_at": upsert.excluded.last_inbound_at}), rows)
        opted_out = select(contact.c.chat_key).where(contact.c.opted_out.is_(True))
        released = await self.conn.execute(
            update(outbox).where(outbox.c.held.is_(True), outbox.c.delivered.is_(False),
                                 outbox.c.chat_key.in_(bindparam("keys", expanding=True)),
                                 outbox.c.chat_key.not_in(opted_out))
            .values(held=False, lease_until=None), {"keys": keys})
        return released.rowcount or 0

    async def opted_out(self, chat_key: str) -> bool:
        """Whether the chat asked for no messages the bot starts."""
        return bool(await self.conn.scalar(select(contact.c.opted_out).where(
            contact.c.chat_key == chat_key)))

    async def opt_out(self, effect: OptOut, now: datetime) -> None:
        upsert = dialect_insert(self.postgres, contact)
        values = {"opted_out": effect.opted_out, "opted_out_at": now if effect.opted_out
                  else None}
        await self.conn.execute(upsert.values(chat_key=effect.chat_key, **values)
                                .on_conflict_do_update(index_elements=[contact.c.chat_key],
                                                       set_=values))

    def queue_notice(self, channel: str, chat_key: str, replies: list[Rendered],
                     now: datetime, leased: bool = True) -> str:
        """Store a message for another chat; returns its id. ``leased``: this process sends
        it right after the commit; otherwise (the command line) the running bot does."""
        notice_id = secrets.token_hex(12)
        self._notices.append({"id": notice_id, "channel": channel, "chat_key": chat_key,
                              "replies": json.dumps([r.to_json() for r in replies]),
                              "created_at": now,
                              "lease_until": now + NOTICE_LEASE if leased else None,
                              "delivered": False, "held": False})
        return notice_id
