"""The retention schedule on SQLite and PostgreSQL, with the clock moved on: what has served
its purpose is erased, and what remains is asserted row by row."""

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from bot import claims, enrolment
from bot.messages import LinkChat
from bot.render import Renderer
from models.effects import apply_effects
from models.retention import ACTOR, Schedule, apply_retention
from models.schema import claim, claim_document, consent, staff_action, worker, worker_chat
from tests.test_lookup_contract import NOW, filed_claim
from tests.test_store import registration

YEAR = timedelta(days=366)


def worker_of(n: int, status: str):
    return replace(registration(nik=f"13710117088500{n:02d}", reference=f"LD-AAAA-{n:04d}"),
                   status=status, consent_version="2026-12")


async def seed(store, renderer, effects, chat: str, at) -> None:
    async with store.transaction() as tx:
        await apply_effects(tx, renderer, effects, at, channel=chat.split(":")[0],
                            chat_key=chat, send_here=False)


async def test_registrations_that_led_nowhere_go_after_a_quiet_year(store, catalogs):
    renderer = Renderer(catalogs)
    await seed(store, renderer, [worker_of(1, enrolment.NOT_ELIGIBLE)], "telegram:1", NOW)
    await seed(store, renderer, [LinkChat("LD-AAAA-0001", "telegram:9")], "telegram:1", NOW)
    await seed(store, renderer, [worker_of(2, enrolment.SELF_PAID)], "telegram:2", NOW)
    await seed(store, renderer, [worker_of(3, enrolment.NOT_ELIGIBLE)], "telegram:3", NOW)
    await seed(store, renderer, [worker_of(4, enrolment.REJECTED)], "telegram:4", NOW)
    await seed(store, renderer, [worker_of(5, enrolment.NOT_ELIGIBLE)], "telegram:5",
               NOW + timedelta(days=300))
    async with store.transaction() as tx:
        await tx.heard_from(["telegram:2"], NOW + timedelta(days=200))  # the worker wrote
        await tx.record("telegram:9001", "worker.rejected", "LD-AAAA-0003", None,
                        NOW + timedelta(days=300))  # staff looked at it

    assert await apply_retention(store, NOW + YEAR - timedelta(days=2)) == {
        "registrations": 0, "documents": 0}  # not a year yet
    assert await apply_retention(store, NOW + YEAR) == {"registrations": 1, "documents": 0}

    async with store.engine.connect() as conn:
        left = sorted((await conn.execute(select(worker.c.reference))).scalars())
        links = (await conn.execute(select(worker_chat.c.worker_reference))).scalars().all()
        consents = sorted({r for r in (await conn.execute(
            select(consent.c.subject))).scalars()})
        record = (await conn.execute(select(staff_action.c.actor, staff_action.c.detail)
                                     .where(staff_action.c.action == "retention.applied"))).all()
    assert left == ["LD-AAAA-0002", "LD-AAAA-0003", "LD-AAAA-0004", "LD-AAAA-0005"]
    assert links == [] and "LD-AAAA-0001" not in consents and "LD-AAAA-0004" in consents
    assert [(actor, detail) for actor, detail in record] == [
        (ACTOR, '{"registrations": 1, "documents": 0}')]  # counts only, never who
    assert await apply_retention(store, NOW + YEAR) == {"registrations": 0, "documents": 0}


async def test_documents_of_closed_claims_go_the_claims_stay(store, catalogs):
    renderer = Renderer(catalogs)
    base = filed_claim()
    for n, status, at in ((1, claims.PAID, NOW), (2, claims.SUBMITTED, NOW),
                          (3, claims.REJECTED, NOW + timedelta(days=50))):
        await seed(store, renderer, [replace(
            base, reference=f"JKM-2026-00000{n}", deceased_nik=f"13710117088500{n:02d}",
            status=status)], "telegram:8001", at)
    assert await apply_retention(store, NOW + timedelta(days=100), Schedule()) == {
        "registrations": 0, "documents": 1}
    async with store.engine.connect() as conn:
        kept = sorted((await conn.execute(
            select(claim.c.reference).join(claim_document,
                                           claim_document.c.claim_id == claim.c.id))).scalars())
        claims_left = sorted((await conn.execute(select(claim.c.reference))).scalars())
    assert kept == ["JKM-2026-000002", "JKM-2026-000003"]
    assert claims_left == ["JKM-2026-000001", "JKM-2026-000002", "JKM-2026-000003"]
