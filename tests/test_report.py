"""The compliance meeting's figures (``main.py report``): per kecamatan, kelurahan and
occupation, with the claims of members, as a CSV and a chart image; on SQLite and PostgreSQL."""

import csv
import re
from datetime import date

from PIL import Image

from handlers.report_chart import write_chart
from models.report import report
from tests.chat import EXAMPLE_PROGRAMMES
from tests.test_claim_store import file, filing
from tests.test_enrolment_io import add_workers, nik, worker_row

PADANG = EXAMPLE_PROGRAMMES.by_id("padang")
TODAY = date(2026, 12, 3)


async def seed(store) -> None:
    await add_workers(
        store,
        worker_row(1, status="active", kpj="00000000001"),
        worker_row(2, status="active", kpj="00000000002", kelurahan="air tawar  barat"),
        worker_row(3, status="enrolled"),
        worker_row(4, status="lapsed", kecamatan="Koto Tangah", kelurahan="Lubuk Buaya",
                   occupation="nelayan"),
        worker_row(5, status="waiting_verification", kecamatan="Koto Tangah",
                   kelurahan="Lubuk Buaya", occupation="nelayan"),
        worker_row(6, status="active", programme_id="jambi", kpj="00000000006"))
    await file(store, filing(reference="JKM-2026-000001", worker_reference="LD-TEST-0001",
                             deceased_nik=nik(1), status="paid"))
    await file(store, filing(reference="JKM-2026-000002", worker_reference="LD-TEST-0004",
                             deceased_nik=nik(4)))
    await file(store, filing(reference="JKM-2026-000003", worker_reference="LD-TEST-0003",
                             deceased_nik=nik(3), status="rejected"))


def figures(line) -> tuple:
    return tuple(line.figures.values())


async def test_the_figures_add_up_by_place_and_occupation(store, tmp_path):
    await seed(store)
    found = await report(store, PADANG, TODAY)
    assert found.target == 3000
    #                        registered enrolled active lapsed filed paid
    assert figures(found.total) == (5, 1, 2, 1, 2, 1)
    assert [(x.kecamatan, x.kelurahan, figures(x)) for x in found.by_place] == [
        ("Koto Tangah", "Lubuk Buaya", (2, 0, 0, 1, 1, 0)),
        ("Padang Utara", "Air Tawar Barat", (3, 1, 2, 0, 1, 1))]  # typed twice, one place
    assert [(x.kecamatan, figures(x)) for x in found.by_kecamatan] == [
        ("Koto Tangah", (2, 0, 0, 1, 1, 0)), ("Padang Utara", (3, 1, 2, 0, 1, 1))]
    assert [(x.occupation, figures(x)) for x in found.by_occupation] == [
        ("nelayan", (2, 0, 0, 1, 1, 0)), ("ojek", (3, 1, 2, 0, 1, 1))]

    path = tmp_path / "laporan.csv"
    found.write_csv(path)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[:3] == [
        ["by", "kecamatan", "kelurahan", "occupation", "registered", "enrolled", "active",
         "lapsed", "claims_filed", "claims_paid"],
        ["target", "", "", "", "3000", "", "", "", "", ""],
        ["total", "", "", "", "5", "1", "2", "1", "2", "1"]]
    assert [r[0] for r in rows[3:]] == ["kecamatan"] * 2 + ["kelurahan"] * 2 + ["occupation"] * 2

    chart = tmp_path / "laporan.png"
    write_chart(found, chart)
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.width == 1600 and image.height > 300
        colours = {colour for _, colour in image.getcolors(1_000_000)}
    assert (21, 128, 61) in colours and (217, 119, 6) in colours  # covered and lapsed bars


async def test_a_universal_programme_without_members_still_reports(store, tmp_path):
    found = await report(store, EXAMPLE_PROGRAMMES.by_id("padang-panjang"), TODAY)
    assert (found.target, found.target_text, figures(found.total)) == (
        None, "universal", (0,) * 6)
    chart = tmp_path / "kosong.png"
    write_chart(found, chart)
    assert chart.stat().st_size > 0


def test_report_from_the_command_line(tmp_path):
    import asyncio

    from models.store import Store
    from tests.test_cli_enrolment import lindungi
    from tests.test_e2e import environment

    url = f"sqlite+aiosqlite:///{tmp_path}/lindungi.db"
    env = environment(DATABASE_URL=url, EXPORTS_DIR=str(tmp_path / "exports"))
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0

    async def seeded() -> None:
        store = Store.connect(url)
        try:
            await seed(store)
        finally:
            await store.close()

    asyncio.run(seeded())
    out = tmp_path / "rapat.csv"
    done = lindungi("report", "--programme", "padang", "--output", str(out), env=env,
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.search(r": target (3000|7500); registered 5, enrolled 1, active 2, lapsed 1, "
                     r"claims filed 2, claims paid 1$", lines[0])  # the cycle of today's date
    assert lines[1:] == [f"by kecamatan, kelurahan and occupation: {out}",
                         f"chart: {out.with_suffix('.png')}"]
    with Image.open(out.with_suffix(".png")) as image:
        assert image.format == "PNG"
    again = lindungi("report", "--programme", "padang", "--output", str(out), env=env,
                     cwd=tmp_path)
    assert again.returncode == 1 and "already exists: not overwritten" in again.stderr
