"""Whole conversations as data: what the user sends, which replies come back (by message id:
``error:<problem>`` for a refused answer, ``help:<topic>`` for an explanation), what the
rendered text must show, and what is stored at the end."""

from datetime import date

import pytest

from bot.messages import Reply
from bot.rules import Rules
from tests.chat import Chat, Memory

NIK = "1371011708850001"


def photo():
    return {"kind": "photo"}


def sticker():
    return {"kind": "sticker"}


def voice():
    return {"kind": "voice"}


def contact(phone):
    return {"kind": "contact", "contact": phone}


def describe(reply: Reply) -> str:
    if reply.msgid == "error.with_expect":
        return f"error:{reply.params['problem'].msgid}"
    if reply.msgid == "help.with_expect":
        return f"help:{reply.params['help'].msgid}"
    return reply.msgid


async def play(chat: Chat, script) -> None:
    for number, step in enumerate(script, 1):
        sent, expected, *shown = step
        if isinstance(sent, dict):
            await chat.send(sent.get("text", ""), sent["kind"], sent.get("contact"),
                            sent.get("media"))
        else:
            await chat.send(sent)
        got = [describe(r) for r in chat.replies]
        assert got == expected, f"step {number} ({sent!r}): {got} != {expected}"
        for fragment in (shown[0] if shown else ()):
            assert fragment in chat.text(), f"step {number}: {fragment!r} not in\n{chat.text()}"


TO_NIK = [
    ("/start", ["menu.welcome"]),
    ("1", ["language.prompt"]),
    ("1", ["consent.prompt_2026_12"],
     ["UU PDP", "Tujuan", "Penerima data", "Disimpan", "Hak Anda", "DTSEN", "Pengingat"]),
    ("1", ["nik.prompt"], ["Contoh: 1371011708850001", "0. 🏠 Menu"]),
]
NIK_TO_SUMMARY = [
    ("1371 0117 0885 0001", ["full_name.prompt"]),
    ("Budi Santoso", ["birth_date.prompt"]),
    ("17-08-1985", ["phone.prompt"]),
    (contact("+6281234567890"), ["occupation.prompt"]),
    ("ojol", ["kelurahan.prompt"]),
    ("air tawar barat", ["kecamatan.prompt"]),
    ("padang utara", ["programme_confirm.prompt"],
     ["Kota Padang", "Perlindungan Pekerja Rentan Kota Padang", "APBD Kota Padang"]),
    ("ya", ["income.prompt"]),
    ("Tidak tahu", ["summary.prompt"],
     ["NIK: 1371********0001", "Nama: BUDI SANTOSO", "Tanggal lahir: 17 Agustus 1985",
      "Nomor HP: +6281234567890", "Pekerjaan: Ojek / ojol", "Kelurahan/desa: Air Tawar Barat",
      "Kecamatan: Padang Utara", "Penghasilan (dasar iuran): Rp1.000.000",
      "Daerah/program: Perlindungan Pekerja Rentan Kota Padang (Kota Padang)",
      "Iuran per bulan: Rp16.800"]),
]
TO_SUMMARY = TO_NIK + NIK_TO_SUMMARY
SAVE = [("✅ Simpan", ["reg.done_review"], ["LD-TEST-", "STATUS"])]


async def test_worker_registers_in_indonesian(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_SUMMARY + SAVE)
    assert "iuran Rp16.800 per bulan dibayar oleh APBD Kota Padang" in chat.text()
    [(chat_key, worker)] = chat.memory.workers
    assert chat_key == "telegram:7001"
    assert (worker.nik, worker.full_name, worker.birth_date, worker.phone, worker.occupation,
            worker.kelurahan, worker.kecamatan, worker.monthly_income, worker.locale) == (
        NIK, "BUDI SANTOSO", date(1985, 8, 17), "+6281234567890", "ojek", "Air Tawar Barat",
        "Padang Utara", 1_000_000, "id")
    assert worker.consent_version and worker.consented_at.startswith("2026-11-21")
    assert chat.session.flow is None and chat.session.data == {}
    assert NIK not in chat.text()


