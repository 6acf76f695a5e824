"""The Telegram channel over real HTTP: python-telegram-bot talks to a fake Bot API on 127.0.0.1,
so what is tested is what a user would see, down to the keyboard buttons and the status codes."""

import asyncio
import io
import time
from datetime import date
from typing import NamedTuple

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.cards import CardData, sign_card
from bot.engine import Engine
from bot.messages import Rendered
from bot.render import Renderer
from handlers.conversations import Conversations, RetryLater, Undeliverable
from handlers.telegram import (
    MAX_CAPTION,
    TelegramChannel,
    fits_caption,
    incoming,
    keyboard,
    keyboard_json,
    to_inbound,
)
from models.schema import inbound, worker
from models.store import Store
from tests.chat import EXAMPLE_PROGRAMMES
from tests.fakes.telegram_api import (
    PHOTO,
    STICKER,
    TOKEN,
    FakeTelegram,
    contact,
    document,
    message,
)

NIK = "1371011708850001"
PTB_WARNS_ON_429 = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
"""PTB's own ``RetryAfter.__init__`` reads the deprecated int ``retry_after`` (PTB 22.8)."""


class Step(NamedTuple):
    """One thing the user sends (``kind`` "text" or "contact"), and what the reply must say."""

    kind: str
    send: str
    expect: str


def registration(nik: str = NIK, name: str = "Siti Rahmawati",
                 phone: str = "6281234567890") -> list[Step]:
    """A whole registration from /start, the phone shared with Telegram's contact button."""
    return [
        Step("text", "/start", "Halo!"),
        Step("text", "1", "Pilih bahasa"),
        Step("text", "1", "Persetujuan data pribadi"),
        Step("text", "1", "Langkah 1 dari 8 — NIK"),
        Step("text", nik, "Langkah 2 dari 8 — Nama"),
        Step("text", name, "Langkah 3 dari 8 — Tanggal lahir"),
        Step("text", "17-08-1985", "Langkah 4 dari 8 — Nomor HP"),
        Step("contact", phone, "Langkah 5 dari 8 — Pekerjaan"),
        Step("text", "1", "Langkah 6 dari 8 — Alamat"),
        Step("text", "Air Tawar Barat", "Langkah 7 dari 8 — Kecamatan"),
        Step("text", "Padang Utara", "Program daerah Anda"),
        Step("text", "1", "Langkah 8 dari 8 — Penghasilan"),
        Step("text", "1", "Periksa data Anda"),
        Step("text", "1", "Nomor pendaftaran: LD-"),
    ]


def send(tg: FakeTelegram, chat_id: int, step: Step) -> int:
    if step.kind == "contact":
        return tg.user_contact(chat_id, step.send)
    return tg.user_text(chat_id, step.send)


async def walk(tg: FakeTelegram, chat_id: int, steps: list[Step]):
    """Send each step once its predecessor's reply has come, checking every reply."""
    replies = []
    for step in steps:
        send(tg, chat_id, step)
        reply = await tg.next_reply(chat_id)
        assert step.expect in reply.text, f"after {step.send!r}: {reply.text!r}"
        replies.append(reply)
    return replies


def update(content: dict, chat_id: int = 42, **kwargs) -> dict:
    """An update as the Bot API sends it (JSON)."""
    return {"update_id": 7, "message": message(chat_id, content, **kwargs)}


# --- to_inbound ---------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "kind", "text", "phone"), [
    ({"text": "  Halo  "}, "text", "  Halo  ", None),
    (contact("+6281234567890", 42), "contact", "", "+6281234567890"),
    (PHOTO, "photo", "", None),
    (STICKER, "sticker", "", None),
])
def test_private_messages_become_inbounds(content, kind, text, phone):
    got = to_inbound(update(content))
    assert got is not None
    assert (got.channel, got.chat_id, got.external_id, got.chat_key) == (
        "telegram", "42", "7", "telegram:42")
    assert (got.kind, got.text, got.contact_phone) == (kind, text, phone)


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
def test_group_messages_are_ignored(chat_type):
    assert to_inbound(update({"text": "/start"}, -100123, chat_type=chat_type, from_id=42)) is None


def test_updates_without_a_message_are_ignored():
    edited = {"update_id": 8, "edited_message": message(42, {"text": "x"})}
    assert to_inbound(edited) is None


PDF = document("BQACAgUAAx1", "application/pdf", "surat_kematian.pdf", 2048)


