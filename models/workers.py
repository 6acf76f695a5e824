"""Workers and their chats, programme places and the waiting line, the DTSEN extract, staff roles
and the staff-action record, as the engine reads and changes them."""

import hmac
import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime

from sqlalchemy import delete, func, insert, select, update

from bot import enrolment
from bot.areas import Area
from bot.billing import whole_months
from bot.messages import (
    ChangePhone,
    ChangeStatus,
    LinkChat,
    RegisterWorker,
    UnlinkChat,
    WorkerInfo,
)
from bot.quiet_hours import WIB
from models.schema import (
    ALIVE,
    HEAD_OF_LINE,
    LEFT_THE_LINE,
    WORKER_COLUMNS,
    WORKERS_BY_NIK,
    NoPlace,
    StaleChange,
    as_utc,
    dialect_insert,
    dtsen,
    info_of,
    insert_ignoring,
    membership,
    outbox,
    place,
    sequence,
    staff,
    staff_action,
    worker,
    worker_chat,
    worker_info,
)
from models.vault import nik_index

CONFIRMED, WAITING, REVIEW, ENDED = "confirmed", "waiting", "review", "ended"
"""The states of a membership (``models.tables.Membership``)."""
MEMBERSHIP_CHANGES = ("funder", "starts_on", "ends_on", "state", "position", "reason",
                      "changed_at")
"""What a membership recorded again changes (not who, where, which cycle or since when)."""


def membership_row(reference: str, programme_id: str, cycle: str, funder: str | None,
                   starts_on: date, ends_on: date, now: datetime, source: str = "chat",
                   state: str = CONFIRMED, position: int | None = None,
                   reason: str | None = None) -> dict:
    return {"worker_reference": reference, "programme_id": programme_id, "cycle": cycle,
            "funder": funder, "starts_on": starts_on, "ends_on": ends_on, "state": state,
            "source": source, "position": position, "reason": reason, "created_at": now,
            "changed_at": now}