async def test_worker_registers_in_english(catalogs):
    chat = Chat(catalogs)
    await play(chat, [
        ("/start", ["menu.welcome"]),
        ("register", ["language.prompt"]),
        ("English", ["consent.prompt_2026_12"], ["Purpose", "Who receives it", "Your rights"]),
        ("yes", ["nik.prompt"], ["Example: 1371011708850001"]),
        ("1371015708850002", ["full_name.prompt"]),
        ("Siti Rahmawati", ["birth_date.prompt"]),
        ("17 Aug 1985", ["phone.prompt"], ["What is your mobile number?"]),
        ("0812 3456 7890", ["occupation.prompt"]),
        ("2", ["kelurahan.prompt"]),
        ("Ulak Karang", ["kecamatan.prompt"]),
        ("Padang Utara", ["programme_confirm.prompt"], ["Do you live in Kota Padang now?"]),
        ("yes", ["income.prompt"], ["Less than Rp2.000.000", "Rp5.000.000 or more"]),
        ("2", ["summary.prompt"],
         ["Name: SITI RAHMAWATI", "Date of birth: 17 August 1985", "Occupation: Fisher",
          "Income (premium basis): Rp2.000.000",
          "Monthly premium: Rp16.800, paid by APBD Kota Padang, not by you"]),
        ("save", ["reg.done_review"], ["Registration number: LD-TEST-",
                                       "Rp16.800 a month is paid by APBD Kota Padang"]),
    ])
    [(_, worker)] = chat.memory.workers
    assert (worker.locale, worker.occupation, worker.monthly_income) == ("en", "nelayan",
                                                                         2_000_000)


AREA_AGAIN = [("ya", ["summary.prompt"])]
"""A new NIK or occupation may change the programme, so the area is asked again."""


@pytest.mark.parametrize("field, number, new_answer, shown", [
    ("nik", "1", "1371011708850009", "1371********0009"),
    ("full_name", "2", "Budi Santosa", "Nama: BUDI SANTOSA"),
    ("birth_date", "3", "17/8/85", "Tanggal lahir: 17 Agustus 1985"),
    ("phone", "4", "+62 813 1111 2222", "Nomor HP: +6281311112222"),
    ("occupation", "5", "nelayan", "Pekerjaan: Nelayan"),
    ("kelurahan", "6", "Lapai", "Kelurahan/desa: Lapai"),
    ("kecamatan", "7", "Nanggalo", "Kecamatan: Nanggalo"),
    ("income", "9", "3", "Penghasilan (dasar iuran): Rp3.000.000"),
])
async def test_every_answer_can_be_corrected_from_the_summary(catalogs, field, number,
                                                              new_answer, shown):
    chat = Chat(catalogs)
    again = field in ("nik", "occupation")
    await play(chat, TO_SUMMARY + [
        ("2", ["edit.prompt"]),
        (number, [f"{field}.prompt"]),
        (new_answer, ["programme_confirm.prompt" if again else "summary.prompt"],
         [] if again else [shown]),
    ] + (AREA_AGAIN if again else []) + SAVE)
    assert len(chat.memory.workers) == 1


@pytest.mark.parametrize("typed, occupation, other", [
    ("tukang parkir", "juru_parkir", None),
    ("saya kurir paket", "kurir", None),
    ("narik becak", "sopir", None),
    ("jaga warung", "warung", None),
    ("ART", "asisten_rumah_tangga", None),
    ("paraji", "dukun_beranak", None),
    ("tukang sol sepatu", "other", "tukang sol sepatu"),  # never the nearest guess
])
async def test_a_typed_occupation_is_the_right_one_or_kept_in_own_words(catalogs, typed,
                                                                       occupation, other):
    chat = Chat(catalogs)
    await play(chat, TO_NIK + NIK_TO_SUMMARY[:4])
    expected = ["occupation.kept_other", "kelurahan.prompt"] if other else ["kelurahan.prompt"]
    await play(chat, [(typed, expected)])
    assert (chat.session.data["occupation"], chat.session.data.get("occupation_other")) == (
        occupation, other)


@pytest.mark.parametrize("typed, income", [
    ("1500000", 1_000_000), ("Rp 1,5 juta", 1_000_000), ("sejuta lebih", 1_000_000),
    ("2,5 jt", 2_000_000), ("500 ribu", 1_000_000), ("7.000.000 sebulan", 5_000_000),
])
async def test_a_typed_income_picks_its_bracket(catalogs, typed, income):
    chat = Chat(catalogs)
    await play(chat, TO_SUMMARY[:-1])
    assert chat.session.step == "income"
    await play(chat, [(typed, ["summary.prompt"])])
    assert chat.session.data["income"] == income


