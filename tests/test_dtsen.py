"""Importing a DTSEN extract: good, bad and repeated files, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from models.csvfile import BadFile
from models.dtsen import DtsenImporter, keyed_hash
from models.tables import DtsenEntry

KEY = b"k" * 32
NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
GOOD = """NIK,No_KK,Desil,Alamat
1371011708850001,1371010101100001,2,"Jl. Veteran No. 5, Padang"
1371015708850002,1371010101100001,2,Jl. Veteran No. 5
1371011708850003,1371010101100002,5,Air Tawar
"""


def importer(store):
    return DtsenImporter(store, KEY, date(2026, 11, 21), clock=lambda: NOW)


async def run(store, path):
    bad = []
    report = await importer(store).import_file(path, lambda line, why: bad.append((line, why)))
    return report, bad


async def entries(store):
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(DtsenEntry.__table__).order_by("address"))
        return [(r.nik_hash, r.kk_hash, r.desil, r.address) for r in rows]


async def test_a_good_file_is_imported_and_a_repeat_changes_nothing(store, tmp_path):
    path = tmp_path / "dtsen.csv"
    path.write_text(GOOD)
    report, bad = await run(store, path)
    assert (report.rows, report.added, report.changed, report.unchanged, report.bad) == (
        3, 3, 0, 0, 0)
    assert bad == []
    stored = await entries(store)
    assert (keyed_hash(KEY, "1371011708850003"), keyed_hash(KEY, "1371010101100002"), 5,
            "Air Tawar") in stored
    assert not any("1371011708850001" in str(row) for row in stored)

    report, _ = await run(store, path)
    assert (report.added, report.changed, report.unchanged) == (0, 0, 3)
    assert await entries(store) == stored

    path.write_text(GOOD.replace(",5,Air Tawar", ",3,Air Tawar Barat"))
    report, _ = await run(store, path)
    assert (report.added, report.changed, report.unchanged) == (0, 1, 2)
    assert (keyed_hash(KEY, "1371011708850003"), keyed_hash(KEY, "1371010101100002"), 3,
            "Air Tawar Barat") in await entries(store)


async def test_bad_rows_are_reported_by_line_and_the_rest_imported(store, tmp_path):
    path = tmp_path / "dtsen.csv"
    path.write_text(
        "nik;kk;desil;alamat\n"
        "1371011708850001;1371010101100001;2;Padang\n"
        "137101170885;1371010101100001;2;Padang\n"
        "1371011708850002;13710101;2;Padang\n"
        "1371011708850003;1371010101100001;11;Padang\n"
        "1371011708850004;1371010101100001;dua;Padang\n"
        "\n"
        "1371011708850005;1371010101100001\n"
        '1371011708850006;1371010101100001;4;"Jl. Panjang\nsekali"\n'
        "9971011708850007;1371010101100001;4;Padang\n"
        "1371011708850008;1371010101100001;4;Padang\n")
    report, bad = await run(store, path)
    assert bad == [
        (3, "NIK must have 16 digits"),
        (4, "KK number must have 16 digits"),
        (5, "desil must be a whole number from 1 to 10, not '11'"),
        (6, "desil must be a whole number from 1 to 10, not 'dua'"),
        (8, "expected at least 4 columns, found 2"),
        (11, "NIK starts with an unknown province code"),
    ]
    assert (report.rows, report.added, report.bad) == (9, 3, 6)
    assert "Jl. Panjang sekali" in [row[3] for row in await entries(store)]


async def test_a_file_without_the_needed_columns_is_refused(store, tmp_path):
    path = tmp_path / "dtsen.csv"
    path.write_text("nik,nama,desil\n1371011708850001,Budi,2\n")
    with pytest.raises(BadFile, match="no kk column"):
        await run(store, path)


@pytest.mark.parametrize("content, message", [
    (b"nik,kk,desil,alamat\n1371011708850001,1371010101100001,2,\"Jl. Veteran\n",
     "line 2: a quote (\") opened and never closed: the rest of the file was not imported"),
    (b"nik,kk,desil,alamat\n1371011708850001,1371010101100001,2," + b"x" * 20_000 + b"\n",
     "line 2: a field longer than 10000 characters: the rest of the file was not imported"),
    (b"nik,kk,desil,alamat\n1371011708850001,1371010101100001,2,Jl. \xe9\n",
     "not UTF-8 text: save it as \"CSV UTF-8\""),
    (b"1371011708850001;1371010101100001;2;Jl. Veteran\n",
     "the header has no nik column (one of: nik); it reads: 1371********0001, "
     "1371********0001, 2, Jl. Veteran"),
])
async def test_a_file_that_cannot_be_read_is_refused_in_one_line_without_a_whole_nik(
        store, tmp_path, content, message):
    path = tmp_path / "dtsen.csv"
    path.write_bytes(content)
    with pytest.raises(BadFile) as refused:
        await run(store, path)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert "1371011708850001" not in str(refused.value)


async def test_a_new_extract_rechecks_the_registrations_waiting_for_a_decision(store, tmp_path):
    from bot.programmes import parse_programmes
    from models.dtsen import recheck_waiting
    from tests.test_enrolment_io import ROOT, add_workers, worker_row

    programmes = parse_programmes((ROOT / "programmes.toml").read_text())
    waiting = {"status": "waiting_verification", "coverage_start": None, "coverage_end": None,
               "dtsen_ok": True}
    await add_workers(store, worker_row(1, nik="1371011708850001", **waiting),   # desil 2
                      worker_row(3, nik="1371011708850003", **waiting),          # desil 5
                      worker_row(4, nik="1371011708850004", **waiting),          # not in it
                      worker_row(5, nik="1371011708850005", **(waiting | {"dtsen_ok": False})),
                      worker_row(6, nik="1371011708850006", dtsen_ok=True))       # enrolled
    path = tmp_path / "dtsen.csv"
    path.write_text(GOOD)
    await run(store, path)
    found = await recheck_waiting(store, KEY, programmes)
    assert (found.waiting, found.eligible, found.above, found.missing, found.unchecked) == (
        4, 1, 1, 1, 1)
