"""Members from before the bot (``main.py import-members``): added with their history, bad rows
named by line, a repeated import changing nothing, an erased NIK re-creating nothing; then
found from a chat (status and card on the WhatsApp number the list gave) and invited by a
broadcast to those not yet in the chat; on SQLite and PostgreSQL."""

import json
from datetime import UTC, date, datetime
from itertools import count

from sqlalchemy import insert, select

from bot import rights
from bot.broadcasting import Audience
from bot.render import Renderer
from models.broadcasts import recipients
from models.effects import apply_effects
from models.members_import import MembersImporter
from models.schema import contact, membership, place, staff_action, worker
from tests.chat import EXAMPLE_PROGRAMMES
from tests.test_pipeline import Pipeline

NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
TODAY = date(2026, 12, 3)
SITI = "1303015708850002"     # Sijunjung, a woman born 17-08-1985
BUDI = "1303011708850003"
HEADER = "NIK;Nama;Tanggal_Lahir;KPJ;Program;Siklus;Mulai;No_HP;Kelurahan\n"
FILE = HEADER + (
    f"{SITI};Siti Rahmawati;1985-08-17;22010000001;sijunjung;2025;2025-03-01;"
    "0812 3456 7801;Muaro\n"
    f"{SITI};Siti Rahmawati;1985-08-17;22010000001;sijunjung;2026;2026-01-01;0812 3456 7801;"
    "MUARO\n"
    f"{BUDI};budi santoso;17-08-1985;22010000002;sijunjung;2026;01-02-2026;;muaro  takuang\n"
    "\n"
    "1303011708850000;Tanpa Nomor;1985-08-17;22010000003;sijunjung;2026;2026-01-01;;\n"
    "1303011708850004;Ani;1985-08-17;2201;sijunjung;2026;2026-01-01;;\n"
    "1303011708850005;Ani;1985-08-17;22010000005;siak;2026;2026-01-01;;\n"
    "1303011708850006;Ani;1985-08-17;22010000006;sijunjung;2024;2024-01-01;;\n"
    "1303011708850007;Ani;1985-08-17;22010000007;sijunjung;2026;2025-06-01;;\n"
    "1303011708850008;Ani;1985-08-17;22010000001;sijunjung;2026;2026-01-01;;\n"
    "1303011708850009;Ani;1985-08-17;22010000009;sijunjung;2026;2026-01-01;0212345678;\n")
BAD = [
    (6, "NIK ends in 0000"),
    (7, "KPJ number must be 11 digits, not '2201'"),
    (8, "unknown programme 'siak'; the programmes are: padang, padang-panjang, "
        "kendari-sertakan, jambi, jambi-keagamaan, sijunjung"),
    (9, "sijunjung has no cycle '2024'; its cycles are: 2025, 2026, 2027"),
    (10, "start date '2025-06-01' is not a day of cycle 2026 (2026-01-01 to 2026-12-31)"),
    (11, "KPJ 22010000001 already belongs to LD-IMPT-0001"),
    (12, "phone 02123… is not a mobile number"),
]


def importer(store) -> MembersImporter:
    numbers = count(1)
    return MembersImporter(store, EXAMPLE_PROGRAMMES, lambda: f"LD-IMPT-{next(numbers):04d}",
                           "cli:ani", TODAY, clock=lambda: NOW)


async def run(store, path) -> tuple:
    bad: list = []
    report = await importer(store).import_file(path, lambda line, why: bad.append((line, why)))
    return report, bad


