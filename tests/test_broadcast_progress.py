"""A broadcast started in the chat, on SQLite and PostgreSQL, against the fake Bot API: stored
when the admin confirms, delivered, its progress shown to the admin in one message edited in
place (the first report and the last where a channel cannot edit), and stopped with
/batalsiaran: what was not sent is never sent."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.engine import Engine
from bot.messages import Inbound, Later, Rendered, StartBroadcast
from bot.render import Renderer
from bot.rules import Rules
from handlers.broadcasts import BroadcastDelivery, ProgressReports
from handlers.conversations import Conversations
from handlers.telegram import TelegramChannel
from models.broadcasts import CANCELLED, DONE, Broadcasts
from models.long_work import do_later
from models.schema import staff_action
from models.staff import StaffDirectory
from models.store import Store
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_e2e import START_TIMEOUT_S, bot_process, environment, run_main, until_polling
from tests.test_enrolment_io import add_workers, worker_row
from tests.test_telegram import Step, walk

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 10:00 in Jakarta
ADMIN = 5001
MEETING = "Rapat Kepatuhan hari Senin 15 Desember pukul 09.00 di Kantor Wali Kota."
RULES = Rules(quiet_hours=None)


class Running:
    """The bot's pieces over one store and the fake Bot API, with the clock stopped."""

    def __init__(self, store, catalogs, tg: FakeTelegram):
        self.conversations = Conversations(store, Engine(catalogs, RULES), Renderer(catalogs),
                                           clock=lambda: NOW)
        self.channel = TelegramChannel(TOKEN, tg.base_url, self.conversations)
        self.conversations.add_channel("telegram", self.channel)
        self.broadcasts = Broadcasts(store)
        self.delivery = BroadcastDelivery(self.broadcasts, self.conversations.renderer,
                                          self.conversations.senders, clock=lambda: NOW,
                                          batch=10)
        self.reports = ProgressReports(self.broadcasts, self.conversations.renderer,
                                       self.conversations.senders, RULES, clock=lambda: NOW,
                                       every=timedelta(0))
        self.count = 0

    async def __aenter__(self) -> "Running":
        await self.channel.bot.initialize()
        await self.conversations.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.conversations.stop()
        await self.channel.close()

    async def say(self, *texts: str) -> None:
        """As a person writes: each message after the answer to the one before."""
        for text in texts:
            self.count += 1
            await self.conversations.submit([Inbound("telegram", str(ADMIN), f"m{self.count}",
                                                     text=text)])
            await self.conversations.idle()


async def test_a_broadcast_from_the_chat_is_sent_and_its_progress_edited_in_place(
        store, catalogs):
    await add_workers(store, *(worker_row(n) for n in range(1, 26)))
    await StaffDirectory(store).add("telegram", str(ADMIN), "admin", "Ani", "cli:ops", NOW)
    async with FakeTelegram() as tg, Running(store, catalogs, tg) as bot:
        await bot.say("/siaran", MEETING, "lewati", "lanjut")
        assert "Penerima: 25" in tg.replies(ADMIN)[-1].text
        assert await bot.broadcasts.progress(1) is None  # not before confirming
        await bot.say("kirim")
        assert "mulai dikirim ke 25 penerima" in tg.replies(ADMIN)[-1].text

        assert await bot.reports.run_once() == 1
        report = tg.replies(ADMIN)[-1]
        assert report.text.startswith("📢 Siaran #1: 0 terkirim, 0 gagal, 25 menunggu")
        assert "/batalsiaran 1" in report.text
        await bot.delivery.run_once()
        assert await bot.reports.run_once() == 1
        assert tg.replies(ADMIN)[-1] is report  # the same message, edited
        assert report.text.startswith("📢 Siaran #1: 10 terkirim") and report.edits == 1
        await bot.delivery.run_until_idle()
        await bot.reports.run_once()
        assert report.text == ("✅ Siaran #1 selesai: 25 terkirim, 0 gagal, 0 dilewati "
                               "(sudah minta berhenti).")
        assert await bot.reports.run_once() == 0  # the last word is said once
        assert report.edits == 2
    assert all(len(tg.replies(1000 + n)) == 1 for n in range(1, 26))
    assert MEETING in tg.replies(1001)[0].text
    async with store.engine.connect() as conn:
        [(actor, subject)] = (await conn.execute(select(
            staff_action.c.actor, staff_action.c.subject).where(
            staff_action.c.action == "broadcast.create"))).all()
    assert (actor, subject) == (f"telegram:{ADMIN}", "1")
    assert (await bot.broadcasts.progress(1)).status == DONE


