"""The message path over a real store (SQLite and PostgreSQL): each message handled once, in
order per chat, chats in parallel, and nothing lost when the process dies."""

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from bot.engine import Engine
from bot.messages import Inbound, Rendered
from bot.render import Renderer
from handlers.conversations import Conversations, RetryLater, Undeliverable
from main import quiet_libraries
from models.schema import conversation, inbound, worker
from models.store import Tx
from tests.chat import CARD_KEY, EXAMPLE_PROGRAMMES

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
ANSWERS = ["/start", "1", "1", "1", None, "Budi Santoso", "17-08-1985", "081234567890", "ojol",
           "Air Tawar Barat", "Padang Utara", "1", "1", "1"]
"""A whole registration; None stands for the NIK."""


class Recorder:
    def __init__(self):
        self.sent: dict[str, list[Rendered]] = defaultdict(list)

    async def send(self, chat_id: str, message: Rendered) -> None:
        await asyncio.sleep(0)
        self.sent[chat_id].append(message)

    def texts(self, chat_id: str) -> list[str]:
        return [m.text for m in self.sent[chat_id]]


class Pipeline:
    """A Conversations over the store, with a settable clock and numbered messages."""

    def __init__(self, store, catalogs, sender=None, programmes=EXAMPLE_PROGRAMMES,
                 prefix="TEST", instance="local"):
        self.now = NOW
        self.ids = count(1)
        self.sender = sender or Recorder()
        references = (f"LD-{prefix}-{n:04d}" for n in count(1))
        engine = Engine(catalogs, programmes=programmes, card_key=CARD_KEY)
        self.conversations = Conversations(store, engine, Renderer(catalogs),
                                           clock=lambda: self.now,
                                           references=lambda: next(references),
                                           instance=instance)
        self.conversations.add_channel("telegram", self.sender)
        self.whatsapp = Recorder()
        self.conversations.add_channel("whatsapp", self.whatsapp)

    def message(self, chat: int | str, text: str, external_id: str | None = None,
                channel: str = "telegram") -> Inbound:
        return Inbound(channel, str(chat), external_id or f"u{next(self.ids)}", text=text)

    async def say(self, chat: int | str, *texts: str, channel: str = "telegram") -> None:
        for text in texts:
            await self.conversations.submit([self.message(chat, text, channel=channel)])
        await self.conversations.idle()


def nik_for(chat: int) -> str:
    return f"137101170885{chat:04d}"


async def register(pipeline: Pipeline, chat: int) -> None:
    for answer in ANSWERS:
        await pipeline.conversations.submit([pipeline.message(chat, answer or nik_for(chat))])


async def count_rows(store, table) -> int:
    async with store.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


@pytest.fixture
async def pipeline(store, catalogs):
    pipeline = Pipeline(store, catalogs)
    await pipeline.conversations.start()
    yield pipeline
    await pipeline.conversations.stop()


async def test_a_registration_is_stored_with_its_conversation(pipeline, store):
    await register(pipeline, 1)
    await pipeline.conversations.idle()
    texts = pipeline.sender.texts("1")
    assert len(texts) == len(ANSWERS)
    assert "LD-TEST-0001" in texts[-1] and "Rp16.800" in texts[-1]
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(worker))).one()
        assert (row.nik, row.full_name, row.status, row.chat_key, row.channel) == (
            nik_for(1), "BUDI SANTOSO", "waiting_verification", "telegram:1", "telegram")
        states = (await conn.execute(select(conversation.c.chat_key))).scalars().all()
        undelivered = (await conn.execute(
            select(func.count()).where(inbound.c.delivered.is_(False)))).scalar_one()
    assert states == ["telegram:1"]
    assert undelivered == 0
    assert await count_rows(store, inbound) == len(ANSWERS)


async def test_a_message_delivered_twice_is_handled_once(pipeline, store):
    start = pipeline.message(1, "/start", external_id="500")
    await pipeline.conversations.submit([start])
    await pipeline.conversations.submit([start])
    await pipeline.conversations.submit([pipeline.message(1, "1", "501"),
                                         pipeline.message(1, "1", "501")])
    await pipeline.conversations.idle()
    assert len(pipeline.sender.sent["1"]) == 2
    assert await count_rows(store, inbound) == 2


