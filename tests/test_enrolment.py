"""From registration to cover, as conversations: the programme of the worker's area, the DTSEN
check, places and waiting lists, staff decisions told to the worker, status (one's own and
someone else's), the card, and cover that lapses."""

from datetime import date

from bot import enrolment
from bot.cards import read_card_token
from bot.messages import ChangeStatus
from tests.chat import CARD_KEY, START, Chat, Memory, town_programme
from tests.test_conversations import play

PADANG = "1371011708850001"
PADANG_2 = "1371011708850002"
PADANG_3 = "1371011708850003"
JAKARTA = "3171011708850001"
KENDARI = "7471011708850001"
JAMBI = "1571011708850001"

SMALL = town_programme(more="""
[[programme]]
id = "lama"
name = "Program yang sudah berakhir"
region = { codes = ["3171"], name = "Kota Administrasi Jakarta Pusat" }
funder = "APBD Kota Lama"
branch = "BPJS Ketenagakerjaan Cabang Lama"
cycle = [{ name = "2025", start = 2025-01-01, end = 2025-12-31, quota = 10 }]
""")
"""Two places verified automatically, and a programme whose period is over."""


def to_area(nik: str, occupation: str = "ojol", name: str = "Budi Santoso",
            language: str = "1") -> list:
    """A registration up to the question of the area's programme (its reply not checked)."""
    return [("/start", ["menu.welcome"]), ("1", ["language.prompt"]),
            (language, ["consent.prompt_2026_12"]),
            ("1", ["nik.prompt"]), (nik, ["full_name.prompt"]),
            (name, ["birth_date.prompt"]),
            (nik_date(nik), ["phone.prompt"]), ("081234567890", ["occupation.prompt"]),
            (occupation, ["kelurahan.prompt"]), ("Lapai", ["kecamatan.prompt"])]


def nik_date(nik: str) -> str:
    day = int(nik[6:8]) % 40
    return f"{day:02d}-{nik[8:10]}-19{nik[10:12]}"


def finish(done: str, shown: tuple = ()) -> list:
    """From the income question to the saved registration."""
    return [("1", ["summary.prompt"]), ("simpan", [done], list(shown))]


async def register(chat: Chat, nik: str, done: str, occupation: str = "ojol",
                   area: tuple = ("ya",), name: str = "Budi Santoso",
                   language: str = "1") -> None:
    """A whole registration whose area question is answered with ``area``."""
    script = to_area(nik, occupation, name, language)
    script.append(("Nanggalo", ["programme_confirm.prompt"]))
    script += [(answer, ["income.prompt" if n == len(area) - 1 else "programme_pick.prompt"])
               for n, answer in enumerate(area)]
    await play(chat, script + finish(done))


# --- the area's programme --------------------------------------------------------------------

async def test_the_nik_suggests_the_programme_and_dtsen_decides(catalogs):
    memory = Memory(dtsen={PADANG: 3})
    chat = Chat(catalogs, memory)
    await register(chat, PADANG, "reg.done_review")
    [(_, worker)] = memory.workers
    assert (worker.programme_id, worker.dtsen_desil, worker.status) == (
        "padang", 3, enrolment.WAITING_VERIFICATION)  # Padang's staff verify every one
    assert "iuran Rp16.800 per bulan dibayar oleh APBD Kota Padang" in chat.text()


async def test_a_worker_living_elsewhere_picks_the_area(catalogs):
    chat = Chat(catalogs)
    await play(chat, to_area(PADANG) + [
        ("Nanggalo", ["programme_confirm.prompt"], ["Menurut NIK, Anda dari Kota Padang"]),
        ("tidak", ["programme_pick.prompt"],
         ["1. Kota Padang", "Kota Padang Panjang", "Kota Jambi", "Kabupaten Sijunjung",
          "Daerah saya tidak ada"]),
        ("padang panjang", ["income.prompt"]),
        ("1", ["summary.prompt"],
         ["Daerah/program: Padang Panjang Terlindungi (Universal Coverage) "
          "(Kota Padang Panjang)"]),
        ("2", ["edit.prompt"]),
        ("8", ["programme_confirm.prompt"]),
        ("ya", ["summary.prompt"], ["Perlindungan Pekerja Rentan Kota Padang (Kota Padang)"]),
    ])


