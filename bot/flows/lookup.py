"""Checking someone else's cover (a parent's, a neighbour's): their NIK, then the code their
own chat was just sent, which they give to whoever they let see it.

A NIK is no secret (``bot.proof``), so it shows nothing by itself: an unknown NIK and a wrong code
get the same answers, the owner is told that someone asked, and every try counts against the
limits of the NIK and of the chat (``bot.limits``), whichever chat or channel it comes from.
"""

from datetime import date

from bot import proof
from bot.channels import name_of
from bot.context import Context, Turn
from bot.flows.registration import RESEND
from bot.i18n import N_
from bot.messages import Choice, Inbound
from bot.programmes import Programmes
from bot.questions import Question
from bot.rules import Rules
from bot.session import Session
from bot.status import status_reply
from bot.validators import Err, Ok, validate_nik

QUESTIONS = {q.name: q for q in (
    Question("nik", N_("lookup.nik_prompt"), N_("nik.expect"), N_("lookup.nik_help"),
             validator="nik"),
    Question("code", N_("lookup.code_prompt"), N_("proof.code.expect"), N_("lookup.code_help"),
             validator="code", choices=(RESEND,)),
)}


class StatusLookup:
    name = "lookup"
    words = ("cek nik", "cek orang lain", "check nik", "check someone else")
    pausable = False
    continue_label = draft_waiting = menu = None

    def __init__(self, labels, programmes: Programmes | None, rules: Rules):
        self.labels = labels
        self.programmes = programmes
        self.rules = rules

    async def start(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        s.flow, s.step, s.data = self.name, "nik", {}
        turn.say(QUESTIONS["nik"].ask())

    def niks_wanted(self, s: Session, text: str, today: date) -> set[str]:
        if s.step == "code":
            return {s.data["nik"]}
        typed = validate_nik(text, today)
        return {typed.value} if isinstance(typed, Ok) else set()

    def reprompt(self, s: Session, turn: Turn, ctx: Context) -> None:
        turn.say(QUESTIONS[s.step].ask())

    def help(self, s: Session, turn: Turn, ctx: Context) -> None:
        turn.say(QUESTIONS[s.step].explain())

    async def answer(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                     ctx: Context) -> None:
        question = QUESTIONS[s.step]
        result = question.read(inbound, text, ctx.today, self.labels)
        if isinstance(result, Err):
            turn.say(question.error(result))
            return
        if s.step == "nik":
            await self._nik(s, result.value, turn, ctx, inbound.chat_key)
        elif isinstance(result.value, Choice):
            await self._send_code(s, turn, ctx, inbound.chat_key)
        else:
            await self._code(s, result.value, turn, ctx, inbound.chat_key)

    async def _nik(self, s: Session, nik: str, turn: Turn, ctx: Context, chat_key: str) -> None:
        worker = await ctx.lookup.worker_by_nik(nik)
        if await proof.holds(ctx, chat_key, worker):
            s.leave_flow()  # this chat holds it already
            turn.say(await status_reply(worker, self.programmes, ctx.lookup, ctx.today,
                                        self.rules))
            return
        if not await proof.count_nik(ctx, turn, s, chat_key):
            return
        s.data = {"nik": nik, "tries": 0}
        await self._send_code(s, turn, ctx, chat_key)

    async def _send_code(self, s: Session, turn: Turn, ctx: Context, chat_key: str) -> None:
        worker = await ctx.lookup.worker_by_nik(s.data["nik"])
        sent = await proof.send_code(
            ctx, turn, purpose=proof.LOOKUP, nik=s.data["nik"], chat_key=chat_key,
            locale=s.locale, subject=worker.reference if worker else None,
            targets=await proof.holders(ctx, worker) if worker else [],
            notice=N_("notice.proof.lookup"), target_locale=worker.locale if worker else "",
            params={"reference": worker.reference, "full_name": worker.full_name,
                    "channel": name_of(chat_key)} if worker else {})
        if not sent:
            s.leave_flow()
            return
        s.step = "code"
        turn.say(QUESTIONS["code"].ask())

    async def _code(self, s: Session, code: str, turn: Turn, ctx: Context,
                    chat_key: str) -> None:
        worker = await ctx.lookup.worker_by_nik(s.data["nik"])
        outcome = await proof.typed_code(
            ctx, turn, s, code, QUESTIONS["code"], purpose=proof.LOOKUP, nik=s.data["nik"],
            chat_key=chat_key, subject=worker.reference if worker else None,
            wrong=N_("lookup.code_wrong"), failed=N_("lookup.not_found"))
        if outcome != proof.WRONG:
            s.leave_flow()
        if outcome == proof.PASSED:
            turn.say(await status_reply(worker, self.programmes, ctx.lookup, ctx.today,
                                        self.rules))
