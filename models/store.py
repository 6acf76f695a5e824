"""The store: everything the conversation pipeline reads and writes, one transaction at a time.

Written with SQLAlchemy Core over the SQLModel tables, because it sits on the path of every
message; the same statements run on SQLite and PostgreSQL.
"""

import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import date, datetime

from sqlalchemy import and_, bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot import enrolment
from bot.messages import (
    ChangeStatus,
    OptOut,
    Rendered,
    WorkerInfo,
)
from models.broadcasts import BroadcastsTx
from models.claim_store import ClaimsTx
from models.consents import ConsentsTx
from models.db import READ_ONLY, create_engine
from models.outbox import OutboxTx
from models.proofs import ProofsTx
from models.rights import RightsTx
from models.schema import (
    ALIVE,
    FINAL_STATES,
    OPTED_OUT_ERROR,
    SESSIONS,
    WINDOW_CLOSED_ERROR,
    ContactInfo,
    Pending,
    app_secret,
    as_utc,
    claim_document,
    contact,
    conversation,
    dialect_insert,
    inbound,
    insert_ignoring,
    limit_event,
    membership,
    outbox,
    outgoing,
    place,
    proof_request,
    rights_request,
    worker,
)
from models.sessions import SessionsTx
from models.workers import WAITING, WorkersTx


class Tx(SessionsTx, OutboxTx, WorkersTx, ClaimsTx, ProofsTx, BroadcastsTx, ConsentsTx,
         RightsTx):
    """One open transaction. Also the engine's read-only ``Lookup``, so what a step reads is
    consistent with what it writes.

    New workers are queued and written together by ``flush`` (at the latest on commit); look-ups
    in the same transaction already see them. Workers looked up once are remembered, and
    ``prefetch_workers`` looks many up in one query: each query is a round trip through the
    event loop, which is what a busy bot cannot afford per message.

    Its methods live by what they store: the journal and sessions (``models.sessions``), the
    outbox and contacts (``models.outbox``), workers and places (``models.workers``), claims
    (``models.claim_store``), limits and proofs (``models.proofs``), broadcasts
    (``models.broadcasts``), consents (``models.consents``), requests under the data
    protection law (``models.rights``).
    """

    def __init__(self, conn: AsyncConnection, dtsen_key: bytes | None = None,
                 hash_key: bytes = b""):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.dtsen_key = dtsen_key
        self.hash_key = hash_key
        """Keys the hashes of what limits count (chats, NIKs) and of proof codes."""
        self._known: dict[str, WorkerInfo | None] = {}
        self._new: list[dict] = []
        self._memberships: list[dict] = []
        self._quotas: dict[str, int] = {}
        self._notices: list[dict] = []