async def test_members_are_imported_with_their_history_once(store, tmp_path):
    path = tmp_path / "anggota.csv"
    path.write_text(FILE, encoding="utf-8")
    report, bad = await run(store, path)
    assert (report.rows, report.added, report.history, report.unchanged, report.bad) == (
        10, 2, 1, 0, 7)
    assert bad == BAD
    async with store.engine.connect() as conn:
        rows = {r.reference: r for r in await conn.execute(select(worker))}
        cycles = sorted((r.worker_reference, r.cycle, r.starts_on, r.ends_on, r.source, r.funder)
                        for r in await conn.execute(select(membership)))
        taken = await conn.scalar(select(place.c.taken).where(place.c.programme_id ==
                                                               "sijunjung"))
        [record] = (await conn.execute(select(staff_action).where(
            staff_action.c.action == "members.imported"))).all()
    siti, budi = rows["LD-IMPT-0001"], rows["LD-IMPT-0002"]
    assert (siti.nik, siti.full_name, siti.status, siti.kpj, siti.coverage_start,
            siti.coverage_end, siti.chat_key, siti.channel, siti.phone, siti.kelurahan) == (
        SITI, "SITI RAHMAWATI", "active", "22010000001", date(2025, 3, 1), date(2026, 12, 31),
        "whatsapp:6281234567801", "whatsapp", "+6281234567801", "Muaro")
    assert (budi.full_name, budi.birth_date, budi.coverage_start, budi.chat_key, budi.channel,
            budi.consent_version, budi.kelurahan) == (
        "BUDI SANTOSO", date(1985, 8, 17), date(2026, 2, 1), "", "import", "import",
        "Muaro Takuang")  # the official spelling of the area's list
    assert cycles == [
        ("LD-IMPT-0001", "2025", date(2025, 3, 1), date(2025, 12, 31), "import",
         "APBD Kabupaten Sijunjung"),
        ("LD-IMPT-0001", "2026", date(2026, 1, 1), date(2026, 12, 31), "import",
         "APBD Kabupaten Sijunjung"),
        ("LD-IMPT-0002", "2026", date(2026, 2, 1), date(2026, 12, 31), "import",
         "APBD Kabupaten Sijunjung")]
    assert taken == 2
    assert json.loads(record.detail) == {"rows": 10, "added": 2, "history": 1, "bad": 7}

    again, bad_again = await run(store, path)
    assert (again.added, again.history, again.unchanged, again.bad) == (0, 0, 3, 7)
    assert [line for line, _ in bad_again] == [line for line, _ in BAD]
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(place.c.taken).where(
            place.c.programme_id == "sijunjung")) == 2


async def test_an_erased_member_is_not_brought_back(store, catalogs, tmp_path):
    path = tmp_path / "anggota.csv"
    path.write_text(HEADER + f"{BUDI};Budi;1985-08-17;22010000002;sijunjung;2026;2026-01-01;;\n")
    await run(store, path)
    async with store.transaction() as tx:
        await apply_effects(tx, Renderer(catalogs), [
            rights.RequestRight("HAK-2026-000001", "LD-IMPT-0001", rights.ERASE,
                                "whatsapp:6281234567802", "id", NOW + rights.DEADLINE),
            rights.EraseWorker("LD-IMPT-0001", "HAK-2026-000001", "whatsapp:6281234567802")],
            NOW)
    report, bad = await run(store, path)
    assert (report.added, bad) == (0, [(2, "NIK 1303********0003 was erased on its owner's "
                                           "request HAK-2026-000001: nothing re-created")])


async def test_an_imported_member_sees_their_status_and_card_on_their_number(store, catalogs,
                                                                           tmp_path):
    path = tmp_path / "anggota.csv"
    path.write_text(FILE, encoding="utf-8")
    await run(store, path)
    pipeline = Pipeline(store, catalogs)
    pipeline.now = NOW
    await pipeline.conversations.start()
    try:
        await pipeline.say("6281234567801", "status", channel="whatsapp")
        said = "\n".join(pipeline.whatsapp.texts("6281234567801"))
        await pipeline.say("6281234567801", "kartu", channel="whatsapp")
    finally:
        await pipeline.conversations.stop()
    assert "SITI RAHMAWATI" in said and "22010000001" in said and "LD-IMPT-0001" in said
    cards = [m for m in pipeline.whatsapp.sent["6281234567801"] if m.card]
    assert cards and cards[-1].card.kpj == "22010000001"
    assert cards[-1].card.period_start == date(2025, 3, 1)


async def test_the_invitation_goes_to_imported_members_not_yet_in_the_chat(store, tmp_path):
    path = tmp_path / "anggota.csv"
    path.write_text(FILE, encoding="utf-8")
    await run(store, path)
    async with store.engine.connect() as conn:
        invited = await recipients(conn, Audience(invite=True), None, TODAY)
    assert [r["chat_key"] for r in invited] == ["whatsapp:6281234567801"]  # Budi: no phone
    async with store.transaction() as tx:
        await tx.conn.execute(insert(contact).values(
            chat_key="whatsapp:6281234567801", last_inbound_at=NOW, opted_out=False))
    async with store.engine.connect() as conn:
        assert await recipients(conn, Audience(invite=True), None, TODAY) == []
