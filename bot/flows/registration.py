"""A worker registers themselves: language, consent, NIK, name, birth date, phone, occupation,
address, income, then a summary where any answer can be corrected before it is stored.

The answers live in ``session.data`` until the worker confirms; the next question is always the
first one still unanswered, so correcting an answer is just forgetting it and asking again.
"""

import re
from datetime import date

from bot import consents, enrolment, places, proof
from bot.channels import name_of
from bot.choices import NO_WORDS, STATUS, YES_WORDS, yes_no
from bot.context import Context, Turn
from bot.form import Form, Step
from bot.i18n import N_, Money, Msg
from bot.messages import (
    Choice,
    Inbound,
    LinkChat,
    RegisterWorker,
    Reply,
    RequestProof,
    WorkerInfo,
)
from bot.occupations import OCCUPATION_LABELS, OCCUPATIONS
from bot.programmes import Programme, Programmes
from bot.questions import Question
from bot.regions import regency
from bot.rules import Rules
from bot.session import Session
from bot.validators import (
    Err,
    Ok,
    Result,
    mask_nik,
    nik_birth_date,
    parse_amount,
    validate_free_text,
    validate_nik,
)

LANGUAGE_CHOICES = (
    Choice("id", N_("language.id"), aliases=("indonesia", "indo", "bahasa indonesia", "id")),
    Choice("en", N_("language.en"), aliases=("english", "inggris", "bahasa inggris", "en")),
)

CONSENT_CHOICES = (
    *yes_no(N_("consent.yes_all"), N_("consent.no")),
    Choice("no_messages", N_("consent.no_messages"),
           aliases=("tanpa pengingat", "setuju tanpa pengingat", "without reminders")),
    Choice("no_dtsen", N_("consent.no_dtsen"),
           aliases=("tanpa dtsen", "setuju tanpa dtsen", "without dtsen")),
    Choice("only", N_("consent.only"), aliases=("pendaftaran saja", "registration only")),
)
"""One question, each purpose chosen on its own: the registration (without it, nothing),
matching with DTSEN, the messages the bot starts. "Ya" alone is all three."""
DOB_CHOICES = (
    Choice("yes", N_("birth_date_confirm.keep"), aliases=("ya", "iya", "benar", "betul", "yes")),
    Choice("birth_date", N_("birth_date_confirm.change_date"),
           aliases=("ubah tanggal", "ganti tanggal", "change date")),
    Choice("nik", N_("birth_date_confirm.change_nik"),
           aliases=("ubah nik", "ganti nik", "change nik")),
)
SUMMARY_CHOICES = (
    Choice("save", N_("summary.save"), aliases=("simpan", "save", "ya", "iya", "benar", "ok",
                                                 "yes", "kirim")),
    Choice("edit", N_("summary.edit"), aliases=("ubah", "edit", "ganti", "koreksi", "perbaiki")),
    Choice("cancel", N_("summary.cancel")),
)
PROGRAMME_CONFIRM_CHOICES = yes_no(N_("programme_confirm.yes"), N_("programme_confirm.no"))
LINK_CODE = Choice("code", N_("link.how.code"), aliases=("kode", "kirim kode", "code"))
LINK_STAFF = Choice("staff", N_("link.how.staff"), aliases=(
    "petugas", "hp hilang", "hp saya hilang", "nomor hilang", "staff", "lost phone"))
RESEND = Choice("resend", N_("proof.resend"), aliases=("kirim ulang", "kirim lagi", "resend"))
"""Another code, where the first did not come (limits apply)."""
NO_PROGRAMME = Choice("none", N_("programme_pick.none"),
                      aliases=("tidak ada", "lainnya", "daerah lain", "lain", "other", "none",
                               "not listed"))

