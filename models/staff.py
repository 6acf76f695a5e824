"""Staff: who may use the staff commands, and the record of what every one of them did."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from bot.roles import ROLES
from models.schema import as_utc, console_link, console_session, staff, staff_action
from models.store import Store


@dataclass(frozen=True)
class Member:
    channel: str
    chat_id: str
    role: str
    name: str | None
    added_at: datetime
    area: str | None = None
    username: str | None = None
    id: int | None = None


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
                  now: datetime, area: str | None = None, username: str | None = None) -> bool:
        """Add a member, or give an existing one this role (and this name and Telegram
        username, if given), scoped to ``area`` (``bot.areas``; None: all); True if they are
        new. Recorded as ``staff.add`` or ``staff.change``. A role takes effect at once, in
        the chat and in open console sessions alike (both read it on every request)."""
        username = username.strip().lstrip("@").casefold() if username else None
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        async with self.store.transaction() as tx:
            found = (await tx.conn.execute(select(
                staff.c.id, staff.c.name, staff.c.area, staff.c.username).where(
                staff.c.channel == channel, staff.c.chat_id == chat_id))).first()
            if found is None:
                await tx.conn.execute(insert(staff).values(
                    channel=channel, chat_id=chat_id, role=role, name=name, added_at=now,
                    area=area, username=username))
            else:
                name = found.name if name is None else name
                username = found.username if username is None else username
                await tx.conn.execute(update(staff).where(staff.c.id == found.id).values(
                    role=role, name=name, area=area, username=username))
            await record(tx.conn, actor, "staff.add" if found is None else "staff.change",
                         f"{channel}:{chat_id}", {"role": role, "name": name} | (
                             {"area": area} if area or (found and found.area) else {}), now)
            return found is None

    async def remove(self, channel: str, chat_id: str, actor: str, now: datetime) -> bool:
        """Remove a member, their console sessions and unused sign-in links with them; False
        if there was none. Recorded as ``staff.remove``."""
        async with self.store.transaction() as tx:
            member = await tx.conn.scalar(select(staff.c.id).where(
                staff.c.channel == channel, staff.c.chat_id == chat_id))
            if member is None:
                return False
            for table in (console_session, console_link):
                await tx.conn.execute(delete(table).where(table.c.staff_id == member))
            await tx.conn.execute(delete(staff).where(staff.c.id == member))
            await record(tx.conn, actor, "staff.remove", f"{channel}:{chat_id}", None, now)
            return True

    async def members(self) -> list[Member]:
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(staff).order_by(staff.c.channel, staff.c.chat_id))
            return [Member(r.channel, r.chat_id, r.role, r.name, as_utc(r.added_at), r.area,
                           r.username, r.id) for r in rows]

    async def role(self, channel: str, chat_id: str) -> str | None:
        """The member's role, or None for anyone who is not staff."""
        async with self.store.engine.connect() as conn:
            return await conn.scalar(select(staff.c.role).where(
                staff.c.channel == channel, staff.c.chat_id == chat_id))

    async def actions(self, limit: int = 100, *, actor: str | None = None,
                      action: str | None = None, subject: str | None = None) -> list[Action]:
        """The most recent actions first; ``action`` matches its start (``claim.`` for every
        decision on claims), the others exactly."""
        where = []
        if actor:
            where.append(staff_action.c.actor == actor)
        if action:
            where.append(staff_action.c.action.startswith(action, autoescape=True))
        if subject:
            where.append(staff_action.c.subject == subject)
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(staff_action).where(*where).order_by(
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
