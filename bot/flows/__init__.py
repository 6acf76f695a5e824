"""The conversations Lindungi holds. Each is a ``Flow``: the engine reads what a flow says about
itself (its name, the words that start it, whether it is kept when the user goes to the menu)
and knows no flow by name."""

from collections.abc import Mapping
from datetime import date
from typing import Any, Protocol

from bot.context import Context, Turn
from bot.messages import Choice, Inbound
from bot.session import Session


class Flow(Protocol):
    name: str
    """Stored in the session while the flow runs."""
    words: tuple[str, ...]
    """What users type to start it ("klaim", "status klaim"); empty for a staff flow."""
    pausable: bool
    """Kept when the user goes to the menu, to continue later (a registration, a death
    report); a half-asked look-up is simply asked again."""
    continue_label: str | None
    """The menu option that continues it, when ``pausable``."""
    menu: "tuple[int, Choice] | None"
    """Its entry in the main menu and the number it always has there (the option's value is
    the flow's name); None: started by its words only."""
    draft_waiting: str | None
    """Said when the words that start it come while a draft of it waits: continue it, or
    start a new one (another person, another death), each asked its own consent."""

    async def start(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None: ...

    async def answer(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                     ctx: Context) -> None: ...

    def reprompt(self, s: Session, turn: Turn, ctx: Context) -> None:
        """Ask the current step again (after help, thanks, a change of language, resume)."""

    def help(self, s: Session, turn: Turn, ctx: Context) -> None: ...

    async def resume(self, s: Session, result: Mapping[str, Any], turn: Turn,
                     ctx: Context) -> None:
        """The result of long work the flow asked for (``bot.messages.Later``); only flows
        that ask for some are sent one."""

    def niks_wanted(self, s: Session, text: str, today: date) -> set[str]:
        """The NIKs answering ``text`` may look up, for the host to fetch beforehand."""
