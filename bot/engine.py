"""The conversation engine: one inbound message and the stored session in, the new session,
replies and effects out. No I/O: the host loads and saves the session, applies the effects in
the same transaction, and sends the replies.

Commands (/start, /menu, /bantuan, /batal, /bahasa, status, kartu) work at every step; anything
else goes to the step the user is at, which answers every input, valid or not. Staff commands
(``bot.staffdesk``) work only for people in the staff list.
"""

import copy
from dataclasses import dataclass, replace
from datetime import date, datetime

from bot import enrolment, proof
from bot.areas import parse_area
from bot.choices import COMMAND_CHOICES, LOOKUP, REGISTER, STATUS, match
from bot.context import Context, Turn
from bot.flows import Flow
from bot.flows.broadcast import BroadcastComposer
from bot.flows.claim import ClaimReport
from bot.flows.claim_status import ClaimStatus
from bot.flows.lookup import StatusLookup
from bot.flows.my_data import MyData
from bot.flows.phone import PhoneChange
from bot.flows.registration import LANGUAGE_CHOICES, Registration
from bot.i18n import LOCALES, N_, NP_, Catalogs, Msg, Plural
from bot.limits import CHAT_FILE_BYTES, CHAT_FILES
from bot.messages import Choice, Effect, Inbound, Notify, OptOut, Reply, UnlinkChat
from bot.programmes import Programmes
from bot.questions import Question
from bot.roles import BROADCASTS, may
from bot.rules import Rules
from bot.session import Session
from bot.staffdesk import StaffDesk, staff_command
from bot.status import card_of, status_reply
from bot.text import MAX_INPUT_CHARS, clean, key
from bot.validators import Err

COMMANDS = {
    "start": ("start", "mulai", "halo", "hai", "hi", "hello", "assalamualaikum", "p"),
    "menu": ("menu", "0", "kembali", "back", "home", "menu utama", "main menu"),
    "help": ("bantuan", "help", "tolong", "info"),
    "cancel": ("batal", "cancel", "batalkan"),
    "stop": ("stop", "berhenti", "unsubscribe", "jangan kirim lagi", "stop pesan"),
    "language": ("bahasa", "language", "ganti bahasa", "change language", "bahasa language"),
    "status": ("status", "cek status", "check status", "my status"),
    "card": ("kartu", "card", "kartu saya", "my card", "kartu peserta", "lihat kartu"),
    "not_me": ("bukan saya", "bukan aku", "not me", "it was not me", "it wasn't me"),
    "thanks": ("terima kasih", "terimakasih", "makasih", "trims", "tq", "thanks", "thank you",
               "thx", "matur nuwun", "hatur nuhun", "terima kasih banyak", "makasih banyak"),
}
"""Commands that work at every step; the words that start each flow are the flow's own."""

MENU_ENTRIES = {
    2: Choice("status", N_("menu.status"), aliases=("status", "cek")),
    3: Choice("language", N_("menu.language"), aliases=("bahasa", "language")),
    4: Choice("help", N_("menu.help"), aliases=("bantuan", "help")),
    5: Choice("card", N_("menu.card"), aliases=("kartu", "card")),
}
"""The engine's own entries of the main menu, by number; the flows place theirs
(``Flow.menu``). Numbered the same whatever waits: a draft's "continue" comes after them."""
STATUS_LIMIT = 5

LANGUAGE_QUESTION = Question("language", N_("language.prompt"), N_("language.expect"),
                             N_("language.help"), choices=LANGUAGE_CHOICES)


@dataclass
class Outcome:
    session: Session
    replies: list[Reply]
    effects: list[Effect]


def one_way_back(replies: list[Reply]) -> list[Reply]:
    """The way back to the menu offered once, under the last reply of a turn ("0. Menu" under
    each of three status messages reads as three menus)."""
    if not any(r.navigation for r in replies[:-1]):
        return replies
    return [replace(r, navigation=False) for r in replies[:-1]] + \
        [replace(replies[-1], navigation=True)]


