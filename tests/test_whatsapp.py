"""WhatsApp over real HTTP: Twilio's webhooks are posted, signed as Twilio signs them, to the web
app (in process, over httpx's ASGI transport), the message goes through the real pipeline and
store (SQLite and PostgreSQL), and the replies leave through the twilio library's async client
to a fake Twilio REST API on 127.0.0.1."""

import asyncio
import contextlib
import hashlib
import io
import signal
import socket
import time
from datetime import UTC, date, datetime

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.cards import sign_link
from bot.engine import Engine
from bot.messages import ChangeStatus, FileClaim, Inbound, Media, Rendered, StoredDocument
from bot.render import Renderer
from bot.status import card_of
from handlers.conversations import Conversations, RetryLater, Undeliverable
from handlers.links import MediaLinks
from handlers.media import MediaStore
from handlers.web import SignedMedia, web_app
from handlers.whatsapp import (
    MAX_BODY,
    ApiRequestRefused,
    WhatsAppChannel,
    incoming,
    split_body,
    units,
)
from models.schema import inbound, worker
from models.staff import StaffDirectory
from models.store import Store
from tests.chat import EXAMPLE_PROGRAMMES, town_programme
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BOT_NUMBER,
    FakeTwilio,
    inbound_form,
    signed_post,
    status_form,
)
from tests.test_e2e import START_TIMEOUT_S, bot_process, environment, until_polling
from tests.test_pipeline import ANSWERS
from tests.test_store import registration

PUBLIC = "https://lindungi.example.org"
WA_ID = "6281234567890"
TO = f"whatsapp:+{WA_ID}"
NIK = "1371011708850001"
JPEG = b"\xff\xd8\xff\xe0" + b"KTP ahli waris " * 200


class Bot:
    """The bot as ``main.py run`` wires it for WhatsApp, posted to like Twilio posts."""

    def __init__(self, http: httpx.AsyncClient, twilio: FakeTwilio,
                 conversations: Conversations, channel: WhatsAppChannel):
        self.http, self.twilio = http, twilio
        self.conversations, self.channel = conversations, channel
        self.handled: list[Inbound] = []
        """Every message as it reached the engine."""
        self.statuses: list[tuple] = []
        """What ``on_status`` was called with."""

    async def post(self, form: dict[str, str], path: str = "/whatsapp") -> httpx.Response:
        return await signed_post(self.http, PUBLIC + path, form, AUTH_TOKEN)

    async def say(self, text: str, wa_id: str = WA_ID) -> str:
        """Send a text and return the reply's body."""
        response = await self.post(inbound_form(wa_id, text))
        assert response.status_code == 200, response.text
        return (await self.twilio.next_message(f"whatsapp:+{wa_id}")).body


@pytest.fixture
async def twilio():
    async with FakeTwilio() as twilio:
        yield twilio


@pytest.fixture
async def bot(store, catalogs, twilio, tmp_path):
    engine = Engine(catalogs, programmes=EXAMPLE_PROGRAMMES)
    conversations = Conversations(store, engine, Renderer(catalogs))
    channel = WhatsAppChannel(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC,
                              api_base_url=twilio.base_url,
                              media=MediaStore(tmp_path / "files"))
    conversations.add_channel("whatsapp", channel)
    handle = engine.handle
    statuses: list[tuple] = []

    async def spy(session, message, ctx):
        bot.handled.append(message)
        return await handle(session, message, ctx)

    engine.handle = spy
    app = web_app(conversations, channel, store, PUBLIC, AUTH_TOKEN,
                  on_status=lambda *report: statuses.append(report))
    await conversations.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=PUBLIC) as http:
        bot = Bot(http, twilio, conversations, channel)
        bot.statuses = statuses
        yield bot
        await conversations.stop()
    await channel.close()
    assert twilio.calls["unknown"] == 0 and twilio.calls["unauthorized"] == 0


