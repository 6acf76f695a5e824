"""Staff commands in the chat: review the registrations waiting for a verifier, approve them
(which takes a programme place, or a place in line) or reject them with a reason, each checked
against the DTSEN extract as it is now. The worker is told in their own language; every
decision is recorded with who made it. Also the requests to link a chat that staff check at the
office (a lost phone: ``/tautan``), where a broadcast stands (``/siaran ID``) and stopping it
(``/batalsiaran ID``, admins); composing one is a flow of its own (``bot.flows.broadcast``).

Only people in the staff list reach this; to anyone else these commands are unknown words.
The decisions themselves are use cases (``bot.decisions``), the same for a web console.
"""

from bot import rights
from bot.areas import Area
from bot.broadcasting import progress_reply
from bot.channels import name_of
from bot.claimdesk import ClaimDesk, claim_command
from bot.context import Context, Turn
from bot.decisions import (
    approve_many,
    approve_registration,
    change_phone,
    decide_link,
    decide_right,
    matched_waiting,
    programme_of,
    reject_registration,
    reveal_nik,
    take,
)
from bot.i18n import N_, Lines, Msg, When
from bot.messages import (
    CancelBroadcast,
    Inbound,
    Reply,
    WorkerInfo,
)
from bot.programmes import Programmes
from bot.quiet_hours import WIB
from bot.rights import RevealNik
from bot.roles import BROADCASTS, CLAIMS_WORK, REGISTRATIONS, RIGHTS, may
from bot.rules import Rules
from bot.text import clean
from bot.validators import mask_nik

COMMANDS = {
    "tinjau": "review", "review": "review", "antrean": "review",
    "setujui": "approve", "setuju": "approve", "approve": "approve",
    "setujuisemua": "approve_all", "approveall": "approve_all",
    "tolak": "reject", "reject": "reject",
    "petugas": "help", "staff": "help",
    "tautan": "links", "links": "links",
    "setujuitautan": "link_approve", "approvelink": "link_approve",
    "tolaktautan": "link_refuse", "refuselink": "link_refuse",
    "gantinomor": "phone", "changephone": "phone",
    "siaran": "broadcast", "broadcast": "broadcast",
    "batalsiaran": "broadcast_cancel", "cancelbroadcast": "broadcast_cancel",
    "hak": "rights", "rights": "rights", "datapribadi": "rights",
    "setujuihak": "right_approve", "approveright": "right_approve",
    "tolakhak": "right_refuse", "refuseright": "right_refuse",
    "lihatnik": "reveal", "shownik": "reveal",
}
REVIEW_LIMIT = 10
NEEDS = {
    "review": REGISTRATIONS, "approve": REGISTRATIONS, "approve_all": REGISTRATIONS,
    "reject": REGISTRATIONS, "links": REGISTRATIONS, "link_approve": REGISTRATIONS,
    "link_refuse": REGISTRATIONS, "phone": REGISTRATIONS, "reveal": REGISTRATIONS,
    "rights": RIGHTS, "right_approve": RIGHTS, "right_refuse": RIGHTS,
}
"""What each command needs (``bot.roles``); claim commands need the claims' work, and
``/siaran ID`` and the help any role."""


def staff_command(text: str) -> str | None:
    """The staff command a message starts with (``/setujui LD-…``), if any."""
    if not text.startswith("/"):
        return None
    word = text[1:].split(maxsplit=1)[0].split("@")[0].casefold() if len(text) > 1 else ""
    claim = claim_command(word)
    return f"claim.{claim}" if claim else COMMANDS.get(word)


