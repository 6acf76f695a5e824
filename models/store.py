"""The store: everything the conversation pipeline reads and writes, one transaction at a time.

Written with SQLAlchemy Core over the SQLModel tables, because it sits on the path of every
message; the same statements run on SQLite and PostgreSQL.
"""

import hmac
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import bindparam, case, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot import claims, enrolment, proof
from bot.broadcasting import Audience, Preview, Progress
from bot.claims import ClaimInfo
from bot.messages import (
    AddDocuments,
    ChangeClaim,
    ChangePhone,
    ChangeStatus,
    Count,
    DecideProof,
    FileClaim,
    LinkChat,
    Media,
    OptOut,
    RegisterWorker,
    Rendered,
    RequestProof,
    TryProof,
    UnlinkChat,
    WorkerInfo,
)
from bot.proof import ProofInfo
from bot.quiet_hours import WIB
from models.db import create_engine
from models.tables import (
    AppSecret,
    Claim,
    ClaimDocument,
    Contact,
    Conversation,
    DtsenEntry,
    InboundMessage,
    LimitEvent,
    NumberSeries,
    Outbox,
    OutgoingMessage,
    ProgrammePlace,
    ProofRequest,
    Staff,
    StaffAction,
    Worker,
    WorkerChat,
)

conversation = Conversation.__table__
inbound = InboundMessage.__table__
worker = Worker.__table__
place = ProgrammePlace.__table__
outbox = Outbox.__table__
dtsen = DtsenEntry.__table__
staff = Staff.__table__
staff_action = StaffAction.__table__
app_secret = AppSecret.__table__
claim = Claim.__table__
claim_document = ClaimDocument.__table__
sequence = NumberSeries.__table__
contact = Contact.__table__
outgoing = OutgoingMessage.__table__
worker_chat = WorkerChat.__table__
proof_request = ProofRequest.__table__
limit_event = LimitEvent.__table__

NOTICE_LEASE = timedelta(minutes=5)
"""How long a process may take to send a notice before another may send it instead."""


OPTED_OUT_ERROR = 21610
"""Twilio: the recipient replied STOP (or blocked the number); sending again is refused."""
WINDOW_CLOSED_ERROR = 63016
"""Twilio: free text outside WhatsApp's 24 hours; only a template may be sent."""
FINAL_STATES = frozenset({"delivered", "read", "failed", "undelivered"})
"""Reports after which nothing more happens to a message."""


@dataclass(frozen=True)
class ContactInfo:
    last_inbound_at: datetime | None
    opted_out: bool

    def within(self, window: timedelta, now: datetime) -> bool:
        """Whether the chat wrote within ``window`` (WhatsApp: 24 hours) of ``now``."""
        return self.last_inbound_at is not None and now - self.last_inbound_at < window


class StaleChange(Exception):
    """A status change found the worker already changed by someone else: retry the batch."""


