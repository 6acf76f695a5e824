"""What a worker (or someone who knows their NIK and birth date) is told about their cover, and
their card."""

import dataclasses
from datetime import date

from bot import claims, enrolment
from bot.cards import CardData, sign_card
from bot.context import Lookup
from bot.i18n import N_, Money, Msg
from bot.messages import ChangeStatus, Effect, Notify, Reply, WorkerInfo
from bot.programmes import Programmes
from bot.rules import Rules
from bot.validators import mask_nik

STATE = {
    enrolment.WAITING_VERIFICATION: N_("worker_status.waiting_verification"),
    enrolment.WAITING_LIST: N_("worker_status.waiting_list"),
    enrolment.ENROLLED: N_("worker_status.enrolled"),
    enrolment.ACTIVE: N_("worker_status.active"),
    enrolment.LAPSED: N_("worker_status.lapsed"),
    enrolment.REJECTED: N_("worker_status.rejected"),
    enrolment.ENDED: N_("worker_status.ended"),
    enrolment.SELF_PAID: N_("worker_status.self_paid"),
    enrolment.NOT_ELIGIBLE: N_("worker_status.not_eligible"),
    enrolment.DECEASED: N_("worker_status.deceased"),
}
CLAIM_STATE = {
    claims.DOCUMENTS_INCOMPLETE: N_("claim_status.documents_incomplete"),
    claims.SUBMITTED: N_("claim_status.submitted"),
    claims.IN_REVIEW: N_("claim_status.in_review"),
    claims.MORE_DOCUMENTS: N_("claim_status.more_documents"),
    claims.APPROVED: N_("claim_status.approved"),
    claims.NOT_COVERED: N_("claim_status.not_covered"),
}
"""How an open death-benefit claim is shown in the worker's status (to their family)."""
NEXT = {
    enrolment.ACTIVE: N_("status.next.card"),
    enrolment.LAPSED: N_("status.next.lapsed"),
    enrolment.REJECTED: N_("status.next.ask_branch"),
    enrolment.ENDED: N_("status.next.ask_branch"),
    enrolment.SELF_PAID: N_("status.next.bpu"),
    enrolment.NOT_ELIGIBLE: N_("status.next.bpu"),
    enrolment.DECEASED: N_("status.next.deceased"),
}
"""What to do next, where there is something to do."""


async def status_reply(worker: WorkerInfo, programmes: Programmes | None, lookup: Lookup,
                       today: date, rules: Rules) -> Reply:
    """One worker's status: where the registration stands, the programme and who pays, and
    what to do next."""
    status = enrolment.effective_status(worker, today)
    position = await lookup.waiting_position(worker) if status == enrolment.WAITING_LIST else None
    programme = programmes.by_id(worker.programme_id) if programmes and worker.programme_id \
        else None
    params = {"full_name": worker.full_name, "reference": worker.reference,
              "state": Msg(STATE[status], {"position": position, "reason": worker.reason,
                                           "coverage_end": worker.coverage_end,
                                           "kpj": worker.kpj, "died_on": worker.died_on}),
              "programme": Msg(N_("status.no_programme")),
              "next": Msg(NEXT.get(status, N_("status.next.wait")), {
                  "bpu": Money(rules.bpu_contribution(None, worker.occupation, today)),
                  "branch": programme.branch if programme else ""})}
    if programme and status not in (enrolment.NOT_ELIGIBLE, enrolment.SELF_PAID):
        params["programme"] = Msg(N_("status.programme"), enrolment.programme_params(
            programme, worker.coverage_end or today))
    claim = next((c for c in await lookup.open_claims(worker.nik) if c.status in claims.OPEN),
                 None)
    params["claim"] = Msg(N_("status.claim"), {
        "reference": claim.reference, "status": Msg(CLAIM_STATE[claim.status])}) \
        if claim else ""
    return Reply(N_("status.worker"), params, navigation=True)


def card_of(worker: WorkerInfo, programmes: Programmes | None, key: bytes) -> CardData | None:
    """The card of an active worker (None if the worker has none to show)."""
    programme = programmes.by_id(worker.programme_id) if programmes and worker.programme_id \
        else None
    if programme is None or worker.kpj is None or worker.coverage_end is None:
        return None
    cycle = programme.shown_cycle(worker.coverage_end)
    return CardData(reference=worker.reference, full_name=worker.full_name,
                    masked_nik=mask_nik(worker.nik), kpj=worker.kpj, programme=programme.name,
                    funder=programme.funder_of(cycle),
                    period_start=worker.coverage_start or cycle.start,
                    period_end=worker.coverage_end, benefits=programme.benefits,
                    token=sign_card(key, worker.reference, worker.kpj))


def activation(worker: WorkerInfo, kpj: str, programmes: Programmes | None, key: bytes,
               actor: str) -> list[Effect]:
    """BPJS Ketenagakerjaan registered an enrolled worker as member ``kpj``: they become
    active, and get a message with their card."""
    active = dataclasses.replace(worker, status=enrolment.ACTIVE, kpj=kpj)
    programme = programmes.by_id(worker.programme_id) if programmes and worker.programme_id \
        else None
    card = card_of(active, programmes, key)
    params = {"full_name": worker.full_name, "kpj": kpj, "coverage_end": worker.coverage_end,
              **(enrolment.programme_params(programme, worker.coverage_end or worker.registered_on)
                 if programme else {})}
    return [ChangeStatus(worker.reference, worker.status, enrolment.ACTIVE, actor=actor,
                         kpj=kpj),
            Notify(worker.chat_key, worker.locale,
                   (Reply(N_("notice.active"), params, navigation=True, card=card),))]
