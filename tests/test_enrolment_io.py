"""The files exchanged with BPJS Ketenagakerjaan (the enrolment batch out, KPJ numbers in) and
checking a card, on SQLite and PostgreSQL."""

import csv
import json
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from bot.cards import CardClaim, read_card_token, sign_card
from bot.programmes import parse_programmes
from bot.render import Renderer
from models import enrolment_io
from models.csvfile import BadFile
from models.enrolment_io import EXPORT_COLUMNS, KpjImporter, export_enrolment, verify_card
from models.schema import outbox, staff_action, worker

ROOT = Path(__file__).resolve().parent.parent
PROGRAMMES = parse_programmes((ROOT / "programmes.toml").read_text(encoding="utf-8"))
PADANG = PROGRAMMES.by_id("padang")
NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
TODAY = date(2026, 11, 21)
KEY = b"c" * 32


def nik(n: int) -> str:
    return f"13710117088500{n:02d}"


def worker_row(n: int, status: str = "enrolled", programme_id: str = "padang",
               created_at: datetime = NOW, **more) -> dict:
    """A stored worker as the chat would have left it, numbered ``n``."""
    return {"reference": f"LD-TEST-{n:04d}", "nik": nik(n), "full_name": f"PEKERJA {n}",
            "birth_date": date(1985, 8, 17), "phone": f"+62812345678{n:02d}",
            "occupation": "ojek", "occupation_other": None, "kelurahan": "Air Tawar Barat",
            "kecamatan": "Padang Utara", "monthly_income": 1_500_000, "status": status,
            "channel": "telegram", "chat_key": f"telegram:{1000 + n}", "locale": "id",
            "consent_version": "2026-11", "consented_at": created_at, "created_at": created_at,
            "programme_id": programme_id, "dtsen_desil": 2, "status_reason": None,
            "queued_at": None, "coverage_start": date(2026, 2, 1),
            "coverage_end": date(2026, 12, 31), "kpj": None, **more}


async def add_workers(store, *rows: dict) -> None:
    async with store.transaction() as tx:
        await tx.conn.execute(insert(worker), list(rows))