async def test_kel_and_kec_are_stored_without_their_prefix(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_NIK + NIK_TO_SUMMARY[:5] + [
        ("Kel. Air Tawar Barat", ["kecamatan.prompt"]),
        ("kecamatan Padang Utara", ["programme_confirm.prompt"]),
    ])
    assert (chat.session.data["kelurahan"], chat.session.data["kecamatan"]) == (
        "Air Tawar Barat", "Padang Utara")


async def test_occupation_other_is_written_in_own_words(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_NIK + NIK_TO_SUMMARY[:4] + [
        ("Lainnya", ["occupation_other.prompt"]),
        ("📷", ["error:free_text.letters"]),
        ("tukang parkir", ["kelurahan.prompt"]),
        ("Lapai", ["kecamatan.prompt"]),
        ("Nanggalo", ["programme_confirm.prompt"]),
        ("1", ["income.prompt"]),
        ("1", ["summary.prompt"], ["Pekerjaan: Lainnya: tukang parkir"]),
        ("2", ["edit.prompt"]),
        ("Pekerjaan", ["occupation.prompt"]),
        ("penjahit", ["programme_confirm.prompt"]),
        ("ya", ["summary.prompt"], ["Pekerjaan: Penjahit"]),
    ] + SAVE)
    [(_, worker)] = chat.memory.workers
    assert (worker.occupation, worker.occupation_other) == ("penjahit", None)


async def test_birth_date_differing_from_nik_is_a_warning_not_a_refusal(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_NIK + [
        (NIK, ["full_name.prompt"]),
        ("Budi", ["birth_date.prompt"]),
        ("18-08-1985", ["birth_date_confirm.prompt"],
         ["18 Agustus 1985 berbeda dengan tanggal di NIK (17 Agustus 1985)"]),
        ("mungkin", ["error:choice.unknown"]),
        ("2", ["birth_date.prompt"]),
        ("19-08-1985", ["birth_date_confirm.prompt"]),
        ("Ubah NIK", ["nik.prompt"]),
        ("1371011908850001", ["phone.prompt"]),
    ])
    chat2 = Chat(catalogs, chat_id="7002")
    await play(chat2, TO_NIK + [
        (NIK, ["full_name.prompt"]),
        ("Budi", ["birth_date.prompt"]),
        ("18-08-1985", ["birth_date_confirm.prompt"]),
        ("ya", ["phone.prompt"]),
    ])
    assert chat2.session.data["birth_date"] == "1985-08-18"


async def test_womens_nik_day_plus_40_matches_their_birth_date(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_NIK + [
        ("1371015708850001", ["full_name.prompt"]),
        ("Siti", ["birth_date.prompt"]),
        ("17 Agustus 1985", ["phone.prompt"]),
    ])


