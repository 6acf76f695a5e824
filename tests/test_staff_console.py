"""The staff console over HTTP, on both databases: signing in by a link sent to the chat,
sessions that end (idle, signed out, the member removed), every page refused without a
session, with another role's, and every change refused with a forged CSRF token, nothing
changed; and decisions taken in the console stored and told to the worker as from the chat."""

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.engine import Engine
from bot.messages import Rendered
from bot.render import Renderer
from handlers.conversations import Conversations
from handlers.media import MediaStore
from handlers.staff_console import ConsoleDeps
from handlers.web import web_app
from models.staff import StaffDirectory
from tests.chat import town_programme
from tests.test_store import registration

BASE = "http://127.0.0.1:8080"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
ADMIN, VERIFIER, CLAIMS, VIEWER = "9001", "9002", "9003", "9004"
WORKER_CHAT = "telegram:100"


class Recorder:
    """A channel that keeps what it is sent, per chat."""

    def __init__(self):
        self.sent: dict[str, list[Rendered]] = {}

    async def send(self, chat_id: str, message: Rendered) -> None:
        self.sent.setdefault(chat_id, []).append(message)


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def console(store, catalogs, tmp_path):
    clock = Clock()
    conversations = Conversations(
        store, Engine(catalogs, programmes=town_programme(verification="staff")),
        Renderer(catalogs), clock=clock, media=MediaStore(tmp_path / "files"))
    recorder = Recorder()
    conversations.add_channel("telegram", recorder)
    await conversations.start()
    directory = StaffDirectory(store)
    for chat, role in ((ADMIN, "admin"), (VERIFIER, "verifier"), (CLAIMS, "claims"),
                       (VIEWER, "viewer")):
        await directory.add("telegram", chat, role, f"Petugas {role}", "cli:test", NOW,
                            username=f"petugas_{role}" if role == "admin" else None)
    async with store.transaction() as tx:
        await tx.register_worker(registration(
            status="waiting_verification", programme_id="kota-kecil"), "telegram",
            WORKER_CHAT, NOW)
    app = web_app(conversations, None, store, None, None, console=ConsoleDeps(
        conversations, BASE + "/console", conversations.media, clock=clock))
    yield app, recorder, clock, conversations
    await conversations.stop()


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                             follow_redirects=False)


async def sign_in(app, recorder, conversations, account: str, chat: str) -> httpx.AsyncClient:
    """Ask for a link as a staff member would, take it from their chat, press the button."""
    browser = client(app)
    asked = await browser.post("/console/signin", data={"account": account})
    assert asked.status_code == 200 and "tautan masuk sudah dikirim" in asked.text
    await conversations.idle()
    link = re.search(r"(http://\S+/console/link/\S+)", recorder.sent[chat][-1].text).group(1)
    page = await browser.get(link.removeprefix(BASE))
    assert page.status_code == 200 and "Masuk" in page.text
    token = link.rsplit("/", 1)[1]
    entered = await browser.post("/console/link", data={"token": token})
    assert entered.status_code == 303
    cookie = entered.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert "Path=/console" in cookie
    # httpx, unlike a browser, keeps Secure cookies from http://127.0.0.1 to itself.
    name, value = cookie.split(";", 1)[0].split("=", 1)
    browser.cookies.set(name, value, domain="127.0.0.1", path="/console")
    return browser


def csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


async def worker_status(store, reference="LD-AAAA-AAAA") -> str:
    async with store.transaction() as tx:
        return (await tx.worker_by_reference(reference)).status


async def test_a_link_signs_in_once_and_a_preview_does_not_use_it(console, store):
    app, recorder, clock, conversations = console
    browser = await sign_in(app, recorder, conversations, "@petugas_admin", ADMIN)
    page = await browser.get("/console/registrations")
    assert page.status_code == 200 and "BUDI SANTOSO" in page.text
    assert "1371********0001" in page.text and "1371011708850001" not in page.text
    link = re.search(r"/console/link/\S+", recorder.sent[ADMIN][-1].text).group(0)
    token = link.rsplit("/", 1)[1]
    again = await client(app).post("/console/link", data={"token": token})
    assert again.status_code == 410  # one use
    assert (await client(app).get(link)).status_code == 410


async def test_a_link_expires_after_ten_minutes(console):
    app, recorder, clock, conversations = console
    browser = client(app)
    await browser.post("/console/signin", data={"account": VERIFIER})
    await conversations.idle()
    token = re.search(r"/console/link/(\S+)", recorder.sent[VERIFIER][-1].text).group(1)
    clock.now = NOW + timedelta(minutes=11)
    assert (await browser.post("/console/link", data={"token": token})).status_code == 410


