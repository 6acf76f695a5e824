"""Telegram by webhook: updates posted to ``/telegram`` with the secret token are stored before
the 200 answer and handled once; without the token, 403 and nothing stored. The update's first
reply goes in the answer when it is ready at once and nothing speaks against it (several
messages, a broadcast, an old post, a response not written, the channel's budget). In process on
both databases, and ``main.py run`` as a subprocess against the fake Bot API posting to it: killed
with a reply committed but not yet sent, it sends that reply at the next start, and updates
posted while it was down arrive once it is back."""

import asyncio
import contextlib
import signal
import sqlite3
import time
from contextlib import closing

import httpx
import pytest
from sqlalchemy import func, select

from bot.engine import Engine
from bot.messages import Rendered
from bot.render import Renderer
from handlers.conversations import FOLLOWED, Conversations, RetryLater
from handlers.pacing import BROADCAST, PRIORITY, REPLY, MemoryBook, Pacer
from handlers.telegram import ANSWER_WITHIN_S, TelegramChannel
from handlers.web import SECRET_HEADER, TelegramHook, web_app
from models.schema import inbound
from models.store import Store
from tests.chat import EXAMPLE_PROGRAMMES
from tests.fakes.telegram_api import TOKEN, FakeTelegram, message
from tests.test_e2e import START_TIMEOUT_S, bot_process, environment
from tests.test_whatsapp import free_port, until_healthy

PUBLIC = "https://bot.example.org"
SECRET = "s3cret-Token_for-the-webhook"


class Hooked:
    """The bot as ``main.py run`` wires it in webhook mode; the test posts as Telegram does."""

    def __init__(self, http: httpx.AsyncClient, tg: FakeTelegram,
                 conversations: Conversations):
        self.http, self.tg, self.conversations = http, tg, conversations
        self.update_ids = iter(range(5000, 6000))

    async def post(self, update: object, secret: str | None = SECRET) -> httpx.Response:
        """Post as Telegram does, performing the method the answer names."""
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        answer = await self.http.post("/telegram", json=update, headers=headers)
        if answer.status_code == 200:
            await self.tg.perform_answer(answer)
        return answer

    def update(self, chat: int, text: str) -> dict:
        return {"update_id": next(self.update_ids),
                "message": {**message(chat, {"text": text}), "message_id": 1}}


@contextlib.asynccontextmanager
async def hooked_bot(store, catalogs, *, limits: bool = False):
    """``limits``: the fake refuses what breaks Telegram's limits, and the bot paces to them."""
    async with FakeTelegram() as tg:
        conversations = Conversations(store, Engine(catalogs, programmes=EXAMPLE_PROGRAMMES),
                                      Renderer(catalogs))
        # Under the fake's limits, as an operator sets them under Telegram's: a slot is kept
        # by the bot, the arrival measured by the fake, and a busy machine jitters between.
        pacer = Pacer(MemoryBook(), "telegram", 25, 1.1) if limits else None
        if limits:
            tg.enforce_limits()
        channel = TelegramChannel(TOKEN, tg.base_url, conversations, pacer=pacer)
        conversations.add_channel("telegram", channel)
        await channel.start(f"{PUBLIC}/telegram", SECRET)
        await conversations.start()
        app = web_app(conversations, None, store, None, None,
                      telegram=TelegramHook(channel, SECRET))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=PUBLIC) as http:
            yield Hooked(http, tg, conversations)
        await conversations.stop()
        await channel.close()


@pytest.fixture
async def hooked(store, catalogs):
    async with hooked_bot(store, catalogs) as bot:
        yield bot


async def stored(store) -> int:
    async with store.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(inbound))


async def test_setting_the_webhook_gives_telegram_the_address_and_the_secret(hooked):
    assert hooked.tg.webhook == {"url": f"{PUBLIC}/telegram", "secret_token": SECRET}


async def test_an_update_with_the_secret_is_stored_and_answered_once(hooked, store):
    update = hooked.update(1001, "/start")
    for _ in range(2):  # Telegram posts it again when it missed the answer
        assert (await hooked.post(update)).status_code == 200
    assert "Halo!" in (await hooked.tg.next_reply(1001)).text
    with pytest.raises(TimeoutError):
        await hooked.tg.next_reply(1001, timeout=0.5)
    assert await stored(store) == 1


