"""Staff compose a broadcast in the chat: the message (a text, with an English one for those who
chose English, or a ready reminder), who gets it (filters narrowing the audience, the count
shown as they go), then a preview with the count and how long sending takes at the channels'
rates, and a confirmation: now, or at a Jakarta time. BATAL drops it at any step; nothing is
stored until it is confirmed. Only admins broadcast; their role is checked at every step.

Counting the audience and storing the broadcast may take long (100,000 workers): the flow asks
for them (``Later``) and goes on with their result (``resume``), so they never run in the
transaction that handles every chat's messages.
"""

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from bot.broadcasting import (
    MAX_TEXT,
    READY,
    Audience,
    Preview,
    finish_time,
    reminder_reply,
    sending_seconds,
    text_reply,
)
from bot.channels import BROADCAST, NAMES, WHATSAPP
from bot.choices import match
from bot.context import Context, Turn
from bot.i18n import N_, Duration, Lines, Msg, When
from bot.messages import Choice, Inbound, Later, PreviewBroadcast, Reply, StartBroadcast
from bot.occupations import OCCUPATIONS
from bot.programmes import Programmes
from bot.quiet_hours import WIB
from bot.roles import BROADCASTS, may
from bot.rules import Rules
from bot.session import Session

MIN_TEXT = 10
"""Shorter is a slip (a stray number, "ok"), not a message for thousands."""
MAX_AHEAD = timedelta(days=366)

READY_CHOICES = tuple(Choice(r.name, r.label, aliases=aliases) for r, aliases in (
    (READY["coverage_ending"], ("berakhir", "masa berakhir", "coverage ending")),
    (READY["documents_missing"], ("dokumen kurang", "documents missing"))))
SKIP = Choice("skip", N_("broadcast.english.skip"), aliases=("lewati", "skip", "tidak", "no"))
DONE = Choice("done", N_("broadcast.audience.done"),
              aliases=("lanjut", "next", "selesai", "ok", "oke"))
CLEAR = Choice("clear", N_("broadcast.audience.clear"), aliases=("hapus", "reset"))
ANY = Choice("any", N_("broadcast.filter.any"), aliases=("semua", "all"))
FILTERS = (
    Choice("programme", N_("broadcast.filter.programme"), aliases=("program",)),
    Choice("status", N_("broadcast.filter.status")),
    Choice("occupation", N_("broadcast.filter.occupation"), aliases=("pekerjaan", "occupation")),
    Choice("kelurahan", N_("broadcast.filter.kelurahan"), aliases=("kelurahan", "desa")),
    Choice("locale", N_("broadcast.filter.locale"), aliases=("bahasa", "language")),
    Choice("channel", N_("broadcast.filter.channel"), aliases=("kanal", "channel")),
)
FILTER_LABELS = {c.value: c.label for c in FILTERS}
SEND = Choice("send", N_("broadcast.confirm.send"), aliases=("kirim", "send", "ya", "yes"))
SCHEDULE = Choice("schedule", N_("broadcast.confirm.schedule"),
                  aliases=("jadwal", "jadwalkan", "schedule", "nanti", "later"))
CHANGE = Choice("audience", N_("broadcast.confirm.audience"),
                aliases=("penerima", "ubah penerima", "recipients"))
CANCEL = Choice("cancel", N_("broadcast.confirm.cancel"), aliases=("batal", "cancel"))
CONFIRM_CHOICES = (SEND, SCHEDULE, CHANGE, CANCEL)
LANGUAGES = (Choice("id", N_("language.id"), aliases=("indonesia", "indo")),
             Choice("en", N_("language.en"), aliases=("english", "inggris")))