class Store:
    def __init__(self, engine: AsyncEngine, dtsen_key: bytes | None = None):
        self.engine = engine
        self.dtsen_key = dtsen_key
        self._hash_key: bytes | None = None

    @classmethod
    def connect(cls, url: str, dtsen_key: bytes | None = None, pool_size: int = 10
                ) -> "Store":
        return cls(create_engine(url, pool_size), dtsen_key)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        if self._hash_key is None:
            self._hash_key = await self.secret("hashes")
        async with self.engine.begin() as conn:
            tx = Tx(conn, self.dtsen_key, self._hash_key)
            yield tx
            await tx.flush()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Tx]:
        """A read-only transaction (pages, counts): one consistent view that never holds the
        writer up on SQLite (WAL's snapshot, not ``BEGIN IMMEDIATE``) and that PostgreSQL
        refuses to write in."""
        if self._hash_key is None:
            self._hash_key = await self.secret("hashes")
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                if conn.dialect.name == "postgresql":
                    await conn.execute(text("SET TRANSACTION READ ONLY"))
                yield Tx(conn, self.dtsen_key, self._hash_key)

    async def secret(self, name: str) -> bytes:
        """A secret the bot made for itself on first use (the same for every process)."""
        async with self.engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            await conn.execute(insert_ignoring(postgres, app_secret).values(
                name=name, value=secrets.token_bytes(32)))
            return await conn.scalar(select(app_secret.c.value).where(
                app_secret.c.name == name))

    async def lapse(self, today: date, now: datetime) -> int:
        """Cover past its end date becomes lapsed, and its places free; returns how many.
        Those a renewal put in line past the next cycle's quota join the waiting list, in
        their order (by registration date), for the sweep to enrol as places free."""
        async with self.transaction() as tx:
            ended = (worker.c.status.in_(enrolment.HOLDING), worker.c.coverage_end < today)
            in_line = (await tx.conn.execute(
                select(worker.c.reference).join(membership, and_(
                    membership.c.worker_reference == worker.c.reference,
                    membership.c.programme_id == worker.c.programme_id,
                    membership.c.state == WAITING,
                    membership.c.starts_on > worker.c.coverage_end,
                    membership.c.ends_on >= today))
                .where(*ended, ALIVE).order_by(membership.c.position))).scalars().all()
            counts = await tx.conn.execute(
                select(worker.c.programme_id, func.count()).where(*ended)
                .group_by(worker.c.programme_id))
            total = 0
            for programme_id, count in counts.all():
                await tx.conn.execute(update(place).where(place.c.programme_id == programme_id)
                                      .values(taken=place.c.taken - count))
                total += count
            if total:
                await tx.conn.execute(update(worker).where(*ended).values(
                    status=enrolment.LAPSED))
            for reference in in_line:
                await tx.change_status(ChangeStatus(reference, enrolment.LAPSED,
                                                    enrolment.WAITING_LIST), now)
            return total

    async def undelivered(self) -> list[Pending]:
        """Replies that were stored but not confirmed sent, oldest first (e.g. after a crash)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(inbound.c.channel, inbound.c.external_id, inbound.c.chat_key,
                       inbound.c.replies)
                .where(inbound.c.handled.is_(True), inbound.c.delivered.is_(False))
                .order_by(inbound.c.id))
            return [Pending(r.channel, r.external_id, r.chat_key, json.loads(r.replies))
                    for r in rows]

    async def mark_delivered(self, marks: Iterable[tuple[str, ...]]) -> None:
        async with self.transaction() as tx:
            await tx.mark_delivered(marks)

    async def contact(self, chat_key: str) -> ContactInfo:
        """When the chat last wrote, and whether it opted out (an unknown chat: never, no)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(contact.c.last_inbound_at, contact.c.opted_out)
                                      .where(contact.c.chat_key == chat_key))).first()
        if row is None:
            return ContactInfo(None, False)
        return ContactInfo(as_utc(row.last_inbound_at) if row.last_inbound_at else None,
                           row.opted_out)

    async def message_sent(self, sid: str, chat_key: str, fallback: Rendered,
                           now: datetime) -> None:
        """A notice went as free text: keep it until Twilio says whether it arrived (a
        status report may have come first)."""
        async with self.transaction() as tx:
            upsert = dialect_insert(tx.postgres, outgoing)
            kept = json.dumps(fallback.to_json())
            await tx.conn.execute(
                upsert.values(sid=sid, chat_key=chat_key, status="queued", updated_at=now,
                              fallback=kept)
                .on_conflict_do_update(index_elements=[outgoing.c.sid],
                                       set_={"fallback": kept}))

    async def message_status(self, sid: str, chat_key: str, status: str,
                             error_code: int | None, now: datetime) -> Rendered | None:
        """A channel's report on a message it accepted. Error 21610 (the user blocked the
        sender on WhatsApp) marks the contact opted out. Returns the notice to send another
        way when the report says it could not go as free text (63016), once: the kept copy
        is taken with it. A delivered or failed notice's copy is dropped."""
        async with self.transaction() as tx:
            upsert = dialect_insert(tx.postgres, outgoing)
            values = {"status": status, "error_code": error_code, "updated_at": now}
            await tx.conn.execute(upsert.values(sid=sid, chat_key=chat_key, **values)
                                  .on_conflict_do_update(index_elements=[outgoing.c.sid],
                                                         set_=values))
            if error_code == OPTED_OUT_ERROR:
                await tx.opt_out(OptOut(chat_key, True), now)
            if status not in FINAL_STATES:
                return None
            # The upsert above holds the row: a report repeated meanwhile waits for this
            # transaction, then finds the copy taken.
            kept = await tx.conn.scalar(select(outgoing.c.fallback).where(outgoing.c.sid == sid))
            if kept is None:
                return None
            await tx.conn.execute(update(outgoing).where(outgoing.c.sid == sid)
                                  .values(fallback=None))
            if error_code != WINDOW_CLOSED_ERROR:
                return None
            return Rendered.from_json(json.loads(kept))

    async def hold_notice(self, chat_key: str, message: Rendered, now: datetime) -> None:
        """Keep a notice until the chat writes again (WhatsApp's window is closed and no
        template can carry it); sent then, as free text."""
        async with self.transaction() as tx:
            notice_id = tx.queue_notice(chat_key.split(":", 1)[0], chat_key, [message], now,
                                        leased=False)
            await tx.flush()
            await tx.conn.execute(update(outbox).where(outbox.c.id == notice_id)
                                  .values(held=True))

    async def is_document(self, path: str) -> bool:
        """Whether a claim (or a correction waiting for a verifier: the KTP photo) refers to
        this stored file."""
        return bool(await self.files_in_use({path}))

    async def document_paths(self) -> set[str]:
        """Every stored file a claim or a waiting correction refers to."""
        async with self.engine.connect() as conn:
            return set((await conn.execute(select(claim_document.c.path).distinct()))
                       .scalars()) | set((await conn.execute(
                           select(rights_request.c.document_path).where(
                               rights_request.c.document_path.is_not(None)))).scalars())

    async def probe_write(self) -> None:
        """Write and commit one tiny row (a counter): raises when the database answers but
        cannot store anything (a full disk, a read-only file)."""
        async with self.transaction() as tx:
            await tx.next_number("healthz")

    async def files_in_use(self, paths: set[str], drafts_of: Iterable[str] = ()) -> set[str]:
        """Which of these stored files a claim, a correction waiting for a verifier (the KTP
        photo) or the conversation of one of the chats ``drafts_of`` (a claim being reported,
        its documents not filed yet) still refers to. (A conversation is sealed: only the
        chats that sent the files are opened and read.)"""
        if not paths:
            return set()
        wanted = sorted(paths)
        async with self.engine.connect() as conn:
            used = set((await conn.execute(select(claim_document.c.path).where(
                claim_document.c.path.in_(wanted)).distinct())).scalars()) | set(
                (await conn.execute(select(rights_request.c.document_path).where(
                    rights_request.c.document_path.in_(wanted)))).scalars())
            chats = sorted(set(drafts_of))
            if chats and paths - used:
                states = [state for _, state in await conn.execute(SESSIONS, {"keys": chats})]
                used |= {path for path in paths - used if any(path in s for s in states)}
        return used

    async def forget_journal(self, before: datetime) -> int:
        """Delete delivered journal rows received before ``before``, and notices sent before
        then; returns how many rows went."""
        async with self.transaction() as tx:
            result = await tx.conn.execute(delete(inbound).where(
                inbound.c.delivered.is_(True), inbound.c.received_at < before))
            notices = await tx.conn.execute(delete(outbox).where(
                outbox.c.delivered.is_(True), outbox.c.created_at < before))
            return result.rowcount + notices.rowcount

    async def forget_counts(self, counted_before: datetime, asked_before: datetime) -> int:
        """Delete what no limit counts any more, and proof requests older than their
        record is kept; returns how many rows went."""
        async with self.transaction() as tx:
            counts = await tx.conn.execute(delete(limit_event).where(
                limit_event.c.at < counted_before))
            asked = await tx.conn.execute(delete(proof_request).where(
                proof_request.c.created_at < asked_before))
            return counts.rowcount + asked.rowcount

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
