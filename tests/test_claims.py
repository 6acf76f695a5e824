"""Death-benefit claims as conversations: the whole claim, the order of heirs, deaths not
covered, a second report, documents later (from another chat), files refused, the bank account
in someone else's name, and the claim status look-up."""

import dataclasses
from datetime import date, timedelta

import pytest

from bot import claims, enrolment
from bot.messages import ChangeStatus, Media
from tests.chat import START, Chat, Memory, town_programme
from tests.test_conversations import contact, play, sticker
from tests.test_enrolment import PADANG, register

HEIR_NIK = "1371015708850002"
SMALL = town_programme()


def photo(n: int = 1, mime: str = "image/jpeg", refused=None) -> dict:
    """A photo as the channel hands it over: stored, content-addressed (or refused)."""
    sha = f"{n:064x}"
    media = Media(mime, 120_000, None if refused else sha,
                  None if refused else f"{sha[:2]}/{sha}.jpg", refused=refused)
    return {"kind": "photo" if mime.startswith("image") else "document", "media": media}


async def covered_worker(catalogs, memory: Memory, active: bool = True) -> None:
    """A Padang worker enrolled on 21 November 2026 (and active with a KPJ)."""
    memory.dtsen[PADANG] = 1
    await register(Chat(catalogs, memory, chat_id="7100", programmes=SMALL), PADANG,
                   "reg.done_enrolled")
    if active:
        reference = memory.workers[-1][1].reference
        memory.apply(ChangeStatus(reference, enrolment.ENROLLED, enrolment.ACTIVE,
                                  kpj="12345678901"), "telegram:7100", START)


def to_relationship(died: str = "25-11-2026", cause: str = "sakit") -> list:
    return [
        ("lapor meninggal", ["claim.consent.prompt"], ["turut berduka cita"]),
        ("ya", ["claim.deceased_nik.prompt"]),
        (PADANG, ["claim.confirm_person.prompt"], ["B*** S******"]),
        ("ya", ["claim.date_of_death.prompt"]),
        (died, ["claim.cause.prompt"]),
        (cause, ["claim.heir_name.prompt"]),
        ("Siti Rahmawati", ["claim.heir_nik.prompt"]),
        (HEIR_NIK, ["claim.heir_phone.prompt"]),
        (contact("+6281298765432"), ["claim.relationship.prompt"]),
    ]


def documents(count: int, start: int = 1) -> list:
    return [(photo(n), ["claim.document.received", "claim.document.prompt"])
            for n in range(start, start + count)]


BANK = [
    ("BRI", ["claim.account_number.prompt"]),
    ("1234 5678 9012", ["claim.account_holder.prompt"]),
    ("siti rahmawati", ["claim.summary.prompt"], ["NIK 1371********0002", "a.n. SITI"]),
]


async def heir(catalogs, memory: Memory) -> Chat:
    chat = Chat(catalogs, memory, chat_id="8001", programmes=SMALL)
    chat.wait(days=4)
    return chat


async def test_a_widow_files_the_whole_claim(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship() + [
        ("istri", ["claim.document.prompt"], ["Dokumen 1 dari 7", "Akta"]),
    ] + documents(6) + [
        (photo(7), ["claim.document.received", "claim.bank_name.prompt"]),
    ] + BANK + [
        ("kirim", ["claim.submitted", "claim.next_steps"],
         ["JKM-2026-000001", "Perkiraan santunan: Rp42.000.000", "Santunan sekaligus Rp20.000.000",
          "Santunan berkala Rp12.000.000", "Biaya pemakaman Rp10.000.000",
          "tidak termasuk (iuran belum 3 tahun)", "3 hari kerja"]),
    ])
    [filed] = memory.filed
    assert (filed.status, filed.estimate, filed.relationship, filed.heir_nik,
            filed.account_number, filed.date_of_death) == (
        claims.SUBMITTED, 42_000_000, "spouse", HEIR_NIK, "123456789012", date(2026, 11, 25))
    assert [d.kind for d in filed.documents] == list(claims.DOCUMENTS)
    assert filed.documents[0].media.sha256 == f"{1:064x}"


