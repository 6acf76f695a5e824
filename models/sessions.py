"""The journal of messages handled and the conversations' sessions, in the transaction a message is
handled in."""

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, insert, update

from models.schema import DELIVERED, NOTICES_SENT, SEEN, SESSIONS, conversation, inbound


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
        replies (a list of rendered messages, or None when there is nothing to send)."""
        if rows:
            await self.conn.execute(insert(inbound), [
                {**row, "replies": json.dumps(row["replies"]) if row["replies"] else None,
                 "delivered": not row["replies"]} for row in rows])

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
