"""``main.py renew``: a programme's members carried into its next cycle, as planned by
``bot.renewal``.

``plan`` only reads: the preview staff confirm. ``apply`` writes it in short transactions of a
few hundred workers (the running bot must not wait on SQLite's write lock), each worker changed
only if they are still as the plan found them, so a worker who changed meanwhile (a death
reported, an erasure) is skipped and counted, and a run after a cut goes on where it stopped.
Running it again changes nothing: the carried are no longer in the cycle before, and those in
line or for review are told only when that changes.
"""

import hmac
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, bindparam, func, select, update

from bot import enrolment, renewal
from bot.messages import WorkerInfo
from bot.programmes import Cycle, Programme
from bot.quiet_hours import WIB
from bot.render import Renderer
from models.effects import apply_effects
from models.schema import ALIVE, dtsen, info_of, membership, worker, worker_info
from models.store import Store
from models.workers import CONFIRMED, REVIEW, WAITING, membership_row

BATCH = 500
"""Workers written per transaction."""
DTSEN_CHUNK = 1_000
COUNTED = {renewal.CARRY: "carried", renewal.WAIT: "waiting", renewal.REVIEW: "review"}
STATE_OF = {renewal.CARRY: CONFIRMED, renewal.WAIT: WAITING, renewal.REVIEW: REVIEW}
MEMBERS = select(membership.c.worker_reference, membership.c.state, membership.c.position,
                 membership.c.reason).where(
    membership.c.programme_id == bindparam("programme"), membership.c.cycle == bindparam("cycle"))
DESILS = select(dtsen.c.nik_hash, dtsen.c.desil).where(
    dtsen.c.nik_hash.in_(bindparam("hashes", expanding=True)))


class CannotRenew(ValueError):
    """The renewal asked for cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class Step:
    """One member's outcome: ``result`` (``bot.renewal``), their position past the quota or
    why staff must look; ``changed``: not already so from an earlier run."""

    worker: WorkerInfo
    result: str
    position: int | None = None
    reason: str | None = None
    changed: bool = True
    kept: bool = False
    """Carried on staff's word (``--keep``) although DTSEN no longer admits them."""


@dataclass
class Plan:
    programme: Programme
    cycle: Cycle
    before: Cycle
    confirmed: int
    """Members of the cycle already (carried by an earlier run, or enrolled in it)."""
    dtsen_checked: bool
    steps: list[Step] = field(default_factory=list)

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.changed]


@dataclass
class Applied:
    carried: int = 0
    waiting: int = 0
    review: int = 0
    skipped: int = 0
    """Workers who changed between the preview and their batch: run again for them."""


async def plan(store: Store, programme: Programme, cycle_name: str, today: date,
               keep: frozenset[str] = frozenset()) -> Plan:
    """Who of the cycle before ``cycle_name`` is carried, waits or is reviewed, oldest
    registration first; ``keep``: references staff decided to carry whatever DTSEN says."""
    cycle = programme.cycle_named(cycle_name)
    if cycle is None:
        raise CannotRenew(f"{programme.id} has no cycle {cycle_name!r}; its cycles are: "
                          + ", ".join(c.name for c in programme.cycles)
                          + " (add it to the programmes file first)")
    before = programme.before(cycle)
    if before is None:
        raise CannotRenew(f"{cycle.name} is {programme.id}'s first cycle: there is nobody to "
                          f"carry into it")
    if today > cycle.end:
        raise CannotRenew(f"cycle {cycle.name} ended on {cycle.end.isoformat()}")
    async with store.engine.connect() as conn:
        known = {row.worker_reference: row for row in await conn.execute(
            MEMBERS, {"programme": programme.id, "cycle": cycle.name})}
        rows = await conn.execute(worker_info().where(
            worker.c.programme_id == programme.id,
            worker.c.status.in_(sorted(enrolment.HOLDING | {enrolment.LAPSED})),
            worker.c.coverage_end.between(before.start, before.end), ALIVE)
            .order_by(worker.c.created_at, worker.c.id))
        candidates = [info for info in (info_of(row._mapping) for row in rows)
                      if renewal.carried_from(info, before)]
        checked = store.dtsen_key is not None and await conn.scalar(
            select(func.count()).select_from(select(dtsen.c.nik_hash).limit(1).subquery())) > 0
        desils = await _desils(conn, store.dtsen_key, candidates) if checked else {}
    confirmed = sum(1 for row in known.values() if row.state == CONFIRMED)
    result = Plan(programme, cycle, before, confirmed, bool(checked))
    free, waiting = cycle.places - confirmed, 0
    for info in candidates:
        candidate = renewal.Candidate(info, desils.get(info.nik), info.reference in keep)
        outcome = renewal.outcome(candidate, programme, result.dtsen_checked, free)
        position = reason = None
        if outcome == renewal.CARRY:
            free -= 1
        elif outcome == renewal.WAIT:
            waiting += 1
            position = waiting
        else:
            reason = renewal.dtsen_problem(candidate, programme, result.dtsen_checked)
        before_row = known.get(info.reference)
        changed = before_row is None or (before_row.state, before_row.position,
                                         before_row.reason) != (STATE_OF[outcome], position,
                                                                reason)
        kept = candidate.kept and renewal.dtsen_problem(
            renewal.Candidate(info, candidate.desil), programme, result.dtsen_checked) is not None
        result.steps.append(Step(info, outcome, position, reason, changed, kept))
    return result


