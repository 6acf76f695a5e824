"""The engine's ``Lookup`` as one contract, over every backend: the in-memory ``Memory`` the
conversation tests use, SQLite and PostgreSQL. The same effects are applied to each (to the
store through ``models.effects``, in a transaction, as the message path does) and each must
answer the same, so a conversation cannot pass on a ``Memory`` that drifted from the store."""

from datetime import UTC, date, datetime, timedelta

import pytest

from bot import claims, enrolment, proof, rights
from bot.areas import Area
from bot.i18n import Catalogs
from bot.limits import CHAT_NIKS
from bot.messages import (
    AddDocuments,
    ChangeClaim,
    ChangePhone,
    ChangeStatus,
    DecideProof,
    FileClaim,
    LinkChat,
    Media,
    RegisterWorker,
    RequestProof,
    StoredDocument,
    TryProof,
    UnlinkChat,
)
from bot.render import Renderer
from models.effects import apply_effects
from models.schema import StaleChange
from tests.chat import Memory
from tests.conftest import empty_store

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
NIK = "1371011708850001"
CHAT = "telegram:7001"


class MemoryBackend:
    def __init__(self):
        self.memory = Memory()

    async def apply(self, effects, chat_key: str = CHAT, now: datetime = NOW,
                    quota: tuple[str, int] | None = None) -> None:
        if quota:
            await self.memory.free_places(*quota)
        for effect in effects:
            self.memory.apply(effect, chat_key, now)

    async def read(self, question):
        return await question(self.memory)


class StoreBackend:
    def __init__(self, store, renderer: Renderer):
        self.store, self.renderer = store, renderer

    async def apply(self, effects, chat_key: str = CHAT, now: datetime = NOW,
                    quota: tuple[str, int] | None = None) -> None:
        """``quota``: the programme place count read first, as a step does before it takes
        a place (the store holds it for the transaction)."""
        async with self.store.transaction() as tx:
            if quota:
                await tx.free_places(*quota)
            await apply_effects(tx, self.renderer, list(effects), now,
                                channel=chat_key.split(":")[0], chat_key=chat_key,
                                send_here=False)

    async def read(self, question):
        async with self.store.transaction() as tx:
            return await question(tx)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend_url(request, tmp_path) -> str | None:
    """None for the memory; the database otherwise (PostgreSQL's made before any loop)."""
    if request.param == "memory":
        return None
    return f"sqlite+aiosqlite:///{tmp_path}/lindungi.db" if request.param == "sqlite" \
        else request.getfixturevalue("postgres_url")


@pytest.fixture
async def backend(backend_url, catalogs: Catalogs):
    if backend_url is None:
        yield MemoryBackend()
        return
    store = await empty_store(backend_url)
    yield StoreBackend(store, Renderer(catalogs))
    await store.close()


def registration(reference: str = "LD-AAAA-0001", nik: str = NIK,
                 status: str = enrolment.WAITING_VERIFICATION, **more) -> RegisterWorker:
    values = dict(
        reference=reference, nik=nik, full_name="BUDI SANTOSO", birth_date=date(1985, 8, 17),
        phone="+6281234567890", occupation="ojek", occupation_other=None,
        kelurahan="Lapai", kecamatan="Nanggalo", monthly_income=1_000_000, locale="id",
        consent_version="2026-11", consented_at=NOW.isoformat(), status=status,
        programme_id="kota-kecil", dtsen_desil=2)
    return RegisterWorker(**{**values, **more})


def filed_claim() -> FileClaim:
    """A widow's report of the death of the worker of ``registration()``, one document sent."""
    sha = "a" * 64
    media = Media("image/jpeg", 1000, sha, f"aa/{sha}.jpg")
    return FileClaim(
        reference="JKM-2026-000001", deceased_nik=NIK, worker_reference="LD-AAAA-0001",
        status=claims.DOCUMENTS_INCOMPLETE, status_reason=None, date_of_death=date(2026, 11, 20),
        cause="illness", heir_name="SITI RAHMAWATI", heir_nik=NIK[:-1] + "2",
        heir_phone="+6281298765432", relationship="spouse", bank_name="BRI",
        account_number="123456789012", account_holder="SITI RAHMAWATI", estimate=42_000_000,
        locale="id", consent_version="2026-11", consented_at=NOW.isoformat(),
        documents=(StoredDocument("death_certificate", media),))


