"""The store's contract for death-benefit claims, the same on SQLite and PostgreSQL: a claim
and its documents read back as the engine sees them, a second heir's report of the same death
kept beside the first (a rejected one left out), claim numbers that never repeat (however many
processes take them at once), documents sent later (one sent again replaces the old), and the
whole report through the message pipeline."""

import asyncio
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, NoResultFound

from bot import claims
from bot.claims import ClaimInfo
from bot.messages import (
    AddDocuments,
    ChangeClaim,
    ChangeStatus,
    FileClaim,
    Inbound,
    Media,
    StoredDocument,
)
from models.schema import StaleChange, as_utc, claim, claim_document, worker
from models.store import Store
from models.vault import nik_index
from tests.chat import town_programme
from tests.test_pipeline import ANSWERS, NOW, Pipeline, nik_for
from tests.test_places import in_dtsen

DECEASED = "1371011708850001"
HEIR_NIK = "1371015708850002"
REFERENCE = "JKM-2026-000001"
CHAT = "telegram:8001"
DIED = date(2026, 11, 25)
LATER = NOW + timedelta(days=6)
SPOUSE_DOCUMENTS = tuple(claims.documents_for("spouse"))
"""death_certificate, kk, ktp_deceased, ktp_heir, heir_letter, marriage_book, savings_book."""


def media(n: int) -> Media:
    """A stored photo, content-addressed as the channel adapters leave it."""
    sha = f"{n:064x}"
    return Media("image/jpeg", 100_000 + n, sha, f"{sha[:2]}/{sha}.jpg")


def document(kind: str, n: int) -> StoredDocument:
    return StoredDocument(kind, media(n))


def filing(reference: str = REFERENCE, deceased_nik: str = DECEASED,
           status: str = claims.DOCUMENTS_INCOMPLETE, status_reason: str | None = None,
           documents: tuple[StoredDocument, ...] = (), **more) -> FileClaim:
    values = dict(
        reference=reference, deceased_nik=deceased_nik, worker_reference="LD-AAAA-AAAA",
        status=status, status_reason=status_reason, date_of_death=DIED, cause="illness",
        heir_name="Siti Rahmawati", heir_nik=HEIR_NIK, heir_phone="+6281298765432",
        relationship="spouse", bank_name="BRI", account_number="123456789012",
        account_holder="siti rahmawati", estimate=42_000_000, locale="id",
        consent_version="2026-11", consented_at=NOW.isoformat(), documents=documents)
    return FileClaim(**{**values, **more})


async def file(store, effect: FileClaim, now=NOW) -> None:
    async with store.transaction() as tx:
        await tx.file_claim(effect, "telegram", CHAT, now)


async def read_claim(store, reference: str = REFERENCE) -> ClaimInfo | None:
    async with store.transaction() as tx:
        return await tx.claim_by_reference(reference)


async def document_rows(store) -> dict[str, dict]:
    """The stored ``claim_document`` rows by kind."""
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(claim_document).order_by(claim_document.c.id))).all()
    return {row.kind: dict(row._mapping) for row in rows}


async def count(store, table) -> int:
    async with store.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(table))


# --- filing and reading back ---------------------------------------------------------------


@pytest.mark.parametrize("status, reason, complete", [
    (claims.SUBMITTED, None, True),
    (claims.DOCUMENTS_INCOMPLETE, None, False),
    (claims.NOT_COVERED, "not_active", False),
])
async def test_a_claim_reads_back_as_filed(store, status, reason, complete):
    sent = tuple(document(kind, n) for n, kind in enumerate(SPOUSE_DOCUMENTS, 1))
    if status != claims.SUBMITTED:
        sent = sent[:3]
    await file(store, filing(status=status, status_reason=reason, documents=sent))
    expected = ClaimInfo(
        reference=REFERENCE, deceased_nik=DECEASED, status=status, heir_nik=HEIR_NIK,
        relationship="spouse", chat_key=CHAT, locale="id", created_at=NOW, date_of_death=DIED,
        estimate=42_000_000, reason=reason, documents={d.kind: "received" for d in sent},
        heir_name="Siti Rahmawati", cause="illness", complete_at=NOW if complete else None,
        files={d.kind: d.media for d in sent}, heir_phone="+6281298765432")
    async with store.transaction() as tx:
        [by_nik] = await tx.open_claims(DECEASED)
        by_reference = await tx.claim_by_reference(REFERENCE)
        assert await tx.open_claims("1371011708850099") == []
        assert await tx.claim_by_reference("JKM-2026-000002") is None
    assert by_nik == by_reference == expected
    assert by_nik.missing() == (() if complete else SPOUSE_DOCUMENTS[3:])
    assert (by_nik.deadline() is not None) == complete
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(claim))).one()
    assert (row.worker_reference, row.heir_phone, row.bank_name, row.account_number,
            row.account_holder, row.channel, row.consent_version) == (
        "LD-AAAA-AAAA", "+6281298765432", "BRI", "123456789012", "siti rahmawati", "telegram",
        "2026-11")
    stored = await document_rows(store)
    assert list(stored) == [d.kind for d in sent]
    assert {(r["status"], r["reason"], r["mime_type"]) for r in stored.values()} == {
        ("received", None, "image/jpeg")}


