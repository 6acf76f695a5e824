"""Programme places on SQLite and PostgreSQL: never more enrolled than the quota, however many
confirm at once and from however many processes; the waiting list's order; freed places
given to the first in line; staff decisions and their notices; leases on the outbox."""

import asyncio
from datetime import date, timedelta
from itertools import count

import pytest
from sqlalchemy import func, insert, select, update

from bot.messages import ChangeStatus, Rendered
from models.dtsen import keyed_hash
from models.schema import NoPlace, StaleChange, outbox, place, staff_action, worker
from models.staff import StaffDirectory
from models.tables import DtsenEntry
from tests.chat import town_programme
from tests.test_pipeline import ANSWERS, NOW, Pipeline, nik_for
from tests.test_store import registration

KEY = b"d" * 32


async def in_dtsen(store, niks, desil=2) -> None:
    store.dtsen_key = KEY
    async with store.transaction() as tx:
        await tx.conn.execute(insert(DtsenEntry.__table__), [
            {"nik_hash": keyed_hash(KEY, nik), "kk_hash": keyed_hash(KEY, "k" + nik),
             "desil": desil, "address": "Padang", "updated_at": NOW} for nik in niks])


async def statuses(store) -> dict[str, str]:
    async with store.engine.connect() as conn:
        return dict((await conn.execute(select(worker.c.nik, worker.c.status))).all())


async def taken(store, programme_id="kota-kecil") -> int:
    async with store.engine.connect() as conn:
        return await conn.scalar(select(place.c.taken).where(
            place.c.programme_id == programme_id))


async def test_many_confirming_at_once_never_pass_the_quota(store, catalogs):
    """Twelve workers in three processes press "save" at the same moment for three places."""
    chats = range(1, 13)
    await in_dtsen(store, [nik_for(chat) for chat in chats])
    processes = [Pipeline(store, catalogs, programmes=town_programme(3), prefix=f"P{n:03d}")
                 for n in range(3)]
    for n, p in enumerate(processes):
        p.ids = count(n * 10_000)
        await p.conversations.start()
    mine = {chat: processes[chat % 3] for chat in chats}
    for answer in ANSWERS[:-1]:
        await asyncio.gather(*(mine[chat].conversations.submit(
            [mine[chat].message(chat, answer or nik_for(chat))]) for chat in chats))
    await asyncio.gather(*(mine[chat].conversations.submit([mine[chat].message(chat, "1")])
                           for chat in chats))
    for p in processes:
        await p.conversations.stop()
    found = await statuses(store)
    assert sorted(found.values()) == ["enrolled"] * 3 + ["waiting_list"] * 9
    assert await taken(store) == 3
    positions = []
    async with store.transaction() as tx:
        for nik, status in found.items():
            if status == "waiting_list":
                positions.append(await tx.waiting_position(await tx.worker_by_nik(nik)))
    assert sorted(positions) == list(range(1, 10))
    told = [mine[c].sender.texts(str(c))[-1] for c in chats]
    assert sum("disetujui" in text for text in told) == 3
    assert sorted(int(text.split("daftar tunggu nomor ")[1].split(".")[0])
                  for text in told if "daftar tunggu" in text) == list(range(1, 10))


async def test_a_place_beyond_the_quota_is_refused(store):
    async with store.transaction() as tx:
        assert await tx.free_places("kota-kecil", 1) == 1
        await tx.register_worker(registration(status="enrolled", programme_id="kota-kecil"),
                                 "telegram", "telegram:1", NOW)
        assert await tx.free_places("kota-kecil", 1) == 0
        with pytest.raises(NoPlace):
            await tx.take_place("kota-kecil")
    with pytest.raises(StaleChange):
        async with store.transaction() as tx:
            await tx.change_status(ChangeStatus("LD-AAAA-AAAA", "waiting_list", "enrolled"),
                                   NOW)
    assert await taken(store) == 1


async def test_a_staff_decision_reaches_the_worker_with_a_record(store, catalogs):
    p = Pipeline(store, catalogs, programmes=town_programme(5, "staff"))
    await StaffDirectory(store).add("telegram", "9001", "verifier", "Ani", "cli:test", NOW)
    await p.conversations.start()
    await p.say(1, *[answer or nik_for(1) for answer in ANSWERS])
    assert "petugas memeriksa data Anda" in p.sender.texts("1")[-1]
    await p.say(9001, "/tinjau")
    assert "LD-TEST-0001: BUDI SANTOSO, NIK 1371********0001" in p.sender.texts("9001")[-1]
    assert nik_for(1) not in p.sender.texts("9001")[-1]
    await p.say(9001, "/setujui LD-TEST-0001")
    await p.conversations.stop()
    assert "Kabar baik, BUDI SANTOSO" in p.sender.texts("1")[-1]
    assert "disetujui dan terdaftar" in p.sender.texts("9001")[-1]
    assert await statuses(store) == {nik_for(1): "enrolled"}
    assert await taken(store) == 1
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(outbox.c.delivered))).scalars().all() == [True]
        actions = (await conn.execute(select(staff_action.c.actor, staff_action.c.action,
                                             staff_action.c.subject)
                                      .order_by(staff_action.c.id))).all()
    assert actions[-1] == ("telegram:9001", "worker.enrolled", "LD-TEST-0001")