@pytest.fixture
async def channel(twilio):
    channel = WhatsAppChannel(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC,
                              api_base_url=twilio.base_url)
    yield channel
    await channel.close()


async def count(store: Store, table) -> int:
    async with store.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(table))


# --- incoming (pure) ------------------------------------------------------------------------

def test_a_text_becomes_an_inbound_of_the_wa_id():
    got = incoming(inbound_form(WA_ID, "  Halo  ", sid="SM1"))
    assert got.media_url is None
    message = got.inbound
    assert (message.channel, message.chat_id, message.external_id, message.chat_key) == (
        "whatsapp", WA_ID, "SM1", f"whatsapp:{WA_ID}")
    assert (message.kind, message.text, message.media) == ("text", "  Halo  ", None)


@pytest.mark.parametrize(("content_type", "kind", "fetch"), [
    ("image/jpeg", "photo", True),
    ("application/pdf", "document", True),
    ("application/zip", "document", False),
    ("image/gif", "photo", False),
])
def test_a_file_is_announced_and_fetched_only_if_acceptable(content_type, kind, fetch):
    got = incoming(inbound_form(WA_ID, "KTP", media=(("https://m/1", content_type),)))
    assert (got.inbound.kind, got.inbound.text) == (kind, "KTP")
    assert got.inbound.media.mime_type == content_type
    assert got.inbound.media.refused == (None if fetch else "type")
    assert got.media_url == ("https://m/1" if fetch else None)


@pytest.mark.parametrize(("extra", "kind"), [
    ({"NumMedia": "1", "MediaUrl0": "https://m/1", "MediaContentType0": "audio/ogg"}, "voice"),
    ({"NumMedia": "1", "MediaUrl0": "https://m/1", "MediaContentType0": "text/vcard"},
     "other"),
    ({"Latitude": "-0.95", "Longitude": "100.35", "Body": ""}, "location"),
])
def test_other_messages_are_not_text_and_nothing_is_fetched(extra, kind):
    got = incoming({**inbound_form(WA_ID, "x"), **extra})
    assert (got.inbound.kind, got.inbound.text, got.inbound.media, got.media_url) == (
        kind, "", None, None)


def test_only_whatsapp_messages_from_a_user_are_taken():
    sms = {**inbound_form(WA_ID, "halo"), "From": "+6281234567890"}
    sms.pop("WaId")
    assert incoming(sms) is None
    assert incoming({"Body": "halo"}) is None
    without_wa_id = inbound_form(WA_ID, "halo")
    without_wa_id.pop("WaId")
    assert incoming(without_wa_id).inbound.chat_id == WA_ID


# --- the webhooks ---------------------------------------------------------------------------

async def test_an_unsigned_or_wrongly_signed_post_is_refused_and_nothing_stored(bot, store):
    form = inbound_form(WA_ID, "/start")
    unsigned = await bot.http.post(f"{PUBLIC}/whatsapp", data=form)
    wrong_token = await signed_post(bot.http, f"{PUBLIC}/whatsapp", form, "0" * 32)
    # Signed for the address this server sees, not the public one Twilio was given.
    wrong_url = await signed_post(bot.http, f"{PUBLIC}/whatsapp", form, AUTH_TOKEN,
                                  signed_url="http://127.0.0.1:8080/whatsapp")
    tampered = await signed_post(bot.http, f"{PUBLIC}/whatsapp", form, AUTH_TOKEN)
    assert tampered.status_code == 200  # (the same form, signed right, is taken)
    await bot.twilio.next_message(TO)
    assert [r.status_code for r in (unsigned, wrong_token, wrong_url)] == [403, 403, 403]
    assert await count(store, inbound) == 1
    changed = await bot.http.post(f"{PUBLIC}/whatsapp", data={**form, "Body": "status"},
                                  headers={"X-Twilio-Signature": tampered.request.headers[
                                      "X-Twilio-Signature"]})
    assert changed.status_code == 403
    await bot.conversations.idle()
    assert await count(store, inbound) == 1
    assert len(bot.handled) == 1