async def test_a_registered_worker_is_found_by_nik_reference_and_chat(backend):
    await backend.apply([registration()])
    by_nik = await backend.read(lambda lookup: lookup.worker_by_nik(NIK))
    by_reference = await backend.read(lambda lookup: lookup.worker_by_reference("LD-AAAA-0001"))
    assert by_nik == by_reference
    assert (by_nik.reference, by_nik.full_name, by_nik.status, by_nik.registered_on,
            by_nik.chat_key, by_nik.phone, by_nik.programme_id, by_nik.monthly_income,
            by_nik.birth_date, by_nik.locale) == (
        "LD-AAAA-0001", "BUDI SANTOSO", enrolment.WAITING_VERIFICATION, date(2026, 11, 21),
        CHAT, "+6281234567890", "kota-kecil", 1_000_000, date(1985, 8, 17), "id")
    assert [w.reference for w in await backend.read(
        lambda lookup: lookup.workers_of_chat(CHAT))] == ["LD-AAAA-0001"]
    assert await backend.read(lambda lookup: lookup.workers_of_chat("telegram:7002")) == []
    assert await backend.read(lambda lookup: lookup.worker_by_nik(NIK[:-1] + "9")) is None
    assert await backend.read(lambda lookup: lookup.chats_of("LD-AAAA-0001")) == [(CHAT, NOW)]


async def test_places_and_the_waiting_line_follow_status_changes(backend):
    await backend.apply([registration()])
    await backend.apply([registration("LD-AAAA-0002", NIK[:-1] + "2")], "telegram:7002",
                        NOW + timedelta(minutes=1))
    waiting, total = await backend.read(lambda lookup: lookup.awaiting_review(1))
    assert ([w.reference for w in waiting], total) == (["LD-AAAA-0001"], 2)  # oldest first
    start, end = date(2026, 12, 1), date(2026, 12, 31)
    await backend.apply([ChangeStatus("LD-AAAA-0001", enrolment.WAITING_VERIFICATION,
                                      enrolment.ENROLLED, actor="telegram:9001",
                                      coverage_start=start, coverage_end=end)],
                        quota=("kota-kecil", 1))
    await backend.apply([ChangeStatus("LD-AAAA-0002", enrolment.WAITING_VERIFICATION,
                                      enrolment.WAITING_LIST, actor="telegram:9001")])
    assert await backend.read(lambda lookup: lookup.free_places("kota-kecil", 1)) == 0
    assert await backend.read(lambda lookup: lookup.free_places("kota-kecil", 3)) == 2
    enrolled = await backend.read(lambda lookup: lookup.worker_by_reference("LD-AAAA-0001"))
    assert (enrolled.status, enrolled.coverage_start, enrolled.coverage_end) == (
        enrolment.ENROLLED, start, end)
    queued = await backend.read(lambda lookup: lookup.worker_by_reference("LD-AAAA-0002"))
    assert await backend.read(lambda lookup: lookup.waiting_position(queued)) == 1
    assert await backend.read(lambda lookup: lookup.waiting_count("kota-kecil")) == 1
    assert [w.reference for w in await backend.read(
        lambda lookup: lookup.first_waiting("kota-kecil", 5))] == ["LD-AAAA-0002"]
    with pytest.raises(StaleChange):  # a change from a status the worker has left
        await backend.apply([ChangeStatus("LD-AAAA-0001", enrolment.WAITING_VERIFICATION,
                                          enrolment.REJECTED, actor="telegram:9001")])


