"""A question a flow asks, and reading the user's answer to it."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.choices import match
from bot.i18n import N_, Msg
from bot.messages import Choice, Inbound, Reply
from bot.text import MAX_INPUT_CHARS
from bot.validators import VALIDATORS, Err, Ok, Result, validate_phone


@dataclass(frozen=True)
class Question:
    """``prompt`` asks; ``expect`` says in one line what to send, with an example (shown after
    every error); ``help`` explains more. Either ``validator`` (by name) or ``choices``."""

    name: str
    prompt: str
    expect: str
    help: str
    validator: str | None = None
    choices: tuple[Choice, ...] = ()
    accepts_contact: bool = False

    def ask(self, params: Mapping[str, Any] | None = None) -> Reply:
        return Reply(self.prompt, dict(params or {}), self.choices,
                     ask_contact=self.accepts_contact, navigation=True)

    def error(self, err: Err) -> Reply:
        """What is wrong, then what to send with an example; the same options to answer with."""
        return Reply(N_("error.with_expect"),
                     {"problem": _msg(err.msgid, err.params), "expect": _msg(self.expect)},
                     self.choices, ask_contact=self.accepts_contact, navigation=True)

    def explain(self) -> Reply:
        return Reply(N_("help.with_expect"),
                     {"help": _msg(self.help), "expect": _msg(self.expect)},
                     self.choices, ask_contact=self.accepts_contact, navigation=True)

    def read(self, inbound: Inbound, text: str, today: date,
             labels: Callable[[Choice], Iterable[str]]) -> Result:
        """The answer as a validated value (or the picked ``Choice``), or what is wrong with it."""
        if self.accepts_contact and inbound.kind == "contact":
            return validate_phone(inbound.contact_phone or "")
        if inbound.kind != "text":
            return Err(N_("input.not_text"))
        if len(text) > MAX_INPUT_CHARS:
            return Err(N_("input.too_long"))
        if not text:
            return Err(N_("input.empty"))
        if self.choices:
            picked = match(text, self.choices, labels)
            if picked is not None:
                return Ok(picked)
            if not self.validator:
                return Err(N_("choice.unknown"))
        if self.validator is None:
            return Err(N_("choice.unknown"))
        return VALIDATORS[self.validator](text, today)


def _msg(msgid: str, params: Mapping[str, Any] | None = None) -> Msg:
    return Msg(msgid, dict(params) if params else None)