async def test_a_signed_message_is_answered_on_whatsapp_as_numbered_text(bot, store):
    response = await bot.post(inbound_form(WA_ID, "/start"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response/>")
    assert await count(store, inbound) == 1  # stored before the answer
    reply = await bot.twilio.next_message(TO)
    assert (reply.to, reply.from_) == (TO, BOT_NUMBER)
    assert reply.status_callback == f"{PUBLIC}/whatsapp/status"
    assert "Halo!" in reply.body
    assert "\n1. 📝 Daftar\n2. 🔎 Cek status\n" in reply.body


async def test_a_message_posted_twice_is_answered_once(bot, store):
    form = inbound_form(WA_ID, "/start")
    first, second = await bot.post(form), await bot.post(form)
    assert (first.status_code, second.status_code) == (200, 200)
    await bot.conversations.idle()
    assert len(bot.twilio.messages(TO)) == 1
    assert await count(store, inbound) == 1


async def test_a_message_that_cannot_be_stored_is_refused_with_500(bot, store):
    bot.conversations.store = Store.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        response = await bot.post(inbound_form(WA_ID, "/start"))
    finally:
        await bot.conversations.store.close()
        bot.conversations.store = store
    assert response.status_code == 500


async def test_a_signed_status_report_is_passed_on(bot):
    delivered = await bot.post(status_form("SM1", "delivered", TO), "/whatsapp/status")
    failed = await bot.post(status_form("SM2", "undelivered", TO, error_code=63016),
                            "/whatsapp/status")
    unsigned = await bot.http.post(f"{PUBLIC}/whatsapp/status",
                                   data=status_form("SM3", "read", TO))
    assert [r.status_code for r in (delivered, failed, unsigned)] == [204, 204, 403]
    chat_key = f"whatsapp:{WA_ID}"
    assert bot.statuses == [("SM1", chat_key, "delivered", None),
                            ("SM2", chat_key, "undelivered", 63016)]


async def test_a_status_hook_that_fails_answers_500(store, twilio, catalogs):
    async def broken(sid, chat_key, status, error_code):
        raise RuntimeError("database gone")

    app = web_app(Conversations(store, Engine(catalogs), Renderer(catalogs)), None, store,
                  None, None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=PUBLIC) as http:
        assert (await http.post(f"{PUBLIC}/whatsapp", data={})).status_code == 404
    channel = WhatsAppChannel(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC,
                              api_base_url=twilio.base_url)
    app = web_app(Conversations(store, Engine(catalogs), Renderer(catalogs)), channel, store,
                  PUBLIC, AUTH_TOKEN, on_status=broken)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=PUBLIC) as http:
        response = await signed_post(http, f"{PUBLIC}/whatsapp/status",
                                     status_form("SM1", "sent", TO))
    await channel.close()
    assert response.status_code == 500


async def test_health_says_whether_the_database_answers(bot, catalogs):
    response = await bot.http.get(f"{PUBLIC}/healthz")
    assert (response.status_code, response.json()) == (200, {"database": "ok"})
    down = Store.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app = web_app(bot.conversations, None, down, None, None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=PUBLIC) as http:
        response = await http.get(f"{PUBLIC}/healthz")
    await down.close()
    assert (response.status_code, response.json()) == (503, {"database": "unavailable"})


async def test_health_is_503_when_the_database_or_the_storage_cannot_be_written(
        bot, sqlite_store, tmp_path):
    """A full disk: the database answers but stores nothing, or no file can be written."""
    async with sqlite_store.transaction() as tx:
        await tx.next_number("healthz")  # the database exists, with its tables
    path = sqlite_store.engine.url.database
    files = MediaStore(tmp_path / "files")
    read_only = Store.connect(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the storage folder should be")
    answers = []
    for store, storage in ((sqlite_store, files), (read_only, files),
                           (sqlite_store, MediaStore(blocked))):
        app = web_app(bot.conversations, None, store, None, None,
                      media=SignedMedia(LINKS_KEY, b"c" * 32, None, storage))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=PUBLIC) as http:
            response = await http.get(f"{PUBLIC}/healthz")
        answers.append((response.status_code, response.json()))
    await read_only.close()
    assert answers == [(200, {"database": "ok", "storage": "ok"}),
                       (503, {"database": "not writable", "storage": "ok"}),
                       (503, {"database": "ok", "storage": "not writable"})]


async def test_a_worker_registers_over_whatsapp_and_asks_for_status(bot, store):
    replies = [await bot.say(answer or NIK) for answer in ANSWERS]
    assert "Halo!" in replies[0]
    assert "Nomor HP" in replies[6]
    assert "Rp16.800" in replies[-1] and "LD-" in replies[-1]
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(worker))).one()
    assert (row.nik, row.full_name, row.phone, row.chat_key, row.channel) == (
        NIK, "BUDI SANTOSO", "+6281234567890", f"whatsapp:{WA_ID}", "whatsapp")
    assert len(bot.twilio.messages(TO)) == len(ANSWERS)
    status = await bot.say("status")
    assert row.reference in status and "menunggu verifikasi petugas" in status
    assert "orang lain" in (await bot.twilio.next_message(TO)).body  # someone else's status