async def test_the_scholarship_counts_the_members_whole_history(catalogs):
    """Enrolled in the bot a few days before, but a member for 3 years before it (imported
    cycles, another funder): the scholarship is in the estimate."""
    memory = Memory()
    await covered_worker(catalogs, memory)
    memory.membership_months[memory.workers[-1][1].reference] = 36
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship() + [
        ("istri", ["claim.document.prompt"]),
    ] + documents(6) + [
        (photo(7), ["claim.document.received", "claim.bank_name.prompt"]),
    ] + BANK + [("kirim", ["claim.submitted", "claim.next_steps"], ["Rp174.000.000"])])
    assert "iuran belum 3 tahun" not in chat.text()


async def test_a_second_report_is_kept_and_both_heirs_are_told(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    await play(await heir(catalogs, memory), to_relationship() + [
        ("anak", ["claim.document.prompt"]),
    ] + [("nanti", ["claim.document.prompt"])] * 5 + [
        ("nanti", ["claim.bank_name.prompt"]),
    ] + BANK + [("1", ["claim.submitted", "claim.documents_missing"])])
    again = Chat(catalogs, memory, chat_id="8002")
    again.wait(days=5)
    steps = to_relationship()
    steps[0] = ("klaim", ["claim.consent.prompt"])
    await play(again, steps + [("anak", ["claim.document.prompt"])]
               + [("nanti", ["claim.document.prompt"])] * 5
               + [("nanti", ["claim.bank_name.prompt"])] + BANK
               + [("kirim", ["claim.second_report"], ["JKM-2026-000002", "B*** S******"])])
    assert "JKM-2026-000001" not in again.text()
    assert [c.reference for c in memory.filed] == ["JKM-2026-000001", "JKM-2026-000002"]
    [notice] = memory.notices
    assert (notice.chat_key, notice.replies[0].msgid) == (
        "telegram:8001", "notice.claim.second_report")
    assert (await memory.claim_by_reference("JKM-2026-000001")).others == ("JKM-2026-000002",)


async def test_a_rejected_claim_does_not_block_a_new_one(catalogs):
    memory = Memory()
    await filed_claim(catalogs, memory, later=0)
    await play(Chat(catalogs, memory, chat_id="9001"), [
        ("/tolakklaim JKM-2026-000001 bukan ahli waris yang sah", ["staff.claims.changed"])])
    again = Chat(catalogs, memory, chat_id="8002")
    again.wait(days=6)
    await play(again, to_relationship() + [("istri", ["claim.document.prompt"])]
               + documents(6) + [(photo(7), ["claim.document.received",
                                             "claim.bank_name.prompt"])] + BANK
               + [("kirim", ["claim.submitted", "claim.next_steps"], ["JKM-2026-000002"])])
    assert (await memory.claim_by_reference("JKM-2026-000002")).others == ()


@pytest.mark.parametrize("relation, asked, answers, outcome", [
    ("anak", 0, [], "claim.document.prompt"),
    ("orang tua", 1, ["tidak"], "claim.document.prompt"),
    ("saudara kandung", 1, ["ya"], "claim.closer.exists"),
    ("kakak", 2, ["tidak", "ya"], "claim.closer.exists"),
    ("mertua", 3, ["tidak", "tidak", "tidak"], "claim.document.prompt"),
    ("wasiat", 3, ["tidak", "tidak", "ya"], "claim.closer.exists"),
    ("tetangga", 5, ["tidak"] * 5, "claim.document.prompt"),
])
async def test_the_order_of_heirs(catalogs, relation, asked, answers, outcome):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    first = "claim.closer.prompt" if answers else outcome
    await play(chat, to_relationship() + [(relation, [first])])
    for n, answer in enumerate(answers):
        last = n == len(answers) - 1
        await play(chat, [(answer, [outcome if last else "claim.closer.prompt"])])
    assert sum(r.msgid == "claim.closer.prompt" for r in chat.history) == asked
    if outcome == "claim.closer.exists":
        assert chat.session.flow is None and memory.filed == []


async def test_whoever_arranged_the_funeral_is_told_of_the_funeral_cost(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship() + [("lainnya", ["claim.closer.prompt"])]
               + [("tidak", ["claim.closer.prompt"])] * 4
               + [("tidak", ["claim.document.prompt"], ["Dokumen 1 dari 6"])]
               + [("nanti", ["claim.document.prompt"])] * 5
               + [("nanti", ["claim.bank_name.prompt"])] + BANK
               + [("kirim", ["claim.submitted", "claim.documents_missing"],
                   ["Perkiraan santunan: Rp10.000.000"])])
    assert memory.filed[0].estimate == 10_000_000


async def test_a_work_accident_goes_the_jkk_route(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship(cause="kecelakaan kerja") + [
        ("suami", ["claim.document.prompt"])] + [("nanti", ["claim.document.prompt"])] * 6 + [
        ("nanti", ["claim.bank_name.prompt"])] + BANK + [
        ("kirim", ["claim.submitted", "claim.work_accident", "claim.documents_missing"],
         ["Perkiraan santunan: Rp70.000.000", "Santunan sekaligus Rp48.000.000",
          "sampai Rp174.000.000", "48 kali penghasilan yang menjadi dasar iuran"]),
    ])


async def test_a_sponsored_workers_accident_is_estimated_on_the_base_the_funder_pays(catalogs):
    """The city's Rp16.800 insures a Rp1.000.000 base, whatever income the worker declared:
    48 × Rp1.000.000, not 48 × the Rp5.000.000 they earn."""
    memory = Memory()
    await covered_worker(catalogs, memory)
    reference = memory.workers[-1][1].reference
    memory.infos[reference] = dataclasses.replace(memory.infos[reference],
                                                  monthly_income=5_000_000)
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship(cause="kecelakaan kerja") + [
        ("suami", ["claim.document.prompt"])] + [("nanti", ["claim.document.prompt"])] * 6 + [
        ("nanti", ["claim.bank_name.prompt"])] + BANK + [
        ("kirim", ["claim.submitted", "claim.work_accident", "claim.documents_missing"],
         ["Santunan sekaligus Rp48.000.000"]),
    ])
    assert memory.filed[0].estimate == 70_000_000