async def test_no_programme_in_the_area_keeps_the_registration_and_offers_bpu(catalogs):
    memory = Memory()
    chat = Chat(catalogs, memory)
    await play(chat, to_area(JAKARTA) + [
        ("Menteng", ["programme_pick.prompt"]),
        ("help", ["help:programme_pick.help"], ["BPU mandiri"]),
        ("daerah saya tidak ada", ["income.prompt"]),
    ] + finish("reg.done_self_paid", ("Rp8.400 per bulan", "JMO")))  # PP 50/2025
    [(_, worker)] = memory.workers
    assert (worker.status, worker.programme_id) == (enrolment.SELF_PAID, None)
    await play(chat, [("status", ["status.worker", "status.more"],
                       ["belum ada program bantuan iuran", "BPU mandiri: Rp8.400"])])


def options(chat: Chat) -> list[str]:
    """The numbered options of the last reply."""
    return [line.split(". ", 1)[1] for line in chat.text().splitlines()
            if line[:1].isdigit() and ". " in line]


async def test_only_programmes_open_to_the_occupation_are_offered(catalogs):
    chat = Chat(catalogs)
    # Kendari's CSR programme does not take farm workers: the NIK suggests nothing.
    await play(chat, to_area(KENDARI, occupation="petani") + [
        ("Kadia", ["programme_pick.prompt"]),
    ])
    assert "Kendari" not in options(chat) and "NIK Anda terbit di Kota Kendari." in chat.text()
    religious = Chat(catalogs, chat_id="7002")
    await play(religious, to_area(JAMBI, occupation="marbot") + [
        ("Telanaipura", ["programme_confirm.prompt"],
         ["Perlindungan Petugas Keagamaan Kota Jambi"]),
    ])


async def test_a_programme_whose_period_is_over_is_not_offered(catalogs):
    memory = Memory()
    chat = Chat(catalogs, memory, programmes=SMALL)
    await play(chat, to_area(JAKARTA) + [("Menteng", ["programme_pick.prompt"])])
    assert options(chat) == ["Kota Padang", "Daerah saya tidak ada", "🏠 Menu"]
    assert "NIK Anda terbit di Kota Administrasi Jakarta Pusat." in chat.text()


async def test_above_the_desil_cut_off_is_told_kindly(catalogs):
    memory = Memory(dtsen={PADANG: 7})
    chat = Chat(catalogs, memory)
    await register(chat, PADANG, "reg.done_not_eligible")
    assert "desil 1 sampai 4" in chat.text() and "bukan penilaian" in chat.text()
    assert memory.workers[0][1].status == enrolment.NOT_ELIGIBLE


# --- places and the waiting list ---------------------------------------------------------------

async def test_automatic_enrolment_never_passes_the_quota(catalogs):
    memory = Memory(dtsen={PADANG: 1, PADANG_2: 2, PADANG_3: 4, "1371011708850004": 3})
    for n, nik in enumerate((PADANG, PADANG_2), 1):
        await register(Chat(catalogs, memory, chat_id=f"70{n}", programmes=SMALL), nik,
                       "reg.done_enrolled")
    third = Chat(catalogs, memory, chat_id="703", programmes=SMALL)
    await register(third, PADANG_3, "reg.done_waiting_list")
    assert "daftar tunggu nomor 1" in third.text()
    fourth = Chat(catalogs, memory, chat_id="704", programmes=SMALL)
    await register(fourth, "1371011708850004", "reg.done_waiting_list")
    assert "daftar tunggu nomor 2" in fourth.text()
    assert memory.taken == {"kota-kecil": 2}
    await play(fourth, [("status", ["status.worker", "status.more"],
                         ["daftar tunggu nomor 2", "Program Kota Kecil"])])
    enrolled = memory.workers[0][1]
    assert (enrolled.coverage_start, enrolled.coverage_end) == (START.date(), date(2026, 12, 31))