async def test_a_claim_without_documents_has_none(store):
    await file(store, filing())
    info = await read_claim(store)
    assert (info.documents, info.files, info.complete_at) == ({}, {}, None)
    assert info.missing() == SPOUSE_DOCUMENTS


async def test_a_number_is_given_to_one_claim_only(store):
    first = filing(status=claims.SUBMITTED,
                   documents=tuple(document(k, n) for n, k in enumerate(SPOUSE_DOCUMENTS, 1)))
    await file(store, first)
    before = await read_claim(store)
    again = filing(deceased_nik="1371011708850003", heir_name="Andi",
                   heir_nik="1371010101900004", relationship="child", estimate=10_000_000,
                   documents=(document("death_certificate", 99),))
    with pytest.raises(IntegrityError):
        await file(store, again, NOW + timedelta(hours=1))
    assert await count(store, claim) == 1
    assert await count(store, claim_document) == len(SPOUSE_DOCUMENTS)
    assert await read_claim(store) == before
    assert (await document_rows(store))["death_certificate"]["sha256"] == media(1).sha256


async def test_a_second_report_of_a_death_is_kept_beside_the_first(store):
    """Another heir reports the same death: both are stored, each names the other for staff
    to resolve; once one is rejected it no longer counts, and a new report may follow."""
    await file(store, filing())
    await file(store, filing(reference="JKM-2026-000002", heir_name="Andi",
                             heir_nik="1371010101900004", relationship="child"),
               NOW + timedelta(hours=1))
    async with store.transaction() as tx:
        reports = await tx.open_claims(DECEASED)
    assert [(c.reference, c.others) for c in reports] == [
        (REFERENCE, ("JKM-2026-000002",)), ("JKM-2026-000002", (REFERENCE,))]
    async with store.transaction() as tx:
        await tx.change_claim(ChangeClaim(REFERENCE, claims.DOCUMENTS_INCOMPLETE,
                                          claims.REJECTED, "telegram:9001",
                                          reason="bukan ahli waris"), NOW)
    async with store.transaction() as tx:
        assert [c.reference for c in await tx.open_claims(DECEASED)] == ["JKM-2026-000002"]
        assert (await tx.claim_by_reference("JKM-2026-000002")).others == ()
        assert (await tx.claim_by_reference(REFERENCE)).others == ("JKM-2026-000002",)


# --- claim numbers ---------------------------------------------------------------------------


async def test_numbers_count_up_per_series(store):
    async with store.transaction() as tx:
        assert [await tx.next_number("JKM-2026") for _ in range(3)] == [1, 2, 3]
        assert await tx.next_number("JKM-2027") == 1
    async with store.transaction() as tx:
        assert await tx.next_number("JKM-2026") == 4
        assert await tx.next_number("JKM-2027") == 2
    with pytest.raises(RuntimeError):  # a number taken in a transaction rolled back is not
        async with store.transaction() as tx:  # given: the next one takes it again
            assert await tx.next_number("JKM-2026") == 5
            raise RuntimeError("rolled back")
    async with store.transaction() as tx:
        assert await tx.next_number("JKM-2026") == 5


