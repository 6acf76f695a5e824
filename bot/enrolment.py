"""From registration to cover: which status a worker gets, and taking programme places.

A registration in a programme's region is checked against DTSEN: within the desil cut-off it is
eligible (enrolled at once where the programme verifies automatically), not found it waits for a
verifier, above the cut-off the worker is told kindly and pointed to self-paid BPU cover. A
place is taken only while the programme has one free; past its quota the worker waits in line,
and a place that frees goes to the first in line.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import date

from bot.context import Lookup
from bot.i18n import N_, Money, Msg
from bot.messages import ChangeStatus, Notify, Reply, WorkerInfo
from bot.programmes import Programme

WAITING_VERIFICATION = "waiting_verification"
WAITING_LIST = "waiting_list"
ENROLLED = "enrolled"
"""Approved and holding a place; BPJS Ketenagakerjaan has not yet given the KPJ number."""
ACTIVE = "active"
LAPSED = "lapsed"
REJECTED = "rejected"
ENDED = "ended"
"""Cover stopped by staff (moved away, registered twice at BPJS…), with the reason."""
SELF_PAID = "self_paid"
"""No sponsored programme where the worker lives: registration kept, BPU route offered."""
NOT_ELIGIBLE = "not_eligible"
"""DTSEN desil above the programme's cut-off: registration kept, BPU route offered."""

STATUSES = (WAITING_VERIFICATION, WAITING_LIST, ENROLLED, ACTIVE, LAPSED, REJECTED, ENDED,
            SELF_PAID, NOT_ELIGIBLE)
DECEASED = "deceased"
"""Not a stored status: how a registration whose death an heir reported is shown (and treated:
no card, reminder, broadcast or approval), whatever its status was."""
HOLDING = frozenset({ENROLLED, ACTIVE})
"""The statuses that hold one of the programme's places."""
REJECTABLE = frozenset({WAITING_VERIFICATION, WAITING_LIST, ENROLLED, ACTIVE})

IMPORTED = "import"
"""The consent version (and, without a phone, the channel) of a member imported from the
programme's list of before the bot: no chat consent; the programme's regulation is the basis."""
FILL_BATCH = 1_000
"""Most workers enrolled from a line in one sweep (a universal programme's free places are
countless): the next sweep goes on."""


@dataclass(frozen=True)
class Placement:
    """Where an eligible worker lands: enrolled with a period, or in line at ``position``."""

    status: str
    coverage_start: date | None = None
    coverage_end: date | None = None
    position: int | None = None
    cycle: str | None = None
    funder: str | None = None


def first_check(programme: Programme | None, desil: int | None) -> str:
    """The status a new registration gets before any place is taken: ``ENROLLED`` here means
    "eligible and verified automatically", to be placed by ``place``."""
    if programme is None:
        return SELF_PAID
    if desil is None:
        return WAITING_VERIFICATION
    if desil > programme.dtsen_max_desil:
        return NOT_ELIGIBLE
    return ENROLLED if programme.verification == "auto" else WAITING_VERIFICATION


async def place(programme: Programme, lookup: Lookup, today: date,
                already: Counter | None = None) -> Placement:
    """Enrol in the cycle running today if it has a place free, else join the waiting list.
    Only asked while a cycle runs (``Programme.running``). ``already``: the places and line
    positions earlier decisions of the same step took (not stored yet), counted on."""
    cycle = programme.cycle_on(today)
    taken = already if already is not None else Counter()
    if await lookup.free_places(programme.id, cycle.places) - taken[programme.id, ENROLLED] > 0:
        taken[programme.id, ENROLLED] += 1
        return Placement(ENROLLED, max(today, cycle.start), cycle.end, cycle=cycle.name,
                         funder=programme.funder_of(cycle))
    taken[programme.id, WAITING_LIST] += 1
    return Placement(WAITING_LIST, position=await lookup.waiting_count(programme.id)
                     + taken[programme.id, WAITING_LIST])


def effective_status(worker: WorkerInfo, today: date) -> str:
    """The status as the worker (or their family) should hear it today: a death reported is
    said first; cover past its end date has lapsed even before the nightly sweep has written
    so."""
    if worker.died_on is not None:
        return DECEASED
    if worker.status in HOLDING and worker.coverage_end and worker.coverage_end < today:
        return LAPSED
    return worker.status


async def fill_places(programme: Programme, lookup: Lookup, today: date,
                      released: int = 0) -> list:
    """Effects enrolling the first workers in line while places are free (after a place was
    freed, or the quota raised), each told in their language. ``released``: places the same
    step frees with effects not yet applied."""
    cycle = programme.cycle_on(today)
    if cycle is None:
        return []
    free = await lookup.free_places(programme.id, cycle.places) + released
    if free <= 0:
        return []
    effects: list = []
    for worker in await lookup.first_waiting(programme.id, min(free, FILL_BATCH)):
        effects.append(ChangeStatus(worker.reference, WAITING_LIST, ENROLLED,
                                    coverage_start=max(today, cycle.start),
                                    coverage_end=cycle.end, cycle=cycle.name,
                                    funder=programme.funder_of(cycle)))
        effects.append(Notify(worker.chat_key, worker.locale, (Reply(
            N_("notice.enrolled_from_list"),
            {"full_name": worker.full_name, "reference": worker.reference,
             **programme_params(programme, today)}, navigation=True),)))
    return effects


def programme_params(programme: Programme, today: date) -> dict:
    """What a worker is told of a programme on ``today``: name, funder, region, benefits, who
    pays what, until when (the cycle running, or the next)."""
    cycle = programme.shown_cycle(today)
    return {"programme": programme.name, "funder": programme.funder_of(cycle),
            "region": programme.region.name, "benefits": benefits(programme.benefits),
            "contribution": Money(programme.monthly_contribution),
            "period_end": cycle.end}


def benefits(names: tuple[str, ...]) -> Msg:
    return Msg(BENEFITS[frozenset(names)])


BENEFITS = {
    frozenset({"JKK", "JKM"}): N_("benefits.jkk_jkm"),
    frozenset({"JKK"}): N_("benefits.jkk"),
    frozenset({"JKM"}): N_("benefits.jkm"),
}
