"""The rights of UU PDP 27/2022 beyond the golden conversations: an erasure on SQLite and
PostgreSQL with what remains asserted row by row, a correction's restriction, an erasure staff
decide because a death was reported, and the operator's list of open requests."""

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from bot import enrolment, rights
from bot.broadcasting import Audience
from bot.messages import LinkChat, Media, RequestProof
from bot.render import Renderer
from models.broadcasts import recipients
from models.effects import apply_effects
from models.schema import (
    consent,
    place,
    proof_request,
    rights_request,
    staff_action,
    worker,
    worker_chat,
)
from models.store import Store
from models.tables import Broadcast, BroadcastRecipient, Reminder
from tests.chat import START, Chat, Memory, town_programme
from tests.test_claims import HEIR_NIK
from tests.test_cli_enrolment import lindungi
from tests.test_conversations import NIK, play
from tests.test_e2e import environment
from tests.test_enrolment import PADANG
from tests.test_store import registration

CHAT = "telegram:7001"
KTP = Media("image/jpeg", 900, "c" * 64, f"cc/{'c' * 64}.jpg")


async def seed(store, renderer, effects, chat: str = CHAT, at=START) -> None:
    """The effects stored as the message path stores them (the quota read first, as a step
    does before it takes a place)."""
    async with store.transaction() as tx:
        await tx.free_places("kota-kecil", 10)
        await apply_effects(tx, renderer, effects, at, channel=chat.split(":")[0],
                            chat_key=chat, send_here=False)


def enrolled(n: int = 1):
    return replace(registration(nik=f"13710117088500{n:02d}", reference=f"LD-AAAA-{n:04d}"),
                   status=enrolment.ENROLLED, consent_version="2026-12",
                   programme_id="kota-kecil", coverage_end=START.date() + timedelta(days=40))


async def test_an_erasure_leaves_only_what_the_law_lets_keep(store, catalogs):
    renderer = Renderer(catalogs)
    await seed(store, renderer, [enrolled(1)])
    await seed(store, renderer, [enrolled(2)], "telegram:7002")
    await seed(store, renderer, [LinkChat("LD-AAAA-0001", "whatsapp:6281200000001"),
                                 RequestProof("lookup", "LD-AAAA-0001", "telegram:7009", "id",
                                              START + timedelta(minutes=10), code="123456")])
    async with store.transaction() as tx:
        broadcast_id = (await tx.conn.execute(insert(Broadcast.__table__).values(
            created_by="telegram:9001", created_at=START, audience="{}", text_id="Halo",
            status="sending").returning(Broadcast.__table__.c.id))).scalar_one()
        await tx.conn.execute(insert(BroadcastRecipient.__table__), [
            {"broadcast_id": broadcast_id, "chat_key": chat, "locale": "id", "subject": subject,
             "state": "pending"} for chat, subject in (
                (CHAT, ""), (CHAT, "LD-AAAA-0001"), ("telegram:7002", ""))])
        await tx.conn.execute(insert(Reminder.__table__).values(
            kind="coverage_ending", subject="LD-AAAA-0001", cycle="2026-12-31", occasion=7,
            broadcast_id=broadcast_id, created_at=START))
        await tx.record("telegram:9001", "worker.enrolled", "LD-AAAA-0001", None, START)
    later = START + timedelta(days=3)
    await seed(store, renderer, [
        rights.RequestRight("HAK-2026-000001", "LD-AAAA-0001", rights.CORRECT, CHAT, "id",
                            later, field="nik", value="1371011708850099", document=KTP),
        rights.RequestRight("HAK-2026-000002", "LD-AAAA-0001", rights.ERASE, CHAT, "id",
                            later + rights.DEADLINE),
        rights.EraseWorker("LD-AAAA-0001", "HAK-2026-000002", CHAT)], at=later)

    async with store.engine.connect() as conn:
        workers = (await conn.execute(select(worker.c.reference))).scalars().all()
        links = (await conn.execute(select(worker_chat.c.worker_reference))).scalars().all()
        subjects = set((await conn.execute(select(consent.c.subject))).scalars())
        proofs = (await conn.execute(select(proof_request.c.subject))).scalars().all()
        left = sorted((r.chat_key, r.subject) for r in await conn.execute(
            select(BroadcastRecipient.__table__)))
        reminders = (await conn.execute(select(func.count()).select_from(
            Reminder.__table__))).scalar_one()
        taken = (await conn.execute(select(place.c.taken).where(
            place.c.programme_id == "kota-kecil"))).scalar_one()
        requests = [tuple(r) for r in await conn.execute(select(
            rights_request.c.number, rights_request.c.kind, rights_request.c.state,
            rights_request.c.value, rights_request.c.document_path, rights_request.c.chat_key,
            rights_request.c.channel, rights_request.c.done_at.is_not(None))
            .order_by(rights_request.c.id))]
        record = [(r.actor, r.action, r.subject, json.loads(r.detail or "{}")) for r in
                  await conn.execute(select(staff_action).where(
                      staff_action.c.subject == "LD-AAAA-0001").order_by(staff_action.c.id))]
    assert workers == ["LD-AAAA-0002"] and links == [] and proofs == []
    assert subjects == {"LD-AAAA-0002"}
    assert left == [("telegram:7002", "")]  # the other worker's message still goes
    assert reminders == 0 and taken == 1  # the erased worker's place is free for the next
    assert requests == [
        ("HAK-2026-000001", "correct", "open", None, None, None, "telegram", False),
        ("HAK-2026-000002", "erase", "done", None, None, None, "telegram", True)]
    assert record == [
        ("telegram:9001", "worker.enrolled", "LD-AAAA-0001", {}),
        (CHAT, "worker.erased", "LD-AAAA-0001", {
            "request": "HAK-2026-000002", "programme": "kota-kecil", "status": "enrolled"})]
    assert not await store.files_in_use({KTP.path})  # the KTP photo goes at the next prune
    async with store.transaction() as tx:  # the tombstone: the NIK's blind index only
        assert await tx.erased_on(enrolled(1).nik) == "HAK-2026-000002"
        assert await tx.erased_on(enrolled(2).nik) is None
        erase = await tx.right_by_number("HAK-2026-000002")
    assert erase.done_at <= erase.deadline  # answered within the 3 × 24 hours