class NoPlace(Exception):
    """A place was taken that the programme did not have: retry the batch (never seen unless
    a step took a place without asking ``free_places`` first)."""

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
NOTICES_SENT = update(outbox).where(outbox.c.id.in_(bindparam("ids", expanding=True))).values(
    replies="[]", delivered=True)


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

    def __init__(self, conn: AsyncConnection, dtsen_key: bytes | None = None,
                 hash_key: bytes = b""):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.dtsen_key = dtsen_key
        self.hash_key = hash_key
        """Keys the hashes of what limits count (chats, NIKs) and of proof codes."""
        self._known: dict[str, WorkerInfo | None] = {}
        self._new: list[dict] = []
        self._quotas: dict[str, int] = {}
        self._notices: list[dict] = []

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

    async def register_worker(self, effect: RegisterWorker, channel: str, chat_key: str,
                              now: datetime) -> None:
        """Queue a new worker; one enrolled at once takes a programme place now, one in line
        gets the next ticket."""
        ticket = None
        if effect.status in enrolment.HOLDING:
            await self.take_place(effect.programme_id)
        elif effect.status == enrolment.WAITING_LIST:
            ticket = await self._join_line(effect.programme_id)
        row = dict(
            reference=effect.reference, nik=effect.nik, full_name=effect.full_name,
            birth_date=effect.birth_date, phone=effect.phone, occupation=effect.occupation,
            occupation_other=effect.occupation_other, kelurahan=effect.kelurahan,
            kecamatan=effect.kecamatan, monthly_income=effect.monthly_income,
            status=effect.status, channel=channel, chat_key=chat_key,
            locale=effect.locale, consent_version=effect.consent_version,
            consented_at=datetime.fromisoformat(effect.consented_at), created_at=now,
            programme_id=effect.programme_id, dtsen_desil=effect.dtsen_desil,
            coverage_start=effect.coverage_start, coverage_end=effect.coverage_end,
            queued_at=now if ticket else None, queue_ticket=ticket,
            status_reason=None, kpj=None)
        self._new.append(row)
        self._known[effect.nik] = _info_of(row)

    async def change_status(self, change: ChangeStatus, now: datetime) -> WorkerInfo:
        """Apply a status change (and the place it takes or frees); records it as a staff
        action when someone decided it. Raises ``StaleChange`` if the worker moved on."""
        await self.flush()
        values: dict = {"status": change.new}
        if change.reason is not None:
            values["status_reason"] = change.reason
        for name in ("coverage_start", "coverage_end", "kpj"):
            if getattr(change, name) is not None:
                values[name] = getattr(change, name)
        row = (await self.conn.execute(
            update(worker).where(worker.c.reference == change.reference,
                                 worker.c.status == change.old)
            .values(**values).returning(*WORKER_COLUMNS))).first()
        if row is None:
            raise StaleChange(change.reference)
        info = _info_of(row._mapping)
        if change.new in enrolment.HOLDING and change.old not in enrolment.HOLDING:
            await self.take_place(info.programme_id)
        elif change.old in enrolment.HOLDING and change.new not in enrolment.HOLDING:
            await self._count(info.programme_id, taken=place.c.taken - 1)
        if change.new == enrolment.WAITING_LIST:
            ticket = await self._join_line(info.programme_id)
            await self.conn.execute(update(worker).where(worker.c.reference == info.reference)
                                    .values(queued_at=now, queue_ticket=ticket))
            info = replace(info, queued_at=now, queue_ticket=ticket)
        elif change.old == enrolment.WAITING_LIST:
            await self._count(info.programme_id, waiting=place.c.waiting - 1)
        if change.actor:
            await self.record(change.actor, f"worker.{change.new}", change.reference,
                              {"from": change.old, "reason": change.reason}, now)
        self._known[info.nik] = info
        return info

    async def heard_from(self, chat_keys: Iterable[str], now: datetime) -> int:
        """These chats wrote just now (WhatsApp's 24-hour window starts again): the notices
        held for them may go, unless they asked for none (STOP). Returns how many were held."""
        keys = sorted(set(chat_keys))
        rows = [{"chat_key": key, "last_inbound_at": now, "opted_out": False} for key in keys]
        if not rows:
            return 0
        upsert = _upsert(self.postgres, contact)
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

    async def link_chat(self, effect: LinkChat, now: datetime) -> None:
        await self.conn.execute(_insert_ignoring(self.postgres, worker_chat).values(
            chat_key=effect.chat_key, worker_reference=effect.reference, linked_at=now))

    async def change_phone(self, effect: ChangePhone, now: datetime) -> None:
        """A worker's new number, recorded with the chat that changed it (the old number is
        not kept: the record says a change happened, not what it was)."""
        await self.flush()
        row = (await self.conn.execute(
            update(worker).where(worker.c.reference == effect.reference)
            .values(phone=effect.phone).returning(*WORKER_COLUMNS))).first()
        if row is None:
            raise StaleChange(effect.reference)
        info = _info_of(row._mapping)
        self._known[info.nik] = info
        await self.record(effect.actor, "worker.phone_changed", effect.reference,
                          {"chat": effect.actor.split(":", 1)[0]}, now)

    async def unlink_chat(self, effect: UnlinkChat, now: datetime) -> None:
        """A link the worker undid ("BUKAN SAYA"), recorded with who undid it."""
        removed = await self.conn.execute(delete(worker_chat).where(
            worker_chat.c.chat_key == effect.chat_key,
            worker_chat.c.worker_reference == effect.reference))
        if removed.rowcount:
            await self.record(effect.actor, "link.undone", effect.reference,
                              {"chat": effect.chat_key.split(":", 1)[0]}, now)

    async def chats_of(self, reference: str) -> list[tuple[str, datetime]]:
        await self.flush()
        row = (await self.conn.execute(select(worker.c.chat_key, worker.c.created_at).where(
            worker.c.reference == reference))).first()
        if row is None:
            return []
        linked = await self.conn.execute(
            select(worker_chat.c.chat_key, worker_chat.c.linked_at)
            .where(worker_chat.c.worker_reference == reference)
            .order_by(worker_chat.c.linked_at, worker_chat.c.chat_key))
        return [(row.chat_key, as_utc(row.created_at))] + [
            (chat, as_utc(at)) for chat, at in linked if chat != row.chat_key]

    # --- limits and proofs ------------------------------------------------------------------

    def _hashed(self, kind: str, key: str) -> bytes:
        """What a limit counts by: a keyed hash of the chat or the NIK (``kind`` names which),
        so the table holds no NIK."""
        return hmac.digest(self.hash_key, f"{kind.split('.')[0]}|{key}".encode(), "sha256")

    async def limit_used(self, kind: str, key: str, since: datetime) -> int:
        return await self.conn.scalar(
            select(func.coalesce(func.sum(limit_event.c.amount), 0)).where(
                limit_event.c.key_hash == self._hashed(kind, key),
                limit_event.c.kind == kind, limit_event.c.at >= since)) or 0

    async def count(self, effect: Count, now: datetime) -> None:
        await self.conn.execute(insert(limit_event).values(
            key_hash=self._hashed(effect.kind, effect.key), kind=effect.kind,
            amount=effect.amount, at=now))

    def _code_hash(self, code: str) -> bytes:
        return hmac.digest(self.hash_key, f"code|{code}".encode(), "sha256")

    async def request_proof(self, effect: RequestProof, now: datetime) -> None:
        """Store a proof request; a new code replaces the chat's earlier one."""
        method = proof.CODE if effect.code is not None else proof.STAFF
        if method == proof.CODE:
            await self.conn.execute(update(proof_request).where(
                proof_request.c.chat_key == effect.chat_key,
                proof_request.c.purpose == effect.purpose,
                proof_request.c.subject == effect.subject,
                proof_request.c.method == proof.CODE,
                proof_request.c.state == proof.PENDING).values(state="replaced"))
        await self.conn.execute(insert(proof_request).values(
            reference=effect.reference, purpose=effect.purpose, subject=effect.subject,
            chat_key=effect.chat_key, locale=effect.locale, method=method,
            code_hash=self._code_hash(effect.code) if effect.code is not None else None,
            tries=0, state=proof.PENDING, created_at=now, expires_at=effect.expires_at))

    async def try_proof(self, effect: TryProof, now: datetime) -> None:
        if effect.passed:
            values: dict = {"state": "passed", "decided_at": now}
        else:
            values = {"tries": proof_request.c.tries + 1, "state": case(
                (proof_request.c.tries + 1 >= proof.CODE_TRIES, "failed"),
                else_=proof_request.c.state)}
        await self.conn.execute(update(proof_request).where(
            proof_request.c.id == effect.proof_id,
            proof_request.c.state == proof.PENDING).values(**values))

    async def decide_proof(self, effect: DecideProof, now: datetime) -> None:
        """A staff member's answer to a request checked at the office; ``StaleChange`` if
        another answered it first."""
        state = "approved" if effect.approved else "refused"
        row = (await self.conn.execute(update(proof_request).where(
            proof_request.c.id == effect.proof_id, proof_request.c.state == proof.PENDING)
            .values(state=state, decided_by=effect.actor, decided_at=now, reason=effect.reason)
            .returning(proof_request.c.reference, proof_request.c.subject,
                       proof_request.c.chat_key))).first()
        if row is None:
            raise StaleChange(str(effect.proof_id))
        await self.record(effect.actor, f"link.{state}", row.subject,
                          {"request": row.reference, "chat": row.chat_key.split(":", 1)[0],
                           "reason": effect.reason}, now)

    async def open_proof(self, chat_key: str, purpose: str, subject: str, now: datetime,
                         method: str = proof.CODE) -> ProofInfo | None:
        row = (await self.conn.execute(_proofs().where(
            proof_request.c.chat_key == chat_key, proof_request.c.purpose == purpose,
            proof_request.c.subject == subject, proof_request.c.method == method,
            proof_request.c.state == proof.PENDING, proof_request.c.expires_at > now)
            .order_by(proof_request.c.id.desc()).limit(1))).first()
        return _proof_of(row) if row else None

    async def code_matches(self, proof_id: int, code: str) -> bool:
        stored = await self.conn.scalar(select(proof_request.c.code_hash).where(
            proof_request.c.id == proof_id))
        return stored is not None and hmac.compare_digest(stored, self._code_hash(code))

    async def proof_by_reference(self, reference: str) -> ProofInfo | None:
        row = (await self.conn.execute(_proofs().where(
            proof_request.c.reference == reference))).first()
        return _proof_of(row) if row else None

    async def staff_checks(self, now: datetime, limit: int) -> tuple[list[ProofInfo], int]:
        waiting = (proof_request.c.method == proof.STAFF,
                   proof_request.c.state == proof.PENDING, proof_request.c.expires_at > now)
        rows = await self.conn.execute(_proofs().where(*waiting)
                                       .order_by(proof_request.c.id).limit(limit))
        total = await self.conn.scalar(select(func.count()).select_from(proof_request)
                                       .where(*waiting))
        return [_proof_of(row) for row in rows], total

    async def opted_out(self, chat_key: str) -> bool:
        """Whether the chat asked for no messages the bot starts."""
        return bool(await self.conn.scalar(select(contact.c.opted_out).where(
            contact.c.chat_key == chat_key)))

    async def opt_out(self, effect: OptOut, now: datetime) -> None:
        upsert = _upsert(self.postgres, contact)
        values = {"opted_out": effect.opted_out, "opted_out_at": now if effect.opted_out
                  else None}
        await self.conn.execute(upsert.values(chat_key=effect.chat_key, **values)
                                .on_conflict_do_update(index_elements=[contact.c.chat_key],
                                                       set_=values))

    async def file_claim(self, effect: FileClaim, channel: str, chat_key: str,
                         now: datetime) -> None:
        """Store a reported death, its claim and the documents sent with it."""
        claim_id = await self.conn.scalar(insert(claim).values(
            reference=effect.reference, deceased_nik=effect.deceased_nik,
            worker_reference=effect.worker_reference, status=effect.status,
            status_reason=effect.status_reason, date_of_death=effect.date_of_death,
            cause=effect.cause, heir_name=effect.heir_name, heir_nik=effect.heir_nik,
            heir_phone=effect.heir_phone, relationship=effect.relationship,
            bank_name=effect.bank_name, account_number=effect.account_number,
            account_holder=effect.account_holder, estimate=effect.estimate, channel=channel,
            chat_key=chat_key, locale=effect.locale, consent_version=effect.consent_version,
            consented_at=datetime.fromisoformat(effect.consented_at), created_at=now,
            complete_at=now if effect.status == claims.SUBMITTED else None, changed_at=now,
        ).returning(claim.c.id))
        await self._documents(claim_id, effect.documents, now)

    async def add_documents(self, effect: AddDocuments, now: datetime) -> None:
        """Documents sent later: stored (one sent again replaces a rejected one) and the claim
        moved on; a claim complete from now has 3 working days to be paid."""
        row = (await self.conn.execute(select(claim.c.id, claim.c.status).where(
            claim.c.reference == effect.reference))).one()
        values: dict = {"status": effect.status, "changed_at": now}
        if effect.status == claims.SUBMITTED and effect.old != claims.SUBMITTED:
            values["complete_at"] = now
        moved = await self.conn.execute(update(claim).where(
            claim.c.id == row.id, claim.c.status == effect.old).values(**values))
        if not moved.rowcount:
            raise StaleChange(effect.reference)
        await self._documents(row.id, effect.documents, now)

    async def _documents(self, claim_id: int, documents, now: datetime) -> None:
        for document in documents:
            media = document.media
            values = dict(status="received", reason=None, path=media.path, sha256=media.sha256,
                          mime_type=media.mime_type, size=media.size, received_at=now)
            replaced = await self.conn.execute(update(claim_document).where(
                claim_document.c.claim_id == claim_id,
                claim_document.c.kind == document.kind).values(**values))
            if not replaced.rowcount:
                await self.conn.execute(insert(claim_document).values(
                    claim_id=claim_id, kind=document.kind, **values))

    async def change_claim(self, change: ChangeClaim, now: datetime) -> None:
        """A staff decision on a claim or one of its documents, recorded with who made it;
        ``StaleChange`` if the claim moved on meanwhile."""
        result = await self.conn.execute(
            update(claim).where(claim.c.reference == change.reference,
                                claim.c.status == change.old)
            .values(status=change.new, status_reason=change.reason if change.reason else
                    claim.c.status_reason, changed_at=now).returning(claim.c.id))
        claim_id = result.scalar()
        if claim_id is None:
            raise StaleChange(change.reference)
        if change.document:
            await self.conn.execute(update(claim_document).where(
                claim_document.c.claim_id == claim_id, claim_document.c.kind == change.document)
                .values(status=change.document_status, reason=change.reason))
        action = f"claim.document_{change.document_status}" if change.document \
            else f"claim.{change.new}"
        await self.record(change.actor, action, change.reference,
                          {"from": change.old, "document": change.document,
                           "reason": change.reason}, now)

    async def claims_by_status(self, statuses: tuple[str, ...], limit: int
                               ) -> tuple[list[ClaimInfo], int]:
        chosen = claim.c.status.in_(statuses)
        references = (await self.conn.execute(
            select(claim.c.reference).where(chosen)
            .order_by(claim.c.created_at, claim.c.id).limit(limit))).scalars().all()
        total = await self.conn.scalar(select(func.count()).where(chosen))
        return [await self.claim_by_reference(r) for r in references], total

    async def open_claims(self, nik: str) -> list[ClaimInfo]:
        references = (await self.conn.execute(
            select(claim.c.reference).where(claim.c.deceased_nik == nik,
                                            claim.c.status != claims.REJECTED)
            .order_by(claim.c.created_at, claim.c.id))).scalars().all()
        return [await self.claim_by_reference(r) for r in references]

    async def claim_by_reference(self, reference: str) -> ClaimInfo | None:
        return await self._claim(claim.c.reference == reference)

    async def _claim(self, where) -> ClaimInfo | None:
        row = (await self.conn.execute(select(claim).where(where))).first()
        if row is None:
            return None
        documents = (await self.conn.execute(select(claim_document).where(
            claim_document.c.claim_id == row.id))).all()
        others = (await self.conn.execute(select(claim.c.reference).where(
            claim.c.deceased_nik == row.deceased_nik, claim.c.id != row.id,
            claim.c.status != claims.REJECTED).order_by(claim.c.id))).scalars().all()
        return ClaimInfo(
            reference=row.reference, deceased_nik=row.deceased_nik, status=row.status,
            heir_nik=row.heir_nik, relationship=row.relationship, chat_key=row.chat_key,
            locale=row.locale, created_at=as_utc(row.created_at), date_of_death=row.date_of_death,
            estimate=row.estimate, reason=row.status_reason,
            documents={d.kind: d.status for d in documents}, heir_name=row.heir_name,
            cause=row.cause, complete_at=as_utc(row.complete_at) if row.complete_at else None,
            files={d.kind: Media(d.mime_type, d.size, d.sha256, d.path) for d in documents},
            heir_phone=row.heir_phone, others=tuple(others))

    async def next_number(self, series: str) -> int:
        bump = update(sequence).where(sequence.c.name == series).values(
            value=sequence.c.value + 1).returning(sequence.c.value)
        number = await self.conn.scalar(bump)
        if number is None:
            await self.conn.execute(_insert_ignoring(self.postgres, sequence).values(
                name=series, value=0))
            number = await self.conn.scalar(bump)
        return number

    async def record(self, actor: str, action: str, subject: str | None, detail: dict | None,
                     now: datetime) -> None:
        """One entry in the staff-action record, in this transaction."""
        detail = {k: v for k, v in (detail or {}).items() if v is not None}
        await self.conn.execute(insert(staff_action).values(
            actor=actor, action=action, subject=subject,
            detail=json.dumps(detail, ensure_ascii=False) if detail else None, at=now))

    async def _count(self, programme_id: str | None, **values) -> None:
        await self.conn.execute(update(place).where(place.c.programme_id == programme_id)
                                .values(**values))

    async def _join_line(self, programme_id: str | None) -> int:
        """A place in the programme's line: the next ticket, and one more waiting."""
        join = (update(place).where(place.c.programme_id == programme_id)
                .values(waiting=place.c.waiting + 1, tickets=place.c.tickets + 1)
                .returning(place.c.tickets))
        ticket = await self.conn.scalar(join)
        if ticket is None:
            await self._add_place(programme_id)
            ticket = await self.conn.scalar(join)
        return ticket

    async def _add_place(self, programme_id: str | None) -> None:
        """The programme's counting row, added on first use (by whichever process is first)."""
        await self.conn.execute(_insert_ignoring(self.postgres, place).values(
            programme_id=programme_id, taken=0, waiting=0, tickets=0))

    async def take_place(self, programme_id: str | None) -> None:
        """Take one place, never beyond the quota ``free_places`` read in this transaction."""
        quota = self._quotas.get(programme_id or "")
        if quota is None:
            raise NoPlace(f"no quota read for {programme_id}")
        result = await self.conn.execute(
            update(place).where(place.c.programme_id == programme_id, place.c.taken < quota)
            .values(taken=place.c.taken + 1))
        if result.rowcount != 1:
            raise NoPlace(programme_id)

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

    async def flush(self) -> None:
        """Write the queued workers and notices."""
        if self._new:
            rows, self._new = self._new, []
            await self.conn.execute(insert(worker), rows)
        if self._notices:
            rows, self._notices = self._notices, []
            await self.conn.execute(insert(outbox), rows)

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
        """The workers registered from this chat, then those linked to it later."""
        rows = await self.conn.execute(
            _worker_info().where(worker.c.chat_key == chat_key).order_by(worker.c.id))
        stored = [_info_of(row._mapping) for row in rows]
        linked = await self.conn.execute(_worker_info().join(
            worker_chat, worker_chat.c.worker_reference == worker.c.reference).where(
            worker_chat.c.chat_key == chat_key).order_by(worker_chat.c.linked_at))
        stored += [_info_of(row._mapping) for row in linked]
        return stored + [_info_of(row) for row in self._new if row["chat_key"] == chat_key]

    async def worker_by_reference(self, reference: str) -> WorkerInfo | None:
        await self.flush()
        row = (await self.conn.execute(
            _worker_info().where(worker.c.reference == reference))).first()
        return _info_of(row._mapping) if row else None

    async def dtsen_desil(self, nik: str) -> int | None:
        if self.dtsen_key is None:
            return None
        return await self.conn.scalar(select(dtsen.c.desil).where(
            dtsen.c.nik_hash == hmac.digest(self.dtsen_key, nik.encode(), "sha256")))

    async def free_places(self, programme_id: str, quota: int) -> int:
        self._quotas[programme_id] = quota
        query = select(place.c.taken).where(place.c.programme_id == programme_id)
        if self.postgres:
            query = query.with_for_update()
        taken = await self.conn.scalar(query)
        if taken is None:
            await self._add_place(programme_id)
            taken = await self.conn.scalar(query)
        return quota - taken

    async def waiting_count(self, programme_id: str) -> int:
        return await self.conn.scalar(select(place.c.waiting).where(
            place.c.programme_id == programme_id)) or 0

    async def waiting_position(self, info: WorkerInfo) -> int:
        """Without counting the line (tens of thousands long in a big city): every ticket
        between the first in line and this worker's belongs to someone still waiting, unless
        they left the line from the middle (rejected while waiting): only those are counted."""
        await self.flush()
        head = await self.conn.scalar(HEAD_OF_LINE, {"programme": info.programme_id})
        if head is None or info.queue_ticket is None:
            return 1
        left = await self.conn.scalar(LEFT_THE_LINE, {
            "programme": info.programme_id, "head": head, "mine": info.queue_ticket})
        return info.queue_ticket - head - left + 1

    async def first_waiting(self, programme_id: str, limit: int) -> list[WorkerInfo]:
        await self.flush()
        rows = await self.conn.execute(_worker_info().where(
            worker.c.programme_id == programme_id, worker.c.status == enrolment.WAITING_LIST,
            ALIVE).order_by(worker.c.queue_ticket).limit(limit))
        return [_info_of(row._mapping) for row in rows]

    async def awaiting_review(self, limit: int) -> tuple[list[WorkerInfo], int]:
        await self.flush()
        waiting = worker.c.status == enrolment.WAITING_VERIFICATION
        rows = await self.conn.execute(_worker_info().where(waiting)
                                       .order_by(worker.c.created_at, worker.c.id).limit(limit))
        total = await self.conn.scalar(select(func.count()).where(waiting))
        return [_info_of(row._mapping) for row in rows], total

    async def broadcast_preview(self, audience: Audience, reminder: str | None, today: date
                                ) -> Preview:
        from models import broadcasts  # it builds on this module

        return broadcasts.preview_of(await broadcasts.recipients(self.conn, audience, reminder,
                                                                 today))

    async def broadcast_progress(self, broadcast_id: int) -> Progress | None:
        from models import broadcasts

        return await broadcasts.progress_of(self.conn, broadcast_id)

    async def staff_role(self, channel: str, chat_id: str) -> str | None:
        return await self.conn.scalar(select(staff.c.role).where(
            staff.c.channel == channel, staff.c.chat_id == chat_id))