@pytest.mark.parametrize("active, nik, reason", [
    (False, PADANG, "not_active"),
    (True, "1371011708850099", "not_registered"),
])
async def test_a_death_not_covered_is_recorded_for_review(catalogs, active, nik, reason):
    memory = Memory()
    await covered_worker(catalogs, memory, active=active)
    if not active:  # enrolled, then rejected before the death: not covered that day
        reference = memory.workers[-1][1].reference
        memory.apply(ChangeStatus(reference, enrolment.ENROLLED, enrolment.REJECTED,
                                  reason="data salah"), "telegram:7100", START)
    chat = await heir(catalogs, memory)
    start = to_relationship()
    if nik != PADANG:
        start[2] = (nik, ["claim.deceased_unknown.prompt"], ["tidak kami temukan"])
        start[3] = ("lanjutkan", ["claim.date_of_death.prompt"])
    await play(chat, start + [("anak", ["claim.document.prompt"])] + documents(5) + [
        (photo(6), ["claim.document.received", "claim.bank_name.prompt"])] + BANK + [
        ("kirim", ["claim.not_covered"], ["tidak sedang terlindungi", "Petugas akan memeriksa"]),
    ])
    [filed] = memory.filed
    assert (filed.status, filed.status_reason) == (claims.NOT_COVERED, reason)


