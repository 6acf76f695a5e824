"""The retention schedule (UU PDP: kept no longer than the purpose needs), applied once a day.

- A registration that led nowhere (not eligible, or self-paid: the bot only pointed the worker
  to BPJS's own channels) with no activity for ``inactive`` (RETENTION_INACTIVE_DAYS, a year by
  default) is erased with its links, consents, reminders and broadcast rows. Activity: a staff
  action on it, or a message from its chat, since then; one an heir reported dead is kept with
  the claim.
- The documents of a claim paid or rejected ``closed`` ago (RETENTION_CLAIM_DOCUMENTS_DAYS, 90
  days) are let go: their rows now, their files at the next prune of files nothing refers to.
  The claim itself stays for audit.

Only counts are logged and recorded, never who.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select

from bot import claims, enrolment
from models.broadcasts import recipient as broadcast_recipient
from models.reminders import reminder
from models.schema import (
    claim,
    claim_document,
    consent,
    contact,
    staff_action,
    worker,
    worker_chat,
)
from models.store import Store

LED_NOWHERE = (enrolment.NOT_ELIGIBLE, enrolment.SELF_PAID)
CLOSED = (claims.PAID, claims.REJECTED)
ACTOR = "system:retention"


@dataclass(frozen=True)
class Schedule:
    inactive: timedelta = timedelta(days=365)
    closed: timedelta = timedelta(days=90)


async def apply_retention(store: Store, now: datetime, schedule: Schedule = Schedule()
                          ) -> dict[str, int]:
    """Erase what the schedule says is no longer needed; returns how many of each."""
    inactive_before, closed_before = now - schedule.inactive, now - schedule.closed
    async with store.transaction() as tx:
        acted = exists().where(staff_action.c.subject == worker.c.reference,
                               staff_action.c.at >= inactive_before)
        wrote = exists().where(contact.c.chat_key == worker.c.chat_key,
                               contact.c.last_inbound_at >= inactive_before)
        claimed = exists().where(claim.c.worker_reference == worker.c.reference)
        references = list((await tx.conn.execute(select(worker.c.reference).where(
            worker.c.status.in_(LED_NOWHERE), worker.c.created_at < inactive_before,
            ~acted, ~wrote, ~claimed))).scalars())
        for table, column in ((worker_chat, worker_chat.c.worker_reference),
                              (consent, consent.c.subject), (reminder, reminder.c.subject),
                              (broadcast_recipient, broadcast_recipient.c.subject)):
            if references:
                await tx.conn.execute(delete(table).where(column.in_(references)))
        erased = (await tx.conn.execute(delete(worker).where(
            worker.c.reference.in_(references)))).rowcount if references else 0
        closed = select(claim.c.id).where(claim.c.status.in_(CLOSED),
                                          claim.c.changed_at < closed_before)
        documents = (await tx.conn.execute(delete(claim_document).where(
            claim_document.c.claim_id.in_(closed)))).rowcount
        counts = {"registrations": erased, "documents": documents}
        if erased or documents:
            await tx.record(ACTOR, "retention.applied", None, counts, now)
    return counts

