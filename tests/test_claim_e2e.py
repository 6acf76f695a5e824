"""A claim end to end over the fake Bot API, on both databases: an heir reports a death and
sends photos and a PDF (fetched with getFile and the file download, stored content-addressed),
and a verifier opens the claim, looks at the documents, approves it and marks it paid; the heir
hears of each step."""

import asyncio
import hashlib
import logging
import os
import time
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.engine import Engine
from bot.messages import ChangeStatus, Count, FileClaim, StoredDocument
from bot.quiet_hours import WIB
from bot.render import Renderer
from handlers.conversations import Conversations
from handlers.media import MediaStore
from handlers.telegram import TelegramChannel
from main import prune_files, quiet_libraries
from models.schema import claim, claim_document
from models.staff import StaffDirectory
from tests.chat import town_programme
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_store import registration

DECEASED = "1371011708850001"
HEIR_NIK = "1371015708850002"
HEIR, VERIFIER = 200, 9001
PDF = b"%PDF-1.4\n" + b"akta kematian " * 500
PHOTOS = [b"\xff\xd8\xff\xe0" + f"dokumen {n} ".encode() * 800 for n in range(6)]


@pytest.fixture
async def bot(store, catalogs, tmp_path):
    """The bot as ``main.py run`` wires it (media stored under tmp_path), polling a fake."""
    async with FakeTelegram() as tg:
        files = MediaStore(tmp_path / "files")
        conversations = Conversations(store, Engine(catalogs, programmes=town_programme()),
                                      Renderer(catalogs), media=files)
        channel = TelegramChannel(TOKEN, tg.base_url, conversations, media=files)
        conversations.add_channel("telegram", channel)
        await channel.start()
        await conversations.start()
        poller = asyncio.create_task(channel.poll())
        yield tg
        if poller.done():
            poller.result()
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        await conversations.stop()
        await channel.close()


async def covered_worker(store) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    async with store.transaction() as tx:
        await tx.free_places("kota-kecil", 10)
        await tx.register_worker(registration(
            nik=DECEASED, status="enrolled", programme_id="kota-kecil",
            coverage_start=date(2026, 11, 1), coverage_end=date(2026, 12, 31)),
            "telegram", "telegram:100", now)
    async with store.transaction() as tx:
        await tx.change_status(ChangeStatus("LD-AAAA-AAAA", "enrolled", "active",
                                            kpj="12345678901"), now)
    await StaffDirectory(store).add("telegram", str(VERIFIER), "verifier", "Ani", "cli:test",
                                    now)


async def say(tg: FakeTelegram, chat: int, send, *expected: str) -> list:
    """Send a text (or, given a callable, a file) and check the replies it brings, in order."""
    send(chat) if callable(send) else tg.user_text(chat, send)
    replies = [await tg.next_reply(chat) for _ in expected]
    for reply, fragment in zip(replies, expected, strict=True):
        assert fragment in reply.text, f"after {send!r}: {reply.text!r}"
    return replies


async def test_an_heir_claims_with_photos_and_a_pdf_and_staff_pay(bot, store, tmp_path,
                                                                   caplog):
    """… and afterwards, on SQLite, no NIK, phone number, account or birth date can be read
    in the database file, its write-ahead log or the log (``models.vault``)."""
    caplog.set_level(logging.DEBUG)  # the bot's own log at its most talkative, and the
    quiet_libraries()  # libraries' as the bot sets them (their debug logs carry messages)
    tg = bot
    await covered_worker(store)
    today = datetime.now(WIB).date()
    for text, expect in [("lapor meninggal", "turut berduka cita"), ("ya", "NIK almarhum"),
                         (DECEASED, "B*** S******"), ("ya", "Tanggal meninggal"),
                         (today.strftime("%d-%m-%Y"), "Penyebab"), ("sakit", "nama lengkap"),
                         ("Siti Rahmawati", "NIK Anda"), (HEIR_NIK, "Nomor HP"),
                         ("081298765432", "hubungan"), ("istri", "Dokumen 1 dari 7")]:
        await say(tg, HEIR, text, expect)
    exe = b"MZ\x90\x00"
    await say(tg, HEIR, lambda chat: tg.user_document(chat, exe, "application/x-msdownload",
                                                      "akta.exe"), "tidak bisa diterima")
    await say(tg, HEIR, lambda chat: tg.user_document(chat, PDF, "application/pdf", "akta.pdf"),
              "diterima", "Dokumen 2 dari 7")
    for n, data in enumerate(PHOTOS):
        await say(tg, HEIR, lambda chat, data=data: tg.user_photo_file(chat, data),
                  "diterima", "Dokumen" if n < 5 else "nama bank")
    for text, expect in [("BRI", "nomor rekening"), ("1234 5678 9012", "pemilik rekening"),
                         ("Siti Rahmawati", "Periksa laporan")]:
        await say(tg, HEIR, text, expect)
    reference = f"JKM-{today.year}-000001"
    await say(tg, HEIR, "kirim", reference, "Dokumen lengkap")

    async with store.engine.connect() as conn:
        row = (await conn.execute(select(claim))).one()
        documents = (await conn.execute(select(claim_document))).all()
    assert (row.status, row.estimate, row.heir_nik) == ("submitted", 42_000_000, HEIR_NIK)
    stored = {d.kind: d for d in documents}
    assert stored["death_certificate"].sha256 == hashlib.sha256(PDF).hexdigest()
    assert stored["death_certificate"].mime_type == "application/pdf"
    assert stored["savings_book"].sha256 == hashlib.sha256(PHOTOS[-1]).hexdigest()
    for document in documents:
        assert (tmp_path / "files" / document.path).read_bytes() in [PDF, *PHOTOS]

    await say(tg, VERIFIER, f"/klaim {reference}", "[akta] Akta / surat keterangan kematian")
    [pdf] = await say(tg, VERIFIER, f"/lihatdok {reference} akta", reference)
    assert pdf.document == PDF
    [kk] = await say(tg, VERIFIER, f"/lihatdok {reference} kk", reference)
    assert kk.photo == PHOTOS[0]
    await say(tg, VERIFIER, f"/setujuiklaim {reference}", "disetujui")
    assert "Rp42.000.000" in (await tg.next_reply(HEIR)).text
    await say(tg, VERIFIER, f"/dibayar {reference}", "sudah dibayar")
    assert "sudah dibayar" in (await tg.next_reply(HEIR)).text
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(claim.c.status)) == "paid"
    if store.engine.dialect.name == "sqlite":
        await store.close()  # what is left on disk: the file and its write-ahead log
        on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("lindungi.db*"))
        logged = caplog.text.encode()
        readable = {"deceased's NIK": DECEASED, "heir's NIK": HEIR_NIK,
                    "heir's phone": "81298765432", "worker's phone": "81234567890",
                    "account": "123456789012", "birth date": "1985-08-17",
                    "birth date as typed": "17-08-1985"}
        assert on_disk and logged
        assert {what: value for what, value in readable.items()
                if value.encode() in on_disk} == {}, "readable in the database"
        leaks = sorted({r.name for r in caplog.records for v in readable.values()
                        if v in r.getMessage()})
        assert {what: value for what, value in readable.items()
                if value.encode() in logged} == {}, f"readable in the log of {leaks}"