STATUSES = (
    Choice("active", N_("broadcast.status.active"), aliases=("aktif",)),
    Choice("enrolled", N_("broadcast.status.enrolled"), aliases=("terdaftar",)),
    Choice("waiting_list", N_("broadcast.status.waiting_list"), aliases=("antre", "tunggu")),
    Choice("waiting_verification", N_("broadcast.status.waiting_verification")),
    Choice("lapsed", N_("broadcast.status.lapsed")),
    Choice("ended", N_("broadcast.status.ended")),
    Choice("rejected", N_("broadcast.status.rejected")),
    Choice("self_paid", N_("broadcast.status.self_paid")),
    Choice("not_eligible", N_("broadcast.status.not_eligible")),
)
CHANNELS = tuple(Choice(channel, N_("broadcast.value"), {"value": NAMES[channel]},
                        aliases=("wa",) if channel == WHATSAPP else ())
                 for channel in BROADCAST)
TIME = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\s+(\d{1,2})[.:](\d{2})")
ISO_TIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\s+(\d{1,2})[.:](\d{2})")


class BroadcastComposer:
    name = "broadcast"
    words = ()
    """Started by the staff command ``/siaran``, for admins only."""
    pausable = False
    continue_label = draft_waiting = menu = None

    def __init__(self, labels, rules: Rules, programmes: Programmes | None):
        self.labels = labels
        self.rules = rules
        self.programmes = programmes

    async def start(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        s.flow, s.step, s.data = self.name, "message", {"filters": {}}
        turn.say(self._message_prompt())

    def niks_wanted(self, s: Session, text: str, today: date) -> set[str]:
        return set()

    def help(self, s: Session, turn: Turn, ctx: Context) -> None:
        turn.say(Reply(N_("broadcast.help"), navigation=True))

    def reprompt(self, s: Session, turn: Turn, ctx: Context) -> None:
        """Asked again where staff were (after a change of language); the audience and the
        preview, which need counting, are offered again from the audience step."""
        if s.data.get("waiting"):
            turn.say(Reply(N_("broadcast.wait"), navigation=True))
        elif s.step == "message":
            turn.say(self._message_prompt())
        elif s.step == "english":
            turn.say(Reply(N_("broadcast.english.prompt"), choices=(SKIP,), navigation=True))
        elif s.step == "filter":
            turn.say(self._filter_prompt(s.data.get("filter") or "kelurahan"))
        elif s.step == "schedule":
            turn.say(Reply(N_("broadcast.schedule.prompt"), navigation=True))
        else:
            s.step = "audience"
            turn.say(Reply(N_("broadcast.audience.again"), {"filters": self._filters_text(s)},
                           self._audience_choices(s), navigation=True))

    async def answer(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                     ctx: Context) -> None:
        if not may(await ctx.lookup.staff_role(inbound.channel, inbound.chat_id), BROADCASTS):
            s.leave_flow()
            turn.say(Reply(N_("broadcast.not_allowed"), navigation=True))
            return
        if s.data.get("waiting"):  # whatever they send: the count comes first
            turn.say(Reply(N_("broadcast.wait"), navigation=True))
            turn.do(self._work(s, s.data["waiting"], inbound.chat_key))
            return
        if inbound.kind != "text":
            turn.say(self._error(N_("input.not_text"), N_("broadcast.expect.text")))
            return
        step = s.step or "message"
        if step == "message":
            self._read_message(s, inbound, text, turn)
        elif step == "english":
            self._read_english(s, inbound, text, turn)
        elif step == "audience":
            self._read_audience(s, text, turn)
        elif step == "filter":
            self._read_filter(s, text, turn)
        elif step == "schedule":
            self._read_time(s, text, turn, ctx)
        else:
            await self._read_confirm(s, inbound, text, turn, ctx)
            return
        if s.flow == self.name and s.step in ("audience", "confirm") and not turn.replies:
            self._ask(s, turn, ctx)

    # --- the message ------------------------------------------------------------------------

    def _message_prompt(self) -> Reply:
        return Reply(N_("broadcast.message.prompt"), {"max": MAX_TEXT}, READY_CHOICES,
                     navigation=True)

    def _read_message(self, s: Session, inbound: Inbound, text: str, turn: Turn) -> None:
        picked = match(text, READY_CHOICES, self.labels, whole=True)
        if picked is not None:
            s.data.update(reminder=picked.value, text_id=None, text_en=None)
            s.step = "audience"
            return
        message = self._text(inbound, turn, N_("broadcast.expect.message"))
        if message is not None:
            s.data.update(reminder=None, text_id=message)
            s.step = "english"
            turn.say(Reply(N_("broadcast.english.prompt"), choices=(SKIP,), navigation=True))

    def _read_english(self, s: Session, inbound: Inbound, text: str, turn: Turn) -> None:
        if match(text, (SKIP,), self.labels, whole=True):
            s.data["text_en"] = None
        else:
            message = self._text(inbound, turn, N_("broadcast.expect.english"), (SKIP,))
            if message is None:
                return
            s.data["text_en"] = message
        s.step = "audience"

    def _text(self, inbound: Inbound, turn: Turn, expect: str,
              choices: tuple[Choice, ...] = READY_CHOICES) -> str | None:
        message = tidy(inbound.text)
        if len(message) < MIN_TEXT:
            turn.say(self._error(N_("broadcast.message.too_short"), expect, choices,
                                 {"min": MIN_TEXT}))
            return None
        if len(message) > MAX_TEXT:
            turn.say(self._error(N_("broadcast.message.too_long"), expect, choices,
                                 {"max": MAX_TEXT, "length": len(message)}))
            return None
        return message

    # --- the audience -----------------------------------------------------------------------

    def _audience(self, s: Session) -> Audience:
        return Audience(**s.data["filters"])

    def _filter_choices(self, s: Session) -> tuple[Choice, ...]:
        reminder = s.data.get("reminder")
        allowed = READY[reminder].filters if reminder else FILTER_LABELS
        return tuple(c for c in FILTERS if c.value in allowed)

    def _ask(self, s: Session, turn: Turn, ctx: Context) -> None:
        """The audience's count and the preview need counting, which may take long: asked for
        after this step, in its own transaction (``Later``), and shown when the count comes
        back (``resume``)."""
        s.data["waiting"] = ctx.new_token()
        turn.do(self._work(s, s.data["waiting"], ""))

    def _work(self, s: Session, token: str, actor: str) -> Later:
        """What the staff member waits for: the count (audience, preview), or the broadcast
        stored once confirmed (step ``starting``)."""
        if s.step != "starting":
            return Later(self.name, token, PreviewBroadcast(dict(s.data["filters"]),
                                                            s.data.get("reminder")))
        return Later(self.name, token, StartBroadcast(
            dict(s.data["filters"]), s.data.get("text_id"), s.data.get("text_en"),
            s.data.get("reminder"), actor, s.locale, self._at(s)))

    async def resume(self, s: Session, result: Mapping[str, Any], turn: Turn,
                     ctx: Context) -> None:
        """The long work's result. A stale one (staff moved on, or it was asked for again)
        changes nothing; a broadcast it started is told of all the same."""
        mine = s.flow == self.name and s.data.get("waiting") == result["token"]
        started = result.get("broadcast_id")
        if not mine:
            if started:
                turn.say(self._started(result))
            return
        del s.data["waiting"]
        if result.get("failed"):
            s.step = "audience"
            turn.say(Reply(N_("broadcast.later_failed"), choices=self._audience_choices(s),
                           navigation=True))
            return
        preview = Preview.from_json(result["preview"])
        if s.step != "starting":
            turn.say(self._audience_prompt(s, preview) if s.step == "audience"
                     else self._preview(s, preview, ctx))
        elif started:
            s.leave_flow()
            turn.say(self._started(result))
        else:
            s.step = "audience"
            turn.say(Reply(N_("broadcast.audience.nobody"), navigation=True))
            turn.say(self._audience_prompt(s, preview))

    @staticmethod
    def _started(result: Mapping[str, Any]) -> Reply:
        count = Preview.from_json(result["preview"]).reachable
        if not result.get("scheduled_at"):
            return Reply(N_("broadcast.started"), {"count": count}, navigation=True)
        at = datetime.fromisoformat(result["scheduled_at"])
        return Reply(N_("broadcast.scheduled"), {"count": count, "when": When(at.astimezone(WIB))},
                     navigation=True)

    def _audience_choices(self, s: Session) -> tuple[Choice, ...]:
        return (DONE, *self._filter_choices(s)) + ((CLEAR,) if s.data["filters"] else ())

    def _audience_prompt(self, s: Session, preview: Preview) -> Reply:
        return Reply(N_("broadcast.audience.prompt"), {
            "who": Msg(N_("broadcast.who.heirs") if self._to_heirs(s)
                       else N_("broadcast.who.workers")),
            "filters": self._filters_text(s), "count": preview.reachable},
            self._audience_choices(s), navigation=True)

    def _to_heirs(self, s: Session) -> bool:
        reminder = s.data.get("reminder")
        return bool(reminder) and READY[reminder].to == "heirs"

    def _filters_text(self, s: Session) -> Msg | Lines:
        filters = s.data["filters"]
        if not filters:
            return Msg(N_("broadcast.filters.none"))
        return Lines(tuple(Msg(N_("broadcast.filters.item"), {
            "filter": Msg(FILTER_LABELS[name]), "value": self._value_label(name, value)})
            for name, value in filters.items()))

    def _value_label(self, name: str, value: str) -> Msg | str:
        for choice in self._values(name):
            if choice.value == value:
                return Msg(choice.label, choice.params)
        return value

    def _read_audience(self, s: Session, text: str, turn: Turn) -> None:
        choices = self._audience_choices(s)
        picked = match(text, choices, self.labels, whole=True)
        if picked is None:
            turn.say(self._error(N_("choice.unknown"), N_("broadcast.expect.audience"),
                                 choices))
        elif picked.value == "clear":
            s.data["filters"] = {}
        elif picked.value == "done":
            s.step = "confirm"
        else:
            s.step, s.data["filter"] = "filter", picked.value
            turn.say(self._filter_prompt(picked.value))

    def _values(self, name: str) -> tuple[Choice, ...]:
        if name == "programme":
            return tuple(Choice(p.id, N_("broadcast.value"), {"value": p.name}, aliases=(p.id,))
                         for p in (self.programmes.programme if self.programmes else ()))
        if name == "status":
            return STATUSES
        if name == "occupation":
            return OCCUPATIONS
        if name == "locale":
            return LANGUAGES
        if name == "channel":
            return CHANNELS
        return ()

    def _filter_prompt(self, name: str) -> Reply:
        if name == "kelurahan":
            return Reply(N_("broadcast.filter.kelurahan_prompt"), choices=(ANY,),
                         navigation=True)
        return Reply(N_("broadcast.filter.prompt"), {"filter": Msg(FILTER_LABELS[name])},
                     (ANY, *self._values(name)), navigation=True)

    def _read_filter(self, s: Session, text: str, turn: Turn) -> None:
        name = s.data.get("filter") or "kelurahan"
        if name == "kelurahan" and match(text, (ANY,), self.labels, whole=True):
            s.data["filters"].pop(name, None)
        elif name == "kelurahan":
            if not 2 <= len(text) <= 60 or not any(ch.isalpha() for ch in text):
                turn.say(self._error(N_("broadcast.filter.kelurahan_invalid"),
                                     N_("broadcast.expect.kelurahan"), (ANY,)))
                return
            s.data["filters"][name] = text
        else:
            choices = (ANY, *self._values(name))
            picked = match(text, choices, self.labels, whole=True)
            if picked is None:
                turn.say(self._error(N_("choice.unknown"), N_("broadcast.expect.choice"),
                                     choices))
                return
            if picked.value == ANY.value:
                s.data["filters"].pop(name, None)
            else:
                s.data["filters"][name] = picked.value
        s.data.pop("filter", None)
        s.step = "audience"

    # --- preview, time, confirmation --------------------------------------------------------

    def _preview(self, s: Session, preview: Preview, ctx: Context) -> Reply:
        at = self._at(s)
        start = (at or ctx.now).astimezone(WIB)
        seconds = sending_seconds(preview.by_channel, self.rules.broadcast_rates)
        finish = finish_time(start, seconds, self.rules.quiet_hours)
        channels = ", ".join(f"{NAMES.get(c, c)} {n}"
                             for c, n in sorted(preview.by_channel.items())) or "-"
        return Reply(N_("broadcast.preview"), {
            "count": preview.reachable, "opted_out": preview.opted_out, "channels": channels,
            "duration": Duration(seconds), "finish": When(finish),
            "when": Msg(N_("broadcast.when.at"), {"when": When(start)}) if at
            else Msg(N_("broadcast.when.now")),
            "sample": Msg(*self._sample(s, preview))}, CONFIRM_CHOICES, navigation=True)

    @staticmethod
    def _sample(s: Session, preview: Preview) -> tuple:
        """What a recipient receives: the text, or the reminder with its first recipient's
        values (with nobody to send to, that says so)."""
        if not s.data.get("reminder"):
            reply = text_reply(s.data["text_id"])
        elif preview.sample is None:
            return N_("broadcast.audience.nobody"), None
        else:
            reply = reminder_reply(s.data["reminder"], preview.sample)
        return reply.msgid, reply.params

    @staticmethod
    def _at(s: Session) -> datetime | None:
        return datetime.fromisoformat(s.data["at"]) if s.data.get("at") else None

    def _read_time(self, s: Session, text: str, turn: Turn, ctx: Context) -> None:
        at = read_time(text)
        if at is None:
            turn.say(self._error(N_("broadcast.schedule.invalid"),
                                 N_("broadcast.expect.time"), ()))
        elif at <= ctx.now:
            turn.say(self._error(N_("broadcast.schedule.past"), N_("broadcast.expect.time"), ()))
        elif at > ctx.now + MAX_AHEAD:
            turn.say(self._error(N_("broadcast.schedule.too_far"),
                                 N_("broadcast.expect.time"), ()))
        else:
            s.data["at"] = at.isoformat()
            s.step = "confirm"

    async def _read_confirm(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                            ctx: Context) -> None:
        picked = match(text, CONFIRM_CHOICES, self.labels, whole=True)
        if picked is None:
            turn.say(self._error(N_("choice.unknown"), N_("broadcast.expect.confirm"),
                                 CONFIRM_CHOICES))
            return
        if picked.value == "cancel":
            s.leave_flow()
            turn.say(Reply(N_("broadcast.cancelled"), navigation=True))
        elif picked.value == "schedule":
            s.step = "schedule"
            turn.say(Reply(N_("broadcast.schedule.prompt"), navigation=True))
        elif picked.value == "audience":
            s.step = "audience"
            self._ask(s, turn, ctx)
        else:
            self._send(s, inbound, turn, ctx)

    def _send(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        at = self._at(s)
        if at is not None and at <= ctx.now:
            s.step = "schedule"
            turn.say(self._error(N_("broadcast.schedule.past"), N_("broadcast.expect.time"), ()))
            return
        s.step, s.data["waiting"] = "starting", ctx.new_token()
        turn.do(self._work(s, s.data["waiting"], inbound.chat_key))

    @staticmethod
    def _error(problem: str, expect: str, choices: tuple[Choice, ...] = (),
               params: dict | None = None) -> Reply:
        return Reply(N_("error.with_expect"), {"problem": Msg(problem, params),
                                               "expect": Msg(expect)}, choices,
                     navigation=True)




def tidy(text: str) -> str:
    """A message as staff wrote it, line breaks kept: normalised, without control characters,
    trailing spaces or runs of blank lines."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n")
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in (
        "Cc", "Cf", "Cs", "Co", "Cn"))
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def read_time(text: str) -> datetime | None:
    """"15-12-2026 08.00", "15/12/2026 8:00" or "2026-12-15 08:00", Jakarta time."""
    text = text.strip()
    found = TIME.fullmatch(text)
    if found:
        day, month, year, hour, minute = map(int, found.groups())
    elif found := ISO_TIME.fullmatch(text):
        year, month, day, hour, minute = map(int, found.groups())
    else:
        return None
    try:
        return datetime(year, month, day, hour, minute, tzinfo=WIB)
    except ValueError:
        return None