async def test_the_first_reply_is_the_answer_to_the_post_and_counts_as_sent(hooked, store):
    response = await hooked.post(hooked.update(1001, "/start"))
    assert response.json()["method"] == "sendMessage" and response.json()["chat_id"] == 1001
    assert "Halo!" in response.json()["text"]
    reply = await hooked.tg.next_reply(1001)
    assert "Halo!" in reply.text and reply.buttons  # the menu's keyboard came with it
    assert hooked.tg.calls["sendmessage"] == hooked.tg.calls["webhook answer"] == 1
    await hooked.conversations.idle()
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(inbound.c.delivered, inbound.c.replies))).all() == [
            (True, None)]


async def test_a_post_seen_before_is_answered_empty_and_nothing_sent_again(hooked):
    update = hooked.update(1001, "/start")
    await hooked.post(update)
    again = await hooked.post(update)
    assert again.status_code == 200 and again.content == b""
    assert len(hooked.tg.replies(1001)) == 1


async def test_answers_keep_to_the_budget_and_each_chats_order(store, catalogs):
    """Five chats writing three times in a row, each reply paced a second apart per chat: the
    answers take their slots like any send; what is not ready in time goes by the API."""
    async with hooked_bot(store, catalogs, limits=True) as bot:
        async def user(chat: int) -> None:
            for text in ("/start", "4", "0"):
                await bot.post(bot.update(chat, text))
        await asyncio.gather(*(user(chat) for chat in range(2001, 2006)))
        await bot.conversations.idle()
        for chat in range(2001, 2006):
            texts = [r.text for r in bot.tg.replies(chat)]
            assert len(texts) == 3 and "Halo!" in texts[0] and texts[2] != texts[1]
        assert bot.tg.calls["429"] == 0, bot.tg.calls
        assert bot.tg.calls["sendmessage"] == 15 and bot.tg.calls["webhook answer"] >= 5


class Delivering:
    """Conversations as the channel sees them: ``submit`` commits, then the reply's messages
    are sent in turn (``FOLLOWED`` set as the message path sets it, ``RetryLater`` retried)."""

    def __init__(self, messages: list[str], priority: int = REPLY):
        self.messages, self.priority = messages, priority
        self.channel: TelegramChannel | None = None
        self.task: asyncio.Task | None = None

    async def submit(self, inbounds) -> None:
        self.task = asyncio.create_task(self._deliver(inbounds[0].chat_id))

    def sending_to(self, chat_key: str) -> bool:
        return self.task is not None and not self.task.done()

    async def _deliver(self, chat_id: str) -> None:
        PRIORITY.set(self.priority)
        for position, text in enumerate(self.messages, 1):
            FOLLOWED.set(position < len(self.messages))
            for _ in range(3):
                with contextlib.suppress(RetryLater):
                    await self.channel.send(chat_id, Rendered(text))
                    break


@pytest.mark.parametrize("case, messages, priority, age_s, written, answered", [
    ("one reply", ["A"], REPLY, 0, True, "A"),
    ("the last of several, after the others", ["A", "B"], REPLY, 0, True, "B"),
    ("a broadcast message is no reply", ["A"], BROADCAST, 0, True, None),
    ("a post Telegram may have given up on", ["A"], REPLY, ANSWER_WITHIN_S + 1, True, None),
    ("an answer not written: by the API instead", ["A"], REPLY, 0, False, "A"),
])
async def test_what_goes_in_the_answer(case, messages, priority, age_s, written, answered):
    async with FakeTelegram() as tg:
        delivering = Delivering(messages, priority)
        channel = delivering.channel = TelegramChannel(TOKEN, tg.base_url, delivering)
        await channel.bot.initialize()
        update = {"update_id": 7, "message": {**message(3001, {"text": "hai"}),
                                              "message_id": 1}}
        posted_at = asyncio.get_running_loop().time() - age_s
        received = await channel.receive(update, posted_at)
        if received.answer is not None:
            received.written(written)
            if written:
                await tg.perform_answer(httpx.Response(200, json=received.answer))
        await delivering.task
        await channel.close()
    assert (received.answer or {}).get("text") == answered, case
    assert [r.text for r in tg.replies(3001)] == messages  # each once, in order
    assert tg.calls["webhook answer"] == (answered is not None and written)


