"""Death-benefit claims: their statuses, the documents each needs, and what the heir is told.

A claim is never dropped: a death reported for someone not covered on that day is kept as
``not_covered`` for staff to review, and one waiting for documents as ``documents_incomplete``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from bot.i18n import N_
from bot.messages import Media

DOCUMENTS_INCOMPLETE = "documents_incomplete"
SUBMITTED = "submitted"
"""Complete: BPJS Ketenagakerjaan has 3 working days to pay from here."""
IN_REVIEW = "in_review"
MORE_DOCUMENTS = "more_documents"
APPROVED = "approved"
REJECTED = "rejected"
PAID = "paid"
NOT_COVERED = "not_covered"
STATUSES = (DOCUMENTS_INCOMPLETE, SUBMITTED, IN_REVIEW, MORE_DOCUMENTS, APPROVED, REJECTED,
            PAID, NOT_COVERED)
OPEN = frozenset({DOCUMENTS_INCOMPLETE, SUBMITTED, IN_REVIEW, MORE_DOCUMENTS, APPROVED,
                  NOT_COVERED})
WAITING_FOR_DOCUMENTS = frozenset({DOCUMENTS_INCOMPLETE, MORE_DOCUMENTS})
NOT_REGISTERED, BEFORE_REGISTRATION, NOT_ACTIVE = (
    "not_registered", "before_registration", "not_active")
NOT_COVERED_REASONS = {
    NOT_REGISTERED: N_("staff.claims.reason.not_registered"),
    BEFORE_REGISTRATION: N_("staff.claims.reason.before_registration"),
    NOT_ACTIVE: N_("staff.claims.reason.not_active"),
}
"""Why a claim was filed as not covered, said to staff (other reasons are staff's words)."""

DOCUMENTS = {
    "death_certificate": N_("document.death_certificate"),
    "kk": N_("document.kk"),
    "ktp_deceased": N_("document.ktp_deceased"),
    "ktp_heir": N_("document.ktp_heir"),
    "heir_letter": N_("document.heir_letter"),
    "marriage_book": N_("document.marriage_book"),
    "savings_book": N_("document.savings_book"),
}
"""Every document a claim may need, in the order they are asked for."""


PAYMENT_WORKING_DAYS = 3
LATE_PERCENT_A_DAY = 1
"""Paid late, BPJS Ketenagakerjaan owes the heir 1% of the benefit for each day past the
deadline (shared/domain.md)."""


@lru_cache(maxsize=8)
def public_holidays(year: int) -> frozenset[date]:
    """Indonesia's national public holidays of ``year`` (the ``holidays`` package, which
    follows the government's decrees; the Islamic ones of years not yet decreed are its
    estimates). Collective leave (cuti bersama) is not among them."""
    import holidays

    return frozenset(holidays.country_holidays("ID", years=year))


def working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def add_working_days(day: date, days: int) -> date:
    """``days`` working days after ``day``: Monday to Friday, public holidays not counted."""
    while days:
        day += timedelta(days=1)
        if working_day(day):
            days -= 1
    return day


def documents_for(relationship: str) -> tuple[str, ...]:
    """The documents this heir sends: the marriage book only from a widow or widower."""
    return tuple(kind for kind in DOCUMENTS if kind != "marriage_book" or relationship == "spouse")


def missing(relationship: str, documents: Mapping[str, str]) -> tuple[str, ...]:
    """The documents an heir of this relationship still has to send, given the ones sent
    (kind → status): those never sent, and those staff rejected."""
    return tuple(kind for kind in documents_for(relationship)
                 if documents.get(kind) in (None, "rejected"))


def masked_name(name: str) -> str:
    """``B**** S*****``: enough for someone who knew them to recognise, nothing for others."""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())


@dataclass(frozen=True)
class ClaimInfo:
    """What the engine may know of a stored claim."""

    reference: str
    deceased_nik: str
    status: str
    heir_nik: str
    relationship: str
    chat_key: str
    locale: str
    created_at: datetime
    date_of_death: date
    estimate: int
    reason: str | None = None
    documents: dict[str, str] = field(default_factory=dict)
    """Kind → ``received``/``accepted``/``rejected`` for the documents sent so far."""
    heir_name: str = ""
    cause: str = ""
    complete_at: datetime | None = None
    files: dict[str, Media] = field(default_factory=dict)
    """Kind → the stored file, for staff to look at."""
    heir_phone: str = ""
    others: tuple[str, ...] = ()
    """Other reports of the same death not rejected (another heir's): staff resolve them
    before any is approved."""

    def deadline(self) -> date | None:
        """BPJS Ketenagakerjaan pays within 3 working days of a complete application, counted
        from the day the last document came (the claim file then goes to the branch)."""
        if self.complete_at is None:
            return None
        return add_working_days(self.complete_at.date(), PAYMENT_WORKING_DAYS)

    def overdue(self, today: date) -> bool:
        deadline = self.deadline()
        return bool(deadline and today > deadline and self.status in OPEN - {NOT_COVERED})

    def late_amount(self, today: date) -> int:
        """What the heir is owed for the days past the deadline (0 when not overdue): 1% of
        the benefit estimated, a day."""
        if not self.overdue(today):
            return 0
        return self.estimate * LATE_PERCENT_A_DAY * (today - self.deadline()).days // 100

    def missing(self) -> tuple[str, ...]:
        """The documents still to send (or to send again, after a rejection)."""
        return missing(self.relationship, self.documents)