async def test_a_photo_is_fetched_with_the_account_credentials_and_stored(bot, tmp_path):
    url = bot.twilio.add_media(JPEG, "image/jpeg")
    response = await bot.post(inbound_form(WA_ID, "KTP", media=((url, "image/jpeg"),)))
    assert response.status_code == 200
    media = bot.handled[-1].media
    assert bot.handled[-1].kind == "photo"
    assert (media.mime_type, media.size, media.refused) == ("image/jpeg", len(JPEG), None)
    assert media.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert (tmp_path / "files" / media.path).read_bytes() == JPEG
    assert bot.twilio.calls["media"] == 1


async def test_a_redirect_to_twilios_storage_is_followed_without_the_credentials(bot,
                                                                                 tmp_path):
    async with FakeTwilio() as storage:
        url = bot.twilio.add_media(JPEG, "image/jpeg", stored_on=storage)
        await bot.post(inbound_form(WA_ID, "KTP", media=((url, "image/jpeg"),)))
    assert bot.handled[-1].media.refused is None
    assert bot.twilio.media_requests[0][1].startswith("Basic ")
    assert [auth for _, auth in storage.media_requests] == [None]


@pytest.mark.parametrize("where", ["another port", "the bot", "file", "ftp"])
async def test_media_from_anywhere_but_twilios_api_is_refused_unrequested(bot, where, caplog):
    async with FakeTwilio() as elsewhere:
        url = {"another port": elsewhere.add_media(JPEG, "image/jpeg"),
               "the bot": f"{PUBLIC}/healthz",
               "file": "file:///etc/passwd",
               "ftp": "ftp://127.0.0.1/x.jpg"}[where]
        response = await bot.post(inbound_form(WA_ID, "KTP", media=((url, "image/jpeg"),)))
    assert response.status_code == 200
    assert bot.handled[-1].media.refused == "download"
    assert elsewhere.media_requests == [] and bot.twilio.media_requests == []
    assert "refused to fetch a image/jpeg" in caplog.text
    assert AUTH_TOKEN not in caplog.text and "/etc/passwd" not in caplog.text


async def test_a_zip_is_refused_without_being_downloaded(bot, tmp_path):
    url = bot.twilio.add_media(b"PK\x03\x04 zip", "application/zip")
    response = await bot.post(inbound_form(WA_ID, "", media=((url, "application/zip"),)))
    assert response.status_code == 200
    assert bot.handled[-1].media == Media("application/zip", 0, refused="type")
    assert bot.twilio.calls["media"] == 0
    assert not (tmp_path / "files").exists()