async def test_wrong_answers_are_explained_and_nothing_is_lost(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    steps = to_relationship()
    await play(chat, steps[:4] + [
        ("01-12-2026", ["error:date_of_death.future"], ["sesudah hari ini", "kemarin"]),
        ("tgl 25", ["error:date.format"], ["Ketik tanggal meninggal", "Contoh: 03-11-2026"]),
        ("/bantuan", ["help:claim.date_of_death.help"], ["akta"]),
    ] + steps[4:7] + [
        (PADANG, ["error:claim.heir_nik.same"]),
    ] + steps[7:] + [
        ("anak", ["claim.document.prompt"]),
        ("ini fotonya", ["error:claim.document.send_file"]),
        (sticker(), ["error:claim.document.not_file"]),
        (photo(1, "application/x-msdownload", refused="type"), ["error:claim.document.bad_type"]),
        (photo(1, refused="size"), ["error:claim.document.too_big"], ["20 MB"]),
        (photo(1, refused="download"), ["error:claim.document.not_received"]),
        (photo(1), ["claim.document.received", "claim.document.prompt"], ["Dokumen 2 dari 6"]),
    ] + [("nanti", ["claim.document.prompt"])] * 4 + [
        ("nanti", ["claim.bank_name.prompt"]),
        ("BRI", ["claim.account_number.prompt"]),
        ("nomor saya", ["error:claim.account_number.invalid"]),
        ("1234", ["error:claim.account_number.short"], ["baru 4 angka", "paling sedikit 5"]),
        ("1234-5678", ["claim.account_holder.prompt"]),
        ("Budi Santoso", ["error:claim.account_holder.mismatch"], ["Siti Rahmawati"]),
        ("Siti  Rahmawati", ["claim.summary.prompt"],
         ["⏳ Kartu Keluarga (KK) (nanti)", "✅ Akta / surat keterangan kematian"]),
        ("hmm", ["error:choice.unknown"]),
    ])
    assert memory.filed == []


async def test_missing_documents_come_later_from_any_chat(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    await play(await heir(catalogs, memory), to_relationship() + [
        ("anak", ["claim.document.prompt"])] + documents(4) + [
        ("nanti", ["claim.document.prompt"]),
        (photo(6), ["claim.document.received", "claim.bank_name.prompt"])] + BANK + [
        ("kirim", ["claim.submitted", "claim.documents_missing"],
         ["• Surat keterangan ahli waris", "STATUS KLAIM"]),
    ])
    assert memory.filed[0].status == claims.DOCUMENTS_INCOMPLETE
    later = Chat(catalogs, memory, chat_id="8009")
    later.wait(days=6)
    await play(later, [
        ("status klaim", ["claim_status.reference.prompt"]),
        ("jkm 2026 1", ["claim_status.heir_nik.prompt"]),
        (HEIR_NIK, ["claim_status.code_prompt"]),
    ])
    assert "menunggu dokumen" not in later.text()
    sent = {n.chat_key: n.replies[0] for n in memory.notices}
    assert set(sent) == {"telegram:8001", "whatsapp:6281298765432"}
    assert {r.msgid for r in sent.values()} == {"notice.proof.claim_status"}
    assert sent["telegram:8001"].params["code"] == "100001"
    await play(later, [
        ("100001", ["claim_status.shown", "claim_status.send_missing", "claim.document.prompt"],
         ["menunggu dokumen", "• Surat keterangan ahli waris"]),
        ("teks", ["error:claim.document.send_file"]),
        (photo(9), ["claim.document.received", "claim_status.complete"]),
        ("status klaim", ["claim_status.reference.prompt"]),
        ("JKM-2026-000001", ["claim_status.heir_nik.prompt"]),
        (HEIR_NIK, ["claim_status.code_prompt"]),
        ("100 002", ["claim_status.shown"], ["dokumen lengkap, menunggu pemeriksaan"]),
    ])
    claim = memory.claims["JKM-2026-000001"]
    assert claim.status == claims.SUBMITTED and claim.missing() == ()


async def test_a_wrong_nik_and_an_unknown_claim_get_the_same_answer(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    await play(await heir(catalogs, memory), to_relationship() + [
        ("anak", ["claim.document.prompt"])] + [("nanti", ["claim.document.prompt"])] * 5 + [
        ("nanti", ["claim.bank_name.prompt"])] + BANK + [("1", ["claim.submitted",
                                                               "claim.documents_missing"])])
    wrong, unknown = Chat(catalogs, memory, chat_id="8101"), Chat(catalogs, memory,
                                                                   chat_id="8102")
    await play(wrong, [("status klaim", ["claim_status.reference.prompt"]),
                       ("JKM-2026-000001", ["claim_status.heir_nik.prompt"]),
                       (PADANG, ["claim_status.code_prompt"]),
                       ("123456", ["error:claim_status.code_wrong"])])
    await play(unknown, [("cek klaim", ["claim_status.reference.prompt"]),
                         ("JKM-2026-000777", ["claim_status.heir_nik.prompt"]),
                         (HEIR_NIK, ["claim_status.code_prompt"]),
                         ("123456", ["error:claim_status.code_wrong"])])
    assert wrong.text() == unknown.text()
    assert memory.notices == []  # neither NIK is the claim's heir: nobody to send a code to
    await play(wrong, [("123457", ["error:claim_status.code_wrong"]),
                       ("123458", ["claim_status.not_found"]),
                       ("status klaim", ["claim_status.reference.prompt"]),
                       ("JKM-2026-000001", ["claim_status.heir_nik.prompt"]),
                       (PADANG, ["claim_status.code_prompt"]),
                       ("123459", ["error:claim_status.code_wrong"]),
                       ("123450", ["proof.limit"])])  # the fifth wrong code of the day
    wrong.wait(days=1, minutes=1)
    await play(wrong, [("status klaim", ["claim_status.reference.prompt"]),
                       ("JKM-2026", ["error:claim_status.reference.invalid"])])


async def test_a_claim_left_for_the_menu_can_be_continued(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship()[:5] + [
        ("menu", ["menu.prompt"], ["6. 🕊️ Lapor meninggal", "7. 🔐 Data saya",
                                   "8. ▶️ Lanjutkan laporan klaim"]),
        ("8", ["claim.cause.prompt"]),
        ("status", ["status.none"]),
        ("klaim", ["menu.draft.claim"]),
        ("lanjut", ["claim.cause.prompt"]),
    ])
    assert chat.now - START == timedelta(days=4)


# --- staff -------------------------------------------------------------------------------------

async def filed_claim(catalogs, memory: Memory, later: int = 1) -> Chat:
    """A child's claim with all documents but the last ``later`` ones; returns the heir."""
    await covered_worker(catalogs, memory)
    memory.staff["telegram:9001"] = "verifier"
    chat = await heir(catalogs, memory)
    sent = 6 - later
    script = to_relationship() + [("anak", ["claim.document.prompt"])] + documents(sent - 1)
    script += [(photo(sent), ["claim.document.received",
                              "claim.document.prompt" if later else "claim.bank_name.prompt"])]
    script += [("nanti", ["claim.document.prompt"])] * (later - 1)
    script += [("nanti", ["claim.bank_name.prompt"])] if later else []
    done = ["claim.submitted", "claim.documents_missing" if later else "claim.next_steps"]
    await play(chat, script + BANK + [("kirim", done)])
    return chat


async def test_staff_review_a_claim_to_payment(catalogs):
    memory = Memory()
    heir_chat = await filed_claim(catalogs, memory, later=0)
    staff = Chat(catalogs, memory, chat_id="9001")
    staff.now = heir_chat.now + timedelta(days=1)
    await play(staff, [
        ("/klaim", ["staff.claims.list"],
         ["JKM-2026-000001: dokumen lengkap, menunggu pemeriksaan; ahli waris SITI RAHMAWATI",
          "batas bayar 30 November 2026"]),
        ("/klaim jkm-2026-000001", ["staff.claims.opened"],
         ["[akta] Akta / surat keterangan kematian: diterima, belum diperiksa",
          "Perkiraan santunan: Rp42.000.000"]),
        ("/lihatdok JKM-2026-000001 kk", ["staff.claims.file"]),
        ("/terimadok JKM-2026-000001 akta", ["staff.claims.document_accepted"]),
        ("/dibayar JKM-2026-000001", ["staff.claims.not_now"], ["sedang diperiksa petugas"]),
        ("/setujuiklaim JKM-2026-000001", ["staff.claims.changed"],
         ["disetujui, menunggu pembayaran", "Ahli waris sudah diberi tahu"]),
        ("/dibayar JKM-2026-000001", ["staff.claims.changed"], ["sudah dibayar"]),
        ("/klaim selesai", ["staff.claims.list"], ["JKM-2026-000001: ✅ sudah dibayar"]),
    ])
    file_reply = staff.history[[r.msgid for r in staff.history].index("staff.claims.file")]
    assert file_reply.attachment.sha256 == f"{2:064x}"
    assert [r.msgid for n in memory.notices for r in n.replies] == [
        "notice.claim.document_accepted", "notice.claim.approved", "notice.claim.paid"]
    assert all(n.chat_key == "telegram:8001" and n.locale == "id" for n in memory.notices)
    assert [a[1] for a in memory.actions if a[2].startswith("JKM")] == [
        "in_review", "approved", "paid"]
    await play(heir_chat, [("status klaim", ["claim_status.reference.prompt"]),
                           ("JKM-2026-000001", ["claim_status.shown"], ["✅ sudah dibayar"])])


async def test_a_rejected_document_is_sent_again(catalogs):
    memory = Memory()
    heir_chat = await filed_claim(catalogs, memory, later=0)
    staff = Chat(catalogs, memory, chat_id="9001")
    await play(staff, [
        ("/tolakdok JKM-2026-000001 kk", ["staff.claims.reason_needed"]),
        ("/tolakdok JKM-2026-000001 bukunikah foto buram", ["staff.claims.which_document"],
         ["akta, kk, ktp, ktpwaris, suratwaris, tabungan"]),
        ("/tolakdok JKM-2026-000001 kk foto buram", ["staff.claims.changed"],
         ["petugas meminta dokumen tambahan"]),
    ])
    [notice] = memory.notices
    assert notice.replies[0].msgid == "notice.claim.document_rejected"
    await play(heir_chat, [
        ("status klaim", ["claim_status.reference.prompt"]),
        ("JKM-2026-000001", ["claim_status.shown", "claim_status.send_missing",
                             "claim.document.prompt"],
         ["Alasan: foto buram", "• Kartu Keluarga (KK)"]),
        (photo(40), ["claim.document.received", "claim_status.complete"]),
    ])
    claim = memory.claims["JKM-2026-000001"]
    assert (claim.status, claim.documents["kk"], claim.files["kk"].sha256) == (
        claims.SUBMITTED, "received", f"{40:064x}")


async def test_overdue_claims_are_flagged_and_decisions_need_reasons(catalogs):
    memory = Memory()
    heir_chat = await filed_claim(catalogs, memory, later=0)
    staff = Chat(catalogs, memory, chat_id="9001")
    staff.now = heir_chat.now + timedelta(days=7)
    await play(staff, [
        ("/claims", ["staff.claims.list"], ["⚠️ LEWAT BATAS BAYAR (30 November 2026), 2 hari: "
                                            "denda keterlambatan 1% sehari untuk ahli waris "
                                            "Rp840.000"]),
        ("/tolakklaim JKM-2026-000001", ["staff.claims.reason_needed"]),
        ("/mintadok JKM-2026-000001 ok", ["staff.claims.reason_needed"]),
        ("/klaim JKM-2026-000999", ["staff.claims.not_found"]),
        ("/klaim tidakterlindungi", ["staff.claims.none"]),
        ("/tolakklaim JKM-2026-000001 bukan ahli waris yang sah", ["staff.claims.changed"]),
        ("/setujuiklaim JKM-2026-000001", ["staff.claims.not_now"], ["ditolak"]),
    ])
    assert memory.claims["JKM-2026-000001"].reason == "bukan ahli waris yang sah"
    stranger = Chat(catalogs, memory, chat_id="5555")
    await play(stranger, [("/klaim", ["menu.prompt"]), ("/dibayar JKM-2026-000001",
                                                        ["menu.prompt"])])
    assert "JKM-2026" not in stranger.text()


async def test_a_claim_waiting_for_documents_has_no_deadline_yet(catalogs):
    memory = Memory()
    await filed_claim(catalogs, memory, later=2)
    staff = Chat(catalogs, memory, chat_id="9001")
    await play(staff, [("/klaim dokumen", ["staff.claims.list"],
                        ["menunggu dokumen", "dokumen belum lengkap"]),
                       ("/setujuiklaim JKM-2026-000001", ["staff.claims.not_now"]),
                       ("/mintadok JKM-2026-000001 kirim surat ahli waris dari kelurahan",
                        ["staff.claims.changed"])])
    assert memory.notices[0].replies[0].msgid == "notice.claim.more_documents"


async def test_documents_after_a_staff_decision_are_not_taken(catalogs):
    memory = Memory()
    heir_chat = await filed_claim(catalogs, memory, later=2)
    await play(heir_chat, [
        ("status klaim", ["claim_status.reference.prompt"]),
        ("JKM-2026-000001", ["claim_status.shown", "claim_status.send_missing",
                             "claim.document.prompt"]),
    ])
    await play(Chat(catalogs, memory, chat_id="9001"), [
        ("/tolakklaim JKM-2026-000001 bukan ahli waris yang sah", ["staff.claims.changed"])])
    await play(heir_chat, [(photo(30), ["claim_status.moved_on"], ["ditolak"])])
    assert memory.claims["JKM-2026-000001"].status == claims.REJECTED


async def test_the_family_sees_an_open_claim_in_the_status(catalogs):
    memory = Memory()
    await filed_claim(catalogs, memory, later=1)
    owner = memory.workers[-1][0]
    family = Chat(catalogs, memory, chat_id="8200")
    await play(family, [("cek nik", ["lookup.nik_prompt"]), (PADANG, ["lookup.code_prompt"])])
    [asked] = [n for n in memory.notices if n.replies[0].msgid == "notice.proof.lookup"
               and n.chat_key == owner]
    await play(family, [(asked.replies[0].params["code"], ["status.worker"],
                         ["kematiannya dilaporkan pada 25 November 2026",
                          "Klaim JKM JKM-2026-000001: menunggu dokumen"])])


async def test_on_whatsapp_the_heir_confirms_the_number_they_write_from(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    steps = to_relationship()[:-2]
    for chat_id, answers, phone in [
            ("6281298765432", [("1", ["claim.relationship.prompt"])], "+6281298765432"),
            ("6281298765433", [("2", ["claim.heir_phone.prompt"]),
                               ("0813 1111 2222", ["claim.relationship.prompt"])],
             "+6281311112222"),
            ("6281298765434", [("0813 3333 4444", ["claim.relationship.prompt"])],
             "+6281333334444")]:
        chat = Chat(catalogs, memory, chat_id=chat_id, channel="whatsapp", programmes=SMALL)
        chat.wait(days=4)
        await play(chat, steps + [
            (HEIR_NIK, ["claim.heir_phone_confirm.prompt"],
             [f"+{chat_id}", "1. ✅ Ya, nomor ini", "2. 📱 Nomor lain"]),
            ("entah", ["error:phone.invalid"], ["Pilih 1 jika benar"]),
        ] + answers)
        assert chat.session.data["heir_phone"] == phone


async def test_the_date_of_death_is_asked_as_a_date_of_death(catalogs):
    """Its errors and help speak of the death, never of a birth; "kemarin" is a date."""
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship()[:4] + [("01-01-2099", ["error:date_of_death.future"]),
                                              ("/bantuan", ["help:claim.date_of_death.help"]),
                                              ("kemarin", ["claim.cause.prompt"])])
    assert "lahir" not in chat.everything() and "17-08-1985" not in chat.everything()
    assert chat.session.data["date_of_death"] == (chat.now.date() - timedelta(days=1)).isoformat()


async def test_later_at_a_missing_document_keeps_the_claim_for_another_day(catalogs):
    """The bot's own suggestion, NANTI, at a document asked in `status klaim`."""
    memory = Memory()
    heir_chat = await filed_claim(catalogs, memory, later=2)
    await play(heir_chat, [
        ("status klaim", ["claim_status.reference.prompt"]),
        ("JKM-2026-000001", ["claim_status.shown", "claim_status.send_missing",
                             "claim.document.prompt"]),
        ("NANTI", ["claim_status.later"], ["JKM-2026-000001"]),
    ])
    assert heir_chat.session.flow is None


async def test_a_mistyped_deceased_nik_can_be_typed_again(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship()[:2] + [
        ("1371011708850099", ["claim.deceased_unknown.prompt"], ["1371********0099",
                                                                  "1. ✏️ Ketik ulang NIK"]),
        ("1", ["claim.deceased_nik.prompt"]),
        ("1371011708850098", ["claim.deceased_unknown.prompt"]),
        (PADANG, ["claim.confirm_person.prompt"], ["B*** S******"]),  # typed at once
    ])
    assert chat.session.data["worker"] == memory.workers[-1][1].reference


async def test_a_grieving_family_is_understood_in_its_own_words(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship() + [
        ("terima kasih", ["thanks.reply", "claim.relationship.prompt"], ["Sama-sama"]),
        ("saya adiknya", ["claim.closer.prompt"]),
        ("sudah meninggal", ["claim.closer.prompt"]),
        ("masih ada", ["claim.closer.exists"]),
    ])
    assert chat.session.flow is None and memory.filed == []
    await play(chat, [("makasih", ["thanks.reply"])])


CHILD = "1371011708100002"
"""An heir born on 17 August 2010: 16 on the day of the report."""
GUARDIAN = "1371015708750003"


def to_guardian() -> list:
    return to_relationship()[:6] + [
        ("Andi Saputra", ["claim.heir_nik.prompt"]),
        (CHILD, ["claim.guardian_name.prompt"], ["belum 18 tahun"]),
        ("Siti Rahmawati", ["claim.guardian_nik.prompt"]),
        (PADANG, ["error:claim.guardian_nik.same"]),
        ("1371011708150004", ["error:claim.guardian_nik.minor"]),
        (GUARDIAN, ["claim.guardian_consent.prompt"], ["orang tua/wali"]),
    ]


async def test_an_heir_under_18_files_with_a_parent_or_guardian_who_consents(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_guardian() + [
        ("1", ["claim.heir_phone.prompt"]),
        (contact("+6281298765432"), ["claim.relationship.prompt"]),
        ("anak", ["claim.document.prompt"])] + [("nanti", ["claim.document.prompt"])] * 5 + [
        ("nanti", ["claim.bank_name.prompt"]), ("BRI", ["claim.account_number.prompt"]),
        ("1234 5678 9012", ["claim.account_holder.prompt"]),
        ("Siti Rahmawati", ["claim.summary.prompt"],  # the guardian's account is accepted
         ["Ahli waris: ANDI SAPUTRA", "Orang tua/wali: SITI RAHMAWATI (NIK 1371********0003)"]),
        # another guardian: asked to consent again, and whose account it is
        ("ubah", ["edit.prompt"], ["6. Nama orang tua/wali"]),
        ("6", ["claim.guardian_name.prompt"]), ("Rina Wati", ["claim.guardian_consent.prompt"]),
        ("1", ["claim.account_holder.prompt"]), ("Rina Wati", ["claim.summary.prompt"]),
        ("kirim", ["claim.submitted", "claim.documents_missing"]),
    ])
    [filed] = memory.filed
    assert (filed.heir_nik, filed.guardian_name, filed.guardian_nik, filed.account_holder) == (
        CHILD, "RINA WATI", GUARDIAN, "RINA WATI")


async def test_without_the_guardians_consent_a_childs_claim_is_not_filed(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_guardian() + [("tidak", ["claim.guardian.declined"])])
    assert memory.filed == [] and chat.session.flow is None and chat.session.paused is None


async def test_an_adult_heir_is_asked_for_no_guardian(catalogs):
    memory = Memory()
    await covered_worker(catalogs, memory)
    chat = await heir(catalogs, memory)
    await play(chat, to_relationship())
    assert "guardian_name" not in chat.session.data


@pytest.mark.parametrize("complete, deadline", [
    (date(2026, 11, 25), date(2026, 11, 30)),   # Wednesday: Thursday, Friday, Monday
    (date(2026, 3, 18), date(2026, 3, 24)),     # Nyepi on Thursday 19 March is not counted
    (date(2026, 12, 23), date(2026, 12, 29)),   # nor Christmas Day
    (date(2026, 5, 29), date(2026, 6, 4)),      # Friday; Pancasila Day on Monday 1 June
])
def test_the_payment_deadline_counts_working_days_without_public_holidays(complete, deadline):
    assert claims.add_working_days(complete, claims.PAYMENT_WORKING_DAYS) == deadline