def questions(rules: Rules) -> dict[str, Question]:
    return {q.name: q for q in (
        Question("language", N_("language.prompt"), N_("language.expect"),
                 N_("language.help"), choices=LANGUAGE_CHOICES),
        Question("consent", consents.TEXTS[consents.VERSION][consents.REGISTRATION],
                 N_("consent.expect"), N_("consent.help"),
                 choices=CONSENT_CHOICES),
        Question("nik", N_("nik.prompt"), N_("nik.expect"), N_("nik.help"), validator="nik"),
        Question("full_name", N_("full_name.prompt"), N_("full_name.expect"),
                 N_("full_name.help"), validator="name"),
        Question("birth_date", N_("birth_date.prompt"), N_("birth_date.expect"),
                 N_("birth_date.help"), validator="date"),
        Question("birth_date_confirm", N_("birth_date_confirm.prompt"),
                 N_("birth_date_confirm.expect"), N_("birth_date_confirm.help"),
                 choices=DOB_CHOICES),
        Question("phone", N_("phone.prompt"), N_("phone.expect"), N_("phone.help"),
                 validator="phone", accepts_contact=True),
        Question("phone_confirm", N_("phone_confirm.prompt"), N_("phone_confirm.expect"),
                 N_("phone.help"), validator="phone",
                 choices=yes_no(N_("phone_confirm.yes"), N_("phone_confirm.no"))),
        Question("occupation", N_("occupation.prompt"), N_("occupation.expect"),
                 N_("occupation.help"), choices=OCCUPATIONS),
        Question("occupation_other", N_("occupation_other.prompt"),
                 N_("occupation_other.expect"), N_("occupation_other.help"),
                 validator="free_text"),
        Question("kelurahan", N_("kelurahan.prompt"), N_("kelurahan.expect"),
                 N_("kelurahan.help"), validator="place"),
        Question("kecamatan", N_("kecamatan.prompt"), N_("kecamatan.expect"),
                 N_("kecamatan.help"), validator="place"),
        Question("kelurahan_check", N_("kelurahan_check.prompt"), N_("place_check.expect"),
                 N_("place_check.help")),
        Question("kecamatan_check", N_("kecamatan_check.prompt"), N_("place_check.expect"),
                 N_("place_check.help")),
        Question("programme_confirm", N_("programme_confirm.prompt"),
                 N_("programme_confirm.expect"), N_("programme_confirm.help"),
                 choices=PROGRAMME_CONFIRM_CHOICES),
        Question("programme_pick", N_("programme_pick.prompt"), N_("programme_pick.expect"),
                 N_("programme_pick.help")),
        Question("income", N_("income.prompt"), N_("income.expect"), N_("income.help"),
                 choices=income_choices(rules)),
        Question("link_how", N_("link.how.prompt"), N_("link.how.expect"),
                 N_("link.how.help"), choices=(LINK_CODE, LINK_STAFF)),
        Question("link_code", N_("link.code.prompt"), N_("proof.code.expect"),
                 N_("proof.code.help"), validator="code", choices=(RESEND, LINK_STAFF)),
        Question("summary", N_("summary.prompt"), N_("summary.expect"), N_("summary.help"),
                 choices=SUMMARY_CHOICES),
    )}


def place_suggestion(data: dict, kind: str) -> str | None:
    return places.suggestion(data["nik"][:4], kind, data[kind])


def place_choices(data: dict, kind: str) -> tuple[Choice, ...]:
    params = {"typed": data[kind], "suggestion": place_suggestion(data, kind)}
    return (Choice("yes", N_("place_check.yes"), params, aliases=YES_WORDS),
            Choice("no", N_("place_check.no"), params, aliases=NO_WORDS))


def placed(data: dict, kind: str) -> str:
    """The kelurahan or kecamatan to store: the official spelling of a name on the list, the
    name the worker said they meant, or what they typed."""
    typed, regency = data[kind], data["nik"][:4]
    if data.get(f"{kind}_checked") == "yes":
        return places.suggestion(regency, kind, typed) or typed
    return places.official(regency, kind, typed) or typed


def income_choices(rules: Rules) -> tuple[Choice, ...]:
    """One option per bracket, labelled by its range, plus "don't know" (the lowest)."""
    brackets = rules.income_brackets
    options = []
    for i, low in enumerate(brackets):
        if i == 0:
            label, params = N_("income.below"), {"high": Money(brackets[1])}
        elif i == len(brackets) - 1:
            label, params = N_("income.above"), {"low": Money(low)}
        else:
            label = N_("income.between")
            params = {"low": Money(low), "high": Money(brackets[i + 1])}
        options.append(Choice(str(low), label, params))
    options.append(Choice(str(brackets[0]), N_("income.unknown"),
                          aliases=("tidak tahu", "tdk tahu", "gak tahu", "nggak tahu", "entah",
                                   "don't know", "dont know", "unknown")))
    return tuple(options)


