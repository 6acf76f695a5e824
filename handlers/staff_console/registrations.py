"""Registrations: the queue waiting for a verifier (filters: programme, kelurahan or
kecamatan, DTSEN as it is today, since a date), a worker's page (their data with the NIK
masked, history, cycles, the notices sent), and the decisions: approve, reject with a
reason, approve a filtered set after a preview, reveal a NIK with a reason. Each decision is
``bot.decisions``' own, so the worker is told and the record kept as from the chat."""

from datetime import date

from starlette.responses import Response

from bot.areas import Area, parse_area
from bot.decisions import (
    approve_many,
    approve_registration,
    programme_of,
    reject_registration,
    reveal_nik,
    take,
)
from bot.i18n import N_
from bot.messages import WorkerInfo
from bot.roles import REGISTRATIONS
from bot.status import STATE
from handlers.staff_console.app import View, route
from models.console_queries import QueueFilter, history, notices_to, waiting

SCANNED = 200
"""The oldest registrations of a filter that the DTSEN column is worked out for (a look-up
each): the page says when more wait."""
SHOWN = 50
DTSEN_RESULTS = {
    "matched": N_("console.dtsen.matched"),
    "above": N_("console.dtsen.above"),
    "missing": N_("console.dtsen.missing"),
    "refused": N_("console.dtsen.refused"),
}


def routes():
    return [route("/registrations", REGISTRATIONS, queue),
            route("/registrations/bulk", REGISTRATIONS, bulk_preview),
            route("/registrations/bulk", REGISTRATIONS, bulk_approve, methods=("POST",)),
            route("/registrations/{reference}", REGISTRATIONS, worker_page),
            route("/registrations/{reference}/approve", REGISTRATIONS, approve,
                  methods=("POST",)),
            route("/registrations/{reference}/reject", REGISTRATIONS, reject,
                  methods=("POST",)),
            route("/registrations/{reference}/reveal", REGISTRATIONS, reveal,
                  methods=("POST",))]


def area_of(view: View) -> Area | None:
    return parse_area(view.signed.member.area)


def chosen(view: View, source=None) -> tuple[QueueFilter, str]:
    """The filters of the query (or of a form), and the DTSEN result asked for."""
    get = (source or view.request.query_params).get
    since = None
    try:
        since = date.fromisoformat(get("since", "").strip()) if get("since") else None
    except ValueError:
        view.say(view.t(N_("console.queue.bad_date")))
    dtsen = get("dtsen", "")
    return QueueFilter(programme=get("programme", "").strip()[:40],
                       place=get("place", "").strip()[:60], since=since,
                       area=area_of(view)), dtsen if dtsen in DTSEN_RESULTS else ""


async def dtsen_result(view: View, tx, worker: WorkerInfo) -> tuple[str, int | None]:
    programme = programme_of(worker, view.deps.programmes)
    if not worker.dtsen_ok:
        return "refused", None
    desil = await tx.dtsen_desil(worker.nik)
    if desil is None:
        return "missing", None
    limit = programme.dtsen_max_desil if programme else 0
    return ("matched" if desil <= limit else "above"), desil


async def filtered(view: View, queue: QueueFilter, dtsen: str):
    """The rows of the queue (each with its DTSEN result today), how many wait under the
    filters, and whether more than ``SCANNED`` were there to look at."""
    async with view.deps.store.reading() as tx:
        found, total = await waiting(tx, queue, SCANNED)
        rows = []
        for worker in found:
            result, desil = await dtsen_result(view, tx, worker)
            if not dtsen or result == dtsen:
                rows.append((worker, result, desil))
    return rows, total, total > SCANNED


def _filters_context(view: View, queue: QueueFilter, dtsen: str) -> dict:
    programmes = view.deps.programmes
    return {"queue": queue, "dtsen": dtsen, "dtsen_results": DTSEN_RESULTS,
            "programmes": programmes.programme if programmes else (),
            "area": area_of(view), "states": STATE}


