""""Data saya" / "My data": a worker's rights under UU PDP 27/2022 in the chat (``bot.rights``),
from a chat that holds the registration (one that does not is first linked, with the code of
``bot.proof``, by registering its NIK again): see everything stored, take a copy as a file,
correct it, or withdraw consent and have it erased. Each request is stored with its deadline.
"""

from dataclasses import replace
from datetime import date

from bot import enrolment, proof, rights
from bot.channels import name_of
from bot.choices import PHONE_CHANGE, REGISTER, yes_no
from bot.context import Context, Turn
from bot.flows.claim import document_error
from bot.flows.phone import which_question
from bot.flows.registration import questions
from bot.i18n import N_, Lines, Msg, When
from bot.messages import Choice, CopyOf, Inbound, Notify, Reply, WorkerInfo
from bot.occupations import OCCUPATION_LABELS
from bot.questions import Question
from bot.quiet_hours import WIB
from bot.rights import COPY, CORRECT, DONE, ERASE, SEE, CorrectWorker, EraseWorker, RequestRight
from bot.rules import Rules
from bot.session import Session
from bot.status import CLAIM_STATE, STATE
from bot.text import key
from bot.validators import Err

MY_DATA = Choice("my_data", N_("menu.my_data"), aliases=("data", "data saya", "my data"))

ACTIONS = (
    Choice(SEE, N_("rights.action.see"), aliases=("lihat", "lihat data", "see", "view")),
    Choice(COPY, N_("rights.action.copy"), aliases=("salinan", "kirim salinan", "copy", "file")),
    Choice(CORRECT, N_("rights.action.correct"), aliases=(
        "ubah", "koreksi", "perbaiki", "ganti", "correct", "change")),
    Choice(ERASE, N_("rights.action.erase"), aliases=(
        "hapus", "hapus data", "tarik persetujuan", "delete", "erase", "withdraw")),
)
FIELDS = (
    Choice("phone", N_("rights.correct.phone"), aliases=("nomor", "nomor hp", "hp", "phone")),
    Choice("address", N_("rights.correct.address"), aliases=(
        "alamat", "kelurahan", "kecamatan", "pindah", "address")),
    Choice("occupation", N_("rights.correct.occupation"), aliases=(
        "pekerjaan", "kerja", "occupation", "job", "work")),
    Choice("full_name", N_("rights.field.full_name"), aliases=("nama", "nama lengkap", "name")),
    Choice("birth_date", N_("rights.field.birth_date"), aliases=(
        "tanggal lahir", "tgl lahir", "lahir", "birth date", "date of birth")),
    Choice("nik", N_("rights.field.nik"), aliases=("nik", "no ktp", "nomor ktp")),
)
STARTING_WORDS = {
    SEE: ("lihat data saya", "see my data", "show my data"),
    COPY: ("minta salinan", "minta salinan data", "salinan data", "salinan data saya",
           "kirim salinan", "copy of my data", "copy my data", "download my data"),
    CORRECT: ("ubah data", "ubah data saya", "koreksi data", "perbaiki data", "correct my data",
              "change my data"),
    ERASE: ("hapus data saya", "hapus data", "hapus akun", "tarik persetujuan",
            "delete my data", "erase my data", "withdraw consent", "withdraw my consent"),
}
"""The words that start the flow at a right at once; "data saya" asks which."""
ASK = {words: action for action, all_words in STARTING_WORDS.items() for words in all_words}

OWN = {q.name: q for q in (
    Question("what", N_("rights.what.prompt"), N_("rights.what.expect"), N_("rights.what.help"),
             choices=ACTIONS),
    Question("field", N_("rights.field.prompt"), N_("rights.field.expect"),
             N_("rights.field.help"), choices=FIELDS),
    Question("ktp", N_("rights.ktp.prompt"), N_("rights.ktp.expect"), N_("rights.ktp.help")),
    Question("erase", N_("rights.erase.prompt"), N_("rights.erase.expect"),
             N_("rights.erase.help"),
             choices=yes_no(N_("rights.erase.yes"), N_("rights.erase.no"))),
)}
BORROWED = {"kelurahan": N_("rights.new.kelurahan"), "kecamatan": N_("rights.new.kecamatan"),
            "occupation": N_("rights.new.occupation"),
            "occupation_other": N_("occupation_other.prompt"),
            "full_name": N_("rights.new.full_name"), "birth_date": N_("rights.new.birth_date"),
            "nik": N_("rights.new.nik")}
"""Asked in words of their own, checked as the registration checks them."""
PURPOSE_LABELS = {
    "registration": N_("rights.purpose.registration"), "dtsen": N_("rights.purpose.dtsen"),
    "messages": N_("rights.purpose.messages"), "claim": N_("rights.purpose.claim"),
    "guardian": N_("rights.purpose.guardian")}


