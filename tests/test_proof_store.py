"""Proof requests and limits in the store, on SQLite and PostgreSQL: codes kept only as keyed
hashes, a new code replacing the old, three wrong tries ending a request, a staff decision
taken once, counts that a new chat or process reads the same, and the sweep forgetting them."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import proof
from bot.messages import Count, DecideProof, RequestProof, TryProof
from models.schema import StaleChange, limit_event, proof_request

NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
NIK = "1371011708850001"


def code_request(chat: str = "telegram:7002", code: str = "123456") -> RequestProof:
    return RequestProof(proof.LINK, "LD-AAAA-AAAA", chat, "id", NOW + proof.CODE_TTL,
                        code=code)


async def test_a_code_is_kept_only_as_a_keyed_hash_and_a_new_one_replaces_it(store):
    async with store.transaction() as tx:
        await tx.request_proof(code_request(code="123456"), NOW)
        first = await tx.open_proof("telegram:7002", proof.LINK, "LD-AAAA-AAAA", NOW)
        assert await tx.code_matches(first.id, "123456")
        assert not await tx.code_matches(first.id, "654321")
    async with store.transaction() as tx:
        await tx.request_proof(code_request(code="222222"), NOW + timedelta(minutes=1))
        second = await tx.open_proof("telegram:7002", proof.LINK, "LD-AAAA-AAAA", NOW)
        assert second.id != first.id and await tx.code_matches(second.id, "222222")
        # another chat's request is its own
        assert await tx.open_proof("telegram:7003", proof.LINK, "LD-AAAA-AAAA", NOW) is None
        # a code past its ten minutes is no longer open
        assert await tx.open_proof("telegram:7002", proof.LINK, "LD-AAAA-AAAA",
                                   NOW + timedelta(minutes=11)) is None
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(proof_request.c.state, proof_request.c.code_hash)
                                   .order_by(proof_request.c.id))).all()
    assert [r.state for r in rows] == ["replaced", proof.PENDING]
    assert all(b"123456" not in r.code_hash and b"222222" not in r.code_hash for r in rows)


async def test_three_wrong_tries_end_a_request_and_a_right_one_passes_it(store):
    async with store.transaction() as tx:
        await tx.request_proof(code_request(), NOW)
        request = await tx.open_proof("telegram:7002", proof.LINK, "LD-AAAA-AAAA", NOW)
    for tries in range(1, proof.CODE_TRIES + 1):
        async with store.transaction() as tx:
            await tx.try_proof(TryProof(request.id, False), NOW)
            opened = await tx.open_proof("telegram:7002", proof.LINK, "LD-AAAA-AAAA", NOW)
        assert (opened.tries if opened else None) == (tries if tries < 3 else None)
    async with store.transaction() as tx:
        await tx.request_proof(code_request(code="333333"), NOW)
        again = await tx.open_proof("telegram:7002", proof.LINK, "LD-AAAA-AAAA", NOW)
        await tx.try_proof(TryProof(again.id, True), NOW)
        assert await tx.open_proof("telegram:7002", proof.LINK, "LD-AAAA-AAAA", NOW) is None


async def test_a_staff_check_is_listed_and_decided_once(store):
    check = RequestProof(proof.LINK, "LD-AAAA-AAAA", "whatsapp:628111", "id",
                         NOW + proof.STAFF_TTL, reference="TAUT-000001")
    async with store.transaction() as tx:
        await tx.request_proof(check, NOW)
        waiting, total = await tx.staff_checks(NOW, 10)
        assert (total, [c.reference for c in waiting]) == (1, ["TAUT-000001"])
        found = await tx.proof_by_reference("TAUT-000001")
        assert (found.method, found.state, found.chat_key) == (
            proof.STAFF, proof.PENDING, "whatsapp:628111")
        await tx.decide_proof(DecideProof(found.id, True, "telegram:9001"), NOW)
    with pytest.raises(StaleChange):
        async with store.transaction() as tx:
            await tx.decide_proof(DecideProof(found.id, False, "telegram:9002", "no"), NOW)
    async with store.transaction() as tx:
        assert (await tx.proof_by_reference("TAUT-000001")).state == "approved"
        assert await tx.staff_checks(NOW, 10) == ([], 0)


async def test_counts_are_read_the_same_by_every_transaction_and_keep_no_nik(store):
    async with store.transaction() as tx:
        await tx.count(Count("nik.failure", NIK), NOW - timedelta(hours=25))
        for minutes in (1, 2, 3):
            await tx.count(Count("nik.failure", NIK), NOW - timedelta(minutes=minutes))
        await tx.count(Count("chat.file_bytes", "telegram:7002", 5_000_000), NOW)
    async with store.transaction() as tx:  # another chat, another process: the same count
        since = NOW - timedelta(days=1)
        assert await tx.limit_used("nik.failure", NIK, since) == 3
        assert await tx.limit_used("nik.failure", "1371011708850002", since) == 0
        assert await tx.limit_used("chat.file_bytes", "telegram:7002", since) == 5_000_000
    async with store.engine.connect() as conn:
        hashes = (await conn.execute(select(limit_event.c.key_hash))).scalars().all()
    assert all(NIK.encode() not in h for h in hashes)
    assert await store.forget_counts(NOW - timedelta(days=1), NOW - timedelta(days=90)) == 1
    async with store.transaction() as tx:
        assert await tx.limit_used("nik.failure", NIK, NOW - timedelta(days=30)) == 3
