"""Composing a broadcast in the chat, as data: what an admin sends, which replies come back,
what the rendered text shows, and the broadcast stored at the end (nothing before confirming).
Also seeing and stopping one with /siaran and /batalsiaran, and who may."""

from datetime import date, datetime, timedelta

import pytest

from bot import claims, enrolment
from bot.broadcasting import Progress, finish_time, sending_seconds
from bot.flows.broadcast import read_time, tidy
from bot.messages import RegisterWorker
from bot.quiet_hours import WIB, parse_quiet_hours
from tests.chat import START, Chat, Memory
from tests.test_conversations import photo, play

ADMIN = "7001"
MEETING = ("Rapat Kepatuhan hari Senin 15 Desember pukul 09.00 di Kantor Wali Kota. "
           "Bawa KTP dan dokumen usaha.")


def register(memory: Memory, n: int, status: str = enrolment.ACTIVE, locale: str = "id",
             chat_key: str | None = None, occupation: str = "ojek") -> None:
    memory.apply(RegisterWorker(
        f"LD-TEST-{n:04d}", f"13710117088500{n:02d}", f"PEKERJA {n}", date(1985, 8, 17),
        f"+6281234567{n:03d}", occupation, None, "Air Tawar Barat", "Padang Utara",
        1_000_000, locale, "2026-11", START.isoformat(), status, "padang", 2,
        date(2026, 2, 1), date(2026, 12, 31)),
        chat_key or f"telegram:{1000 + n}", START)


def memory_with_workers() -> Memory:
    memory = Memory(staff={f"telegram:{ADMIN}": "admin", "telegram:7002": "verifier"})
    register(memory, 1)
    register(memory, 2, locale="en")
    register(memory, 3, status=enrolment.WAITING_VERIFICATION, occupation="nelayan")
    register(memory, 4, chat_key="whatsapp:6281200000004")
    memory.opted_out["telegram:1002"] = True
    return memory


COMPOSE_AND_SCHEDULE = [
    ("/siaran", ["broadcast.message.prompt"],
     ["Siaran baru", "paling panjang 3.000 huruf", "1. ⏰ Pengingat: perlindungan akan berakhir",
      "Contoh: Rapat Kepatuhan"]),
    ("ok", ["error:broadcast.message.too_short"], ["paling sedikit 10 huruf"]),
    (photo(), ["error:input.not_text"]),
    # a text that mentions "dokumen" is a text, not the documents reminder
    (MEETING, ["broadcast.english.prompt"], ["1. ⏭ Lewati"]),
    ("Compliance meeting on Monday 15 December at 09:00 at the Mayor's office.",
     ["broadcast.audience.prompt"],
     ["pekerja terdaftar", "Tanpa filter: semuanya.", "Saat ini 3 penerima", "1. ➡️ Lanjut",
      "3. Status"]),
    ("9", ["error:choice.unknown"]),
    ("3", ["broadcast.filter.prompt"], ["Pilih Status", "1. Semua"]),
    ("dokter", ["error:choice.unknown"]),
    ("2", ["broadcast.audience.prompt"],
     ["• Status: Aktif (sudah punya KPJ)", "Saat ini 2 penerima", "8. 🧹 Hapus"]),
    ("lanjut", ["broadcast.preview"],
     ["Penerima: 2 (1 sudah minta berhenti, tidak dikirimi)", "Kanal: Telegram 1, WhatsApp 1",
      "Dikirim: sekarang", "📢 Pesan dari petugas Lindungi:\nRapat Kepatuhan", "1. ✅ Kirim",
      "2. 🗓 Jadwalkan"]),
    ("2", ["broadcast.schedule.prompt"], ["Contoh: 15-12-2026 08.00"]),
    ("besok pagi", ["error:broadcast.schedule.invalid"]),
    ("01-11-2026 08.00", ["error:broadcast.schedule.past"]),
    ("15-12-2028 08.00", ["error:broadcast.schedule.too_far"]),
    ("15/12/2026 8:00", ["broadcast.preview"], ["Dikirim: 15 Desember 2026 08.00 WIB"]),
    ("kirim", ["broadcast.scheduled"],
     ["dijadwalkan 15 Desember 2026 08.00 WIB untuk 2 penerima"]),
]


async def test_an_admin_composes_and_schedules_a_broadcast(catalogs):
    memory = memory_with_workers()
    chat = Chat(catalogs, memory, chat_id=ADMIN)
    await play(chat, COMPOSE_AND_SCHEDULE[:-1])
    assert memory.broadcasts == []  # nothing stored before it is confirmed
    await play(chat, COMPOSE_AND_SCHEDULE[-1:])
    [made] = memory.broadcasts
    assert made.audience == {"status": "active"}
    assert (made.text_id, made.reminder, made.actor, made.locale) == (
        MEETING, None, "telegram:7001", "id")
    assert made.text_en.startswith("Compliance meeting")
    assert made.scheduled_at == datetime(2026, 12, 15, 8, 0, tzinfo=WIB)
    assert chat.session.flow is None