async def test_notices_from_another_process_and_lapsed_leases_are_sent(store, catalogs):
    message = [Rendered("Kartu Anda sudah jadi")]
    async with store.transaction() as tx:
        tx.queue_notice("telegram", "telegram:5", message, NOW, leased=False)
        tx.queue_notice("telegram", "telegram:6", message, NOW)  # a process died sending it
    p = Pipeline(store, catalogs)
    await p.conversations.start()
    await p.conversations.idle()
    assert p.sender.texts("5") == ["Kartu Anda sudah jadi"] and p.sender.texts("6") == []
    p.now = NOW + timedelta(minutes=6)
    assert await p.conversations.deliver_notices() == 1
    await p.conversations.idle()
    assert p.sender.texts("6") == ["Kartu Anda sudah jadi"]
    assert await p.conversations.deliver_notices() == 0
    await p.conversations.stop()
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(outbox.c.replies))).scalars().all() == ["[]"] * 2
    assert await store.forget_journal(NOW + timedelta(days=1)) == 2


async def test_the_sweep_lapses_ended_cover_and_fills_free_places(store, catalogs):
    async with store.transaction() as tx:
        await tx.free_places("kota-kecil", 10)
        await tx.register_worker(registration(
            status="enrolled", programme_id="kota-kecil", coverage_start=date(2025, 1, 1),
            coverage_end=date(2025, 12, 31)), "telegram", "telegram:1", NOW)
        for n in (2, 3, 4):
            await tx.register_worker(registration(
                reference=f"LD-WAIT-000{n}", nik=nik_for(n), status="waiting_list",
                programme_id="kota-kecil"), "telegram", f"telegram:{n}",
                NOW + timedelta(seconds=n))
        await tx.conn.execute(update(place).values(taken=2))  # as if one more were enrolled
    p = Pipeline(store, catalogs, programmes=town_programme(3))
    await p.conversations.start()
    await p.conversations.sweep()
    await p.conversations.idle()
    await p.conversations.stop()
    found = await statuses(store)
    assert found == {"1371011708850001": "lapsed", nik_for(2): "enrolled",
                     nik_for(3): "enrolled", nik_for(4): "waiting_list"}
    assert await taken(store) == 3
    assert "Ada tempat untuk Anda" in p.sender.texts("2")[0]
    assert p.sender.texts("4") == []
    again = Pipeline(store, catalogs, programmes=town_programme(3))  # restarted: told once
    await again.conversations.start()
    await again.conversations.sweep()
    await again.conversations.idle()
    await again.conversations.stop()
    assert again.sender.texts("2") == again.sender.texts("3") == again.sender.texts("4") == []
    async with store.transaction() as tx:
        last = await tx.worker_by_nik(nik_for(4))
        assert await tx.waiting_position(last) == 1
        assert (await tx.worker_by_nik(nik_for(2))).coverage_end == date(2026, 12, 31)


async def test_the_waiting_list_keeps_arrival_order(store):
    """Positions come from tickets, not from counting the line: workers leaving it from the
    front (enrolled) or from the middle (rejected) move everyone behind them up."""
    async with store.transaction() as tx:
        for n in (5, 3, 4, 6, 7):
            await tx.register_worker(registration(
                reference=f"LD-WAIT-000{n}", nik=nik_for(n), status="waiting_list",
                programme_id="kota-kecil"), "telegram", f"telegram:{n}", NOW)

    async def positions() -> dict[str, int]:
        async with store.transaction() as tx:
            line = await tx.first_waiting("kota-kecil", 10)
            assert await tx.waiting_count("kota-kecil") == len(line)
            return {w.reference[-1]: await tx.waiting_position(w) for w in line}

    assert await positions() == {"5": 1, "3": 2, "4": 3, "6": 4, "7": 5}
    async with store.transaction() as tx:
        await tx.free_places("kota-kecil", 10)
        await tx.change_status(ChangeStatus("LD-WAIT-0004", "waiting_list", "rejected",
                                            reason="pindah"), NOW)
        await tx.change_status(ChangeStatus("LD-WAIT-0005", "waiting_list", "enrolled"), NOW)
    assert await positions() == {"3": 1, "6": 2, "7": 3}
    async with store.transaction() as tx:
        await tx.register_worker(registration(
            reference="LD-WAIT-0008", nik=nik_for(8), status="waiting_list",
            programme_id="kota-kecil"), "telegram", "telegram:8", NOW)
        await tx.free_places("kota-kecil", 10)
        await tx.change_status(ChangeStatus("LD-WAIT-0003", "waiting_list", "enrolled"), NOW)
        await tx.change_status(ChangeStatus("LD-WAIT-0006", "waiting_list", "rejected"), NOW)
    assert await positions() == {"7": 1, "8": 2}


async def test_the_card_key_is_made_once(store):
    first = await store.secret("card")
    assert len(first) == 32 and await store.secret("card") == first
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(outbox)) == 0