# --- staff ---------------------------------------------------------------------------------------

async def staffed(catalogs, programmes=None) -> tuple[Memory, Chat, Chat]:
    """A worker (in English) waiting for review, and a verifier."""
    memory = Memory(staff={"telegram:9001": "verifier"})
    kwargs = {"programmes": programmes} if programmes else {}
    worker = Chat(catalogs, memory, **kwargs)
    await register(worker, PADANG, "reg.done_review", language="2")
    return memory, worker, Chat(catalogs, memory, chat_id="9001", **kwargs)


async def test_staff_commands_are_unknown_to_everyone_else(catalogs):
    memory, worker, _ = await staffed(catalogs)
    stranger = Chat(catalogs, memory, chat_id="5555")
    for command in ("/tinjau", "/setujui LD-TEST-0001", "/tolak LD-TEST-0001 bohong", "/petugas"):
        await play(stranger, [(command, ["menu.prompt"])])
        assert "LD-TEST" not in stranger.text() and "BUDI" not in stranger.text()
    assert memory.infos[memory.workers[0][1].reference].status == "waiting_verification"


async def test_a_verifier_reviews_and_approves(catalogs):
    memory, worker, verifier = await staffed(catalogs)
    reference = memory.workers[0][1].reference
    await play(verifier, [
        ("/petugas", ["staff.help"], ["/tinjau", "/setujui", "/tolak"]),
        ("/tinjau", ["staff.review"],
         [f"1. {reference}: BUDI SANTOSO, NIK 1371********0001, Kota Padang, "
          "tidak ada di DTSEN, daftar 21 November 2026", "Menunggu verifikasi: 1"]),
        (f"/setujui {reference.lower()}", ["staff.approved"], ["Pekerja sudah diberi tahu"]),
        (f"/setujui {reference}", ["staff.not_waiting"], ["terdaftar; menunggu nomor"]),
        ("/tinjau", ["staff.review_empty"]),
        ("/setujui LD-NOPE-NOPE", ["staff.not_found"]),
    ])
    assert memory.infos[reference].status == enrolment.ENROLLED
    assert memory.taken == {"padang": 1}
    [notice] = memory.notices
    assert (notice.chat_key, notice.locale) == ("telegram:7001", "en")
    assert [r.msgid for r in notice.replies] == ["notice.approved"]
    assert memory.actions == [("telegram:9001", "worker.enrolled", reference)]
    await play(worker, [("status", ["status.worker", "status.more"],
                         ["enrolled; waiting for the membership number",
                          "Funded by: APBD Kota Padang",
                          "Benefits: JKK (work accidents) and JKM (death)",
                          "The premium of Rp16.800 a month is paid by APBD Kota Padang"])])


async def test_a_verifier_of_an_area_sees_and_decides_only_its_registrations(catalogs):
    memory, worker, camat = await staffed(catalogs)  # the worker lives in Lapai, Nanggalo
    memory.areas["telegram:9001"] = "kecamatan:Koto Tangah"
    reference = memory.workers[0][1].reference
    await play(camat, [
        ("/tinjau", ["staff.review_empty"]),
        (f"/setujui {reference}", ["staff.not_your_area"], ["(Koto Tangah)"]),
        (f"/tolak {reference} data tidak cocok", ["staff.not_your_area"]),
    ])
    assert memory.infos[reference].status == "waiting_verification"
    memory.areas["telegram:9001"] = "kelurahan:lapai"  # the lurah of Lapai
    await play(camat, [("/tinjau", ["staff.review"], [reference]),
                       (f"/setujui {reference}", ["staff.approved"])])


