"""Reminders that schedule themselves, on SQLite and PostgreSQL, with the clock in the test's
hands: coverage ending 30 and 7 days before, claim documents missing 3 and 7 days after the
claim last changed; each once per worker (or claim), cycle and occasion, whatever restarts or
processes come between; delivered in the reader's language with their own values."""

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update

from bot import claims
from bot.i18n import format_value
from bot.messages import AddDocuments, OptOut, Rendered
from bot.quiet_hours import WIB
from bot.render import Renderer
from handlers.broadcasts import BroadcastDelivery
from models.broadcasts import Broadcasts, broadcast, recipient
from models.reminders import COVERAGE, DOCUMENTS, ReminderDays, Reminders
from models.schema import worker
from models.store import Store
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_claim_store import document, file, filing
from tests.test_e2e import START_TIMEOUT_S, bot_process, environment, run_main, until_polling
from tests.test_enrolment_io import add_workers, worker_row

END = date(2026, 12, 31)


def at(day: date, hour: int = 2) -> datetime:
    """That Jakarta day at 09:00 (02:00 UTC)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


class Inbox:
    """A channel that keeps what it was sent."""

    def __init__(self):
        self.sent: list[tuple[str, Rendered]] = []

    async def send(self, chat_id: str, message: Rendered) -> None:
        self.sent.append((chat_id, message))


async def deliver(store, catalogs, now: datetime) -> list[tuple[str, Rendered]]:
    inbox = Inbox()
    await BroadcastDelivery(Broadcasts(store), Renderer(catalogs), {"telegram": inbox},
                            clock=lambda: now).run_until_idle()
    return inbox.sent


async def recipients_of(store) -> list[tuple[str, str, str]]:
    """(broadcast's reminder, subject, state) of every reminder recipient, in order."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(broadcast.c.reminder, recipient.c.subject, recipient.c.state)
            .join(broadcast, broadcast.c.id == recipient.c.broadcast_id)
            .order_by(recipient.c.id))
        return [tuple(r) for r in rows]


async def test_coverage_ending_is_sent_30_and_7_days_before_once_each(store, catalogs):
    await add_workers(store, worker_row(1, status="active", kpj="12345678901"),
                      worker_row(2, status="active", locale="en"),
                      worker_row(3, status="enrolled", coverage_end=date(2027, 1, 31)),
                      worker_row(4, status="lapsed", coverage_end=date(2026, 12, 20)),
                      worker_row(5, status="waiting_list", coverage_end=None))
    reminders = Reminders(store)
    assert await reminders.run(at(date(2026, 11, 30))) == {}  # 31 days before: not yet
    assert await reminders.run(at(date(2026, 12, 1))) == {(COVERAGE, 30): 2}
    sent = await deliver(store, catalogs, at(date(2026, 12, 1)))
    texts = {chat: message.text for chat, message in sent}
    assert "berakhir pada 31 Desember 2026" in texts["1001"]
    assert "LD-TEST-0001" in texts["1001"] and "PEKERJA 1" in texts["1001"]
    assert "ends on 31 December 2026" in texts["1002"]
    assert {m.notice.kind for _, m in sent} == {"reminder_coverage_ending"}

    for day in (date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 23)):
        assert await Reminders(store).run(at(day)) == {}  # a new process: still once
    assert await reminders.run(at(date(2026, 12, 24))) == {(COVERAGE, 7): 2}
    assert await reminders.run(at(date(2026, 12, 30))) == {}
    assert len(await deliver(store, catalogs, at(date(2026, 12, 24)))) == 2
    # January's worker: its own 30 days (1 January), then 7 (24 January)
    assert await reminders.run(at(date(2027, 1, 1))) == {(COVERAGE, 30): 1}
    assert [(kind, subject) for kind, subject, _ in await recipients_of(store)] == [
        (COVERAGE, "LD-TEST-0001"), (COVERAGE, "LD-TEST-0002"),
        (COVERAGE, "LD-TEST-0001"), (COVERAGE, "LD-TEST-0002"), (COVERAGE, "LD-TEST-0003")]


async def test_a_missed_occasion_catches_up_with_the_nearest_one_only(store, catalogs):
    await add_workers(store, worker_row(1, status="active"))
    # the bot was down all December until the 27th: one reminder, the 7-day one
    assert await Reminders(store).run(at(date(2026, 12, 27))) == {(COVERAGE, 7): 1}
    assert await Reminders(store).run(at(date(2026, 12, 28))) == {}
    [(_, message)] = await deliver(store, catalogs, at(date(2026, 12, 27)))
    assert "31 Desember 2026" in message.text


