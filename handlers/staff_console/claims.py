"""Death claims: the queue by status with the 3-working-day payment deadline and the overdue
flagged; a claim's page with the deceased, the heir and where they stand in the order of
heirs, the estimate, and every document shown in the page (photos zoomable, PDFs inline)
beside its checklist line: accept, or reject with a reason and a note; then ask for more,
approve, reject or mark paid. The decisions are ``bot.decisions``' own: the heir is told
each time, in their language, and the record says who did it."""

import asyncio
import logging

from starlette.responses import Response

from bot import claims, heirs
from bot.benefits import WORK_ACCIDENT
from bot.claimdesk import DOCUMENT_STATUS, STATUS_WORDS, WORKING
from bot.decisions import CLAIM_MOVES, decide_claim, decide_document, reveal_nik, take
from bot.flows.claim import CAUSE_TEXT, RELATIONSHIP_TEXT, STATUS_TEXT
from bot.i18n import N_
from bot.messages import MEDIA_TYPES
from bot.quiet_hours import WIB
from bot.roles import CLAIMS_WORK, REGISTRATIONS, may
from handlers.staff_console.app import NO_STORE, View, route
from models.console_queries import claim_counts, claims_queue

log = logging.getLogger("lindungi.console")

SHOWN = 50
REJECTIONS = {
    "unreadable": N_("console.document.unreadable"),
    "wrong_person": N_("console.document.wrong_person"),
    "incomplete": N_("console.document.incomplete"),
    "not_valid": N_("console.document.not_valid"),
    "other": N_("console.document.other"),
}
"""Why a document is rejected: the heir reads the reason in their language, then the note."""
DECISIONS = {"request": N_("console.claim.request"), "approve": N_("console.claim.approve"),
             "reject": N_("console.claim.reject"), "paid": N_("console.claim.paid")}


def routes():
    return [route("/claims", CLAIMS_WORK, queue),
            route("/claims/{reference}", CLAIMS_WORK, claim_page),
            route("/claims/{reference}/file/{kind}", CLAIMS_WORK, claim_file),
            route("/claims/{reference}/document/{kind}", CLAIMS_WORK, document,
                  methods=("POST",)),
            route("/claims/{reference}/decide", CLAIMS_WORK, decide, methods=("POST",)),
            route("/claims/{reference}/reveal", CLAIMS_WORK, reveal, methods=("POST",))]


def _reference(view: View) -> str:
    return view.request.path_params["reference"].upper()[:30]


async def queue(view: View) -> Response:
    word = view.query("status")
    statuses = STATUS_WORDS.get(word, WORKING)
    async with view.deps.store.reading() as tx:
        found, total = await claims_queue(tx, statuses, SHOWN)
        counts = await claim_counts(tx)
    tabs = [(w, sum(counts.get(s, 0) for s in group)) for w, group in STATUS_WORDS.items()]
    return view.page("claims.html", claims=found, total=total, word=word, tabs=tabs,
                     working=sum(counts.get(s, 0) for s in WORKING), status_text=STATUS_TEXT,
                     today=view.now.astimezone(WIB).date())


async def claim_page(view: View, revealed: dict | None = None) -> Response:
    reference = _reference(view)
    async with view.deps.store.reading() as tx:
        claim = await tx.claim_by_reference(reference)
        deceased = await tx.worker_by_nik(claim.deceased_nik) if claim else None
    if claim is None:
        return view.page("error.html", status_code=404,
                         message=view.t(N_("console.error.not_found")))
    documents = [(kind, claims.DOCUMENTS[kind], claim.documents.get(kind, "missing"),
                  claim.files.get(kind)) for kind in claims.documents_for(claim.relationship)]
    moves = [name for name, (allowed, _) in CLAIM_MOVES.items() if claim.status in allowed]
    return view.page(
        "claim.html", claim=claim, deceased=deceased, documents=documents,
        document_status=DOCUMENT_STATUS, rejections=REJECTIONS, decisions=DECISIONS,
        moves=moves, status_text=STATUS_TEXT, cause_text=CAUSE_TEXT.get(
            claim.cause, N_("claim.cause.illness")), work_accident=claim.cause == WORK_ACCIDENT,
        relationship=RELATIONSHIP_TEXT.get(claim.relationship, claim.relationship),
        group=heirs.GROUP_OF.get(claim.relationship, 0) + 1,
        before=[heirs.GROUP_NAMES[n] for n in heirs.groups_before(claim.relationship)
                if n < len(heirs.GROUP_NAMES)],
        today=view.now.astimezone(WIB).date(),
        may_registrations=may(view.signed.member.role, REGISTRATIONS), revealed=revealed)


