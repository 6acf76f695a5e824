"""Carrying a programme's members into its next cycle (``main.py renew``): who continues, who
waits past the new cycle's quota, whom staff must look at again, and what each is told.

Members are taken in order of registration (the oldest first), so those past the quota keep
their place in line by the date they registered. Deaths are never carried, and nor is anyone
whose cover stopped (withdrawn, ended by staff, erased): only the enrolled and active, and those
whose cover lapsed only because the new cycle came late.
"""

from dataclasses import dataclass
from datetime import date

from bot import enrolment
from bot.i18n import N_, Msg
from bot.messages import Notify, Reply, WorkerInfo
from bot.programmes import Cycle, Programme

CARRY, WAIT, REVIEW = "carry", "wait", "review"
"""What becomes of a member: carried into the cycle, in line past its quota, kept for staff."""
NOTICES = {CARRY: N_("notice.renewed"), WAIT: N_("notice.renewal_waiting"),
           REVIEW: N_("notice.renewal_review")}


@dataclass(frozen=True)
class Candidate:
    """A member of the cycle before, with what DTSEN says of them today."""

    worker: WorkerInfo
    desil: int | None
    """Their desil in the DTSEN extract loaded now; None: not in it."""
    kept: bool = False
    """Staff decided they continue whatever DTSEN says (``renew --keep``)."""


def carried_from(worker: WorkerInfo, before: Cycle) -> bool:
    """Whether the worker is a member the renewal into the cycle after ``before`` is for: alive,
    holding cover that ends within it (or lapsed at its end, the new cycle confirmed late)."""
    if worker.died_on is not None or worker.coverage_end is None:
        return False
    if worker.status in enrolment.HOLDING:
        return before.start <= worker.coverage_end <= before.end
    return worker.status == enrolment.LAPSED and worker.coverage_end == before.end


def dtsen_problem(candidate: Candidate, programme: Programme, checked: bool) -> str | None:
    """Why DTSEN, as it is today, no longer admits the member (for staff to review), or None.
    Members never matched with DTSEN (checked by staff, or who did not consent to matching)
    were not admitted by it, so its silence says nothing of them; nor does an extract that is
    not loaded (``checked`` False)."""
    worker = candidate.worker
    if candidate.kept or not checked or not worker.dtsen_ok:
        return None
    if candidate.desil is None:
        return None if worker.dtsen_desil is None else "no longer in the DTSEN extract"
    if candidate.desil > programme.dtsen_max_desil:
        return (f"DTSEN desil {candidate.desil}, above the programme's "
                f"{programme.dtsen_max_desil}")
    return None


def outcome(candidate: Candidate, programme: Programme, checked: bool, free: int) -> str:
    """Carried while the cycle has places ``free``; past them, in line; DTSEN no longer
    admitting them, for review."""
    if dtsen_problem(candidate, programme, checked):
        return REVIEW
    return CARRY if free > 0 else WAIT


def notice(worker: WorkerInfo, result: str, programme: Programme, cycle: Cycle,
           position: int | None, today: date) -> Notify:
    """What the member is told, in their language: their cover continues (until when, paid by
    whom), or why not yet, and until when the cover they have runs."""
    ends = worker.coverage_end
    params = {"full_name": worker.full_name, "reference": worker.reference,
              "programme": programme.name, "cycle": cycle.name, "period_end": cycle.end,
              "funder": programme.funder_of(cycle), "position": position,
              "branch": programme.branch,
              "current": Msg(N_("renewal.cover_until") if ends >= today
                             else N_("renewal.cover_ended"), {"coverage_end": ends})}
    return Notify(worker.chat_key, worker.locale,
                  (Reply(NOTICES[result], params, navigation=True),))
