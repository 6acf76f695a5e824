"""Reminders the bot sends by itself, once per worker (or claim) and occasion:

- coverage ending: some days before a worker's coverage ends (``REMINDER_COVERAGE_DAYS``,
  default 30 and 7);
- documents missing: some days after a claim waiting for the heir's documents last changed
  (``REMINDER_DOCUMENTS_DAYS``, default 3 and 7); a document sent or asked for starts over.

(A worker enrolled from the waiting list is told by the sweep that enrols them, in the same
transaction: ``enrolment.fill_places``.)

Each run finds who is due and stores, in one transaction, a broadcast of the ready reminder to
them and a ``reminder`` row per worker or claim, cycle and occasion. The broadcast machinery then
sends each message once, outside quiet hours, within the rates; the rows keep any later run,
restart or second process from sending it again (their unique key refuses a duplicate). A run
that was missed (the bot was down) catches up with the nearest occasion only: a worker due both
the 30-day and the 7-day reminder gets the 7-day one.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, cast, exists, func, insert

from bot.broadcasting import Audience
from bot.quiet_hours import WIB
from models.broadcasts import coverage_query, documents_query, store_broadcast, waiting_claims
from models.schema import claim, worker
from models.store import Store, Tx
from models.tables import Reminder

reminder = Reminder.__table__

COVERAGE, DOCUMENTS = "coverage_ending", "documents_missing"
SYSTEM = "system:reminders"


@dataclass(frozen=True)
class ReminderDays:
    coverage: tuple[int, ...] = (30, 7)
    """Days before coverage ends."""
    documents: tuple[int, ...] = (3, 7)
    """Days after a claim waiting for documents last changed."""


class Reminders:
    def __init__(self, store: Store, days: ReminderDays = ReminderDays()):
        self.store = store
        self.days = days

    async def run(self, now: datetime) -> dict[tuple[str, int], int]:
        """Store the reminders due at ``now``; returns how many of each (kind, days) went
        into a broadcast."""
        today = now.astimezone(WIB).date()
        made: dict[tuple[str, int], int] = {}
        async with self.store.transaction() as tx:
            for days in sorted(self.days.coverage):  # the nearest occasion first
                cycle = _text(tx, worker.c.coverage_end)
                done = exists().where(and_(
                    reminder.c.kind == COVERAGE, reminder.c.subject == worker.c.reference,
                    reminder.c.cycle == cycle, reminder.c.occasion <= days))
                query = coverage_query(Audience(), today).add_columns(cycle.label("cycle")) \
                    .where(worker.c.coverage_end <= today + timedelta(days=days), ~done)
                rows = [{"chat_key": r.chat_key, "locale": r.locale,
                         "opted_out": bool(r.opted_out), "subject": r.reference,
                         "cycle": r.cycle,
                         "params": {"full_name": r.full_name, "reference": r.reference,
                                    "coverage_end": r.coverage_end.isoformat()}}
                        for r in (await tx.conn.execute(query)).all()]
                made[(COVERAGE, days)] = await self._store(tx, COVERAGE, days, rows, now)
            for days in sorted(self.days.documents, reverse=True):  # the latest first
                cycle = _text(tx, claim.c.changed_at, utc=True)
                done = exists().where(and_(
                    reminder.c.kind == DOCUMENTS, reminder.c.subject == claim.c.reference,
                    reminder.c.cycle == cycle, reminder.c.occasion >= days))
                query = documents_query(Audience()).add_columns(cycle.label("cycle")).where(
                    claim.c.changed_at <= now - timedelta(days=days), ~done)
                rows = await waiting_claims(tx.conn, query)
                made[(DOCUMENTS, days)] = await self._store(tx, DOCUMENTS, days, rows, now)
        return {key: count for key, count in made.items() if count}

    @staticmethod
    async def _store(tx: Tx, kind: str, days: int, rows: list[dict], now: datetime) -> int:
        if not rows:
            return 0
        broadcast_id = await store_broadcast(
            tx.conn, rows, audience={"reminder": kind, "days": days}, text_id=None,
            text_en=None, reminder=kind, actor=SYSTEM, now=now)
        await tx.conn.execute(insert(reminder), [
            {"kind": kind, "subject": r["subject"], "cycle": r["cycle"], "occasion": days,
             "broadcast_id": broadcast_id, "created_at": now} for r in rows])
        return len(rows)


def _text(tx: Tx, column, utc: bool = False):
    """A date (or, with ``utc``, a time) as text, the same way every time on this database:
    what tells one cycle (a coverage period, a claim's wait) from the next."""
    if tx.postgres:
        return func.to_char(func.timezone("UTC", column) if utc else column,
                            'YYYY-MM-DD"T"HH24:MI:SS')
    return cast(column, String)
