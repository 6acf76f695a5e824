"""Staff decisions as use cases (``bot.decisions``): what a chat desk or a web console gets
back, effects and result, for each decision taken or refused. A refused decision changes
nothing."""

from dataclasses import replace

from bot import enrolment
from bot.areas import Area
from bot.context import Context
from bot.decisions import (
    approve_registration,
    change_phone,
    decide_claim,
    reject_registration,
)
from bot.messages import ChangeClaim, ChangePhone, ChangeStatus, Notify, RegisterWorker
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


async def test_staff_change_a_phone_number_after_the_ktp_and_the_old_number_is_told():
    memory = Memory()
    waiting(memory, "LD-AAAA-0001", "1371011708850001", "telegram:7001")
    for typed, msgid in (("0812", "staff.phone.usage"), ("081234567890", "staff.phone.same")):
        refused = await change_phone("LD-AAAA-0001", typed, ACTOR, ctx(memory))
        assert (refused.done, refused.result.msgid, refused.effects) == (False, msgid, ())
    changed = await change_phone("LD-AAAA-0001", "0813 1111 2222", ACTOR, ctx(memory))
    change, *notices = changed.effects
    assert change == ChangePhone("LD-AAAA-0001", "+6281311112222", ACTOR)
    assert sorted(n.chat_key for n in notices) == ["telegram:7001", "whatsapp:6281234567890"]
    assert {n.replies[0].msgid for n in notices} == {"notice.phone_changed_by_staff"}


async def test_without_whatsapp_a_worker_is_sent_to_the_office_to_change_the_number(catalogs):
    from bot.rules import Rules
    from tests.chat import Chat
    from tests.test_conversations import SAVE, TO_SUMMARY, play

    chat = Chat(catalogs, rules=Rules(whatsapp=False))
    await play(chat, TO_SUMMARY + SAVE + [("ganti nomor", ["phone_change.at_office"])])
    assert chat.session.flow is None
    staff = Chat(catalogs, chat.memory, chat_id="9001", rules=Rules(whatsapp=False))
    chat.memory.staff["telegram:9001"] = "verifier"
    reference = chat.memory.workers[0][1].reference
    await play(staff, [(f"/gantinomor {reference} 081311112222", ["staff.phone.changed"])])
    assert chat.memory.infos[reference].phone == "+6281311112222"


async def test_a_worker_who_refused_dtsen_matching_is_approved_on_staffs_check():
    memory = Memory(dtsen={"1371011708850001": 7})
    waiting(memory, "LD-AAAA-0001", "1371011708850001", "telegram:7001")
    memory.infos["LD-AAAA-0001"] = replace(memory.infos["LD-AAAA-0001"], dtsen_ok=False)
    approved = await approve_registration("LD-AAAA-0001", ACTOR, ctx(memory), SMALL)
    assert approved.done and approved.result.msgid == "staff.approved"


async def test_a_verifier_of_an_area_decides_only_its_registrations():
    memory = Memory(dtsen={"1371011708850001": 2})
    waiting(memory, "LD-AAAA-0001", "1371011708850001", "telegram:7001")  # Nanggalo
    elsewhere = Area("kecamatan", "Koto Tangah")
    for decided in (await approve_registration("LD-AAAA-0001", ACTOR, ctx(memory), SMALL,
                                               elsewhere),
                    await reject_registration("LD-AAAA-0001", "data tidak cocok", ACTOR,
                                              ctx(memory), SMALL, elsewhere)):
        assert (decided.done, decided.result.msgid, decided.effects) == (
            False, "staff.not_your_area", ())
        assert decided.result.params["area"] == "Koto Tangah"
    mine = await approve_registration("LD-AAAA-0001", ACTOR, ctx(memory), SMALL,
                                      Area("kelurahan", "lapai"))
    assert mine.done and mine.result.msgid == "staff.approved"