class Engine:
    def __init__(self, catalogs: Catalogs, rules: Rules | None = None,
                 programmes: Programmes | None = None, card_key: bytes = b""):
        self.catalogs = catalogs
        self.rules = rules or Rules()
        self.programmes = programmes
        self.card_key = card_key
        flows: tuple[Flow, ...] = (
            Registration(self.rules, self.labels, programmes),
            StatusLookup(self.labels, programmes, self.rules),
            ClaimReport(self.labels, self.rules, programmes),
            ClaimStatus(self.labels), PhoneChange(self.labels, self.rules),
            MyData(self.labels, self.rules),
            BroadcastComposer(self.labels, self.rules, programmes))
        self.flows = {flow.name: flow for flow in flows}
        entries = dict(MENU_ENTRIES)
        for flow in flows:
            if flow.menu is not None:
                number, choice = flow.menu
                if number in entries:
                    raise ValueError(f"menu number {number} taken twice ({flow.name})")
                entries[number] = choice
        self.menu_entries = tuple(entries[n] for n in sorted(entries))
        self.command_by_word = {word: name for name, words in COMMANDS.items()
                                for word in words} | {
            word: flow.name for flow in flows for word in flow.words}
        self.staff = StaffDesk(programmes, self.rules)

    def labels(self, choice: Choice) -> list[str]:
        """A choice's label in every language, for matching what the user typed."""
        return [self.catalogs.text(locale, choice.label, choice.params) for locale in LOCALES]

    def new_session(self) -> Session:
        return Session(locale=self.rules.default_locale)

    async def handle(self, session: Session | None, inbound: Inbound, ctx: Context) -> Outcome:
        s = copy.deepcopy(session) if session else self.new_session()
        turn = Turn()
        if inbound.kind == "result":
            await self.flows[inbound.result["flow"]].resume(s, inbound.result, turn, ctx)
            return self._finish(s, turn, ctx) if turn.replies else Outcome(s, [], [])
        inbound = await self._within_quota(inbound, turn, ctx)
        text = clean(inbound.text) if inbound.kind == "text" else ""
        command = self.command(text) if inbound.kind == "text" else None
        staff = staff_command(text) if inbound.kind == "text" else None
        if staff and (role := await ctx.lookup.staff_role(inbound.channel, inbound.chat_id)):
            if staff == "broadcast" and len(text.split()) == 1:
                await self._compose(s, role, inbound, turn, ctx)
            else:
                area = parse_area(await ctx.lookup.staff_area(inbound.channel,
                                                              inbound.chat_id))
                await self.staff.handle(staff, inbound, turn, ctx, role, area)
            return self._finish(s, turn, ctx)
        if staff:
            command = "menu"  # to anyone else a staff command is an unknown word
        if self.is_idle(s, ctx.now):
            s.expire()
        if command is None and text and s.offers:
            offered = tuple(COMMAND_CHOICES[name] for name in s.offers
                            if name in COMMAND_CHOICES)
            picked = match(text, offered, self.labels)
            command = picked.value if picked else None
        if s.expired:
            s.expired = False
            turn.say(Reply(N_("session.expired")))
            if command is None:
                command = "menu"
        if command:
            await self._command(command, s, turn, ctx, inbound)
        elif s.asking_language:
            self._answer_language(s, inbound, text, turn, ctx)
        elif s.flow:
            await self.flows[s.flow].answer(s, inbound, text, turn, ctx)
        else:
            await self._answer_menu(s, inbound, text, turn, ctx)
        return self._finish(s, turn, ctx)

    @staticmethod
    async def _within_quota(inbound: Inbound, turn: Turn, ctx: Context) -> Inbound:
        """A file stored for this chat counts against its files and bytes of the day; past
        them it reaches the flows refused as "quota" (and, kept by none, is deleted)."""
        media = inbound.media
        if media is None or media.path is None:
            return inbound
        key = inbound.chat_key
        if await CHAT_FILES.reached(ctx, key) or CHAT_FILE_BYTES.exceeded_by(
                await CHAT_FILE_BYTES.used(ctx, key), media.size):
            return replace(inbound, media=replace(media, sha256=None, path=None,
                                                  refused="quota"))
        turn.do(CHAT_FILES.count(key))
        turn.do(CHAT_FILE_BYTES.count(key, media.size))
        return inbound

    async def _compose(self, s: Session, role: str, inbound: Inbound, turn: Turn,
                       ctx: Context) -> None:
        """``/siaran``: an admin starts composing a broadcast."""
        if not may(role, BROADCASTS):
            turn.say(Reply(N_("broadcast.not_allowed"), navigation=True))
            return
        self._pause(s)
        await self.flows[BroadcastComposer.name].start(s, inbound, turn, ctx)

    @staticmethod
    def _finish(s: Session, turn: Turn, ctx: Context) -> Outcome:
        last = turn.replies[-1].choices if turn.replies else ()
        s.offers = [c.value for c in last if c.command] if all(c.command for c in last) else []
        s.updated_at = ctx.now.isoformat()
        return Outcome(s, one_way_back(turn.replies), turn.effects)

    def niks_wanted(self, session: Session | None, inbound: Inbound, today: date) -> set[str]:
        """A hint for the host: the NIKs this message may look up, to fetch them beforehand
        for many messages at once. A look-up it did not foresee still works, only slower."""
        if session is None or not session.flow or session.asking_language:
            return set()
        return self.flows[session.flow].niks_wanted(session, clean(inbound.text), today)

    def command(self, text: str) -> str | None:
        """The command a message is, if it is one: ``/menu``, ``/menu@LindungiBot``, "batal",
        or the name of the flow its words start."""
        if len(text) > MAX_INPUT_CHARS:
            return None
        if text.startswith("/"):
            word = text[1:].split(maxsplit=1)[0].split("@")[0] if len(text) > 1 else ""
            return self.command_by_word.get(word.casefold())
        return self.command_by_word.get(key(text))

    def _pause(self, s: Session) -> None:
        """Leave the flow for the menu, keeping it to continue if it is kept."""
        s.pause(keep=bool(s.flow) and self.flows[s.flow].pausable)

    def is_idle(self, s: Session, now: datetime) -> bool:
        """A conversation with unsaved answers, untouched for longer than the session TTL."""
        idle_since = s.idle_since()
        return bool(s.has_draft() and idle_since and now - idle_since > self.rules.session_ttl)

    def expire_stored(self, state: dict, now: datetime) -> dict | None:
        """For the periodic sweep: the stored state with its idle draft forgotten, or None."""
        s = Session.from_json(state)
        if not self.is_idle(s, now):
            return None
        s.expire()
        return s.to_json()

    async def fill_places(self, ctx: Context) -> list[Effect]:
        """For the periodic sweep: give free places (a raised quota, lapsed or ended cover) to
        the first workers in line."""
        effects: list[Effect] = []
        for programme in self.programmes.programme if self.programmes else ():
            effects += await enrolment.fill_places(programme, ctx.lookup, ctx.today)
        return effects

    # --- commands ---------------------------------------------------------------------------

    async def _command(self, command: str, s: Session, turn: Turn, ctx: Context,
                       inbound: Inbound) -> None:
        if command == "thanks":  # answered kindly; whatever was being asked is asked again
            turn.say(Reply(N_("thanks.reply"), navigation=not s.flow))
            if s.flow:
                self.flows[s.flow].reprompt(s, turn, ctx)
            return
        if command == "help":
            if s.asking_language:
                turn.say(LANGUAGE_QUESTION.explain())
            elif s.flow:
                self.flows[s.flow].help(s, turn, ctx)
            else:
                turn.say(Reply(N_("help.menu"), choices=self.menu_choices(s)))
            return
        s.asking_language = False
        if command == "language":
            s.asking_language = True
            turn.say(LANGUAGE_QUESTION.ask())
        elif command == "cancel":
            had = s.discard()
            turn.say(Reply(N_("cancel.done") if had else N_("cancel.nothing"),
                           choices=self.menu_choices(s)))
        elif command == "stop":
            self._pause(s)
            s.opted_out = True
            turn.do(OptOut(inbound.chat_key, True))
            turn.say(Reply(N_("optout.done"), navigation=True))
        elif command == "status":
            self._pause(s)
            await self._status(s, inbound, turn, ctx)
        elif command == "card":
            self._pause(s)
            await self._card(s, inbound, turn, ctx)
        elif command == "not_me":
            self._pause(s)
            await self._not_me(inbound, turn, ctx)
        elif command in self.flows:
            await self._enter(command, s, inbound, turn, ctx)
        else:
            self._pause(s)
            if command == "start" and s.opted_out:
                s.opted_out = False
                turn.do(OptOut(inbound.chat_key, False))
                turn.say(Reply(N_("optout.undone")))
            turn.say(self.menu(s, welcome=command == "start"))

    async def _enter(self, name: str, s: Session, inbound: Inbound, turn: Turn,
                     ctx: Context) -> None:
        """A flow's words: asked again where the user is in it; where a draft of it waits,
        the menu, to continue it or start anew (its own consent asked again); else begun."""
        flow = self.flows[name]
        if s.flow == name and flow.pausable:
            flow.reprompt(s, turn, ctx)
            return
        self._pause(s)
        if s.paused and s.paused["flow"] == name:
            choices = self.menu_choices(s)
            turn.say(Reply(flow.draft_waiting, {
                "continue": len(choices),
                "new": next(n for n, c in enumerate(choices, 1) if c.value == name)},
                choices=choices))
            return
        await self._begin(name, s, inbound, turn, ctx)

    async def _begin(self, name: str, s: Session, inbound: Inbound, turn: Turn,
                     ctx: Context) -> None:
        """Start a flow afresh; a draft of the same flow is replaced by it."""
        if s.paused and s.paused["flow"] == name:
            s.paused = None
        await self.flows[name].start(s, inbound, turn, ctx)

    # --- menu ---------------------------------------------------------------------------------

    def menu_choices(self, s: Session) -> tuple[Choice, ...]:
        if not s.paused:
            return self.menu_entries
        flow = self.flows[s.paused["flow"]]
        return self.menu_entries + (Choice("continue", flow.continue_label,
                                      aliases=("lanjut", "lanjutkan", "continue")),)

    def menu(self, s: Session, welcome: bool = False) -> Reply:
        return Reply(N_("menu.welcome") if welcome else N_("menu.prompt"),
                     choices=self.menu_choices(s))

    async def _answer_menu(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                           ctx: Context) -> None:
        picked = match(text, self.menu_choices(s), self.labels) if text else None
        if picked is None:
            problem = N_("input.not_text") if inbound.kind != "text" else N_("menu.unknown")
            turn.say(Reply(N_("error.with_expect"),
                           {"problem": Msg(problem), "expect": Msg(N_("menu.expect"))},
                           choices=self.menu_choices(s)))
            return
        await self._choose(picked.value, s, inbound, turn, ctx)

    async def _choose(self, value: str, s: Session, inbound: Inbound, turn: Turn,
                      ctx: Context) -> None:
        if value == "continue" and s.resume():
            self.flows[s.flow].reprompt(s, turn, ctx)
        elif value == "status":
            await self._status(s, inbound, turn, ctx)
        elif value == "card":
            await self._card(s, inbound, turn, ctx)
        elif value in self.flows:
            await self._begin(value, s, inbound, turn, ctx)
        elif value == "language":
            s.asking_language = True
            turn.say(LANGUAGE_QUESTION.ask())
        else:
            turn.say(Reply(N_("help.menu"), choices=self.menu_choices(s)))

    def _answer_language(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                         ctx: Context) -> None:
        result = LANGUAGE_QUESTION.read(inbound, text, ctx.today, self.labels)
        if isinstance(result, Err):
            turn.say(LANGUAGE_QUESTION.error(result))
            return
        s.locale, s.locale_chosen, s.asking_language = result.value.value, True, False
        turn.say(Reply(N_("language.set")))
        if s.flow:
            self.flows[s.flow].reprompt(s, turn, ctx)
        else:
            turn.say(self.menu(s))

    # --- status -------------------------------------------------------------------------------

    async def _status(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        workers = await ctx.lookup.workers_of_chat(inbound.chat_key)
        if not workers:
            choices = self.menu_choices(s) if s.paused else (REGISTER, LOOKUP)
            turn.say(Reply(N_("status.none"), choices=choices, navigation=not s.paused))
            return
        for worker in workers[:STATUS_LIMIT]:
            turn.say(await status_reply(worker, self.programmes, ctx.lookup, ctx.today,
                                        self.rules))
        turn.say(Reply(N_("status.more"), choices=(LOOKUP,), navigation=True))

    async def _not_me(self, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        """"BUKAN SAYA": the chats linked to this chat's registrations after it (within
        ``proof.UNDO_WINDOW``) lose the link, and are told. A chat linked later cannot undo
        the links of those that held the registration before it."""
        removed = 0
        for worker in await ctx.lookup.workers_of_chat(inbound.chat_key):
            chats = await ctx.lookup.chats_of(worker.reference)
            mine = next((since for chat, since in chats if chat == inbound.chat_key), None)
            if mine is None:
                continue
            for chat, since in chats:
                if chat != inbound.chat_key and since > mine and \
                        ctx.now - since <= proof.UNDO_WINDOW and chat != worker.chat_key:
                    turn.do(UnlinkChat(worker.reference, chat, inbound.chat_key))
                    turn.do(Notify(chat, worker.locale, (Reply(
                        N_("notice.unlinked"), {"reference": worker.reference},
                        navigation=True),)))
                    removed += 1
        turn.say(Reply(N_("unlink.done"), {"chats": Plural(NP_("unlink.chats"), removed)},
                       navigation=True) if removed else Reply(N_("unlink.none"),
                                                              navigation=True))

    async def _card(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        """The card of every active worker registered from this chat."""
        cards = [card_of(w, self.programmes, self.card_key)
                 for w in await ctx.lookup.workers_of_chat(inbound.chat_key)
                 if enrolment.effective_status(w, ctx.today) == enrolment.ACTIVE]
        cards = [card for card in cards if card][:STATUS_LIMIT]
        if not cards:
            turn.say(Reply(N_("card.none"), choices=(STATUS,), navigation=True))
        for card in cards:
            turn.say(Reply(N_("card.here"), {"full_name": card.full_name,
                                             "period_end": card.period_end},
                           navigation=True, card=card))