class MyData:
    name = "my_data"
    words = ("data saya", "my data", "data pribadi", "my personal data", *ASK)
    pausable = False
    continue_label = draft_waiting = None
    menu = (7, MY_DATA)

    def __init__(self, labels, rules: Rules):
        self.labels = labels
        registration = questions(rules)
        self.questions = OWN | {name: replace(registration[name], prompt=prompt)
                                for name, prompt in BORROWED.items()}

    async def start(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        workers = await ctx.lookup.workers_of_chat(inbound.chat_key)
        if not workers:
            turn.say(Reply(N_("rights.none"), choices=(REGISTER,), navigation=True))
            return
        s.flow, s.data = self.name, {"action": ASK.get(key(inbound.text))}
        if len(workers) == 1:
            await self._chosen(s, workers[0], turn, ctx, inbound.chat_key)
            return
        s.step = "which"
        s.data["workers"] = [[w.reference, w.full_name] for w in workers]
        self.reprompt(s, turn, ctx)

    def niks_wanted(self, s: Session, text: str, today: date) -> set[str]:
        return set()

    def _question(self, s: Session) -> Question:
        if s.step == "which":
            return which_question(s.data["workers"], N_("rights.which"))
        return self.questions[s.step]

    def reprompt(self, s: Session, turn: Turn, ctx: Context) -> None:
        turn.say(self._question(s).ask(s.data.get("params")))

    def help(self, s: Session, turn: Turn, ctx: Context) -> None:
        turn.say(self._question(s).explain())

    async def answer(self, s: Session, inbound: Inbound, text: str, turn: Turn,
                     ctx: Context) -> None:
        question = self._question(s)
        if s.step == "ktp":
            result = document_error(inbound.media, inbound)
        else:
            result = question.read(inbound, text, ctx.today, self.labels)
        if isinstance(result, Err):
            turn.say(question.error(result))
            return
        reference = result.value.value if s.step == "which" else s.data["reference"]
        worker = await ctx.lookup.worker_by_reference(reference)
        if worker is None or not await proof.linked(ctx, inbound.chat_key, worker):
            s.leave_flow()  # erased or unlinked meanwhile
            turn.say(Reply(N_("rights.none"), choices=(REGISTER,), navigation=True))
            return
        chat_key = inbound.chat_key
        if s.step == "which":
            await self._chosen(s, worker, turn, ctx, chat_key)
        elif s.step == "what":
            await self._act(s, result.value.value, worker, turn, ctx, chat_key)
        elif s.step == "field":
            self._field(s, result.value.value, turn, ctx)
        elif s.step == "erase":
            await self._erase(s, result.value.value == "yes", worker, turn, ctx, chat_key)
        elif s.step == "ktp":
            await self._request_correction(s, worker, inbound, turn, ctx)
        else:
            await self._corrected(s, result.value, worker, turn, ctx, chat_key)

    async def _chosen(self, s: Session, worker: WorkerInfo, turn: Turn, ctx: Context,
                      chat_key: str) -> None:
        s.data["reference"] = worker.reference
        if s.data.get("action"):
            await self._act(s, s.data["action"], worker, turn, ctx, chat_key)
        else:
            self._ask(s, "what", turn, ctx, {"full_name": worker.full_name})

    def _ask(self, s: Session, step: str, turn: Turn, ctx: Context,
             params: dict | None = None) -> None:
        s.step, s.data["params"] = step, params
        self.reprompt(s, turn, ctx)

    async def _number(self, ctx: Context) -> str:
        year = ctx.now.astimezone(WIB).year
        return rights.request_number(year, await ctx.lookup.next_number(
            f"{rights.SERIES}-{year}"))

    async def _done(self, kind: str, worker: WorkerInfo, turn: Turn, ctx: Context,
                    s: Session, chat_key: str) -> None:
        """A request answered at once, recorded all the same."""
        turn.do(RequestRight(await self._number(ctx), worker.reference, kind, chat_key,
                             s.locale, ctx.now + rights.DEADLINE, DONE))

    async def _act(self, s: Session, action: str, worker: WorkerInfo, turn: Turn,
                   ctx: Context, chat_key: str) -> None:
        if action in (SEE, COPY):
            data = await ctx.lookup.personal_data(worker.reference)
            await self._done(action, worker, turn, ctx, s, chat_key)
            s.leave_flow()
            if action == SEE:
                for reply in see(data):
                    turn.say(reply)
            else:
                turn.say(Reply(N_("rights.copy.sent"), {"reference": worker.reference},
                               navigation=True, copy=CopyOf(
                                   worker.reference, tuple(see(data, latest=None)),
                                   rights.as_json(data, ctx.now))))
        elif action == CORRECT:
            waiting = [r for r in await ctx.lookup.rights_of(worker.reference)
                       if r.kind == CORRECT and r.state == rights.OPEN]
            if waiting:
                s.leave_flow()
                turn.say(Reply(N_("rights.correct.waiting"), {
                    "number": waiting[0].number,
                    "deadline": When(waiting[0].deadline.astimezone(WIB))}, navigation=True))
                return
            self._ask(s, "field", turn, ctx)
        else:
            self._ask(s, "erase", turn, ctx, {"reference": worker.reference})

    def _field(self, s: Session, field: str, turn: Turn, ctx: Context) -> None:
        s.data["field"] = field
        if field == "phone":
            s.leave_flow()
            turn.say(Reply(N_("rights.correct.phone_how"), choices=(PHONE_CHANGE,),
                           navigation=True))
        elif field == "address":
            self._ask(s, "kelurahan", turn, ctx)
        else:
            self._ask(s, field, turn, ctx)

    async def _corrected(self, s: Session, value, worker: WorkerInfo, turn: Turn,
                         ctx: Context, chat_key: str) -> None:
        """An answer to a borrowed question: an address or occupation is corrected now; a
        name, birth date or NIK waits for the KTP photo."""
        step = s.step
        if step == "kelurahan":
            s.data["kelurahan"] = value
            self._ask(s, "kecamatan", turn, ctx)
            return
        if step == "occupation" and value.value == "other":
            s.data["occupation"] = "other"
            self._ask(s, "occupation_other", turn, ctx)
            return
        if step in rights.VERIFIED:
            if step == "nik" and value == worker.nik:
                turn.say(self.questions["nik"].error(Err(N_("rights.correct.same"))))
                return
            s.data["value"] = value.isoformat() if isinstance(value, date) else value
            self._ask(s, "ktp", turn, ctx)
            return
        if step == "kecamatan":
            changes = {"kelurahan": s.data["kelurahan"], "kecamatan": value}
            shown = Msg(N_("rights.correct.address_done"), changes)
        elif step == "occupation":
            changes = {"occupation": value.value, "occupation_other": None}
            shown = Msg(OCCUPATION_LABELS[value.value])
        else:
            changes = {"occupation": "other", "occupation_other": value}
            shown = Msg(N_("rights.value"), {"value": value})
        turn.do(CorrectWorker(worker.reference, changes, chat_key))
        number = await self._number(ctx)
        turn.do(RequestRight(number, worker.reference, CORRECT, chat_key, s.locale,
                             ctx.now + rights.DEADLINE, DONE, field=s.data["field"]))
        s.leave_flow()
        turn.say(Reply(N_("rights.correct.done"), {"value": shown}, navigation=True))

    async def _request_correction(self, s: Session, worker: WorkerInfo, inbound: Inbound,
                                  turn: Turn, ctx: Context) -> None:
        number = await self._number(ctx)
        deadline = ctx.now + rights.DEADLINE
        turn.do(RequestRight(number, worker.reference, CORRECT, inbound.chat_key, s.locale,
                             deadline, field=s.data["field"], value=s.data["value"],
                             document=inbound.media))
        s.leave_flow()
        turn.say(Reply(N_("rights.correct.requested"), {
            "number": number, "deadline": When(deadline.astimezone(WIB))}, navigation=True))

    async def _erase(self, s: Session, confirmed: bool, worker: WorkerInfo, turn: Turn,
                     ctx: Context, chat_key: str) -> None:
        s.leave_flow()
        if not confirmed:
            turn.say(Reply(N_("rights.erase.kept"), navigation=True))
            return
        number = await self._number(ctx)
        deadline = ctx.now + rights.DEADLINE
        turn.do(RequestRight(number, worker.reference, ERASE, chat_key, s.locale, deadline))
        if worker.died_on is not None:  # an heir's claim rests on the registration
            turn.say(Reply(N_("rights.erase.review"), {
                "number": number, "deadline": When(deadline.astimezone(WIB))},
                navigation=True))
            return
        holders = await proof.holders(ctx, worker)
        turn.do(EraseWorker(worker.reference, number, chat_key))
        notice = Reply(N_("notice.rights.erased"), {
            "reference": worker.reference, "channel": name_of(chat_key),
            "when": When(ctx.now.astimezone(WIB))}, navigation=True)
        for holder in holders:
            if holder != chat_key:
                turn.do(Notify(holder, worker.locale, (notice,)))
        turn.say(Reply(N_("rights.erase.done"), {"number": number}, navigation=True))


LATEST = 10
"""Entries of each list the chat shows (the newest): a message has a length limit (Telegram:
4,096 characters), and every look adds a request; the copy has them all."""


def listed(items: list[Msg], latest: int | None) -> Lines:
    """A list as the worker reads it: the newest ``latest`` (all with None), how many earlier
    ones are left out, or "none"."""
    if not items:
        return Lines((Msg(N_("rights.see.nothing")),))
    if latest is None or len(items) <= latest:
        return Lines(tuple(items))
    return Lines((Msg(N_("rights.see.earlier"), {"n": len(items) - latest}),
                  *items[-latest:]))


def see(data: rights.PersonalData, latest: int | None = LATEST) -> list[Reply]:
    """Everything stored about a registration, in plain words: the registration (with the
    full NIK: its owner is reading), its consents, the claims filed, who did what with it;
    each list its ``latest`` entries (None: all, for the copy)."""
    w = data.worker
    occupation = Msg(N_("rights.value"), {"value": data.occupation_other}) \
        if data.occupation == "other" and data.occupation_other \
        else Msg(OCCUPATION_LABELS.get(data.occupation, N_("rights.value")),
                 {"value": data.occupation})
    registration = Reply(N_("rights.see.registration"), {
        "reference": w.reference, "full_name": w.full_name, "nik": w.nik,
        "birth_date": w.birth_date, "phone": w.phone, "kelurahan": data.kelurahan,
        "kecamatan": data.kecamatan, "occupation": occupation,
        "registered": When(data.registered_at.astimezone(WIB)),
        "state": Msg(STATE.get(w.status, N_("rights.value")), {
            "value": w.status, "position": "-", "reason": w.reason,
            "coverage_end": w.coverage_end, "kpj": w.kpj, "died_on": w.died_on}),
        "chats": listed([Msg(N_("rights.see.chat"), {
            "channel": name_of(chat), "since": When(since.astimezone(WIB))})
            for chat, since in data.chats], latest)})
    consents = Reply(N_("rights.see.consents"), {"items": listed([
        Msg(N_("rights.see.consent_given") if c.given else N_("rights.see.consent_refused"), {
            "purpose": Msg(PURPOSE_LABELS.get(c.purpose, N_("rights.value")),
                           {"value": c.purpose}),
            "version": c.version, "channel": name_of(c.channel), "at": When(c.at.astimezone(WIB))})
        for c in data.consents], latest)})
    history = Reply(N_("rights.see.history"), {
        "items": listed([event_line(e) for e in data.history], latest),
        "claims": listed([Msg(N_("rights.see.claim"), {
            "reference": c.reference, "status": Msg(CLAIM_STATE[c.status]),
            "at": When(c.filed_at.astimezone(WIB))}) for c in data.claims], latest),
        "requests": listed([Msg(N_("rights.see.request"), {
            "number": r.number, "kind": Msg(rights.KIND_LABELS[r.kind]),
            "state": Msg(STATE_LABELS[r.state]), "at": When(r.created_at.astimezone(WIB))})
            for r in data.requests], latest)},
        navigation=True)
    return [registration, consents, history]


STATE_LABELS = {rights.OPEN: N_("rights.state.open"), rights.DONE: N_("rights.state.done"),
                rights.REFUSED: N_("rights.state.refused")}
BY = {"you": N_("rights.by.you"), "system": N_("rights.by.system"),
      "staff": N_("rights.by.staff")}


def event_line(event: rights.Event) -> Msg:
    """One entry of the staff record as the worker reads it: when, who, what."""
    action, _, outcome = event.action.partition(".")
    if action == "worker" and outcome in ACTION_LABELS:
        what = Msg(ACTION_LABELS[outcome])
    elif action == "worker" and outcome in enrolment.STATUSES:
        what = Msg(N_("rights.action.status"), {"status": Msg(
            f"broadcast.status.{outcome}")})
    elif event.action == rights.REVEALED:
        what = Msg(N_("rights.event.nik_revealed"), {"why": event.why or "-"})
    else:
        what = Msg(EVENT_LABELS.get(event.action, N_("rights.value")), {"value": event.action})
    return Msg(N_("rights.see.event"), {
        "at": When(event.at.astimezone(WIB)), "what": what,
        "by": Msg(BY[event.by], {"name": event.staff or "-"})})


ACTION_LABELS = {"phone_changed": N_("rights.event.phone_changed"),
                 "corrected": N_("rights.event.corrected")}
EVENT_LABELS = {"link.undone": N_("rights.event.link_undone"),
                "link.approved": N_("rights.event.link_approved"),
                "link.refused": N_("rights.event.link_refused"),
                "rights.correct.approved": N_("rights.event.correct_approved"),
                "rights.correct.refused": N_("rights.event.correct_refused"),
                "rights.erase.refused": N_("rights.event.erase_refused")}
