"""The decisions staff take, as use cases: approve or reject a registration, link a chat after a
KTP check (or refuse it), decide a claim or one of its documents. Each checks the decision may
be taken now and returns what it comes to: the effects to store (the change, recorded with
who made it, and the notices telling the worker or the heir) and the result to show the staff
member. The chat desk (``bot.staffdesk``, ``bot.claimdesk``) calls them now; a web console
calls the same ones.

Pure, like the engine: what they read comes through ``ctx.lookup``.
"""

from collections import Counter
from dataclasses import dataclass

from bot import claims, enrolment, proof, rights
from bot.areas import Area, same_place
from bot.context import Context, Turn
from bot.flows.claim import STATUS_TEXT
from bot.i18n import N_, Money, Msg, When
from bot.messages import (
    ChangeClaim,
    ChangePhone,
    ChangeStatus,
    DecideProof,
    Effect,
    LinkChat,
    Notify,
    Reply,
    WorkerInfo,
)
from bot.programmes import Programme, Programmes
from bot.quiet_hours import WIB
from bot.status import STATE
from bot.validators import Err, validate_phone

BULK_MOST = 200
"""Most registrations approved together: the rest in the next step."""
MIN_REASON = 3
"""A reason shorter than this says nothing to the person it is sent to."""

CLAIM_MOVES = {
    "request": (frozenset(claims.OPEN - {claims.APPROVED}), claims.MORE_DOCUMENTS),
    "approve": (frozenset({claims.SUBMITTED, claims.IN_REVIEW, claims.NOT_COVERED}),
                claims.APPROVED),
    "reject": (frozenset(claims.OPEN), claims.REJECTED),
    "paid": (frozenset({claims.APPROVED}), claims.PAID),
}
"""For each claim decision: the statuses it may be taken from, and the status it leads to."""
NEEDS_REASON = frozenset({"request", "reject"})
CLAIM_NOTICES = {
    claims.MORE_DOCUMENTS: N_("notice.claim.more_documents"),
    claims.APPROVED: N_("notice.claim.approved"),
    claims.REJECTED: N_("notice.claim.rejected"),
    claims.PAID: N_("notice.claim.paid"),
}


@dataclass(frozen=True)
class Decision:
    """What a decision came to: ``done`` (False: refused, ``result`` says why), the effects to
    store in one transaction, and the result for the staff member."""

    done: bool
    result: Reply
    effects: tuple[Effect, ...] = ()


def take(turn: Turn, decision: Decision) -> None:
    """A decision taken in the chat: its effects stored, its result the reply."""
    for effect in decision.effects:
        turn.do(effect)
    turn.say(decision.result)


def refused(msgid: str, params: dict | None = None) -> Decision:
    return Decision(False, Reply(msgid, params or {}, navigation=True))


def programme_of(worker, programmes: Programmes | None) -> Programme | None:
    return programmes.by_id(worker.programme_id) if programmes and worker.programme_id \
        else None


def outside(area: Area | None, worker: WorkerInfo, reference: str) -> Decision | None:
    """A verifier of an area deciding on someone elsewhere: refused, naming the area."""
    if area is None or area.holds(worker):
        return None
    return refused(N_("staff.not_your_area"), {"reference": reference, "area": area.name})


async def approve_registration(reference: str, actor: str, ctx: Context,
                               programmes: Programmes | None,
                               area: Area | None = None,
                               already: Counter | None = None) -> Decision:
    """A verifier approves a registration waiting for them: a programme place (or a place in
    line) if DTSEN, as it is today, still admits the worker; the worker is told."""
    worker = await ctx.lookup.worker_by_reference(reference)
    if worker is None:
        return refused(N_("staff.not_found"), {"reference": reference})
    if (elsewhere := outside(area, worker, reference)) is not None:
        return elsewhere
    if worker.died_on is not None:
        return refused(N_("staff.deceased"), {"reference": reference, "died_on": worker.died_on})
    if worker.status != enrolment.WAITING_VERIFICATION:
        return refused(N_("staff.not_waiting"), {"reference": reference,
                                                  "status": Msg(STATE[worker.status])})
    programme = programme_of(worker, programmes)
    if programme is None or not programme.running(ctx.today):
        return refused(N_("staff.no_programme"), {"reference": reference})
    desil = await ctx.lookup.dtsen_desil(worker.nik) if worker.dtsen_ok else None
    if desil is not None and desil > programme.dtsen_max_desil:
        return refused(N_("staff.dtsen_above"), {"reference": reference, "desil": desil,
                                                  "max_desil": programme.dtsen_max_desil})
    placed = await enrolment.place(programme, ctx.lookup, ctx.today, already)
    params = {"reference": reference, "full_name": worker.full_name,
              "position": placed.position,
              **enrolment.programme_params(programme, ctx.today)}
    enrolled = placed.status == enrolment.ENROLLED
    return Decision(True, Reply(
        N_("staff.approved") if enrolled else N_("staff.approved_waiting"), params,
        navigation=True), (
        ChangeStatus(reference, worker.status, placed.status, actor=actor,
                     coverage_start=placed.coverage_start, coverage_end=placed.coverage_end,
                     cycle=placed.cycle, funder=placed.funder),
        Notify(worker.chat_key, worker.locale, (Reply(
            N_("notice.approved") if enrolled else N_("notice.approved_waiting"), params,
            navigation=True),))))