async def test_renewed_cover_is_a_new_cycle_and_stop_is_respected(store, catalogs):
    await add_workers(store, worker_row(1, status="active"), worker_row(2, status="active"))
    async with store.transaction() as tx:
        await tx.opt_out(OptOut("telegram:1002", True), at(date(2026, 11, 1)))
    assert await Reminders(store).run(at(date(2026, 12, 1))) == {(COVERAGE, 30): 2}
    assert [state for *_, state in await recipients_of(store)] == ["pending", "skipped"]
    assert [chat for chat, _ in await deliver(store, catalogs, at(date(2026, 12, 1)))] == [
        "1001"]
    async with store.transaction() as tx:  # the city funds 2027: cover runs a year more
        await tx.conn.execute(update(worker).where(worker.c.reference == "LD-TEST-0001")
                              .values(coverage_end=date(2027, 12, 31)))
    assert await Reminders(store).run(at(date(2026, 12, 24))) == {(COVERAGE, 7): 1}
    assert await Reminders(store).run(at(date(2027, 12, 1))) == {(COVERAGE, 30): 1}


async def test_missing_documents_are_asked_for_3_and_7_days_after_the_claim_stalls(
        store, catalogs):
    filed = at(date(2026, 12, 1))
    await file(store, filing(documents=(document("death_certificate", 1),)), filed)
    await file(store, filing(reference="JKM-2026-000002", deceased_nik="1371011708850002",
                             status=claims.SUBMITTED), filed)  # complete: no reminder
    reminders = Reminders(store)
    assert await reminders.run(filed + timedelta(days=2, hours=23)) == {}
    assert await reminders.run(filed + timedelta(days=3)) == {(DOCUMENTS, 3): 1}
    [(chat, message)] = await deliver(store, catalogs, filed + timedelta(days=3))
    assert chat == "8001" and "JKM-2026-000001" in message.text
    assert "• Kartu Keluarga (KK)" in message.text
    assert "kematian" not in message.text  # the death certificate came with the claim
    assert message.notice.kind == "reminder_documents_missing"
    assert await reminders.run(filed + timedelta(days=5)) == {}
    assert await reminders.run(filed + timedelta(days=7)) == {(DOCUMENTS, 7): 1}
    assert await reminders.run(filed + timedelta(days=20)) == {}
    # another document comes (still incomplete): the count starts again from that day
    sent_more = filed + timedelta(days=21)
    async with store.transaction() as tx:
        await tx.add_documents(AddDocuments("JKM-2026-000001", (document("kk", 2),),
                                            claims.DOCUMENTS_INCOMPLETE,
                                            claims.DOCUMENTS_INCOMPLETE), sent_more)
    assert await reminders.run(sent_more + timedelta(days=2)) == {}
    assert await reminders.run(sent_more + timedelta(days=3)) == {(DOCUMENTS, 3): 1}


async def test_reminders_follow_the_configured_days(store):
    await add_workers(store, worker_row(1, status="active"))
    await file(store, filing(), at(date(2026, 12, 1)))
    off = Reminders(store, ReminderDays(coverage=(), documents=()))
    assert await off.run(at(date(2026, 12, 30))) == {}
    once = Reminders(store, ReminderDays(coverage=(14,), documents=(10,)))
    assert await once.run(at(date(2026, 12, 10))) == {}
    assert await once.run(at(date(2026, 12, 11))) == {(DOCUMENTS, 10): 1}
    assert await once.run(at(date(2026, 12, 16))) == {}
    assert await once.run(at(date(2026, 12, 17))) == {(COVERAGE, 14): 1}


async def test_two_processes_at_once_store_each_reminder_once(store, database_url):
    await add_workers(store, *(worker_row(n, status="active") for n in range(1, 41)))
    other = Store.connect(database_url)
    try:
        results = await asyncio.gather(
            *(Reminders(s).run(at(date(2026, 12, 1))) for s in (store, other, store, other)),
            return_exceptions=True)
    finally:
        await other.close()
    assert sum(r.get((COVERAGE, 30), 0) for r in results if isinstance(r, dict)) == 40
    assert len(await recipients_of(store)) == 40


async def test_the_running_bot_sends_due_reminders_once_across_restarts(tmp_path, bot_log):
    """``main.py run`` as a subprocess: its sweep finds the worker whose cover ends in ten
    days and sends the reminder; started again, it sends nothing more."""
    url = f"sqlite+aiosqlite:///{tmp_path}/reminders.db"
    ends = datetime.now(WIB).date() + timedelta(days=10)
    async with FakeTelegram() as tg:
        env = environment(DATABASE_URL=url, TELEGRAM_BOT_TOKEN=TOKEN,
                          TELEGRAM_API_BASE_URL=tg.base_url, QUIET_HOURS="none",
                          REMINDER_COVERAGE_DAYS="30,7")
        assert run_main("db", "upgrade", env=env).returncode == 0
        store = Store.connect(url)
        try:
            await add_workers(store, worker_row(1, status="active", coverage_end=ends),
                              worker_row(2, status="active", coverage_end=ends + timedelta(
                                  days=60)))
        finally:
            await store.close()
        async with bot_process(env, bot_log) as bot:
            await until_polling(tg, bot)
            reminder = await tg.next_reply(1001, timeout=START_TIMEOUT_S)
        assert format_value(ends, "id") in reminder.text
        async with bot_process(env, bot_log) as bot:
            await until_polling(tg, bot)
            await asyncio.sleep(3.0)  # a sweep, and the delivery's polls, ran meanwhile
        assert len(tg.replies(1001)) == 1 and tg.replies(1002) == []