def _upsert(postgres: bool, table):
    """The dialect's INSERT, which has ``on_conflict_do_update`` on both databases."""
    if postgres:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _insert_ignoring(postgres: bool, table):
    """INSERT that leaves an existing row alone (another process may add it first)."""
    if postgres:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


DIED_ON = (select(func.min(claim.c.date_of_death))
           .where(claim.c.worker_reference == worker.c.reference,
                  claim.c.status != claims.REJECTED)
           .correlate(worker).scalar_subquery().label("died_on"))
"""The date of death an heir reported for a worker (a claim not rejected), if any."""
ALIVE = ~(select(claim.c.id).where(claim.c.worker_reference == worker.c.reference,
                                   claim.c.status != claims.REJECTED)
          .correlate(worker).exists())
"""No death reported for the worker: a condition for reminders, broadcasts, the waiting line
and the export to BPJS Ketenagakerjaan."""
WORKER_COLUMNS = (worker.c.reference, worker.c.nik, worker.c.full_name, worker.c.status,
                  worker.c.created_at, worker.c.birth_date, worker.c.chat_key, worker.c.locale,
                  worker.c.programme_id, worker.c.dtsen_desil, worker.c.status_reason,
                  worker.c.coverage_start, worker.c.coverage_end, worker.c.kpj,
                  worker.c.queued_at, worker.c.queue_ticket, worker.c.monthly_income,
                  worker.c.phone, DIED_ON)