async def test_processes_taking_numbers_at_once_never_share_one(store, database_url):
    """Three processes (each its own engine) take ten numbers each, one per transaction,
    all at the same time, from a series nobody has used yet."""
    processes = [Store.connect(database_url) for _ in range(3)]

    async def take(process: Store) -> list[int]:
        taken = []
        for _ in range(10):
            async with process.transaction() as tx:
                taken.append(await tx.next_number("JKM-2026"))
            await asyncio.sleep(0)
        return taken

    try:
        results = await asyncio.gather(*(take(p) for p in processes))
    finally:
        for process in processes:
            await process.close()
    assert sorted(n for taken in results for n in taken) == list(range(1, 31))
    assert all(taken == sorted(taken) for taken in results)
    async with store.transaction() as tx:
        assert await tx.next_number("JKM-2026") == 31
        assert await tx.next_number("JKM-2027") == 1


# --- documents sent later --------------------------------------------------------------------


async def test_documents_sent_later_are_added_and_replace_old_ones(store):
    await file(store, filing(documents=tuple(
        document(kind, n) for n, kind in enumerate(SPOUSE_DOCUMENTS[:4], 1))))
    first = await document_rows(store)
    async with store.transaction() as tx:  # staff turn the KK down
        await tx.change_claim(ChangeClaim(
            REFERENCE, claims.DOCUMENTS_INCOMPLETE, claims.MORE_DOCUMENTS, "telegram:9001",
            reason="foto buram", document="kk", document_status="rejected"), NOW)
    assert (await read_claim(store)).documents["kk"] == "rejected"
    assert (await document_rows(store))["kk"]["reason"] == "foto buram"

    async with store.transaction() as tx:
        await tx.add_documents(AddDocuments(REFERENCE, (
            document("kk", 20), document("heir_letter", 5)), claims.MORE_DOCUMENTS,
            claims.MORE_DOCUMENTS),
            NOW + timedelta(days=1))
    rows = await document_rows(store)
    kk = rows["kk"]
    assert kk["id"] == first["kk"]["id"]
    assert (kk["sha256"], kk["path"], kk["size"], kk["status"], kk["reason"]) == (
        media(20).sha256, media(20).path, media(20).size, "received", None)
    assert (rows["death_certificate"] == first["death_certificate"]
            and rows["ktp_heir"] == first["ktp_heir"])
    assert rows["heir_letter"]["sha256"] == media(5).sha256
    assert len(rows) == 5 and await count(store, claim_document) == 5
    info = await read_claim(store)
    assert (info.status, info.complete_at, info.reason) == (
        claims.MORE_DOCUMENTS, None, "foto buram")
    assert info.files["kk"] == media(20)
    assert info.missing() == ("marriage_book", "savings_book")

    complete = NOW + timedelta(days=2)
    async with store.transaction() as tx:
        await tx.add_documents(AddDocuments(REFERENCE, (
            document("marriage_book", 6), document("savings_book", 7)), claims.SUBMITTED,
            claims.MORE_DOCUMENTS),
            complete)
    info = await read_claim(store)
    assert (info.status, info.complete_at, info.missing()) == (claims.SUBMITTED, complete, ())
    assert info.documents == dict.fromkeys(SPOUSE_DOCUMENTS, "received")

    async with store.transaction() as tx:  # a document sent again to a complete claim
        await tx.add_documents(AddDocuments(REFERENCE, (document("savings_book", 8),),
                                            claims.SUBMITTED, claims.SUBMITTED),
                               complete + timedelta(days=1))
    info = await read_claim(store)
    assert (info.status, info.complete_at) == (claims.SUBMITTED, complete)
    assert info.files["savings_book"] == media(8)
    assert await count(store, claim_document) == len(SPOUSE_DOCUMENTS)


async def test_documents_to_an_unknown_claim_are_refused(store):
    with pytest.raises(NoResultFound):
        async with store.transaction() as tx:
            await tx.add_documents(AddDocuments("JKM-2026-000009", (document("kk", 1),),
                                                claims.SUBMITTED, claims.SUBMITTED), NOW)
    assert await count(store, claim_document) == 0


async def test_documents_sent_later_do_not_undo_a_staff_decision(store):
    await file(store, filing(documents=tuple(
        document(kind, n) for n, kind in enumerate(SPOUSE_DOCUMENTS[:6], 1))))
    # The heir looked the claim up (documents_incomplete, one missing) and is sending it ...
    async with store.transaction() as tx:  # ... while staff reject the claim
        await tx.change_claim(ChangeClaim(REFERENCE, claims.DOCUMENTS_INCOMPLETE,
                                          claims.REJECTED, "telegram:9001",
                                          reason="bukan ahli waris"), NOW)
    with pytest.raises(StaleChange):
        async with store.transaction() as tx:
            await tx.add_documents(AddDocuments(REFERENCE, (document("savings_book", 7),),
                                                claims.SUBMITTED, claims.DOCUMENTS_INCOMPLETE),
                                   LATER)
    info = await read_claim(store)
    assert (info.status, info.complete_at) == (claims.REJECTED, None)


