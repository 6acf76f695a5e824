"""An heir reports a death and files the JKM claim: consent, whose death (the NIK, confirmed by
a masked name), when and how, who the heir is (and whether someone comes before them in the
order of heirs), the documents one by one ("nanti" leaves one for later), the bank account in
the heir's name, then a summary. The claim is stored whatever happens to it next: one for a
worker not covered that day is kept as ``not_covered`` for staff to review.
"""

import re
from dataclasses import replace
from datetime import date

from bot import claims, consents, enrolment, heirs, proof
from bot.benefits import ILLNESS, WORK_ACCIDENT, Entitlement, entitlement, funeral_only
from bot.choices import yes_no
from bot.context import Context, Turn
from bot.flows.registration import record_consent
from bot.form import Form, Step
from bot.i18n import N_, Lines, Money, Msg
from bot.limits import CHAT_FILE_BYTES, CHAT_FILES
from bot.messages import (
    Choice,
    FileClaim,
    Inbound,
    Media,
    Notify,
    Reply,
    StoredDocument,
    WorkerInfo,
)
from bot.programmes import Programmes
from bot.questions import Question
from bot.rules import Rules
from bot.session import Session
from bot.text import key
from bot.validators import Err, Ok, Result, mask_nik, nik_birth_date, validate_nik

LATER_WORDS = frozenset({"nanti", "nanti saja", "later", "skip", "lewati", "belum ada",
                         "belum punya", "tidak ada"})
CAUSE_CHOICES = (
    Choice(ILLNESS, N_("claim.cause.illness"), aliases=("sakit", "meninggal biasa", "alami",
                                                        "illness", "natural")),
    Choice(WORK_ACCIDENT, N_("claim.cause.work_accident"),
           aliases=("kecelakaan kerja", "kecelakaan", "work accident", "accident")),
)
RELATIONSHIP_CHOICES = tuple(Choice(value, label, aliases=aliases) for value, label, aliases in (
    ("spouse", N_("relationship.spouse"), ("istri", "suami", "istrinya", "suaminya", "wife",
                                            "husband", "janda", "duda")),
    ("child", N_("relationship.child"), ("anak", "anaknya", "son", "daughter")),
    ("parent", N_("relationship.parent"), ("ibu", "bapak", "ayah", "mother", "father", "mak",
                                            "amak", "emak", "ibunya", "bapaknya", "ayahnya")),
    ("grandchild", N_("relationship.grandchild"), ("cucu", "cucunya")),
    ("grandparent", N_("relationship.grandparent"), ("kakek", "nenek", "grandfather",
                                                      "grandmother", "kakeknya", "neneknya")),
    ("sibling", N_("relationship.sibling"), ("kakak", "adik", "saudara", "brother", "sister",
                                              "kakaknya", "adiknya", "saudaranya")),
    ("parent_in_law", N_("relationship.parent_in_law"), ("mertua", "mertuanya", "in law")),
    ("will", N_("relationship.will"), ("wasiat", "will")),
    ("other", N_("relationship.other"), ("lainnya", "lain", "tetangga", "teman", "other")),
))
SUMMARY_CHOICES = (
    Choice("submit", N_("claim.summary.submit"), aliases=("kirim", "ajukan", "ya", "submit",
                                                           "yes", "ok")),
    Choice("edit", N_("summary.edit"), aliases=("ubah", "edit", "ganti", "koreksi", "perbaiki",
                                               "salah")),
    Choice("cancel", N_("claim.summary.cancel"), aliases=("batal", "cancel")),
)
ACCOUNT_DIGITS = (5, 20)
"""How many digits an Indonesian bank account number has, at the fewest and the most."""
CLOSER_CHOICES = tuple(replace(choice, aliases=choice.aliases + more) for choice, more in zip(
    yes_no(N_("claim.closer.yes"), N_("claim.closer.no")),
    (("ada", "masih ada", "masih", "masih hidup", "punya", "masih punya", "yes there is"),
     ("tidak ada", "sudah tidak ada", "sudah meninggal", "sudah almarhum", "tidak punya",
      "sudah tiada", "none", "no one")), strict=True))