async def test_the_review_uses_the_dtsen_extract_as_it_is_now(catalogs):
    memory, worker, verifier = await staffed(catalogs)
    reference = memory.workers[0][1].reference
    memory.dtsen[PADANG] = 6  # this quarter's extract: no longer among the poorest
    await play(verifier, [
        ("/tinjau", ["staff.review"], ["desil 6"]),
        (f"/setujui {reference}", ["staff.dtsen_above"], ["desilnya 6"]),
    ])
    assert memory.infos[reference].status == enrolment.WAITING_VERIFICATION
    memory.dtsen[PADANG] = 2
    await play(verifier, [(f"/setujui {reference}", ["staff.approved"])])


async def test_a_worker_whose_death_was_reported_is_not_approved_nor_carded(catalogs):
    from tests.test_claim_store import filing

    memory, worker, verifier = await staffed(catalogs)
    reference = memory.workers[0][1].reference
    memory.apply(filing(worker_reference=reference, deceased_nik=PADANG,
                        date_of_death=date(2026, 11, 25)), "telegram:8001", START)
    await play(verifier, [(f"/setujui {reference}", ["staff.deceased"],
                           ["25 November 2026", "/klaim"])])
    assert memory.infos[reference].status == enrolment.WAITING_VERIFICATION
    await play(worker, [("status", ["status.worker", "status.more"], ["25 November 2026"]),
                        ("card", ["card.none"])])


async def test_a_rejection_needs_a_reason_and_the_worker_reads_it(catalogs):
    memory, worker, verifier = await staffed(catalogs)
    reference = memory.workers[0][1].reference
    await play(verifier, [
        (f"/tolak {reference}", ["staff.reject_usage"]),
        (f"/tolak {reference} no", ["staff.reject_usage"]),
        (f"/tolak {reference} NIK tidak cocok dengan KTP", ["staff.rejected"]),
        (f"/tolak {reference} lagi", ["staff.not_rejectable"]),
    ])
    assert memory.infos[reference].status == enrolment.REJECTED
    assert [r.msgid for n in memory.notices for r in n.replies] == ["notice.rejected"]
    await play(worker, [("status", ["status.worker", "status.more"],
                         ["not approved. Reason: NIK tidak cocok dengan KTP",
                          "contact your kelurahan office"])])


async def test_a_freed_place_goes_to_the_first_in_line(catalogs):
    memory = Memory(staff={"telegram:9001": "admin"},
                    dtsen={PADANG: 1, PADANG_2: 2, PADANG_3: 3})
    for n, nik in enumerate((PADANG, PADANG_2, PADANG_3), 1):
        await register(Chat(catalogs, memory, chat_id=f"70{n}", programmes=SMALL), nik,
                       "reg.done_enrolled" if n < 3 else "reg.done_waiting_list")
    first, _, third = (w for _, w in memory.workers)
    admin = Chat(catalogs, memory, chat_id="9001", programmes=SMALL)
    await play(admin, [(f"/tolak {first.reference} pindah ke luar kota", ["staff.rejected"])])
    assert memory.infos[third.reference].status == enrolment.ENROLLED
    assert memory.taken == {"kota-kecil": 2}
    assert [(n.chat_key, n.replies[0].msgid) for n in memory.notices] == [
        ("telegram:701", "notice.rejected"), ("telegram:703", "notice.enrolled_from_list")]


async def test_approval_past_the_quota_joins_the_waiting_list(catalogs):
    staff_mode = town_programme(quota=1, verification="staff")
    memory, worker, verifier = await staffed(catalogs, staff_mode)
    memory.taken["kota-kecil"] = 1
    reference = memory.workers[0][1].reference
    await play(verifier, [(f"/setujui {reference}", ["staff.approved_waiting"],
                           ["daftar tunggu nomor 1"])])
    assert memory.infos[reference].status == enrolment.WAITING_LIST
    assert memory.notices[0].replies[0].msgid == "notice.approved_waiting"


