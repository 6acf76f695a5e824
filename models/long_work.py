"""Long work a step asks for (``bot.messages.Later``): counting a broadcast's recipients,
storing them. It runs after the step's transaction, in one of its own, so a preview of 100,000
workers never holds up another chat's replies.

Its result goes back to the chat as a message of kind ``result``, journaled in the same
transaction as what the work stores (the counting before it only reads). The message's id
comes from the token: work asked again (its first result lost with a stopped process) finds
the first's result, or fails on it and stores nothing, so a broadcast is never stored twice.
"""

import logging
from datetime import datetime
from typing import Any

from bot.broadcasting import Audience
from bot.messages import Inbound, Later, StartBroadcast
from bot.quiet_hours import WIB
from models.broadcasts import create_broadcast, preview_of, recipients
from models.store import Store, Tx

log = logging.getLogger("lindungi.long_work")


def result_message(channel: str, chat_id: str, later: Later, result: dict[str, Any]
                   ) -> Inbound:
    """The result as the chat's next message (``failed``: the work could not be done)."""
    return Inbound(channel, chat_id, f"later-{later.token}", "result",
                   result={"flow": later.flow, "token": later.token, **result})


async def do_later(store: Store, channel: str, chat_id: str, later: Later, now: datetime
                   ) -> bool:
    """Do the work and journal its result for the chat; False: it was done before (asked
    again, or by another process). The counting reads (no lock: on SQLite a write transaction
    would hold every other writer); only what it stores is written, with the result."""
    work = later.work
    today = now.astimezone(WIB).date()
    message = result_message(channel, chat_id, later, {})
    async with store.reading() as tx:
        if await tx.seen(channel, [message.external_id]):
            return False
        rows = await recipients(tx.conn, Audience(**work.audience), work.reminder, today)
    preview = preview_of(rows)
    result: dict[str, Any] = {"preview": preview.to_json()}
    async with store.transaction() as tx:
        if await tx.seen(channel, [message.external_id]):
            return False
        if isinstance(work, StartBroadcast):
            result |= {"broadcast_id": await _start(tx, work, rows, now) if preview.reachable
                       else None,
                       "scheduled_at": work.scheduled_at.isoformat() if work.scheduled_at
                       else None}
        await tx.receive([result_message(channel, chat_id, later, result)], now)
    return True


async def answer_failed(store: Store, channel: str, chat_id: str, later: Later,
                        now: datetime) -> None:
    """Tell the chat the work could not be done (nothing of it was stored)."""
    message = result_message(channel, chat_id, later, {"failed": True})
    async with store.transaction() as tx:
        if not await tx.seen(channel, [message.external_id]):
            await tx.receive([message], now)


async def _start(tx: Tx, work: StartBroadcast, rows: list[dict], now: datetime) -> int:
    broadcast_id = await create_broadcast(
        tx, Audience(**work.audience), rows=rows, text_id=work.text_id, text_en=work.text_en,
        reminder=work.reminder, actor=work.actor, now=now, today=now.astimezone(WIB).date(),
        scheduled_at=work.scheduled_at, progress_chat=work.actor, progress_locale=work.locale)
    log.info("broadcast %d started from a chat", broadcast_id)
    return broadcast_id