async def test_every_wrong_answer_says_what_is_expected_and_asks_again(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_NIK + [
        ("1371 0117 0885", ["error:nik.length"], ["16 angka, yang terkirim 12 angka",
                                                  "Contoh: 1371011708850001"]),
        ("KTP saya hilang", ["error:nik.not_digits"]),
        ("9971011708850001", ["error:nik.province"], ["(99)"]),
        ("1300011708850001", ["error:nik.region"]),
        ("1371013213850001", ["error:nik.date"]),
        ("1371011708850000", ["error:nik.serial"]),
        (photo(), ["error:input.not_text"], ["foto", "Contoh: 1371011708850001"]),
        ("x" * 5000, ["error:input.too_long"]),
        ("\x00\x07\u200b", ["error:input.empty"]),
        (NIK, ["full_name.prompt"]),
        ("Budi 99", ["error:name.digits"], ["Contoh: Siti Rahmawati"]),
        ("👍👍", ["error:name.chars"]),
        ("B", ["error:name.length"]),
        (sticker(), ["error:input.not_text"]),
        ("Budi", ["birth_date.prompt"]),
        ("kemarin", ["error:date.format"], ["Contoh: 17-08-1985"]),
        ("30-02-1985", ["error:date.invalid"]),
        ("01-01-2099", ["error:date.future"]),
        ("01-01-1800", ["error:date.too_old"]),
        (voice(), ["error:input.not_text"]),
        ("17-08-1985", ["phone.prompt"]),
        ("12345", ["error:phone.invalid"], ["Contoh: 081234567890"]),
        ("021 345 6789", ["error:phone.not_mobile"]),
        (contact("+1 202"), ["error:phone.invalid"]),
        (photo(), ["error:input.not_text"]),
        ("081234567890", ["occupation.prompt"]),
        ("🚀🚀", ["error:choice.unknown"], ["tulis pekerjaan Anda"]),
        ("99", ["error:choice.unknown"]),
        ("nelayan", ["kelurahan.prompt"]),
        ("🏠", ["error:place.chars"]),
        ("a", ["error:place.length"]),
        ("Lapai", ["kecamatan.prompt"]),
        ("x" * 61, ["error:place.length"]),
        ("Nanggalo", ["programme_confirm.prompt"]),
        ("mungkin", ["error:choice.unknown"], ["Pilih 1 jika Anda tinggal di sana"]),
        (sticker(), ["error:input.not_text"]),
        ("tidak", ["programme_pick.prompt"], ["1. Kota Padang", "Daerah saya tidak ada"]),
        ("Jakarta", ["error:choice.unknown"], ["Ketik nomor daerah Anda"]),
        ("99", ["error:choice.unknown"]),
        ("kota padang", ["income.prompt"]),
        ("banyak", ["error:choice.unknown"]),
        ("1", ["summary.prompt"]),
        ("hmm", ["error:choice.unknown"]),
        (photo(), ["error:input.not_text"]),
    ])
    assert chat.memory.workers == []
    assert chat.session.step == "summary"


@pytest.mark.parametrize("steps", range(len(TO_SUMMARY) - 1))
@pytest.mark.parametrize("word", ["batal", "/batal", "Cancel", "BATAL"])
async def test_cancel_at_any_step_forgets_the_answers(catalogs, steps, word):
    chat = Chat(catalogs)
    await play(chat, TO_SUMMARY[:steps + 1])
    await play(chat, [(word, ["cancel.done"] if steps else ["cancel.nothing"])])
    assert chat.session.flow is None and chat.session.data == {} and chat.session.paused is None
    await play(chat, [("1", ["language.prompt"] if not chat.session.locale_chosen
                       else ["consent.prompt_2026_12"])])
    assert chat.memory.workers == []


async def test_consent_refused_stores_nothing(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_NIK[:3] + [
        ("nanti saja", ["error:choice.unknown"], ["Ketik 1 jika setuju"]),
        ("tidak setuju", ["consent.declined"], ["Tidak ada data Anda yang disimpan"]),
    ])
    assert chat.session.data == {} and chat.session.flow is None
    assert chat.memory.workers == []


async def test_menu_leaves_the_draft_and_continue_comes_back(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_SUMMARY[:6] + [
        ("/menu", ["menu.prompt"], ["1. 📝 Daftar", "6. 🕊️ Lapor meninggal",
                                    "7. 🔐 Data saya", "8. ▶️ Lanjutkan pendaftaran"]),
        ("8", ["birth_date.prompt"]),
        ("0", ["menu.prompt"]),
        ("daftar", ["menu.draft.registration"], ["Balas 8 untuk melanjutkannya, atau 1"]),
        ("8", ["birth_date.prompt"]),
        ("🏠 Menu", ["menu.prompt"]),
        ("Lanjutkan pendaftaran", ["birth_date.prompt"]),
        ("17-08-1985", ["phone.prompt"]),
    ])


async def test_a_second_person_in_the_chat_is_asked_their_own_consent(catalogs):
    """The draft someone left is not theirs: a new registration asks consent again."""
    chat = Chat(catalogs)
    await play(chat, TO_SUMMARY[:6] + [
        ("menu", ["menu.prompt"]),
        ("daftar", ["menu.draft.registration"]),
        ("1", ["consent.prompt_2026_12"]),
        ("1", ["nik.prompt"]),
        ("menu", ["menu.prompt"], ["8. ▶️ Lanjutkan pendaftaran"]),
        ("8", ["nik.prompt"]),  # the new registration: the first one's answers are gone
    ])
    assert "nik" not in chat.session.data