async def test_a_ready_reminder_to_heirs_takes_only_language_and_channel(catalogs):
    memory = memory_with_workers()
    memory.claims["JKM-2026-000001"] = claims.ClaimInfo(
        "JKM-2026-000001", "1371011708850099", claims.DOCUMENTS_INCOMPLETE, "1371015708850002",
        "child", "telegram:8001", "id", START, date(2026, 11, 1), 42_000_000,
        documents={"death_certificate": "received"})
    chat = Chat(catalogs, memory, chat_id=ADMIN)
    await play(chat, [
        ("/siaran", ["broadcast.message.prompt"]),
        ("2", ["broadcast.audience.prompt"],
         ["ahli waris yang klaimnya menunggu dokumen", "Saat ini 1 penerima", "2. Bahasa",
          "3. Kanal"]),
        ("1", ["broadcast.preview"],
         ["Penerima: 1", "Klaim JKM-2026-000001 masih menunggu dokumen",
          "• Kartu Keluarga (KK)"]),
        ("1", ["broadcast.started"], ["1 penerima"]),
    ])
    [made] = memory.broadcasts
    assert (made.reminder, made.text_id, made.audience) == ("documents_missing", None, {})


async def test_the_coverage_reminder_shows_a_workers_own_values(catalogs):
    memory = memory_with_workers()
    chat = Chat(catalogs, memory, chat_id=ADMIN)
    await play(chat, [
        ("/siaran", ["broadcast.message.prompt"]),
        ("pengingat: perlindungan akan berakhir", ["broadcast.audience.prompt"],
         ["Saat ini 2 penerima"]),
        ("1", ["broadcast.preview"],
         ["PEKERJA 1", "berakhir pada 31 Desember 2026", "sekitar 1 detik"]),
        ("3", ["broadcast.audience.prompt"]),
        ("7", ["broadcast.filter.prompt"], ["2. Telegram", "3. WhatsApp"]),
        ("wa", ["broadcast.audience.prompt"], ["• Kanal (Telegram/WhatsApp): WhatsApp",
                                               "Saat ini 1 penerima"]),
        ("1", ["broadcast.preview"], ["Kanal: WhatsApp 1"]),
        ("1", ["broadcast.started"]),
    ])
    assert memory.broadcasts[0].audience == {"channel": "whatsapp"}


@pytest.mark.parametrize("leave", ["batal", "4"])
async def test_a_broadcast_can_be_dropped_at_any_step(catalogs, leave):
    memory = memory_with_workers()
    chat = Chat(catalogs, memory, chat_id=ADMIN)
    await play(chat, [("/siaran", ["broadcast.message.prompt"]),
                      (MEETING, ["broadcast.english.prompt"]),
                      ("lewati", ["broadcast.audience.prompt"]),
                      ("1", ["broadcast.preview"]),
                      (leave, ["cancel.done" if leave == "batal" else "broadcast.cancelled"])])
    assert memory.broadcasts == [] and chat.session.flow is None


async def test_nobody_to_send_to_is_said_and_the_language_can_change_midway(catalogs):
    memory = Memory(staff={f"telegram:{ADMIN}": "admin"})
    register(memory, 1)
    chat = Chat(catalogs, memory, chat_id=ADMIN)
    await play(chat, [
        ("/siaran", ["broadcast.message.prompt"]),
        (MEETING, ["broadcast.english.prompt"]),
        ("1", ["broadcast.audience.prompt"]),
        ("6", ["broadcast.filter.prompt"]),
        ("english", ["broadcast.audience.prompt"], ["Saat ini 0 penerima"]),
        ("1", ["broadcast.preview"], ["Penerima: 0"]),
        ("1", ["broadcast.audience.nobody", "broadcast.audience.prompt"]),
        ("bahasa", ["language.prompt"]),
        ("2", ["language.set", "broadcast.audience.again"], ["• Language: English"]),
        ("clear filters", ["broadcast.audience.prompt"], ["Recipients now: 1."]),
        ("bantuan", ["broadcast.help"], ["Nothing goes out before you pick Send"]),
    ])
    assert memory.broadcasts == []


async def test_only_admins_broadcast(catalogs):
    memory = memory_with_workers()
    await play(Chat(catalogs, memory, chat_id="7002"), [
        ("/siaran", ["broadcast.not_allowed"]),
        ("/batalsiaran 1", ["staff.broadcast.not_found"])])
    await play(Chat(catalogs, memory, chat_id="7003"), [("/siaran", ["menu.prompt"])])
    chat = Chat(catalogs, memory, chat_id=ADMIN)
    await play(chat, [("/siaran", ["broadcast.message.prompt"])])
    del memory.staff[f"telegram:{ADMIN}"]  # removed meanwhile: the next step says so
    await play(chat, [(MEETING, ["broadcast.not_allowed"])])
    assert chat.session.flow is None