async def matched_waiting(ctx: Context, programmes: Programmes | None, area: Area | None,
                          where: str) -> list[WorkerInfo]:
    """The registrations waiting for a verifier (of ``area``; in the kelurahan or kecamatan
    ``where``, if given) that DTSEN, as it is today, admits to a running programme: those a
    verifier may approve together, among the ``BULK_MOST`` oldest waiting."""
    waiting, _ = await ctx.lookup.awaiting_review(BULK_MOST, area)
    found = []
    for worker in waiting:
        if where and not (same_place(worker.kelurahan, where)
                          or same_place(worker.kecamatan, where)):
            continue
        programme = programme_of(worker, programmes)
        if programme is None or not programme.running(ctx.today) or not worker.dtsen_ok \
                or worker.died_on is not None:
            continue
        desil = await ctx.lookup.dtsen_desil(worker.nik)
        if desil is not None and desil <= programme.dtsen_max_desil:
            found.append(worker)
    return found


async def approve_many(workers: list[WorkerInfo], actor: str, ctx: Context,
                       programmes: Programmes | None, area: Area | None) -> list[Decision]:
    """Each approved as one verifier's decision, the places of the earlier ones counted."""
    already: Counter = Counter()
    return [await approve_registration(w.reference, actor, ctx, programmes, area, already)
            for w in workers]


async def reject_registration(reference: str, reason: str, actor: str, ctx: Context,
                              programmes: Programmes | None,
                              area: Area | None = None) -> Decision:
    """A registration rejected (or cover ended, for an active worker) with a reason the
    worker is told; a place it held goes to the first in line."""
    if len(reason.strip()) < MIN_REASON:
        return refused(N_("staff.reject_usage"))
    worker = await ctx.lookup.worker_by_reference(reference)
    if worker is None:
        return refused(N_("staff.not_found"), {"reference": reference})
    if (elsewhere := outside(area, worker, reference)) is not None:
        return elsewhere
    if worker.status not in enrolment.REJECTABLE:
        return refused(N_("staff.not_rejectable"), {"reference": reference,
                                                     "status": Msg(STATE[worker.status])})
    new = enrolment.ENDED if worker.status == enrolment.ACTIVE else enrolment.REJECTED
    effects: list[Effect] = [
        ChangeStatus(reference, worker.status, new, actor=actor, reason=reason),
        Notify(worker.chat_key, worker.locale, (Reply(
            N_("notice.rejected") if new == enrolment.REJECTED else N_("notice.ended"),
            {"full_name": worker.full_name, "reference": reference, "reason": reason},
            navigation=True),))]
    programme = programme_of(worker, programmes)
    if worker.status in enrolment.HOLDING and programme:
        effects += await enrolment.fill_places(programme, ctx.lookup, ctx.today, released=1)
    return Decision(True, Reply(N_("staff.rejected"), {"reference": reference,
                                                       "reason": reason}, navigation=True),
                    tuple(effects))