# --- status, someone else's status, the card, lapsing ------------------------------------------

async def test_someone_elses_status_needs_the_code_sent_to_their_chat(catalogs):
    memory = Memory()
    await register(Chat(catalogs, memory), PADANG, "reg.done_review")
    neighbour = Chat(catalogs, memory, chat_id="7002")
    await play(neighbour, [
        ("status", ["status.none"], ["1. 📝 Daftar", "2. Cek status orang lain"]),
        ("2", ["lookup.nik_prompt"]),
        ("1371 0117 0885 0001", ["lookup.code_prompt"]),
    ])
    [asked] = [n for n in memory.notices if n.chat_key == "telegram:7001"]
    assert asked.replies[0].msgid == "notice.proof.lookup"
    await play(neighbour, [(asked.replies[0].params["code"], ["status.worker"],
                            ["BUDI SANTOSO", "menunggu verifikasi petugas"])])
    wrong, unknown = Chat(catalogs, memory, chat_id="7003"), Chat(catalogs, memory,
                                                                   chat_id="7004")
    await play(wrong, [("cek nik", ["lookup.nik_prompt"]), (PADANG, ["lookup.code_prompt"]),
                       ("17-08-1985", ["error:proof.code.invalid"]),
                       ("170885", ["error:lookup.code_wrong"]),
                       ("kirim ulang", ["lookup.code_prompt"]),
                       ("170885", ["error:lookup.code_wrong"]),
                       ("170886", ["lookup.not_found"])])
    await play(unknown, [("cek nik", ["lookup.nik_prompt"]), (PADANG_2, ["lookup.code_prompt"]),
                         ("17-08-1985", ["error:proof.code.invalid"]),
                         ("170885", ["error:lookup.code_wrong"]),
                         ("kirim ulang", ["lookup.code_prompt"]),
                         ("170885", ["error:lookup.code_wrong"]),
                         ("170886", ["lookup.not_found"])])
    assert wrong.everything() == unknown.everything()
    assert "BUDI" not in wrong.everything()


async def test_a_chat_checks_ten_niks_a_day_whatever_its_session(catalogs):
    memory = Memory()
    chat = Chat(catalogs, memory)
    for n in range(10):
        await play(chat, [("cek nik", ["lookup.nik_prompt"]),
                          (f"13710117088500{n + 1:02d}", ["lookup.code_prompt"]),
                          ("menu", ["menu.prompt"])])
        chat.wait(minutes=5)
        chat.state = None  # a lost session (or a new process) forgets nothing that counts
    await play(chat, [("cek nik", ["lookup.nik_prompt"]), (PADANG, ["proof.limit"]),
                      ("klaim", ["claim.consent.prompt"]), ("ya", ["claim.deceased_nik.prompt"]),
                      (PADANG, ["proof.limit"])])
    # a report (or a registration) being filled in is kept at its question, losing nothing
    assert (chat.session.flow, chat.session.step) == ("claim", "deceased_nik")
    assert "consent" in chat.session.data
    chat.wait(days=1)
    await play(chat, [("cek nik", ["lookup.nik_prompt"]), (PADANG, ["lookup.code_prompt"])])


async def test_the_card_of_an_active_worker(catalogs):
    memory = Memory(dtsen={PADANG: 1})
    chat = Chat(catalogs, memory, programmes=SMALL)
    await register(chat, PADANG, "reg.done_enrolled")
    await play(chat, [("kartu", ["card.none"], ["Belum ada kartu"])])
    reference = memory.workers[0][1].reference
    memory.apply(ChangeStatus(reference, enrolment.ENROLLED, enrolment.ACTIVE,
                              kpj="12345678901"), "telegram:7001", START)
    await play(chat, [
        ("/kartu", ["card.here"], ["berlaku sampai 31 Desember 2026"]),
        ("status", ["status.worker", "status.more"],
         ["✅ aktif sampai 31 Desember 2026 (KPJ 12345678901)", "Ketik KARTU"]),
    ])
    await play(chat, [("0", ["menu.prompt"]), ("5", ["card.here"])])
    card = chat.replies[0].card
    assert (card.kpj, card.masked_nik, card.programme, card.funder) == (
        "12345678901", "1371********0001", "Program Kota Kecil", "APBD Kota Kecil")
    claim = read_card_token(CARD_KEY, card.token)
    assert (claim.reference, claim.kpj) == (reference, "12345678901")
    assert chat.rendered()[0].card == card