async def test_bpjs_answering_for_an_erased_worker_recreates_nothing(store, catalogs,
                                                                     tmp_path):
    """An export went to BPJS before the worker withdrew; their answer (the KPJ) comes
    after: the line says why it is skipped, and nothing of the worker comes back."""
    from tests.test_enrolment_io import run

    renderer = Renderer(catalogs)
    await seed(store, renderer, [enrolled(1)])
    await seed(store, renderer, [
        rights.RequestRight("HAK-2026-000001", "LD-AAAA-0001", rights.ERASE, CHAT, "id",
                            START + rights.DEADLINE),
        rights.EraseWorker("LD-AAAA-0001", "HAK-2026-000001", CHAT)])
    answer = tmp_path / "kpj.csv"
    answer.write_text(f"nik,kpj\n{enrolled(1).nik},12345678901\n", encoding="utf-8")
    counts, bad = await run(store, catalogs, answer)
    assert (counts, bad) == ((1, 0, 0, 1), [
        (2, "NIK 1371********0001 was erased on its worker's request HAK-2026-000001: "
            "nothing re-created")])
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(worker.c.reference))).all() == []


async def test_a_pending_correction_keeps_the_record_out_of_broadcasts(store, catalogs):
    renderer = Renderer(catalogs)
    await seed(store, renderer, [enrolled(1)])
    await seed(store, renderer, [enrolled(2)], "telegram:7002")
    await seed(store, renderer, [rights.RequestRight(
        "HAK-2026-000001", "LD-AAAA-0001", rights.CORRECT, CHAT, "id", START + rights.DEADLINE,
        field="full_name", value="BUDI SANTOSA", document=KTP)])
    today = START.date()
    async with store.engine.connect() as conn:
        chosen = [r["chat_key"] for r in await recipients(conn, Audience(), None, today)]
    assert chosen == ["telegram:7002"]
    assert await store.files_in_use({KTP.path}) == {KTP.path}
    assert KTP.path in await store.document_paths() and await store.is_document(KTP.path)
    await seed(store, renderer, [rights.DecideRight("HAK-2026-000001", False, "telegram:9001",
                                                    "foto tidak jelas")])
    async with store.engine.connect() as conn:
        chosen = [r["chat_key"] for r in await recipients(conn, Audience(), None, today)]
    assert sorted(chosen) == [CHAT, "telegram:7002"]  # decided: no longer restricted


async def test_an_erasure_after_a_reported_death_waits_for_staff(catalogs):
    from tests.test_claims import SMALL, filed_claim

    memory = Memory()
    await filed_claim(catalogs, memory)  # the worker of chat 7100 reported dead
    reference = memory.workers[-1][1].reference
    worker = Chat(catalogs, memory, chat_id="7100", programmes=SMALL)
    await play(worker, [("hapus data saya", ["rights.erase.prompt"]),
                        ("ya, hapus data saya", ["rights.erase.review"])])
    [request] = [r for r in memory.requests.values() if r.kind == rights.ERASE]
    assert request.state == rights.OPEN and reference in memory.infos
    staff = Chat(catalogs, memory, chat_id="9001")
    await play(staff, [("/hak", ["staff.rights.list"], [request.number, "hapus data"]),
                       (f"/tolakhak {request.number} klaim JKM masih diproses",
                        ["staff.rights.refused"])])
    assert memory.requests[request.number].state == rights.REFUSED
    assert memory.notices[-1].replies[0].msgid == "notice.rights.refused"
    assert reference in memory.infos  # the claim still has its registration