@pytest.mark.parametrize(("content", "media", "file_id"), [
    # the largest of a photo's sizes, always JPEG; its caption is its text
    ({"photo": [{"file_id": "small", "width": 90, "height": 90, "file_size": 1024},
                {"file_id": "large", "width": 800, "height": 600, "file_size": 60_000}],
      "caption": "KTP ahli waris"}, ("image/jpeg", 60_000, None, None), "large"),
    (PDF, ("application/pdf", 2048, "surat_kematian.pdf", None), "BQACAgUAAx1"),
    # fields Telegram may leave out
    (document("d1", None, None, None),
     ("application/octet-stream", 0, None, "type"), None),
    # refused as announced: never downloaded
    (document("d2", "application/pdf", "besar.pdf", 30 * 1024 * 1024),
     ("application/pdf", 30 * 1024 * 1024, "besar.pdf", "size"), None),
    # a GIF comes as an animation, and as a document for old clients: a video, no file
    ({"animation": {"file_id": "a"}, **document("a", "image/gif", "x.gif", 10)},
     None, None),
])
def test_a_photo_or_document_is_announced_with_the_file_to_fetch(content, media, file_id):
    got = incoming(update(content))
    announced = got.inbound.media
    assert (None if announced is None else (announced.mime_type, announced.size,
                                            announced.file_name, announced.refused)) == media
    assert got.file_id == file_id
    if "caption" in content:
        assert (got.inbound.kind, got.inbound.text) == ("photo", "KTP ahli waris")


@pytest.mark.parametrize("malformed", [
    None, [], "update", {}, {"update_id": "7"},
    {"update_id": 7, "message": "halo"},
    {"update_id": 7, "message": {"chat": "42", "text": "x"}},
    {"update_id": 7, "message": {"chat": {"id": "42", "type": "private"}, "text": "x"}},
    {"update_id": 7, "message": message(42, {"text": 5})},
    {"update_id": 7, "message": message(42, {"photo": "a photo"})},
    {"update_id": 7, "message": message(42, {"document": {"file_id": "d", "file_size": "9"}})},
])
def test_what_is_no_update_is_refused(malformed):
    with pytest.raises(ValueError):
        incoming(malformed)


# --- keyboard -----------------------------------------------------------------------------

def labels(markup) -> list[list[str]]:
    return [[button.text for button in row] for row in markup.keyboard]


def test_keyboard_puts_the_contact_button_first_and_the_menu_last():
    markup = keyboard(Rendered("Nomor HP?", options=("Ya", "Tidak", "Nanti"),
                               contact_button="📱 Kirim", menu_button="🏠 Menu"))
    assert labels(markup) == [["📱 Kirim"], ["Ya", "Tidak"], ["Nanti"], ["🏠 Menu"]]
    assert markup.keyboard[0][0].request_contact is True
    assert not any(button.request_contact for row in markup.keyboard[1:] for button in row)
    assert markup.resize_keyboard is True


def test_keyboard_gives_long_labels_a_row_each():
    long = "Pedagang kaki lima / keliling"
    markup = keyboard(Rendered("Pekerjaan?", options=("Ojek / ojol", long)))
    assert labels(markup) == [["Ojek / ojol"], [long]]


def test_no_keyboard_without_buttons():
    assert keyboard(Rendered("Terima kasih")) is None and keyboard_json(
        Rendered("Terima kasih")) is None


@pytest.mark.parametrize("rendered", [
    Rendered("Nomor HP?", options=("Ya", "Tidak", "Nanti"), contact_button="📱 Kirim",
             menu_button="🏠 Menu"),
    Rendered("Pekerjaan?", options=("Ojek / ojol", "Pedagang kaki lima / keliling")),
    Rendered("Selesai", menu_button="🏠 Menu"),
])
def test_a_webhook_answer_carries_the_same_keyboard_as_a_call(rendered):
    assert keyboard_json(rendered) == keyboard(rendered).to_dict()


# --- the channel over HTTP --------------------------------------------------------------

@pytest.fixture
async def tg():
    async with FakeTelegram() as tg:
        yield tg


