"""Files users send (claim documents): how they are stored, and how the Telegram channel fetches
them, over real HTTP from the fake Bot API, before handing their messages over."""

import asyncio
import hashlib
import io
import logging
from pathlib import Path

import pytest
from PIL import Image

from bot.messages import MAX_MEDIA_BYTES, MEDIA_TYPES, Inbound, Media
from handlers.media import MAGIC, MediaStore
from handlers.telegram import TelegramChannel, file_url
from tests.fakes.telegram_api import TOKEN, FakeTelegram, document, message


def image(kind: str, colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, kind)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPEG = image("JPEG")
EXE = b"MZ\x90\x00\x03\x00\x00\x00 this program cannot be run in DOS mode"
SAMPLES = {"image/jpeg": JPEG, "image/png": image("PNG"), "image/webp": image("WEBP"),
           "application/pdf": PDF}


def stored_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- MediaStore ---------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path) -> MediaStore:
    return MediaStore(tmp_path / "files")


def test_every_accepted_type_has_its_magic_bytes():
    assert MAGIC.keys() == MEDIA_TYPES.keys()


@pytest.mark.parametrize("mime_type", sorted(SAMPLES))
def test_each_accepted_type_is_stored_under_its_hash(store, mime_type):
    data = SAMPLES[mime_type]
    sha256 = hashlib.sha256(data).hexdigest()
    media = store.save(data, mime_type, "scan")
    path = f"{sha256[:2]}/{sha256}.{MEDIA_TYPES[mime_type]}"
    assert media == Media(mime_type, len(data), sha256=sha256, path=path, file_name="scan")
    assert (store.folder / path).read_bytes() == data
    assert stored_files(store.folder) == [store.folder / path]  # no temporary file left


def test_the_same_file_twice_is_stored_once(store):
    first = store.save(PDF, "application/pdf", "akta.pdf")
    written = (store.folder / first.path).stat()
    second = store.save(bytearray(PDF), "application/pdf", "other name.pdf")
    assert (second.sha256, second.path, second.file_name) == (
        first.sha256, first.path, "other name.pdf")
    assert (store.folder / first.path).stat().st_mtime_ns == written.st_mtime_ns
    assert len(stored_files(store.folder)) == 1


def test_identity_documents_are_readable_by_the_bot_alone(store):
    media = store.save(JPEG, "image/jpeg", None)
    file = store.folder / media.path
    assert file.stat().st_mode & 0o777 == 0o600
    assert file.parent.stat().st_mode & 0o777 == 0o700
    assert store.folder.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(("data", "mime_type"), [
    (EXE, "application/pdf"),  # a renamed executable
    (PDF, "image/jpeg"),
    (JPEG, "image/png"),
    (b"RIFF\x00\x00\x00\x00AVI LIST", "image/webp"),
    (b"", "application/pdf"),
])
def test_content_that_is_not_what_it_claims_is_refused(store, data, mime_type):
    assert store.save(data, mime_type, "x") == Media(mime_type, len(data), file_name="x",
                                                     refused="type")
    assert stored_files(store.folder) == []


def test_a_type_not_accepted_is_refused(store):
    assert store.save(EXE, "application/x-msdownload", "x.exe").refused == "type"
    assert store.save(b"GIF89a", "image/gif", None).refused == "type"
    assert stored_files(store.folder) == []


def test_a_file_too_big_is_refused(store):
    data = b"%PDF-" + bytes(MAX_MEDIA_BYTES)
    assert store.save(data, "application/pdf", None).refused == "size"
    assert stored_files(store.folder) == []


def test_check_decides_from_the_announced_type_and_size():
    assert MediaStore.check("image/jpeg", MAX_MEDIA_BYTES) is None
    assert MediaStore.check("image/jpeg", MAX_MEDIA_BYTES + 1) == "size"
    assert MediaStore.check("application/octet-stream", 10) == "type"
    assert MediaStore.check("application/x-msdownload", MAX_MEDIA_BYTES + 1) == "type"


def test_the_file_url_is_next_to_the_api():
    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert file_url("https://proxy.example/tg/{token}/") is None


# --- the Telegram channel -----------------------------------------------------------------

class Recorder:
    """Stands in for ``Conversations``: keeps what the channel submits, batch by batch."""

    def __init__(self):
        self.batches: asyncio.Queue[list[Inbound]] = asyncio.Queue()

    async def submit(self, inbounds: list[Inbound]) -> None:
        self.batches.put_nowait(inbounds)

    async def next(self) -> list[Inbound]:
        return await asyncio.wait_for(self.batches.get(), 10)

    async def one(self) -> Inbound:
        (inbound,) = await self.next()
        return inbound


@pytest.fixture
async def tg():
    async with FakeTelegram() as tg:
        yield tg


async def polling(tg: FakeTelegram, media: MediaStore | None):
    recorder = Recorder()
    channel = TelegramChannel(TOKEN, tg.base_url, recorder, media=media)  # type: ignore[arg-type]
    await channel.start()
    poller = asyncio.create_task(channel.poll())
    try:
        yield recorder
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        await channel.close()


@pytest.fixture
async def inbox(tg, store):
    """What the channel hands over, polling the fake and storing files in ``store``."""
    async for recorder in polling(tg, store):
        yield recorder


def assert_stored(media: Media | None, store: MediaStore, data: bytes) -> None:
    assert media is not None and media.refused is None
    assert media.sha256 == hashlib.sha256(data).hexdigest() and media.size == len(data)
    assert (store.folder / media.path).read_bytes() == data