async def decide_link(reference: str, refusal: str | None, actor: str,
                      ctx: Context) -> Decision:
    """A request to link a chat (``TAUT-…``), once staff saw the person's KTP: linked (the
    chats already holding the registration told), or refused with a reason."""
    if refusal is not None and len(refusal.strip()) < MIN_REASON:
        return refused(N_("staff.links.usage"))
    check = await ctx.lookup.proof_by_reference(reference)
    worker = await ctx.lookup.worker_by_reference(check.subject) if check else None
    if check is None or worker is None or check.state != proof.PENDING \
            or check.expires_at <= ctx.now:
        return refused(N_("staff.links.not_found"), {"reference": reference})
    decided = DecideProof(check.id, refusal is None, actor, refusal)
    if refusal is not None:
        return Decision(True, Reply(N_("staff.links.refused"), {"reference": reference},
                                    navigation=True), (
            decided, Notify(check.chat_key, check.locale, (Reply(
                N_("notice.link_refused"), {"reference": reference, "reason": refusal},
                navigation=True),))))
    return Decision(True, Reply(N_("staff.links.approved"), {
        "reference": reference, "worker": worker.reference}, navigation=True), (
        decided, LinkChat(worker.reference, check.chat_key),
        Notify(check.chat_key, check.locale, (Reply(
            N_("notice.link_approved"), {"reference": worker.reference,
                                         "full_name": worker.full_name}, navigation=True),)),
        *proof.linked_notices(worker, check.chat_key, await proof.holders(ctx, worker),
                              ctx.now)))


def decide_claim(decision: str, claim: claims.ClaimInfo, reason: str | None,
                 actor: str) -> Decision:
    """``request`` more documents, ``approve``, ``reject`` or mark ``paid``, from the
    statuses each may be taken from; the heir is told."""
    if decision in NEEDS_REASON and len((reason or "").strip()) < MIN_REASON:
        return refused(N_("staff.claims.reason_needed"))
    allowed, new = CLAIM_MOVES[decision]
    if claim.status not in allowed:
        return refused(N_("staff.claims.not_now"), {
            "reference": claim.reference, "status": Msg(STATUS_TEXT[claim.status])})
    if decision == "approve" and claim.others:
        # Two heirs reported the same death: one report is rejected before the other can be
        # approved.
        return refused(N_("staff.claims.contested"), {"reference": claim.reference,
                                                       "others": ", ".join(claim.others)})
    return Decision(True, Reply(N_("staff.claims.changed"), {
        "reference": claim.reference, "status": Msg(STATUS_TEXT[new])}, navigation=True), (
        ChangeClaim(claim.reference, claim.status, new, actor, reason=reason),
        Notify(claim.chat_key, claim.locale, (Reply(CLAIM_NOTICES[new], {
            "reference": claim.reference, "reason": reason or "",
            "estimate": Money(claim.estimate)}, navigation=True),))))


def decide_document(claim: claims.ClaimInfo, kind: str, rejection: str | None,
                    actor: str) -> Decision:
    """One document of a claim accepted (the claim moves to review), or rejected with a
    reason (the heir is asked for it again); the heir is told."""
    document = Msg(claims.DOCUMENTS[kind])
    if rejection is None:
        new = claims.IN_REVIEW if claim.status == claims.SUBMITTED else claim.status
        return Decision(True, Reply(N_("staff.claims.document_accepted"), {
            "reference": claim.reference, "document": document}, navigation=True), (
            ChangeClaim(claim.reference, claim.status, new, actor, document=kind,
                        document_status="accepted"),
            Notify(claim.chat_key, claim.locale, (Reply(
                N_("notice.claim.document_accepted"),
                {"reference": claim.reference, "document": document}, navigation=True),))))
    if len(rejection.strip()) < MIN_REASON:
        return refused(N_("staff.claims.reason_needed"))
    return Decision(True, Reply(N_("staff.claims.changed"), {
        "reference": claim.reference, "status": Msg(STATUS_TEXT[claims.MORE_DOCUMENTS])},
        navigation=True), (
        ChangeClaim(claim.reference, claim.status, claims.MORE_DOCUMENTS, actor,
                    reason=rejection, document=kind, document_status="rejected"),
        Notify(claim.chat_key, claim.locale, (Reply(
            N_("notice.claim.document_rejected"),
            {"reference": claim.reference, "document": document, "reason": rejection},
            navigation=True),))))


