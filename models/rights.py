"""Requests under UU PDP 27/2022 as the store keeps them (``bot.rights``), and what carrying
them out changes: a registration corrected, or erased with everything that points at it."""

import json
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, insert, select, update

from bot import enrolment
from bot.messages import Media
from bot.rights import (
    DONE,
    OPEN,
    REFUSED,
    REVEALED,
    Consented,
    CorrectWorker,
    DecideRight,
    EraseWorker,
    Event,
    Filed,
    PersonalData,
    RequestInfo,
    RequestRight,
    RevealNik,
    actor_kind,
)
from models.schema import (
    WORKER_COLUMNS,
    StaleChange,
    as_utc,
    claim,
    consent,
    info_of,
    place,
    proof_request,
    rights_request,
    staff,
    staff_action,
    worker,
    worker_chat,
)
from models.tables import BroadcastRecipient, Reminder
from models.vault import nik_index

recipient = BroadcastRecipient.__table__
reminder = Reminder.__table__

CORRECTABLE = ("full_name", "birth_date", "nik", "kelurahan", "kecamatan", "occupation",
               "occupation_other")


def request_of(row) -> RequestInfo:
    document = Media(row.document_mime, row.document_size or 0, sha256=row.document_sha256,
                     path=row.document_path) if row.document_path else None
    return RequestInfo(row.number, row.subject, row.kind, row.state, row.chat_key or "",
                       row.locale, as_utc(row.created_at), as_utc(row.deadline), row.field,
                       row.value, document, as_utc(row.done_at) if row.done_at else None,
                       row.reason)