async def queue(view: View) -> Response:
    queue_filter, dtsen = chosen(view)
    rows, total, more = await filtered(view, queue_filter, dtsen)
    return view.page("registrations.html", rows=rows[:SHOWN], total=total, more=more,
                     scanned=SCANNED, matched=sum(r[1] == "matched" for r in rows),
                     **_filters_context(view, queue_filter, dtsen))


async def bulk_preview(view: View) -> Response:
    """Who approving the filtered set would approve: the DTSEN-matched among them."""
    queue_filter, _ = chosen(view)
    rows, total, more = await filtered(view, queue_filter, "matched")
    return view.page("bulk.html", rows=rows, more=more, scanned=SCANNED,
                     **_filters_context(view, queue_filter, "matched"))


async def bulk_approve(view: View) -> Response:
    queue_filter, _ = chosen(view, view.form)
    expected = set(view.form.getlist("reference"))
    rows, _, _ = await filtered(view, queue_filter, "matched")
    chosen_workers = [w for w, _, _ in rows if w.reference in expected]

    async def step(ctx, turn) -> None:
        decisions = await approve_many(chosen_workers, view.signed.actor, ctx,
                                       view.deps.programmes, area_of(view))
        for decision in decisions:
            if decision.done:
                for effect in decision.effects:
                    turn.do(effect)
        done = [d for d in decisions if d.done]
        enrolled = sum(d.result.msgid == "staff.approved" for d in done)
        view.say(view.t(N_("console.bulk.done"), approved=len(done), enrolled=enrolled,
                        waiting=len(done) - enrolled, refused=len(decisions) - len(done)))

    await view.deps.conversations.act(step)
    return view.back("/registrations")


async def worker_page(view: View, revealed: str | None = None) -> Response:
    reference = view.request.path_params["reference"].upper()[:20]
    async with view.deps.store.reading() as tx:
        worker = await tx.worker_by_reference(reference)
        if worker is None or (area_of(view) and not area_of(view).holds(worker)):
            return view.page("error.html", status_code=404,
                             message=view.t(N_("console.error.not_found")))
        result, desil = await dtsen_result(view, tx, worker)
        events, cycles = await history(tx, reference)
        chats = [key for key, _ in await tx.chats_of(reference)]
        sent = await notices_to(tx, chats)
    return view.page("worker.html", worker=worker, dtsen=result, desil=desil,
                     dtsen_results=DTSEN_RESULTS, events=events, cycles=cycles, sent=sent,
                     chats=chats, states=STATE, revealed=revealed,
                     programme=programme_of(worker, view.deps.programmes))


async def approve(view: View) -> Response:
    reference = view.request.path_params["reference"].upper()[:20]

    async def step(ctx, turn) -> None:
        take(turn, await approve_registration(reference, view.signed.actor, ctx,
                                              view.deps.programmes, area_of(view)))

    view.said(await view.deps.conversations.act(step))
    return view.back(f"/registrations/{reference}")


async def reject(view: View) -> Response:
    reference = view.request.path_params["reference"].upper()[:20]
    reason = view.form.get("reason", "").strip()[:500]

    async def step(ctx, turn) -> None:
        take(turn, await reject_registration(reference, reason, view.signed.actor, ctx,
                                             view.deps.programmes, area_of(view)))

    view.said(await view.deps.conversations.act(step))
    return view.back(f"/registrations/{reference}")


async def reveal(view: View) -> Response:
    """The full NIK, once, on this answer only (never in an address or a later page),
    recorded with the reason."""
    reference = view.request.path_params["reference"].upper()[:20]
    why = view.form.get("reason", "").strip()[:200]
    async with view.deps.store.reading() as tx:
        worker = await tx.worker_by_reference(reference)
    if worker is None or (area_of(view) and not area_of(view).holds(worker)):
        return view.page("error.html", status_code=404,
                         message=view.t(N_("console.error.not_found")))
    shown: list[str] = []

    async def step(ctx, turn) -> None:
        decision = await reveal_nik(reference, why or None, view.signed.actor, ctx)
        take(turn, decision)
        if decision.done:
            shown.append(worker.nik)

    turn = await view.deps.conversations.act(step)
    if not shown:
        view.said(turn)
        return view.back(f"/registrations/{reference}")
    return await worker_page(view, revealed=shown[0])