async def test_asking_for_anyone_answers_alike_and_is_limited(console):
    app, recorder, clock, conversations = console
    browser = client(app)
    unknown = await browser.post("/console/signin", data={"account": "081299998888"})
    known = await browser.post("/console/signin", data={"account": ADMIN})
    assert unknown.status_code == known.status_code == 200
    elsewhere = await browser.post("/console/signin", data={"account": ADMIN},
                                   headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    assert unknown.text.replace("081299998888", "") == known.text.replace(ADMIN, "")
    for _ in range(4):
        await browser.post("/console/signin", data={"account": ADMIN})
    refused = await browser.post("/console/signin", data={"account": ADMIN})
    assert refused.status_code == 429 and "15 menit" in refused.text
    await conversations.idle()
    assert len(recorder.sent[ADMIN]) == 5


PAGES = ["/console/registrations", "/console/registrations/LD-AAAA-AAAA", "/console/claims",
         "/console/programmes", "/console/dashboards", "/console/staff", "/console/audit",
         "/console/dashboards/coverage.csv", "/console/registrations/bulk",
         "/console/broadcasts", "/console/broadcasts/count", "/console/broadcasts/1"]
ACTIONS = ["/console/registrations/LD-AAAA-AAAA/approve",
           "/console/registrations/LD-AAAA-AAAA/reject",
           "/console/registrations/LD-AAAA-AAAA/reveal", "/console/registrations/bulk",
           "/console/claims/JKM-2026-000001/decide",
           "/console/claims/JKM-2026-000001/document/kk",
           "/console/claims/JKM-2026-000001/reveal", "/console/staff/add",
           "/console/staff/remove", "/console/broadcasts", "/console/broadcasts/1/cancel"]


async def test_without_a_session_nothing_is_shown_or_done(console, store):
    app, *_ = console
    browser = client(app)
    for path in PAGES:
        answer = await browser.get(path)
        assert answer.status_code == 303 and "/console/signin" in answer.headers["location"]
    for path in ACTIONS:
        answer = await browser.post(path, data={"csrf": "x", "reason": "tidak cocok"})
        assert answer.status_code == 401, path
    assert await worker_status(store) == "waiting_verification"


async def test_each_role_reaches_only_its_pages(console, store):
    app, recorder, clock, conversations = console
    viewer = await sign_in(app, recorder, conversations, VIEWER, VIEWER)
    claims = await sign_in(app, recorder, conversations, CLAIMS, CLAIMS)
    verifier = await sign_in(app, recorder, conversations, VERIFIER, VERIFIER)
    allowed = {
        viewer: {"/console/programmes", "/console/dashboards",
                 "/console/dashboards/coverage.csv"},
        claims: {"/console/claims", "/console/programmes", "/console/dashboards",
                 "/console/dashboards/coverage.csv"},
        verifier: set(PAGES) - {"/console/staff", "/console/audit", "/console/broadcasts",
                                "/console/broadcasts/count", "/console/broadcasts/1"},
    }
    for browser, pages in allowed.items():
        for path in PAGES:
            answer = await browser.get(path)
            assert answer.status_code == (200 if path in pages else 403), path
    assert (await verifier.get("/console/staff")).text.count("BUDI") == 0
    token = csrf(await viewer.get("/console/dashboards"))
    for path in ACTIONS:
        refused = await viewer.post(path, data={"csrf": token, "reason": "tidak cocok"})
        assert refused.status_code == 403, path
    token = csrf(await claims.get("/console/claims"))
    assert (await claims.post("/console/registrations/LD-AAAA-AAAA/approve",
                              data={"csrf": token})).status_code == 403
    assert await worker_status(store) == "waiting_verification"


async def test_a_forged_or_another_sessions_csrf_token_changes_nothing(console, store):
    app, recorder, clock, conversations = console
    verifier = await sign_in(app, recorder, conversations, VERIFIER, VERIFIER)
    admin = await sign_in(app, recorder, conversations, ADMIN, ADMIN)
    theirs = csrf(await admin.get("/console/registrations/LD-AAAA-AAAA"))
    path = "/console/registrations/LD-AAAA-AAAA/approve"
    for data in ({}, {"csrf": "forged"}, {"csrf": theirs}):
        answer = await verifier.post(path, data=data)
        assert answer.status_code == 403 and "tidak ada yang diubah" in answer.text
    mine = csrf(await verifier.get("/console/registrations/LD-AAAA-AAAA"))
    elsewhere = await verifier.post(path, data={"csrf": mine},
                                    headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    assert await worker_status(store) == "waiting_verification"


async def test_approving_in_the_console_tells_the_worker_and_is_recorded(console, store):
    app, recorder, clock, conversations = console
    verifier = await sign_in(app, recorder, conversations, VERIFIER, VERIFIER)
    page = await verifier.get("/console/registrations/LD-AAAA-AAAA")
    done = await verifier.post("/console/registrations/LD-AAAA-AAAA/approve",
                               data={"csrf": csrf(page)})
    assert done.status_code == 303
    await conversations.idle()
    assert await worker_status(store) == "enrolled"
    assert "disetujui" in recorder.sent["100"][-1].text
    after = await verifier.get(done.headers["location"])
    assert "disetujui" in after.text  # what the decision came to, shown once
    actions = await StaffDirectory(store).actions(5, subject="LD-AAAA-AAAA")
    assert actions[0].actor == f"telegram:{VERIFIER}"


async def test_a_rejection_needs_a_reason_and_a_nik_is_revealed_only_with_one(console, store):
    app, recorder, clock, conversations = console
    verifier = await sign_in(app, recorder, conversations, VERIFIER, VERIFIER)
    token = csrf(await verifier.get("/console/registrations/LD-AAAA-AAAA"))
    base = "/console/registrations/LD-AAAA-AAAA"
    await verifier.post(base + "/reject", data={"csrf": token, "reason": ""})
    assert await worker_status(store) == "waiting_verification"
    shown = await verifier.post(base + "/reveal", data={"csrf": token, "reason": ""})
    assert "1371011708850001" not in shown.text
    shown = await verifier.post(base + "/reveal", data={"csrf": token,
                                                        "reason": "cek KTP di loket"})
    assert shown.status_code == 200 and "1371011708850001" in shown.text
    assert "1371011708850001" not in (await verifier.get(base)).text
    revealed = await StaffDirectory(store).actions(5, action="nik.revealed")
    assert revealed[0].detail == {"why": "cek KTP di loket"}


async def test_sessions_end_when_idle_signed_out_or_removed(console):
    app, recorder, clock, conversations = console
    admin = await sign_in(app, recorder, conversations, ADMIN, ADMIN)
    verifier = await sign_in(app, recorder, conversations, VERIFIER, VERIFIER)
    token = csrf(await admin.get("/console/staff"))
    removed = await admin.post("/console/staff/remove",
                               data={"csrf": token, "member": f"telegram:{VERIFIER}"})
    assert removed.status_code == 303
    assert (await verifier.get("/console/registrations")).status_code == 303
    clock.now = NOW + timedelta(minutes=29)
    assert (await admin.get("/console/staff")).status_code == 200
    clock.now = NOW + timedelta(minutes=29 + 31)
    assert (await admin.get("/console/staff")).status_code == 303
    viewer = await sign_in(app, recorder, conversations, VIEWER, VIEWER)
    token = csrf(await viewer.get("/console/dashboards"))
    await viewer.post("/console/signout", data={"csrf": token})
    assert (await viewer.get("/console/dashboards")).status_code == 303


async def test_dashboards_and_programmes_show_figures_with_csv(console, store):
    app, recorder, clock, conversations = console
    viewer = await sign_in(app, recorder, conversations, VIEWER, VIEWER)
    page = await viewer.get("/console/dashboards?programme=kota-kecil")
    assert page.status_code == 200 and "<svg" in page.text and "Padang Utara" in page.text
    assert "BUDI" not in page.text  # figures, no person
    csv_file = await viewer.get("/console/dashboards/registrations.csv")
    assert csv_file.headers["content-type"].startswith("text/csv")
    assert "2026-11-23,1" in csv_file.text
    async with store.transaction() as tx:
        await tx.register_worker(registration(nik="1371011708850003",
                                              reference="LD-CCCC-CCCC"), "telegram",
                                 "telegram:102", NOW)
    again = await viewer.get("/console/dashboards/registrations.csv")
    assert "2026-11-23,1" in again.text  # counted a moment ago: reused
    clock.now = NOW + timedelta(minutes=1)
    assert "2026-11-23,2" in (await viewer.get("/console/dashboards/registrations.csv")).text
    programmes = await viewer.get("/console/programmes")
    assert programmes.status_code == 200 and "Menunggu verifikasi" in programmes.text


async def test_every_answer_forbids_framing_and_foreign_scripts(console):
    app, *_ = console
    answer = await client(app).get("/console/signin")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "same-origin"
    assert (await client(app).get("/console/static/console.css")).status_code == 200


JPEG = b"\xff\xd8\xff\xe0" + b"akta kematian " * 400
PDF = b"%PDF-1.4\n" + b"kartu keluarga " * 400


async def claim_with_files(store, conversations) -> str:
    """A complete claim whose death certificate is a photo and family card a PDF; the rest
    photos too."""
    from bot import claims
    from bot.messages import StoredDocument
    from tests.test_claim_store import filing

    files = conversations.media
    photo, pdf = files.save(JPEG, "image/jpeg", "akta.jpg"), files.save(PDF, "application/pdf",
                                                                       "kk.pdf")
    documents = tuple(StoredDocument(kind, pdf if kind == "kk" else photo)
                      for kind in claims.documents_for("spouse"))
    async with store.transaction() as tx:
        await tx.file_claim(filing(reference="JKM-2026-000001", status=claims.SUBMITTED,
                                   documents=documents), "telegram", "telegram:200", NOW)
    return "JKM-2026-000001"


async def test_a_claims_documents_are_shown_and_decided_with_the_heir_told(console, store):
    app, recorder, clock, conversations = console
    reference = await claim_with_files(store, conversations)
    officer = await sign_in(app, recorder, conversations, CLAIMS, CLAIMS)
    listed = await officer.get("/console/claims")
    assert reference in listed.text and "Siti Rahmawati" in listed.text
    page = await officer.get(f"/console/claims/{reference}")
    assert f'/console/claims/{reference}/file/kk" type="application/pdf"' in page.text
    assert f'<img class="zoomable" src="/console/claims/{reference}/file/death_certificate"' \
        in page.text
    assert "1371********0001" in page.text and "1371011708850001" not in page.text
    pdf = await officer.get(f"/console/claims/{reference}/file/kk")
    assert pdf.content == PDF and pdf.headers["content-type"] == "application/pdf"
    assert (await officer.get(f"/console/claims/{reference}/file/nothing")).status_code == 404
    token = csrf(page)
    base = f"/console/claims/{reference}"
    vague = await officer.post(base + "/document/kk", data={"csrf": token, "action": "reject",
                                                           "code": "other", "note": ""})
    assert vague.status_code == 303
    rejected = await officer.post(base + "/document/kk", data={
        "csrf": token, "action": "reject", "code": "unreadable", "note": "foto buram"})
    assert rejected.status_code == 303
    await conversations.idle()
    told = recorder.sent["200"][-1].text
    assert "Foto tidak terbaca: foto buram" in told
    async with store.reading() as tx:
        found = await tx.claim_by_reference(reference)
    assert found.documents["kk"] == "rejected" and found.status == "more_documents"
    assert (await StaffDirectory(store).actions(1, subject=reference))[0].actor == \
        f"telegram:{CLAIMS}"
    reveal = f"/console/claims/{reference}/reveal"
    assert "1371011708850001" not in (await officer.post(reveal, data={
        "csrf": token, "reason": ""})).text
    shown = await officer.post(reveal, data={"csrf": token, "reason": "cocokkan akta"})
    assert "1371011708850001" in shown.text and "1371015708850002" in shown.text
    assert (await StaffDirectory(store).actions(1, action="nik.revealed"))[0].detail == {
        "why": "cocokkan akta"}


async def test_a_verifier_of_an_area_sees_and_approves_only_there(console, store):
    app, recorder, clock, conversations = console
    async with store.transaction() as tx:
        await tx.register_worker(replace(registration(
            nik="1371011708850002", reference="LD-BBBB-BBBB", status="waiting_verification",
            programme_id="kota-kecil"), kelurahan="Lapai", kecamatan="Nanggalo"), "telegram",
            "telegram:101", NOW)
    await StaffDirectory(store).add("telegram", VERIFIER, "verifier", None, "cli:test", NOW,
                                    "kecamatan:Nanggalo")
    verifier = await sign_in(app, recorder, conversations, VERIFIER, VERIFIER)
    queue = await verifier.get("/console/registrations")
    assert "LD-BBBB-BBBB" in queue.text and "LD-AAAA-AAAA" not in queue.text
    assert (await verifier.get("/console/registrations/LD-AAAA-AAAA")).status_code == 404
    token = csrf(queue)
    await verifier.post("/console/registrations/LD-AAAA-AAAA/approve", data={"csrf": token})
    assert await worker_status(store) == "waiting_verification"


async def test_the_queue_filters_and_approving_a_filtered_set(console, store):
    app, recorder, clock, conversations = console
    admin = await sign_in(app, recorder, conversations, ADMIN, ADMIN)
    assert "BUDI" not in (await admin.get("/console/registrations?place=Lapai")).text
    assert "BUDI" in (await admin.get("/console/registrations?place=padang utara")).text
    assert "BUDI" not in (await admin.get("/console/registrations?since=2026-12-01")).text
    odd = await admin.get("/console/registrations?since=kemarin")
    assert odd.status_code == 200 and "2026-12-01" in odd.text
    # DTSEN is not loaded in this test: nothing is matched, so nothing is approved together.
    preview = await admin.get("/console/registrations/bulk")
    assert "0 pendaftaran" in preview.text
    missing = await admin.get("/console/registrations?dtsen=missing")
    assert "BUDI" in missing.text


async def test_a_broadcast_composed_previewed_sent_and_cancelled(console, store):
    app, recorder, clock, conversations = console
    admin = await sign_in(app, recorder, conversations, ADMIN, ADMIN)
    compose = await admin.get("/console/broadcasts")
    assert compose.status_code == 200 and 'id="live-count"' in compose.text
    count = await admin.get("/console/broadcasts/count?programme=kota-kecil")
    assert count.json()["count"] == 1
    wrong = await admin.get("/console/broadcasts/count?reminder=documents_missing&"
                            "programme=kota-kecil")
    assert "programme" in wrong.json()["text"]
    text = "Rapat Kepatuhan tanggal 15 Desember, 09.00, Balai Kota."
    preview = await admin.get("/console/broadcasts/preview", params={
        "text_id": text, "programme": "kota-kecil", "at": "2026-12-15T08:00"})
    assert preview.status_code == 200 and "1 penerima" in preview.text and text in preview.text
    empty = await admin.get("/console/broadcasts/preview", params={"programme": "kota-kecil"})
    assert empty.status_code == 400
    sent = await admin.post("/console/broadcasts", data={
        "csrf": csrf(preview), "text_id": text, "programme": "kota-kecil",
        "at": "2026-12-15T08:00"})
    assert sent.status_code == 303
    number = sent.headers["location"].rsplit("/", 1)[1]
    follow = await admin.get(sent.headers["location"])
    assert "15-12-2026" in follow.text or "15 Des" in follow.text
    live = await admin.get(f"/console/broadcasts/{number}/progress")
    assert live.json()["status"] == "sending" and live.json()["waiting"] == 1
    await admin.post(f"/console/broadcasts/{number}/cancel", data={"csrf": csrf(follow)})
    assert (await admin.get(f"/console/broadcasts/{number}/progress")).json()["status"] == \
        "cancelled"
    verifier = await sign_in(app, recorder, conversations, VERIFIER, VERIFIER)
    assert (await verifier.get("/console/broadcasts")).status_code == 403


async def test_a_claim_approved_then_paid_from_the_console(console, store):
    app, recorder, clock, conversations = console
    reference = await claim_with_files(store, conversations)
    officer = await sign_in(app, recorder, conversations, CLAIMS, CLAIMS)
    base = f"/console/claims/{reference}"
    token = csrf(await officer.get(base))
    no_reason = await officer.post(base + "/decide", data={"csrf": token,
                                                           "decision": "request"})
    assert no_reason.status_code == 303
    async with store.reading() as tx:
        assert (await tx.claim_by_reference(reference)).status == "submitted"
    await officer.post(base + "/decide", data={"csrf": token, "decision": "paid"})
    async with store.reading() as tx:  # paid before approved: refused, nothing changes
        assert (await tx.claim_by_reference(reference)).status == "submitted"
    for decision, status in (("approve", "approved"), ("paid", "paid")):
        await officer.post(base + "/decide", data={"csrf": token, "decision": decision})
        async with store.reading() as tx:
            assert (await tx.claim_by_reference(reference)).status == status
    await conversations.idle()
    told = [m.text for m in recorder.sent["200"]]
    assert any("disetujui" in text for text in told) and any("dibayar" in text
                                                             for text in told)
    page = await officer.get(base)
    assert 'name="decision"' not in page.text  # nothing is left to decide
