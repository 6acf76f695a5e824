"""Programme years: members carried into the next cycle within its quota (``main.py renew``),
DTSEN re-checked, deaths and withdrawals left out, a re-run changing nothing, and the turn of
the year after it (who lapses, who joins the line, who is enrolled as places free), on SQLite
and PostgreSQL with the clock set across the year end."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from bot import enrolment, renewal
from bot.programmes import parse_programmes
from bot.render import Renderer
from models import renewal as renewals
from models.dtsen import keyed_hash
from models.effects import apply_effects
from models.reminders import Reminders
from models.schema import dtsen, membership, outbox, place, staff_action, worker
from tests.test_claim_store import file, filing
from tests.test_enrolment_io import add_workers, nik, worker_row

PROGRAMMES = parse_programmes("""
[[programme]]
id = "padang"
name = "Perlindungan Pekerja Rentan Kota Padang"
region = { codes = ["1371"], name = "Kota Padang" }
funder = "APBD Kota Padang"
branch = "BPJS Ketenagakerjaan Cabang Padang"

[[programme.cycle]]
name = "2026"
start = 2026-01-01
end = 2026-12-31
quota = 10

[[programme.cycle]]
name = "2027"
start = 2027-01-01
end = 2027-12-31
quota = 3
funder = "APBD Kota Padang 2027"
""")
PADANG = PROGRAMMES.by_id("padang")
DECEMBER = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
NEW_YEAR = datetime(2027, 1, 1, 1, 0, tzinfo=UTC)  # 08:00 in Jakarta
DTSEN_KEY = b"d" * 32
ACTOR = "cli:ani"


def member(n: int, **more) -> dict:
    """Worker ``n``, active in 2026, registered ``n`` hours after the first."""
    values = {"status": "active", "kpj": f"{n:011d}",
              "created_at": DECEMBER - timedelta(days=200) + timedelta(hours=n), **more}
    return worker_row(n, **values)


async def seed(store, *rows: dict, desil: dict[int, int] | None = None) -> None:
    """The workers, the places they hold, and the DTSEN extract of today (desil by worker
    number; every other worker at desil 2)."""
    store.dtsen_key = DTSEN_KEY
    await add_workers(store, *rows)
    numbers = [int(r["reference"][-4:]) for r in rows]
    async with store.transaction() as tx:
        holding = sum(r["status"] in enrolment.HOLDING for r in rows)
        await tx.conn.execute(insert(place).values(programme_id="padang", taken=holding,
                                                   waiting=0, tickets=0))
        await tx.conn.execute(insert(dtsen), [
            {"nik_hash": keyed_hash(DTSEN_KEY, nik(n)), "kk_hash": keyed_hash(DTSEN_KEY, str(n)),
             "desil": (desil or {}).get(n, 2), "address": "Padang", "updated_at": DECEMBER}
            for n in numbers if (desil or {}).get(n, 2) is not None])


async def workers(store) -> dict[str, tuple]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(worker.c.reference, worker.c.status,
                                         worker.c.coverage_end, worker.c.queue_ticket))
        return {r.reference[-1]: (r.status, r.coverage_end, r.queue_ticket) for r in rows}


async def memberships(store, cycle: str = "2027") -> dict[str, tuple]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(membership).where(membership.c.cycle == cycle))
        return {r.worker_reference[-1]: (r.state, r.position, r.source, r.funder) for r in rows}


async def notices(store) -> list[tuple[str, str]]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.chat_key, outbox.c.replies)
                                  .order_by(outbox.c.created_at, outbox.c.id))
        return [(r.chat_key[-1], json.loads(r.replies)[0]["text"]) for r in rows]


async def renew(store, catalogs, now=DECEMBER, keep=frozenset()) -> renewals.Plan:
    plan = await renewals.plan(store, PADANG, "2027", now.date(), keep)
    await renewals.apply(store, Renderer(catalogs), plan, ACTOR, now, "checked at home")
    return plan


def outcomes(plan: renewals.Plan) -> dict[str, tuple]:
    return {s.worker.reference[-1]: (s.result, s.position, s.changed) for s in plan.steps}


async def test_members_are_carried_within_the_quota_oldest_first_and_told(store, catalogs):
    # 1-3 fit the quota of 3; 4 left DTSEN's admitted desils; 5 died; 6 was ended by staff;
    # 7 and 8 are past the quota; 9 is on the waiting list of 2026 (not a member yet).
    await seed(store, *(member(n) for n in (1, 2, 3, 4, 5, 7, 8)),
               member(6, status="ended", status_reason="pindah"),
               worker_row(9, status="waiting_list", coverage_start=None, coverage_end=None),
               desil={4: 7})
    await file(store, filing(worker_reference="LD-TEST-0005", deceased_nik=nik(5)))

    plan = await renewals.plan(store, PADANG, "2027", DECEMBER.date())
    assert outcomes(plan) == {"1": ("carry", None, True), "2": ("carry", None, True),
                              "3": ("carry", None, True), "4": ("review", None, True),
                              "7": ("wait", 1, True), "8": ("wait", 2, True)}
    assert [s.reason for s in plan.steps if s.reason] == ["DTSEN desil 7, above the programme's 4"]
    assert (plan.confirmed, plan.dtsen_checked) == (0, True)

    await renewals.apply(store, Renderer(catalogs), plan, ACTOR, DECEMBER)
    assert await workers(store) == {
        "1": ("active", date(2027, 12, 31), None), "2": ("active", date(2027, 12, 31), None),
        "3": ("active", date(2027, 12, 31), None), "4": ("active", date(2026, 12, 31), None),
        "5": ("active", date(2026, 12, 31), None), "6": ("ended", date(2026, 12, 31), None),
        "7": ("active", date(2026, 12, 31), None), "8": ("active", date(2026, 12, 31), None),
        "9": ("waiting_list", None, None)}
    assert await memberships(store) == {
        "1": ("confirmed", None, "renewal", "APBD Kota Padang 2027"),
        "2": ("confirmed", None, "renewal", "APBD Kota Padang 2027"),
        "3": ("confirmed", None, "renewal", "APBD Kota Padang 2027"),
        "4": ("review", None, "renewal", "APBD Kota Padang 2027"),
        "7": ("waiting", 1, "renewal", "APBD Kota Padang 2027"),
        "8": ("waiting", 2, "renewal", "APBD Kota Padang 2027")}
    told = dict(await notices(store))
    assert sorted(told) == ["1", "2", "3", "4", "7", "8"]
    assert told["1"].startswith("🎉 Kabar baik, PEKERJA 1: perlindungan JKK dan JKM Anda dari "
                                "Perlindungan Pekerja Rentan Kota Padang berlanjut untuk tahun "
                                "2027, sampai 31 Desember 2027. Iurannya dibayar APBD Kota "
                                "Padang 2027.")
    assert "sudah penuh. Perlindungan Anda sekarang tetap berlaku sampai 31 Desember 2026. " \
           "Setelah itu Anda di daftar tunggu nomor 2" in told["8"]
    assert "petugas perlu memeriksa data DTSEN Anda lagi" in told["4"]
    async with store.engine.connect() as conn:
        [record] = (await conn.execute(select(staff_action).where(
            staff_action.c.action == "programme.renewed"))).all()
    assert (record.actor, record.subject, json.loads(record.detail)) == (ACTOR, "padang", {
        "cycle": "2027", "carried": 3, "waiting": 2, "review": 1, "skipped": 0, "kept": []})

    again = await renew(store, catalogs)
    assert again.changes == [] and again.confirmed == 3
    assert outcomes(again) == {"4": ("review", None, False), "7": ("wait", 1, False),
                               "8": ("wait", 2, False)}
    assert len(await notices(store)) == 6


async def test_reminders_skip_those_already_renewed(store, catalogs):
    await seed(store, member(1), member(2), desil={2: 9})
    await renew(store, catalogs)
    made = await Reminders(store).run(datetime(2026, 12, 5, 3, 0, tzinfo=UTC))
    assert made == {("coverage_ending", 30): 1}
    async with store.engine.connect() as conn:
        subjects = (await conn.execute(select(worker.c.reference).where(
            worker.c.coverage_end == date(2026, 12, 31)))).scalars().all()
    assert subjects == ["LD-TEST-0002"]  # the one kept for review is reminded; 1 is renewed


async def test_the_year_turns_the_line_forms_and_places_go_in_its_order(store, catalogs):
    await seed(store, *(member(n) for n in (1, 2, 3, 4, 5)))
    await renew(store, catalogs)                          # 1-3 carried; 4, 5 in line
    assert await store.lapse(NEW_YEAR.date(), NEW_YEAR) == 2
    assert await workers(store) == {
        "1": ("active", date(2027, 12, 31), None), "2": ("active", date(2027, 12, 31), None),
        "3": ("active", date(2027, 12, 31), None), "4": ("waiting_list", date(2026, 12, 31), 1),
        "5": ("waiting_list", date(2026, 12, 31), 2)}
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(place.c.taken, place.c.waiting))).one() == (3, 2)

    async with store.transaction() as tx:  # member 2 moves away: the place goes to 4
        await tx.change_status(enrolment_change("LD-TEST-0002"), NEW_YEAR)
        effects = await enrolment.fill_places(PADANG, tx, NEW_YEAR.date())
        await apply_effects(tx, Renderer(catalogs), effects, NEW_YEAR, send_here=False)
    states = await workers(store)
    assert (states["2"][0], states["4"], states["5"][0]) == (
        "ended", ("enrolled", date(2027, 12, 31), 1), "waiting_list")
    rows = await memberships(store)
    assert (rows["2"][0], rows["4"], rows["5"][0]) == (
        "ended", ("confirmed", None, "renewal", "APBD Kota Padang 2027"), "waiting")


def enrolment_change(reference: str):
    from bot.messages import ChangeStatus

    return ChangeStatus(reference, enrolment.ACTIVE, enrolment.ENDED, actor=ACTOR,
                        reason="pindah ke Bukittinggi")


async def test_a_late_renewal_brings_back_who_lapsed_at_the_years_end(store, catalogs):
    await seed(store, member(1), member(2, kpj=None, status="enrolled"))
    assert await store.lapse(NEW_YEAR.date(), NEW_YEAR) == 2
    later = NEW_YEAR + timedelta(days=4)
    plan = await renew(store, catalogs, now=later)
    assert outcomes(plan) == {"1": ("carry", None, True), "2": ("carry", None, True)}
    assert await workers(store) == {"1": ("active", date(2027, 12, 31), None),
                                    "2": ("enrolled", date(2027, 12, 31), None)}
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(place.c.taken)) == 2
    told = dict(await notices(store))
    assert "berlanjut untuk tahun 2027" in told["1"]


async def test_staff_keep_a_member_dtsen_no_longer_admits(store, catalogs):
    await seed(store, member(1), member(2), desil={1: None, 2: 8})
    plan = await renewals.plan(store, PADANG, "2027", DECEMBER.date())
    assert [(s.worker.reference, s.reason) for s in plan.steps if s.result == renewal.REVIEW] \
        == [("LD-TEST-0001", "no longer in the DTSEN extract"),
            ("LD-TEST-0002", "DTSEN desil 8, above the programme's 4")]
    await renew(store, catalogs, keep=frozenset({"LD-TEST-0002"}))
    assert (await memberships(store))["2"][0] == "confirmed"
    async with store.engine.connect() as conn:
        detail = json.loads(await conn.scalar(select(staff_action.c.detail).where(
            staff_action.c.action == "programme.renewed")))
    assert (detail["kept"], detail["reason"]) == (["LD-TEST-0002"], "checked at home")


async def test_a_member_who_changed_after_the_preview_is_left_for_the_next_run(store,
                                                                             catalogs):
    await seed(store, member(1), member(2))
    plan = await renewals.plan(store, PADANG, "2027", DECEMBER.date())
    async with store.transaction() as tx:
        await tx.conn.execute(update(worker).where(worker.c.reference == "LD-TEST-0002")
                              .values(status="ended"))
    done = await renewals.apply(store, Renderer(catalogs), plan, ACTOR, DECEMBER)
    assert (done.carried, done.skipped) == (1, 1)
    assert sorted(await memberships(store)) == ["1"]


@pytest.mark.parametrize("cycle, message", [
    ("2028", "padang has no cycle '2028'; its cycles are: 2026, 2027"),
    ("2026", "2026 is padang's first cycle: there is nobody to carry into it"),
])
async def test_a_renewal_that_cannot_be_made_says_why(store, cycle, message):
    with pytest.raises(renewals.CannotRenew, match=message.replace("(", r"\(")):
        await renewals.plan(store, PADANG, cycle, DECEMBER.date())


def test_renew_from_the_command_line_previews_asks_and_runs_once(tmp_path):
    """As an operator runs it: a preview and a question (no answer: nothing changes), then
    ``--yes``, then again: nothing to change."""
    import asyncio

    from tests.test_cli_enrolment import lindungi
    from tests.test_cli_enrolment import seed as seed_cli
    from tests.test_e2e import environment

    url = f"sqlite+aiosqlite:///{tmp_path}/lindungi.db"
    env = environment(DATABASE_URL=url)
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    asyncio.run(seed_cli(url, member(1), member(2, status="enrolled", kpj=None)))

    asked = lindungi("renew", "--programme", "padang", "--cycle", "2027", env=env, cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    lines = asked.stdout.splitlines()
    assert lines[0] == ("Perlindungan Pekerja Rentan Kota Padang: cycle 2026 -> 2027 "
                        "(2027-01-01 to 2027-12-31, quota 7,500, paid by APBD Kota Padang)")
    assert "to carry: 2" in lines and "  LD-TEST-0001  PEKERJA 1" in lines
    assert "DTSEN not re-checked: no extract is loaded (import-dtsen, DTSEN_HMAC_KEY)" in lines
    assert lines[-1].endswith("nothing changed")

    done = lindungi("renew", "--programme", "padang", "--cycle", "2027", "--yes", env=env,
                    cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == ("renewed into 2027: 2 carried, 0 in line, 0 for "
                                            "review; their notices go out from the running bot")
    again = lindungi("renew", "--programme", "padang", "--cycle", "2027", "--yes", env=env,
                     cwd=tmp_path)
    assert "already in 2027: 2" in again.stdout and again.stdout.splitlines()[-1].startswith(
        "nothing to change")
    wrong = lindungi("renew", "--programme", "padang", "--cycle", "2030", env=env, cwd=tmp_path)
    assert (wrong.returncode, wrong.stderr.splitlines()[-1]) == (
        1, "lindungi: padang has no cycle '2030'; its cycles are: 2025, 2026, 2027 (add it to "
           "the programmes file first)")
    keep = lindungi("renew", "--programme", "padang", "--cycle", "2027", "--keep",
                    "LD-TEST-0001", env=env, cwd=tmp_path)
    assert keep.stderr.splitlines()[-1].startswith("lindungi: --keep needs --reason")
