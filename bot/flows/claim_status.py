"""An heir follows their claim: from the chat it was reported from, with its reference; from
any other chat, with the reference, their own NIK and the code then sent to the chat the claim
was reported from (and to the heir's WhatsApp number). A wrong NIK, an unknown reference and a
wrong code get the same answers, and every try counts against the limits of the NIK and the
chat (``bot.limits``). A claim waiting for documents takes them here, one by one, each stored as
it comes."""

import re
from datetime import date

from bot import claims, proof
from bot.channels import name_of
from bot.context import Context, Turn
from bot.flows.claim import STATUS_TEXT, document_error
from bot.flows.registration import RESEND
from bot.i18n import N_, Lines, Msg
from bot.messages import AddDocuments, Choice, Inbound, Reply, StoredDocument
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
    Question("code", N_("claim_status.code_prompt"), N_("proof.code.expect"),
             N_("claim_status.code_help"), validator="code", choices=(RESEND,)),
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
    words = ("status klaim", "cek klaim", "claim status", "check claim")
    pausable = False
    continue_label = draft_waiting = menu = None

    def __init__(self, labels):
        self.labels = labels

    async def start(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
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
            claim = await ctx.lookup.claim_by_reference(result.value)
            if claim is not None and claim.chat_key == inbound.chat_key:
                await self._show(s, claim, turn)
                return
            s.data["reference"], s.step = result.value, "heir_nik"
            turn.say(QUESTIONS["heir_nik"].ask())
            return
        result = question.read(inbound, text, ctx.today, self.labels)
        if isinstance(result, Err):
            turn.say(question.error(result))
            return
        if s.step == "heir_nik":
            if not await proof.count_nik(ctx, turn, s, inbound.chat_key):
                return
            s.data.update(heir_nik=result.value, tries=0)
            await self._send_code(s, turn, ctx, inbound.chat_key)
        elif isinstance(result.value, Choice):
            await self._send_code(s, turn, ctx, inbound.chat_key)
        else:
            await self._code(s, result.value, turn, ctx, inbound.chat_key)

    async def _claim(self, s: Session, ctx: Context) -> claims.ClaimInfo | None:
        """The claim asked for, if the heir's NIK given is its heir's."""
        claim = await ctx.lookup.claim_by_reference(s.data["reference"])
        return claim if claim is not None and claim.heir_nik == s.data["heir_nik"] else None

    async def _send_code(self, s: Session, turn: Turn, ctx: Context, chat_key: str) -> None:
        claim = await self._claim(s, ctx)
        targets = [claim.chat_key] if claim else []
        if claim and (number := proof.whatsapp_chat(claim.heir_phone)) not in (None, *targets):
            targets.append(number)
        sent = await proof.send_code(
            ctx, turn, purpose=proof.CLAIM_STATUS, nik=s.data["heir_nik"], chat_key=chat_key,
            locale=s.locale, subject=claim.reference if claim else None, targets=targets,
            notice=N_("notice.proof.claim_status"),
            target_locale=claim.locale if claim else "",
            params={"reference": claim.reference, "channel": name_of(chat_key)} if claim
            else {})
        if not sent:
            s.leave_flow()
            return
        s.step = "code"
        turn.say(QUESTIONS["code"].ask())

    async def _code(self, s: Session, code: str, turn: Turn, ctx: Context,
                    chat_key: str) -> None:
        claim = await self._claim(s, ctx)
        outcome = await proof.typed_code(
            ctx, turn, s, code, QUESTIONS["code"], purpose=proof.CLAIM_STATUS,
            nik=s.data["heir_nik"], chat_key=chat_key,
            subject=claim.reference if claim else None, wrong=N_("claim_status.code_wrong"),
            failed=N_("claim_status.not_found"))
        if outcome == proof.PASSED:
            await self._show(s, claim, turn)
        elif outcome != proof.WRONG:
            s.leave_flow()

    async def _show(self, s: Session, claim: claims.ClaimInfo, turn: Turn) -> None:
        """Where the claim stands, to a chat that may see it; the documents it still lacks
        are taken next."""
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
            reference = s.data["reference"]
            s.leave_flow()  # which forgets the data: the reference is read first
            turn.say(Reply(N_("claim_status.later"), {"reference": reference},
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
