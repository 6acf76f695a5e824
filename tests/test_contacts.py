"""Contacts: STOP and MULAI in the chat, when each chat last wrote (WhatsApp's 24-hour window),
and what became of the messages a channel accepted, on both databases."""

import logging
import re
from datetime import timedelta

from sqlalchemy import func, select

from bot.messages import OptOut
from models.schema import outbox, outgoing, proof_request
from models.staff import StaffDirectory
from tests.chat import Chat, Memory, town_programme
from tests.test_conversations import play
from tests.test_pipeline import ANSWERS, NOW, Pipeline, nik_for


async def test_stop_and_start_again(catalogs):
    memory = Memory()
    chat = Chat(catalogs, memory)
    await play(chat, [
        ("/start", ["menu.welcome"]), ("1", ["language.prompt"]), ("1", ["consent.prompt_2026_12"]),
        ("STOP", ["optout.done"], ["MULAI"]),
        ("status", ["status.none"]),
        ("menu", ["menu.prompt"], ["8. ▶️ Lanjutkan pendaftaran"]),
        ("mulai", ["optout.undone", "menu.welcome"]),
        ("mulai", ["menu.welcome"]),
    ])
    assert memory.opted_out == {"telegram:7001": False}
    await play(chat, [("berhenti", ["optout.done"])])
    assert memory.opted_out == {"telegram:7001": True} and chat.session.opted_out


async def test_contacts_remember_the_last_message_and_opting_out(store, catalogs):
    pipeline = Pipeline(store, catalogs)
    await pipeline.conversations.start()
    await pipeline.say(1, "/start")
    pipeline.now = NOW + timedelta(hours=30)
    await pipeline.say(2, "/start", "stop")
    await pipeline.conversations.stop()
    first, second = await store.contact("telegram:1"), await store.contact("telegram:2")
    assert (first.last_inbound_at, first.opted_out) == (NOW, False)
    assert (second.last_inbound_at, second.opted_out) == (NOW + timedelta(hours=30), True)
    later = NOW + timedelta(hours=31)
    assert not first.within(timedelta(hours=24), later)
    assert second.within(timedelta(hours=24), later)
    unknown = await store.contact("whatsapp:628000")
    assert (unknown.last_inbound_at, unknown.opted_out) == (None, False)
    async with store.transaction() as tx:
        await tx.opt_out(OptOut("telegram:2", False), later)
    assert not (await store.contact("telegram:2")).opted_out


async def test_message_states_and_the_opt_out_error(store):
    await store.message_status("SM1", "whatsapp:6281", "queued", None, NOW)
    await store.message_status("SM1", "whatsapp:6281", "delivered", None, NOW)
    await store.message_status("SM2", "whatsapp:6282", "failed", 21610, NOW)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(outgoing.c.sid, outgoing.c.status,
                                          outgoing.c.error_code).order_by(outgoing.c.sid))).all()
    assert [tuple(r) for r in rows] == [("SM1", "delivered", None), ("SM2", "failed", 21610)]
    assert (await store.contact("whatsapp:6282")).opted_out
    assert not (await store.contact("whatsapp:6281")).opted_out


async def test_a_chat_that_opted_out_gets_no_notices(store, catalogs):
    pipeline = Pipeline(store, catalogs, programmes=town_programme(verification="staff"))
    await StaffDirectory(store).add("telegram", "9001", "verifier", None, "cli:test", NOW)
    await pipeline.conversations.start()
    await pipeline.say(1, *[answer or nik_for(1) for answer in ANSWERS])
    await pipeline.say(1, "stop")
    await pipeline.say(9001, "/setujui LD-TEST-0001")
    await pipeline.conversations.stop()
    assert "disetujui dan terdaftar" in pipeline.sender.texts("9001")[-1]
    assert "Kabar baik" not in "\n".join(pipeline.sender.texts("1"))
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(outbox)) == 0


def code_in(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


async def test_a_worker_links_another_chat_with_the_code_sent_to_the_first(store, catalogs):
    pipeline = Pipeline(store, catalogs)
    await pipeline.conversations.start()
    await pipeline.say(1, *[answer or nik_for(1) for answer in ANSWERS])
    await pipeline.say(2, "/start", "1", "1", "1", nik_for(1), "17-08-1985", "1")
    assert "BUDI" not in "\n".join(pipeline.sender.texts("2"))
    code = code_in(pipeline.sender.texts("1")[-1])
    assert code == code_in(pipeline.whatsapp.texts("6281234567890")[-1])
    await pipeline.say(2, code, "status")
    texts = pipeline.sender.texts("2")
    assert "sekarang terhubung dengan pendaftaran LD-TEST-0001" in texts[-3]
    assert "BUDI SANTOSO" in texts[-2]
    assert "Telegram" in pipeline.sender.texts("1")[-1]  # told of the new link
    async with store.engine.connect() as conn:
        hashes = (await conn.execute(select(proof_request.c.code_hash))).scalars().all()
    assert hashes and all(code.encode() not in h for h in hashes)

    stranger = "6289912345678"
    await pipeline.say(stranger, "halo", "1", "1", "1", nik_for(1), "1", "000000", "000001",
                       "000002", channel="whatsapp")
    seen = "\n".join(pipeline.whatsapp.texts(stranger))
    assert "BUDI" not in seen and "LD-TEST" not in seen and "B***" not in seen
    assert "Kode itu tidak cocok" in pipeline.whatsapp.texts(stranger)[-2]
    await pipeline.say("6281234567890", "halo", "1", "1", "1", nik_for(1), channel="whatsapp")
    assert "sekarang terhubung" in pipeline.whatsapp.texts("6281234567890")[-1]
    await pipeline.conversations.stop()
    async with store.transaction() as tx:
        assert [w.reference for w in await tx.workers_of_chat(
            "whatsapp:6281234567890")] == ["LD-TEST-0001"]
        assert await tx.workers_of_chat(f"whatsapp:{stranger}") == []
    async with store.transaction() as tx:
        assert [w.reference for w in await tx.workers_of_chat("telegram:2")] == ["LD-TEST-0001"]
        assert [w.reference for w in await tx.workers_of_chat("telegram:1")] == ["LD-TEST-0001"]


async def test_a_chat_on_a_channel_not_running_here_waits_without_an_error(store, catalogs,
                                                                          caplog):
    """A worker who registered in the terminal chat, approved by staff on Telegram while only
    Telegram and WhatsApp run: the notice waits in the outbox, nothing raises."""
    caplog.set_level(logging.INFO, logger="lindungi.conversations")
    pipeline = Pipeline(store, catalogs, programmes=town_programme(verification="staff"))
    await StaffDirectory(store).add("telegram", "9001", "verifier", None, "cli:test", NOW)
    await pipeline.conversations.start()
    await pipeline.say("local", *[answer or nik_for(1) for answer in ANSWERS],
                       channel="terminal")
    await pipeline.say(9001, "/setujui LD-TEST-0001")
    await pipeline.conversations.stop()
    assert "disetujui dan terdaftar" in pipeline.sender.texts("9001")[-1]
    assert "a message to a terminal chat waits: that channel is not running here" in caplog.text
    assert "Traceback" not in caplog.text and "Task exception" not in caplog.text
    async with store.engine.connect() as conn:
        waiting = await conn.scalar(select(func.count()).select_from(outbox).where(
            outbox.c.delivered.is_(False), outbox.c.chat_key == "terminal:local"))
    assert waiting == 1
