"""The store: everything the conversation pipeline reads and writes, one transaction at a time.

Written with SQLAlchemy Core over the SQLModel tables, because it sits on the path of every
message; the same statements run on SQLite and PostgreSQL.
"""

import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.messages import RegisterWorker, WorkerInfo
from models.db import create_engine
from models.tables import Conversation, InboundMessage, Worker

conversation = Conversation.__table__
inbound = InboundMessage.__table__
worker = Worker.__table__

WAITING_VERIFICATION = "waiting_verification"

# Statements whose IN lists are passed at execution: one built with its values would keep them
# (NIKs among them) alive in SQLAlchemy's statement cache.
SEEN = select(inbound.c.external_id).where(
    inbound.c.channel == bindparam("channel"),
    inbound.c.external_id.in_(bindparam("ids", expanding=True)))
SESSIONS = select(conversation.c.chat_key, conversation.c.state).where(
    conversation.c.chat_key.in_(bindparam("keys", expanding=True)))
DELIVERED = update(inbound).where(
    tuple_(inbound.c.channel, inbound.c.external_id).in_(bindparam("keys", expanding=True))
).values(replies=None, delivered=True)


@dataclass(frozen=True)
class Pending:
    """Replies stored but not yet confirmed as sent."""

    channel: str
    external_id: str
    chat_key: str
    replies: list[dict]


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Tx:
    """One open transaction. Also the engine's read-only ``Lookup``, so what a step reads is
    consistent with what it writes.

    New workers are queued and written together by ``flush`` (at the latest on commit); look-ups
    in the same transaction already see them. Workers looked up once are remembered, and
    ``prefetch_workers`` looks many up in one query: each query is a round trip through the
    event loop, which is what a busy bot cannot afford per message.
    """

    def __init__(self, conn: AsyncConnection):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self._known: dict[str, WorkerInfo | None] = {}
        self._new: list[dict] = []

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

    async def mark_delivered(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget the replies of these (channel, external_id) messages: they were sent."""
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            await self.conn.execute(DELIVERED, {"keys": chunk})

    def register_worker(self, effect: RegisterWorker, channel: str, chat_key: str,
                        now: datetime) -> None:
        row = dict(
            reference=effect.reference, nik=effect.nik, full_name=effect.full_name,
            birth_date=effect.birth_date, phone=effect.phone, occupation=effect.occupation,
            occupation_other=effect.occupation_other, kelurahan=effect.kelurahan,
            kecamatan=effect.kecamatan, monthly_income=effect.monthly_income,
            status=WAITING_VERIFICATION, channel=channel, chat_key=chat_key,
            locale=effect.locale, consent_version=effect.consent_version,
            consented_at=datetime.fromisoformat(effect.consented_at), created_at=now)
        self._new.append(row)
        self._known[effect.nik] = _info_of(row)

    async def flush(self) -> None:
        """Write the queued workers."""
        if self._new:
            rows, self._new = self._new, []
            await self.conn.execute(insert(worker), rows)

    # --- bot.context.Lookup ---------------------------------------------------------------

    async def prefetch_workers(self, niks: Iterable[str]) -> None:
        """Look these NIKs up in one query, so the steps asking for them need none."""
        wanted = sorted(set(niks) - set(self._known))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = await self.conn.execute(WORKERS_BY_NIK, {"niks": chunk})
            found = {row.nik: _info_of(row._mapping) for row in rows}
            self._known.update({nik: found.get(nik) for nik in chunk})

    async def worker_by_nik(self, nik: str) -> WorkerInfo | None:
        if nik not in self._known:
            await self.prefetch_workers([nik])
        return self._known[nik]

    async def workers_of_chat(self, chat_key: str) -> list[WorkerInfo]:
        rows = await self.conn.execute(
            _worker_info().where(worker.c.chat_key == chat_key).order_by(worker.c.id))
        stored = [_info_of(row._mapping) for row in rows]
        return stored + [_info_of(row) for row in self._new if row["chat_key"] == chat_key]


def _worker_info():
    return select(worker.c.reference, worker.c.nik, worker.c.full_name, worker.c.status,
                  worker.c.created_at)


WORKERS_BY_NIK = _worker_info().where(worker.c.nik.in_(bindparam("niks", expanding=True)))


def _info_of(row) -> WorkerInfo:
    return WorkerInfo(reference=row["reference"], nik=row["nik"], full_name=row["full_name"],
                      status=row["status"], registered_on=as_utc(row["created_at"]).date())


class Store:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @classmethod
    def connect(cls, url: str) -> "Store":
        return cls(create_engine(url))

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.engine.begin() as conn:
            tx = Tx(conn)
            yield tx
            await tx.flush()

    async def undelivered(self) -> list[Pending]:
        """Replies that were stored but not confirmed sent, oldest first (e.g. after a crash)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(inbound.c.channel, inbound.c.external_id, inbound.c.chat_key,
                       inbound.c.replies)
                .where(inbound.c.delivered.is_(False)).order_by(inbound.c.id))
            return [Pending(r.channel, r.external_id, r.chat_key, json.loads(r.replies))
                    for r in rows]

    async def mark_delivered(self, keys: Iterable[tuple[str, str]]) -> None:
        async with self.transaction() as tx:
            await tx.mark_delivered(keys)

    async def forget_journal(self, before: datetime) -> int:
        """Delete delivered journal rows received before ``before``; returns how many."""
        async with self.transaction() as tx:
            result = await tx.conn.execute(delete(inbound).where(
                inbound.c.delivered.is_(True), inbound.c.received_at < before))
            return result.rowcount

    async def expire_sessions(self, idle_before: datetime,
                              expire: Callable[[dict], dict | None]) -> int:
        """Apply ``expire`` to the sessions idle since before ``idle_before``; store what it
        returns (None: leave unchanged). Returns how many changed."""
        async with self.transaction() as tx:
            query = select(conversation.c.chat_key, conversation.c.state).where(
                conversation.c.updated_at < idle_before)
            if tx.postgres:
                query = query.with_for_update(skip_locked=True)
            changed = []
            for key, state in await tx.conn.execute(query):
                new_state = expire(json.loads(state))
                if new_state is not None:
                    changed.append({"k": key, "state": json.dumps(new_state)})
            if changed:
                await tx.conn.execute(
                    update(conversation).where(conversation.c.chat_key == bindparam("k"))
                    .values(state=bindparam("state")), changed)
            return len(changed)