async def test_a_photo_and_a_pdf_arrive_stored(tg, inbox, store):
    tg.user_photo_file(42, JPEG, caption="KTP ahli waris")
    photo = await inbox.one()
    assert (photo.kind, photo.text, photo.chat_id) == ("photo", "KTP ahli waris", "42")
    assert_stored(photo.media, store, JPEG)  # the largest size, not a thumbnail
    assert (photo.media.mime_type, photo.media.file_name) == ("image/jpeg", None)
    assert photo.media.path.endswith(".jpg")

    tg.user_document(42, PDF, "application/pdf", "akta kematian.pdf")
    scan = await inbox.one()
    assert (scan.kind, scan.text) == ("document", "")
    assert_stored(scan.media, store, PDF)
    assert (scan.media.mime_type, scan.media.file_name) == ("application/pdf",
                                                            "akta kematian.pdf")
    assert len(stored_files(store.folder)) == 2


async def test_a_batch_is_downloaded_whole_and_kept_in_order(tg, inbox, store):
    png = SAMPLES["image/png"]
    tg.user_text(42, "halo")
    tg.user_photo_file(43, JPEG)
    tg.user_document(42, png, "image/png", "kk.png")
    tg.user_document(44, PDF, "application/pdf", "a.pdf")
    tg.user_text(43, "selesai")
    batch = await inbox.next()
    assert [(i.chat_id, i.kind) for i in batch] == [
        ("42", "text"), ("43", "photo"), ("42", "document"), ("44", "document"), ("43", "text")]
    assert [i.media is None for i in batch] == [True, False, False, False, True]
    for inbound, data in zip(batch[1:4], (JPEG, png, PDF), strict=True):
        assert_stored(inbound.media, store, data)
    assert tg.calls["getfile"] == tg.calls["download"] == 3


async def test_the_same_photo_twice_is_one_file(tg, inbox, store):
    tg.user_photo_file(42, JPEG)
    first = await inbox.one()
    tg.user_photo_file(43, JPEG)
    second = await inbox.one()
    assert first.media.sha256 == second.media.sha256 and first.media.path == second.media.path
    assert len(stored_files(store.folder)) == 1


async def test_a_document_too_big_is_not_downloaded(tg, inbox, store):
    tg.user_document(42, b"%PDF-" + bytes(25 * 1024 * 1024), "application/pdf", "big.pdf")
    got = await inbox.one()
    assert got.media == Media("application/pdf", 25 * 1024 * 1024 + 5, file_name="big.pdf",
                              refused="size")
    assert tg.calls["getfile"] == 0 and stored_files(store.folder) == []


async def test_a_program_is_not_downloaded(tg, inbox, store):
    tg.user_document(42, EXE, "application/x-msdownload", "ktp.exe")
    got = await inbox.one()
    assert got.media == Media("application/x-msdownload", len(EXE), file_name="ktp.exe",
                              refused="type")
    assert tg.calls["getfile"] == 0 and stored_files(store.folder) == []


async def test_a_document_without_a_type_is_refused(tg, inbox, store):
    tg.enqueue(message(42, document(tg.add_file(PDF, "pdf"), None, "scan", len(PDF))))
    got = await inbox.one()
    assert (got.media.mime_type, got.media.refused) == ("application/octet-stream", "type")
    assert tg.calls["getfile"] == 0


async def test_a_program_named_pdf_is_downloaded_but_refused(tg, inbox, store):
    tg.user_document(42, EXE, "application/pdf", "ktp.pdf")
    got = await inbox.one()
    assert (got.media.refused, got.media.sha256) == ("type", None)
    assert tg.calls["download"] == 1 and stored_files(store.folder) == []


async def test_a_failing_get_file_still_hands_the_message_over(tg, inbox, store, caplog):
    secret = b"%PDF-1.4 NIK 1371011708850001"
    gone = document("no-such-file", "application/pdf", "ktp.pdf", len(secret))
    tg.enqueue(message(42, {**gone, "caption": "KTP"}))
    with caplog.at_level(logging.WARNING, "lindungi.telegram"):
        got = await inbox.one()
    assert (got.kind, got.text) == ("document", "KTP")
    assert got.media == Media("application/pdf", len(secret), file_name="ktp.pdf",
                              refused="download")
    assert "could not download" in caplog.text and "1371" not in caplog.text
    tg.user_document(42, PDF, "application/pdf", "again.pdf")  # polling goes on
    assert_stored((await inbox.one()).media, store, PDF)


async def test_a_file_telegram_will_not_serve_is_refused_as_download(tg, inbox, store):
    # Telegram may leave the size out; getFile then refuses what is over 20 MB.
    big = b"%PDF-" + bytes(MAX_MEDIA_BYTES)
    tg.enqueue(message(42, document(tg.add_file(big, "pdf"), "application/pdf", "b.pdf", None)))
    got = await inbox.one()
    assert (got.media.refused, got.media.size) == ("download", 0)
    assert tg.calls["getfile"] == 1 and tg.calls["download"] == 0


async def test_without_a_store_nothing_is_downloaded(tg):
    async for inbox in polling(tg, None):
        tg.user_photo_file(42, JPEG)
        got = await inbox.one()
        assert got.kind == "photo"
        assert (got.media.mime_type, got.media.refused, got.media.sha256) == (
            "image/jpeg", "download", None)
        assert tg.calls["getfile"] == 0


async def test_a_sticker_carries_no_file(tg, inbox):
    tg.user_sticker(42)
    got = await inbox.one()
    assert (got.kind, got.media) == ("sticker", None)