async def test_language_can_change_at_any_step(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_SUMMARY[:6] + [
        ("/bahasa", ["language.prompt"]),
        ("Klingon", ["error:choice.unknown"]),
        ("2", ["language.set", "birth_date.prompt"], ["Example: 17-08-1985"]),
        ("kemarin", ["error:date.format"], ["Sorry, I could not read that date."]),
        ("language", ["language.prompt"]),
        ("Bahasa Indonesia", ["language.set", "birth_date.prompt"], ["Contoh: 17-08-1985"]),
    ])
    assert chat.session.data["full_name"] == "BUDI SANTOSO"


async def test_help_explains_the_current_step(catalogs):
    chat = Chat(catalogs)
    await play(chat, [("/bantuan", ["help.menu"], ["MENU", "BATAL"])] + TO_NIK + [
        ("/bantuan", ["help:nik.help"], ["16 angka", "Contoh: 1371011708850001"]),
        ("help", ["help:nik.help"]),
        (NIK, ["full_name.prompt"]),
        ("bantuan", ["help:full_name.help"]),
        ("bahasa", ["language.prompt"]),
        ("bantuan", ["help:language.help"]),
    ])


async def test_idle_conversation_expires_with_a_friendly_restart(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_SUMMARY[:6])
    chat.wait(hours=23)
    await play(chat, [("17-08-1985", ["phone.prompt"])])
    chat.wait(hours=24, minutes=1)
    await play(chat, [("081234567890", ["session.expired", "menu.prompt"])])
    assert chat.session.data == {} and chat.session.paused is None
    await play(chat, [("1", ["consent.prompt_2026_12"])])


async def test_expiry_after_a_shorter_configured_time(catalogs):
    from datetime import timedelta

    chat = Chat(catalogs, rules=Rules(session_ttl=timedelta(minutes=30)))
    await play(chat, TO_NIK)
    chat.wait(minutes=31)
    await play(chat, [("/batal", ["session.expired", "cancel.nothing"])])


async def test_sweep_forgets_idle_drafts_and_the_user_is_told(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_SUMMARY[:6])
    assert chat.engine.expire_stored(chat.state, chat.now) is None
    chat.wait(hours=25)
    swept = chat.engine.expire_stored(chat.state, chat.now)
    assert swept["data"] == {} and swept["flow"] is None and swept["expired"]
    chat.state = swept
    await play(chat, [("Budi", ["session.expired", "menu.prompt"])])


async def test_registered_nik_is_not_stored_twice_and_status_is_offered(catalogs):
    memory = Memory()
    first = Chat(catalogs, memory)
    await play(first, TO_SUMMARY + SAVE + [
        ("daftar", ["consent.prompt_2026_12"]), ("1", ["nik.prompt"]),
        ("1371.0117.0885.0001", ["nik.registered"], ["1371********0001", "1. 🔎 Cek status"]),
        ("1", ["status.worker", "status.more"], ["BUDI SANTOSO", "menunggu verifikasi"]),
    ])
    assert len(memory.workers) == 1


async def test_the_same_worker_links_another_chat_with_a_code_sent_to_the_first(catalogs):
    """Registered from Telegram, the worker writes from WhatsApp (or a new phone): the NIK
    is not stored twice, and the code sent to the first chat links the new one, which the
    first chat is told of."""
    memory = Memory()
    await play(Chat(catalogs, memory), TO_SUMMARY + SAVE)
    reference = memory.workers[0][1].reference
    second = Chat(catalogs, memory, chat_id="7002")
    await play(second, TO_NIK + [
        (NIK, ["link.how.prompt"], ["NIK 1371********0001 sudah terdaftar"]),
        (photo(), ["error:input.not_text"]),
        ("1", ["link.code.prompt"]),
    ])
    assert "BUDI" not in second.text() and reference not in second.text()
    assert {n.chat_key: (n.replies[0].msgid, n.replies[0].params["code"])
            for n in memory.notices} == {
        "telegram:7001": ("notice.proof.link", "100001"),
        "whatsapp:6281234567890": ("notice.proof.link", "100001")}
    await play(second, [
        ("100009", ["error:proof.code.wrong"], ["Sisa percobaan: 2"]),
        ("100 001", ["link.done"], ["BUDI SANTOSO", "1. 🔎 Cek status"]),
        ("1", ["status.worker", "status.more"], ["BUDI SANTOSO", "menunggu verifikasi"]),
        ("daftar", ["consent.prompt_2026_12"]), ("1", ["nik.prompt"]),
        (NIK, ["nik.registered"]),
    ])
    assert memory.links == [("telegram:7002", reference)]
    assert len(memory.workers) == 1
    assert {n.chat_key for n in memory.notices[-2:]} == {"telegram:7001",
                                                         "whatsapp:6281234567890"}
    assert {n.replies[0].msgid for n in memory.notices[-2:]} == {"notice.linked"}


