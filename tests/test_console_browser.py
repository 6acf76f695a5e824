"""The staff console in a real browser: Playwright driving Debian's headless Chromium against
the bot's own web server, its notices going to the fake Bot API. An admin signs in through
the link the fake received, approves a registration (the worker's chat gets the notice),
reviews a claim with a photo and a PDF (both shown in the page), rejects a document with a
reason (the heir is told), composes a broadcast with its live count, and opens the
dashboards. A screenshot of every page is saved under ``data/screenshots/`` (or
``LINDUNGI_SCREENSHOTS``)."""

import io
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import claims
from bot.engine import Engine
from bot.messages import StoredDocument
from bot.render import Renderer
from handlers.conversations import Conversations
from handlers.media import MediaStore
from handlers.staff_console import ConsoleDeps
from handlers.telegram import TelegramChannel
from handlers.web import WebServer, web_app
from models.staff import StaffDirectory
from tests.chat import town_programme
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_claim_store import filing
from tests.test_store import registration

CHROMIUM = os.environ.get("LINDUNGI_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("LINDUNGI_SCREENSHOTS",
                            Path(__file__).resolve().parent.parent / "data" / "screenshots"))
NOW = datetime.now(UTC)
ADMIN, WORKER, HEIR = 9001, 100, 200


def browser_missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


if (why := browser_missing()) is not None:
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests need Chromium under CI: {why}", pytrace=False)
    pytest.skip(f"browser tests skipped: {why}", allow_module_level=True)

from playwright.async_api import async_playwright, expect  # noqa: E402


def real_photo() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (800, 500), "white")
    ImageDraw.Draw(image).text((40, 40), "AKTA KEMATIAN 1371-KM-2026", fill="black")
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def real_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=16)
    pdf.cell(text="KARTU KELUARGA 1371010101010001")
    return bytes(pdf.output())


@pytest.fixture
async def served(sqlite_store, catalogs, tmp_path):
    store = sqlite_store
    async with FakeTelegram() as tg:
        files = MediaStore(tmp_path / "files")
        conversations = Conversations(
            store, Engine(catalogs, programmes=town_programme(verification="staff")),
            Renderer(catalogs), media=files)
        channel = TelegramChannel(TOKEN, tg.base_url, conversations, media=files)
        conversations.add_channel("telegram", channel)
        await conversations.start()
        await StaffDirectory(store).add("telegram", str(ADMIN), "admin", "Rina", "cli:test",
                                        NOW)
        async with store.transaction() as tx:
            await tx.register_worker(registration(status="waiting_verification",
                                                  programme_id="kota-kecil"),
                                     "telegram", f"telegram:{WORKER}", NOW)
            photo = files.save(real_photo(), "image/jpeg", "akta.jpg")
            pdf = files.save(real_pdf(), "application/pdf", "kk.pdf")
            await tx.file_claim(filing(  # another member's death: not the waiting worker's
                reference="JKM-2026-000001", status=claims.SUBMITTED,
                deceased_nik="1371011708850009", worker_reference=None,
                documents=tuple(StoredDocument(kind, pdf if kind == "kk" else photo)
                                for kind in claims.documents_for("spouse"))),
                "telegram", f"telegram:{HEIR}", NOW)
        deps = ConsoleDeps(conversations, "", files)
        web = WebServer(web_app(conversations, None, store, None, None, console=deps),
                        "127.0.0.1", 0)
        await web.start()
        deps.base_url = f"http://127.0.0.1:{web.port}/console"
        yield deps.base_url, tg
        await web.stop()
        await conversations.stop()
        await channel.close()


def shot_path(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")


def shots_saved() -> int:
    return len(list(SHOTS.glob("*.png")))


async def shot(page, name: str) -> None:
    await page.screenshot(path=shot_path(name), full_page=True)


async def test_an_admin_works_through_the_console_in_a_browser(served):
    console, tg = served
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})
                      ).new_page()
        await page.goto(f"{console}/registrations")
        await expect(page.get_by_role("heading", name="Masuk ke konsol petugas")).to_be_visible()
        await page.get_by_label("ID Telegram").fill(str(ADMIN))
        await shot(page, "01-signin")
        await page.get_by_role("button", name="Kirim tautan masuk").click()
        await expect(page.get_by_role("status")).to_contain_text("tautan masuk sudah dikirim")
        message = await tg.next_reply(ADMIN)
        link = re.search(r"(http://\S+/console/link/\S+)", message.text).group(1)
        await page.goto(link)
        await shot(page, "02-link")
        await page.get_by_role("button", name="Masuk").click()

        await expect(page.get_by_role("heading", name="Pendaftaran menunggu verifikasi")
                     ).to_be_visible()
        await expect(page.get_by_role("cell", name="BUDI SANTOSO")).to_be_visible()
        await shot(page, "03-registrations")
        await page.get_by_role("link", name="LD-AAAA-AAAA").click()
        await shot(page, "04-worker")
        await page.get_by_role("button", name="Setujui").click()
        await expect(page.get_by_role("status").first).to_contain_text("disetujui")
        assert "disetujui" in (await tg.next_reply(WORKER)).text

        await page.get_by_role("link", name="Klaim", exact=True).click()
        await page.get_by_role("link", name="JKM-2026-000001").click()
        photo = page.locator("#doc-death_certificate img")
        await expect(photo).to_be_visible()
        assert await photo.evaluate("image => image.complete && image.naturalWidth") == 800
        pdf = page.locator("#doc-kk object.pdf")
        await expect(pdf).to_be_visible()
        answer = await page.request.get(console.removesuffix("/console")
                                        + await pdf.get_attribute("data"))
        assert answer.ok and answer.headers["content-type"] == "application/pdf"
        await shot(page, "05-claim")
        await photo.click()
        await expect(photo).to_have_class(re.compile("zoomed"))
        await photo.click()
        kk = page.locator("#doc-kk")
        await kk.locator("select[name=code]").select_option("unreadable")
        await kk.locator("input[name=note]").fill("foto buram, kirim ulang")
        await kk.get_by_role("button", name="Tolak").click()
        await expect(page.locator("#doc-kk .doc-status")).to_contain_text("ditolak")
        told = await tg.next_reply(HEIR)
        assert "Foto tidak terbaca: foto buram, kirim ulang" in told.text

        await page.get_by_role("link", name="Siaran").click()
        await expect(page.locator("#live-count")).to_contain_text("penerima")
        await page.get_by_label("Pesan dalam bahasa Indonesia").fill("Rapat hari Senin.")
        await page.locator("select[name=programme]").select_option("kota-kecil")
        await expect(page.locator("#live-count")).to_contain_text("1 penerima")
        await shot(page, "06-broadcast")
        await page.get_by_role("button", name="Pratinjau").click()
        await expect(page.locator("#preview-count")).to_contain_text("1 penerima")
        await expect(page.locator("pre.message").first).to_contain_text("Rapat hari Senin.")
        await shot(page, "07-broadcast-preview")

        await page.get_by_role("link", name="Dasbor").click()
        await page.locator("select[name=programme]").select_option("kota-kecil")
        await page.get_by_role("button", name="Saring").click()
        await expect(page.locator("#chart-coverage svg")).to_be_visible()
        await expect(page.locator("#chart-kecamatan")).to_contain_text("Padang Utara")
        await shot(page, "08-dashboards")
        for name, path in (("09-programmes", "/programmes"), ("10-staff", "/staff"),
                           ("11-audit", "/audit")):
            await page.goto(console + path)
            await shot(page, name)
        await expect(page.get_by_role("cell", name="console.signin")).to_be_visible()
        await browser.close()
    assert shots_saved() >= 11
