"""One runner for the conversations that fill a form (a registration, a death report): the flow
lists its steps, and the runner does, once for all, what every form does.

A step is asked while it is pending: by default while its field is unanswered and its ``when``
holds. The runner asks the first pending step; reads the answer with the step's question (or
the flow's ``read_<step>`` where an answer needs more than a validator: a file, an account
number); hands the value to the flow's ``on_<step>`` hook, or stores it; and asks the next. It
explains (help) and asks again with the example (after an error, thanks, a new language, a
resume). Where the channel tells the sender's number (WhatsApp), a step with a ``confirm``
question asks to confirm that number instead. The ``summary`` step offers to save (the flow's
``on_summary``), to correct one answer (a menu generated from the steps with a ``label``, each
forgetting its field and what it lists in ``forgets``), or to cancel. Domain rules stay in the
hooks, each named after the step it decides.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from bot.context import Context, Turn
from bot.i18n import N_
from bot.messages import Choice, Inbound, Reply
from bot.questions import Question
from bot.session import Session
from bot.validators import Err, Ok, Result, validate_phone

Data = dict[str, Any]
Check = Callable[[Data, Context], bool]

SUMMARY, EDIT = "summary", "edit"
SAVE, CHANGE, CANCEL = "save", "edit", "cancel"
"""What a summary's options mean to the runner; the flow gives them their labels."""


@dataclass(frozen=True)
class Step:
    question: Question
    field: str | None = None
    """The answer's key in the session's data (default: the question's name)."""
    when: Check | None = None
    """Asked only where this holds (the name of one's own occupation only for "other")."""
    pending: Check | None = None
    """Replaces "unanswered, and ``when`` holds", for a step asked more than once."""
    fill: Callable[[Data, Context], Any] | None = None
    """A value recorded without asking, where there is nothing to ask; None: ask."""
    params: Callable[[Data, Context], Mapping[str, Any]] | None = None
    """The prompt's values."""
    choices: Callable[[Data, Context], tuple[Choice, ...]] | None = None
    """Options that depend on the answers given (the programmes open to this worker)."""
    label: str | None = None
    """Its name in the summary's correction menu (offered once answered); None: not
    corrected from there."""
    forgets: tuple[str, ...] = ()
    """What correcting it forgets besides its field: the answers that rested on it."""
    confirm: Question | None = None
    """Asked instead where the channel told the sender's number (its ``{phone}``)."""

    @property
    def key(self) -> str:
        return self.field or self.question.name

    def is_pending(self, data: Data, ctx: Context) -> bool:
        if self.pending is not None:
            return self.pending(data, ctx)
        return self.key not in data and (self.when is None or self.when(data, ctx))


class Form:
    """The runner, for the flows that fill a form: ``steps`` in order, ending with the
    ``summary``; ``edit_expect`` says how to pick an answer to correct, with an example."""

    name: str
    steps: tuple[Step, ...]
    edit_expect: str
    labels: Callable[[Choice], Iterable[str]]

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.question.name == name)

    def current(self, s: Session, ctx: Context) -> tuple[Step | None, Question, bool]:
        """The step asked (None for the correction menu), its question as asked now, and
        whether that is the sender's number to confirm."""
        if s.step == EDIT:
            return None, Question(EDIT, N_("edit.prompt"), self.edit_expect, N_("edit.help"),
                                  choices=tuple(Choice(step.key, step.label)
                                                for step in self.steps
                                                if step.label and step.key in s.data)), False
        step = self.step(s.step)
        if step.confirm is not None and s.data.get("sender_phone") \
                and not s.data.get("phone_other"):
            return step, step.confirm, True
        if step.choices is not None:
            return step, replace(step.question, choices=step.choices(s.data, ctx)), False
        return step, step.question, False

    # --- asking -------------------------------------------------------------------------

    def next(self, s: Session, turn: Turn, ctx: Context) -> None:
        """Ask the first step still pending."""
        self.locate(s, ctx)
        self.reprompt(s, turn, ctx)

    def locate(self, s: Session, ctx: Context) -> None:
        """Go to the first step still pending, recording those with nothing to ask."""
        for step in self.steps:
            if not step.is_pending(s.data, ctx):
                continue
            if step.fill is not None and (value := step.fill(s.data, ctx)) is not None:
                s.data[step.key] = value
                continue
            s.step = step.question.name
            return

    def reprompt(self, s: Session, turn: Turn, ctx: Context) -> None:
        step, question, confirming = self.current(s, ctx)
        if confirming:
            params: Mapping[str, Any] | None = {"phone": s.data["sender_phone"]}
        else:
            params = step.params(s.data, ctx) if step and step.params else None
        turn.say(question.ask(params))

    def help(self, s: Session, turn: Turn, ctx: Context) -> None:
        turn.say(self.current(s, ctx)[1].explain())

    @staticmethod
    def forget(s: Session, *names: str) -> None:
        for name in names:
            s.data.pop(name, None)

    # --- answering ----------------------------------------------------------------------

    async def answer(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                     ctx: Context) -> None:
        if inbound.sender_phone and isinstance(sender := validate_phone(inbound.sender_phone),
                                               Ok):
            s.data["sender_phone"] = sender.value
        step, question, confirming = self.current(s, ctx)
        reader = getattr(self, f"read_{s.step}", None)
        result: Result = await reader(s, inbound, text, question, ctx) if reader \
            else question.read(inbound, text, ctx.today, self.labels)
        if isinstance(result, Err):
            turn.say(question.error(result))
            return
        value = result.value
        if step is None:  # an answer picked for correction: forgotten, and asked again
            corrected = next(step for step in self.steps if step.key == value.value)
            self.forget(s, corrected.key, *corrected.forgets)
        elif confirming:
            self._confirmed_phone(s, step, value)
        elif s.step == SUMMARY and isinstance(value, Choice) and value.value in (CHANGE,
                                                                                  CANCEL):
            self._leave_summary(s, value, turn, ctx)
            return
        elif (hook := getattr(self, f"on_{s.step}", None)) is not None:
            if not await hook(s, value, turn, ctx, inbound):
                return  # the hook answered (an error, the end of the flow)
        else:
            self.store(s, step, value)
        self.next(s, turn, ctx)

    @staticmethod
    def store(s: Session, step: Step, value: Any) -> None:
        """An answer as the data keeps it: an option by its value, a date as ISO text."""
        if isinstance(value, Choice):
            value = value.value
        s.data[step.key] = value.isoformat() if isinstance(value, date) else value

    @staticmethod
    def _confirmed_phone(s: Session, step: Step, answer: Any) -> None:
        """Yes: the number the message came from; no: ask for another; a number typed
        instead is taken as the answer."""
        if isinstance(answer, Choice) and answer.value == "no":
            s.data["phone_other"] = True
        else:
            s.data[step.key] = s.data["sender_phone"] if isinstance(answer, Choice) else answer

    def _leave_summary(self, s: Session, choice: Choice, turn: Turn, ctx: Context) -> None:
        if choice.value == CHANGE:
            s.step = EDIT
            self.reprompt(s, turn, ctx)
            return
        s.leave_flow()
        turn.say(Reply(N_("cancel.done"), navigation=True))
