"""Proving that a chat may act for a registration (or a claim) it is not linked to.

A NIK is no secret: it is printed on the KTP, the family card and many forms, and its digits
7–12 are the birth date, so "NIK and date of birth" is one factor, not two. A chat that does not
hold a registration learns nothing of it, and can do nothing for it, until it types the one-time
code sent to the chats that do hold it (and, on WhatsApp, to the number registered with it), or
a staff member has checked the person's KTP at the office. The chats holding it are told of
every request (that is the code's message) and of every new link, which they can undo.

Pure: the store keeps each request with a keyed hash of its code, and checks codes against it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.channels import name_of
from bot.context import Context, Turn
from bot.i18n import N_, When
from bot.limits import CHAT_FAILURES, CHAT_NIKS, NIK_CODES, NIK_FAILURES
from bot.messages import Notify, Reply, RequestProof, TryProof, WorkerInfo
from bot.quiet_hours import WIB
from bot.session import Session
from bot.validators import Err

if TYPE_CHECKING:
    from bot.questions import Question

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
CODE_TRIES = 3
STAFF_TTL = timedelta(days=14)
"""How long a request waits for the person to show their KTP at the office."""
UNDO_WINDOW = timedelta(days=7)
"""How long a holder of the registration may undo a new link with one reply."""

LINK, LOOKUP, CLAIM_STATUS, PHONE = "link", "lookup", "claim_status", "phone"
PURPOSES = (LINK, LOOKUP, CLAIM_STATUS, PHONE)
CODE, STAFF = "code", "staff"
PENDING = "pending"

PASSED, WRONG, FAILED, LIMITED = "passed", "wrong", "failed", "limited"
"""What a typed code comes to: right; wrong, try again; wrong too often, the request is over;
a limit of the NIK or the chat reached."""


@dataclass(frozen=True)
class ProofInfo:
    """A stored proof request (``models.tables.ProofRequest``), without its code."""

    id: int
    purpose: str
    subject: str
    chat_key: str
    locale: str
    method: str
    state: str
    tries: int
    created_at: datetime
    expires_at: datetime
    reference: str | None = None


def whatsapp_chat(phone: str) -> str | None:
    """The WhatsApp chat of a number stored in E.164 (``+628…`` → ``whatsapp:628…``)."""
    digits = phone.removeprefix("+")
    return f"whatsapp:{digits}" if phone.startswith("+") and digits.isdigit() else None


async def holders(ctx: Context, worker: WorkerInfo) -> list[str]:
    """The chats that hold a registration: the one it was made from, those linked since, and
    the WhatsApp chat of the number registered with it."""
    chats = [chat for chat, _ in await ctx.lookup.chats_of(worker.reference)]
    number = whatsapp_chat(worker.phone)
    if number is not None and number not in chats:
        chats.append(number)
    return chats


async def linked(ctx: Context, chat_key: str, worker: WorkerInfo | None) -> bool:
    """Whether the registration was made from this chat, or this chat was linked to it."""
    return worker is not None and worker.reference in [
        w.reference for w in await ctx.lookup.workers_of_chat(chat_key)]


async def holds(ctx: Context, chat_key: str, worker: WorkerInfo | None) -> bool:
    """Whether this chat may see and act for the registration without a code: linked to it,
    or the WhatsApp chat of the number registered with it (where its codes would go)."""
    return worker is not None and (chat_key == whatsapp_chat(worker.phone)
                                   or await linked(ctx, chat_key, worker))


async def limited(ctx: Context, nik: str, chat_key: str) -> bool:
    """Whether codes may no longer be asked or typed for this NIK, or from this chat, today."""
    return (await NIK_FAILURES.reached(ctx, nik) or await NIK_CODES.reached(ctx, nik)
            or await CHAT_FAILURES.reached(ctx, chat_key))


def limit_reply() -> Reply:
    return Reply(N_("proof.limit"), navigation=True)


async def count_nik(ctx: Context, turn: Turn, s: Session, chat_key: str, *,
                    keep_draft: bool = False) -> bool:
    """Count one NIK this chat entered for a registration (or claim) it does not hold; False,
    with the chat told, once the chat has used its NIKs for the day. The flow is left, except
    with ``keep_draft`` (a registration or a report being filled in): that loses nothing and
    stays at its question for tomorrow."""
    if await CHAT_NIKS.reached(ctx, chat_key):
        if not keep_draft:
            s.leave_flow()
        turn.say(limit_reply())
        return False
    turn.do(CHAT_NIKS.count(chat_key))
    return True


async def send_code(ctx: Context, turn: Turn, *, purpose: str, nik: str, chat_key: str,
                    locale: str, subject: str | None, targets: list[str], notice: str,
                    params: dict, target_locale: str) -> bool:
    """Send a new code for ``subject`` to ``targets`` (``notice``, with ``params``, the code
    and until when it works), for ``chat_key`` to type. Without a subject (nothing is
    registered under that NIK) nothing is sent, and everything else is the same, so the chat
    cannot tell the two apart. False, and the chat told why, when a limit is reached."""
    if await limited(ctx, nik, chat_key):
        turn.say(limit_reply())
        return False
    turn.do(NIK_CODES.count(nik))
    if subject is None:
        return True
    code = ctx.new_code()
    until = ctx.now + CODE_TTL
    turn.do(RequestProof(purpose, subject, chat_key, locale, until, code=code))
    for target in targets:
        if target != chat_key:
            turn.do(Notify(target, target_locale, (Reply(notice, {
                **params, "code": code, "until": When(until.astimezone(WIB))},
                navigation=True),)))
    return True


async def check_code(ctx: Context, turn: Turn, code: str, *, purpose: str, nik: str,
                     chat_key: str, subject: str | None, tries: int) -> str:
    """Whether ``code`` is the one sent for this chat's request (``tries``: the wrong codes it
    typed before): ``PASSED``, ``WRONG``, ``FAILED`` or ``LIMITED``. Every wrong code counts
    against the NIK and the chat."""
    nik_failures = await NIK_FAILURES.used(ctx, nik)
    chat_failures = await CHAT_FAILURES.used(ctx, chat_key)
    if NIK_FAILURES.exceeded_by(nik_failures) or CHAT_FAILURES.exceeded_by(chat_failures):
        return LIMITED
    proof = await ctx.lookup.open_proof(chat_key, purpose, subject, ctx.now) \
        if subject is not None else None
    if proof is not None and await ctx.lookup.code_matches(proof.id, code):
        turn.do(TryProof(proof.id, True))
        return PASSED
    if proof is not None:
        turn.do(TryProof(proof.id, False))
        tries = max(tries, proof.tries)
    turn.do(NIK_FAILURES.count(nik))
    turn.do(CHAT_FAILURES.count(chat_key))
    if NIK_FAILURES.exceeded_by(nik_failures, 2) or CHAT_FAILURES.exceeded_by(chat_failures, 2):
        return LIMITED  # that was the last one allowed today
    return FAILED if tries + 1 >= CODE_TRIES else WRONG


async def typed_code(ctx: Context, turn: Turn, s: Session, code: str, question: "Question", *,
                     purpose: str, nik: str, chat_key: str, subject: str | None,
                     wrong: str, failed: str) -> str:
    """A code the chat typed for its request, the session's ``tries`` counting the wrong
    ones: ``PASSED``; ``WRONG``, the chat told how many tries are left; or, the request over
    (``FAILED`` or ``LIMITED``), the chat told why, for the flow to leave its question."""
    tries = s.data.get("tries", 0)
    outcome = await check_code(ctx, turn, code, purpose=purpose, nik=nik, chat_key=chat_key,
                               subject=subject, tries=tries)
    if outcome == WRONG:
        s.data["tries"] = tries + 1
        turn.say(question.error(Err(wrong, {"left": CODE_TRIES - tries - 1})))
    elif outcome != PASSED:
        turn.say(limit_reply() if outcome == LIMITED else Reply(failed, navigation=True))
    return outcome


def linked_notices(worker: WorkerInfo, chat_key: str, holders: list[str], now: datetime
                   ) -> list[Notify]:
    """What the chats already holding a registration are told when ``chat_key`` is linked to
    it: which channel and when, and that one reply ("BUKAN SAYA") undoes it."""
    notice = Reply(N_("notice.linked"), {
        "reference": worker.reference, "full_name": worker.full_name,
        "channel": name_of(chat_key), "when": When(now.astimezone(WIB))}, navigation=True)
    return [Notify(holder, worker.locale, (notice,)) for holder in holders
            if holder != chat_key]
