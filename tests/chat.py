"""A chat with the engine alone, for conversations written as data.

The session goes through JSON before every message, as it does through the store, and a small
in-memory store applies the engine's effects, so a script can check both what the user saw and
what would be stored.
"""

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot import claims, enrolment, proof, rights
from bot.broadcasting import Audience, Preview, Progress
from bot.claims import ClaimInfo
from bot.consents import TEXTS
from bot.context import Context
from bot.engine import Engine
from bot.messages import (
    AddDocuments,
    CancelBroadcast,
    ChangeClaim,
    ChangePhone,
    ChangeStatus,
    Count,
    DecideProof,
    FileClaim,
    Inbound,
    Later,
    LinkChat,
    Media,
    Notify,
    OptOut,
    PreviewBroadcast,
    RegisterWorker,
    Rendered,
    Reply,
    RequestProof,
    StartBroadcast,
    TryProof,
    UnlinkChat,
    WorkerInfo,
)
from bot.programmes import Programmes, parse_programmes
from bot.render import Renderer
from bot.rights import (
    Consented,
    CorrectWorker,
    DecideRight,
    EraseWorker,
    Event,
    Filed,
    PersonalData,
    RequestInfo,
    RequestRight,
    RevealNik,
)
from bot.rules import Rules
from bot.session import Session
from models.schema import StaleChange

START = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
CARD_KEY = b"k" * 32
EXAMPLE_PROGRAMMES = parse_programmes(
    (Path(__file__).resolve().parent.parent / "programmes.toml").read_text())


def town_programme(quota: int = 2, verification: str = "auto", more: str = "") -> Programmes:
    """A small town's programme (NIKs 1371…, Kota Padang's code), small enough to fill in a
    test; ``more``: further ``[[programme]]`` tables."""
    return parse_programmes(f"""
[[programme]]
id = "kota-kecil"
name = "Program Kota Kecil"
region = {{ codes = ["1371"], name = "Kota Padang" }}
funder = "APBD Kota Kecil"
dtsen_max_desil = 4
verification = "{verification}"
branch = "BPJS Ketenagakerjaan Cabang Kecil"

[[programme.cycle]]
name = "2026"
start = 2026-01-01
end = 2026-12-31
quota = {quota}
budget = {quota * 12 * 16_800}
{more}""")


