"""The funder's statement (``main.py billing``): Sijunjung's 2025 budget reproduced from its
members, deaths and ended cover billed to their month, the forecast, the CSV; on SQLite and
PostgreSQL."""

import csv
import stat
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert

from bot.billing import Member, months, rupiah, whole_months
from models import billing
from models.schema import membership
from tests.chat import EXAMPLE_PROGRAMMES
from tests.test_claim_store import file, filing

SIJUNJUNG = EXAMPLE_PROGRAMMES.by_id("sijunjung")
NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
SINCE_2022 = 16_590 - 5_174
ADDED_2025 = {1: 438, 2: 738, 3: 739, 4: 739, 5: 739, 6: 739, 7: 1_042}
"""The 5,174 added January to July 2025, by the month they started (the report gives the total;
this spread is one that gives its budget)."""


def row(n: int, starts_on: date, ends_on: date, cycle: str = "2025", state: str = "confirmed",
        funder: str | None = "APBD Kabupaten Sijunjung") -> dict:
    return {"worker_reference": f"LD-SJJ-{n:06d}", "programme_id": "sijunjung",
            "cycle": cycle, "funder": funder, "starts_on": starts_on, "ends_on": ends_on,
            "state": state, "source": "import", "position": None, "reason": None,
            "created_at": NOW, "changed_at": NOW}


async def add(store, rows: list[dict]) -> None:
    async with store.transaction() as tx:
        for start in range(0, len(rows), 5_000):
            await tx.conn.execute(insert(membership), rows[start:start + 5_000])