def _worker_info():
    return select(*WORKER_COLUMNS)


HEAD_OF_LINE = select(func.min(worker.c.queue_ticket)).where(
    worker.c.programme_id == bindparam("programme"), worker.c.status == enrolment.WAITING_LIST)
LEFT_THE_LINE = select(func.count()).where(
    worker.c.programme_id == bindparam("programme"),
    worker.c.status.in_([s for s in enrolment.STATUSES if s != enrolment.WAITING_LIST]),
    worker.c.queue_ticket > bindparam("head"), worker.c.queue_ticket < bindparam("mine"))
"""Workers whose ticket lies between the head of the line and someone: those who were
promoted have tickets before the head (the line is served in order), so these are the few
who left from the middle. Each status is a short range of ``ix_worker_queue``."""

WORKERS_BY_NIK = _worker_info().where(worker.c.nik.in_(bindparam("niks", expanding=True)))


def _info_of(row) -> WorkerInfo:
    return WorkerInfo(reference=row["reference"], nik=row["nik"], full_name=row["full_name"],
                      status=row["status"],
                      registered_on=as_utc(row["created_at"]).astimezone(WIB).date(),
                      birth_date=row["birth_date"], chat_key=row["chat_key"],
                      locale=row["locale"], programme_id=row["programme_id"],
                      dtsen_desil=row["dtsen_desil"], reason=row["status_reason"],
                      coverage_start=row["coverage_start"], coverage_end=row["coverage_end"],
                      kpj=row["kpj"],
                      queued_at=as_utc(row["queued_at"]) if row["queued_at"] else None,
                      queue_ticket=row["queue_ticket"], monthly_income=row["monthly_income"],
                      phone=row["phone"], died_on=row.get("died_on"))


