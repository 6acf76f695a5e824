"""Staff: who may use the staff commands, and the record of what every one of them did."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from models.schema import as_utc
from models.store import Store
from models.tables import Staff, StaffAction

staff = Staff.__table__
staff_action = StaffAction.__table__

ROLES = ("admin", "verifier")


@dataclass(frozen=True)
class Member:
    channel: str
    chat_id: str
    role: str
    name: str | None
    added_at: datetime
    area: str | None = None


@dataclass(frozen=True)
class Action:
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any] | None
    at: datetime


class StaffDirectory:
    def __init__(self, store: Store):
        self.store = store

    async def add(self, channel: str, chat_id: str, role: str, name: str | None, actor: str,
                  now: datetime, area: str | None = None) -> bool:
        """Add a member, or give an existing one this role (and this name, if given), scoped
        to ``area`` (``bot.areas``; None: all); True if they are new. Recorded as
        ``staff.add`` or ``staff.change``."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        async with self.store.transaction() as tx:
            found = (await tx.conn.execute(select(staff.c.id, staff.c.name, staff.c.area).where(
                staff.c.channel == channel, staff.c.chat_id == chat_id))).first()
            if found is None:
                await tx.conn.execute(insert(staff).values(
                    channel=channel, chat_id=chat_id, role=role, name=name, added_at=now,
                    area=area))
            else:
                name = found.name if name is None else name
                await tx.conn.execute(update(staff).where(staff.c.id == found.id).values(
                    role=role, name=name, area=area))
            await record(tx.conn, actor, "staff.add" if found is None else "staff.change",
                         f"{channel}:{chat_id}", {"role": role, "name": name} | (
                             {"area": area} if area or (found and found.area) else {}), now)
            return found is None

    async def remove(self, channel: str, chat_id: str, actor: str, now: datetime) -> bool:
        """Remove a member; False if there was none. Recorded as ``staff.remove``."""
        async with self.store.transaction() as tx:
            result = await tx.conn.execute(delete(staff).where(
                staff.c.channel == channel, staff.c.chat_id == chat_id))
            if result.rowcount:
                await record(tx.conn, actor, "staff.remove", f"{channel}:{chat_id}", None, now)
            return bool(result.rowcount)

    async def members(self) -> list[Member]:
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(staff).order_by(staff.c.channel, staff.c.chat_id))
            return [Member(r.channel, r.chat_id, r.role, r.name, as_utc(r.added_at), r.area)
                    for r in rows]

    async def role(self, channel: str, chat_id: str) -> str | None:
        """The member's role, or None for anyone who is not staff."""
        async with self.store.engine.connect() as conn:
            return await conn.scalar(select(staff.c.role).where(
                staff.c.channel == channel, staff.c.chat_id == chat_id))

    async def actions(self, limit: int = 100) -> list[Action]:
        """The most recent actions first."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(staff_action).order_by(
                staff_action.c.at.desc(), staff_action.c.id.desc()).limit(limit))
            return [Action(r.actor, r.action, r.subject,
                           json.loads(r.detail) if r.detail else None, as_utc(r.at))
                    for r in rows]


async def record(conn, actor: str, action: str, subject: str | None,
                 detail: dict[str, Any] | None, now: datetime) -> None:
    """Write one action to the record, in the caller's transaction."""
    await conn.execute(insert(staff_action).values(
        actor=actor, action=action, subject=subject,
        detail=json.dumps(detail, ensure_ascii=False) if detail else None, at=now))