def stored_files(tmp_path) -> list:
    return sorted(p.name for p in (tmp_path / "files").glob("??/*"))


async def test_a_photo_sent_where_no_document_is_asked_is_not_kept(bot, store, tmp_path):
    tg = bot
    await covered_worker(store)
    await say(tg, HEIR, lambda chat: tg.user_photo_file(chat, PHOTOS[0]), "bukan foto")
    assert stored_files(tmp_path) == []
    for text, expect in [("lapor meninggal", "turut berduka cita"), ("ya", "NIK almarhum"),
                         (DECEASED, "B*** S******"), ("ya", "Tanggal meninggal")]:
        await say(tg, HEIR, text, expect)
    await say(tg, HEIR, lambda chat: tg.user_photo_file(chat, PHOTOS[1]), "tanggal")
    assert stored_files(tmp_path) == []
    # a document asked for is kept, in the draft, before the claim is filed
    today = datetime.now(WIB).date()
    for text, expect in [(today.strftime("%d-%m-%Y"), "Penyebab"), ("sakit", "nama lengkap"),
                         ("Siti Rahmawati", "NIK Anda"), (HEIR_NIK, "Nomor HP"),
                         ("081298765432", "hubungan"), ("anak", "Dokumen 1 dari 6")]:
        await say(tg, HEIR, text, expect)
    await say(tg, HEIR, lambda chat: tg.user_photo_file(chat, PHOTOS[2]), "diterima",
              "Dokumen 2 dari 6")
    assert stored_files(tmp_path) == [f"{hashlib.sha256(PHOTOS[2]).hexdigest()}.jpg"]


async def test_a_chat_past_its_daily_files_is_refused_and_nothing_is_kept(bot, store,
                                                                         tmp_path):
    tg = bot
    await covered_worker(store)
    async with store.transaction() as tx:
        await tx.count(Count("chat.file", f"telegram:{HEIR}", 30), datetime.now(UTC))
    for text, expect in [("lapor meninggal", "turut berduka cita"), ("ya", "NIK almarhum"),
                         (DECEASED, "B*** S******"), ("ya", "Tanggal meninggal"),
                         (datetime.now(WIB).date().strftime("%d-%m-%Y"), "Penyebab"),
                         ("sakit", "nama lengkap"), ("Siti Rahmawati", "NIK Anda"),
                         (HEIR_NIK, "Nomor HP"), ("081298765432", "hubungan"),
                         ("anak", "Dokumen 1 dari 6")]:
        await say(tg, HEIR, text, expect)
    await say(tg, HEIR, lambda chat: tg.user_photo_file(chat, PHOTOS[0]), "30 file")
    assert stored_files(tmp_path) == []


async def test_files_no_claim_uses_are_deleted_after_a_week(store, tmp_path):
    media = MediaStore(tmp_path / "files")
    kept = media.save(PDF, "application/pdf", "akta.pdf")
    stray = media.save(PHOTOS[0], "image/jpeg", None)  # a KTP photo sent at the wrong step
    fresh = media.save(PHOTOS[1], "image/jpeg", None)  # a claim still being written
    old = time.time() - 8 * 24 * 3600
    for stored in (kept, stray):
        os.utime(tmp_path / "files" / stored.path, (old, old))
    async with store.transaction() as tx:
        await tx.file_claim(FileClaim(
            reference="JKM-2026-000001", deceased_nik=DECEASED, worker_reference=None,
            status="documents_incomplete", status_reason=None, date_of_death=date(2026, 11, 20),
            cause="illness", heir_name="SITI", heir_nik=HEIR_NIK, heir_phone="+6281298765432",
            relationship="child", bank_name="BRI", account_number="123456", account_holder="SITI",
            estimate=42_000_000, locale="id", consent_version="2026-11",
            consented_at="2026-11-21T03:00:00+00:00",
            documents=(StoredDocument("death_certificate", kept),)), "telegram", "telegram:200",
            datetime(2026, 11, 21, tzinfo=UTC))
    assert await prune_files(store, media) == 1
    assert [(tmp_path / "files" / m.path).exists() for m in (kept, stray, fresh)] == [
        True, False, True]
