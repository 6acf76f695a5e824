"""Death-benefit claims and their documents, as the heir's flow files them and staff decide them."""

from datetime import datetime

from sqlalchemy import func, insert, select, update

from bot import claims
from bot.claims import ClaimInfo
from bot.messages import (
    AddDocuments,
    ChangeClaim,
    FileClaim,
    Media,
)
from models.schema import StaleChange, as_utc, claim, claim_document
from models.vault import nik_index


class ClaimsTx:
    """Part of ``models.store.Tx``: it runs on that transaction's connection (``conn``,
    ``postgres``) and shares its caches."""

    async def file_claim(self, effect: FileClaim, channel: str, chat_key: str,
                         now: datetime) -> None:
        """Store a reported death, its claim and the documents sent with it."""
        claim_id = await self.conn.scalar(insert(claim).values(
            reference=effect.reference, deceased_nik=effect.deceased_nik,
            worker_reference=effect.worker_reference, status=effect.status,
            status_reason=effect.status_reason, date_of_death=effect.date_of_death,
            cause=effect.cause, heir_name=effect.heir_name, heir_nik=effect.heir_nik,
            heir_phone=effect.heir_phone, relationship=effect.relationship,
            bank_name=effect.bank_name, account_number=effect.account_number,
            account_holder=effect.account_holder, guardian_name=effect.guardian_name,
            guardian_nik=effect.guardian_nik, estimate=effect.estimate, channel=channel,
            chat_key=chat_key, locale=effect.locale, consent_version=effect.consent_version,
            consented_at=datetime.fromisoformat(effect.consented_at), created_at=now,
            complete_at=now if effect.status == claims.SUBMITTED else None, changed_at=now,
        ).returning(claim.c.id))
        await self._documents(claim_id, effect.documents, now)

    async def add_documents(self, effect: AddDocuments, now: datetime) -> None:
        """Documents sent later: stored (one sent again replaces a rejected one) and the claim
        moved on; a claim complete from now has 3 working days to be paid."""
        row = (await self.conn.execute(select(claim.c.id, claim.c.status).where(
            claim.c.reference == effect.reference))).one()
        values: dict = {"status": effect.status, "changed_at": now}
        if effect.status == claims.SUBMITTED and effect.old != claims.SUBMITTED:
            values["complete_at"] = now
        moved = await self.conn.execute(update(claim).where(
            claim.c.id == row.id, claim.c.status == effect.old).values(**values))
        if not moved.rowcount:
            raise StaleChange(effect.reference)
        await self._documents(row.id, effect.documents, now)

    async def _documents(self, claim_id: int, documents, now: datetime) -> None:
        for document in documents:
            media = document.media
            values = dict(status="received", reason=None, path=media.path, sha256=media.sha256,
                          mime_type=media.mime_type, size=media.size, received_at=now)
            replaced = await self.conn.execute(update(claim_document).where(
                claim_document.c.claim_id == claim_id,
                claim_document.c.kind == document.kind).values(**values))
            if not replaced.rowcount:
                await self.conn.execute(insert(claim_document).values(
                    claim_id=claim_id, kind=document.kind, **values))

    async def change_claim(self, change: ChangeClaim, now: datetime) -> None:
        """A staff decision on a claim or one of its documents, recorded with who made it;
        ``StaleChange`` if the claim moved on meanwhile."""
        result = await self.conn.execute(
            update(claim).where(claim.c.reference == change.reference,
                                claim.c.status == change.old)
            .values(status=change.new, status_reason=change.reason if change.reason else
                    claim.c.status_reason, changed_at=now).returning(claim.c.id))
        claim_id = result.scalar()
        if claim_id is None:
            raise StaleChange(change.reference)
        if change.document:
            await self.conn.execute(update(claim_document).where(
                claim_document.c.claim_id == claim_id, claim_document.c.kind == change.document)
                .values(status=change.document_status, reason=change.reason))
        action = f"claim.document_{change.document_status}" if change.document \
            else f"claim.{change.new}"
        await self.record(change.actor, action, change.reference,
                          {"from": change.old, "document": change.document,
                           "reason": change.reason}, now)

    async def claims_by_status(self, statuses: tuple[str, ...], limit: int
                               ) -> tuple[list[ClaimInfo], int]:
        chosen = claim.c.status.in_(statuses)
        references = (await self.conn.execute(
            select(claim.c.reference).where(chosen)
            .order_by(claim.c.created_at, claim.c.id).limit(limit))).scalars().all()
        total = await self.conn.scalar(select(func.count()).where(chosen))
        return [await self.claim_by_reference(r) for r in references], total

    async def open_claims(self, nik: str) -> list[ClaimInfo]:
        references = (await self.conn.execute(
            select(claim.c.reference).where(claim.c.deceased_nik_index == nik_index(nik),
                                            claim.c.status != claims.REJECTED)
            .order_by(claim.c.created_at, claim.c.id))).scalars().all()
        return [await self.claim_by_reference(r) for r in references]

    async def claim_by_reference(self, reference: str) -> ClaimInfo | None:
        return await self._claim(claim.c.reference == reference)

    async def _claim(self, where) -> ClaimInfo | None:
        row = (await self.conn.execute(select(claim).where(where))).first()
        if row is None:
            return None
        documents = (await self.conn.execute(select(claim_document).where(
            claim_document.c.claim_id == row.id))).all()
        others = (await self.conn.execute(select(claim.c.reference).where(
            claim.c.deceased_nik_index == row.deceased_nik_index, claim.c.id != row.id,
            claim.c.status != claims.REJECTED).order_by(claim.c.id))).scalars().all()
        return ClaimInfo(
            reference=row.reference, deceased_nik=row.deceased_nik, status=row.status,
            heir_nik=row.heir_nik, relationship=row.relationship, chat_key=row.chat_key,
            locale=row.locale, created_at=as_utc(row.created_at), date_of_death=row.date_of_death,
            estimate=row.estimate, reason=row.status_reason,
            documents={d.kind: d.status for d in documents}, heir_name=row.heir_name,
            cause=row.cause, complete_at=as_utc(row.complete_at) if row.complete_at else None,
            files={d.kind: Media(d.mime_type, d.size, d.sha256, d.path) for d in documents},
            heir_phone=row.heir_phone, others=tuple(others))