@dataclass
class Memory:
    """The engine's ``Lookup`` over a few dicts, applying effects as the store does: places
    are counted, status changes must find the old status, notices are kept to look at."""

    workers: list[tuple[str, RegisterWorker]] = field(default_factory=list)
    """What registration saved, as the effect said it (chat key, effect)."""
    infos: dict[str, WorkerInfo] = field(default_factory=dict)
    """The stored workers by reference, as they are now."""
    registered_at: dict[str, datetime] = field(default_factory=dict)
    dtsen: dict[str, int] = field(default_factory=dict)
    staff: dict[str, str] = field(default_factory=dict)
    areas: dict[str, str] = field(default_factory=dict)
    """A verifier's area by their chat key (``bot.areas``)."""
    membership_months: dict[str, int] = field(default_factory=dict)
    """Months of membership by worker reference, as the store adds them up."""
    staff_names: dict[str, str] = field(default_factory=dict)
    """Staff members' names (or roles) by chat, as the staff list has them."""
    taken: dict[str, int] = field(default_factory=dict)
    notices: list[Notify] = field(default_factory=list)
    actions: list[tuple[str, str, str]] = field(default_factory=list)
    claims: dict[str, ClaimInfo] = field(default_factory=dict)
    """Stored claims by reference."""
    filed: list[FileClaim] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)
    opted_out: dict[str, bool] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)
    """(chat key, worker reference) of the chats linked to a registration, in order."""
    linked_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    counts: list[tuple[str, str, int, datetime]] = field(default_factory=list)
    """What limits counted: (kind, key, amount, when)."""
    deaths: dict[str, str | None] = field(default_factory=dict)
    """The registration each claim reports the death of, by claim reference."""
    proofs: list[dict] = field(default_factory=list)
    """Proof requests as the store keeps them (``code`` in clear here, to look at)."""
    broadcasts: list[StartBroadcast] = field(default_factory=list)
    """Broadcasts confirmed in the chat."""
    cancelled: list[CancelBroadcast] = field(default_factory=list)
    progress: dict[int, Progress] = field(default_factory=dict)
    """Broadcasts as the store would report them, by id."""
    history: list[tuple[str, str, str, datetime, str | None]] = field(default_factory=list)
    """The staff record as the store keeps it: (actor, action, subject, when, why a NIK was
    shown)."""
    requests: dict[str, RequestInfo] = field(default_factory=dict)
    """Requests under the data protection law, by number."""
    erased: list[str] = field(default_factory=list)

    def _record(self, actor: str, action: str, subject: str, now: datetime,
                why: str | None = None) -> None:
        self.actions.append((actor, action, subject))
        self.history.append((actor, action, subject, now, why))

    def apply(self, effect, chat_key: str, now: datetime) -> None:
        if isinstance(effect, RegisterWorker):
            self.workers.append((chat_key, effect))
            if effect.status in enrolment.HOLDING:
                self.taken[effect.programme_id] = self.taken.get(effect.programme_id, 0) + 1
            self.registered_at[effect.reference] = now
            self.infos[effect.reference] = WorkerInfo(
                effect.reference, effect.nik, effect.full_name, effect.status, now.date(),
                birth_date=effect.birth_date, chat_key=chat_key, locale=effect.locale,
                programme_id=effect.programme_id, dtsen_desil=effect.dtsen_desil,
                coverage_start=effect.coverage_start, coverage_end=effect.coverage_end,
                queued_at=now if effect.status == enrolment.WAITING_LIST else None,
                monthly_income=effect.monthly_income, phone=effect.phone,
                dtsen_ok=effect.dtsen_consent, occupation=effect.occupation,
                kelurahan=effect.kelurahan, kecamatan=effect.kecamatan)
        elif isinstance(effect, ChangeStatus):
            info = self.infos[effect.reference]
            if info.status != effect.old:
                raise StaleChange(effect.reference)
            changes = {k: v for k in ("coverage_start", "coverage_end", "kpj", "reason")
                       if (v := getattr(effect, k)) is not None}
            if effect.new == enrolment.WAITING_LIST:
                changes["queued_at"] = now
            self.infos[effect.reference] = dataclasses.replace(info, status=effect.new,
                                                               **changes)
            held = (effect.new in enrolment.HOLDING) - (effect.old in enrolment.HOLDING)
            self.taken[info.programme_id] = self.taken.get(info.programme_id, 0) + held
            if effect.actor:
                self._record(effect.actor, f"worker.{effect.new}", effect.reference, now)
        elif isinstance(effect, FileClaim):
            self.filed.append(effect)
            self.claims[effect.reference] = ClaimInfo(
                effect.reference, effect.deceased_nik, effect.status, effect.heir_nik,
                effect.relationship, chat_key, effect.locale, now, effect.date_of_death,
                effect.estimate, effect.status_reason,
                {d.kind: "received" for d in effect.documents}, effect.heir_name, effect.cause,
                now if effect.status == "submitted" else None,
                {d.kind: d.media for d in effect.documents}, heir_phone=effect.heir_phone)
            self.deaths[effect.reference] = effect.worker_reference
        elif isinstance(effect, ChangeClaim):
            claim = self.claims[effect.reference]
            assert claim.status == effect.old, (claim.status, effect)
            documents = dict(claim.documents)
            if effect.document:
                documents[effect.document] = effect.document_status
            self.claims[effect.reference] = dataclasses.replace(
                claim, status=effect.new, reason=effect.reason or claim.reason,
                documents=documents)
            self._record(effect.actor, effect.new, effect.reference, now)
        elif isinstance(effect, AddDocuments):
            claim = self.claims[effect.reference]
            assert claim.status == effect.old, (claim.status, effect)
            documents = {**claim.documents, **{d.kind: "received" for d in effect.documents}}
            files = {**claim.files, **{d.kind: d.media for d in effect.documents}}
            complete = now if effect.status == "submitted" and effect.old != "submitted" \
                else claim.complete_at
            self.claims[effect.reference] = dataclasses.replace(
                claim, documents=documents, files=files, status=effect.status,
                complete_at=complete)
        elif isinstance(effect, LinkChat):
            if (effect.chat_key, effect.reference) not in self.links:
                self.links.append((effect.chat_key, effect.reference))
                self.linked_at[(effect.chat_key, effect.reference)] = now
        elif isinstance(effect, ChangePhone):
            self.infos[effect.reference] = dataclasses.replace(self.infos[effect.reference],
                                                               phone=effect.phone)
            self._record(effect.actor, "worker.phone_changed", effect.reference, now)
        elif isinstance(effect, UnlinkChat):
            if (effect.chat_key, effect.reference) in self.links:
                self.links.remove((effect.chat_key, effect.reference))
                self._record(effect.actor, "link.undone", effect.reference, now)
        elif isinstance(effect, Count):
            self.counts.append((effect.kind, effect.key, effect.amount, now))
        elif isinstance(effect, RequestProof):
            method = proof.CODE if effect.code is not None else proof.STAFF
            for earlier in self.proofs:
                if (earlier["chat_key"], earlier["purpose"], earlier["subject"],
                        earlier["method"], earlier["state"]) == (
                        effect.chat_key, effect.purpose, effect.subject, method,
                        proof.PENDING) and method == proof.CODE:
                    earlier["state"] = "replaced"
            self.proofs.append({
                "id": len(self.proofs) + 1, "purpose": effect.purpose,
                "subject": effect.subject, "chat_key": effect.chat_key,
                "locale": effect.locale, "method": method, "state": proof.PENDING,
                "tries": 0, "created_at": now, "expires_at": effect.expires_at,
                "reference": effect.reference, "code": effect.code})
        elif isinstance(effect, TryProof):
            request = self.proofs[effect.proof_id - 1]
            assert request["state"] == proof.PENDING, request
            if effect.passed:
                request["state"] = "passed"
            else:
                request["tries"] += 1
                if request["tries"] >= proof.CODE_TRIES:
                    request["state"] = "failed"
        elif isinstance(effect, DecideProof):
            request = self.proofs[effect.proof_id - 1]
            assert request["state"] == proof.PENDING, request
            request["state"] = "approved" if effect.approved else "refused"
            self._record(effect.actor, f"link.{request['state']}", request["subject"], now)
        elif isinstance(effect, OptOut):
            self.opted_out[effect.chat_key] = effect.opted_out
        elif isinstance(effect, CancelBroadcast):
            self.cancelled.append(effect)
        elif isinstance(effect, RequestRight):
            self.requests[effect.number] = RequestInfo(
                effect.number, effect.reference, effect.kind, effect.state, effect.chat_key,
                effect.locale, now, effect.deadline, effect.field, effect.value,
                effect.document, now if effect.state == rights.DONE else None)
        elif isinstance(effect, CorrectWorker):
            self._correct(effect.reference, effect.changes)
            self._record(effect.actor, "worker.corrected", effect.reference, now)
        elif isinstance(effect, DecideRight):
            request = self.requests.get(effect.number)
            if request is None or request.state != rights.OPEN:
                raise StaleChange(effect.number)
            self.requests[effect.number] = dataclasses.replace(
                request, state=rights.DONE if effect.approved else rights.REFUSED,
                done_at=now, reason=effect.reason, value=None, document=None)
            self._record(effect.actor, f"rights.{request.kind}."
                         f"{'approved' if effect.approved else 'refused'}",
                         request.reference, now)
        elif isinstance(effect, EraseWorker):
            self._erase(effect, now)
        elif isinstance(effect, RevealNik):
            for subject in effect.subjects:
                self._record(effect.actor, rights.REVEALED, subject, now, effect.why)
        else:
            self.notices.append(effect)

    def _correct(self, reference: str, changes: dict) -> None:
        changes = dict(changes)
        if "birth_date" in changes:
            changes["birth_date"] = datetime.fromisoformat(changes["birth_date"]).date()
        info_fields = {k: v for k, v in changes.items() if k in ("full_name", "nik",
                                                                  "birth_date")}
        self.infos[reference] = dataclasses.replace(self.infos[reference], **info_fields)
        self.workers = [(key, dataclasses.replace(e, **changes) if e.reference == reference
                         else e) for key, e in self.workers]

    def _erase(self, effect: EraseWorker, now: datetime) -> None:
        """As ``models.rights.erase_worker``: the worker and what points at them go."""
        info = self.infos.pop(effect.reference, None)
        if info is None:
            return
        if info.status in enrolment.HOLDING:
            self.taken[info.programme_id] -= 1
        self.workers = [(k, e) for k, e in self.workers if e.reference != effect.reference]
        self.links = [(k, r) for k, r in self.links if r != effect.reference]
        self.proofs = [p for p in self.proofs if p["subject"] != effect.reference]
        for number, request in self.requests.items():
            if request.reference == effect.reference:
                done = request.number == effect.number and request.state == rights.OPEN
                self.requests[number] = dataclasses.replace(
                    request, value=None, document=None, chat_key="",
                    state=rights.DONE if done else request.state,
                    done_at=now if done else request.done_at)
        self.erased.append(effect.reference)
        self._record(effect.actor, "worker.erased", effect.reference, now)

    def restricted(self, reference: str) -> bool:
        return any(r.reference == reference and r.kind == rights.CORRECT
                   and r.state == rights.OPEN for r in self.requests.values())

    async def personal_data(self, reference: str) -> PersonalData | None:
        info = await self.worker_by_reference(reference)
        if info is None:
            return None
        chat_key, given = next((k, e) for k, e in self.workers if e.reference == reference)
        chats = tuple(await self.chats_of(reference))
        at = datetime.fromisoformat(given.consented_at)
        channel = chat_key.split(":")[0]
        consents = tuple(Consented(purpose, answer, given.consent_version, given.locale,
                                   channel, at) for purpose, answer in (
            ("registration", True), ("dtsen", given.dtsen_consent),
            ("messages", given.messages_consent)) if purpose in TEXTS[given.consent_version])
        filed = tuple(Filed(c.reference, c.status, c.created_at) for c in self.claims.values()
                      if c.heir_nik == info.nik)
        own = {chat for chat, _ in chats}
        history = tuple(Event(action, when, kind := rights.actor_kind(actor, own),
                              self.staff_names.get(actor) if kind == "staff" else None, why)
                        for actor, action, subject, when, why in self.history
                        if subject == reference)
        return PersonalData(info, self.registered_at[reference], given.occupation,
                            given.occupation_other, given.kelurahan, given.kecamatan, chats,
                            consents, filed, history, tuple(await self.rights_of(reference)))

    async def rights_of(self, reference: str) -> list[RequestInfo]:
        return [r for r in self.requests.values() if r.reference == reference]

    async def right_by_number(self, number: str) -> RequestInfo | None:
        return self.requests.get(number)

    async def open_rights(self, limit: int) -> tuple[list[RequestInfo], int]:
        waiting = sorted((r for r in self.requests.values() if r.state == rights.OPEN),
                         key=lambda r: r.deadline)
        return waiting[:limit], len(waiting)

    def _known(self, info: WorkerInfo | None) -> WorkerInfo | None:
        """The worker as the store reads them: with a death reported in a claim."""
        if info is None:
            return None
        died = [c.date_of_death for ref, c in self.claims.items()
                if self.deaths.get(ref) == info.reference and c.status != claims.REJECTED]
        return dataclasses.replace(info, died_on=min(died) if died else None)

    async def worker_by_nik(self, nik: str) -> WorkerInfo | None:
        return self._known(next((w for w in self.infos.values() if w.nik == nik), None))

    async def worker_by_reference(self, reference: str) -> WorkerInfo | None:
        return self._known(self.infos.get(reference))

    async def workers_of_chat(self, chat_key: str) -> list[WorkerInfo]:
        linked = [self.infos[ref] for key, ref in self.links if key == chat_key]
        return [self._known(w) for w in self.infos.values() if w.chat_key == chat_key] + [
            self._known(w) for w in linked]

    async def dtsen_desil(self, nik: str) -> int | None:
        return self.dtsen.get(nik)

    async def free_places(self, programme_id: str, quota: int) -> int:
        return quota - self.taken.get(programme_id, 0)

    def _line(self, programme_id: str) -> list[WorkerInfo]:
        return sorted((w for w in self.infos.values() if w.programme_id == programme_id
                       and w.status == enrolment.WAITING_LIST),
                      key=lambda w: (w.queued_at, w.reference))

    async def waiting_count(self, programme_id: str) -> int:
        return len(self._line(programme_id))

    async def waiting_position(self, worker: WorkerInfo) -> int:
        return [w.reference for w in self._line(worker.programme_id)].index(
            worker.reference) + 1

    async def first_waiting(self, programme_id: str, limit: int) -> list[WorkerInfo]:
        return self._line(programme_id)[:limit]

    async def awaiting_review(self, limit: int, area=None) -> tuple[list[WorkerInfo], int]:
        waiting = [w for w in self.infos.values()
                   if w.status == enrolment.WAITING_VERIFICATION
                   and (area is None or area.holds(w))]
        return waiting[:limit], len(waiting)

    async def staff_role(self, channel: str, chat_id: str) -> str | None:
        return self.staff.get(f"{channel}:{chat_id}")

    async def staff_area(self, channel: str, chat_id: str) -> str | None:
        return self.areas.get(f"{channel}:{chat_id}")

    async def months_covered(self, reference: str, until: date) -> int | None:
        return self.membership_months.get(reference)

    async def open_claims(self, nik: str) -> list[ClaimInfo]:
        return [await self.claim_by_reference(c.reference) for c in self.claims.values()
                if c.deceased_nik == nik and c.status != claims.REJECTED]

    async def claim_by_reference(self, reference: str) -> ClaimInfo | None:
        found = self.claims.get(reference)
        if found is None:
            return None
        others = tuple(c.reference for c in self.claims.values()
                       if c.deceased_nik == found.deceased_nik and c.reference != reference
                       and c.status != claims.REJECTED)
        return dataclasses.replace(found, others=others)

    async def chats_of(self, reference: str) -> list[tuple[str, datetime]]:
        info = self.infos.get(reference)
        if info is None:
            return []
        made_in = [(info.chat_key, self.registered_at[reference])] if info.chat_key else []
        return made_in + [(key, self.linked_at[(key, ref)]) for key, ref in self.links
                          if ref == reference and key != info.chat_key]

    async def limit_used(self, kind: str, key: str, since: datetime) -> int:
        return sum(amount for k, counted, amount, at in self.counts
                   if (k, counted) == (kind, key) and at >= since)

    def _proof(self, request: dict) -> proof.ProofInfo:
        return proof.ProofInfo(request["id"], request["purpose"], request["subject"],
                               request["chat_key"], request["locale"], request["method"],
                               request["state"], request["tries"], request["created_at"],
                               request["expires_at"], request["reference"])

    async def open_proof(self, chat_key: str, purpose: str, subject: str, now: datetime,
                         method: str = proof.CODE) -> proof.ProofInfo | None:
        found = [r for r in self.proofs if (r["chat_key"], r["purpose"], r["subject"],
                                             r["method"], r["state"]) == (
            chat_key, purpose, subject, method, proof.PENDING) and r["expires_at"] > now]
        return self._proof(found[-1]) if found else None

    async def code_matches(self, proof_id: int, code: str) -> bool:
        return self.proofs[proof_id - 1]["code"] == code

    async def proof_by_reference(self, reference: str) -> proof.ProofInfo | None:
        found = [r for r in self.proofs if r["reference"] == reference]
        return self._proof(found[0]) if found else None

    async def staff_checks(self, now: datetime, limit: int):
        waiting = [self._proof(r) for r in self.proofs if r["method"] == proof.STAFF
                   and r["state"] == proof.PENDING and r["expires_at"] > now]
        return waiting[:limit], len(waiting)

    def code_for(self, chat_key: str) -> str:
        """The code last sent for this chat to type."""
        return next(r["code"] for r in reversed(self.proofs)
                    if r["chat_key"] == chat_key and r["code"])

    async def claims_by_status(self, statuses, limit):
        chosen = [c for c in self.claims.values() if c.status in statuses]
        return chosen[:limit], len(chosen)

    async def broadcast_preview(self, audience: Audience, reminder: str | None, today
                                ) -> Preview:
        """As ``models.broadcasts.recipients`` chooses them, over what is in memory."""
        if reminder == "documents_missing":
            chosen = [(c.chat_key, {"reference": c.reference, "documents": list(c.missing())})
                      for c in self.claims.values() if c.status in claims.WAITING_FOR_DOCUMENTS
                      and audience.locale in (None, c.locale)
                      and audience.channel in (None, c.chat_key.split(":")[0])]
        else:
            registered = {effect.reference: effect for _, effect in self.workers}
            chosen = []
            for w in self.infos.values():
                given = registered[w.reference]
                if given.messages_consent and not self.restricted(w.reference) and (
                        audience.programme in (None, w.programme_id)
                        and audience.status in (None, w.status)
                        and audience.occupation in (None, given.occupation)
                        and (audience.kelurahan or given.kelurahan).casefold()
                        == given.kelurahan.casefold()
                        and audience.locale in (None, w.locale)
                        and audience.channel in (None, w.chat_key.split(":")[0])):
                    if reminder is None:
                        chosen.append((w.chat_key, None))
                    elif w.status in enrolment.HOLDING and w.coverage_end and \
                            w.coverage_end >= today:
                        chosen.append((w.chat_key, {
                            "full_name": w.full_name, "reference": w.reference,
                            "coverage_end": w.coverage_end.isoformat()}))
            if reminder is None:
                chosen = list(dict.fromkeys(chosen))
        reachable = [(key, values) for key, values in chosen if not self.opted_out.get(key)]
        by_channel: dict[str, int] = {}
        for key, _ in reachable:
            by_channel[key.split(":")[0]] = by_channel.get(key.split(":")[0], 0) + 1
        return Preview(len(chosen), len(chosen) - len(reachable), by_channel,
                       reachable[0][1] if reachable else None)

    async def do_later(self, later: Later, today: date) -> dict:
        """As ``models.long_work.do_later`` does the work, over what is in memory."""
        work = later.work
        preview = await self.broadcast_preview(Audience(**work.audience), work.reminder, today)
        if isinstance(work, PreviewBroadcast):
            return {"preview": preview.to_json()}
        if preview.reachable:
            self.broadcasts.append(work)
        return {"preview": preview.to_json(),
                "broadcast_id": len(self.broadcasts) if preview.reachable else None,
                "scheduled_at": work.scheduled_at.isoformat() if work.scheduled_at else None}

    async def broadcast_progress(self, broadcast_id: int) -> Progress | None:
        return self.progress.get(broadcast_id)

    async def next_number(self, series: str) -> int:
        self.numbers[series] = self.numbers.get(series, 0) + 1
        return self.numbers[series]