async def test_sijunjungs_2025_budget_is_its_members_months(store, tmp_path):
    rows = [row(n, date(2025, 1, 1), date(2025, 12, 31)) for n in range(SINCE_2022)]
    for month, added in ADDED_2025.items():
        rows += [row(len(rows) + n, date(2025, month, 15), date(2025, 12, 31))
                 for n in range(added)]
    assert len(rows) == 16_590
    await add(store, rows)

    december = await billing.statement(store, SIJUNJUNG, date(2025, 12, 1))
    assert december.member_months() == 181_744
    assert december.premium() == 3_053_299_200 == december.cycle.budget
    july = await billing.statement(store, SIJUNJUNG, date(2025, 7, 1))
    assert july.member_months() == SINCE_2022 * 7 + sum(
        n * (8 - m) for m, n in ADDED_2025.items()) == 98_794
    assert july.premium(forecast=True) == 3_053_299_200
    assert july.summary() == [
        "Perlindungan Pekerja Rentan Ekstrem Kabupaten Sijunjung: cycle 2025 (DPA "
        "Disnakertrans Kabupaten Sijunjung 2025 (confirm))",
        "statement through July 2025; cycle 01 Jan 2025 to 31 Dec 2025; Rp16.800 a member "
        "a month",
        "  APBD Kabupaten Sijunjung: 16,590 members in July, 98,794 member-months to date = "
        "Rp1.659.739.200",
        "premium to date: 98,794 member-months = Rp1.659.739.200",
        "forecast to 31 Dec 2025 (members now covered staying so): 181,744 member-months = "
        "Rp3.053.299.200",
        "budget Rp3.053.299.200: left Rp1.393.560.000 (54.4% used); after the forecast Rp0"]

    path = tmp_path / "tagihan.csv"
    july.write_csv(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with path.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [(r["month"], r["members"], r["kind"]) for r in lines[5:8]] == [
        ("2025-06", "15548", "due"), ("2025-07", "16590", "due"), ("2025-08", "16590",
                                                                    "forecast")]
    assert sum(int(r["premium"]) for r in lines) == 3_053_299_200
    with pytest.raises(FileExistsError):
        july.write_csv(path)


async def test_deaths_ended_cover_and_other_funders_are_billed_as_they_were(store):
    await add(store, [
        row(1, date(2026, 1, 1), date(2026, 12, 31), "2026"),
        row(2, date(2026, 1, 1), date(2026, 5, 20), "2026", state="ended"),
        row(3, date(2026, 1, 1), date(2026, 12, 31), "2026", state="waiting"),
        row(4, date(2026, 1, 1), date(2026, 12, 31), "2026", state="review"),
        row(5, date(2026, 4, 2), date(2026, 12, 31), "2026", funder=None),
        row(6, date(2026, 1, 1), date(2026, 12, 31), "2026", funder="CSR Bank Nagari"),
        row(7, date(2026, 1, 1), date(2026, 12, 31), "2026")])
    await file(store, filing(worker_reference="LD-SJJ-000007", deceased_nik="1303011708850007",
                             date_of_death=date(2026, 3, 10)))
    june = await billing.statement(store, SIJUNJUNG, date(2026, 6, 1))
    apbd, csr = june.bills["APBD Kabupaten Sijunjung"], june.bills["CSR Bank Nagari"]
    # 1: Jan-Jun; 2: Jan-May (ended 20 May); 5 (no funder kept: the cycle's): Apr-Jun;
    # 7: Jan-Mar (died 10 March); 3 and 4 are not members of the cycle
    assert apbd.member_months(date(2026, 1, 1), date(2026, 6, 1)) == 6 + 5 + 3 + 3
    assert csr.member_months(date(2026, 1, 1), date(2026, 6, 1)) == 6
    assert june.member_months(forecast=True) == 12 + 5 + 9 + 3 + 12


@pytest.mark.parametrize("member, billed", [
    (Member("x", date(2026, 1, 31), date(2026, 2, 1)), ["2026-01", "2026-02"]),
    (Member("x", date(2025, 6, 1), date(2026, 12, 31)), [f"2026-{m:02d}" for m in range(1, 13)]),
    (Member("x", date(2026, 3, 1), date(2026, 12, 31), died_on=date(2026, 2, 27)), []),
    (Member("x", date(2026, 3, 1), date(2026, 3, 1)), ["2026-03"]),
])
def test_a_month_is_billed_for_any_day_covered_in_it(member, billed):
    assert [f"{m:%Y-%m}" for m in member.billed(date(2026, 1, 1), date(2026, 12, 31))] == billed


@pytest.mark.parametrize("first, last, months", [
    (date(2026, 1, 1), date(2026, 12, 31), 12), (date(2026, 1, 15), date(2026, 3, 14), 2),
    (date(2026, 1, 15), date(2026, 3, 13), 1), (date(2026, 1, 31), date(2026, 2, 27), 0),
    (date(2026, 5, 2), date(2026, 5, 1), 0)])
def test_whole_months(first, last, months):
    assert whole_months(first, last) == months


def test_months_and_rupiah():
    assert len(months(date(2025, 11, 30), date(2026, 2, 1))) == 4
    assert rupiah(3_053_299_200) == "Rp3.053.299.200" and rupiah(0) == "Rp0"


async def test_a_month_without_a_cycle_is_refused(store):
    with pytest.raises(billing.CannotBill, match="no cycle of sijunjung runs in 2024-12"):
        await billing.statement(store, SIJUNJUNG, date(2024, 12, 1))


def test_billing_from_the_command_line(tmp_path):
    import asyncio

    from models.store import Store
    from tests.test_cli_enrolment import lindungi
    from tests.test_e2e import environment

    url = f"sqlite+aiosqlite:///{tmp_path}/lindungi.db"
    env = environment(DATABASE_URL=url, EXPORTS_DIR=str(tmp_path / "exports"))
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0

    async def seed() -> None:
        store = Store.connect(url)
        try:
            await add(store, [{**row(n, date(2026, 1, 1), date(2026, 12, 31), "2026"),
                               "programme_id": "padang"} for n in range(3)])
        finally:
            await store.close()

    asyncio.run(seed())
    done = lindungi("billing", "--programme", "padang", "--month", "2026-11", env=env,
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "exports" / "billing-padang-2026-2026-11.csv"
    assert ("budget Rp604.800.000: left Rp604.245.600 (0.1% used); after the forecast "
            "Rp604.195.200") in done.stdout.splitlines()
    assert "premium to date: 33 member-months = Rp554.400" in done.stdout
    assert done.stdout.splitlines()[-1] == f"month by month: {path}"
    assert len(path.read_text().splitlines()) == 13
    again = lindungi("billing", "--programme", "padang", "--month", "2026-11", env=env,
                     cwd=tmp_path)
    assert again.returncode == 1 and "already exists: not overwritten" in again.stderr
    wrong = lindungi("billing", "--programme", "padang", "--month", "2026-13", env=env,
                     cwd=tmp_path)
    assert wrong.returncode == 2 and "write the month as YYYY-MM, e.g. 2026-11" in wrong.stderr
    none = lindungi("billing", "--programme", "padang", "--month", "2030-01", env=env,
                    cwd=tmp_path)
    assert none.returncode == 1 and "no cycle of padang runs in 2030-01" in none.stderr


async def test_the_scholarships_three_years_count_every_cycle_of_the_history(store):
    """Memberships across cycles and funders, with a gap: the months add up (the cover of
    the current cycle alone would give at most 12)."""
    await add(store, [
        row(1, date(2023, 1, 1), date(2023, 12, 31), "2023", funder="CSR Bank Nagari"),
        row(1, date(2024, 1, 1), date(2024, 12, 31), "2024"),
        row(1, date(2026, 1, 1), date(2026, 12, 31), "2026"),
        row(1, date(2025, 1, 1), date(2025, 12, 31), "2025", state="waiting"),  # not covered
        row(2, date(2026, 6, 1), date(2026, 12, 31), "2026")])
    async with store.transaction() as tx:
        assert await tx.months_covered("LD-SJJ-000001", date(2026, 11, 30)) == 35
        assert await tx.months_covered("LD-SJJ-000001", date(2026, 12, 31)) == 36
        assert await tx.months_covered("LD-SJJ-000002", date(2026, 5, 1)) is None
        assert await tx.months_covered("LD-SJJ-000009", date(2026, 5, 1)) is None