async def stored(store) -> dict[str, tuple[str, str | None]]:
    """NIK → (status, KPJ)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(worker.c.nik, worker.c.status, worker.c.kpj))
        return {r.nik: (r.status, r.kpj) for r in rows}


async def notices(store) -> list:
    async with store.engine.connect() as conn:
        return (await conn.execute(select(outbox).order_by(outbox.c.created_at,
                                                           outbox.c.id))).all()


async def actions(store, action: str) -> list:
    async with store.engine.connect() as conn:
        return (await conn.execute(select(staff_action).where(
            staff_action.c.action == action).order_by(staff_action.c.id))).all()


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


# --- export -------------------------------------------------------------------------------

async def test_the_export_holds_exactly_the_programmes_enrolled_workers(store, catalogs,
                                                                        tmp_path):
    earlier = NOW - timedelta(hours=2)
    await add_workers(
        store,
        worker_row(1, created_at=NOW - timedelta(hours=1), occupation="other",
                   occupation_other="Tukang parkir"),
        worker_row(2, created_at=earlier),
        worker_row(3, status="waiting_verification"),
        worker_row(4, programme_id="padang-panjang"),
        worker_row(5, status="active", kpj="12345678905"),
        worker_row(6, status="waiting_list", coverage_start=None, coverage_end=None),
        worker_row(7, occupation="other", occupation_other="=HYPERLINK(\"x\")"),
        worker_row(8),  # whose death was reported
        worker_row(9, occupation="other", occupation_other="Tukang jahit; =1+1, @A1"))
    from tests.test_claim_store import filing

    async with store.transaction() as tx:
        await tx.file_claim(filing(worker_reference="LD-TEST-0008", deceased_nik=nik(8)),
                            "telegram", "8001", NOW)
    path = tmp_path / "batch.csv"
    assert await export_enrolment(store, catalogs, PADANG, path, "cli:ani", NOW, 1) == 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    address = "Air Tawar Barat, Padang Utara, Kota Padang"
    programme = "Perlindungan Pekerja Rentan Kota Padang"
    assert read_csv(path) == [
        list(EXPORT_COLUMNS),
        [nik(2), "PEKERJA 2", "1985-08-17", "+6281234567802", "Ojek / ojol", address,
         programme, "2026-02-01", "2026-12-31"],
        [nik(1), "PEKERJA 1", "1985-08-17", "+6281234567801", "Tukang parkir", address,
         programme, "2026-02-01", "2026-12-31"],
        [nik(7), "PEKERJA 7", "1985-08-17", "+6281234567807", "'=HYPERLINK(\"x\")", address,
         programme, "2026-02-01", "2026-12-31"],
        [nik(9), "PEKERJA 9", "1985-08-17", "+6281234567809", "Tukang jahit;' =1+1,' @A1",
         address, programme, "2026-02-01", "2026-12-31"]]
    assert all(line.startswith('"') and line.endswith('"')
               for line in path.read_text(encoding="utf-8").splitlines())
    [recorded] = await actions(store, "enrolment.export")
    assert (recorded.actor, recorded.subject, json.loads(recorded.detail)) == (
        "cli:ani", "padang", {"batch": 1, "again": False, "workers": 4, "file": "batch.csv",
                              "decrypted": 4})
    revealed = await actions(store, "nik.revealed")  # each worker reads it under "Data saya"
    assert sorted((r.actor, r.subject, json.loads(r.detail)["why"]) for r in revealed) == [
        ("cli:ani", f"LD-TEST-{n:04d}", "export to BPJS Ketenagakerjaan (batch.csv)")
        for n in (1, 2, 7, 9)]


async def test_the_export_pages_through_many_workers_in_order(store, catalogs, tmp_path,
                                                             monkeypatch):
    monkeypatch.setattr(enrolment_io, "EXPORT_CHUNK", 2)
    # Ids in the reverse order of registration, and two registered at the same moment.
    times = [NOW - timedelta(minutes=m) for m in (1, 5, 5, 9, 12)]
    await add_workers(store, *(worker_row(n, created_at=t) for n, t in enumerate(times, 1)))
    path = tmp_path / "batch.csv"
    assert await export_enrolment(store, catalogs, PADANG, path, "cli:ani", NOW, 1) == 5
    assert [row[0] for row in read_csv(path)[1:]] == [nik(n) for n in (5, 4, 2, 3, 1)]


async def test_the_export_never_overwrites_a_file(store, catalogs, tmp_path):
    await add_workers(store, worker_row(1))
    path = tmp_path / "batch.csv"
    path.write_text("kept")
    with pytest.raises(FileExistsError):
        await export_enrolment(store, catalogs, PADANG, path, "cli:ani", NOW, 1)
    assert path.read_text() == "kept"
    assert await actions(store, "enrolment.export") == []


async def test_nothing_new_to_send_makes_no_file_and_no_batch(store, catalogs, tmp_path):
    path = tmp_path / "batch.csv"
    assert await export_enrolment(store, catalogs, PADANG, path, "cli:ani", NOW, 1) == 0
    assert not path.exists() and await enrolment_io.batches(store, "padang") == []
    assert await enrolment_io.next_batch(store, "padang") == 1


async def test_each_batch_sends_the_workers_not_sent_before_and_can_be_made_again(
        store, catalogs, tmp_path):
    await add_workers(store, worker_row(1), worker_row(2, coverage_start=date(2026, 3, 1)))
    first = tmp_path / "1.csv"
    assert await export_enrolment(store, catalogs, PADANG, first, "cli:ani", NOW, 1) == 2
    await add_workers(store, worker_row(3, coverage_start=date(2026, 12, 1)))
    second = tmp_path / "2.csv"
    assert await enrolment_io.next_batch(store, "padang") == 2
    assert await export_enrolment(store, catalogs, PADANG, second, "cli:budi", NOW, 2) == 1
    assert [r[0] for r in read_csv(second)[1:]] == [nik(3)]
    assert await export_enrolment(store, catalogs, PADANG, tmp_path / "3.csv", "cli:ani", NOW,
                                  3) == 0
    made = await enrolment_io.batches(store, "padang")
    assert [(b.number, b.workers, b.starts_on, b.created_by, b.file_name) for b in made] == [
        (1, 2, date(2026, 2, 1), "cli:ani", "1.csv"), (2, 1, date(2026, 12, 1), "cli:budi",
                                                       "2.csv")]

    async with store.transaction() as tx:  # BPJS activated worker 1; the branch lost batch 1
        await tx.conn.execute(update(worker).where(worker.c.reference == "LD-TEST-0001")
                              .values(status="active", kpj="12345678901"))
    again = tmp_path / "1-again.csv"
    assert await export_enrolment(store, catalogs, PADANG, again, "cli:ani", NOW, 1,
                                  made[0]) == 2
    assert read_csv(again)[1:] == read_csv(first)[1:]
    assert len(await enrolment_io.batches(store, "padang")) == 2  # no new batch
    records = await actions(store, "enrolment.export")
    assert [(json.loads(r.detail)["batch"], json.loads(r.detail)["again"]) for r in records] \
        == [(1, False), (2, False), (1, True)]


# --- KPJ import ---------------------------------------------------------------------------

def importer(store, catalogs) -> KpjImporter:
    return KpjImporter(store, Renderer(catalogs), PROGRAMMES, KEY, "cli:ani", TODAY,
                       clock=lambda: NOW)


async def run(store, catalogs, path):
    bad = []
    report = await importer(store, catalogs).import_file(
        path, lambda line, why: bad.append((line, why)))
    return (report.rows, report.activated, report.unchanged, report.bad), bad


async def test_kpj_numbers_activate_workers_and_send_their_cards_once(store, catalogs,
                                                                      tmp_path):
    await add_workers(store, worker_row(1), worker_row(2, locale="en"), worker_row(3))
    path = tmp_path / "kpj.csv"
    path.write_text(f"nik,kpj\n{nik(1)},11111111111\n{nik(2)},2222 2222 222\n")
    assert await run(store, catalogs, path) == ((2, 2, 0, 0), [])
    assert await stored(store) == {nik(1): ("active", "11111111111"),
                                   nik(2): ("active", "22222222222"),
                                   nik(3): ("enrolled", None)}
    sent = await notices(store)
    assert sorted(n.chat_key for n in sent) == ["telegram:1001", "telegram:1002"]
    for notice in sent:
        assert notice.lease_until is None and not notice.delivered  # the running bot sends it
        [reply] = json.loads(notice.replies)
        card = reply["card"]
        assert read_card_token(KEY, card["token"]) == CardClaim(card["reference"], card["kpj"])
        assert card["masked_nik"].startswith("1371********")
    english = next(n for n in sent if n.chat_key == "telegram:1002")
    assert "22222222222" in json.loads(english.replies)[0]["text"]
    recorded = await actions(store, "worker.active")
    assert [(a.actor, a.subject) for a in recorded] == [
        ("cli:ani", "LD-TEST-0001"), ("cli:ani", "LD-TEST-0002")]

    assert await run(store, catalogs, path) == ((2, 0, 2, 0), [])
    assert len(await notices(store)) == 2
    assert len(await actions(store, "worker.active")) == 2
    assert (await stored(store))[nik(1)] == ("active", "11111111111")


async def test_bad_rows_are_reported_by_line_and_the_rest_imported(store, catalogs, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setattr(enrolment_io, "IMPORT_BATCH", 3)  # the checks hold across batches
    await add_workers(
        store, worker_row(1, status="active", kpj="11111111111"), worker_row(2),
        worker_row(3), worker_row(4, status="waiting_verification"),
        worker_row(5, coverage_end=date(2026, 10, 31)), worker_row(6), worker_row(7),
        worker_row(8, status="rejected", status_reason="NIK ganda"))
    path = tmp_path / "kpj.csv"
    path.write_text(
        "Nama;NIK;No_KPJ\n"
        f"Dua;{nik(2)};22222222222\n"           # 2: activated
        f"X;{nik(99)};99999999999\n"            # 3: nobody registered with that NIK
        f"Tiga;{nik(3)};1234\n"                 # 4: short KPJ
        "Pendek;137101170885;33333333333\n"    # 5: short NIK
        f"Tiga;{nik(3)};22222222222\n"          # 6: the KPJ of line 2
        f"Empat;{nik(4)};44444444444\n"         # 7: not approved
        f"Satu;{nik(1)};10101010101\n"          # 8: already active with another KPJ
        "\n"
        f"Lima;{nik(5)};55555555555\n"          # 10: cover already over
        f"Enam;{nik(6)}\n"                      # 11: no KPJ column
        f"Enam;{nik(6)};11111111111\n"          # 12: KPJ held by worker 1
        f"Satu;{nik(1)};11111111111\n"          # 13: as stored: unchanged
        f"Tujuh;{nik(7)};77777777777\n"         # 14: activated
        f"Tujuh;{nik(7)};77777777777\n"         # 15: the same again: unchanged
        f"Delapan;{nik(8)};88888888888\n")      # 16: rejected
    counts, bad = await run(store, catalogs, path)
    assert bad == [
        (3, "no registration with NIK 1371********0099"),
        (4, "KPJ number must be 11 digits, not '1234'"),
        (5, "NIK must have 16 digits"),
        (6, "KPJ 22222222222 already belongs to LD-TEST-0002"),
        (7, "LD-TEST-0004 is waiting_verification, not enrolled"),
        (8, "LD-TEST-0001 already has KPJ 11111111111 (active)"),
        (10, "LD-TEST-0005: cover ended on 2026-10-31"),
        (11, "expected at least 3 columns, found 2"),
        (12, "KPJ 11111111111 already belongs to LD-TEST-0001"),
        (16, "LD-TEST-0008 is rejected, not enrolled"),
    ]
    assert counts == (14, 2, 2, 10)
    assert not any(nik(n) in why for _, why in bad for n in range(1, 100))
    assert await stored(store) == {
        nik(1): ("active", "11111111111"), nik(2): ("active", "22222222222"),
        nik(3): ("enrolled", None), nik(4): ("waiting_verification", None),
        nik(5): ("enrolled", None), nik(6): ("enrolled", None),
        nik(7): ("active", "77777777777"), nik(8): ("rejected", None)}
    assert len(await notices(store)) == 2

    again, bad_again = await run(store, catalogs, path)
    assert again == (14, 0, 4, 10)
    assert [line for line, _ in bad_again] == [line for line, _ in bad]
    assert len(await notices(store)) == 2


async def test_a_kpj_or_nik_repeated_within_one_batch_meets_the_first_rows_result(
        store, catalogs, tmp_path):
    await add_workers(store, worker_row(1), worker_row(2), worker_row(3))
    path = tmp_path / "kpj.csv"
    path.write_text(f"NIK,KPJ_Number\n{nik(1)},11111111111\n{nik(2)},11111111111\n"
                    f"{nik(3)},33333333333\n{nik(3)},30303030303\n")
    assert await run(store, catalogs, path) == ((4, 2, 0, 2), [
        (3, "KPJ 11111111111 already belongs to LD-TEST-0001"),
        (5, "LD-TEST-0003 already has KPJ 33333333333 (active)")])
    assert await stored(store) == {nik(1): ("active", "11111111111"), nik(2): ("enrolled", None),
                                   nik(3): ("active", "33333333333")}


async def test_a_file_without_the_needed_columns_is_refused(store, catalogs, tmp_path):
    path = tmp_path / "kpj.csv"
    path.write_text(f"nik,nomor_peserta\n{nik(1)},11111111111\n")
    with pytest.raises(BadFile, match="no kpj column"):
        await run(store, catalogs, path)


async def test_a_file_that_is_not_utf8_is_refused(store, catalogs, tmp_path):
    path = tmp_path / "kpj.csv"
    path.write_bytes(b"nik,kpj,nama\n" + f"{nik(1)},11111111111,".encode() + b"J\xe9r\xf4me\n")
    with pytest.raises(BadFile, match="not UTF-8"):
        await run(store, catalogs, path)


# --- cards --------------------------------------------------------------------------------

async def test_a_card_is_genuine_and_active_only_while_it_is(store):
    await add_workers(store, worker_row(1, status="active", kpj="11111111111"))
    token = sign_card(KEY, "LD-TEST-0001", "11111111111")
    genuine, line = await verify_card(store, KEY, f" {token}\n", PROGRAMMES, TODAY)
    assert genuine
    assert line == ("genuine: LD-TEST-0001, PEKERJA 1, NIK 1371********0001, KPJ 11111111111, "
                    "Perlindungan Pekerja Rentan Kota Padang, active until 2026-12-31")

    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert await verify_card(store, KEY, tampered, PROGRAMMES, TODAY) == (
        False, "not a genuine Lindungi card")
    assert await verify_card(store, b"another key", token, PROGRAMMES, TODAY) == (
        False, "not a genuine Lindungi card")
    assert await verify_card(store, KEY, "hello", PROGRAMMES, TODAY) == (
        False, "not a genuine Lindungi card")

    genuine, line = await verify_card(store, KEY, token, PROGRAMMES, date(2027, 1, 1))
    assert not genuine and line.endswith(": lapsed, cover ended on 2026-12-31")

    async with store.transaction() as tx:
        await tx.conn.execute(update(worker).values(status="ended",
                                                    status_reason="pindah domisili"))
    genuine, line = await verify_card(store, KEY, token, PROGRAMMES, TODAY)
    assert not genuine
    assert line.startswith("genuine but not active: LD-TEST-0001, PEKERJA 1, NIK 1371****")
    assert line.endswith(": status ended (pindah domisili)")

    async with store.transaction() as tx:
        await tx.conn.execute(update(worker).values(status="active", kpj="22222222222"))
    genuine, line = await verify_card(store, KEY, token, PROGRAMMES, TODAY)
    assert not genuine and line.endswith(": the registration now has KPJ 22222222222")

    other = sign_card(KEY, "LD-GONE-0001", "11111111111")
    assert await verify_card(store, KEY, other, PROGRAMMES, TODAY) == (
        False, "genuine but not active: LD-GONE-0001 is no longer registered")
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(staff_action)) == 0


async def test_a_worker_whose_death_was_reported_gets_no_kpj_and_no_genuine_card(store,
                                                                                  catalogs,
                                                                                  tmp_path):
    from tests.test_claim_store import filing

    await add_workers(store, worker_row(1), worker_row(2, status="active", kpj="22222222222"))
    async with store.transaction() as tx:
        for n in (1, 2):
            await tx.file_claim(filing(reference=f"JKM-2026-00000{n}",
                                       worker_reference=f"LD-TEST-000{n}",
                                       deceased_nik=nik(n)), "telegram", "8001", NOW)
    path = tmp_path / "kpj.csv"
    path.write_text(f"nik,kpj\n{nik(1)},11111111111\n")
    assert await run(store, catalogs, path) == (
        (1, 0, 0, 1), [(2, "LD-TEST-0001: death reported (2026-11-25)")])
    genuine, line = await verify_card(store, KEY, sign_card(KEY, "LD-TEST-0002", "22222222222"),
                                      PROGRAMMES, TODAY)
    assert not genuine and line.endswith(": death reported (2026-11-25)")
