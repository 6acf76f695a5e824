"""Staff commands for claims: list them by status (oldest first, with the payment deadline and
overdue ones flagged), open one with its documents, look at a document, accept or reject a
document, ask for more, approve, reject, mark paid. Every change tells the heir in their
language and goes to the staff-action record.
"""

from bot import claims
from bot.benefits import WORK_ACCIDENT
from bot.context import Context, Turn
from bot.decisions import decide_claim, decide_document, take
from bot.flows.claim import CAUSE_TEXT, STATUS_TEXT
from bot.i18n import N_, Lines, Money, Msg
from bot.messages import Reply
from bot.text import clean

COMMANDS = {
    "klaim": "claims", "claims": "claims", "claim": "claims",
    "lihatdok": "show", "showdoc": "show",
    "terimadok": "accept_document", "acceptdoc": "accept_document",
    "tolakdok": "reject_document", "rejectdoc": "reject_document",
    "mintadok": "request", "requestdocs": "request",
    "setujuiklaim": "approve", "approveclaim": "approve",
    "tolakklaim": "reject", "rejectclaim": "reject",
    "dibayar": "paid", "paid": "paid",
}
DOCUMENT_CODES = {
    "akta": "death_certificate", "kk": "kk", "ktp": "ktp_deceased", "ktpwaris": "ktp_heir",
    "suratwaris": "heir_letter", "bukunikah": "marriage_book", "tabungan": "savings_book",
}
CODE_OF = {kind: code for code, kind in DOCUMENT_CODES.items()}
STATUS_WORDS = {
    "dokumen": (claims.DOCUMENTS_INCOMPLETE, claims.MORE_DOCUMENTS),
    "lengkap": (claims.SUBMITTED,), "periksa": (claims.IN_REVIEW,),
    "disetujui": (claims.APPROVED,), "tidakterlindungi": (claims.NOT_COVERED,),
    "selesai": (claims.PAID, claims.REJECTED),
}
WORKING = (claims.SUBMITTED, claims.IN_REVIEW, claims.NOT_COVERED, claims.APPROVED,
           claims.MORE_DOCUMENTS, claims.DOCUMENTS_INCOMPLETE)
"""What ``/klaim`` lists without a status word: the claims staff have something to do with,
the ones BPJS Ketenagakerjaan must pay first."""
LIST_LIMIT = 10


def claim_command(word: str) -> str | None:
    return COMMANDS.get(word)


class ClaimDesk:
    async def handle(self, command: str, text: str, actor: str, turn: Turn,
                     ctx: Context) -> None:
        words = clean(text).split()[1:]
        if command == "claims" and (not words or words[0].casefold() in STATUS_WORDS):
            await self._list(words[0].casefold() if words else None, turn, ctx)
            return
        if not words:
            turn.say(Reply(N_("staff.claims.help"), navigation=True))
            return
        found = await ctx.lookup.claim_by_reference(words[0].upper())
        if found is None:
            turn.say(Reply(N_("staff.claims.not_found"), {"reference": words[0].upper()},
                           navigation=True))
            return
        if command == "claims":
            turn.say(self._opened(found, ctx))
        elif command in ("show", "accept_document", "reject_document"):
            await self._document(command, found, words[1:], actor, turn, ctx)
        else:
            take(turn, decide_claim(command, found, " ".join(words[1:]) or None, actor))

    async def _list(self, word: str | None, turn: Turn, ctx: Context) -> None:
        statuses = STATUS_WORDS[word] if word else WORKING
        found, total = await ctx.lookup.claims_by_status(statuses, LIST_LIMIT)
        if not found:
            turn.say(Reply(N_("staff.claims.none"), navigation=True))
            return
        items = tuple(Msg(N_("staff.claims.item"), {
            "n": n, "reference": c.reference, "status": Msg(STATUS_TEXT[c.status]),
            "heir": c.heir_name, "died": c.date_of_death, "deadline": self._deadline(c, ctx)})
            for n, c in enumerate(found, 1))
        turn.say(Reply(N_("staff.claims.list"), {"count": total, "shown": len(items),
                                                 "items": Lines(items)}, navigation=True))

    def _deadline(self, claim: claims.ClaimInfo, ctx: Context) -> Msg:
        deadline = claim.deadline()
        if deadline is None:
            return Msg(N_("staff.claims.no_deadline"))
        if claim.overdue(ctx.today):
            return Msg(N_("staff.claims.overdue"), {
                "deadline": deadline, "days": (ctx.today - deadline).days,
                "late": Money(claim.late_amount(ctx.today))})
        return Msg(N_("staff.claims.deadline"), {"deadline": deadline})

    def _opened(self, claim: claims.ClaimInfo, ctx: Context) -> Reply:
        documents = tuple(Msg(N_("staff.claims.document"), {
            "code": CODE_OF[kind], "document": Msg(claims.DOCUMENTS[kind]),
            "status": Msg(DOCUMENT_STATUS[claim.documents.get(kind, "missing")])})
            for kind in claims.documents_for(claim.relationship))
        return Reply(N_("staff.claims.opened"), {
            "reference": claim.reference, "status": Msg(STATUS_TEXT[claim.status]),
            "reason": Msg(claims.NOT_COVERED_REASONS[claim.reason])
            if claim.reason in claims.NOT_COVERED_REASONS else claim.reason or "-",
            "heir": claim.heir_name,
            "died": claim.date_of_death, "estimate": Money(claim.estimate),
            "cause": Msg(CAUSE_TEXT.get(claim.cause, N_("claim.cause.illness"))),
            "route": Msg(N_("staff.claims.jkk")) if claim.cause == WORK_ACCIDENT else "",
            "deadline": self._deadline(claim, ctx), "documents": Lines(documents),
            "others": Msg(N_("staff.claims.others"), {"others": ", ".join(claim.others)})
            if claim.others else ""},
            navigation=True)

    async def _document(self, command: str, claim: claims.ClaimInfo, words: list[str],
                        actor: str, turn: Turn, ctx: Context) -> None:
        kind = DOCUMENT_CODES.get(words[0].casefold()) if words else None
        if kind is None or kind not in claim.files:
            turn.say(Reply(N_("staff.claims.which_document"), {
                "codes": ", ".join(CODE_OF[k] for k in claim.files) or "-"}, navigation=True))
            return
        if command == "show":
            turn.say(Reply(N_("staff.claims.file"), {"reference": claim.reference,
                                                     "document": Msg(claims.DOCUMENTS[kind])},
                           navigation=True, attachment=claim.files[kind]))
            return
        rejection = " ".join(words[1:]) if command == "reject_document" else None
        take(turn, decide_document(claim, kind, rejection, actor))


DOCUMENT_STATUS = {
    "received": N_("staff.claims.document.received"),
    "accepted": N_("staff.claims.document.accepted"),
    "rejected": N_("staff.claims.document.rejected"),
    "missing": N_("staff.claims.document.missing"),
}