async def _desils(conn, key: bytes, candidates: list[WorkerInfo]) -> dict[str, int]:
    """Today's DTSEN desil of each candidate who consented to the matching, by NIK."""
    hashes = {hmac.digest(key, w.nik.encode(), "sha256"): w.nik for w in candidates
              if w.dtsen_ok}
    found: dict[str, int] = {}
    keys = sorted(hashes)
    for start in range(0, len(keys), DTSEN_CHUNK):
        for row in await conn.execute(DESILS, {"hashes": keys[start:start + DTSEN_CHUNK]}):
            found[hashes[row.nik_hash]] = row.desil
    return found


async def apply(store: Store, renderer: Renderer, the_plan: Plan, actor: str,
                now: datetime, keep_reason: str | None = None) -> Applied:
    """Write the plan's changes and queue each member's notice (the running bot sends them);
    recorded as one staff action, with those carried on staff's word and why."""
    done = Applied()
    today = now.astimezone(WIB).date()
    changes, kept = the_plan.changes, []
    for start in range(0, len(changes), BATCH):
        async with store.transaction() as tx:
            rows = []
            for step in changes[start:start + BATCH]:
                if not await _write(tx, the_plan, step, now):
                    done.skipped += 1
                    continue
                rows.append(_membership(the_plan, step, now))
                field_name = COUNTED[step.result]
                setattr(done, field_name, getattr(done, field_name) + 1)
                if step.kept:
                    kept.append(step.worker.reference)
                notice = renewal.notice(step.worker, step.result, the_plan.programme,
                                        the_plan.cycle, step.position, today)
                await apply_effects(tx, renderer, [notice], now, send_here=False)
            await tx.record_membership(*rows)
    async with store.transaction() as tx:
        await tx.record(actor, "programme.renewed", the_plan.programme.id, {
            "cycle": the_plan.cycle.name, "carried": done.carried, "waiting": done.waiting,
            "review": done.review, "skipped": done.skipped, "kept": kept,
            "reason": keep_reason if kept else None}, now)
    return done


async def _write(tx, the_plan: Plan, step: Step, now: datetime) -> bool:
    """One member's change, if they are still as planned; False if not."""
    info, cycle, programme = step.worker, the_plan.cycle, the_plan.programme
    still = and_(worker.c.reference == info.reference, worker.c.status == info.status,
                 worker.c.coverage_end == info.coverage_end, ALIVE)
    if step.result == renewal.CARRY:
        values: dict = {"coverage_end": cycle.end}
        if info.status == enrolment.LAPSED:  # cover lapsed as the cycle came late: again
            if await tx.free_places(programme.id, cycle.places) <= 0:
                return False
            values["status"] = enrolment.ACTIVE if info.kpj else enrolment.ENROLLED
        changed = await tx.conn.execute(update(worker).where(still).values(**values))
        if changed.rowcount != 1:
            return False
        if info.status == enrolment.LAPSED:
            await tx.take_place(programme.id)
    elif not await tx.conn.scalar(select(func.count()).where(still)):
        return False
    return True


def _membership(the_plan: Plan, step: Step, now: datetime) -> dict:
    programme, cycle = the_plan.programme, the_plan.cycle
    return membership_row(step.worker.reference, programme.id, cycle.name,
                          programme.funder_of(cycle), cycle.start, cycle.end, now,
                          source="renewal", state=STATE_OF[step.result],
                          position=step.position, reason=step.reason)
