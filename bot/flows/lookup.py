"""Checking someone else's cover (a parent's, a neighbour's): their NIK and birth date, both.

A wrong pair and an unknown NIK get the same answer, and a chat may try only ``LIMIT`` times an
hour, so nobody can find out who is registered by trying NIKs.
"""

import math
from datetime import date, datetime, timedelta

from bot.context import Context, Turn
from bot.i18n import N_
from bot.messages import Inbound, Reply
from bot.programmes import Programmes
from bot.questions import Question
from bot.session import Session
from bot.status import status_reply
from bot.validators import Err

LIMIT = 5
WINDOW = timedelta(hours=1)

QUESTIONS = {q.name: q for q in (
    Question("nik", N_("lookup.nik_prompt"), N_("nik.expect"), N_("lookup.nik_help"),
             validator="nik"),
    Question("birth_date", N_("lookup.birth_date_prompt"), N_("birth_date.expect"),
             N_("lookup.birth_date_help"), validator="date"),
)}


def recent(s: Session, now: datetime) -> list[str]:
    """The chat's look-ups within the last hour."""
    return [at for at in s.lookups if now - datetime.fromisoformat(at) < WINDOW]


class StatusLookup:
    name = "lookup"

    def __init__(self, labels, programmes: Programmes | None):
        self.labels = labels
        self.programmes = programmes

    def start(self, s: Session, turn: Turn, ctx: Context) -> None:
        s.lookups = recent(s, ctx.now)
        if len(s.lookups) >= LIMIT:
            wait = datetime.fromisoformat(s.lookups[0]) + WINDOW - ctx.now
            turn.say(Reply(N_("lookup.limit"), {"limit": LIMIT,
                                                "minutes": math.ceil(wait.total_seconds() / 60)},
                           navigation=True))
            return
        s.flow, s.step, s.data = self.name, "nik", {}
        turn.say(QUESTIONS["nik"].ask())

    def niks_wanted(self, s: Session, text: str, today: date) -> set[str]:
        return {s.data["nik"]} if s.step == "birth_date" else set()

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
            s.data["nik"], s.step = result.value, "birth_date"
            turn.say(QUESTIONS["birth_date"].ask())
            return
        s.lookups = [*recent(s, ctx.now), ctx.now.isoformat()]
        worker = await ctx.lookup.worker_by_nik(s.data["nik"])
        s.leave_flow()
        if worker is None or worker.birth_date != result.value:
            turn.say(Reply(N_("lookup.not_found"), navigation=True))
            return
        turn.say(await status_reply(worker, self.programmes, ctx.lookup, ctx.today))