@pytest.fixture
async def channel(tg, sqlite_store, catalogs):
    """The whole bot in this process, as ``main.py run`` wires it, polling the fake."""
    engine = Engine(catalogs, programmes=EXAMPLE_PROGRAMMES)
    conversations = Conversations(sqlite_store, engine, Renderer(catalogs))
    channel = TelegramChannel(TOKEN, tg.base_url, conversations)
    conversations.add_channel("telegram", channel)
    await channel.start()
    await conversations.start()
    poller = asyncio.create_task(channel.poll())
    yield channel
    if poller.done():
        poller.result()  # a poll loop that died explains a test's missing replies
    poller.cancel()
    await asyncio.gather(poller, return_exceptions=True)
    await conversations.stop()
    await channel.close()


async def count(store: Store, table, *where) -> int:
    async with store.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(table).where(*where))


@PTB_WARNS_ON_429
async def test_send_turns_a_rate_limit_into_retry_later(tg, channel):
    tg.fail_sends(42, 429, retry_after=3)
    with pytest.raises(RetryLater) as raised:
        await channel.send("42", Rendered("Halo"))
    assert raised.value.delay == 3.0
    await channel.send("42", Rendered("Halo"))  # the limit was for one message
    assert [r.text for r in tg.replies(42)] == ["Halo"]


@pytest.mark.parametrize("code", [403, 400])
async def test_send_to_a_chat_that_cannot_receive_is_undeliverable(tg, channel, code):
    tg.fail_sends(42, code)
    with pytest.raises(Undeliverable):
        await channel.send("42", Rendered("Halo"))


async def test_send_shows_the_options_as_a_keyboard(tg, channel):
    await channel.send("42", Rendered("Nomor HP?", contact_button="📱 Kirim",
                                      menu_button="🏠 Menu"))
    reply = await tg.next_reply(42)
    assert (reply.text, reply.rows, reply.request_contact) == (
        "Nomor HP?", [["📱 Kirim"], ["🏠 Menu"]], True)


async def test_start_checks_the_token_and_removes_the_webhook(tg, channel):
    assert tg.calls["getme"] == 1 and tg.calls["deletewebhook"] == 1
    assert channel.bot.username == "LindungiTestBot"


async def test_a_user_registers_end_to_end(tg, channel, sqlite_store):
    replies = await walk(tg, 42, registration())
    assert replies[0].buttons == ["📝 Daftar", "🔎 Cek status", "🌐 Bahasa / Language",
                                  "❓ Bantuan", "🪪 Kartu saya",
                                  "🕊️ Lapor meninggal / klaim JKM", "🔐 Data saya"]
    assert replies[2].buttons == ["✅ Ya, setuju semuanya", "❌ Tidak setuju",
                                  "✅ Setuju, tanpa pengingat", "✅ Setuju, tanpa pencocokan DTSEN",
                                  "✅ Setuju pendaftaran saja", "🏠 Menu"]
    phone_prompt = replies[6]
    assert phone_prompt.request_contact and phone_prompt.rows[0] == ["📱 Kirim nomor HP saya"]
    summary = replies[-2].text
    for shown in ("1371********0001", "SITI RAHMAWATI", "17 Agustus 1985", "+6281234567890",
                  "Ojek / ojol", "Air Tawar Barat", "Padang Utara", "Rp1.000.000"):
        assert shown in summary
    assert NIK not in summary
    assert "Rp16.800" in replies[-1].text
    assert len(tg.replies(42)) == len(replies)  # one message per answer, nothing more
    async with sqlite_store.engine.connect() as conn:
        row = (await conn.execute(select(worker))).one()
    assert (row.nik, row.full_name, row.phone, row.chat_key, row.monthly_income) == (
        NIK, "SITI RAHMAWATI", "+6281234567890", "telegram:42", 1_000_000)
    assert row.reference in replies[-1].text


async def test_an_update_delivered_twice_is_answered_once(tg, channel, sqlite_store):
    steps = registration()
    await walk(tg, 42, steps[:1])
    pick = send(tg, 42, steps[1])  # "1": Daftar
    await tg.next_reply(42)
    tg.redeliver(pick)  # handled again, this "1" would answer the language question
    await walk(tg, 42, steps[2:3])  # the next "1" still picks the language
    assert len(tg.replies(42)) == 3
    assert await count(sqlite_store, inbound, inbound.c.external_id == str(pick)) == 1
    assert await count(sqlite_store, inbound) == 3


async def test_quick_messages_from_one_user_are_answered_in_order(tg, channel):
    steps = registration()[:4]
    for step in steps:
        send(tg, 42, step)
    for step in steps:
        assert step.expect in (await tg.next_reply(42)).text