AREA_PREFIXES = {
    "kelurahan": re.compile(r"^(?:kel(?:urahan)?|desa|ds|nagari|gampong)\.?\s+", re.I),
    "kecamatan": re.compile(r"^(?:kec(?:amatan)?|distrik)\.?\s+", re.I),
}
""""Kel. Air Tawar Barat" is stored as "Air Tawar Barat", as BPJS Ketenagakerjaan expects it
in the export (the field says what it is)."""
MIN_TYPED_INCOME = 10_000
"""A typed number below this is a mistyped option, not rupiah."""


def income_bracket(rules: Rules, amount: int, choices: tuple[Choice, ...]) -> Choice:
    """The option of the bracket a typed monthly amount falls in (below the lowest: the
    lowest)."""
    low = max((b for b in rules.income_brackets if b <= amount),
              default=rules.income_brackets[0])
    return next(c for c in choices if c.value == str(low))


def nik_region(nik: str) -> Msg | str:
    """Where the NIK was issued, said beside the programmes to choose from."""
    found = regency(nik[:4])
    return Msg(N_("programme_pick.nik_region"), {"region": found.name}) if found else ""


def suggested(data: dict, today: date, programmes: Programmes | None) -> list[Programme]:
    """The programmes of the NIK's region open to the worker's occupation."""
    return programmes.for_worker(data["nik"], data["occupation"], today) if programmes else []


def programme_options(data: dict, today: date, programmes: Programmes | None
                      ) -> list[Programme]:
    """Every programme running today open to the occupation, the NIK's region first: people
    often live elsewhere than the region their NIK was issued in."""
    if programmes is None:
        return []
    near = suggested(data, today, programmes)
    other = [p for p in programmes.programme if p not in near and p.running(today)
             and p.admits(data["occupation"])]
    return near + other


def programme_choice(programme: Programme, same_region: int) -> Choice:
    """An option naming the region (the programme too where a region has several); typing
    the place without "Kota"/"Kabupaten" picks it as well."""
    name = programme.region.name
    short = name.split(maxsplit=1)[1] if name.split()[0].casefold() in REGION_WORDS and \
        len(name.split()) > 1 else name
    aliases = (short,) if same_region == 1 else ()
    if same_region > 1:
        return Choice(programme.id, N_("programme_pick.option_named"),
                      {"region": name, "programme": programme.name}, aliases=aliases)
    return Choice(programme.id, N_("programme_pick.option"), {"region": name}, aliases=aliases)


REGION_WORDS = frozenset({"kota", "kabupaten", "kab.", "kab", "city", "regency"})


def record_consent(s: Session, choice: Choice, turn: Turn, ctx: Context, declined: str) -> bool:
    """The answer to a consent question: kept with the text's version and the time (UU PDP:
    consent must be provable); a "no" leaves the flow, nothing stored. True if given."""
    if choice.value == "no":
        s.leave_flow()
        turn.say(Reply(declined, navigation=True))
        return False
    s.data["consent"] = {"version": consents.VERSION, "at": ctx.now.isoformat()}
    return True


def birth_date_mismatch(data: dict, today: date) -> date | None:
    """The NIK's date when it differs from the birth date given (a warning, never a refusal)."""
    in_nik = nik_birth_date(data["nik"], today)
    return in_nik if in_nik and in_nik.isoformat() != data["birth_date"] else None


DONE = {
    enrolment.ENROLLED: N_("reg.done_enrolled"),
    enrolment.WAITING_LIST: N_("reg.done_waiting_list"),
    enrolment.WAITING_VERIFICATION: N_("reg.done_review"),
    enrolment.NOT_ELIGIBLE: N_("reg.done_not_eligible"),
    enrolment.SELF_PAID: N_("reg.done_self_paid"),
}
"""What the worker is told when the registration is saved, by the status it got."""