"""Whether a closer heir is alive, as people answer: "masih ada", "sudah meninggal"."""
UNKNOWN_CHOICES = (
    Choice("retype", N_("claim.deceased_unknown.retype"),
           aliases=("ketik ulang", "ulang", "salah", "salah ketik", "retype", "again")),
    Choice("go_on", N_("claim.deceased_unknown.go_on"),
           aliases=("lanjut", "lanjutkan", "teruskan", "sudah benar", "benar", "go on",
                    "continue")),
)

QUESTIONS = {q.name: q for q in (
    Question("consent", N_("claim.consent.prompt"), N_("claim.consent.expect"),
             N_("claim.consent.help"), choices=yes_no(N_("consent.yes"), N_("consent.no"))),
    Question("deceased_nik", N_("claim.deceased_nik.prompt"), N_("nik.expect"),
             N_("claim.deceased_nik.help"), validator="nik"),
    Question("deceased_unknown", N_("claim.deceased_unknown.prompt"),
             N_("claim.deceased_unknown.expect"), N_("claim.deceased_unknown.help"),
             validator="nik", choices=UNKNOWN_CHOICES),
    Question("confirm_person", N_("claim.confirm_person.prompt"),
             N_("claim.confirm_person.expect"), N_("claim.confirm_person.help"),
             choices=yes_no(N_("claim.confirm_person.yes"), N_("claim.confirm_person.no"))),
    Question("date_of_death", N_("claim.date_of_death.prompt"),
             N_("claim.date_of_death.expect"), N_("claim.date_of_death.help"),
             validator="date_of_death"),
    Question("cause", N_("claim.cause.prompt"), N_("claim.cause.expect"),
             N_("claim.cause.help"), choices=CAUSE_CHOICES),
    Question("heir_name", N_("claim.heir_name.prompt"), N_("full_name.expect"),
             N_("claim.heir_name.help"), validator="name"),
    Question("heir_nik", N_("claim.heir_nik.prompt"), N_("claim.heir_nik.expect"),
             N_("claim.heir_nik.help"), validator="nik"),
    Question("guardian_name", N_("claim.guardian_name.prompt"), N_("full_name.expect"),
             N_("claim.guardian.help"), validator="name"),
    Question("guardian_nik", N_("claim.guardian_nik.prompt"), N_("claim.guardian_nik.expect"),
             N_("claim.guardian.help"), validator="nik"),
    Question("guardian_consent", consents.TEXTS[consents.VERSION][consents.GUARDIAN],
             N_("claim.guardian_consent.expect"), N_("claim.guardian.help"),
             choices=yes_no(N_("consent.yes"), N_("consent.no"))),
    Question("heir_phone", N_("claim.heir_phone.prompt"), N_("phone.expect"), N_("phone.help"),
             validator="phone", accepts_contact=True),
    Question("heir_phone_confirm", N_("claim.heir_phone_confirm.prompt"),
             N_("phone_confirm.expect"), N_("phone.help"), validator="phone",
             choices=yes_no(N_("phone_confirm.yes"), N_("phone_confirm.no"))),
    Question("relationship", N_("claim.relationship.prompt"), N_("claim.relationship.expect"),
             N_("claim.relationship.help"), choices=RELATIONSHIP_CHOICES),
    Question("closer", N_("claim.closer.prompt"), N_("claim.closer.expect"),
             N_("claim.closer.help"), choices=CLOSER_CHOICES),
    Question("document", N_("claim.document.prompt"), N_("claim.document.expect"),
             N_("claim.document.help")),
    Question("bank_name", N_("claim.bank_name.prompt"), N_("claim.bank_name.expect"),
             N_("claim.bank_name.help"), validator="free_text"),
    Question("account_number", N_("claim.account_number.prompt"),
             N_("claim.account_number.expect"), N_("claim.account_number.help")),
    Question("account_holder", N_("claim.account_holder.prompt"), N_("full_name.expect"),
             N_("claim.account_holder.help"), validator="name"),
    Question("summary", N_("claim.summary.prompt"), N_("claim.summary.expect"),
             N_("claim.summary.help"), choices=SUMMARY_CHOICES),
)}


