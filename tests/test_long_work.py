"""Long work a chat asks for (a broadcast's count and preview, storing its recipients) runs
after the step's transaction, in its own (``models.long_work``), on SQLite and PostgreSQL:
other chats are answered while it runs, staff writing meanwhile are told to wait, work asked
again is done once, work lost with a stopped process is asked again by the next message, and
work that keeps failing is answered so."""

import asyncio

from sqlalchemy import func, select

from bot.messages import Inbound
from models import long_work
from models.broadcasts import broadcast
from models.broadcasts import recipient as broadcast_recipient
from models.staff import StaffDirectory
from tests.fakes.telegram_api import FakeTelegram
from tests.test_broadcast_progress import ADMIN, MEETING, NOW, Running
from tests.test_enrolment_io import add_workers, worker_row

WORKER = 6001
WAIT = "Sebentar, penerima sedang dihitung"


class Gate:
    """Holds every long work in its counting until opened (as a count of 100,000 workers
    takes long), counting those that came to it."""

    def __init__(self, monkeypatch, fail: bool = False):
        self.open = asyncio.Event()
        self.came = asyncio.Condition()
        self.count = 0
        self.fail = fail
        real = long_work.recipients

        async def gated(*args):
            async with self.came:
                self.count += 1
                self.came.notify_all()
            await self.open.wait()
            if self.fail:
                raise RuntimeError("the database is busy")
            return await real(*args)

        monkeypatch.setattr(long_work, "recipients", gated)

    async def reached(self, count: int) -> None:
        async with asyncio.timeout(5), self.came:
            await self.came.wait_for(lambda: self.count >= count)


async def admin_with_workers(store, count: int = 25) -> None:
    await add_workers(store, *(worker_row(n) for n in range(1, count + 1)))
    await StaffDirectory(store).add("telegram", str(ADMIN), "admin", "Ani", "cli:ops", NOW)


async def send(bot: Running, chat_id: int, text: str) -> None:
    """One message, returning once its replies are sent (not waiting for long work)."""
    bot.count += 1
    await bot.conversations.submit([Inbound("telegram", str(chat_id), f"m{bot.count}",
                                            text=text)])
    await bot.conversations.delivered(f"telegram:{chat_id}")