@pytest.mark.parametrize("channel, chat_id", [("telegram", "7666"),
                                              ("whatsapp", "6289912345678")])
async def test_a_nik_and_its_birth_date_take_over_nothing(catalogs, channel, chat_id):
    """Someone who read the KTP tries every door from a new chat: registering, linking with
    the birth date inside the NIK, checking the status, asking for the card. They learn
    nothing the NIK did not say, and the owner is told someone asked."""
    memory = Memory()
    await play(Chat(catalogs, memory), TO_SUMMARY + SAVE)
    reference = memory.workers[0][1].reference
    stranger = Chat(catalogs, memory, chat_id=chat_id, channel=channel)
    await play(stranger, TO_NIK + [
        (NIK, ["link.how.prompt"]),
        ("17-08-1985", ["error:choice.unknown"]),
        ("menu", ["menu.prompt"]),
        ("cek nik", ["lookup.nik_prompt"]),
        (NIK, ["lookup.code_prompt"]),
        ("170885", ["error:lookup.code_wrong"]),
        ("kartu", ["card.none"]),
        ("status", ["status.none"]),
    ])
    seen = stranger.everything()
    for secret in ("BUDI", "B***", reference, "menunggu", "Kota Kecil", "Air Tawar"):
        assert secret not in seen, secret
    assert memory.links == []
    told = {n.chat_key: n.replies[0] for n in memory.notices}
    assert set(told) == {"telegram:7001", "whatsapp:6281234567890"}
    assert told["telegram:7001"].msgid == "notice.proof.lookup"
    assert ("WhatsApp" if channel == "whatsapp" else "Telegram") in str(
        told["telegram:7001"].params["channel"])


async def test_the_registered_whatsapp_number_needs_no_code(catalogs):
    """The number the worker registered with is where the codes go: writing from it is
    proof enough, to check the status or to link the chat."""
    memory = Memory()
    await play(Chat(catalogs, memory), TO_SUMMARY + SAVE)
    own = Chat(catalogs, memory, chat_id="6281234567890", channel="whatsapp")
    await play(own, [("cek nik", ["lookup.nik_prompt"]),
                     (NIK, ["status.worker"], ["BUDI SANTOSO"])])
    assert memory.notices == [] and memory.links == []
    await play(own, TO_NIK + [(NIK, ["link.done"], ["BUDI SANTOSO"])])
    assert memory.links == [("whatsapp:6281234567890", memory.workers[0][1].reference)]
    await play(own, [("daftar", ["consent.prompt_2026_12"]), ("1", ["nik.prompt"]),
                     (NIK, ["nik.registered"])])


async def test_the_first_chat_undoes_a_link_it_did_not_make(catalogs):
    memory = Memory()
    owner = Chat(catalogs, memory)
    await play(owner, TO_SUMMARY + SAVE)
    reference = memory.workers[0][1].reference
    thief = Chat(catalogs, memory, chat_id="7666")
    thief.wait(minutes=30)
    await play(thief, TO_NIK + [(NIK, ["link.how.prompt"]), ("kode", ["link.code.prompt"])])
    # the owner was tricked into forwarding the code
    await play(thief, [(memory.code_for("telegram:7666"), ["link.done"])])
    await play(thief, [("bukan saya", ["unlink.none"])])  # a later link cannot undo the first
    owner.wait(days=2, minutes=30)
    await play(owner, [("BUKAN SAYA", ["unlink.done"], ["1"])])
    assert memory.links == [] and (
        "telegram:7001", "link.undone", reference) in memory.actions
    told = memory.notices[-1]
    assert (told.chat_key, told.replies[0].msgid) == ("telegram:7666", "notice.unlinked")
    thief.now = owner.now
    await play(thief, [("status", ["status.none"]), ("kartu", ["card.none"])])
    assert "BUDI" not in thief.text()


