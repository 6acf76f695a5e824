"""WhatsApp end to end, as an operator runs it: ``python main.py run`` in a process of its own,
a fake Twilio REST API on 127.0.0.1 that also posts signed status reports back, and every
webhook signed as Twilio signs it. A worker registers and is enrolled from the DTSEN extract,
asks for status, is activated by ``import-kpj`` while their 24 hours are over (the card's text
is refused by a later report, and the activation goes again as its template; the card image is
served at its signed address), and an heir files a claim with two photos."""

import asyncio
import hashlib
import signal
import sqlite3
from contextlib import closing
from datetime import datetime

import httpx

from bot.quiet_hours import WIB
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BOT_NUMBER,
    FakeTwilio,
    inbound_form,
    signed_post,
)
from tests.test_cli_enrolment import lindungi
from tests.test_e2e import START_TIMEOUT_S, bot_process, environment
from tests.test_pipeline import ANSWERS
from tests.test_whatsapp import PUBLIC, free_port, until_healthy

WORKER, HEIR = "6281234567890", "6281298765432"
NIK = "1371011708850001"
HEIR_NIK = "1371015708850002"
KPJ = "12345678901"
ACTIVE_SID = "HX" + "ac" * 16
PHOTOS = [b"\xff\xd8\xff\xe0" + f"dokumen {n} ".encode() * 700 for n in range(2)]
PROGRAMMES = """
[[programme]]
id = "kota-kecil"
name = "Program Kota Kecil"
region = { codes = ["1371"], name = "Kota Padang" }
funder = "APBD Kota Kecil"
dtsen_max_desil = 4
verification = "auto"
branch = "BPJS Ketenagakerjaan Cabang Kecil"
cycle = [{ name = "2026-2099", start = 2026-01-01, end = 2099-12-31, quota = 10 }]
"""
TEMPLATES = f"""
[active]
variables = ["full_name", "kpj", "coverage_end"]
id = "{ACTIVE_SID}"
"""


class WhatsAppUser:
    """One person writing to the bot: signed webhooks in, the fake's messages out."""

    def __init__(self, http: httpx.AsyncClient, twilio: FakeTwilio, local: str, wa_id: str):
        self.http, self.twilio, self.local, self.wa_id = http, twilio, local, wa_id
        self.to = f"whatsapp:+{wa_id}"

    async def say(self, text: str = "", *expected: str,
                  photo: bytes | None = None) -> list[str]:
        """Send a text (or a photo) and check the replies it brings, in order."""
        media = ((self.twilio.add_media(photo, "image/jpeg"), "image/jpeg"),) if photo else ()
        response = await signed_post(self.http, f"{self.local}/whatsapp",
                                     inbound_form(self.wa_id, text, media=media), AUTH_TOKEN,
                                     signed_url=f"{PUBLIC}/whatsapp")
        assert response.status_code == 200, response.text
        replies = [(await self.twilio.next_message(self.to)).body for _ in expected]
        for reply, fragment in zip(replies, expected, strict=True):
            assert fragment in reply, f"after {text!r}: {reply!r}"
        return replies


