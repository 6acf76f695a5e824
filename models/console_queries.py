"""What the staff console reads that the chat desk does not: the registration queue under a
page's filters, a worker's history and the notices sent to them, the claims queue with
counts per status. Read-only, each in a transaction of its own (``Store.transaction``), so
what a page shows is one consistent view."""

import json
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import func, or_, select

from bot import enrolment
from bot.areas import Area
from bot.claims import ClaimInfo
from bot.messages import WorkerInfo
from bot.quiet_hours import WIB
from models.schema import (
    as_utc,
    claim,
    info_of,
    membership,
    outbox,
    staff_action,
    worker,
    worker_info,
)
from models.store import Tx


@dataclass(frozen=True)
class QueueFilter:
    """The registration queue's filters: each given one narrows it."""

    programme: str = ""
    place: str = ""
    """A kelurahan or kecamatan, in any case."""
    since: date | None = None
    area: Area | None = None
    """The verifier's own area: never widened by the other filters."""

    def conditions(self) -> list:
        where = [worker.c.status == enrolment.WAITING_VERIFICATION]
        if self.area is not None:
            where.append(func.lower(getattr(worker.c, self.area.kind)) == self.area.name.lower())
        if self.programme:
            where.append(worker.c.programme_id == self.programme)
        if self.place:
            name = self.place.lower()
            where.append(or_(func.lower(worker.c.kelurahan) == name,
                             func.lower(worker.c.kecamatan) == name))
        if self.since is not None:
            where.append(worker.c.created_at >= datetime.combine(self.since, time(), WIB))
        return where


async def waiting(tx: Tx, chosen: QueueFilter, limit: int) -> tuple[list[WorkerInfo], int]:
    """The oldest registrations waiting for a verifier under these filters, and how many."""
    await tx.flush()
    where = chosen.conditions()
    rows = await tx.conn.execute(worker_info().where(*where).order_by(
        worker.c.created_at, worker.c.id).limit(limit))
    total = await tx.conn.scalar(select(func.count()).select_from(worker).where(*where))
    return [info_of(row._mapping) for row in rows], total


@dataclass(frozen=True)
class Event:
    at: datetime
    actor: str
    action: str
    detail: dict


@dataclass(frozen=True)
class Sent:
    at: datetime
    chat_key: str
    texts: list[str]
    delivered: bool
    held: bool


@dataclass(frozen=True)
class Cycle:
    programme_id: str
    cycle: str
    funder: str | None
    starts_on: date
    ends_on: date
    state: str
    source: str


async def history(tx: Tx, reference: str) -> tuple[list[Event], list[Cycle]]:
    """What staff did on a registration, newest first, and its memberships by cycle."""
    rows = await tx.conn.execute(select(staff_action).where(
        staff_action.c.subject == reference).order_by(staff_action.c.at.desc(),
                                                       staff_action.c.id.desc()).limit(100))
    events = [Event(as_utc(r.at), r.actor, r.action, json.loads(r.detail) if r.detail else {})
              for r in rows]
    cycles = [Cycle(r.programme_id, r.cycle, r.funder, r.starts_on, r.ends_on, r.state,
                    r.source) for r in await tx.conn.execute(select(membership).where(
                        membership.c.worker_reference == reference).order_by(
                        membership.c.starts_on))]
    return events, cycles


async def notices_to(tx: Tx, chat_keys: list[str], limit: int = 30) -> list[Sent]:
    """The notices the bot sent (or holds) for these chats, newest first."""
    if not chat_keys:
        return []
    rows = await tx.conn.execute(select(outbox).where(outbox.c.chat_key.in_(chat_keys))
                                 .order_by(outbox.c.created_at.desc()).limit(limit))
    return [Sent(as_utc(r.created_at), r.chat_key,
                 [reply["text"] for reply in json.loads(r.replies)], r.delivered, r.held)
            for r in rows]


async def claims_queue(tx: Tx, statuses: tuple[str, ...], limit: int
                       ) -> tuple[list[ClaimInfo], int]:
    """The oldest claims in these statuses as a list shows them (no documents: one query,
    however many are shown), and how many there are."""
    chosen = claim.c.status.in_(statuses)
    rows = await tx.conn.execute(select(claim).where(chosen).order_by(
        claim.c.created_at, claim.c.id).limit(limit))
    found = [ClaimInfo(
        reference=r.reference, deceased_nik=r.deceased_nik, status=r.status,
        heir_nik=r.heir_nik, relationship=r.relationship, chat_key=r.chat_key,
        locale=r.locale, created_at=as_utc(r.created_at), date_of_death=r.date_of_death,
        estimate=r.estimate, reason=r.status_reason, heir_name=r.heir_name, cause=r.cause,
        complete_at=as_utc(r.complete_at) if r.complete_at else None) for r in rows]
    return found, await tx.conn.scalar(select(func.count()).select_from(claim)
                                       .where(chosen))


async def claim_counts(tx: Tx) -> dict[str, int]:
    """How many claims are in each status."""
    rows = await tx.conn.execute(select(claim.c.status, func.count()).group_by(claim.c.status))
    return {status: count for status, count in rows}


async def worker_programme_counts(tx: Tx) -> dict[tuple[str | None, str], int]:
    """Workers per programme and status."""
    rows = await tx.conn.execute(select(worker.c.programme_id, worker.c.status, func.count())
                                 .group_by(worker.c.programme_id, worker.c.status))
    return {(programme, status): count for programme, status, count in rows}