async def test_a_broadcast_stopped_from_the_chat_sends_no_more(store, catalogs):
    await add_workers(store, *(worker_row(n) for n in range(1, 31)))
    await StaffDirectory(store).add("telegram", str(ADMIN), "admin", "Ani", "cli:ops", NOW)
    async with FakeTelegram() as tg, Running(store, catalogs, tg) as bot:
        await bot.say("/siaran", MEETING, "lewati", "lanjut", "kirim")
        await bot.delivery.run_once()
        await bot.say("/batalsiaran 1")
        assert "20 pesan yang belum terkirim tidak akan dikirim" in tg.replies(ADMIN)[-1].text
        await bot.delivery.run_until_idle()
        await bot.reports.run_once()
        assert tg.replies(ADMIN)[-1].text == (
            "⛔ Siaran #1 dihentikan: 10 terkirim, 20 tidak dikirim.")
        await bot.say("/batalsiaran 1")
        assert "sudah selesai atau dihentikan" in tg.replies(ADMIN)[-1].text
    progress = await Broadcasts(store).progress(1)
    assert (progress.status, progress.sent, progress.cancelled) == (CANCELLED, 10, 20)
    assert sum(len(tg.replies(1000 + n)) for n in range(1, 31)) == 10


async def test_a_channel_that_cannot_edit_gets_the_first_report_and_the_last(store, catalogs):
    await add_workers(store, *(worker_row(n) for n in range(1, 4)))
    broadcasts = Broadcasts(store)
    work = StartBroadcast({}, MEETING, None, None, "whatsapp:6281200000009", "en")
    assert await do_later(store, "whatsapp", "6281200000009", Later("broadcast", "t1", work),
                          NOW)
    sent: list[tuple[str, Rendered]] = []

    class WhatsApp:
        async def send(self, chat_id, message):
            sent.append((chat_id, message))

    class Telegram:
        async def send(self, chat_id, message):
            pass

    senders = {"whatsapp": WhatsApp(), "telegram": Telegram()}
    reports = ProgressReports(broadcasts, Renderer(catalogs), senders, RULES,
                              clock=lambda: NOW, every=timedelta(0))
    delivery = BroadcastDelivery(broadcasts, Renderer(catalogs), senders,
                                 clock=lambda: NOW, batch=1)
    assert await reports.run_once() == 1
    await delivery.run_once()
    assert await reports.run_once() == 0  # no edits here: nothing until the end
    await delivery.run_until_idle()
    assert await reports.run_once() == 1
    assert [(chat, m.text.split(":")[0]) for chat, m in sent] == [
        ("6281200000009", "📢 Broadcast #1"), ("6281200000009", "✅ Broadcast #1 is done")]


async def test_a_progress_message_that_is_gone_is_sent_anew(store, catalogs):
    async with FakeTelegram() as tg, Running(store, catalogs, tg) as bot:
        first = await bot.channel.post(str(ADMIN), Rendered("📢 Siaran #1: 0 terkirim"), None)
        same = await bot.channel.post(str(ADMIN), Rendered("📢 Siaran #1: 0 terkirim"), first)
        assert same == first and tg.replies(ADMIN)[0].edits == 0  # "not modified" is no error
        again = await bot.channel.post(str(ADMIN), Rendered("📢 Siaran #1: 5 terkirim"), "999")
        assert again != first and [m.text for m in tg.replies(ADMIN)] == [
            "📢 Siaran #1: 0 terkirim", "📢 Siaran #1: 5 terkirim"]


async def test_the_running_bot_takes_a_broadcast_from_the_chat_to_the_end(tmp_path, bot_log):
    """``main.py run`` as a subprocess: an admin composes a broadcast on Telegram; every worker
    gets it once, and the admin's progress message ends, edited in place, with the counts."""
    url = f"sqlite+aiosqlite:///{tmp_path}/chat-broadcast.db"
    async with FakeTelegram() as tg:
        env = environment(DATABASE_URL=url, TELEGRAM_BOT_TOKEN=TOKEN,
                          TELEGRAM_API_BASE_URL=tg.base_url, QUIET_HOURS="none",
                          TELEGRAM_RATE="20")  # 150 messages: 7.5 s, time to see progress
        assert run_main("db", "upgrade", env=env).returncode == 0
        assert run_main("staff", "add", "--telegram-id", str(ADMIN), "--role", "admin",
                        env=env).returncode == 0
        store = Store.connect(url)
        try:
            await add_workers(store, *(worker_row(n, nik=f"1371011708850{n:03d}")
                                       for n in range(1, 151)))
        finally:
            await store.close()
        async with bot_process(env, bot_log) as bot:
            await until_polling(tg, bot)
            await walk(tg, ADMIN, [Step("text", "/siaran", "Siaran baru"),
                                   Step("text", MEETING, "versi Bahasa Inggris"),
                                   Step("text", "1", "Saat ini 150 penerima"),
                                   Step("text", "1", "Penerima: 150"),
                                   Step("text", "1", "mulai dikirim ke 150 penerima")])
            report = await tg.next_reply(ADMIN, timeout=START_TIMEOUT_S)
            assert report.text.startswith("📢 Siaran #1:")
            for _ in range(int(START_TIMEOUT_S / 0.2)):
                if report.text.startswith("✅"):
                    break
                await asyncio.sleep(0.2)
        assert report.text == ("✅ Siaran #1 selesai: 150 terkirim, 0 gagal, 0 dilewati "
                               "(sudah minta berhenti).")
        assert report.edits >= 1  # the one message, brought up to date
        assert len(tg.replies(ADMIN)) == 6  # five answers and one progress message
    assert all(len(tg.replies(1000 + n)) == 1 for n in range(1, 151))
