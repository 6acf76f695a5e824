"""A chat with the engine alone, for conversations written as data.

The session goes through JSON before every message, as it does through the store, and a small
in-memory store applies the engine's effects, so a script can check both what the user saw and
what would be stored.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.context import Context
from bot.engine import Engine
from bot.messages import Inbound, RegisterWorker, Rendered, Reply, WorkerInfo
from bot.render import Renderer
from bot.rules import Rules
from bot.session import Session

START = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


@dataclass
class Memory:
    """The engine's ``Lookup`` over the workers stored so far."""

    workers: list[tuple[str, RegisterWorker]] = field(default_factory=list)

    async def worker_by_nik(self, nik: str) -> WorkerInfo | None:
        for _, w in self.workers:
            if w.nik == nik:
                return self._info(w)
        return None

    async def workers_of_chat(self, chat_key: str) -> list[WorkerInfo]:
        return [self._info(w) for key, w in self.workers if key == chat_key]

    @staticmethod
    def _info(w: RegisterWorker) -> WorkerInfo:
        return WorkerInfo(w.reference, w.nik, w.full_name, "waiting_verification",
                          START.date())


class Chat:
    def __init__(self, catalogs, memory: Memory | None = None, chat_id: str = "7001",
                 rules: Rules | None = None):
        self.engine = Engine(catalogs, rules)
        self.renderer = Renderer(catalogs)
        self.memory = memory or Memory()
        self.chat_id = chat_id
        self.state: dict | None = None
        self.now = START
        self.count = 0
        self.replies: list[Reply] = []
        self.history: list[Reply] = []

    @property
    def session(self) -> Session:
        return Session.from_json(self.state)

    async def send(self, text: str = "", kind: str = "text", contact: str | None = None
                   ) -> list[Reply]:
        self.count += 1
        inbound = Inbound("telegram", self.chat_id, str(self.count), kind, text, contact)
        session = Session.from_json(json.loads(json.dumps(self.state))) if self.state else None
        references = iter(f"LD-TEST-{n:04d}" for n in range(self.count, self.count + 10))
        ctx = Context(now=self.now, today=self.now.date(), lookup=self.memory,
                      new_reference=lambda: next(references))
        outcome = await self.engine.handle(session, inbound, ctx)
        for effect in outcome.effects:
            self.memory.workers.append((inbound.chat_key, effect))
        self.state = json.loads(json.dumps(outcome.session.to_json()))
        self.replies = outcome.replies
        self.history.extend(outcome.replies)
        assert outcome.replies, f"no reply to {text!r}"
        return outcome.replies

    def rendered(self) -> list[Rendered]:
        return [self.renderer.render(r, self.session.locale) for r in self.replies]

    def text(self) -> str:
        return "\n\n".join(r.as_numbered_text() for r in self.rendered())

    def wait(self, **delta) -> None:
        self.now += timedelta(**delta)
