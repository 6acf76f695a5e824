"""Upkeep done by one process at a time among those sharing the database: the sweep (lapses,
waiting lists, expired drafts), the reminders, retention, and broadcast progress. A job is held
by one process (``INSTANCE``) until its lease ends; the holder keeps it by taking it again
before then, and when it stops, another takes it once the lease has lapsed."""

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from models.schema import dialect_insert, job_lease
from models.store import Store

log = logging.getLogger("lindungi.jobs")


class JobLeases:
    def __init__(self, store: Store, holder: str):
        self.store = store
        self.holder = holder

    async def hold(self, job: str, now: datetime, lease: timedelta) -> bool:
        """Take ``job`` until ``now + lease``, or keep it; False while another holds it."""
        async with self.store.transaction() as tx:
            upsert = dialect_insert(tx.postgres, job_lease)
            await tx.conn.execute(
                upsert.values(name=job, holder=self.holder, until=now + lease)
                .on_conflict_do_update(
                    index_elements=[job_lease.c.name],
                    set_={"holder": upsert.excluded.holder, "until": upsert.excluded.until},
                    where=(job_lease.c.until < now) | (job_lease.c.holder == self.holder)))
            holder = await tx.conn.scalar(select(job_lease.c.holder).where(
                job_lease.c.name == job))
        return holder == self.holder

    async def release_all(self) -> None:
        """Every job this process holds (it is stopping); a failure only leaves them to
        lapse."""
        try:
            async with self.store.transaction() as tx:
                await tx.conn.execute(job_lease.delete().where(
                    job_lease.c.holder == self.holder))
        except Exception as exc:  # noqa: BLE001 - the database is gone: they lapse
            log.warning("could not release the jobs held: %s", type(exc).__name__)