def _proofs():
    return select(proof_request.c.id, proof_request.c.purpose, proof_request.c.subject,
                  proof_request.c.chat_key, proof_request.c.locale, proof_request.c.method,
                  proof_request.c.state, proof_request.c.tries, proof_request.c.created_at,
                  proof_request.c.expires_at, proof_request.c.reference)


def _proof_of(row) -> ProofInfo:
    return ProofInfo(row.id, row.purpose, row.subject, row.chat_key, row.locale, row.method,
                     row.state, row.tries, as_utc(row.created_at), as_utc(row.expires_at),
                     row.reference)


class Store:
    def __init__(self, engine: AsyncEngine, dtsen_key: bytes | None = None):
        self.engine = engine
        self.dtsen_key = dtsen_key
        self._hash_key: bytes | None = None

    @classmethod
    def connect(cls, url: str, dtsen_key: bytes | None = None) -> "Store":
        return cls(create_engine(url), dtsen_key)

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

    async def secret(self, name: str) -> bytes:
        """A secret the bot made for itself on first use (the same for every process)."""
        async with self.engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            await conn.execute(_insert_ignoring(postgres, app_secret).values(
                name=name, value=secrets.token_bytes(32)))
            return await conn.scalar(select(app_secret.c.value).where(
                app_secret.c.name == name))

    async def lapse(self, today: date) -> int:
        """Cover past its end date becomes lapsed, and its places free; returns how many."""
        async with self.transaction() as tx:
            ended = (worker.c.status.in_(enrolment.HOLDING), worker.c.coverage_end < today)
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
            return total

    async def undelivered(self) -> list[Pending]:
        """Replies that were stored but not confirmed sent, oldest first (e.g. after a crash)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(inbound.c.channel, inbound.c.external_id, inbound.c.chat_key,
                       inbound.c.replies)
                .where(inbound.c.delivered.is_(False)).order_by(inbound.c.id))
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
            upsert = _upsert(tx.postgres, outgoing)
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
            upsert = _upsert(tx.postgres, outgoing)
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
        """Whether a claim refers to this stored file."""
        async with self.engine.connect() as conn:
            return await conn.scalar(select(claim_document.c.id).where(
                claim_document.c.path == path).limit(1)) is not None

    async def document_paths(self) -> set[str]:
        """Every stored file a claim refers to."""
        async with self.engine.connect() as conn:
            return set((await conn.execute(select(claim_document.c.path).distinct()))
                       .scalars())

    async def probe_write(self) -> None:
        """Write and commit one tiny row (a counter): raises when the database answers but
        cannot store anything (a full disk, a read-only file)."""
        async with self.transaction() as tx:
            await tx.next_number("healthz")

    async def files_in_use(self, paths: set[str]) -> set[str]:
        """Which of these stored files a claim or a conversation (a claim being reported, its
        documents not filed yet) still refers to."""
        if not paths:
            return set()
        async with self.engine.connect() as conn:
            used = set((await conn.execute(select(claim_document.c.path).where(
                claim_document.c.path.in_(sorted(paths))).distinct())).scalars())
            for path in sorted(paths - used):
                if await conn.scalar(select(conversation.c.chat_key).where(
                        conversation.c.state.contains(path, autoescape=True)).limit(1)):
                    used.add(path)
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
