"""A registered worker changes their phone number ("ganti nomor HP"), from a chat that holds the
registration. The new number is where notices go and, on WhatsApp, proof enough to link a chat
(``bot.proof``), so it must be theirs: a code goes to its WhatsApp, and is typed here (writing
from that number is the proof itself). The chats holding the registration, the old number's
WhatsApp among them, are told of the change.
"""

from datetime import date

from bot import proof
from bot.channels import name_of
from bot.choices import REGISTER
from bot.context import Context, Turn
from bot.flows.registration import RESEND
from bot.i18n import N_, When
from bot.messages import ChangePhone, Choice, Inbound, Notify, Reply, WorkerInfo
from bot.questions import Question
from bot.quiet_hours import WIB
from bot.rules import Rules
from bot.session import Session
from bot.validators import Err

QUESTIONS = {q.name: q for q in (
    Question("phone", N_("phone_change.prompt"), N_("phone.expect"), N_("phone_change.help"),
             validator="phone", accepts_contact=True),
    Question("code", N_("phone_change.code_prompt"), N_("proof.code.expect"),
             N_("phone_change.code_help"), validator="code", choices=(RESEND,)),
)}


def which_question(workers: list[list[str]], prompt: str = N_("phone_change.which")
                   ) -> Question:
    """Whose registration (whose number, whose data), where a chat holds several (a family's
    phone): each (reference, full name)."""
    return Question("which", prompt, N_("phone_change.which_expect"),
                    N_("phone_change.help"), choices=tuple(
                        Choice(reference, N_("phone_change.option"),
                               {"full_name": full_name, "reference": reference})
                        for reference, full_name in workers))


class PhoneChange:
    name = "phone_change"
    words = ("ganti nomor", "ganti nomor hp", "ubah nomor", "ubah nomor hp", "ganti hp",
             "nomor hp baru", "nomor baru", "change phone", "change my number",
             "change phone number", "new number")
    pausable = False
    continue_label = draft_waiting = menu = None

    def __init__(self, labels, rules: Rules):
        self.labels = labels
        self.rules = rules

    async def start(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        workers = await ctx.lookup.workers_of_chat(inbound.chat_key)
        if not workers:
            turn.say(Reply(N_("phone_change.none"), choices=(REGISTER,), navigation=True))
            return
        if not self.rules.whatsapp:  # no code can reach a new number: the office changes it
            turn.say(Reply(N_("phone_change.at_office"), navigation=True))
            return
        s.flow, s.data = self.name, {"references": [w.reference for w in workers]}
        if len(workers) == 1:
            s.data["reference"] = workers[0].reference
        await self._ask(s, turn, ctx)

    def niks_wanted(self, s: Session, text: str, today: date) -> set[str]:
        return set()

    def reprompt(self, s: Session, turn: Turn, ctx: Context) -> None:
        params = {"current": s.data.get("current"), "phone": s.data.get("phone")}
        turn.say(self._question(s).ask(params))

    def help(self, s: Session, turn: Turn, ctx: Context) -> None:
        turn.say(self._question(s).explain())

    async def _ask(self, s: Session, turn: Turn, ctx: Context) -> None:
        if "reference" not in s.data:
            s.step = "which"
            workers = [await ctx.lookup.worker_by_reference(r) for r in s.data["references"]]
            s.data["workers"] = [[w.reference, w.full_name] for w in workers if w]
        else:
            s.step = "phone"
            worker = await ctx.lookup.worker_by_reference(s.data["reference"])
            s.data["current"] = worker.phone if worker else ""
        self.reprompt(s, turn, ctx)

    def _question(self, s: Session) -> Question:
        return which_question(s.data["workers"]) if s.step == "which" else QUESTIONS[s.step]

    async def answer(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                     ctx: Context) -> None:
        question = self._question(s)
        result = question.read(inbound, text, ctx.today, self.labels)
        if isinstance(result, Err):
            turn.say(question.error(result))
            return
        worker = await ctx.lookup.worker_by_reference(s.data.get("reference")
                                                      or result.value.value)
        if worker is None or not await proof.linked(ctx, inbound.chat_key, worker):
            s.leave_flow()  # unlinked meanwhile ("BUKAN SAYA" from its owner)
            turn.say(Reply(N_("phone_change.none"), choices=(REGISTER,), navigation=True))
        elif s.step == "which":
            s.data["reference"] = worker.reference
            await self._ask(s, turn, ctx)
        elif s.step == "phone":
            await self._new_number(s, worker, result.value, turn, ctx, inbound.chat_key)
        elif isinstance(result.value, Choice):
            await self._send_code(s, worker, turn, ctx, inbound.chat_key)
        else:
            await self._check(s, worker, result.value, turn, ctx, inbound.chat_key)

    async def _new_number(self, s: Session, worker: WorkerInfo, phone: str, turn: Turn,
                          ctx: Context, chat_key: str) -> None:
        if phone == worker.phone:
            turn.say(QUESTIONS["phone"].error(Err(N_("phone_change.same"), {"phone": phone})))
            return
        s.data["phone"] = phone
        if chat_key == proof.whatsapp_chat(phone):  # written from the new number itself
            await self._change(s, worker, turn, ctx, chat_key)
            return
        await self._send_code(s, worker, turn, ctx, chat_key)

    async def _send_code(self, s: Session, worker: WorkerInfo, turn: Turn, ctx: Context,
                         chat_key: str) -> None:
        sent = await proof.send_code(
            ctx, turn, purpose=proof.PHONE, nik=worker.nik, chat_key=chat_key,
            locale=s.locale, subject=worker.reference,
            targets=[proof.whatsapp_chat(s.data["phone"])], notice=N_("notice.proof.phone"),
            target_locale=s.locale,
            params={"reference": worker.reference, "channel": name_of(chat_key)})
        if not sent:
            s.leave_flow()
            return
        s.step, s.data["tries"] = "code", 0
        self.reprompt(s, turn, ctx)

    async def _check(self, s: Session, worker: WorkerInfo, code: str, turn: Turn,
                     ctx: Context, chat_key: str) -> None:
        outcome = await proof.typed_code(
            ctx, turn, s, code, QUESTIONS["code"], purpose=proof.PHONE, nik=worker.nik,
            chat_key=chat_key, subject=worker.reference, wrong=N_("proof.code.wrong"),
            failed=N_("phone_change.failed"))
        if outcome == proof.PASSED:
            await self._change(s, worker, turn, ctx, chat_key)
        elif outcome != proof.WRONG:
            s.leave_flow()

    async def _change(self, s: Session, worker: WorkerInfo, turn: Turn, ctx: Context,
                      chat_key: str) -> None:
        """Proven: the new number is stored, and every chat holding the registration (the old
        number's WhatsApp too) is told, so a change nobody asked for does not go unseen."""
        phone = s.data["phone"]
        turn.do(ChangePhone(worker.reference, phone, chat_key))
        notice = Reply(N_("notice.phone_changed"), {
            "reference": worker.reference, "channel": name_of(chat_key),
            "when": When(ctx.now.astimezone(WIB))}, navigation=True)
        for holder in await proof.holders(ctx, worker):
            if holder not in (chat_key, proof.whatsapp_chat(phone)):
                turn.do(Notify(holder, worker.locale, (notice,)))
        s.leave_flow()
        turn.say(Reply(N_("phone_change.done"), {"phone": phone}, navigation=True))