async def test_cover_past_its_end_date_has_lapsed(catalogs):
    memory = Memory(dtsen={PADANG: 1})
    chat = Chat(catalogs, memory, programmes=SMALL)
    await register(chat, PADANG, "reg.done_enrolled")
    chat.wait(days=(date(2027, 1, 1) - START.date()).days)
    await play(chat, [("status", ["status.worker", "status.more"],
                       ["perlindungan berakhir pada 31 Desember 2026",
                        "tanyakan ke kelurahan apakah program dilanjutkan",
                        "BPJS Ketenagakerjaan Cabang Kecil"]),
                      ("kartu", ["card.none"])])


async def test_a_verifier_approves_the_dtsen_matched_of_a_kelurahan_together(catalogs):
    """A preview of how many and who, then the same with YA: only those DTSEN admits today,
    the quota of two counted across them (the third joins the line)."""
    memory = Memory(staff={"telegram:9001": "verifier"})
    programmes = town_programme(quota=2, verification="staff")
    for n in (1, 2, 3, 4):
        nik = f"13710117088500{n:02d}"
        memory.dtsen[nik] = 2
        await register(Chat(catalogs, memory, chat_id=f"70{n:02d}", programmes=programmes),
                       nik, "reg.done_review")
    memory.dtsen["1371011708850004"] = 9  # this quarter's extract: above the cut-off
    lurah = Chat(catalogs, memory, chat_id="9001", programmes=programmes)
    await play(lurah, [
        ("/setujuisemua Lapai", ["staff.bulk.preview"],
         ["3 pendaftaran di Lapai cocok dengan DTSEN", "BUDI SANTOSO, Lapai, Nanggalo",
          "ketik: /setujuisemua Lapai YA"]),
        ("/setujuisemua Kuranji", ["staff.bulk.none"], ["di Kuranji"]),
    ])
    assert all(w.status == enrolment.WAITING_VERIFICATION for w in memory.infos.values())
    await play(lurah, [("/setujuisemua Lapai ya", ["staff.bulk.done"],
                        ["3 pendaftaran di Lapai disetujui: 2 terdaftar, 1 masuk daftar tunggu"])])
    states = sorted(w.status for w in memory.infos.values())
    assert states == ["enrolled", "enrolled", "waiting_list", "waiting_verification"]
    assert memory.taken == {"kota-kecil": 2}
    assert len(memory.notices) == 3
    await play(lurah, [("/setujuisemua Lapai YA", ["staff.bulk.none"])])


async def test_approving_together_without_a_place_named_takes_the_verifiers_area(catalogs):
    memory = Memory(staff={"telegram:9001": "verifier"},
                    areas={"telegram:9001": "kecamatan:Nanggalo"}, dtsen={PADANG: 2})
    await register(Chat(catalogs, memory), PADANG, "reg.done_review")
    camat = Chat(catalogs, memory, chat_id="9001")
    await play(camat, [("/setujuisemua", ["staff.bulk.preview"],
                        ["1 pendaftaran di Nanggalo cocok", "ketik: /setujuisemua YA"])])
    memory.areas["telegram:9001"] = "kecamatan:Kuranji"
    await play(camat, [("/setujuisemua", ["staff.bulk.none"],
                        ["Tidak ada pendaftaran menunggu verifikasi di Kuranji"])])
