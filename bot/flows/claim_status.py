"""An heir follows their claim from any chat: the claim's reference and their own NIK, both.
A wrong NIK and an unknown reference get the same answer, and the tries count against the
chat's hourly look-ups. A claim waiting for documents takes them here, one by one, each
stored as it comes."""

import re
from datetime import date

from bot import claims
from bot.context import Context, Turn
from bot.flows.claim import STATUS_TEXT, document_error
from bot.flows.lookup import LIMIT, recent
from bot.i18n import N_, Lines, Msg
from bot.messages import AddDocuments, Inbound, Reply, StoredDocument
from bot.questions import Question
from bot.session import Session
from bot.text import key
from bot.validators import Err, Ok

REFERENCE = re.compile(r"^JKM-?(\d{4})-?(\d{1,6})$")

QUESTIONS = {q.name: q for q in (
    Question("reference", N_("claim_status.reference.prompt"),
             N_("claim_status.reference.expect"), N_("claim_status.reference.help")),
    Question("heir_nik", N_("claim_status.heir_nik.prompt"), N_("nik.expect"),
             N_("claim_status.heir_nik.help"), validator="nik"),
    Question("document", N_("claim.document.prompt"), N_("claim.document.expect"),
             N_("claim.document.help")),
)}


def read_reference(text: str) -> Ok | Err:
    """``JKM-2026-000123``, also typed as ``jkm 2026 123`` or ``JKM2026000123``."""
    found = REFERENCE.match(re.sub(r"[\s_]", "-", text.strip().upper()).replace("--", "-"))
    if not found:
        return Err(N_("claim_status.reference.invalid"))
    return Ok(f"JKM-{found.group(1)}-{int(found.group(2)):06d}")


class ClaimStatus:
    name = "claim_status"

    def __init__(self, labels):
        self.labels = labels

    def start(self, s: Session, turn: Turn, ctx: Context) -> None:
        s.lookups = recent(s, ctx.now)
        if len(s.lookups) >= LIMIT:
            turn.say(Reply(N_("claim_status.limit"), {"limit": LIMIT}, navigation=True))
            return
        s.flow, s.step, s.data = self.name, "reference", {}
        turn.say(QUESTIONS["reference"].ask())

    def niks_wanted(self, s: Session, text: str, today: date) -> set[str]:
        return set()

    def reprompt(self, s: Session, turn: Turn, ctx: Context) -> None:
        turn.say(self._ask(s))

    def help(self, s: Session, turn: Turn, ctx: Context) -> None:
        turn.say(QUESTIONS[s.step].explain())

    def _ask(self, s: Session) -> Reply:
        if s.step == "document":
            missing = s.data["missing"]
            return QUESTIONS["document"].ask({"document": Msg(claims.DOCUMENTS[missing[0]]),
                                              "n": 1, "total": len(missing)})
        return QUESTIONS[s.step].ask()

    async def answer(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                     ctx: Context) -> None:
        question = QUESTIONS[s.step]
        if s.step == "document":
            await self._document(s, inbound, text, turn, ctx)
            return
        if s.step == "reference":
            result = read_reference(text) if inbound.kind == "text" and text else \
                Err(N_("input.not_text") if inbound.kind != "text" else N_("input.empty"))
            if isinstance(result, Err):
                turn.say(question.error(result))
                return
            s.data["reference"], s.step = result.value, "heir_nik"
            turn.say(QUESTIONS["heir_nik"].ask())
            return
        result = question.read(inbound, text, ctx.today, self.labels)
        if isinstance(result, Err):
            turn.say(question.error(result))
            return
        s.lookups = [*recent(s, ctx.now), ctx.now.isoformat()]
        claim = await ctx.lookup.claim_by_reference(s.data["reference"])
        if claim is None or claim.heir_nik != result.value:
            s.leave_flow()
            turn.say(Reply(N_("claim_status.not_found"), navigation=True))
            return
        missing = claim.missing() if claim.status in claims.WAITING_FOR_DOCUMENTS else ()
        turn.say(Reply(N_("claim_status.shown"), {
            "reference": claim.reference, "status": Msg(STATUS_TEXT[claim.status]),
            "reason": Msg(N_("claim_status.reason"), {"reason": claim.reason})
            if claim.reason and claim.status in (claims.REJECTED, claims.MORE_DOCUMENTS)
            else ""}, navigation=not missing))
        if not missing:
            s.leave_flow()
            return
        s.data = {"reference": claim.reference, "missing": list(missing), "status": claim.status}
        s.step = "document"
        turn.say(Reply(N_("claim_status.send_missing"), {"documents": Lines(tuple(
            Msg(N_("claim.document.item"), {"document": Msg(claims.DOCUMENTS[k])})
            for k in missing))}))
        turn.say(self._ask(s))

    async def _document(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                        ctx: Context) -> None:
        if inbound.kind == "text" and inbound.media is None and key(text) in (
                "nanti", "nanti saja", "later"):
            s.leave_flow()
            turn.say(Reply(N_("claim_status.later"), {"reference": s.data["reference"]},
                           navigation=True))
            return
        problem = document_error(inbound.media, inbound)
        if problem:
            turn.say(QUESTIONS["document"].error(problem))
            return
        reference = s.data["reference"]
        claim = await ctx.lookup.claim_by_reference(reference)
        if claim is None or claim.status not in claims.WAITING_FOR_DOCUMENTS:
            s.leave_flow()  # staff decided meanwhile (the heir was sent a notice of it)
            turn.say(Reply(N_("claim_status.moved_on"), {
                "reference": reference,
                "status": Msg(STATUS_TEXT[claim.status]) if claim else ""}, navigation=True))
            return
        kind, *rest = s.data["missing"]
        complete = not rest
        turn.do(AddDocuments(s.data["reference"], (StoredDocument(kind, inbound.media),),
                             claims.SUBMITTED if complete else claim.status, claim.status))
        turn.say(Reply(N_("claim.document.received"), {"document": Msg(claims.DOCUMENTS[kind])}))
        if complete:
            turn.say(Reply(N_("claim_status.complete"), {"reference": s.data["reference"]},
                           navigation=True))
            s.leave_flow()
            return
        s.data["missing"] = rest
        turn.say(self._ask(s))