class RightsTx:
    """Part of ``models.store.Tx``: it runs on that transaction's connection."""

    async def request_right(self, effect: RequestRight, channel: str, now: datetime) -> None:
        document = effect.document
        await self.conn.execute(insert(rights_request).values(
            number=effect.number, subject=effect.reference, kind=effect.kind,
            state=effect.state, field=effect.field, value=effect.value,
            document_path=document.path if document else None,
            document_sha256=document.sha256 if document else None,
            document_mime=document.mime_type if document else None,
            document_size=document.size if document else None,
            chat_key=effect.chat_key, channel=channel, locale=effect.locale, created_at=now,
            deadline=effect.deadline, done_at=now if effect.state == DONE else None))

    async def correct_worker(self, effect: CorrectWorker, now: datetime) -> None:
        """The fields changed, recorded by name only (what they were is not kept)."""
        await self.flush()
        changes = {k: v for k, v in effect.changes.items() if k in CORRECTABLE}
        if "birth_date" in changes:
            changes["birth_date"] = datetime.fromisoformat(changes["birth_date"]).date()
        if "nik" in changes:
            changes["nik_index"] = nik_index(changes["nik"])
        row = (await self.conn.execute(
            update(worker).where(worker.c.reference == effect.reference)
            .values(**changes).returning(*WORKER_COLUMNS))).first()
        if row is None:
            raise StaleChange(effect.reference)
        self._known.clear()
        await self.record(effect.actor, "worker.corrected", effect.reference,
                          {"fields": sorted(changes)}, now)

    async def decide_right(self, effect: DecideRight, now: datetime) -> RequestInfo:
        """An open request decided: its value and photo are let go either way."""
        row = (await self.conn.execute(
            update(rights_request).where(rights_request.c.number == effect.number,
                                         rights_request.c.state == OPEN)
            .values(state=DONE if effect.approved else REFUSED, done_at=now,
                    decided_by=effect.actor, reason=effect.reason, value=None,
                    document_path=None, document_sha256=None, document_mime=None,
                    document_size=None)
            .returning(rights_request.c.subject, rights_request.c.kind))).first()
        if row is None:
            raise StaleChange(effect.number)
        await self.record(effect.actor, f"rights.{row.kind}."
                          f"{'approved' if effect.approved else 'refused'}", row.subject,
                          {"request": effect.number, "reason": effect.reason}, now)
        return await self.right_by_number(effect.number)

    async def erase_worker(self, effect: EraseWorker, now: datetime) -> bool:
        """Erase a registration and what points at it; its place goes to the next in line.
        Kept: the staff record (the reference, not the person) and the requests without
        their values, photos or chats. False if it was erased already."""
        await self.flush()
        row = (await self.conn.execute(select(
            worker.c.nik, worker.c.chat_key, worker.c.status, worker.c.programme_id,
            worker.c.kpj).where(worker.c.reference == effect.reference))).first()
        if row is None:
            return False
        reference = effect.reference
        chats = {row.chat_key} | set((await self.conn.execute(select(
            worker_chat.c.chat_key).where(worker_chat.c.worker_reference == reference)))
            .scalars())
        held_by_others = exists().where(
            worker.c.chat_key == recipient.c.chat_key, worker.c.reference != reference)
        await self.conn.execute(delete(recipient).where(
            recipient.c.state == "pending", recipient.c.chat_key.in_(sorted(chats)),
            (recipient.c.subject == reference) | and_(recipient.c.subject == "",
                                                      ~held_by_others)))
        for table, column in ((worker_chat, worker_chat.c.worker_reference),
                              (consent, consent.c.subject), (reminder, reminder.c.subject),
                              (proof_request, proof_request.c.subject)):
            await self.conn.execute(delete(table).where(column == reference))
        await self.conn.execute(update(rights_request).where(
            rights_request.c.subject == reference).values(
            value=None, document_path=None, document_sha256=None, document_mime=None,
            document_size=None, chat_key=None))
        await self.conn.execute(update(rights_request).where(
            rights_request.c.number == effect.number)
            .values(state=DONE, done_at=now, decided_by=effect.actor,
                    tombstone=nik_index(row.nik)))
        if row.status in enrolment.HOLDING:
            await self._count(row.programme_id, taken=place.c.taken - 1)
        elif row.status == enrolment.WAITING_LIST:
            await self._count(row.programme_id, waiting=place.c.waiting - 1)
        await self.end_membership(reference, now, f"erased on request {effect.number}")
        await self.conn.execute(delete(worker).where(worker.c.reference == reference))
        self._known.pop(row.nik, None)
        # The premium's payer must stop paying for this membership: the KPJ, only then.
        await self.record(effect.actor, "worker.erased", reference, {
            "request": effect.number, "programme": row.programme_id, "status": row.status,
            "kpj": row.kpj if row.status in enrolment.HOLDING else None}, now)
        return True

    async def reveal(self, effect: RevealNik, now: datetime) -> None:
        for subject in effect.subjects:
            await self.record(effect.actor, REVEALED, subject, {"why": effect.why}, now)

    async def erased_on(self, nik: str) -> str | None:
        """The request a registration with this NIK was erased on (its tombstone), if any."""
        return await self.conn.scalar(select(rights_request.c.number).where(
            rights_request.c.tombstone == nik_index(nik)).order_by(
            rights_request.c.id.desc()).limit(1))

    async def right_by_number(self, number: str) -> RequestInfo | None:
        row = (await self.conn.execute(select(rights_request).where(
            rights_request.c.number == number))).first()
        return request_of(row) if row else None

    async def rights_of(self, reference: str) -> list[RequestInfo]:
        rows = await self.conn.execute(select(rights_request).where(
            rights_request.c.subject == reference).order_by(rights_request.c.id))
        return [request_of(row) for row in rows]

    async def open_rights(self, limit: int) -> tuple[list[RequestInfo], int]:
        """The open requests, the nearest deadline (so the overdue) first, and how many."""
        query = select(rights_request).where(rights_request.c.state == OPEN)
        rows = await self.conn.execute(query.order_by(rights_request.c.deadline,
                                                      rights_request.c.id).limit(limit))
        total = await self.conn.scalar(select(func.count()).select_from(query.subquery()))
        return [request_of(row) for row in rows], total

    async def personal_data(self, reference: str) -> PersonalData | None:
        await self.flush()
        row = (await self.conn.execute(select(
            *WORKER_COLUMNS, worker.c.occupation, worker.c.occupation_other,
            worker.c.kelurahan, worker.c.kecamatan).where(
            worker.c.reference == reference))).first()
        if row is None:
            return None
        info = info_of(row._mapping)
        chats = tuple(await self.chats_of(reference))
        consents = tuple(Consented(r.purpose, r.given, r.version, r.locale, r.channel,
                                   as_utc(r.at)) for r in await self.conn.execute(
            select(consent).where(consent.c.subject == reference)
            .order_by(consent.c.at, consent.c.id)))
        filed = tuple(Filed(r.reference, r.status, as_utc(r.created_at))
                      for r in await self.conn.execute(
            select(claim.c.reference, claim.c.status, claim.c.created_at)
            .where(claim.c.heir_nik_index == nik_index(info.nik))
            .order_by(claim.c.created_at)))
        actions = (await self.conn.execute(
            select(staff_action.c.actor, staff_action.c.action, staff_action.c.at,
                   staff_action.c.detail)
            .where(staff_action.c.subject == reference)
            .order_by(staff_action.c.at, staff_action.c.id))).all()
        names = {f"{r.channel}:{r.chat_id}": r.name or r.role
                 for r in await self.conn.execute(select(
                     staff.c.channel, staff.c.chat_id, staff.c.name, staff.c.role))
                 if f"{r.channel}:{r.chat_id}" in {a.actor for a in actions}}
        own = {chat for chat, _ in chats}
        history = tuple(Event(a.action, as_utc(a.at), kind := actor_kind(a.actor, own),
                              names.get(a.actor) if kind == "staff" else None,
                              json.loads(a.detail).get("why") if a.action == REVEALED
                              and a.detail else None)
                        for a in actions)
        return PersonalData(info, chats[0][1], row.occupation, row.occupation_other,
                            row.kelurahan, row.kecamatan, chats, consents, filed, history,
                            tuple(await self.rights_of(reference)))