class StaffDesk:
    def __init__(self, programmes: Programmes | None, rules: Rules):
        self.programmes = programmes
        self.rules = rules
        self.claims = ClaimDesk()

    async def handle(self, command: str, inbound: Inbound, turn: Turn, ctx: Context,
                     role: str, area: Area | None = None) -> None:
        """``area``: a verifier's, whose registrations alone they see and decide."""
        words = clean(inbound.text).split(maxsplit=2)[1:]
        actor = inbound.chat_key
        needed = CLAIMS_WORK if command.startswith("claim.") else NEEDS.get(command)
        if needed is not None and not may(role, needed):
            turn.say(Reply(N_("staff.not_allowed"), navigation=True))
        elif command.startswith("claim."):
            await self.claims.handle(command.removeprefix("claim."), inbound.text, actor, turn,
                                     ctx)
        elif command == "review":
            await self._review(turn, ctx, area)
        elif command == "approve" and len(words) >= 1:
            take(turn, await approve_registration(words[0].upper(), actor, ctx,
                                                  self.programmes, area))
        elif command == "approve_all":
            await self._approve_all(inbound.text, actor, area, turn, ctx)
        elif command == "reject" and len(words) == 2:
            take(turn, await reject_registration(words[0].upper(), words[1], actor, ctx,
                                                 self.programmes, area))
        elif command == "reject":
            turn.say(Reply(N_("staff.reject_usage"), navigation=True))
        elif command == "links":
            await self._links(turn, ctx)
        elif command == "link_approve" and words:
            take(turn, await decide_link(words[0].upper(), None, actor, ctx))
        elif command == "link_refuse" and len(words) == 2:
            take(turn, await decide_link(words[0].upper(), words[1], actor, ctx))
        elif command == "phone" and len(words) == 2:
            take(turn, await change_phone(words[0].upper(), words[1], actor, ctx))
        elif command == "phone":
            turn.say(Reply(N_("staff.phone.usage"), navigation=True))
        elif command in ("link_approve", "link_refuse"):
            turn.say(Reply(N_("staff.links.usage"), navigation=True))
        elif command == "reveal" and words:
            take(turn, await reveal_nik(words[0].upper(), words[1] if len(words) == 2
                                        else None, actor, ctx))
        elif command == "reveal":
            turn.say(Reply(N_("staff.nik.usage"), navigation=True))
        elif command == "rights":
            await self._rights(actor, turn, ctx)
        elif command == "right_approve" and words:
            take(turn, await decide_right(words[0].upper(), None, actor, ctx))
        elif command == "right_refuse" and len(words) == 2:
            take(turn, await decide_right(words[0].upper(), words[1], actor, ctx))
        elif command in ("right_approve", "right_refuse"):
            turn.say(Reply(N_("staff.rights.usage"), navigation=True))
        elif command in ("broadcast", "broadcast_cancel"):
            await self._broadcast(command, words, actor, role, turn, ctx)
        else:
            turn.say(Reply(N_("staff.help"), navigation=True))

    async def _review(self, turn: Turn, ctx: Context, area: Area | None) -> None:
        waiting, total = await ctx.lookup.awaiting_review(REVIEW_LIMIT, area)
        if not waiting:
            turn.say(Reply(N_("staff.review_empty"), navigation=True))
            return
        items = tuple([self._item(n, w, await ctx.lookup.dtsen_desil(w.nik)
                                  if w.dtsen_ok else None)
                       for n, w in enumerate(waiting, 1)])
        turn.say(Reply(N_("staff.review"), {"count": total, "shown": len(items),
                                            "items": Lines(items)}, navigation=True))

    async def _approve_all(self, text: str, actor: str, area: Area | None, turn: Turn,
                           ctx: Context) -> None:
        """``/setujuisemua [kelurahan or kecamatan]``: a preview of who DTSEN admits (how
        many, the first of them); the same with ``YA`` at the end approves them."""
        rest = clean(text).split(maxsplit=1)[1:]
        words = rest[0].split() if rest else []
        confirmed = bool(words) and words[-1].casefold() in ("ya", "yes")
        where = " ".join(words[:-1] if confirmed else words)
        found = await matched_waiting(ctx, self.programmes, area, where)
        scope = where or (area.name if area else "")
        params = {"count": len(found), "where": Msg(N_("staff.bulk.in"), {"where": scope})
                  if scope else "", "command": f"/setujuisemua {where} YA".replace("  ", " ")}
        if not found:
            turn.say(Reply(N_("staff.bulk.none"), params, navigation=True))
        elif not confirmed:
            items = tuple(Msg(N_("staff.bulk.item"), {
                "reference": w.reference, "full_name": w.full_name, "kelurahan": w.kelurahan,
                "kecamatan": w.kecamatan}) for w in found[:REVIEW_LIMIT])
            turn.say(Reply(N_("staff.bulk.preview"), params | {
                "items": Lines(items), "shown": len(items)}, navigation=True))
        else:
            decisions = await approve_many(found, actor, ctx, self.programmes, area)
            for decision in decisions:
                if decision.done:
                    for effect in decision.effects:
                        turn.do(effect)
            enrolled = sum(d.done and d.result.msgid == "staff.approved" for d in decisions)
            done = sum(d.done for d in decisions)
            turn.say(Reply(N_("staff.bulk.done"), params | {
                "approved": done, "enrolled": enrolled, "waiting": done - enrolled},
                navigation=True))

    def _item(self, number: int, worker: WorkerInfo, desil: int | None) -> Msg:
        """One registration to review, with the DTSEN extract as it is now (refreshed every
        quarter), not as it was at registration."""
        programme = self._programme(worker)
        if not worker.dtsen_ok:  # the worker refused the matching: staff check them instead
            dtsen = Msg(N_("staff.dtsen_refused"))
        elif desil is None:
            dtsen = Msg(N_("staff.dtsen_missing"))
        else:
            dtsen = Msg(N_("staff.dtsen_desil"), {
                "desil": desil, "max_desil": programme.dtsen_max_desil if programme else "-"})
        return Msg(N_("staff.review_item"), {
            "n": number, "reference": worker.reference, "full_name": worker.full_name,
            "nik": mask_nik(worker.nik), "region": programme.region.name if programme else "-",
            "dtsen": dtsen, "registered_on": worker.registered_on})

    async def _links(self, turn: Turn, ctx: Context) -> None:
        """The requests to link a chat waiting for a staff member to see the KTP."""
        checks, total = await ctx.lookup.staff_checks(ctx.now, REVIEW_LIMIT)
        if not checks:
            turn.say(Reply(N_("staff.links.empty"), navigation=True))
            return
        items = []
        for n, check in enumerate(checks, 1):
            worker = await ctx.lookup.worker_by_reference(check.subject)
            items.append(Msg(N_("staff.links.item"), {
                "n": n, "reference": check.reference, "worker": check.subject,
                "full_name": worker.full_name if worker else "-",
                "nik": mask_nik(worker.nik) if worker else "-",
                "channel": name_of(check.chat_key), "since": check.created_at.date()}))
        turn.say(Reply(N_("staff.links.list"), {"count": total, "shown": len(items),
                                                "items": Lines(tuple(items))},
                       navigation=True))

    async def _rights(self, actor: str, turn: Turn, ctx: Context) -> None:
        """The requests under the data protection law waiting for staff, overdue first; a
        correction comes with the KTP photo to compare."""
        waiting, total = await ctx.lookup.open_rights(REVIEW_LIMIT)
        if not waiting:
            turn.say(Reply(N_("staff.rights.empty"), navigation=True))
            return
        items = []
        for n, request in enumerate(waiting, 1):
            worker = await ctx.lookup.worker_by_reference(request.reference)
            items.append(Msg(N_("staff.rights.item"), {
                "n": n, "number": request.number, "kind": Msg(rights.KIND_LABELS[request.kind]),
                "reference": request.reference,
                "full_name": worker.full_name if worker else "-",
                "nik": mask_nik(worker.nik) if worker else "-",
                "change": Msg(N_("staff.rights.change"), {
                    "field": Msg(rights.FIELD_LABELS[request.field]), "value": request.value})
                if request.field in rights.FIELD_LABELS and request.value else "",
                "deadline": When(request.deadline.astimezone(WIB)),
                "late": Msg(N_("staff.rights.overdue")) if rights.overdue(request, ctx.now)
                else ""}))
        turn.say(Reply(N_("staff.rights.list"), {"count": total, "shown": len(items),
                                                 "items": Lines(tuple(items))},
                       navigation=True))
        for request in waiting:  # a new NIK shown in full, for the verifier to compare
            if request.field == "nik" and request.value:
                turn.do(RevealNik((request.reference,), actor, request.number))
        for request in waiting:
            if request.document is not None:
                turn.say(Reply(N_("staff.rights.ktp"), {"number": request.number},
                               attachment=request.document))

    async def _broadcast(self, command: str, words: list[str], actor: str, role: str,
                         turn: Turn, ctx: Context) -> None:
        """``/siaran 12``: where broadcast 12 stands; ``/batalsiaran 12``: stop it (admins)."""
        number = int(words[0]) if words and words[0].isdigit() and len(words[0]) < 10 else None
        if number is None:
            turn.say(Reply(N_("staff.broadcast.usage"), navigation=True))
            return
        progress = await ctx.lookup.broadcast_progress(number)
        if progress is None:
            turn.say(Reply(N_("staff.broadcast.not_found"), {"id": str(number)},
                           navigation=True))
        elif command == "broadcast":
            turn.say(progress_reply(progress, ctx.now, self.rules.broadcast_rates,
                                    self.rules.quiet_hours))
        elif not may(role, BROADCASTS):
            turn.say(Reply(N_("broadcast.not_allowed"), navigation=True))
        elif progress.status != "sending":
            turn.say(Reply(N_("staff.broadcast.over"), {"id": str(number)}, navigation=True))
        else:
            turn.do(CancelBroadcast(number, actor))
            turn.say(Reply(N_("staff.broadcast.cancelled"),
                           {"id": str(number), "waiting": progress.pending}, navigation=True))

    def _programme(self, worker: WorkerInfo):
        return programme_of(worker, self.programmes)