async def test_a_file_that_cannot_be_fetched_arrives_refused_as_download(bot):
    url = f"{bot.twilio.base_url}/media/ME-gone"
    response = await bot.post(inbound_form(WA_ID, "", media=((url, "application/pdf"),)))
    assert response.status_code == 200
    assert bot.handled[-1].media.refused == "download"
    # A file claiming to be a PDF that is not one is refused by its first bytes.
    url = bot.twilio.add_media(b"MZ\x90\x00 not a pdf", "application/pdf")
    await bot.post(inbound_form(WA_ID, "", media=((url, "application/pdf"),)))
    assert bot.handled[-1].media.refused == "type"


# --- send -----------------------------------------------------------------------------------

async def test_long_text_is_sent_in_parts_cut_between_lines(channel, twilio):
    lines = [f"{n:03d} " + "kata " * 20 for n in range(40)]
    await channel.send(WA_ID, Rendered("\n".join(lines), options=("Ya", "Tidak")))
    sent = twilio.messages(TO)
    assert len(sent) == 3
    assert all(len(m.body) <= MAX_BODY for m in sent)
    assert "\n".join(m.body for m in sent) == "\n".join(lines) + "\n\n1. Ya\n2. Tidak"


def test_split_body_cuts_long_lines_between_words_and_counts_emoji_twice():
    assert split_body("") == [] and split_body("pendek") == ["pendek"]
    parts = split_body("kata " * 1000)
    assert all(units(part) <= MAX_BODY for part in parts)
    assert " ".join(parts).split() == ["kata"] * 1000
    emoji = split_body("🪪" * 1000)
    assert [units(part) for part in emoji] == [1600, 400]
    assert "".join(emoji) == "🪪" * 1000


async def test_a_rate_limit_is_retry_later(channel, twilio):
    twilio.fail_sends(TO, 429)
    with pytest.raises(RetryLater):
        await channel.send(WA_ID, Rendered("Halo"))
    await channel.send(WA_ID, Rendered("Halo"))
    assert [m.body for m in twilio.messages(TO)] == ["Halo"]


@pytest.mark.parametrize("code", [63016, 21610, 21211, 21614])
async def test_a_chat_that_cannot_receive_is_undeliverable(channel, twilio, code):
    twilio.fail_sends(TO, code)
    with pytest.raises(Undeliverable, match=str(code)):
        await channel.send(WA_ID, Rendered("Halo"))


async def test_network_failures_are_retry_later_and_bad_credentials_are_errors(twilio):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    unreachable = WhatsAppChannel(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC,
                                  api_base_url=closed)
    wrong = WhatsAppChannel(ACCOUNT_SID, "0" * 32, BOT_NUMBER, PUBLIC,
                            api_base_url=twilio.base_url)
    try:
        with pytest.raises(RetryLater):
            await unreachable.send(WA_ID, Rendered("Halo"))
        with pytest.raises(RuntimeError, match="TWILIO_AUTH_TOKEN") as raised:
            await wrong.send(WA_ID, Rendered("Halo"))
        assert not isinstance(raised.value, Undeliverable)
    finally:
        await unreachable.close()
        await wrong.close()


async def test_every_request_goes_to_the_configured_api(channel, twilio):
    assert channel.client.api.base_url == twilio.base_url
    with pytest.raises(ApiRequestRefused):  # another Twilio domain: not sent anywhere
        await channel.client.content.v1.contents.list_async(limit=1)
    with pytest.raises(ApiRequestRefused):
        await channel._http.request("GET", "https://api.twilio.com/2010-04-01/Accounts.json")


# --- main.py run ---------------------------------------------------------------------------

