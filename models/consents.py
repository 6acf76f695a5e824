"""Consents as the store keeps them (``bot.consents``), and their proof for the legal office:
each answer with the hash of the text shown, checked against the catalogs' text of its version."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from bot.consents import TEXTS, text_sha256
from bot.i18n import Catalogs
from models.schema import as_utc, consent


@dataclass(frozen=True)
class ConsentProof:
    purpose: str
    given: bool
    version: str
    locale: str
    text_sha256: str
    channel: str
    chat_key: str
    at: datetime
    text: str | None
    """The text of that version and language as the catalogs hold it; None if they do not."""

    @property
    def text_matches(self) -> bool:
        return self.text is not None and text_sha256(self.text) == self.text_sha256


class ConsentsTx:
    """Part of ``models.store.Tx``: it runs on that transaction's connection."""

    async def record_consents(self, subject: str, answers: dict[str, bool], version: str,
                              locale: str, channel: str, chat_key: str, at: datetime,
                              catalogs: Catalogs) -> None:
        """One row per purpose the version asked, with the hash of the text shown."""
        texts = TEXTS[version]
        rows = [{"subject": subject, "purpose": purpose, "given": given, "version": version,
                 "locale": locale, "channel": channel, "chat_key": chat_key, "at": at,
                 "text_sha256": text_sha256(catalogs.text(locale, texts[purpose]))}
                for purpose, given in answers.items() if purpose in texts]
        if rows:
            await self.conn.execute(insert(consent), rows)

    async def consents_of(self, subject: str, catalogs: Catalogs) -> list[ConsentProof]:
        rows = (await self.conn.execute(select(consent).where(consent.c.subject == subject)
                                        .order_by(consent.c.id))).all()
        return [ConsentProof(r.purpose, r.given, r.version, r.locale, r.text_sha256, r.channel,
                             r.chat_key, as_utc(r.at), catalogs.text(r.locale, msgid)
                             if (msgid := TEXTS.get(r.version, {}).get(r.purpose)) else None)
                for r in rows]