class Registration(Form):
    name = "registration"
    words = ("daftar", "register", "pendaftaran", "daftar baru", "new registration")
    pausable = True
    continue_label = N_("menu.continue")
    draft_waiting = N_("menu.draft.registration")
    menu = (1, Choice(name, N_("menu.register"), aliases=("daftar", "register", "mendaftar")))
    edit_expect = N_("edit.expect")

    def __init__(self, rules: Rules, labels, programmes: Programmes | None = None):
        self.rules = rules
        self.labels = labels
        self.programmes = programmes
        q = self.questions = questions(rules)
        linking = lambda d, _: "link" in d  # noqa: E731 - a NIK registered from another chat
        self.steps = (
            Step(q["language"]),
            Step(q["consent"]),
            Step(q["link_how"], pending=lambda d, c: linking(d, c) and "tries" not in d,
                 params=lambda d, _: {"nik": mask_nik(d["link"])}),
            Step(q["link_code"], pending=lambda d, c: linking(d, c) and "tries" in d),
            Step(q["nik"], label=N_("field.nik"),
                 forgets=("birth_date_confirmed", "programme", "programme_declined")),
            Step(q["full_name"], label=N_("field.full_name")),
            Step(q["birth_date"], label=N_("field.birth_date"),
                 forgets=("birth_date_confirmed",)),
            Step(q["birth_date_confirm"], field="birth_date_confirmed",
                 when=lambda d, c: bool(birth_date_mismatch(d, c.today)),
                 params=lambda d, c: {"given": date.fromisoformat(d["birth_date"]),
                                      "in_nik": birth_date_mismatch(d, c.today)}),
            Step(q["phone"], label=N_("field.phone"), confirm=q["phone_confirm"]),
            Step(q["occupation"], label=N_("field.occupation"),
                 forgets=("occupation_other", "programme", "programme_declined")),
            Step(q["occupation_other"], when=lambda d, _: d["occupation"] == "other"),
            Step(q["kelurahan"], label=N_("field.kelurahan"), forgets=("kelurahan_checked",)),
            self._check("kelurahan"),
            Step(q["kecamatan"], label=N_("field.kecamatan"), forgets=("kecamatan_checked",)),
            self._check("kecamatan"),
            Step(q["programme_confirm"], field="programme", label=N_("field.programme"),
                 forgets=("programme_declined",), when=self._one_programme_near,
                 params=lambda d, c: enrolment.programme_params(
                     suggested(d, c.today, self.programmes)[0], c.today)),
            Step(q["programme_pick"], field="programme", fill=self._no_programme,
                 choices=self._programme_choices,
                 params=lambda d, _: {"nik_region": nik_region(d["nik"])}),
            Step(q["income"], label=N_("field.income")),
            Step(q["summary"], params=lambda d, c: self._summary_params(d, c.today)),
        )

    async def start(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        s.flow, s.data = self.name, {}
        if s.locale_chosen:
            s.data["language"] = s.locale
        self.next(s, turn, ctx)

    def niks_wanted(self, s: Session, text: str, today: date) -> set[str]:
        """The NIKs answering ``text`` may look up: a typed NIK, or the one being saved."""
        if s.step == "nik":
            typed = validate_nik(text, today)
            return {typed.value} if isinstance(typed, Ok) else set()
        if s.step == "summary":
            return {s.data["nik"]}
        if s.step in ("link_how", "link_code"):
            return {s.data["link"]}
        return set()

    # --- the programme ------------------------------------------------------------------

    def _one_programme_near(self, data: dict, ctx: Context) -> bool:
        """One programme of the NIK's region takes this occupation: offered, to confirm."""
        return len(suggested(data, ctx.today, self.programmes)) == 1 and \
            not data.get("programme_declined")

    def _check(self, kind: str) -> Step:
        """"Did you mean …?" for a name close to one of the official names of the NIK's
        regency (``bot.places``)."""
        return Step(self.questions[f"{kind}_check"], field=f"{kind}_checked",
                    when=lambda d, _: place_suggestion(d, kind) is not None,
                    choices=lambda d, _: place_choices(d, kind),
                    params=lambda d, _: {"typed": d[kind],
                                         "suggestion": place_suggestion(d, kind)})

    def _no_programme(self, data: dict, ctx: Context) -> str | None:
        """Where no programme could take the worker there is nothing to ask."""
        return None if programme_options(data, ctx.today, self.programmes) else \
            NO_PROGRAMME.value

    def _programme_choices(self, data: dict, ctx: Context) -> tuple[Choice, ...]:
        offered = programme_options(data, ctx.today, self.programmes)
        names = [p.region.name for p in offered]
        return tuple(programme_choice(p, names.count(p.region.name))
                     for p in offered) + (NO_PROGRAMME,)

    # --- the hooks: what each answer decides --------------------------------------------

    async def on_language(self, s: Session, choice: Choice, turn: Turn, ctx: Context,
                          inbound: Inbound) -> bool:
        s.locale, s.locale_chosen = choice.value, True
        s.data["language"] = choice.value
        return True

    async def on_consent(self, s: Session, choice: Choice, turn: Turn, ctx: Context,
                         inbound: Inbound) -> bool:
        if not record_consent(s, choice, turn, ctx, N_("consent.declined")):
            return False
        s.data["consent"] |= {consents.DTSEN: choice.value in ("yes", "no_messages"),
                              consents.MESSAGES: choice.value in ("yes", "no_dtsen")}
        return True

    async def on_nik(self, s: Session, nik: str, turn: Turn, ctx: Context,
                     inbound: Inbound) -> bool:
        """A NIK registered before: from this chat, said so; from the WhatsApp number
        registered with it, linked; from another chat, linked only after proof."""
        chat_key = inbound.chat_key
        existing = await ctx.lookup.worker_by_nik(nik)
        if existing is not None and chat_key == proof.whatsapp_chat(existing.phone) and \
                not await proof.linked(ctx, chat_key, existing):
            # Writing from the WhatsApp number registered with it: proof enough to link.
            await self._link(s, existing, turn, ctx, chat_key)
            return False
        if await proof.holds(ctx, chat_key, existing):
            turn.say(Reply(N_("nik.registered"), {"nik": mask_nik(nik)}, navigation=True,
                           choices=(STATUS,)))
            return False
        if not await proof.count_nik(ctx, turn, s, chat_key, keep_draft=True):
            return False
        if existing is not None:
            # Registered from another chat (a new phone, WhatsApp besides Telegram): this
            # chat learns nothing of it until it proves the registration is its own.
            s.data["link"] = nik
            return True
        s.data["nik"] = nik
        s.data.pop("birth_date_confirmed", None)
        return True

    async def on_link_how(self, s: Session, answer, turn: Turn, ctx: Context,
                          inbound: Inbound) -> bool:
        return await self._prove(s, answer, turn, ctx, inbound.chat_key)

    on_link_code = on_link_how

    async def on_birth_date(self, s: Session, day: date, turn: Turn, ctx: Context,
                            inbound: Inbound) -> bool:
        s.data["birth_date"] = day.isoformat()
        s.data.pop("birth_date_confirmed", None)
        return True

    async def on_birth_date_confirm(self, s: Session, choice: Choice, turn: Turn,
                                    ctx: Context, inbound: Inbound) -> bool:
        if choice.value == "yes":
            s.data["birth_date_confirmed"] = True
        else:
            corrected = self.step(choice.value)
            self.forget(s, corrected.key, *corrected.forgets)
        return True

    async def read_occupation(self, s: Session, inbound: Inbound, text: str,
                              question: Question, ctx: Context) -> Result:
        """An option; or a job none of the options names, in the worker's own words."""
        result = question.read(inbound, text, ctx.today, self.labels)
        if isinstance(result, Err) and inbound.kind == "text" and \
                isinstance(own := validate_free_text(text), Ok):
            return own
        return result

    async def on_occupation(self, s: Session, answer: Choice | str, turn: Turn, ctx: Context,
                            inbound: Inbound) -> bool:
        """A job none of the options names is kept in the worker's words under "other", and
        said so (no guess at the nearest job)."""
        if isinstance(answer, Choice):
            s.data["occupation"] = answer.value
            s.data.pop("occupation_other", None)
        else:
            s.data["occupation"], s.data["occupation_other"] = "other", answer
            turn.say(Reply(N_("occupation.kept_other"), {"name": answer}))
        return True

    async def on_kelurahan(self, s: Session, place: str, turn: Turn, ctx: Context,
                           inbound: Inbound) -> bool:
        s.data[s.step] = AREA_PREFIXES[s.step].sub("", place).strip() or place
        return True

    on_kecamatan = on_kelurahan

    async def on_programme_confirm(self, s: Session, choice: Choice, turn: Turn,
                                   ctx: Context, inbound: Inbound) -> bool:
        if choice.value == "yes":
            s.data["programme"] = suggested(s.data, ctx.today, self.programmes)[0].id
        else:
            s.data["programme_declined"] = True
        return True

    async def read_income(self, s: Session, inbound: Inbound, text: str,
                          question: Question, ctx: Context) -> Result:
        """An option, or an amount typed ("1500000", "1,5 juta"): its bracket."""
        result = question.read(inbound, text, ctx.today, self.labels)
        if isinstance(result, Err) and inbound.kind == "text" \
                and (amount := parse_amount(text) or 0) >= MIN_TYPED_INCOME:
            return Ok(income_bracket(self.rules, amount, question.choices))
        return result

    async def on_income(self, s: Session, choice: Choice, turn: Turn, ctx: Context,
                        inbound: Inbound) -> bool:
        s.data["income"] = int(choice.value)
        return True

    # --- a NIK registered from another chat ---------------------------------------------

    async def _prove(self, s: Session, answer, turn: Turn, ctx: Context,
                     chat_key: str) -> bool:
        """The chat asks to be linked to the registration of the NIK it typed: a code sent to
        the chats holding it, or a staff member checking the KTP; or it typed the code."""
        worker = await ctx.lookup.worker_by_nik(s.data["link"])
        if worker is None:  # removed meanwhile: start again from the NIK
            self.forget(s, "link", "tries")
            return True
        value = answer.value if isinstance(answer, Choice) else None
        if value == "staff":
            await self._staff_check(s, worker, turn, ctx, chat_key)
            return False
        if value in ("code", "resend"):
            return await self._send_code(s, worker, turn, ctx, chat_key)
        return await self._check_code(s, worker, str(answer), turn, ctx, chat_key)

    async def _send_code(self, s: Session, worker: WorkerInfo, turn: Turn, ctx: Context,
                         chat_key: str) -> bool:
        sent = await proof.send_code(
            ctx, turn, purpose=proof.LINK, nik=worker.nik, chat_key=chat_key,
            locale=s.locale, subject=worker.reference, targets=await proof.holders(ctx, worker),
            notice=N_("notice.proof.link"), target_locale=worker.locale,
            params={"reference": worker.reference, "full_name": worker.full_name,
                    "channel": name_of(chat_key)})
        if not sent:
            self._forget_link(s, ctx)
            return False
        s.data["tries"] = 0
        return True

    async def _check_code(self, s: Session, worker: WorkerInfo, code: str, turn: Turn,
                          ctx: Context, chat_key: str) -> bool:
        outcome = await proof.typed_code(
            ctx, turn, s, code, self.questions["link_code"], purpose=proof.LINK,
            nik=worker.nik, chat_key=chat_key, subject=worker.reference,
            wrong=N_("proof.code.wrong"), failed=N_("proof.failed"))
        if outcome == proof.PASSED:
            await self._link(s, worker, turn, ctx, chat_key)
        elif outcome != proof.WRONG:
            self._forget_link(s, ctx)
        return False

    def _forget_link(self, s: Session, ctx: Context) -> None:
        """No link for now: the draft stays, back at the NIK (one of another person, or a
        typing error, may have brought it here)."""
        self.forget(s, "link", "tries")
        self.locate(s, ctx)

    async def _staff_check(self, s: Session, worker: WorkerInfo, turn: Turn, ctx: Context,
                           chat_key: str) -> None:
        """A lost phone: a numbered request the person shows at the office with their KTP."""
        waiting = await ctx.lookup.open_proof(chat_key, proof.LINK, worker.reference, ctx.now,
                                              method=proof.STAFF)
        if waiting is not None:
            reference = waiting.reference
        else:
            reference = f"TAUT-{await ctx.lookup.next_number('TAUT'):06d}"
            turn.do(RequestProof(proof.LINK, worker.reference, chat_key, s.locale,
                                 ctx.now + proof.STAFF_TTL, reference=reference))
        s.leave_flow()
        turn.say(Reply(N_("link.staff_requested"), {"reference": reference}, navigation=True))

    async def _link(self, s: Session, worker: WorkerInfo, turn: Turn, ctx: Context,
                    chat_key: str) -> None:
        """Proven: this chat holds the registration from now, and the others are told."""
        turn.do(LinkChat(worker.reference, chat_key))
        for effect in proof.linked_notices(worker, chat_key,
                                           await proof.holders(ctx, worker), ctx.now):
            turn.do(effect)
        s.leave_flow()
        turn.say(Reply(N_("link.done"), {"full_name": worker.full_name,
                                         "reference": worker.reference},
                       choices=(STATUS,), navigation=True))

    # --- saving -------------------------------------------------------------------------

    async def on_summary(self, s: Session, choice: Choice, turn: Turn, ctx: Context,
                         inbound: Inbound) -> bool:
        """Saved: the registration is stored with the status the programme's rules give it
        (DTSEN, the quota), unless the NIK was registered or the programme ended meanwhile:
        then that is asked again."""
        data = s.data
        if await ctx.lookup.worker_by_nik(data["nik"]) is not None:
            turn.say(Reply(N_("nik.registered"), {"nik": mask_nik(data.pop("nik"))},
                           navigation=True))
            return True
        programme = self._chosen_programme(data, ctx)
        if programme is None and data["programme"] != NO_PROGRAMME.value:
            # The programme ended or was removed while the worker was answering.
            self.forget(s, "programme", "programme_declined")
            return True
        matched = data["consent"].get(consents.DTSEN, True)  # drafts from before: one consent
        desil = await ctx.lookup.dtsen_desil(data["nik"]) if programme and matched else None
        status = enrolment.first_check(programme, desil)
        placement = enrolment.Placement(status)
        if status == enrolment.ENROLLED:
            placement = await enrolment.place(programme, ctx.lookup, ctx.today)
        reference = ctx.new_reference()
        turn.do(RegisterWorker(
            reference=reference, nik=data["nik"], full_name=data["full_name"],
            birth_date=date.fromisoformat(data["birth_date"]), phone=data["phone"],
            occupation=data["occupation"], occupation_other=data.get("occupation_other"),
            kelurahan=placed(data, "kelurahan"), kecamatan=placed(data, "kecamatan"),
            monthly_income=data["income"], locale=s.locale,
            consent_version=data["consent"]["version"], consented_at=data["consent"]["at"],
            dtsen_consent=matched, messages_consent=data["consent"].get(consents.MESSAGES, True),
            status=placement.status, programme_id=programme.id if programme else None,
            dtsen_desil=desil, coverage_start=placement.coverage_start,
            coverage_end=placement.coverage_end, cycle=placement.cycle,
            funder=placement.funder))
        params = {"reference": reference, "position": placement.position,
                  "bpu_contribution": Money(self.rules.bpu_contribution(
                      data["income"], data["occupation"], ctx.today))}
        if programme:
            params |= enrolment.programme_params(programme, ctx.today)
            params["max_desil"] = programme.dtsen_max_desil
        turn.say(Reply(DONE[placement.status], params, navigation=True))
        s.leave_flow()
        return False

    def _chosen_programme(self, data: dict, ctx: Context) -> Programme | None:
        """The programme picked, if it still runs today and admits the occupation."""
        found = self.programmes.by_id(data["programme"]) if self.programmes else None
        if found and found.running(ctx.today) and found.admits(data["occupation"]):
            return found
        return None

    def _summary_params(self, data: dict, today: date) -> dict:
        occupation = Msg(OCCUPATION_LABELS[data["occupation"]])
        if data["occupation"] == "other":
            occupation = Msg(N_("occupation.other_named"), {"name": data["occupation_other"]})
        programme = self.programmes.by_id(data["programme"]) if self.programmes else None
        return {
            "programme": Msg(N_("summary.programme"), {"programme": programme.name,
                                                       "region": programme.region.name})
            if programme else Msg(N_("summary.no_programme")),
            "nik": mask_nik(data["nik"]), "full_name": data["full_name"],
            "birth_date": date.fromisoformat(data["birth_date"]), "phone": data["phone"],
            "occupation": occupation, "kelurahan": placed(data, "kelurahan"),
            "kecamatan": placed(data, "kecamatan"), "income": Money(data["income"]),
            "contribution": Msg(N_("summary.contribution_paid"), {
                "contribution": Money(programme.monthly_contribution),
                "funder": programme.funder}) if programme
            else Msg(N_("summary.contribution_self"), {
                "contribution": Money(self.rules.bpu_contribution(
                    data["income"], data["occupation"], today))}),
        }
