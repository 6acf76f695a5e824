"""What limits count and the proof requests (codes kept as keyed hashes, staff checks)."""

import hmac
from datetime import datetime

from sqlalchemy import case, func, insert, select, update

from bot import proof
from bot.messages import (
    Count,
    DecideProof,
    RequestProof,
    TryProof,
)
from bot.proof import ProofInfo
from models.schema import (
    StaleChange,
    limit_event,
    proof_of,
    proof_request,
    proofs_query,
)


class ProofsTx:
    """Part of ``models.store.Tx``: it runs on that transaction's connection (``conn``,
    ``postgres``) and shares its caches."""

    def _hashed(self, kind: str, key: str) -> bytes:
        """What a limit counts by: a keyed hash of the chat or the NIK (``kind`` names which),
        so the table holds no NIK."""
        return hmac.digest(self.hash_key, f"{kind.split('.')[0]}|{key}".encode(), "sha256")

    async def limit_used(self, kind: str, key: str, since: datetime) -> int:
        return await self.conn.scalar(
            select(func.coalesce(func.sum(limit_event.c.amount), 0)).where(
                limit_event.c.key_hash == self._hashed(kind, key),
                limit_event.c.kind == kind, limit_event.c.at >= since)) or 0

    async def count(self, effect: Count, now: datetime) -> None:
        await self.conn.execute(insert(limit_event).values(
            key_hash=self._hashed(effect.kind, effect.key), kind=effect.kind,
            amount=effect.amount, at=now))

    def _code_hash(self, code: str) -> bytes:
        return hmac.digest(self.hash_key, f"code|{code}".encode(), "sha256")

    async def request_proof(self, effect: RequestProof, now: datetime) -> None:
        """Store a proof request; a new code replaces the chat's earlier one."""
        method = proof.CODE if effect.code is not None else proof.STAFF
        if method == proof.CODE:
            await self.conn.execute(update(proof_request).where(
                proof_request.c.chat_key == effect.chat_key,
                proof_request.c.purpose == effect.purpose,
                proof_request.c.subject == effect.subject,
                proof_request.c.method == proof.CODE,
                proof_request.c.state == proof.PENDING).values(state="replaced"))
        await self.conn.execute(insert(proof_request).values(
            reference=effect.reference, purpose=effect.purpose, subject=effect.subject,
            chat_key=effect.chat_key, locale=effect.locale, method=method,
            code_hash=self._code_hash(effect.code) if effect.code is not None else None,
            tries=0, state=proof.PENDING, created_at=now, expires_at=effect.expires_at))

    async def try_proof(self, effect: TryProof, now: datetime) -> None:
        if effect.passed:
            values: dict = {"state": "passed", "decided_at": now}
        else:
            values = {"tries": proof_request.c.tries + 1, "state": case(
                (proof_request.c.tries + 1 >= proof.CODE_TRIES, "failed"),
                else_=proof_request.c.state)}
        await self.conn.execute(update(proof_request).where(
            proof_request.c.id == effect.proof_id,
            proof_request.c.state == proof.PENDING).values(**values))

    async def decide_proof(self, effect: DecideProof, now: datetime) -> None:
        """A staff member's answer to a request checked at the office; ``StaleChange`` if
        another answered it first."""
        state = "approved" if effect.approved else "refused"
        row = (await self.conn.execute(update(proof_request).where(
            proof_request.c.id == effect.proof_id, proof_request.c.state == proof.PENDING)
            .values(state=state, decided_by=effect.actor, decided_at=now, reason=effect.reason)
            .returning(proof_request.c.reference, proof_request.c.subject,
                       proof_request.c.chat_key))).first()
        if row is None:
            raise StaleChange(str(effect.proof_id))
        await self.record(effect.actor, f"link.{state}", row.subject,
                          {"request": row.reference, "chat": row.chat_key.split(":", 1)[0],
                           "reason": effect.reason}, now)

    async def open_proof(self, chat_key: str, purpose: str, subject: str, now: datetime,
                         method: str = proof.CODE) -> ProofInfo | None:
        row = (await self.conn.execute(proofs_query().where(
            proof_request.c.chat_key == chat_key, proof_request.c.purpose == purpose,
            proof_request.c.subject == subject, proof_request.c.method == method,
            proof_request.c.state == proof.PENDING, proof_request.c.expires_at > now)
            .order_by(proof_request.c.id.desc()).limit(1))).first()
        return proof_of(row) if row else None

    async def code_matches(self, proof_id: int, code: str) -> bool:
        stored = await self.conn.scalar(select(proof_request.c.code_hash).where(
            proof_request.c.id == proof_id))
        return stored is not None and hmac.compare_digest(stored, self._code_hash(code))

    async def proof_by_reference(self, reference: str) -> ProofInfo | None:
        row = (await self.conn.execute(proofs_query().where(
            proof_request.c.reference == reference))).first()
        return proof_of(row) if row else None

    async def staff_checks(self, now: datetime, limit: int) -> tuple[list[ProofInfo], int]:
        waiting = (proof_request.c.method == proof.STAFF,
                   proof_request.c.state == proof.PENDING, proof_request.c.expires_at > now)
        rows = await self.conn.execute(proofs_query().where(*waiting)
                                       .order_by(proof_request.c.id).limit(limit))
        total = await self.conn.scalar(select(func.count()).select_from(proof_request)
                                       .where(*waiting))
        return [proof_of(row) for row in rows], total
