"""Telegram by webhook: updates posted to ``/telegram`` with the secret token are stored before
the 200 answer and handled once; without the token, 403 and nothing stored. In process on both
databases, and ``main.py run`` as a subprocess against the fake Bot API posting to it: killed
with a reply committed but not yet sent, it sends that reply at the next start, and updates
posted while it was down arrive once it is back."""

import asyncio
import signal
import sqlite3
from contextlib import closing

import httpx
import pytest
from sqlalchemy import func, select

from bot.engine import Engine
from bot.render import Renderer
from handlers.conversations import Conversations
from handlers.telegram import TelegramChannel
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
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return await self.http.post("/telegram", json=update, headers=headers)

    def update(self, chat: int, text: str) -> dict:
        return {"update_id": next(self.update_ids),
                "message": {**message(chat, {"text": text}), "message_id": 1}}


@pytest.fixture
async def hooked(store, catalogs):
    async with FakeTelegram() as tg:
        conversations = Conversations(store, Engine(catalogs, programmes=EXAMPLE_PROGRAMMES),
                                      Renderer(catalogs))
        channel = TelegramChannel(TOKEN, tg.base_url, conversations)
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
                          DATABASE_URL=f"sqlite+aiosqlite:///{db}")
        async with bot_process(env, bot_log) as proc, httpx.AsyncClient() as http:
            await until_healthy(http, local, proc)
            first = tg.user_text(1001, "/start")
            assert "Halo!" in (await tg.next_reply(1001, timeout=START_TIMEOUT_S)).text
            assert tg.webhook["url"] == f"{PUBLIC}/telegram" and len(tg.webhook["secret_token"])
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
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM inbound_message").fetchone() == (3,)