class WorkersTx:
    """Part of ``models.store.Tx``: it runs on that transaction's connection (``conn``,
    ``postgres``) and shares its caches."""

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
            status_reason=None, kpj=None, dtsen_ok=effect.dtsen_consent,
            messages_ok=effect.messages_consent)
        self._new.append(row)
        self._known[effect.nik] = info_of(row)
        if effect.status in enrolment.HOLDING and effect.cycle:
            self._memberships.append(membership_row(
                effect.reference, effect.programme_id, effect.cycle, effect.funder,
                effect.coverage_start, effect.coverage_end, now))

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
        info = info_of(row._mapping)
        if change.new in enrolment.HOLDING and change.old not in enrolment.HOLDING:
            await self.take_place(info.programme_id)
            if change.cycle:
                await self.record_membership(membership_row(
                    info.reference, info.programme_id, change.cycle, change.funder,
                    info.coverage_start, info.coverage_end, now))
        elif change.old in enrolment.HOLDING and change.new not in enrolment.HOLDING:
            await self._count(info.programme_id, taken=place.c.taken - 1)
            await self.end_membership(info.reference, now, change.reason)
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

    def queue_worker(self, row: dict) -> None:
        """A registration made elsewhere than in a chat (an imported member), written with
        the others at ``flush``."""
        self._new.append(row)
        self._known[row["nik"]] = info_of(row)

    def forget_worker(self, nik: str) -> None:
        """A worker changed by a statement of the caller's own: looked up afresh next time."""
        self._known.pop(nik, None)

    async def hold_place(self, programme_id: str, count: int = 1) -> None:
        """Places taken, whatever the quota (members imported from before the bot)."""
        await self._add_place(programme_id)
        await self._count(programme_id, taken=place.c.taken + count)

    async def record_membership(self, *rows: dict) -> None:
        """Workers' memberships of a cycle, new or changed (one in line past the quota at
        renewal, then enrolled from the line)."""
        if not rows:
            return
        upsert = dialect_insert(self.postgres, membership)
        await self.conn.execute(upsert.on_conflict_do_update(
            index_elements=[membership.c.worker_reference, membership.c.programme_id,
                            membership.c.cycle],
            set_={name: upsert.excluded[name] for name in MEMBERSHIP_CHANGES}), list(rows))

    async def end_membership(self, reference: str, now: datetime,
                             reason: str | None = None) -> None:
        """Cover stopped today (ended by staff, erased): the membership running, and those
        confirmed for a later cycle, end; the bill counts no month after this one."""
        today = now.astimezone(WIB).date()
        running = (membership.c.worker_reference == reference,
                   membership.c.state.in_((CONFIRMED, WAITING, REVIEW)),
                   membership.c.ends_on >= today)
        await self.conn.execute(update(membership).where(
            *running, membership.c.starts_on <= today).values(
            ends_on=today, state=ENDED, reason=reason, changed_at=now))
        await self.conn.execute(update(membership).where(
            *running, membership.c.starts_on > today).values(
            ends_on=membership.c.starts_on, state=ENDED, reason=reason, changed_at=now))

    async def link_chat(self, effect: LinkChat, now: datetime) -> None:
        await self.conn.execute(insert_ignoring(self.postgres, worker_chat).values(
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
        info = info_of(row._mapping)
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
        """The chat the registration was made from (none for a member imported without a
        phone), then those linked to it."""
        await self.flush()
        row = (await self.conn.execute(select(worker.c.chat_key, worker.c.created_at).where(
            worker.c.reference == reference))).first()
        if row is None:
            return []
        linked = await self.conn.execute(
            select(worker_chat.c.chat_key, worker_chat.c.linked_at)
            .where(worker_chat.c.worker_reference == reference)
            .order_by(worker_chat.c.linked_at, worker_chat.c.chat_key))
        made_in = [(row.chat_key, as_utc(row.created_at))] if row.chat_key else []
        return made_in + [(chat, as_utc(at)) for chat, at in linked if chat != row.chat_key]

    async def next_number(self, series: str) -> int:
        bump = update(sequence).where(sequence.c.name == series).values(
            value=sequence.c.value + 1).returning(sequence.c.value)
        number = await self.conn.scalar(bump)
        if number is None:
            await self.conn.execute(insert_ignoring(self.postgres, sequence).values(
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
        await self.conn.execute(insert_ignoring(self.postgres, place).values(
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

    async def flush(self) -> None:
        """Write the queued workers and notices."""
        if self._new:
            rows, self._new = self._new, []
            await self.conn.execute(insert(worker), rows)
        if self._memberships:
            rows, self._memberships = self._memberships, []
            await self.conn.execute(insert(membership), rows)
        if self._notices:
            rows, self._notices = self._notices, []
            await self.conn.execute(insert(outbox), rows)

    async def prefetch_workers(self, niks: Iterable[str]) -> None:
        """Look these NIKs up in one query, so the steps asking for them need none."""
        wanted = sorted(set(niks) - set(self._known))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = await self.conn.execute(WORKERS_BY_NIK, {
                "indexes": [nik_index(nik) for nik in chunk]})
            found = {row.nik: info_of(row._mapping) for row in rows}
            self._known.update({nik: found.get(nik) for nik in chunk})

    async def worker_by_nik(self, nik: str) -> WorkerInfo | None:
        if nik not in self._known:
            await self.prefetch_workers([nik])
        return self._known[nik]

    async def workers_of_chat(self, chat_key: str) -> list[WorkerInfo]:
        """The workers registered from this chat, then those linked to it later."""
        rows = await self.conn.execute(
            worker_info().where(worker.c.chat_key == chat_key).order_by(worker.c.id))
        stored = [info_of(row._mapping) for row in rows]
        linked = await self.conn.execute(worker_info().join(
            worker_chat, worker_chat.c.worker_reference == worker.c.reference).where(
            worker_chat.c.chat_key == chat_key).order_by(worker_chat.c.linked_at))
        stored += [info_of(row._mapping) for row in linked]
        return stored + [info_of(row) for row in self._new if row["chat_key"] == chat_key]

    async def worker_by_reference(self, reference: str) -> WorkerInfo | None:
        await self.flush()
        row = (await self.conn.execute(
            worker_info().where(worker.c.reference == reference))).first()
        return info_of(row._mapping) if row else None

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
        rows = await self.conn.execute(worker_info().where(
            worker.c.programme_id == programme_id, worker.c.status == enrolment.WAITING_LIST,
            ALIVE).order_by(worker.c.queue_ticket).limit(limit))
        return [info_of(row._mapping) for row in rows]

    async def awaiting_review(self, limit: int, area: Area | None = None
                              ) -> tuple[list[WorkerInfo], int]:
        await self.flush()
        waiting = [worker.c.status == enrolment.WAITING_VERIFICATION]
        if area is not None:  # names are stored title-cased: the case is all that differs
            waiting.append(func.lower(getattr(worker.c, area.kind)) == area.name.lower())
        rows = await self.conn.execute(worker_info().where(*waiting)
                                       .order_by(worker.c.created_at, worker.c.id).limit(limit))
        total = await self.conn.scalar(select(func.count()).where(*waiting))
        return [info_of(row._mapping) for row in rows], total

    async def months_covered(self, reference: str, until: date) -> int | None:
        await self.flush()
        rows = (await self.conn.execute(select(membership.c.starts_on, membership.c.ends_on)
                                        .where(membership.c.worker_reference == reference,
                                               membership.c.state.in_((CONFIRMED, ENDED)),
                                               membership.c.starts_on <= until))).all()
        if not rows:
            return None
        return sum(whole_months(start, min(end, until)) for start, end in rows)

    async def staff_area(self, channel: str, chat_id: str) -> str | None:
        return await self.conn.scalar(select(staff.c.area).where(
            staff.c.channel == channel, staff.c.chat_id == chat_id))

    async def staff_role(self, channel: str, chat_id: str) -> str | None:
        return await self.conn.scalar(select(staff.c.role).where(
            staff.c.channel == channel, staff.c.chat_id == chat_id))
