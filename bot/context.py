"""What a step may ask of the world: the time, read-only look-ups, fresh references.

The engine stays free of I/O: the host passes these in, bound to the transaction the step runs in.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from bot.messages import Effect, Reply, WorkerInfo


class Lookup(Protocol):
    async def worker_by_nik(self, nik: str) -> WorkerInfo | None: ...

    async def workers_of_chat(self, chat_key: str) -> list[WorkerInfo]: ...


@dataclass(frozen=True)
class Context:
    now: datetime
    today: date
    lookup: Lookup
    new_reference: Callable[[], str]


@dataclass
class Turn:
    """What one step produced: replies to send and effects to store, in order."""

    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    def say(self, reply: Reply) -> None:
        self.replies.append(reply)

    def do(self, effect: Effect) -> None:
        self.effects.append(effect)