async def test_pictures_are_answered_in_words(tg, channel):
    tg.user_sticker(42)
    at_menu = await tg.next_reply(42)
    assert "hanya bisa membaca tulisan" in at_menu.text
    assert "Ketik nomor menu" in at_menu.text
    await walk(tg, 42, registration()[:4])
    tg.user_photo(42)
    at_nik = await tg.next_reply(42)
    assert "hanya bisa membaca tulisan" in at_nik.text
    assert "Ketik NIK 16 angka" in at_nik.text
    await walk(tg, 42, registration()[4:5])  # still at the NIK step


async def test_group_chats_get_no_answer(tg, channel):
    tg.enqueue(message(-100123, {"text": "/start"}, chat_type="group", from_id=42))
    await walk(tg, 42, registration()[:1])
    assert tg.replies(-100123) == []


@PTB_WARNS_ON_429
async def test_a_rate_limited_reply_is_sent_after_the_wait(tg, channel):
    tg.fail_sends(42, 429, retry_after=1)
    started = time.monotonic()
    await walk(tg, 42, registration()[:1])
    assert time.monotonic() - started >= 0.9


async def test_a_user_who_blocked_the_bot_holds_up_no_one(tg, channel, sqlite_store):
    tg.fail_sends(42, 403, times=None)
    tg.user_text(42, "/start")
    await walk(tg, 43, registration()[:2])
    assert tg.replies(42) == []
    await channel.conversations.idle()
    assert await count(sqlite_store, inbound, inbound.c.delivered.is_(False)) == 0


# --- the membership card ------------------------------------------------------------------

def card_reply(text: str = "🪪 Kartu peserta Anda") -> Rendered:
    """A reply carrying a membership card, as the card command renders one."""
    card = CardData(reference="LD-AAAA-BBBB", full_name="SITI RAHMAWATI",
                    masked_nik="1371••••••••0001", kpj="12345678901",
                    programme="Perlindungan Pekerja Rentan Kota Padang",
                    funder="APBD Kota Padang", period_start=date(2026, 1, 1),
                    period_end=date(2026, 12, 31), benefits=("JKK", "JKM"),
                    token=sign_card(b"k" * 32, "LD-AAAA-BBBB", "12345678901"))
    return Rendered(text=text, options=(), menu_button="🏠 Menu", card=card)


def png_size(data: bytes | None) -> tuple[str | None, tuple[int, int]]:
    assert data is not None
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.format, image.size


def test_a_caption_is_measured_as_telegram_counts_it():
    assert fits_caption("a" * MAX_CAPTION)
    assert not fits_caption("a" * (MAX_CAPTION + 1))
    assert not fits_caption("🪪" + "a" * (MAX_CAPTION - 1))  # an emoji is two UTF-16 units


async def test_a_card_is_sent_as_a_photo_with_the_text_as_caption(tg, channel):
    reply = card_reply()
    await channel.send("42", reply)
    photo = await tg.next_reply(42)
    assert png_size(photo.photo) == ("PNG", (1012, 638))
    assert (photo.text, photo.rows) == (reply.text, [["🏠 Menu"]])
    assert tg.calls["sendphoto"] == 1 and tg.calls["sendmessage"] == 0
    assert tg.replies(42) == [photo]


async def test_a_text_too_long_for_a_caption_follows_the_photo(tg, channel):
    reply = card_reply("🪪 Kartu peserta Anda. " + "x" * 2000)
    await channel.send("42", reply)
    photo = await tg.next_reply(42)
    assert png_size(photo.photo) == ("PNG", (1012, 638))
    assert (photo.text, photo.rows) == ("", [])
    text = await tg.next_reply(42)
    assert (text.photo, text.text, text.rows) == (None, reply.text, [["🏠 Menu"]])
    assert len(tg.replies(42)) == 2


@PTB_WARNS_ON_429
async def test_a_rate_limited_card_is_retry_later(tg, channel):
    tg.fail_sends(42, 429, retry_after=2)
    with pytest.raises(RetryLater) as raised:
        await channel.send("42", card_reply())
    assert raised.value.delay == 2.0
    assert tg.replies(42) == []


async def test_a_card_to_a_chat_that_cannot_receive_is_undeliverable(tg, channel):
    tg.fail_sends(42, 403)
    with pytest.raises(Undeliverable):
        await channel.send("42", card_reply())