LATER = "later"
"""A document the heir will send later ("nanti")."""


def next_document(data: dict) -> str | None:
    """The next document to ask for: neither sent nor left for later."""
    done = set(data.get("documents", {})) | set(data.get("later", []))
    return next((kind for kind in claims.documents_for(data["relationship"])
                 if kind not in done), None)


def document_params(data: dict) -> dict:
    """Which document is asked, and its place among those the relationship needs."""
    kinds = claims.documents_for(data["relationship"])
    kind = next_document(data)
    return {"document": Msg(claims.DOCUMENTS[kind]), "n": kinds.index(kind) + 1,
            "total": len(kinds)}


def document_error(media: Media | None, inbound: Inbound) -> Err | None:
    """Why this message is not a document we can keep, if it is not."""
    if media is None:
        return Err(N_("claim.document.not_file") if inbound.kind != "text"
                   else N_("claim.document.send_file"))
    if media.refused == "type":
        return Err(N_("claim.document.bad_type"))
    if media.refused == "size":
        return Err(N_("claim.document.too_big"))
    if media.refused == "quota":
        return Err(N_("claim.document.quota"), {"files": CHAT_FILES.most,
                                                "megabytes": CHAT_FILE_BYTES.most // 2**20})
    if media.refused or not media.sha256:
        return Err(N_("claim.document.not_received"))
    return None


ADULT = 18
"""The age at which an heir files alone; younger, a parent or guardian files with them."""


def is_minor(nik: str, today: date) -> bool:
    """Under 18 on ``today``, by the birth date in the NIK."""
    born = nik_birth_date(nik, today)
    if born is None:
        return False
    return (today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            < ADULT)


def heir_is_minor(data: dict, ctx: Context) -> bool:
    return is_minor(data["heir_nik"], ctx.today)


def same_name(a: str, b: str) -> bool:
    return key(a) == key(b)


class ClaimReport(Form):
    name = "claim"
    words = ("klaim", "klaim jkm", "jkm", "lapor meninggal", "meninggal", "meninggal dunia",
             "claim", "report a death", "lapor kematian")
    pausable = True
    continue_label = N_("menu.continue_claim")
    draft_waiting = N_("menu.draft.claim")
    menu = (6, Choice(name, N_("menu.claim"), aliases=("klaim", "meninggal", "claim")))
    edit_expect = N_("claim.edit.expect")

    def __init__(self, labels, rules: Rules, programmes: Programmes | None):
        self.labels = labels
        self.rules = rules
        self.programmes = programmes
        q = QUESTIONS
        self.steps = (
            Step(q["consent"]),
            Step(q["deceased_nik"], label=N_("claim.field.deceased"), forgets=(
                "worker", "masked_name", "person_confirmed", "unknown_confirmed")),
            Step(q["confirm_person"], field="person_confirmed",
                 when=lambda d, _: bool(d.get("worker")),
                 params=lambda d, _: {"name": d["masked_name"]}),
            Step(q["deceased_unknown"], field="unknown_confirmed",
                 when=lambda d, _: not d.get("worker"),
                 params=lambda d, _: {"nik": mask_nik(d["deceased_nik"])}),
            Step(q["date_of_death"], label=N_("claim.field.date_of_death")),
            Step(q["cause"], label=N_("claim.field.cause")),
            Step(q["heir_name"], label=N_("claim.field.heir_name"),
                 forgets=("account_holder",)),  # the account must be in the heir's name
            Step(q["heir_nik"], label=N_("claim.field.heir_nik"),
                 forgets=("guardian_name", "guardian_nik", "guardian_consented")),
            Step(q["guardian_name"], when=heir_is_minor, label=N_("claim.field.guardian_name"),
                 forgets=("guardian_consented", "account_holder")),  # it may be theirs
            Step(q["guardian_nik"], when=heir_is_minor, label=N_("claim.field.guardian_nik")),
            Step(q["guardian_consent"], field="guardian_consented", when=heir_is_minor),
            Step(q["heir_phone"], label=N_("claim.field.heir_phone"), forgets=("phone_other",),
                 confirm=q["heir_phone_confirm"]),
            Step(q["relationship"], label=N_("claim.field.relationship"),
                 forgets=("closer_checked",)),  # another relationship, another order of heirs
            Step(q["closer"], pending=lambda d, _: d.get("closer_checked", 0) < len(
                heirs.groups_before(d["relationship"])),
                 params=lambda d, _: {"group": Msg(heirs.GROUP_NAMES[d.get("closer_checked",
                                                                           0)])}),
            Step(q["document"], pending=lambda d, _: next_document(d) is not None,
                 params=lambda d, _: document_params(d)),
            Step(q["bank_name"], label=N_("claim.field.bank_name")),
            Step(q["account_number"], label=N_("claim.field.account_number")),
            Step(q["account_holder"], label=N_("claim.field.account_holder")),
            Step(q["summary"], params=lambda d, _: self._summary_params(d)),
        )

    async def start(self, s: Session, inbound: Inbound, turn: Turn, ctx: Context) -> None:
        s.flow, s.data = self.name, {}
        self.next(s, turn, ctx)

    def niks_wanted(self, s: Session, text: str, today: date) -> set[str]:
        if s.step == "deceased_nik":
            typed = validate_nik(text, today)
            return set() if isinstance(typed, Err) else {typed.value}
        return set()

    # --- the hooks: what each answer decides --------------------------------------------

    async def on_consent(self, s: Session, choice: Choice, turn: Turn, ctx: Context,
                         inbound: Inbound) -> bool:
        return record_consent(s, choice, turn, ctx, N_("claim.consent.declined"))

    async def on_deceased_nik(self, s: Session, nik: str, turn: Turn, ctx: Context,
                              inbound: Inbound) -> bool:
        """Whose death: a chat that does not hold that registration learns only whether a
        member with this NIK is registered (a masked name to confirm), within the limits;
        never an existing claim, nor when they registered."""
        worker = await ctx.lookup.worker_by_nik(nik)
        if not await proof.holds(ctx, inbound.chat_key, worker) and \
                not await proof.count_nik(ctx, turn, s, inbound.chat_key, keep_draft=True):
            return False
        s.data["deceased_nik"] = nik
        s.data["worker"] = worker.reference if worker else None
        if worker:
            s.data["masked_name"] = claims.masked_name(worker.full_name)
        return True

    async def on_deceased_unknown(self, s: Session, answer: Choice | str, turn: Turn,
                                  ctx: Context, inbound: Inbound) -> bool:
        """A NIK nobody registered: typed again (or the right one typed at once), or the
        report goes on for staff to check (members enrolled on paper before the bot are not
        in it)."""
        if not isinstance(answer, Choice):
            return await self.on_deceased_nik(s, answer, turn, ctx, inbound)
        if answer.value == "retype":
            self.forget(s, "deceased_nik", "worker")
        else:
            s.data["unknown_confirmed"] = True
        return True

    async def on_confirm_person(self, s: Session, choice: Choice, turn: Turn, ctx: Context,
                                inbound: Inbound) -> bool:
        if choice.value == "yes":
            s.data["person_confirmed"] = True
        else:
            self.forget(s, "deceased_nik", "worker", "masked_name")
        return True

    async def on_heir_nik(self, s: Session, nik: str, turn: Turn, ctx: Context,
                          inbound: Inbound) -> bool:
        if nik == s.data["deceased_nik"]:
            turn.say(QUESTIONS["heir_nik"].error(Err(N_("claim.heir_nik.same"))))
            return False
        s.data["heir_nik"] = nik
        return True

    async def on_guardian_nik(self, s: Session, nik: str, turn: Turn, ctx: Context,
                              inbound: Inbound) -> bool:
        """The one filing with a child: an adult, neither the child nor the deceased."""
        problem = N_("claim.guardian_nik.same") if nik in (
            s.data["heir_nik"], s.data["deceased_nik"]) else \
            N_("claim.guardian_nik.minor") if is_minor(nik, ctx.today) else None
        if problem:
            turn.say(QUESTIONS["guardian_nik"].error(Err(problem)))
            return False
        s.data["guardian_nik"] = nik
        return True

    async def on_guardian_consent(self, s: Session, choice: Choice, turn: Turn, ctx: Context,
                                  inbound: Inbound) -> bool:
        """A child's consent alone is not enough (UU PDP): the parent or guardian gives it."""
        if choice.value == "no":
            s.leave_flow()
            turn.say(Reply(N_("claim.guardian.declined"), navigation=True))
            return False
        s.data["guardian_consented"] = ctx.now.isoformat()
        return True

    async def on_closer(self, s: Session, choice: Choice, turn: Turn, ctx: Context,
                        inbound: Inbound) -> bool:
        """Whether an heir of an earlier group in the order of heirs is alive: then it is
        theirs to claim."""
        checked = s.data.get("closer_checked", 0)
        if choice.value == "yes":
            s.leave_flow()
            turn.say(Reply(N_("claim.closer.exists"),
                           {"group": Msg(heirs.GROUP_NAMES[checked])}, navigation=True))
            return False
        s.data["closer_checked"] = checked + 1
        return True

    async def read_document(self, s: Session, inbound: Inbound, text: str,
                            question: Question, ctx: Context) -> Result:
        if inbound.kind == "text" and inbound.media is None and key(text) in LATER_WORDS:
            return Ok(LATER)
        return document_error(inbound.media, inbound) or Ok(inbound.media)

    async def on_document(self, s: Session, media: Media | str, turn: Turn, ctx: Context,
                          inbound: Inbound) -> bool:
        kind = next_document(s.data)
        if media == LATER:
            s.data.setdefault("later", []).append(kind)
            return True
        s.data.setdefault("documents", {})[kind] = media_json(media)
        turn.say(Reply(N_("claim.document.received"), {"document": Msg(claims.DOCUMENTS[kind])}))
        return True

    async def read_account_number(self, s: Session, inbound: Inbound, text: str,
                                  question: Question, ctx: Context) -> Result:
        digits = re.sub(r"[\s.-]", "", text)
        fewest, most = ACCOUNT_DIGITS
        if inbound.kind != "text" or not digits.isascii() or not digits.isdigit():
            return Err(N_("claim.account_number.invalid"))
        if not fewest <= len(digits) <= most:
            return Err(N_("claim.account_number.short") if len(digits) < fewest
                       else N_("claim.account_number.long"),
                       {"count": len(digits), "fewest": fewest, "most": most})
        return Ok(digits)

    async def on_account_holder(self, s: Session, name: str, turn: Turn, ctx: Context,
                                inbound: Inbound) -> bool:
        """In the heir's name; a child's benefit may go to their guardian's account."""
        if not same_name(name, s.data["heir_name"]) and not (
                heir_is_minor(s.data, ctx) and same_name(name, s.data["guardian_name"])):
            turn.say(QUESTIONS["account_holder"].error(Err(
                N_("claim.account_holder.mismatch"), {"heir": s.data["heir_name"]})))
            return False
        s.data["account_holder"] = name
        return True

    async def on_summary(self, s: Session, choice: Choice, turn: Turn, ctx: Context,
                         inbound: Inbound) -> bool:
        """Sent: the claim is filed whatever comes of it (one not covered that day is kept
        for staff to review); a second report of the same death is kept beside the first."""
        data = s.data
        others = await ctx.lookup.open_claims(data["deceased_nik"])
        worker = await ctx.lookup.worker_by_nik(data["deceased_nik"])
        died = date.fromisoformat(data["date_of_death"])
        covered = covered_on(worker, died)
        history = await ctx.lookup.months_covered(worker.reference, died) if worker else None
        estimate = estimate_for(data, worker, died, self._jkk_base(worker), history)
        minor = heir_is_minor(data, ctx)
        needed = claims.documents_for(data["relationship"])
        documents = tuple(StoredDocument(kind, media_of(value))
                          for kind, value in data.get("documents", {}).items()
                          if kind in needed)  # a corrected relationship needs others
        missing = any(kind not in data.get("documents", {}) for kind in needed)
        status = (claims.NOT_COVERED if not covered
                  else claims.DOCUMENTS_INCOMPLETE if missing else claims.SUBMITTED)
        number = await ctx.lookup.next_number(f"JKM-{ctx.today.year}")
        reference = f"JKM-{ctx.today.year}-{number:06d}"
        turn.do(FileClaim(
            reference=reference, deceased_nik=data["deceased_nik"],
            worker_reference=worker.reference if worker else None, status=status,
            status_reason=None if covered else not_covered_reason(worker, died),
            date_of_death=died, cause=data["cause"], heir_name=data["heir_name"],
            heir_nik=data["heir_nik"], heir_phone=data["heir_phone"],
            guardian_name=data["guardian_name"] if minor else None,
            guardian_nik=data["guardian_nik"] if minor else None,
            relationship=data["relationship"], bank_name=data["bank_name"],
            account_number=data["account_number"], account_holder=data["account_holder"],
            estimate=estimate.total, locale=s.locale,
            consent_version=data["consent"]["version"], consented_at=data["consent"]["at"],
            documents=documents))
        s.leave_flow()
        params = {"reference": reference, **entitlement_params(estimate)}
        if others:
            # Another heir reported this death first: both are kept, for staff to resolve.
            deceased = data.get("masked_name") or mask_nik(data["deceased_nik"])
            for other in others:
                turn.do(Notify(other.chat_key, other.locale, (Reply(
                    N_("notice.claim.second_report"),
                    {"reference": other.reference, "deceased": deceased}, navigation=True),)))
            turn.say(Reply(N_("claim.second_report"), {"reference": reference,
                                                        "deceased": deceased},
                           navigation=True))
            return False
        if not covered:
            turn.say(Reply(N_("claim.not_covered"), params, navigation=True))
            return False
        turn.say(Reply(N_("claim.submitted"), params))
        if estimate.work_accident:
            turn.say(Reply(N_("claim.work_accident")))
        if missing:
            later = [k for k in claims.documents_for(data["relationship"])
                     if k not in data.get("documents", {})]
            turn.say(Reply(N_("claim.documents_missing"), {
                "documents": Lines(tuple(Msg(N_("claim.document.item"),
                                             {"document": Msg(claims.DOCUMENTS[k])})
                                         for k in later)),
                "reference": reference}, navigation=True))
        else:
            turn.say(Reply(N_("claim.next_steps"), {"reference": reference}, navigation=True))
        return False

    def _jkk_base(self, worker: WorkerInfo | None) -> int:
        """The income a work-accident death is paid on: the base the funder's premium insures
        for a sponsored worker (not the income they declared), else the declared income."""
        programme = self.programmes.by_id(worker.programme_id) \
            if worker and worker.programme_id and self.programmes else None
        if programme is not None:
            return self.rules.jkk_base(programme.monthly_contribution)
        return worker.monthly_income if worker else 0

    def _summary_params(self, data: dict) -> dict:
        sent = data.get("documents", {})
        return {
            "deceased": data.get("masked_name") or mask_nik(data["deceased_nik"]),
            "date_of_death": date.fromisoformat(data["date_of_death"]),
            "cause": Msg(CAUSE_TEXT[data["cause"]]), "heir_name": data["heir_name"],
            "heir_nik": mask_nik(data["heir_nik"]), "heir_phone": data["heir_phone"],
            "guardian": Msg(N_("claim.summary.guardian"), {
                "name": data["guardian_name"], "nik": mask_nik(data["guardian_nik"])})
            if data.get("guardian_consented") else "",
            "relationship": Msg(RELATIONSHIP_TEXT[data["relationship"]]),
            "documents": Lines(tuple(Msg(
                N_("claim.document.sent") if kind in sent else N_("claim.document.later"),
                {"document": Msg(claims.DOCUMENTS[kind])})
                for kind in claims.documents_for(data["relationship"]))),
            "bank_name": data["bank_name"], "account_number": data["account_number"],
            "account_holder": data["account_holder"],
        }


CAUSE_TEXT = {c.value: c.label for c in CAUSE_CHOICES}
RELATIONSHIP_TEXT = {c.value: c.label for c in RELATIONSHIP_CHOICES}
STATUS_TEXT = {
    claims.DOCUMENTS_INCOMPLETE: N_("claim_status.documents_incomplete"),
    claims.SUBMITTED: N_("claim_status.submitted"),
    claims.IN_REVIEW: N_("claim_status.in_review"),
    claims.MORE_DOCUMENTS: N_("claim_status.more_documents"),
    claims.APPROVED: N_("claim_status.approved"),
    claims.REJECTED: N_("claim_status.rejected"),
    claims.PAID: N_("claim_status.paid"),
    claims.NOT_COVERED: N_("claim_status.not_covered"),
}


def not_covered_reason(worker: WorkerInfo | None, died: date) -> str:
    """Why a death was not covered, for staff: no such member; a death before the worker
    registered in the bot (they may be a member enrolled on paper before it); or cover not in
    force that day."""
    if worker is None:
        return claims.NOT_REGISTERED
    return claims.BEFORE_REGISTRATION if died < worker.registered_on else claims.NOT_ACTIVE


def covered_on(worker: WorkerInfo | None, day: date) -> bool:
    """Whether the worker was an active member on ``day``: registered by BPJS
    Ketenagakerjaan (a KPJ; every imported member has one) and within their cover. Enrolled
    but not yet registered by the branch, nothing is payable yet."""
    if worker is None or worker.coverage_start is None or worker.coverage_end is None \
            or worker.kpj is None:
        return False
    held = worker.status in enrolment.HOLDING or worker.status == enrolment.LAPSED
    return held and worker.coverage_start <= day <= worker.coverage_end


def estimate_for(data: dict, worker: WorkerInfo | None, died: date, jkk_base: int,
                 history: int | None = None) -> Entitlement:
    """``history``: the months of cover the member's memberships add up to, across cycles and
    funders (``Lookup.months_covered``); None where none are kept: from the cover's start."""
    if data["relationship"] == "other":
        return funeral_only()
    start = worker.coverage_start if worker and worker.coverage_start else died
    months = history if history is not None else \
        (died.year - start.year) * 12 + died.month - start.month
    return entitlement(data["cause"], months, jkk_base)


def entitlement_params(estimate: Entitlement) -> dict:
    return {"total": Money(estimate.total), "lump_sum": Money(estimate.lump_sum),
            "periodic": Money(estimate.periodic), "funeral": Money(estimate.funeral),
            "scholarship": Msg(N_("claim.scholarship"), {"amount": Money(estimate.scholarship)})
            if estimate.scholarship else Msg(N_("claim.no_scholarship"))}


def media_json(media: Media) -> dict:
    return {"mime_type": media.mime_type, "size": media.size, "sha256": media.sha256,
            "path": media.path, "file_name": media.file_name}


def media_of(value: dict) -> Media:
    return Media(**value)