def texts(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [m.text for m in tg.replies(chat_id)]


async def stored_broadcasts(store) -> tuple[int, int]:
    async with store.engine.connect() as conn:
        return (await conn.scalar(select(func.count()).select_from(broadcast)),
                await conn.scalar(select(func.count()).select_from(broadcast_recipient)))


async def test_other_chats_are_answered_while_a_preview_is_counted(store, catalogs,
                                                                    monkeypatch):
    await admin_with_workers(store)
    gate = Gate(monkeypatch)
    async with FakeTelegram() as tg, Running(store, catalogs, tg) as bot:
        for text in ("/siaran", MEETING):
            await send(bot, ADMIN, text)
        await send(bot, ADMIN, "lewati")  # the audience needs counting: nothing said yet
        await gate.reached(1)
        shown = len(tg.replies(ADMIN))
        await send(bot, WORKER, "halo")  # answered while the count is held
        assert "Lindungi" in texts(tg, WORKER)[-1]
        assert len(tg.replies(ADMIN)) == shown
        gate.open.set()
        await bot.conversations.idle()
        assert "Saat ini 25 penerima" in texts(tg, ADMIN)[-1]
        assert ["➡️ Lanjut"] in tg.replies(ADMIN)[-1].rows


async def test_staff_writing_while_it_counts_are_told_to_wait_and_it_is_done_once(
        store, catalogs, monkeypatch):
    await admin_with_workers(store)
    gate = Gate(monkeypatch)
    async with FakeTelegram() as tg, Running(store, catalogs, tg) as bot:
        for text in ("/siaran", MEETING, "lewati"):
            await send(bot, ADMIN, text)
        await send(bot, ADMIN, "lanjut")  # before the count came
        assert WAIT in texts(tg, ADMIN)[-1]
        bot.count += 1
        await bot.conversations.submit([Inbound("telegram", str(ADMIN), f"m{bot.count}",
                                                kind="sticker")])
        await bot.conversations.delivered(f"telegram:{ADMIN}")
        assert WAIT in texts(tg, ADMIN)[-1]  # a sticker too: not "send text"
        await gate.reached(2)  # asked again, with the same token (the third waits its turn)
        gate.open.set()
        await bot.conversations.idle()
        prompts = [t for t in texts(tg, ADMIN) if "Saat ini 25 penerima" in t]
        assert len(prompts) == 1
        await bot.say("lanjut")
        assert "Penerima: 25" in texts(tg, ADMIN)[-1]

        gate.open.clear()
        await send(bot, ADMIN, "kirim")
        await send(bot, ADMIN, "kirim")  # pressed again: the broadcast is stored once
        assert WAIT in texts(tg, ADMIN)[-1]
        await gate.reached(5)
        gate.open.set()
        await bot.conversations.idle()
        started = [t for t in texts(tg, ADMIN) if "mulai dikirim ke 25 penerima" in t]
        assert len(started) == 1
    assert await stored_broadcasts(store) == (1, 25)


async def test_a_broadcast_confirmed_then_left_is_stored_and_told(store, catalogs,
                                                                  monkeypatch):
    """BATAL after KIRIM leaves the composer; what KIRIM asked for is still done, and said:
    /batalsiaran stops it."""
    await admin_with_workers(store, 3)
    gate = Gate(monkeypatch)
    gate.open.set()
    async with FakeTelegram() as tg, Running(store, catalogs, tg) as bot:
        await bot.say("/siaran", MEETING, "lewati", "lanjut")
        gate.open.clear()
        await send(bot, ADMIN, "kirim")
        await gate.reached(3)
        await send(bot, ADMIN, "batal")
        gate.open.set()
        await bot.conversations.idle()
        assert "mulai dikirim ke 3 penerima" in texts(tg, ADMIN)[-1]
        await bot.say("lanjut")  # the composer is gone: the menu's answer, not a preview
        assert "Penerima:" not in texts(tg, ADMIN)[-1]
    assert await stored_broadcasts(store) == (1, 3)


async def test_work_lost_with_a_stopped_process_is_asked_for_by_the_next_message(
        store, catalogs, monkeypatch):
    await admin_with_workers(store, 3)
    async with FakeTelegram() as tg, Running(store, catalogs, tg) as bot:
        conversations = bot.conversations
        start_later = conversations._start_later
        conversations._start_later = conversations._later.clear  # stopped after the commit
        await bot.say("/siaran", MEETING, "lewati")
        assert "Lewati" in texts(tg, ADMIN)[-1]  # the count never came
        conversations._start_later = start_later
        await bot.say("lanjut")
        assert WAIT in texts(tg, ADMIN)[-2]
        assert "Saat ini 3 penerima" in texts(tg, ADMIN)[-1]


async def test_work_that_keeps_failing_is_answered_and_stores_nothing(store, catalogs,
                                                                       monkeypatch):
    await admin_with_workers(store, 3)
    gate = Gate(monkeypatch)
    gate.open.set()
    async with FakeTelegram() as tg, Running(store, catalogs, tg) as bot:
        await bot.say("/siaran", MEETING, "lewati", "lanjut")
        gate.fail = True
        await bot.say("kirim")
        assert texts(tg, ADMIN)[-1].startswith("Maaf, penerima belum bisa dihitung")
        assert ["➡️ Lanjut"] in tg.replies(ADMIN)[-1].rows
        gate.fail = False
        await bot.say("lanjut")
        assert "Penerima: 3" in texts(tg, ADMIN)[-1]
    assert await stored_broadcasts(store) == (0, 0)