# --- the whole report through the pipeline ---------------------------------------------------


def photo(pipeline: Pipeline, chat: int, n: int) -> Inbound:
    """A photo as a channel adapter hands it over, already stored."""
    return Inbound("telegram", str(chat), f"p{next(pipeline.ids)}", kind="photo",
                   media=media(n))


async def send(pipeline: Pipeline, chat: int, *answers: "str | int") -> None:
    """Texts, and photos given by their number."""
    for answer in answers:
        inbound = photo(pipeline, chat, answer) if isinstance(answer, int) \
            else pipeline.message(chat, answer)
        await pipeline.conversations.submit([inbound])
    await pipeline.conversations.idle()


async def test_a_death_reported_in_the_chat_is_stored_and_completed_later(store, catalogs):
    deceased = nik_for(1)
    await in_dtsen(store, [deceased])
    pipeline = Pipeline(store, catalogs, programmes=town_programme())
    await pipeline.conversations.start()
    try:
        await pipeline.say(1, *[answer or deceased for answer in ANSWERS])
        assert "LD-TEST-0001" in pipeline.sender.texts("1")[-1]
        async with store.transaction() as tx:
            await tx.free_places("kota-kecil", 10)
            await tx.change_status(ChangeStatus("LD-TEST-0001", "enrolled", "active",
                                                kpj="12345678901"), NOW)

        pipeline.now = NOW + timedelta(days=4)
        await send(pipeline, 2, "lapor meninggal", "ya", deceased, "ya", "25-11-2026", "sakit",
                   "Siti Rahmawati", HEIR_NIK, "081298765432", "istri",
                   1, 2, 3, 4, "nanti", 6, 7,  # the heirs' letter comes later
                   "BRI", "1234 5678 9012", "siti rahmawati")
        assert "B*** S******" in "\n".join(pipeline.sender.texts("2"))
        await send(pipeline, 2, "kirim")
        told = "\n".join(pipeline.sender.texts("2")[-2:])
        assert REFERENCE in told and "Rp42.000.000" in told
        filed = pipeline.now

        async with store.transaction() as tx:
            [info] = await tx.open_claims(deceased)
        assert (info.reference, info.status, info.heir_nik, info.relationship, info.estimate,
                info.date_of_death, info.chat_key, info.created_at, info.complete_at) == (
            REFERENCE, claims.DOCUMENTS_INCOMPLETE, HEIR_NIK, "spouse", 42_000_000, DIED,
            "telegram:2", filed, None)
        assert info.missing() == ("heir_letter",)
        rows = await document_rows(store)
        assert list(rows) == [k for k in SPOUSE_DOCUMENTS if k != "heir_letter"]
        assert [rows[k]["sha256"] for k in rows] == [media(n).sha256 for n in (1, 2, 3, 4, 6, 7)]
        async with store.engine.connect() as conn:
            row = (await conn.execute(select(claim))).one()
            registered = await conn.scalar(select(worker.c.reference).where(
                worker.c.nik_index == nik_index(deceased)))
        assert (row.worker_reference, row.account_number, row.heir_phone) == (
            registered, "123456789012", "+6281298765432")

        pipeline.now = LATER
        await send(pipeline, 3, "status klaim", REFERENCE, HEIR_NIK)
        # Another chat: the code goes to the chat the claim was reported from.
        code = re.search(r": (\d{6}) \(", pipeline.sender.texts("2")[-1]).group(1)
        await send(pipeline, 3, code)
        assert "Surat keterangan ahli waris" in "\n".join(pipeline.sender.texts("3"))
        await send(pipeline, 3, 5)
        assert REFERENCE in pipeline.sender.texts("3")[-1]
    finally:
        await pipeline.conversations.stop()
    info = await read_claim(store)
    assert (info.status, info.complete_at, info.missing()) == (claims.SUBMITTED, LATER, ())
    assert info.files["heir_letter"] == media(5)
    rows = await document_rows(store)
    assert len(rows) == len(SPOUSE_DOCUMENTS)
    assert (as_utc(rows["heir_letter"]["received_at"]), rows["heir_letter"]["status"]) == (
        LATER, "received")
