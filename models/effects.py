"""Storing what the engine decided, in the caller's transaction: new workers, status changes
(with the places they take or free, and the staff record), and notices for other chats.

Shared by the message pipeline, the periodic sweep and the command line (the KPJ import), so
a change is stored the same way whoever makes it.
"""

import logging
from datetime import datetime

from bot.consents import CLAIM, DTSEN, GUARDIAN, MESSAGES, REGISTRATION
from bot.messages import (
    AddDocuments,
    CancelBroadcast,
    ChangeClaim,
    ChangePhone,
    ChangeStatus,
    Count,
    DecideProof,
    Effect,
    FileClaim,
    LinkChat,
    Notify,
    OptOut,
    Rendered,
    RequestProof,
    TryProof,
    UnlinkChat,
)
from bot.render import Renderer
from bot.rights import CorrectWorker, DecideRight, EraseWorker, RequestRight, RevealNik
from bot.validators import mask_nik
from models.broadcasts import cancel_broadcast
from models.store import Tx

log = logging.getLogger("lindungi.effects")

Delivery = tuple[str, tuple[str, ...], str, list[Rendered]]
"""(channel, delivery mark, chat key, messages): what to send once the transaction commits."""


async def apply_effects(tx: Tx, renderer: Renderer, effects: list[Effect], now: datetime,
                        channel: str | None = None, chat_key: str | None = None,
                        send_here: bool = True) -> list[Delivery]:
    """Store the effects; returns the notices to send after the commit. ``channel`` and
    ``chat_key`` are the sender's, for the workers a registration stores. Without
    ``send_here`` (a command-line process, which sends nothing) the running bot sends the
    notices, within seconds."""
    deliveries = []
    for effect in effects:
        if isinstance(effect, FileClaim):
            await tx.file_claim(effect, channel, chat_key, now)
            answers = {CLAIM: True} | ({GUARDIAN: True} if effect.guardian_name else {})
            await tx.record_consents(effect.reference, answers, effect.consent_version,
                                     effect.locale, channel or "", chat_key or "",
                                     datetime.fromisoformat(effect.consented_at),
                                     renderer.catalogs)
            log.info("claim filed: %s for NIK %s (%s)", effect.reference,
                     mask_nik(effect.deceased_nik), effect.status)
        elif isinstance(effect, AddDocuments):
            await tx.add_documents(effect, now)
            log.info("claim %s: %d documents added", effect.reference, len(effect.documents))
        elif isinstance(effect, Count):
            await tx.count(effect, now)
        elif isinstance(effect, RequestProof):
            await tx.request_proof(effect, now)
            log.info("%s proof asked for %s (%s)", effect.purpose, effect.subject,
                     "code" if effect.code else effect.reference)
        elif isinstance(effect, TryProof):
            await tx.try_proof(effect, now)
            log.info("proof request %d: %s code", effect.proof_id,
                     "right" if effect.passed else "wrong")
        elif isinstance(effect, DecideProof):
            await tx.decide_proof(effect, now)
        elif isinstance(effect, LinkChat):
            await tx.link_chat(effect, now)
            log.info("worker %s linked to a %s chat", effect.reference,
                     effect.chat_key.split(":")[0])
        elif isinstance(effect, ChangePhone):
            await tx.change_phone(effect, now)
            log.info("worker %s: phone changed from a %s chat", effect.reference,
                     effect.actor.split(":")[0])
        elif isinstance(effect, UnlinkChat):
            await tx.unlink_chat(effect, now)
            log.info("worker %s: a %s chat unlinked", effect.reference,
                     effect.chat_key.split(":")[0])
        elif isinstance(effect, OptOut):
            await tx.opt_out(effect, now)
            log.info("chat %s %s", effect.chat_key.split(":")[0],
                     "opted out" if effect.opted_out else "opted back in")
        elif isinstance(effect, ChangeClaim):
            await tx.change_claim(effect, now)
            log.info("claim %s: %s -> %s", effect.reference, effect.old, effect.new)
        elif isinstance(effect, CancelBroadcast):
            stopped = await cancel_broadcast(tx, effect.broadcast_id, effect.actor, now)
            log.info("broadcast %d cancelled: %d not sent", effect.broadcast_id, stopped)
        elif isinstance(effect, RequestRight):
            await tx.request_right(effect, effect.chat_key.split(":", 1)[0], now)
            log.info("data request %s (%s, %s) for %s", effect.number, effect.kind,
                     effect.state, effect.reference)
        elif isinstance(effect, CorrectWorker):
            await tx.correct_worker(effect, now)
            log.info("worker %s corrected: %s", effect.reference, ", ".join(sorted(
                effect.changes)))
        elif isinstance(effect, DecideRight):
            await tx.decide_right(effect, now)
            log.info("data request %s %s", effect.number,
                     "approved" if effect.approved else "refused")
        elif isinstance(effect, RevealNik):
            await tx.reveal(effect, now)
            log.info("a full NIK shown to %s (%s)", effect.actor.split(":")[0],
                     ", ".join(effect.subjects))
        elif isinstance(effect, EraseWorker):
            if await tx.erase_worker(effect, now):
                log.info("worker %s erased (request %s)", effect.reference, effect.number)
        elif isinstance(effect, ChangeStatus):
            info = await tx.change_status(effect, now)
            log.info("worker %s: %s -> %s", info.reference, effect.old, effect.new)
        elif isinstance(effect, Notify):
            if not effect.chat_key:  # a member imported without a phone: no chat yet
                log.info("notice to a registration without a chat not sent (%s)",
                         effect.replies[0].msgid)
                continue
            if await tx.opted_out(effect.chat_key):
                log.info("notice to a chat that opted out not sent (%s)",
                         effect.replies[0].msgid)
                continue
            to_channel = effect.chat_key.split(":", 1)[0]
            messages = [renderer.render(r, effect.locale) for r in effect.replies]
            notice = tx.queue_notice(to_channel, effect.chat_key, messages, now, send_here)
            if send_here:
                deliveries.append((to_channel, ("outbox", notice), effect.chat_key, messages))
        else:
            await tx.register_worker(effect, channel, chat_key, now)
            await tx.record_consents(
                effect.reference, {REGISTRATION: True, DTSEN: effect.dtsen_consent,
                                   MESSAGES: effect.messages_consent},
                effect.consent_version, effect.locale, channel or "", chat_key or "",
                datetime.fromisoformat(effect.consented_at), renderer.catalogs)
            log.info("worker registered: %s NIK %s (%s)", effect.reference,
                     mask_nik(effect.nik), effect.status)
    return deliveries