async def test_linked_chats_come_in_order_and_a_link_undone_is_gone(backend):
    await backend.apply([registration()])
    later = NOW + timedelta(hours=1)
    await backend.apply([LinkChat("LD-AAAA-0001", "whatsapp:6281200000001")], CHAT, later)
    await backend.apply([LinkChat("LD-AAAA-0001", "telegram:7003")], CHAT,
                        later + timedelta(hours=1))
    assert await backend.read(lambda lookup: lookup.chats_of("LD-AAAA-0001")) == [
        (CHAT, NOW), ("whatsapp:6281200000001", later),
        ("telegram:7003", later + timedelta(hours=1))]
    assert [w.reference for w in await backend.read(
        lambda lookup: lookup.workers_of_chat("telegram:7003"))] == ["LD-AAAA-0001"]
    await backend.apply([UnlinkChat("LD-AAAA-0001", "telegram:7003", CHAT)])
    assert await backend.read(lambda lookup: lookup.workers_of_chat("telegram:7003")) == []
    await backend.apply([ChangePhone("LD-AAAA-0001", "+6281311112222", CHAT)])
    assert (await backend.read(lambda lookup: lookup.worker_by_nik(NIK))).phone == \
        "+6281311112222"


async def test_claims_are_found_and_follow_their_decisions(backend):
    await backend.apply([registration(status=enrolment.ACTIVE)], quota=("kota-kecil", 5))
    filed = filed_claim()
    media = filed.documents[0].media
    sha = media.sha256
    await backend.apply([filed], "telegram:8001")
    claim = await backend.read(lambda lookup: lookup.claim_by_reference("JKM-2026-000001"))
    assert (claim.status, claim.chat_key, claim.heir_nik, claim.estimate, claim.others,
            claim.documents) == (claims.DOCUMENTS_INCOMPLETE, "telegram:8001", NIK[:-1] + "2",
                                 42_000_000, (), {"death_certificate": "received"})
    assert claim.files["death_certificate"].sha256 == sha
    await backend.apply([AddDocuments("JKM-2026-000001", (StoredDocument("kk", media),),
                                      claims.DOCUMENTS_INCOMPLETE, claims.DOCUMENTS_INCOMPLETE)],
                        "telegram:8001")
    listed, total = await backend.read(lambda lookup: lookup.claims_by_status(
        (claims.DOCUMENTS_INCOMPLETE, claims.SUBMITTED), 10))
    assert ([c.reference for c in listed], total) == (["JKM-2026-000001"], 1)
    await backend.apply([ChangeClaim("JKM-2026-000001", claims.DOCUMENTS_INCOMPLETE,
                                     claims.REJECTED, "telegram:9001", reason="bukan ahli waris")])
    rejected = await backend.read(lambda lookup: lookup.claim_by_reference("JKM-2026-000001"))
    assert (rejected.status, rejected.reason, set(rejected.documents)) == (
        claims.REJECTED, "bukan ahli waris", {"death_certificate", "kk"})
    assert await backend.read(lambda lookup: lookup.open_claims(NIK)) == []
    assert await backend.read(lambda lookup: lookup.claim_by_reference("JKM-2026-000009")) \
        is None


async def test_codes_limits_and_numbers(backend):
    until = NOW + proof.CODE_TTL
    await backend.apply([RequestProof(proof.LINK, "LD-AAAA-0001", "telegram:7002", "id", until,
                                      code="123456"), CHAT_NIKS.count("telegram:7002")])
    opened = await backend.read(lambda lookup: lookup.open_proof(
        "telegram:7002", proof.LINK, "LD-AAAA-0001", NOW))
    assert (opened.purpose, opened.state, opened.tries, opened.expires_at) == (
        proof.LINK, proof.PENDING, 0, until)
    assert await backend.read(lambda lookup: lookup.code_matches(opened.id, "123456"))
    assert not await backend.read(lambda lookup: lookup.code_matches(opened.id, "654321"))
    await backend.apply([TryProof(opened.id, False)])
    tried = await backend.read(lambda lookup: lookup.open_proof(
        "telegram:7002", proof.LINK, "LD-AAAA-0001", NOW))
    assert tried.tries == 1
    assert await backend.read(lambda lookup: lookup.open_proof(
        "telegram:7002", proof.LINK, "LD-AAAA-0001", until)) is None  # its ten minutes over
    assert await backend.read(lambda lookup: lookup.limit_used(
        CHAT_NIKS.kind, "telegram:7002", NOW - timedelta(days=1))) == 1
    assert await backend.read(lambda lookup: lookup.limit_used(
        CHAT_NIKS.kind, "telegram:7003", NOW - timedelta(days=1))) == 0
    assert [await backend.read(lambda lookup: lookup.next_number("JKM-2026"))
            for _ in range(3)] == [1, 2, 3]
    assert await backend.read(lambda lookup: lookup.next_number("TAUT")) == 1


