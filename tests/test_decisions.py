"""Staff decisions as use cases (``bot.decisions``): what a chat desk or a web console gets
back, effects and result, for each decision taken or refused. A refused decision changes
nothing."""

from dataclasses import replace

from bot import enrolment
from bot.context import Context
from bot.decisions import approve_registration, decide_claim, reject_registration
from bot.messages import ChangeClaim, ChangeStatus, Notify, RegisterWorker
from tests.chat import START, Memory, town_programme

SMALL = town_programme(quota=1, verification="staff")
ACTOR = "telegram:9001"


def ctx(memory: Memory) -> Context:
    return Context(now=START, today=START.date(), lookup=memory,
                   new_reference=lambda: "LD-NEW")


def waiting(memory: Memory, reference: str, nik: str, chat: str) -> None:
    memory.apply(RegisterWorker(
        reference, nik, "BUDI SANTOSO", START.date().replace(year=1985), "+6281234567890",
        "ojek", None, "Lapai", "Nanggalo", 1_000_000, "id", "2026-11", START.isoformat(),
        enrolment.WAITING_VERIFICATION, "kota-kecil", 2, None, None), chat, START)


async def test_approving_takes_a_place_then_the_line_and_tells_the_worker():
    memory = Memory(dtsen={"1371011708850001": 2, "1371011708850002": 2})
    waiting(memory, "LD-AAAA-0001", "1371011708850001", "telegram:7001")
    waiting(memory, "LD-AAAA-0002", "1371011708850002", "telegram:7002")
    first = await approve_registration("LD-AAAA-0001", ACTOR, ctx(memory), SMALL)
    assert first.done and first.result.msgid == "staff.approved"
    change, notice = first.effects
    assert isinstance(change, ChangeStatus) and (change.new, change.actor) == (
        enrolment.ENROLLED, ACTOR)
    assert isinstance(notice, Notify) and notice.chat_key == "telegram:7001" and \
        notice.replies[0].msgid == "notice.approved"
    for effect in first.effects:
        memory.apply(effect, ACTOR, START)
    second = await approve_registration("LD-AAAA-0002", ACTOR, ctx(memory), SMALL)
    assert second.result.msgid == "staff.approved_waiting"  # the quota of one is taken
    again = await approve_registration("LD-AAAA-0001", ACTOR, ctx(memory), SMALL)
    assert (again.done, again.result.msgid, again.effects) == (False, "staff.not_waiting", ())


async def test_refused_decisions_say_why_and_change_nothing():
    memory = Memory(dtsen={"1371011708850001": 7})
    waiting(memory, "LD-AAAA-0001", "1371011708850001", "telegram:7001")
    for decision, msgid in (
            (await approve_registration("LD-NONE-0000", ACTOR, ctx(memory), SMALL),
             "staff.not_found"),
            (await approve_registration("LD-AAAA-0001", ACTOR, ctx(memory), SMALL),
             "staff.dtsen_above"),  # DTSEN as it is today: desil 7 above the programme's 4
            (await reject_registration("LD-AAAA-0001", "x", ACTOR, ctx(memory), SMALL),
             "staff.reject_usage")):
        assert (decision.done, decision.result.msgid, decision.effects) == (False, msgid, ())
    rejected = await reject_registration("LD-AAAA-0001", "bukan warga", ACTOR, ctx(memory),
                                         SMALL)
    assert rejected.done and [type(e) for e in rejected.effects] == [ChangeStatus, Notify]


async def test_a_claim_decision_moves_only_from_the_statuses_it_may(catalogs):
    from tests.test_claims import filed_claim

    memory = Memory()
    await filed_claim(catalogs, memory, later=0)
    claim = next(iter(memory.claims.values()))
    paid = decide_claim("paid", claim, None, ACTOR)
    assert (paid.done, paid.result.msgid, paid.effects) == (False, "staff.claims.not_now", ())
    assert decide_claim("reject", claim, "", ACTOR).result.msgid == \
        "staff.claims.reason_needed"
    approved = decide_claim("approve", claim, None, ACTOR)
    change, notice = approved.effects
    assert isinstance(change, ChangeClaim) and change.new == "approved"
    assert notice.replies[0].msgid == "notice.claim.approved"
    contested = decide_claim("approve", replace(claim, others=("JKM-2026-000002",)), None,
                             ACTOR)
    assert (contested.done, contested.result.msgid) == (False, "staff.claims.contested")