async def claim_file(view: View) -> Response:
    """A document of the claim, for the page to show inline: only a file the claim holds."""
    reference, kind = _reference(view), view.request.path_params["kind"]
    async with view.deps.store.reading() as tx:
        claim = await tx.claim_by_reference(reference)
    media = claim.files.get(kind) if claim else None
    if media is None or view.deps.files is None:
        return Response(status_code=404)
    try:
        data = await asyncio.to_thread((view.deps.files.folder / media.path).read_bytes)
    except OSError as exc:
        log.warning("stored file %s cannot be read: %s", media.path, exc.strerror)
        return Response(status_code=404)
    extension = MEDIA_TYPES.get(media.mime_type, "bin")
    return Response(data, media_type=media.mime_type, headers=NO_STORE | {
        "Content-Disposition": f'inline; filename="{reference}-{kind}.{extension}"'})


async def document(view: View) -> Response:
    reference, kind = _reference(view), view.request.path_params["kind"]
    accept = view.form.get("action") == "accept"
    code = view.form.get("code", "")
    note = view.form.get("note", "").strip()[:300]

    async def step(ctx, turn) -> None:
        claim = await ctx.lookup.claim_by_reference(reference)
        if claim is None or kind not in claim.files:
            view.say(view.t(N_("console.error.not_found")))
            return
        rejection = None
        if not accept:
            if code not in REJECTIONS or (code == "other" and len(note) < 3):
                view.say(view.t(N_("console.document.why")))
                return
            reason = view.deps.catalogs.text(claim.locale, REJECTIONS[code])
            rejection = f"{reason}: {note}" if note else reason
        take(turn, decide_document(claim, kind, rejection, view.signed.actor))

    view.said(await view.deps.conversations.act(step))
    return view.back(f"/claims/{reference}")


async def decide(view: View) -> Response:
    reference = _reference(view)
    decision = view.form.get("decision", "")
    reason = view.form.get("reason", "").strip()[:500] or None

    async def step(ctx, turn) -> None:
        claim = await ctx.lookup.claim_by_reference(reference)
        if claim is None or decision not in CLAIM_MOVES:
            view.say(view.t(N_("console.error.not_found")))
            return
        take(turn, decide_claim(decision, claim, reason, view.signed.actor))

    view.said(await view.deps.conversations.act(step))
    return view.back(f"/claims/{reference}")


async def reveal(view: View) -> Response:
    """The deceased's and the heir's full NIKs, once, on this answer only, recorded with the
    reason on the claim and the registration."""
    reference = _reference(view)
    why = view.form.get("reason", "").strip()[:200]
    shown: dict[str, str] = {}

    async def step(ctx, turn) -> None:
        decision = await reveal_nik(reference, why or None, view.signed.actor, ctx)
        take(turn, decision)
        claim = await ctx.lookup.claim_by_reference(reference) if decision.done else None
        if claim is not None:
            shown.update(deceased=claim.deceased_nik, heir=claim.heir_nik)

    turn = await view.deps.conversations.act(step)
    if not shown:
        view.said(turn)
        return view.back(f"/claims/{reference}")
    return await claim_page(view, revealed=shown)