async def test_guessing_codes_stops_for_the_nik_whatever_the_chat(catalogs):
    memory = Memory()
    await play(Chat(catalogs, memory), TO_SUMMARY + SAVE)
    for n in range(2):
        guesser = Chat(catalogs, memory, chat_id=f"760{n}")
        await play(guesser, TO_NIK + [(NIK, ["link.how.prompt"]), ("1", ["link.code.prompt"]),
                                      ("000001", ["error:proof.code.wrong"]),
                                      ("000002", ["error:proof.code.wrong"])])
    last = Chat(catalogs, memory, chat_id="7609", channel="whatsapp")
    await play(last, TO_NIK + [(NIK, ["link.how.prompt"]), ("1", ["link.code.prompt"]),
                               ("000003", ["proof.limit"])])  # the NIK's fifth failure
    owner_code = memory.code_for("whatsapp:7609")
    assert (last.session.flow, last.session.step) == ("registration", "nik")  # draft kept
    await play(last, [("daftar", ["nik.prompt"]),
                      (NIK, ["link.how.prompt"]), ("1", ["proof.limit"])])
    assert memory.links == [] and owner_code
    assert {kind for kind, *_ in memory.counts} == {"chat.nik", "nik.code", "nik.failure",
                                                    "chat.failure"}


async def test_a_lost_phone_is_linked_by_staff_after_checking_the_ktp(catalogs):
    memory = Memory()
    await play(Chat(catalogs, memory), TO_SUMMARY + SAVE)
    reference = memory.workers[0][1].reference
    memory.staff["telegram:9001"] = "verifier"
    new_phone = Chat(catalogs, memory, chat_id="7003")
    await play(new_phone, TO_NIK + [(NIK, ["link.how.prompt"]),
                                    ("hp hilang", ["link.staff_requested"], ["TAUT-000001",
                                                                             "KTP"])])
    assert memory.notices == [] and memory.links == []
    staff = Chat(catalogs, memory, chat_id="9001")
    staff.now = new_phone.now
    await play(staff, [
        ("/tautan", ["staff.links.list"], ["TAUT-000001", "1371********0001"]),
        ("/setujuitautan TAUT-000001", ["staff.links.approved"]),
        ("/setujuitautan TAUT-000001", ["staff.links.not_found"], ["sudah diputuskan"]),
    ])
    assert memory.links == [("telegram:7003", reference)]
    assert ("telegram:9001", "link.approved", reference) in memory.actions
    assert {n.chat_key: n.replies[0].msgid for n in memory.notices} == {
        "telegram:7003": "notice.link_approved", "telegram:7001": "notice.linked",
        "whatsapp:6281234567890": "notice.linked"}


async def test_an_offer_does_not_outlive_an_expired_conversation(catalogs):
    memory = Memory()
    chat = Chat(catalogs, memory)
    await play(chat, TO_SUMMARY + SAVE + [("daftar", ["consent.prompt_2026_12"]),
                                           ("1", ["nik.prompt"]), (NIK, ["nik.registered"])])
    chat.wait(hours=25)
    await play(chat, [("1", ["session.expired", "menu.prompt"])])


async def test_nik_registered_elsewhere_before_saving_is_caught_at_save(catalogs):
    memory = Memory()
    slow = Chat(catalogs, memory, chat_id="7002")
    await play(slow, TO_SUMMARY)
    fast = Chat(catalogs, memory)
    await play(fast, TO_SUMMARY + SAVE)
    await play(slow, [("1", ["nik.registered", "nik.prompt"])])
    assert len(memory.workers) == 1


async def test_menu_understands_numbers_words_and_buttons(catalogs):
    chat = Chat(catalogs)
    await play(chat, [
        ("halo", ["menu.welcome"]),
        ("apa ini?", ["error:menu.unknown"], ["Ketik nomor menu"]),
        (sticker(), ["error:input.not_text"]),
        ("9", ["error:menu.unknown"]),
        ("2", ["status.none"]),
        ("❓ Bantuan", ["help.menu"]),
        ("/start@LindungiBot", ["menu.welcome"]),
        ("/start ref123", ["menu.welcome"]),
        ("3", ["language.prompt"]),
        ("english", ["language.set", "menu.prompt"], ["1. 📝 Register"]),
        ("saya mau daftar", ["consent.prompt_2026_12"]),
    ])


async def test_every_reply_offers_the_way_back_to_the_menu(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_SUMMARY + [("x", ["error:choice.unknown"]), ("/bahasa", [
        "language.prompt"]), ("1", ["language.set", "summary.prompt"])] + SAVE)
    for reply in chat.history:
        is_menu = reply.msgid.startswith("menu.") or reply.msgid == "language.set"
        assert reply.navigation or is_menu, reply.msgid