async def change_phone(reference: str, typed: str, actor: str, ctx: Context) -> Decision:
    """A worker's number changed by staff who checked their KTP at the office (where the bot
    sends nothing on WhatsApp, or the worker has no chat left); the chats holding the
    registration, the old number's WhatsApp among them, are told."""
    phone = validate_phone(typed)
    if isinstance(phone, Err):
        return refused(N_("staff.phone.usage"))
    worker = await ctx.lookup.worker_by_reference(reference)
    if worker is None:
        return refused(N_("staff.not_found"), {"reference": reference})
    if phone.value == worker.phone:
        return refused(N_("staff.phone.same"), {"reference": reference, "phone": phone.value})
    notice = Reply(N_("notice.phone_changed_by_staff"), {
        "reference": reference, "when": When(ctx.now.astimezone(WIB))}, navigation=True)
    return Decision(True, Reply(N_("staff.phone.changed"), {
        "reference": reference, "phone": phone.value}, navigation=True), (
        ChangePhone(reference, phone.value, actor),
        *(Notify(holder, worker.locale, (notice,))
          for holder in await proof.holders(ctx, worker)
          if holder != proof.whatsapp_chat(phone.value))))


async def decide_right(number: str, refusal: str | None, actor: str, ctx: Context) -> Decision:
    """A request under the data protection law waiting for staff (``HAK-…``): a correction of
    name, birth date or NIK applied once the KTP photo matched, an erasure (where a death was
    reported) carried out, or either refused with a reason. The worker is told in the chat
    that asked."""
    if refusal is not None and len(refusal.strip()) < MIN_REASON:
        return refused(N_("staff.rights.usage"))
    request = await ctx.lookup.right_by_number(number)
    if request is None or request.state != rights.OPEN:
        return refused(N_("staff.rights.not_found"), {"number": number})
    worker = await ctx.lookup.worker_by_reference(request.reference)
    if worker is None:
        return refused(N_("staff.rights.not_found"), {"number": number})
    if refusal is not None:
        return Decision(True, Reply(N_("staff.rights.refused"), {"number": number},
                                    navigation=True), (
            rights.DecideRight(number, False, actor, refusal),
            Notify(request.chat_key, request.locale, (Reply(
                N_("notice.rights.refused"), {"number": number, "reason": refusal},
                navigation=True),))))
    if request.kind == rights.ERASE:
        return Decision(True, Reply(N_("staff.rights.erased"), {
            "number": number, "reference": worker.reference}, navigation=True), (
            Notify(request.chat_key, request.locale, (Reply(
                N_("notice.rights.erased_by_staff"), {"number": number}, navigation=True),)),
            rights.DecideRight(number, True, actor),
            rights.EraseWorker(worker.reference, number, actor)))
    if request.field == "nik" and await ctx.lookup.worker_by_nik(request.value):
        return refused(N_("staff.rights.nik_taken"), {"number": number})
    return Decision(True, Reply(N_("staff.rights.corrected"), {
        "number": number, "reference": worker.reference}, navigation=True), (
        rights.CorrectWorker(worker.reference, {request.field: request.value}, actor),
        rights.DecideRight(number, True, actor),
        Notify(request.chat_key, request.locale, (Reply(N_("notice.rights.corrected"), {
            "number": number, "field": Msg(rights.FIELD_LABELS[request.field]),
            "value": request.value}, navigation=True),))))


async def reveal_nik(reference: str, why: str | None, actor: str, ctx: Context) -> Decision:
    """The full NIK of a registration (``LD-…``), or of a claim's deceased and heir
    (``JKM-…``), for a staff member who says why (staff see NIKs masked): recorded with who
    and why on the registration, which its worker reads under "Data saya"."""
    if why is None or len(why.strip()) < MIN_REASON:
        return refused(N_("staff.nik.usage"))
    worker = await ctx.lookup.worker_by_reference(reference)
    if worker is not None:
        return Decision(True, Reply(N_("staff.nik.worker"), {
            "reference": reference, "full_name": worker.full_name, "nik": worker.nik},
            navigation=True), (rights.RevealNik((reference,), actor, why.strip()),))
    claim = await ctx.lookup.claim_by_reference(reference)
    if claim is None:
        return refused(N_("staff.not_found"), {"reference": reference})
    deceased = await ctx.lookup.worker_by_nik(claim.deceased_nik)
    subjects = (reference, deceased.reference) if deceased else (reference,)
    return Decision(True, Reply(N_("staff.nik.claim"), {
        "reference": reference, "deceased": claim.deceased_nik, "heir": claim.heir_nik,
        "heir_name": claim.heir_name}, navigation=True),
        (rights.RevealNik(subjects, actor, why.strip()),))