async def test_an_erasure_staff_approve_is_carried_out(catalogs):
    memory = Memory(dtsen={NIK: 1}, staff={"telegram:9001": "verifier"})
    chat = Chat(catalogs, memory, programmes=town_programme(verification="auto"))
    from tests.test_enrolment import register

    await register(chat, NIK, "reg.done_enrolled", area=("ya",))
    reference = next(iter(memory.infos))
    memory.apply(rights.RequestRight("HAK-2026-000009", reference, rights.ERASE, CHAT, "id",
                                     chat.now + rights.DEADLINE), CHAT, chat.now)
    staff = Chat(catalogs, memory, chat_id="9001")
    await play(staff, [("/setujuihak hak-2026-000009", ["staff.rights.erased"])])
    assert reference not in memory.infos and memory.erased == [reference]
    assert memory.requests["HAK-2026-000009"].state == rights.DONE
    assert memory.notices[-1].replies[0].msgid == "notice.rights.erased_by_staff"


def test_the_operator_lists_open_requests_overdue_first(tmp_path, catalogs):
    url = f"sqlite+aiosqlite:///{tmp_path / 'lindungi.db'}"
    env = environment(DATABASE_URL=url)
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    assert lindungi("rights", env=env, cwd=tmp_path).stdout.splitlines() == [
        "0 open request(s) under UU PDP 27/2022"]

    now = datetime.now(UTC)

    async def seed_requests():
        store = Store.connect(url)
        try:
            await seed(store, Renderer(catalogs), [
                rights.RequestRight("HAK-2026-000002", "LD-AAAA-0002", rights.CORRECT,
                                    "whatsapp:6281200000001", "id", now + rights.DEADLINE,
                                    field="nik", value="1371011708850099", document=KTP),
                rights.RequestRight("HAK-2026-000001", "LD-AAAA-0001", rights.ERASE, CHAT,
                                    "id", now - timedelta(hours=1)),
                rights.RequestRight("HAK-2026-000003", "LD-AAAA-0001", rights.SEE, CHAT, "id",
                                    now + rights.DEADLINE, rights.DONE)], at=now)
        finally:
            await store.close()

    asyncio.run(seed_requests())
    shown = lindungi("rights", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "2 open request(s) under UU PDP 27/2022"
    assert lines[1].startswith("OVERDUE HAK-2026-000001  erase  LD-AAAA-0001  asked ")
    assert lines[2].startswith("HAK-2026-000002  correct nik  LD-AAAA-0002  asked ")
    assert "(whatsapp)" in lines[2] and "1371011708850099" not in shown.stdout
    assert lines[-1].startswith("Decide in the chat")


async def test_a_full_nik_shown_to_staff_is_recorded_and_the_worker_sees_why(catalogs):
    from tests.test_claims import SMALL, filed_claim

    memory = Memory(staff_names={"telegram:9001": "Ani (Disnaker)"})
    await filed_claim(catalogs, memory)  # the worker of chat 7100, an heir's claim
    reference = memory.workers[-1][1].reference
    [claim] = memory.claims
    staff = Chat(catalogs, memory, chat_id="9001")
    await play(staff, [
        (f"/lihatnik {reference}", ["staff.nik.usage"]),
        (f"/lihatnik {reference} ok", ["staff.nik.usage"]),  # a reason that says nothing
        (f"/lihatnik {reference} cocokkan dengan KTP di loket",
         ["staff.nik.worker"], [f"NIK {PADANG}"]),
        (f"/lihatnik {claim} cocokkan dengan akta kematian", ["staff.nik.claim"],
         [PADANG, HEIR_NIK]),
        ("/lihatnik LD-NONE-NONE karena perlu", ["staff.not_found"])])
    assert [(a, s, w) for a, action, s, _, w in memory.history if action == "nik.revealed"] == [
        ("telegram:9001", reference, "cocokkan dengan KTP di loket"),
        ("telegram:9001", claim, "cocokkan dengan akta kematian"),
        ("telegram:9001", reference, "cocokkan dengan akta kematian")]
    worker = Chat(catalogs, memory, chat_id="7100", programmes=SMALL)
    await play(worker, [("lihat data saya", ["rights.see.registration", "rights.see.consents",
                                             "rights.see.history"],
                         ["NIK lengkap Anda dilihat (alasan: cocokkan dengan KTP di loket), "
                          "oleh petugas Ani (Disnaker)"])])


async def test_a_long_history_is_shown_newest_first_and_fits_a_message(catalogs):
    """Every look is a request, so a list grows: the chat shows the newest ten and says how
    many more the copy holds (a Telegram message holds 4,096 characters)."""
    memory = Memory(dtsen={NIK: 1})
    chat = Chat(catalogs, memory, programmes=town_programme(verification="auto"))
    from tests.test_enrolment import register

    await register(chat, NIK, "reg.done_enrolled", area=("ya",))
    for _ in range(24):
        await chat.send("lihat data saya")
    history = chat.rendered()[-1].text
    # the 23 looks before this one: the newest ten, and 13 left for the copy
    assert "• … 13 sebelumnya (semuanya ada di salinan" in history
    assert "HAK-2026-000014:" in history and "HAK-2026-000013:" not in history
    assert all(len(r.text) < 4096 for r in chat.rendered())
    await chat.send("minta salinan")
    copy = Renderer(catalogs).render(chat.replies[0], "id").copy
    assert "HAK-2026-000001:" in copy.text and "sebelumnya" not in copy.text