async def test_on_whatsapp_the_phone_step_confirms_the_sender_number(catalogs):
    chat = Chat(catalogs, chat_id="6281234567890", channel="whatsapp")
    await play(chat, TO_NIK + NIK_TO_SUMMARY[:2] + [
        ("17-08-1985", ["phone_confirm.prompt"], ["+6281234567890", "1. ✅ Ya, nomor ini"]),
        ("mungkin", ["error:phone.invalid"], ["Pilih 1 jika benar, 2 untuk nomor lain"]),
        ("1", ["occupation.prompt"]),
    ])
    assert chat.session.data["phone"] == "+6281234567890"
    other = Chat(catalogs, chat_id="6281234567891", channel="whatsapp")
    await play(other, TO_NIK + NIK_TO_SUMMARY[:2] + [
        ("17-08-1985", ["phone_confirm.prompt"]),
        ("2", ["phone.prompt"]),
        ("0813 1111 2222", ["occupation.prompt"]),
    ])
    assert other.session.data["phone"] == "+6281311112222"
    typed = Chat(catalogs, chat_id="6281234567892", channel="whatsapp")
    await play(typed, TO_NIK + NIK_TO_SUMMARY[:2] + [
        ("17-08-1985", ["phone_confirm.prompt"]),
        ("0813 3333 4444", ["occupation.prompt"]),
    ])
    assert typed.session.data["phone"] == "+6281333334444"


async def test_the_summary_says_who_pays_the_premium(catalogs):
    """Sponsored: the programme's premium and its funder (not the income's BPU premium);
    no programme: the self-paid premium of the declared income."""
    sponsored = Chat(catalogs)
    await play(sponsored, TO_SUMMARY[:-1] + [("2", ["summary.prompt"],
                                               ["Iuran per bulan: Rp16.800, dibayar APBD Kota "
                                                "Padang, bukan oleh Anda"])])
    alone = Chat(catalogs, programmes=None)
    await play(alone, TO_NIK + NIK_TO_SUMMARY[:6] + [
        ("padang utara", ["income.prompt"]),
        ("2", ["summary.prompt"], ["Iuran per bulan: Rp13.400, Anda bayar sendiri"])])
    # Rp26.800 for a Rp2.000.000 income, halved by PP 50/2025 in November 2026


async def test_a_slip_in_a_place_name_is_offered_the_official_name(catalogs):
    """Kemendagri's names of the NIK's regency (bot/data/places.csv): a slip is offered the
    official name, the worker may keep theirs; a name in another case is stored as the
    official one without asking; a name elsewhere is kept as typed."""
    chat = Chat(catalogs)
    await play(chat, TO_NIK + NIK_TO_SUMMARY[:5] + [
        ("Air Tawar Brat", ["kelurahan_check.prompt"],
         ["Maksud Anda kelurahan Air Tawar Barat? Anda menulis \"Air Tawar Brat\".",
          "1. Ya, Air Tawar Barat", "2. Bukan, tetap \"Air Tawar Brat\""]),
        ("apa itu", ["error:choice.unknown"], ["Pilih 1 jika benar"]),
        ("1", ["kecamatan.prompt"]),
        ("padang utra", ["kecamatan_check.prompt"], ["kecamatan Padang Utara"]),
        ("2", ["programme_confirm.prompt"]),
        ("ya", ["income.prompt"]),
        ("Tidak tahu", ["summary.prompt"], ["Kelurahan/desa: Air Tawar Barat",
                                            "Kecamatan: Padang Utra"]),
    ] + SAVE)
    [(_, worker)] = chat.memory.workers
    assert (worker.kelurahan, worker.kecamatan) == ("Air Tawar Barat", "Padang Utra")
    typed = Chat(catalogs, chat_id="7002")
    await play(typed, TO_NIK + NIK_TO_SUMMARY[:5] + [
        ("AIR  TAWAR BARAT", ["kecamatan.prompt"]),
        ("Rimbo Panjang", ["programme_confirm.prompt"])])  # not in Kota Padang: as typed
    assert (typed.session.data["kelurahan"], typed.session.data["kecamatan"]) == (
        "Air Tawar Barat", "Rimbo Panjang")
