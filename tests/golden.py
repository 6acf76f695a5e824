"""Conversations as golden files: ``tests/conversations/*.json``, each what people send and,
recorded after every message, what they were answered (message ids, and the text as a chat
without buttons shows it), the effects to store and the session as stored.

A file holds ``about`` (what it shows), ``setup`` and ``steps``. The ``send`` of a step (with
``chat``/``channel`` for a second person, ``kind``, ``contact``, ``photo`` for a stored photo,
``wait`` for time passing before it) is written by hand; its ``expect`` is written by the update
mode (``pytest tests/test_golden.py --update-golden``), to be read in review like any change:
a conversation that changes on purpose is rewritten, any other change fails.
"""

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot import enrolment
from bot.messages import ChangeStatus, Media, Reply
from tests.chat import EXAMPLE_PROGRAMMES, Chat, Memory, town_programme

FOLDER = Path(__file__).resolve().parent / "conversations"


def describe(reply: Reply) -> str:
    """A reply by what it says: its message id, ``error:<problem>`` for a refused answer,
    ``help:<topic>`` for an explanation."""
    if reply.msgid == "error.with_expect":
        return f"error:{reply.params['problem'].msgid}"
    if reply.msgid == "help.with_expect":
        return f"help:{reply.params['help'].msgid}"
    return reply.msgid


def jsonable(value: Any) -> Any:
    """An effect as plain JSON: dataclasses by type and fields (unset ones left out), replies
    by what they say, dates as ISO text."""
    if isinstance(value, Reply):
        return describe(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                  if getattr(value, f.name) is not None}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def photo(n: int) -> Media:
    """A photo as the channel hands it over: stored under its content's hash."""
    sha = f"{n:064x}"
    return Media("image/jpeg", 120_000, sha, f"{sha[:2]}/{sha}.jpg")


def programmes_of(setup: Mapping[str, Any]):
    if "town" in setup:
        return town_programme(**setup["town"])
    return None if setup.get("programmes") == "none" else EXAMPLE_PROGRAMMES


async def play(doc: dict, catalogs) -> list[dict]:
    """Every step's ``expect`` as the code answers now."""
    setup = doc.get("setup", {})
    memory = Memory(dtsen=dict(setup.get("dtsen", {})), staff=dict(setup.get("staff", {})))
    programmes = programmes_of(setup)
    chats: dict[tuple[str, str], Chat] = {}
    now = None
    recorded = []
    for step in doc["steps"]:
        where = (step.get("channel", "telegram"), step.get("chat", "7001"))
        chat = chats.get(where)
        if chat is None:
            chat = chats[where] = Chat(catalogs, memory, chat_id=where[1],
                                       programmes=programmes, channel=where[0])
        chat.now = now or chat.now
        if "activate" in step:  # BPJS Ketenagakerjaan gave the KPJ (import-kpj) meanwhile
            for reference, kpj in step["activate"].items():
                memory.apply(ChangeStatus(reference, enrolment.ENROLLED, enrolment.ACTIVE,
                                          kpj=kpj), "", chat.now)
        if "wait" in step:
            chat.wait(**step["wait"])
        media = photo(step["photo"]) if "photo" in step else None
        await chat.send(step.get("send", ""), step.get("kind", "photo" if media else "text"),
                        step.get("contact"), media)
        now = chat.now
        recorded.append({
            "replies": [describe(r) for r in chat.replies],
            "text": chat.text().split("\n"),
            "effects": jsonable(chat.last_effects),
            "session": chat.state,
        })
    return recorded


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def save(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
