"""The channels' schedules of sends in the database (``handlers.pacing.Book``), so every process
sharing it draws on one budget per channel: each booking is one short transaction of its own,
never inside a message's (which would hold every other process's bookings until it commits)."""

from sqlalchemy import bindparam, func, select, update

from models.schema import dialect_insert, insert_ignoring, send_budget, send_pace
from models.store import Store

FORGET_EVERY_S = 60.0
"""How often a process deletes the chats whose interval is long over (``send_pace`` keeps one
row per chat only while it can still hold a send back)."""


class SharedBook:
    def __init__(self, store: Store):
        self.store = store
        self._forgotten_at = 0.0

    async def reserve(self, channel: str, count: int, spacing: float, now: float,
                      horizon: float) -> float | None:
        async with self.store.engine.begin() as conn:
            greatest = _greatest(conn.dialect.name)
            for _ in range(2):
                booked = await conn.scalar(
                    update(send_budget)
                    .where(send_budget.c.channel == channel,
                           send_budget.c.next_at <= now + horizon)
                    .values(next_at=greatest(send_budget.c.next_at, now) + count * spacing)
                    .returning(send_budget.c.next_at))
                if booked is not None:
                    return booked - count * spacing
                if await conn.scalar(select(send_budget.c.channel).where(
                        send_budget.c.channel == channel)) is not None:
                    return None  # booked too far ahead
                await conn.execute(insert_ignoring(conn.dialect.name == "postgresql",
                                                   send_budget).values(channel=channel,
                                                                       next_at=0.0))
        return None

    async def pace_chats(self, channel: str, slots: dict[str, float], interval: float
                         ) -> dict[str, float]:
        async with self.store.engine.begin() as conn:
            upsert = dialect_insert(conn.dialect.name == "postgresql", send_pace)
            taken = set((await conn.execute(
                upsert.values([{"chat_key": key, "next_at": at + interval}
                               for key, at in slots.items()])
                .on_conflict_do_update(
                    index_elements=[send_pace.c.chat_key],
                    set_={"next_at": upsert.excluded.next_at},
                    where=send_pace.c.next_at <= upsert.excluded.next_at - interval)
                .returning(send_pace.c.chat_key))).scalars())
            refused = [key for key in slots if key not in taken]
            rows = await conn.execute(
                select(send_pace.c.chat_key, send_pace.c.next_at).where(
                    send_pace.c.chat_key.in_(bindparam("keys", expanding=True))),
                {"keys": refused}) if refused else None
        earliest = min(slots.values(), default=0.0)
        if earliest - self._forgotten_at > FORGET_EVERY_S:
            self._forgotten_at = earliest
            await self.forget(earliest - FORGET_EVERY_S)
        return dict(rows.all()) if rows is not None else {}

    async def pause(self, channel: str, until: float) -> None:
        async with self.store.engine.begin() as conn:
            greatest = _greatest(conn.dialect.name)
            await conn.execute(update(send_budget).where(send_budget.c.channel == channel)
                               .values(next_at=greatest(send_budget.c.next_at, until)))

    async def forget(self, before: float) -> int:
        """Chats whose interval ended before then; returns how many."""
        async with self.store.engine.begin() as conn:
            result = await conn.execute(send_pace.delete().where(send_pace.c.next_at < before))
            return result.rowcount


def _greatest(dialect: str):
    """The larger of two values: ``greatest`` on PostgreSQL, SQLite's two-argument ``max``."""
    return func.greatest if dialect == "postgresql" else func.max