async def test_main_runs_whatsapp_only_against_the_fake(tmp_path, bot_log):
    port = free_port()
    local = f"http://127.0.0.1:{port}"
    async with FakeTwilio() as twilio:
        env = environment(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                          TWILIO_WHATSAPP_FROM=BOT_NUMBER, TWILIO_API_BASE_URL=twilio.base_url,
                          PUBLIC_BASE_URL=PUBLIC, HOST="127.0.0.1", PORT=str(port),
                          DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/e2e.db",
                          STORAGE_DIR=str(tmp_path / "files"))
        async with bot_process(env, bot_log) as proc, httpx.AsyncClient() as http:
            await until_healthy(http, local, proc)
            response = await signed_post(http, f"{local}/whatsapp",
                                         inbound_form(WA_ID, "/start"), AUTH_TOKEN,
                                         signed_url=f"{PUBLIC}/whatsapp")
            assert response.status_code == 200
            assert "Halo!" in (await twilio.next_message(TO)).body
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), START_TIMEOUT_S) == 0
    assert twilio.calls["unknown"] == 0


async def until_healthy(http: httpx.AsyncClient, base: str, proc) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while True:
        if proc.returncode is not None:
            pytest.fail(f"the bot exited with {proc.returncode} (its output is below)")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get(f"{base}/healthz")).status_code == 200:
                return
        if loop.time() > deadline:
            pytest.fail(f"the bot did not serve /healthz within {START_TIMEOUT_S}s")
        await asyncio.sleep(0.1)