async def test_quick_messages_from_one_user_are_handled_in_order(pipeline):
    await asyncio.gather(*(pipeline.conversations.submit([pipeline.message(1, text)])
                           for text in ["/start", "1", "1", "1"]))
    await pipeline.conversations.idle()
    texts = pipeline.sender.texts("1")
    assert texts[0].startswith("Halo!")
    assert texts[1].startswith("Pilih bahasa")
    assert "Persetujuan" in texts[2]
    assert texts[3].startswith("Langkah 1 dari 8")


async def test_many_users_register_at_once(pipeline, store):
    await asyncio.gather(*(register(pipeline, chat) for chat in range(1, 31)))
    await pipeline.conversations.idle()
    assert await count_rows(store, worker) == 30
    for chat in range(1, 31):
        assert "LD-TEST-" in pipeline.sender.texts(str(chat))[-1]


async def test_the_messages_of_many_chats_at_once_keep_each_chats_order(pipeline, store):
    """Twenty registrations, every message submitted at once, interleaved across chats (as a
    channel posting side by side may): more than a batch holds, so a chat's messages are split
    over batches, and are still handled, and answered, in the order they came."""
    chats = range(1, 21)
    await asyncio.gather(*(pipeline.conversations.submit(
        [pipeline.message(chat, answer or nik_for(chat))]) for answer in ANSWERS
        for chat in chats))
    await pipeline.conversations.idle()
    assert await count_rows(store, worker) == len(chats)
    for chat in chats:
        texts = pipeline.sender.texts(str(chat))
        assert len(texts) == len(ANSWERS), texts
        assert texts[0].startswith("Halo!") and texts[1].startswith("Pilih bahasa")
        assert "Persetujuan" in texts[2] and "LD-TEST-" in texts[-1]


async def test_the_same_nik_from_two_processes_is_stored_once(store, catalogs, caplog):
    """Two pipelines (as two processes would) confirm the same NIK at the same moment; the
    NIK appears in no log line, not even in the database error of the loser."""
    caplog.set_level(logging.DEBUG)
    quiet_libraries()  # as main.py does
    first, second = Pipeline(store, catalogs), Pipeline(store, catalogs)
    second.ids = count(10_000)
    for p in (first, second):
        await p.conversations.start()
    for answer in ANSWERS[:-1]:
        await first.conversations.submit([first.message(1, answer or nik_for(7))])
        await second.conversations.submit([second.message(2, answer or nik_for(7))])
    await asyncio.gather(first.conversations.submit([first.message(1, "1")]),
                         second.conversations.submit([second.message(2, "1")]))
    for p in (first, second):
        await p.conversations.stop()
    assert await count_rows(store, worker) == 1
    last = [first.sender.texts("1")[-1], second.sender.texts("2")[-1]]
    assert sum("LD-TEST-" in text for text in last) == 1
    assert sum("sudah terdaftar" in text for text in
               first.sender.texts("1")[-2:] + second.sender.texts("2")[-2:]) == 1
    assert "worker registered" in caplog.text and "1371********0007" in caplog.text
    assert nik_for(7) not in caplog.text


async def test_replies_stored_but_not_sent_are_sent_after_a_restart(store, catalogs):
    class Stuck:
        async def send(self, chat_id, message):
            await asyncio.Event().wait()

    crashed = Pipeline(store, catalogs, sender=Stuck())
    await crashed.conversations.start()
    await crashed.conversations.submit([crashed.message(1, "/start")])
    await crashed.conversations.submit([crashed.message(1, "1")])
    for task in list(crashed.conversations._tails.values()) + [crashed.conversations._writer]:
        task.cancel()  # the process dies with the replies unsent
    assert len(await store.undelivered()) == 2

    restarted = Pipeline(store, catalogs)
    restarted.ids = count(100)
    await restarted.conversations.start()
    await restarted.conversations.idle()
    texts = restarted.sender.texts("1")
    assert texts[0].startswith("Halo!") and texts[1].startswith("Pilih bahasa")
    assert await store.undelivered() == []
    await restarted.say(1, "1")
    assert "Persetujuan" in restarted.sender.texts("1")[-1]
    await restarted.conversations.stop()