class Chat:
    def __init__(self, catalogs, memory: Memory | None = None, chat_id: str = "7001",
                 rules: Rules | None = None,
                 programmes: Programmes | None = EXAMPLE_PROGRAMMES, channel: str = "telegram"):
        self.engine = Engine(catalogs, rules, programmes, CARD_KEY)
        self.renderer = Renderer(catalogs)
        self.memory = memory or Memory()
        self.chat_id = chat_id
        self.channel = channel
        self.state: dict | None = None
        self.now = START
        self.count = 0
        self.replies: list[Reply] = []
        self.last_effects: list = []
        self.history: list[Reply] = []
        self._codes = 0

    def _code(self) -> str:
        """Codes a test can foresee: 100001, 100002, … (a chat's own count)."""
        self._codes += 1
        return f"{100000 + self._codes:06d}"

    @property
    def session(self) -> Session:
        return Session.from_json(self.state)

    async def send(self, text: str = "", kind: str = "text", contact: str | None = None,
                   media: Media | None = None) -> list[Reply]:
        self.count += 1
        inbound = Inbound(self.channel, self.chat_id, str(self.count), kind, text, contact, media,
                          sender_phone=f"+{self.chat_id}" if self.channel == "whatsapp" else None)
        session = Session.from_json(json.loads(json.dumps(self.state))) if self.state else None
        references = iter(f"LD-TEST-{self.chat_id}-{n}" for n in range(self.count,
                                                                         self.count + 10))
        ctx = Context(now=self.now, today=self.now.date(), lookup=self.memory,
                      new_reference=lambda: next(references), new_code=self._code)
        outcome = await self.engine.handle(session, inbound, ctx)
        replies, effects = list(outcome.replies), list(outcome.effects)
        while outcome.effects:  # long work asked for: its result comes as the next message
            later = [e for e in outcome.effects if isinstance(e, Later)]
            for effect in outcome.effects:
                if not isinstance(effect, Later):
                    self.memory.apply(effect, inbound.chat_key, self.now)
            self.state = json.loads(json.dumps(outcome.session.to_json()))
            if not later:
                break
            result = await self.memory.do_later(later[0], ctx.today)
            inbound = Inbound(self.channel, self.chat_id, f"later-{later[0].token}", "result",
                              result={"flow": later[0].flow, "token": later[0].token, **result})
            outcome = await self.engine.handle(Session.from_json(self.state), inbound, ctx)
            replies += outcome.replies
            effects += outcome.effects
        self.state = json.loads(json.dumps(outcome.session.to_json()))
        self.replies = replies
        self.last_effects = effects
        self.history.extend(replies)
        assert replies, f"no reply to {text!r}"
        return replies

    def rendered(self) -> list[Rendered]:
        return [self.renderer.render(r, self.session.locale) for r in self.replies]

    def text(self) -> str:
        return "\n\n".join(r.as_numbered_text() for r in self.rendered())

    def everything(self) -> str:
        """Every reply this chat was sent, as the user read it."""
        return "\n\n".join(self.renderer.render(r, self.session.locale).as_numbered_text()
                           for r in self.history)

    def wait(self, **delta) -> None:
        self.now += timedelta(**delta)
