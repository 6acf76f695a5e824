"""Who is signed in to the staff console: one-time sign-in links and browser sessions.

Tokens are 32 random bytes; only their SHA-256 is stored, so a copy of the database opens no
session. A session's CSRF token is an HMAC of its own token: it needs no column, differs for
every session and cannot be made without the cookie. Every request reads the staff row again,
so a changed role counts at once and a removed member is signed out.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update

from bot.roles import SESSION_IDLE, SIGN_IN_LINK_LIFE
from models.schema import as_utc, console_link, console_session, staff
from models.staff import Member, record
from models.store import Store

TOUCH_EVERY = timedelta(minutes=1)
"""A session's last use is written at most this often (every request would be a write)."""


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def csrf_of(token: str) -> str:
    """The CSRF token of the session whose cookie holds ``token``."""
    return hmac.new(token.encode(), b"lindungi-console-csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Signed:
    """A live session: who, in which language, and the token its forms must carry."""

    member: Member
    locale: str
    csrf: str
    session_id: int

    @property
    def actor(self) -> str:
        """How the staff-action record names them: their chat, as for a chat command."""
        return f"{self.member.channel}:{self.member.chat_id}"


class ConsoleAccess:
    def __init__(self, store: Store):
        self.store = store

    async def find_staff(self, channel: str, chat_id: str | None = None,
                         username: str | None = None) -> Member | None:
        """A staff member by their chat, or (Telegram) by their username."""
        where = [staff.c.channel == channel]
        if username is not None:
            where.append(staff.c.username == username.lstrip("@").casefold())
        else:
            where.append(staff.c.chat_id == chat_id)
        async with self.store.reading() as tx:
            row = (await tx.conn.execute(select(staff).where(*where))).first()
        return _member(row) if row else None

    async def issue_link(self, member: Member, now: datetime) -> str:
        """A new sign-in token for this member, good once within ``SIGN_IN_LINK_LIFE``."""
        token = secrets.token_urlsafe(32)
        async with self.store.transaction() as tx:
            await tx.conn.execute(insert(console_link).values(
                token_hash=digest(token), staff_id=member.id, created_at=now,
                expires_at=now + SIGN_IN_LINK_LIFE))
            await record(tx.conn, f"{member.channel}:{member.chat_id}", "console.link",
                         None, None, now)
        return token

    async def link_member(self, token: str, now: datetime) -> Member | None:
        """Who an unused, unexpired link is for (it stays unused)."""
        async with self.store.reading() as tx:
            row = (await tx.conn.execute(select(staff).join(
                console_link, console_link.c.staff_id == staff.c.id).where(
                console_link.c.token_hash == digest(token), console_link.c.used_at.is_(None),
                console_link.c.expires_at > now))).first()
        return _member(row) if row else None

    async def redeem(self, token: str, locale: str, now: datetime) -> str | None:
        """Use a link once: a new session's token, or None when the link is unknown, used
        or expired (then nothing changes)."""
        async with self.store.transaction() as tx:
            used = await tx.conn.execute(update(console_link).where(
                console_link.c.token_hash == digest(token), console_link.c.used_at.is_(None),
                console_link.c.expires_at > now).values(used_at=now)
                .returning(console_link.c.staff_id))
            staff_id = used.scalar()
            if staff_id is None:
                return None
            session = secrets.token_urlsafe(32)
            await tx.conn.execute(insert(console_session).values(
                token_hash=digest(session), staff_id=staff_id, locale=locale,
                created_at=now, last_seen_at=now))
            row = (await tx.conn.execute(select(staff.c.channel, staff.c.chat_id).where(
                staff.c.id == staff_id))).one()
            await record(tx.conn, f"{row.channel}:{row.chat_id}", "console.signin", None,
                         None, now)
        return session

    async def session(self, token: str | None, now: datetime) -> Signed | None:
        """The live session of a cookie's token, its last use moved to now; None when it is
        unknown, idle past ``SESSION_IDLE``, or its member is no longer staff."""
        if not token or len(token) > 100:
            return None
        async with self.store.reading() as tx:
            row = (await tx.conn.execute(select(
                staff, console_session.c.id.label("session_id"), console_session.c.locale,
                console_session.c.last_seen_at).join(
                console_session, console_session.c.staff_id == staff.c.id).where(
                console_session.c.token_hash == digest(token)))).first()
        if row is None or as_utc(row.last_seen_at) + SESSION_IDLE <= now:
            return None
        if now - as_utc(row.last_seen_at) >= TOUCH_EVERY:
            async with self.store.transaction() as tx:
                await tx.conn.execute(update(console_session).where(
                    console_session.c.id == row.session_id).values(last_seen_at=now))
        return Signed(_member(row), row.locale, csrf_of(token), row.session_id)

    async def set_locale(self, signed: Signed, locale: str) -> None:
        async with self.store.transaction() as tx:
            await tx.conn.execute(update(console_session).where(
                console_session.c.id == signed.session_id).values(locale=locale))

    async def end(self, signed: Signed, now: datetime) -> None:
        async with self.store.transaction() as tx:
            await tx.conn.execute(delete(console_session).where(
                console_session.c.id == signed.session_id))
            await record(tx.conn, signed.actor, "console.signout", None, None, now)

    async def forget(self, now: datetime) -> int:
        """Delete idle sessions and links past their time (the sweep)."""
        async with self.store.transaction() as tx:
            sessions = await tx.conn.execute(delete(console_session).where(
                console_session.c.last_seen_at <= now - SESSION_IDLE))
            links = await tx.conn.execute(delete(console_link).where(or_(
                console_link.c.expires_at <= now, console_link.c.used_at.is_not(None))))
            return sessions.rowcount + links.rowcount


def _member(row) -> Member:
    return Member(row.channel, row.chat_id, row.role, row.name, as_utc(row.added_at), row.area,
                  row.username, row.id)