async def test_a_failing_step_is_answered_and_changes_nothing(pipeline, store):
    await pipeline.say(1, "/start", "1", "1", "1")
    original = pipeline.conversations.engine.handle

    async def broken(session, inbound, ctx):
        if inbound.text == "boom":
            raise RuntimeError("bug")
        return await original(session, inbound, ctx)

    pipeline.conversations.engine.handle = broken
    await pipeline.conversations.submit([pipeline.message(1, "boom"),
                                         pipeline.message(2, "/start")])
    await pipeline.conversations.idle()
    assert "ada gangguan" in pipeline.sender.texts("1")[-1]
    assert pipeline.sender.texts("2")[-1].startswith("Halo!")
    await pipeline.say(1, nik_for(1))
    assert pipeline.sender.texts("1")[-1].startswith("Langkah 2 dari 8")


async def test_rate_limits_are_waited_out_and_blocked_users_skipped(store, catalogs):
    class Flaky(Recorder):
        def __init__(self):
            super().__init__()
            self.failures = 2

        async def send(self, chat_id, message):
            if chat_id == "666":
                raise Undeliverable("bot was blocked by the user")
            if self.failures:
                self.failures -= 1
                raise RetryLater(0.01)
            await super().send(chat_id, message)

    pipeline = Pipeline(store, catalogs, sender=Flaky())
    await pipeline.conversations.start()
    await pipeline.say(1, "/start")
    await pipeline.say(666, "/start")
    assert pipeline.sender.texts("1")[0].startswith("Halo!")
    assert await store.undelivered() == []
    await pipeline.conversations.stop()


async def test_the_sweep_forgets_idle_drafts(pipeline, store):
    await pipeline.say(1, "/start", "1", "1", "1", nik_for(1))
    pipeline.now += timedelta(hours=25)
    await pipeline.conversations.sweep()
    async with store.transaction() as tx:
        state = (await tx.load_sessions(["telegram:1"]))["telegram:1"]
    assert state["data"] == {} and state["flow"] is None and state["expired"]
    await pipeline.say(1, "Budi")
    assert "sudah lama tidak dilanjutkan" in pipeline.sender.texts("1")[-2]


async def test_a_message_the_database_refuses_does_not_hold_up_the_others(pipeline, store,
                                                                          monkeypatch):
    for answer in ANSWERS[:-1]:
        await pipeline.conversations.submit([pipeline.message(1, answer or nik_for(1))])
    flush = Tx.flush

    async def refuse_chat_1(tx):
        if any(row["chat_key"] == "telegram:1" for row in tx._new):
            raise DBAPIError("INSERT INTO worker", {}, ValueError("value too long"))
        await flush(tx)

    monkeypatch.setattr(Tx, "flush", refuse_chat_1)
    save = pipeline.message(1, "1")
    await pipeline.conversations.submit([save, pipeline.message(2, "/start")])
    await pipeline.conversations.idle()
    assert "ada gangguan" in pipeline.sender.texts("1")[-1]
    assert pipeline.sender.texts("2")[-1].startswith("Halo!")
    await pipeline.conversations.submit([save])  # delivered again: already answered
    await pipeline.conversations.idle()
    assert len(pipeline.sender.texts("1")) == len(ANSWERS)
    assert await count_rows(store, worker) == 0
    monkeypatch.setattr(Tx, "flush", flush)
    await pipeline.say(1, "1")
    assert "LD-TEST-" in pipeline.sender.texts("1")[-1]


async def test_a_session_stored_by_another_version_still_loads(pipeline, store):
    await pipeline.say(1, "/start")
    async with store.transaction() as tx:
        state = (await tx.load_sessions(["telegram:1"]))["telegram:1"]
        await tx.save_sessions({"telegram:1": {**state, "from_a_later_version": 1}},
                               {"telegram:1"}, NOW)
    await pipeline.say(1, "1")
    assert pipeline.sender.texts("1")[-1].startswith("Pilih bahasa")