async def test_main_runs_telegram_and_whatsapp_together(tmp_path, bot_log):
    port = free_port()
    local = f"http://127.0.0.1:{port}"
    async with FakeTwilio() as twilio, FakeTelegram() as tg:
        env = environment(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url,
                          TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                          TWILIO_WHATSAPP_FROM=BOT_NUMBER, TWILIO_API_BASE_URL=twilio.base_url,
                          PUBLIC_BASE_URL=PUBLIC, HOST="127.0.0.1", PORT=str(port),
                          DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/e2e.db")
        async with bot_process(env, bot_log) as proc, httpx.AsyncClient() as http:
            await until_polling(tg, proc)
            await until_healthy(http, local, proc)
            tg.user_text(1001, "/start")
            await signed_post(http, f"{local}/whatsapp", inbound_form(WA_ID, "/start"),
                              AUTH_TOKEN, signed_url=f"{PUBLIC}/whatsapp")
            assert "Halo!" in (await tg.next_reply(1001)).text
            assert "Halo!" in (await twilio.next_message(TO)).body
            proc.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(proc.wait(), START_TIMEOUT_S) == 0


async def test_a_port_in_use_stops_start_up_with_one_line(tmp_path, bot_log):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        async with FakeTwilio() as twilio:
            env = environment(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                              TWILIO_WHATSAPP_FROM=BOT_NUMBER,
                              TWILIO_API_BASE_URL=twilio.base_url, PUBLIC_BASE_URL=PUBLIC,
                              HOST="127.0.0.1", PORT=str(port),
                              DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/e2e.db")
            async with bot_process(env, bot_log) as proc:
                await asyncio.wait_for(proc.wait(), START_TIMEOUT_S)
    assert proc.returncode == 1
    last = bot_log.read_text().splitlines()[-1]
    assert last.startswith(f"lindungi: cannot serve the webhooks on 127.0.0.1:{port} "
                           "(HOST, PORT):"), last


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- settings -------------------------------------------------------------------------------

TWILIO = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
          "TWILIO_WHATSAPP_FROM": "whatsapp:+6281100001111", "PUBLIC_BASE_URL": PUBLIC}


def test_whatsapp_settings_and_their_defaults(environ):
    from bot.config import load_settings

    settings = load_settings()
    assert not settings.whatsapp_configured
    assert (settings.twilio_api_base_url, settings.host, settings.port) == (
        "https://api.twilio.com", "0.0.0.0", 8080)
    environ(**{**TWILIO, "TWILIO_WHATSAPP_FROM": "+62 811 0000 1111",
               "PUBLIC_BASE_URL": PUBLIC + "/", "PORT": "9000"})
    settings = load_settings()
    assert settings.whatsapp_configured
    assert settings.twilio_whatsapp_from == "whatsapp:+6281100001111"
    assert settings.twilio_auth_token.get_secret_value() == AUTH_TOKEN
    assert (settings.public_base_url, settings.port) == (PUBLIC, 9000)
    assert AUTH_TOKEN not in repr(settings)


@pytest.mark.parametrize(("unset", "named"), [
    (("TWILIO_AUTH_TOKEN",), "TWILIO_AUTH_TOKEN"),
    (("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"), "TWILIO_ACCOUNT_SID"),
    (("TWILIO_WHATSAPP_FROM",), "TWILIO_WHATSAPP_FROM"),
    (("PUBLIC_BASE_URL",), "PUBLIC_BASE_URL"),
])
def test_whatsapp_half_configured_names_what_is_missing(environ, unset, named):
    from bot.config import BadSetting, load_settings

    environ(**{name: value for name, value in TWILIO.items() if name not in unset})
    with pytest.raises(BadSetting) as caught:
        load_settings()
    line = str(caught.value)
    assert line.startswith(f"bad setting {named}:") and "\n" not in line


@pytest.mark.parametrize(("name", "value"), [
    ("TWILIO_ACCOUNT_SID", "SK0123"),
    ("TWILIO_WHATSAPP_FROM", "whatsapp:0812"),
    ("TWILIO_API_BASE_URL", "api.twilio.com"),
    ("PUBLIC_BASE_URL", "lindungi.example.org"),
    ("PORT", "70000"),
])
def test_a_bad_whatsapp_setting_is_named_in_one_line(environ, name, value):
    from bot.config import BadSetting, load_settings

    environ(**{**TWILIO, name: value})
    with pytest.raises(BadSetting) as caught:
        load_settings()
    line = str(caught.value)
    assert line.startswith(f"bad setting {name}:") and "\n" not in line


def test_main_reports_a_half_configured_whatsapp_in_one_line(environ, capsys):
    from main import main

    environ(TWILIO_ACCOUNT_SID=ACCOUNT_SID)
    assert main(["run"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "lindungi: bad setting TWILIO_AUTH_TOKEN: needed for WhatsApp, since "
        "TWILIO_ACCOUNT_SID is set"]


# --- cards and files, by signed and expiring links -------------------------------------------

async def test_a_card_goes_as_an_image_this_server_serves(store, catalogs, twilio):
    key, programmes, now = b"c" * 32, town_programme(), datetime(2026, 11, 1, tzinfo=UTC)
    async with store.transaction() as tx:
        await tx.free_places("kota-kecil", 10)
        await tx.register_worker(registration(
            status="enrolled", programme_id="kota-kecil", coverage_start=date(2026, 11, 1),
            coverage_end=date(2099, 12, 31)), "whatsapp", f"whatsapp:{WA_ID}", now)
    async with store.transaction() as tx:
        active = await tx.change_status(ChangeStatus("LD-AAAA-AAAA", "enrolled", "active",
                                                     kpj="12345678901"), now)
    card = card_of(active, programmes, key)
    channel = WhatsAppChannel(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC,
                              api_base_url=twilio.base_url, links=MediaLinks(PUBLIC, LINKS_KEY))
    try:
        await channel.send(WA_ID, Rendered("🪪 Kartu peserta BUDI SANTOSO", card=card))
    finally:
        await channel.close()
    [sent] = twilio.messages(TO)
    assert sent.body == "🪪 Kartu peserta BUDI SANTOSO" and len(sent.media_urls) == 1
    app = web_app(Conversations(store, Engine(catalogs), Renderer(catalogs)), None, store,
                  None, None, media=SignedMedia(LINKS_KEY, key, programmes))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=PUBLIC) as http:
        image = await http.get(sent.media_urls[0].removeprefix(PUBLIC))
        expired = await http.get("/cards/" + sign_link(LINKS_KEY, "card", "LD-AAAA-AAAA", 1))
        forged = await http.get("/cards/" + sign_link(b"x" * 32, "card", "LD-AAAA-AAAA",
                                                      int(time.time()) + 60))
        # the key that signs cards (which card checkers hold) makes no link
        by_card_key = await http.get("/cards/" + sign_link(key, "card", "LD-AAAA-AAAA",
                                                           int(time.time()) + 60))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (1012, 638)
    assert (expired.status_code, forged.status_code, by_card_key.status_code) == (404, 404, 404)


LINKS_KEY = b"l" * 32
PDF = b"%PDF-1.4\n" + b"akta kematian " * 300


async def test_a_verifier_on_whatsapp_sees_a_claim_document_at_a_signed_address(
        store, catalogs, twilio, tmp_path):
    """Staff may work from WhatsApp too (``staff add --whatsapp``): ``/lihatdok`` sends the
    document as media, which this server serves only while a claim refers to it."""
    files = MediaStore(tmp_path / "files")
    pdf = files.save(PDF, "application/pdf", "akta.pdf")
    stray = files.save(JPEG, "image/jpeg", None)
    async with store.transaction() as tx:
        await tx.file_claim(FileClaim(
            reference="JKM-2026-000001", deceased_nik=NIK, worker_reference=None,
            status="submitted", status_reason=None, date_of_death=date(2026, 11, 20),
            cause="illness", heir_name="SITI", heir_nik="1371015708850002",
            heir_phone="+6281298765432", relationship="spouse", bank_name="BRI",
            account_number="123456", account_holder="SITI", estimate=42_000_000, locale="id",
            consent_version="2026-11", consented_at="2026-11-21T03:00:00+00:00",
            documents=(StoredDocument("death_certificate", pdf),)),
            "whatsapp", "whatsapp:6281298765432", datetime(2026, 11, 21, tzinfo=UTC))
    verifier = "6281311112222"
    await StaffDirectory(store).add("whatsapp", verifier, "verifier", None, "cli:test",
                                    datetime(2026, 11, 21, tzinfo=UTC))
    key = b"k" * 32
    engine = Engine(catalogs, programmes=EXAMPLE_PROGRAMMES)
    conversations = Conversations(store, engine, Renderer(catalogs))
    channel = WhatsAppChannel(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC,
                              api_base_url=twilio.base_url, media=files,
                              links=MediaLinks(PUBLIC, key))
    conversations.add_channel("whatsapp", channel)
    app = web_app(conversations, channel, store, PUBLIC, AUTH_TOKEN,
                  media=SignedMedia(key, b"c" * 32, EXAMPLE_PROGRAMMES, files))
    await conversations.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=PUBLIC) as http:
            bot = Bot(http, twilio, conversations, channel)
            assert "JKM-2026-000001" in await bot.say("/lihatdok JKM-2026-000001 akta",
                                                      verifier)
            [url] = twilio.messages(f"whatsapp:+{verifier}")[-1].media_urls
            served = await http.get(url.removeprefix(PUBLIC))
            links = MediaLinks(PUBLIC, key)
            unused = await http.get(links.file(stray, f"whatsapp:{verifier}")
                                    .removeprefix(PUBLIC))
            as_card = await http.get("/cards/" + url.rsplit("/", 1)[1])
            old = MediaLinks(PUBLIC, key, clock=lambda: 1_000_000).file(
                pdf, f"whatsapp:{verifier}")
            expired = await http.get(old.removeprefix(PUBLIC))
            await StaffDirectory(store).remove("whatsapp", verifier, "cli:test",
                                               datetime(2026, 11, 22, tzinfo=UTC))
            after_removal = await http.get(url.removeprefix(PUBLIC))
            # Someone who is not staff gets the menu, not the document.
            stranger = await bot.say("/lihatdok JKM-2026-000001 akta")
    finally:
        await conversations.stop()
        await channel.close()
    assert served.status_code == 200 and served.content == PDF
    assert served.headers["content-type"] == "application/pdf"
    assert (unused.status_code, as_card.status_code, expired.status_code,
            after_removal.status_code) == (404, 404, 404, 404)
    assert "JKM-2026-000001" not in stranger
    assert twilio.messages(TO)[-1].media_urls == []