async def test_register_status_activation_and_a_claim_over_whatsapp(tmp_path, bot_log):
    port = free_port()
    local = f"http://127.0.0.1:{port}"
    db = tmp_path / "e2e.db"
    (tmp_path / "programmes.toml").write_text(PROGRAMMES, encoding="utf-8")
    (tmp_path / "templates.toml").write_text(TEMPLATES, encoding="utf-8")
    (tmp_path / "dtsen.csv").write_text(f"nik,kk,desil,alamat\n{NIK},1371010101100001,2,"
                                        f"Air Tawar Barat\n", encoding="utf-8")
    async with FakeTwilio(reports_to=(PUBLIC, local)) as twilio:
        env = environment(
            TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_WHATSAPP_FROM=BOT_NUMBER, TWILIO_API_BASE_URL=twilio.base_url,
            PUBLIC_BASE_URL=PUBLIC, HOST="127.0.0.1", PORT=str(port),
            DATABASE_URL=f"sqlite+aiosqlite:///{db}", STORAGE_DIR=str(tmp_path / "files"),
            PROGRAMMES_FILE=str(tmp_path / "programmes.toml"), DTSEN_HMAC_KEY="d" * 40,
            WHATSAPP_TEMPLATES_FILE=str(tmp_path / "templates.toml"))
        imported = lindungi("import-dtsen", str(tmp_path / "dtsen.csv"), env=env, cwd=tmp_path)
        assert imported.returncode == 0, imported.stderr
        async with bot_process(env, bot_log) as proc, httpx.AsyncClient() as http:
            await until_healthy(http, local, proc)
            # main.py run serves the staff console beside the webhooks.
            assert "Masuk ke konsol petugas" in (await http.get(f"{local}/console/signin")).text
            worker = WhatsAppUser(http, twilio, local, WORKER)
            heir = WhatsAppUser(http, twilio, local, HEIR)

            # Registration, answered with numbers and words; enrolled from the extract.
            replies = [(await worker.say(answer or NIK, ""))[0] for answer in ANSWERS]
            assert "Halo!" in replies[0] and "1." in replies[0]
            assert "Program Kota Kecil" in replies[-1] and "LD-" in replies[-1]
            reference = next(word for word in replies[-1].split() if word.startswith("LD-"))
            [status, _] = await worker.say("status", reference, "")
            assert "terdaftar" in status and "BUDI SANTOSO" in status

            # Activation a day later: Twilio takes the card's text, then reports it refused
            # (63016); the bot sends the activation template instead.
            twilio.close_window(worker.to, report_later=True)
            (tmp_path / "kpj.csv").write_text(f"nik,kpj\n{NIK},{KPJ}\n", encoding="utf-8")
            activated = lindungi("import-kpj", str(tmp_path / "kpj.csv"), env=env,
                                 cwd=tmp_path)
            assert activated.returncode == 0, activated.stderr
            template = await twilio.next_message(worker.to, timeout=20)
            assert template.content_sid == ACTIVE_SID
            assert template.content_variables["1"] == "BUDI SANTOSO"
            assert template.content_variables["2"] == KPJ
            refused = [r for r in twilio.reports if r.get("ErrorCode") == "63016"]
            assert len(refused) == 1 and refused[0]["MessageStatus"] == "failed"

            # Back within the window: the card, as an image at a signed address of the bot.
            twilio.open_window(worker.to)
            await worker.say("kartu", "Kartu peserta BUDI SANTOSO")
            [image_url] = twilio.messages(worker.to)[-1].media_urls
            image = await http.get(local + image_url.removeprefix(PUBLIC))
            assert image.status_code == 200 and image.content[:4] == b"\x89PNG"

            # The heir reports the death and sends two photos, the rest later.
            today = datetime.now(WIB).date()
            for text, expect in [("lapor meninggal", "turut berduka cita"),
                                 ("ya", "NIK almarhum"), (NIK, "B*** S******"),
                                 ("1", "Tanggal meninggal"),
                                 (today.strftime("%d-%m-%Y"), "Penyebab"),
                                 ("sakit", "nama lengkap"), ("Siti Rahmawati", "NIK Anda"),
                                 (HEIR_NIK, "Nomor HP"), ("1", "hubungan"),
                                 ("istri", "Dokumen 1 dari 7")]:
                await heir.say(text, expect)
            await heir.say("", "diterima", "Dokumen 2 dari 7", photo=PHOTOS[0])
            await heir.say("", "diterima", "Dokumen 3 dari 7", photo=PHOTOS[1])
            for _ in range(4):
                await heir.say("nanti", "Dokumen")
            for text, expect in [("nanti", "nama bank"), ("BRI", "nomor rekening"),
                                 ("1234 5678 9012", "pemilik rekening"),
                                 ("Siti Rahmawati", "Periksa laporan")]:
                await heir.say(text, expect)
            claim_reference = f"JKM-{today.year}-000001"
            await heir.say("kirim", claim_reference)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), START_TIMEOUT_S) == 0
    assert twilio.calls["unknown"] == 0 and twilio.calls["unauthorized"] == 0

    with closing(sqlite3.connect(db)) as conn:
        worker_row = conn.execute("SELECT status, kpj, chat_key FROM worker").fetchone()
        claim_row = conn.execute("SELECT reference, status, chat_key FROM claim").fetchone()
        documents = conn.execute("SELECT kind, sha256, path FROM claim_document "
                                 "ORDER BY id").fetchall()
        states = dict(conn.execute("SELECT error_code, count(*) FROM outgoing_message "
                                   "GROUP BY error_code").fetchall())
    assert worker_row == ("active", KPJ, f"whatsapp:{WORKER}")
    assert claim_row == (claim_reference, "documents_incomplete", f"whatsapp:{HEIR}")
    assert [sha for _, sha, _ in documents] == [hashlib.sha256(p).hexdigest() for p in PHOTOS]
    for _, _, path in documents:
        assert (tmp_path / "files" / path).read_bytes() in PHOTOS
    assert states[63016] == 1 and states[None] > 20  # the reports of every message, kept