async def test_a_staff_check_is_listed_until_decided(backend):
    until = NOW + proof.STAFF_TTL
    await backend.apply([RequestProof(proof.LINK, "LD-AAAA-0001", "telegram:7002", "id", until,
                                      reference="TAUT-000001")])
    check = await backend.read(lambda lookup: lookup.proof_by_reference("TAUT-000001"))
    assert (check.method, check.state, check.subject, check.chat_key) == (
        proof.STAFF, proof.PENDING, "LD-AAAA-0001", "telegram:7002")
    assert await backend.read(lambda lookup: lookup.open_proof(
        "telegram:7002", proof.LINK, "LD-AAAA-0001", NOW, method=proof.STAFF)) == check
    listed, total = await backend.read(lambda lookup: lookup.staff_checks(NOW, 10))
    assert ([c.reference for c in listed], total) == (["TAUT-000001"], 1)
    await backend.apply([DecideProof(check.id, True, "telegram:9001")])
    assert await backend.read(lambda lookup: lookup.staff_checks(NOW, 10)) == ([], 0)
    assert (await backend.read(lambda lookup: lookup.proof_by_reference("TAUT-000001"))
            ).state == "approved"


async def test_a_workers_data_is_seen_corrected_and_erased_alike(backend):
    """``personal_data`` and the requests under the data protection law: what the worker
    sees, a correction at once and one a verifier decides, and an erasure."""
    await backend.apply([registration(status=enrolment.ENROLLED,
                                      coverage_end=date(2026, 12, 31))],
                        quota=("kota-kecil", 5))
    later = NOW + timedelta(hours=1)
    await backend.apply([LinkChat("LD-AAAA-0001", "whatsapp:6281200000001")], CHAT, later)
    await backend.apply([ChangePhone("LD-AAAA-0001", "+6281311112222", CHAT),
                         rights.RevealNik(("LD-AAAA-0001",), "telegram:9001", "cek KTP")],
                        CHAT, later)
    await backend.apply([rights.CorrectWorker("LD-AAAA-0001", {
        "kelurahan": "Kampung Jao", "kecamatan": "Padang Barat"}, CHAT),
        rights.RequestRight("HAK-2026-000001", "LD-AAAA-0001", rights.CORRECT, CHAT, "id",
                            later + rights.DEADLINE, rights.DONE, field="address")], CHAT, later)
    sha = "b" * 64
    ktp = Media("image/jpeg", 900, sha, f"bb/{sha}.jpg")
    await backend.apply([rights.RequestRight(
        "HAK-2026-000002", "LD-AAAA-0001", rights.CORRECT, CHAT, "en", later + rights.DEADLINE,
        field="full_name", value="BUDI SANTOSA", document=ktp)], CHAT, later)
    data = await backend.read(lambda lookup: lookup.personal_data("LD-AAAA-0001"))
    assert (data.worker.nik, data.worker.full_name, data.worker.phone, data.kelurahan,
            data.kecamatan, data.occupation, data.registered_at) == (
        NIK, "BUDI SANTOSO", "+6281311112222", "Kampung Jao", "Padang Barat", "ojek", NOW)
    assert data.chats == ((CHAT, NOW), ("whatsapp:6281200000001", later))
    assert [(c.purpose, c.given, c.version) for c in data.consents] == [
        ("registration", True, "2026-11")]
    assert [(e.action, e.by, e.at, e.why) for e in data.history] == [
        ("worker.phone_changed", "you", later, None),
        ("nik.revealed", "staff", later, "cek KTP"), ("worker.corrected", "you", later, None)]
    assert [(r.number, r.state, r.field, r.value) for r in data.requests] == [
        ("HAK-2026-000001", rights.DONE, "address", None),
        ("HAK-2026-000002", rights.OPEN, "full_name", "BUDI SANTOSA")]
    waiting, total = await backend.read(lambda lookup: lookup.open_rights(10))
    assert ([r.number for r in waiting], total) == (["HAK-2026-000002"], 1)
    assert waiting[0].document.sha256 == sha and waiting[0].deadline == later + rights.DEADLINE
    assert (await backend.read(lambda lookup: lookup.right_by_number("HAK-2026-000002"))
            ) == waiting[0]
    assert await backend.read(lambda lookup: lookup.right_by_number("HAK-2026-000009")) is None

    await backend.apply([rights.CorrectWorker("LD-AAAA-0001", {"full_name": "BUDI SANTOSA"},
                                              "telegram:9001"),
                         rights.DecideRight("HAK-2026-000002", True, "telegram:9001")])
    decided = await backend.read(lambda lookup: lookup.right_by_number("HAK-2026-000002"))
    assert (decided.state, decided.value, decided.document, decided.done_at) == (
        rights.DONE, None, None, NOW)
    assert (await backend.read(lambda lookup: lookup.worker_by_nik(NIK))).full_name == \
        "BUDI SANTOSA"
    with pytest.raises(StaleChange):  # decided once only
        await backend.apply([rights.DecideRight("HAK-2026-000002", False, "telegram:9001",
                                                "tidak cocok")])

    await backend.apply([rights.RequestRight("HAK-2026-000003", "LD-AAAA-0001", rights.ERASE,
                                             CHAT, "id", NOW + rights.DEADLINE),
                         rights.EraseWorker("LD-AAAA-0001", "HAK-2026-000003", CHAT)])
    assert await backend.read(lambda lookup: lookup.worker_by_nik(NIK)) is None
    assert await backend.read(lambda lookup: lookup.personal_data("LD-AAAA-0001")) is None
    assert await backend.read(lambda lookup: lookup.workers_of_chat(
        "whatsapp:6281200000001")) == []
    assert await backend.read(lambda lookup: lookup.free_places("kota-kecil", 5)) == 5
    kept = await backend.read(lambda lookup: lookup.rights_of("LD-AAAA-0001"))
    assert [(r.number, r.kind, r.state, r.chat_key, r.value) for r in kept] == [
        ("HAK-2026-000001", rights.CORRECT, rights.DONE, "", None),
        ("HAK-2026-000002", rights.CORRECT, rights.DONE, "", None),
        ("HAK-2026-000003", rights.ERASE, rights.DONE, "", None)]


async def test_a_verifier_of_an_area_reviews_only_its_registrations(backend):
    await backend.apply([
        registration(),
        registration("LD-AAAA-0002", "1371011708850002", kelurahan="Lubuk Buaya",
                     kecamatan="Koto Tangah")])
    everyone, total = await backend.read(lambda lookup: lookup.awaiting_review(10))
    assert ([w.reference for w in everyone], total) == (["LD-AAAA-0001", "LD-AAAA-0002"], 2)
    mine, total = await backend.read(lambda lookup: lookup.awaiting_review(
        10, Area("kecamatan", "koto tangah")))
    assert ([(w.reference, w.kelurahan, w.kecamatan) for w in mine], total) == (
        [("LD-AAAA-0002", "Lubuk Buaya", "Koto Tangah")], 1)
    village, _ = await backend.read(lambda lookup: lookup.awaiting_review(
        10, Area("kelurahan", "LAPAI")))
    assert [w.reference for w in village] == ["LD-AAAA-0001"]
