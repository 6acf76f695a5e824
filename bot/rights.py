"""A worker's rights over their data (UU PDP 27/2022), as "Data saya" offers them: see it,
take a copy, correct it, withdraw consent and have it erased. Every request is stored with
its deadline (3 × 24 hours); seeing and copying are done at once, an address or occupation
is corrected at once, a name, birth date or NIK only after a verifier compared the KTP, and
an erasure at once, unless an heir reported the worker's death (then staff decide, as the
claim needs the registration).

While a correction waits, the record is restricted: left out of exports and broadcasts.
Pure: the types the flow, the staff desk and the store share.
"""

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.i18n import N_
from bot.messages import Media, WorkerInfo

DEADLINE = timedelta(hours=72)
"""UU PDP: a request is answered within 3 × 24 hours."""

SEE, COPY, CORRECT, ERASE = "see", "copy", "correct", "erase"
OPEN, DONE, REFUSED = "open", "done", "refused"

VERIFIED = ("full_name", "birth_date", "nik")
"""Corrected after a verifier compared the KTP photo: the cover and a claim rest on them."""

REVEALED = "nik.revealed"
"""The staff record's action for a full NIK shown to staff (with ``why``)."""
SERIES = "rights"
"""Request numbers people read out: HAK-2026-000001."""

KIND_LABELS = {SEE: N_("rights.kind.see"), COPY: N_("rights.kind.copy"),
               CORRECT: N_("rights.kind.correct"), ERASE: N_("rights.kind.erase")}
FIELD_LABELS = {"full_name": N_("rights.field.full_name"),
                "birth_date": N_("rights.field.birth_date"), "nik": N_("rights.field.nik")}


def request_number(year: int, n: int) -> str:
    return f"HAK-{year}-{n:06d}"


@dataclass(frozen=True)
class RequestRight:
    """Effect: a request under UU PDP, stored with its deadline: ``done`` at once (seen,
    copied, corrected, erased) or ``open`` for staff (a correction with the KTP photo, an
    erasure where a death was reported)."""

    number: str
    reference: str
    kind: str
    chat_key: str
    locale: str
    deadline: datetime
    state: str = OPEN
    field: str | None = None
    value: str | None = None
    """The corrected value asked for (kept until decided, then cleared)."""
    document: Media | None = None
    """The KTP photo a verifier compares (kept until decided)."""


@dataclass(frozen=True)
class CorrectWorker:
    """Effect: fields of a registration corrected (recorded by name, not by value)."""

    reference: str
    changes: dict[str, str | None]
    actor: str


@dataclass(frozen=True)
class EraseWorker:
    """Effect: a registration erased on its worker's request ``number``: the worker, their
    links, consents, proofs, reminders and pending broadcast messages; the place they held
    is freed. The staff record keeps the reference and the request, nothing of the person."""

    reference: str
    number: str
    actor: str


@dataclass(frozen=True)
class DecideRight:
    """Effect: staff decided an open request: a correction applied (``approved``) or refused
    with ``reason``; an erasure carried out (with ``EraseWorker``) or refused."""

    number: str
    approved: bool
    actor: str
    reason: str | None = None


@dataclass(frozen=True)
class RevealNik:
    """Effect: a staff member saw a full NIK (staff see them masked), recorded with who and
    why on each registration or claim it belongs to; the worker reads it under "Data saya"."""

    subjects: tuple[str, ...]
    actor: str
    why: str


@dataclass(frozen=True)
class RequestInfo:
    """A stored request."""

    number: str
    reference: str
    kind: str
    state: str
    chat_key: str
    locale: str
    created_at: datetime
    deadline: datetime
    field: str | None = None
    value: str | None = None
    document: Media | None = None
    done_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Consented:
    purpose: str
    given: bool
    version: str
    locale: str
    channel: str
    at: datetime


@dataclass(frozen=True)
class Filed:
    """A claim the worker filed as an heir."""

    reference: str
    status: str
    filed_at: datetime


@dataclass(frozen=True)
class Event:
    """An entry of the staff record on the worker's registration: what, when, and who (the
    worker themselves, the system, or a staff member by name or role)."""

    action: str
    at: datetime
    by: str
    """``you``, ``system`` or ``staff``."""
    staff: str | None = None
    why: str | None = None
    """Why a staff member saw the full NIK (``nik.revealed``)."""


@dataclass(frozen=True)
class PersonalData:
    """Everything stored about one registration, for its worker to see and copy."""

    worker: WorkerInfo
    registered_at: datetime
    occupation: str
    occupation_other: str | None
    kelurahan: str
    kecamatan: str
    chats: tuple[tuple[str, datetime], ...] = ()
    consents: tuple[Consented, ...] = ()
    claims: tuple[Filed, ...] = ()
    history: tuple[Event, ...] = ()
    requests: tuple[RequestInfo, ...] = ()


def as_json(data: PersonalData, now: datetime) -> dict[str, Any]:
    """The copy for a machine: every field by name, dates and times in ISO 8601 (UTC)."""
    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if v is not None}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    worker = asdict(data.worker)
    registration = {k: worker[k] for k in (
        "reference", "nik", "full_name", "birth_date", "phone", "status", "programme_id",
        "coverage_start", "coverage_end", "kpj", "dtsen_desil", "reason", "died_on")}
    registration |= {"occupation": data.occupation, "occupation_other": data.occupation_other,
                     "kelurahan": data.kelurahan, "kecamatan": data.kecamatan,
                     "registered_at": data.registered_at, "language": worker["locale"],
                     "dtsen_matching_allowed": worker["dtsen_ok"],
                     "monthly_income": worker["monthly_income"]}
    return plain({
        "made_at": now, "law": "UU 27/2022 tentang Pelindungan Data Pribadi",
        "registration": registration,
        "chats": [{"channel": chat.split(":", 1)[0], "since": since}
                  for chat, since in data.chats],
        "consents": [asdict(c) for c in data.consents],
        "claims_filed": [asdict(c) for c in data.claims],
        "history": [asdict(e) for e in data.history],
        "requests": [{k: v for k, v in asdict(r).items() if k not in ("chat_key", "document")}
                     for r in data.requests]})


def actor_kind(actor: str, own_chats: set[str]) -> str:
    """Who an entry of the record was made by, as the worker is told."""
    if actor in own_chats:
        return "you"
    if actor.startswith("system") or actor in ("cli", "sweep") or not actor:
        return "system"
    return "staff"


def overdue(request: RequestInfo, now: datetime) -> bool:
    return request.state == OPEN and request.deadline < now