async def test_progress_and_stopping_from_the_chat(catalogs):
    memory = memory_with_workers()
    memory.progress[12] = Progress(12, "sending", pending=600, sent=300, failed=2, skipped=5,
                                   pending_by_channel={"telegram": 600})
    memory.progress[13] = Progress(13, "done", pending=0, sent=10, failed=0, skipped=0)
    admin = Chat(catalogs, memory, chat_id=ADMIN)
    await play(admin, [
        ("/siaran 12", ["broadcast.progress.sending"],
         ["Siaran #12: 300 terkirim, 2 gagal, 600 menunggu (dari 907)",
          "Perkiraan selesai: 21 November 2026 10.00 WIB", "/batalsiaran 12"]),
        ("/siaran 13", ["broadcast.progress.done"]),
        ("/siaran dua", ["staff.broadcast.usage"]),
        ("/batalsiaran 99", ["staff.broadcast.not_found"]),
        ("/batalsiaran 13", ["staff.broadcast.over"]),
    ])
    await play(Chat(catalogs, memory, chat_id="7002"), [
        ("/siaran 12", ["broadcast.progress.sending"]),
        ("/batalsiaran 12", ["broadcast.not_allowed"])])
    assert memory.cancelled == []
    await play(admin, [("/batalsiaran 12", ["staff.broadcast.cancelled"], ["600 pesan"])])
    assert [(c.broadcast_id, c.actor) for c in memory.cancelled] == [(12, "telegram:7001")]


@pytest.mark.parametrize(("start", "seconds", "finish"), [
    (datetime(2026, 12, 1, 10, 0), 600, datetime(2026, 12, 1, 10, 10)),
    # begun in the quiet hours: from 07:00
    (datetime(2026, 12, 1, 22, 0), 60, datetime(2026, 12, 2, 7, 1)),
    (datetime(2026, 12, 1, 3, 0), 60, datetime(2026, 12, 1, 7, 1)),
    # running into them: paused until 07:00
    (datetime(2026, 12, 1, 20, 50), 1200, datetime(2026, 12, 2, 7, 10)),
])
def test_the_finish_time_skips_the_quiet_hours(start, seconds, finish):
    quiet = parse_quiet_hours("21:00-07:00")
    assert finish_time(start.replace(tzinfo=WIB), seconds, quiet) == finish.replace(tzinfo=WIB)
    assert finish_time(start.replace(tzinfo=WIB), seconds, None) == start.replace(
        tzinfo=WIB) + timedelta(seconds=seconds)


def test_sending_time_is_the_slowest_channel():
    rates = {"telegram": 30.0, "whatsapp": 80.0}
    assert sending_seconds({"telegram": 600, "whatsapp": 800}, rates) == 20
    assert sending_seconds({"whatsapp": 800}, rates) == 10
    assert sending_seconds({"telegram": 600}, {"telegram": 0}) == 0  # no limit set
    assert sending_seconds({}, rates) == 0


@pytest.mark.parametrize(("typed", "expected"), [
    ("15-12-2026 08.00", datetime(2026, 12, 15, 8, 0, tzinfo=WIB)),
    ("15/12/2026 8:05", datetime(2026, 12, 15, 8, 5, tzinfo=WIB)),
    ("2026-12-15 08:00", datetime(2026, 12, 15, 8, 0, tzinfo=WIB)),
    ("31-02-2026 08.00", None),
    ("15-12-2026", None),
    ("besok", None),
])
def test_times_are_read_as_jakarta_time(typed, expected):
    assert read_time(typed) == expected


def test_a_message_keeps_its_lines():
    assert tidy("  Rapat\u200b Kepatuhan  \r\n\r\n\r\n\r\nBawa KTP \x07") == (
        "Rapat Kepatuhan\n\nBawa KTP")


async def test_a_reminder_with_nobody_to_remind_says_so_in_the_preview(catalogs):
    memory = Memory(staff={f"telegram:{ADMIN}": "admin"})
    register(memory, 1, status=enrolment.WAITING_VERIFICATION)
    await play(Chat(catalogs, memory, chat_id=ADMIN), [
        ("/siaran", ["broadcast.message.prompt"]),
        ("1", ["broadcast.audience.prompt"], ["Saat ini 0 penerima"]),
        ("1", ["broadcast.preview"], ["Tidak ada penerima dengan filter ini"]),
        ("1", ["broadcast.audience.nobody", "broadcast.audience.prompt"]),
    ])
    assert memory.broadcasts == []


async def test_an_admin_on_whatsapp_broadcasts_with_numbered_choices(catalogs):
    memory = memory_with_workers()
    memory.staff["whatsapp:6281234567890"] = "admin"
    chat = Chat(catalogs, memory, chat_id="6281234567890", channel="whatsapp")
    await play(chat, [
        ("/siaran", ["broadcast.message.prompt"], ["Balas 1 atau 2."]),
        (MEETING, ["broadcast.english.prompt"]),
        ("1", ["broadcast.audience.prompt"]),
        ("1", ["broadcast.preview"], ["Balas 1, 2, 3, atau 4."]),
        ("1", ["broadcast.started"]),
    ])
    assert memory.broadcasts[0].actor == "whatsapp:6281234567890"
