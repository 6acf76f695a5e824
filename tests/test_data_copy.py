"""A worker's copy of their data ("Data saya" → copy): made from what is stored, in the
worker's language, as a PDF a person reads with the JSON embedded, and sent on every channel:
Telegram (the PDF and the JSON), WhatsApp (the PDF at a signed address that expires, the file
deleted after), the terminal (both files, private)."""

import io
import json
import os
import stat
import time

import httpx
from pypdf import PdfReader

from bot.engine import Engine
from bot.messages import DataCopy, Rendered
from bot.render import Renderer
from handlers.console import TerminalChannel
from handlers.conversations import Conversations
from handlers.data_copy import Copies, file_names, pdf_of
from handlers.links import MediaLinks
from handlers.media import MediaStore
from handlers.web import SignedMedia, web_app
from handlers.whatsapp import WhatsAppChannel
from tests.chat import Chat, Memory, town_programme
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER
from tests.test_conversations import NIK, play
from tests.test_enrolment import register
from tests.test_telegram import channel, tg  # noqa: F401 - the fixtures
from tests.test_whatsapp import PUBLIC, TO, WA_ID, twilio  # noqa: F401 - the fixture

LINKS_KEY = b"l" * 32


async def asked_copy(catalogs, locale: str = "id") -> tuple[Rendered, Memory]:
    memory = Memory(dtsen={NIK: 1})
    chat = Chat(catalogs, memory, programmes=town_programme(verification="auto"))
    await register(chat, NIK, "reg.done_enrolled", area=("ya",),
                   language="1" if locale == "id" else "2")
    await play(chat, [("minta salinan" if locale == "id" else "copy of my data",
                       ["rights.copy.sent"])])
    return Renderer(catalogs).render(chat.replies[0], locale), memory


async def test_the_copy_holds_what_is_stored_in_the_workers_language(catalogs):
    rendered, memory = await asked_copy(catalogs)
    copy = rendered.copy
    [request] = memory.requests.values()
    assert (request.kind, request.state) == ("copy", "done")
    assert "NIK: 1371011708850001" in copy.text and "Persetujuan Anda" in copy.text
    data = json.loads(copy.data)
    assert data["registration"]["nik"] == NIK and data["registration"]["kelurahan"] == "Lapai"
    assert [(c["purpose"], c["given"]) for c in data["consents"]] == [
        ("registration", True), ("dtsen", True), ("messages", True)]
    assert data["chats"] == [{"channel": "telegram", "since": "2026-11-21T03:00:00+00:00"}]
    assert "chat_key" not in json.dumps(data["requests"])  # no chat (a phone number) in it
    assert Rendered.from_json(json.loads(json.dumps(rendered.to_json()))) == rendered  # journal
    english, _ = await asked_copy(catalogs, "en")
    assert "Your consents" in english.copy.text


async def test_the_pdf_reads_as_the_chat_shows_it_with_the_json_inside(catalogs):
    rendered, _ = await asked_copy(catalogs)
    reader = PdfReader(io.BytesIO(pdf_of(rendered.copy)))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "NIK: 1371011708850001" in text and "BUDI SANTOSO" in text
    assert "Kel. Lapai, Kec. Nanggalo" in text and "- pencocokan dengan DTSEN: setuju" in text
    pdf_name, json_name = file_names(rendered.copy)
    assert pdf_name.startswith("data-saya-LD-") and json_name.endswith(".json")
    assert {name: [bytes(b) for b in data] for name, data in reader.attachments.items()} == {
        json_name: [rendered.copy.data.encode("utf-8")]}


COPY = DataCopy("LD-AAAA-AAAA", "👁️ Data pendaftaran LD-AAAA-AAAA\nNIK: 1371011708850001",
                json.dumps({"registration": {"nik": "1371011708850001"}}))


async def test_on_telegram_the_pdf_comes_then_the_json_with_the_keyboard(tg, channel):  # noqa: F811
    await channel.send("42", Rendered("📄 Salinan data Anda", menu_button="🏠 Menu", copy=COPY))
    pdf = await tg.next_reply(42)
    data = await tg.next_reply(42)
    assert pdf.document.startswith(b"%PDF") and pdf.text == "📄 Salinan data Anda"
    assert json.loads(data.document) == {"registration": {"nik": "1371011708850001"}}
    assert data.rows == [["🏠 Menu"]] and tg.calls["senddocument"] == 2


async def test_on_whatsapp_the_pdf_is_served_for_an_hour_then_deleted(
        store, catalogs, twilio, tmp_path):  # noqa: F811
    files = MediaStore(tmp_path / "files")
    whatsapp = WhatsAppChannel(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC,
                              api_base_url=twilio.base_url, media=files,
                              links=MediaLinks(PUBLIC, LINKS_KEY))
    try:
        await whatsapp.send(WA_ID, Rendered("📄 Salinan data Anda", copy=COPY))
    finally:
        await whatsapp.close()
    [sent] = twilio.messages(TO)
    [url] = sent.media_urls
    [stored] = list((tmp_path / "files" / "copies").iterdir())
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    app = web_app(Conversations(store, Engine(catalogs), Renderer(catalogs)), None, store,
                  None, None, media=SignedMedia(LINKS_KEY, b"c" * 32, None, files))
    old = MediaLinks(PUBLIC, LINKS_KEY, clock=lambda: time.time() - 7200).copy(stored.name)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=PUBLIC) as http:
        served = await http.get(url.removeprefix(PUBLIC))
        expired = await http.get(old.removeprefix(PUBLIC))
        guessed = await http.get(MediaLinks(PUBLIC, LINKS_KEY).copy("A" * 24 + ".pdf")
                                 .removeprefix(PUBLIC))
        as_file = await http.get("/files/" + url.rsplit("/", 1)[1])
        assert Copies(files.folder).prune(3600) == 0  # still within its hour
        os.utime(stored, (time.time() - 3700, time.time() - 3700))
        assert Copies(files.folder).prune(3600) == 1
        gone = await http.get(url.removeprefix(PUBLIC))
    assert served.status_code == 200 and served.headers["content-type"] == "application/pdf"
    assert served.content.startswith(b"%PDF")
    assert (expired.status_code, guessed.status_code, as_file.status_code,
            gone.status_code) == (404, 404, 404, 404)


async def test_in_the_terminal_both_files_are_written_for_their_owner_only(tmp_path):
    out = io.StringIO()
    terminal = TerminalChannel(None, "", stdout=out, copies_dir=tmp_path / "copies")
    await terminal.send("local", Rendered("📄 Salinan data Anda", copy=COPY))
    data, pdf = sorted((tmp_path / "copies").iterdir())  # .json, .pdf
    assert f"📄 {data}" in out.getvalue() and f"📄 {pdf}" in out.getvalue()
    assert data.read_text(encoding="utf-8") == COPY.data and pdf.read_bytes()[:4] == b"%PDF"
    assert {stat.S_IMODE(os.stat(p).st_mode) for p in (pdf, data)} == {0o600}