async def test_a_reply_waits_no_answer_while_the_channel_is_backed_up():
    """Half a second of sends booked ahead of the reply: in an answer it would go at the
    limit, where a refusal is lost unseen; it goes by the API, where one is tried again."""
    async with FakeTelegram() as tg:
        delivering = Delivering(["A"])
        book = MemoryBook()
        pacer = Pacer(book, "telegram", 1000)
        await book.reserve("telegram", 500, pacer.spacing, time.time(), 3600)
        channel = delivering.channel = TelegramChannel(TOKEN, tg.base_url, delivering,
                                                       pacer=pacer)
        await channel.bot.initialize()
        update = {"update_id": 8, "message": {**message(3002, {"text": "hai"}),
                                              "message_id": 1}}
        received = await channel.receive(update, asyncio.get_running_loop().time())
        await delivering.task
        await channel.close()
    assert received.answer is None and not pacer.nearly_free
    assert [r.text for r in tg.replies(3002)] == ["A"]
    assert tg.calls["webhook answer"] == 0


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
async def test_an_update_without_the_right_secret_is_refused_and_not_stored(hooked, store,
                                                                             secret):
    response = await hooked.post(hooked.update(1001, "/start"), secret=secret)
    assert response.status_code == 403
    assert await stored(store) == 0 and hooked.tg.replies(1001) == []


@pytest.mark.parametrize("body", ["not json", [1, 2], {"message": {}}, {"update_id": "7"}])
async def test_what_is_no_update_is_refused_with_400(hooked, store, body):
    if isinstance(body, str):
        response = await hooked.http.post("/telegram", content=body,
                                          headers={SECRET_HEADER: SECRET})
    else:
        response = await hooked.post(body)
    assert response.status_code == 400 and await stored(store) == 0


async def test_an_update_that_cannot_be_stored_answers_500(hooked, store):
    hooked.conversations.store = Store.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        response = await hooked.post(hooked.update(1001, "/start"))
    finally:
        await hooked.conversations.store.close()
        hooked.conversations.store = store
    assert response.status_code == 500
    assert (await hooked.post(hooked.update(1001, "/start"))).status_code == 200


async def answered(tg: FakeTelegram, update_id: int) -> None:
    for _ in range(int(START_TIMEOUT_S / 0.05)):
        if update_id in tg.webhook_answered:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the bot did not answer update {update_id}")


async def test_main_runs_telegram_by_webhook_and_loses_nothing_when_killed(tmp_path, bot_log):
    port = free_port()
    local = f"http://127.0.0.1:{port}"
    db = tmp_path / "hook.db"
    async with FakeTelegram(reach=(PUBLIC, local)) as tg:
        env = environment(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url,
                          WEBHOOK_BASE_URL=PUBLIC, HOST="127.0.0.1", PORT=str(port),
                          DATABASE_URL=f"sqlite+aiosqlite:///{db}",
                          # Every reply by the API: Telegram's 429 below then holds it back
                          # (refusing a reply given in an answer, it would say nothing).
                          TELEGRAM_WEBHOOK_ANSWERS="false", TELEGRAM_WEBHOOK_CONNECTIONS="7")
        async with bot_process(env, bot_log) as proc, httpx.AsyncClient() as http:
            await until_healthy(http, local, proc)
            first = tg.user_text(1001, "/start")
            assert "Halo!" in (await tg.next_reply(1001, timeout=START_TIMEOUT_S)).text
            assert tg.webhook["url"] == f"{PUBLIC}/telegram" and len(tg.webhook["secret_token"])
            assert tg.max_connections == 7  # TELEGRAM_WEBHOOK_CONNECTIONS, in setWebhook
            assert tg.calls["getupdates"] == 0
            # Stored and answered 200, but its reply held back by Telegram: then killed.
            tg.fail_sends(1001, 429, retry_after=60)
            tries = tg.calls["sendmessage"]
            second = tg.user_text(1001, "1")
            await answered(tg, second)
            for _ in range(200):  # the reply's first try meets the 429
                if tg.calls["sendmessage"] > tries:
                    break
                await asyncio.sleep(0.05)
            proc.kill()
            await proc.wait()
            tg.user_text(1001, "1")  # posted while the bot is down: retried until it is back
            tg.redeliver(first)  # and one it answered already
        async with bot_process(env, bot_log) as proc, httpx.AsyncClient() as http:
            await until_healthy(http, local, proc)
            language = await tg.next_reply(1001, timeout=START_TIMEOUT_S)
            consent = await tg.next_reply(1001, timeout=START_TIMEOUT_S)
            assert "bahasa" in language.text.lower() and "Persetujuan" in consent.text
            with pytest.raises(TimeoutError):
                await tg.next_reply(1001, timeout=1)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), START_TIMEOUT_S) == 0
    assert [r.text for r in tg.replies(1001)].count(language.text) == 1
    assert tg.calls["webhook answer"] == 0
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM inbound_message").fetchone() == (3,)
