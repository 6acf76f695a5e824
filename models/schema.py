"""The tables as SQLAlchemy Core sees them, and what every part of the store shares: the
worker columns read back, UTC times, the dialects' INSERTs, the errors a batch retries on."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, select, tuple_, update

from bot import claims, enrolment, rights
from bot.messages import WorkerInfo
from bot.proof import ProofInfo
from bot.quiet_hours import WIB
from models.tables import (
    AppSecret,
    Claim,
    ClaimDocument,
    Consent,
    ConsoleLink,
    ConsoleSession,
    Contact,
    Conversation,
    DtsenEntry,
    EnrolmentBatch,
    EnrolmentBatchWorker,
    InboundMessage,
    JobLease,
    LimitEvent,
    Membership,
    NumberSeries,
    Outbox,
    OutgoingMessage,
    ProgrammePlace,
    ProofRequest,
    RightsRequest,
    SendBudget,
    SendPace,
    Staff,
    StaffAction,
    Worker,
    WorkerChat,
)

conversation = Conversation.__table__
inbound = InboundMessage.__table__
worker = Worker.__table__
place = ProgrammePlace.__table__
outbox = Outbox.__table__
dtsen = DtsenEntry.__table__
staff = Staff.__table__
staff_action = StaffAction.__table__
app_secret = AppSecret.__table__
job_lease = JobLease.__table__
send_budget = SendBudget.__table__
send_pace = SendPace.__table__
claim = Claim.__table__
claim_document = ClaimDocument.__table__
sequence = NumberSeries.__table__
contact = Contact.__table__
outgoing = OutgoingMessage.__table__
worker_chat = WorkerChat.__table__
proof_request = ProofRequest.__table__
limit_event = LimitEvent.__table__
consent = Consent.__table__
rights_request = RightsRequest.__table__
membership = Membership.__table__
batch = EnrolmentBatch.__table__
batch_worker = EnrolmentBatchWorker.__table__
console_link = ConsoleLink.__table__
console_session = ConsoleSession.__table__

NOTICE_LEASE = timedelta(minutes=5)
"""How long a process may take to send a notice before another may send it instead."""


OPTED_OUT_ERROR = 21610
"""Twilio: the recipient replied STOP (or blocked the number); sending again is refused."""
WINDOW_CLOSED_ERROR = 63016
"""Twilio: free text outside WhatsApp's 24 hours; only a template may be sent."""
FINAL_STATES = frozenset({"delivered", "read", "failed", "undelivered"})
"""Reports after which nothing more happens to a message."""


@dataclass(frozen=True)
class ContactInfo:
    last_inbound_at: datetime | None
    opted_out: bool

    def within(self, window: timedelta, now: datetime) -> bool:
        """Whether the chat wrote within ``window`` (WhatsApp: 24 hours) of ``now``."""
        return self.last_inbound_at is not None and now - self.last_inbound_at < window


class StaleChange(Exception):
    """A status change found the worker already changed by someone else: retry the batch."""


class NoPlace(Exception):
    """A place was taken that the programme did not have: retry the batch (never seen unless
    a step took a place without asking ``free_places`` first)."""

# Statements whose IN lists are passed at execution: one built with its values would keep them
# (NIKs among them) alive in SQLAlchemy's statement cache.
SEEN = select(inbound.c.external_id).where(
    inbound.c.channel == bindparam("channel"),
    inbound.c.external_id.in_(bindparam("ids", expanding=True)))
SESSIONS = select(conversation.c.chat_key, conversation.c.state).where(
    conversation.c.chat_key.in_(bindparam("keys", expanding=True)))
DELIVERED = update(inbound).where(
    tuple_(inbound.c.channel, inbound.c.external_id).in_(bindparam("keys", expanding=True))
).values(replies=None, delivered=True)
NOTICES_SENT = update(outbox).where(outbox.c.id.in_(bindparam("ids", expanding=True))).values(
    replies="[]", delivered=True)


@dataclass(frozen=True)
class Pending:
    """Replies stored but not yet confirmed as sent."""

    channel: str
    external_id: str
    chat_key: str
    replies: list[dict]


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def dialect_insert(postgres: bool, table):
    """The dialect's INSERT, which has ``on_conflict_do_update`` on both databases."""
    if postgres:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def insert_ignoring(postgres: bool, table):
    """INSERT that leaves an existing row alone (another process may add it first)."""
    if postgres:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


DIED_ON = (select(func.min(claim.c.date_of_death))
           .where(claim.c.worker_reference == worker.c.reference,
                  claim.c.status != claims.REJECTED)
           .correlate(worker).scalar_subquery().label("died_on"))
"""The date of death an heir reported for a worker (a claim not rejected), if any."""
ALIVE = ~(select(claim.c.id).where(claim.c.worker_reference == worker.c.reference,
                                   claim.c.status != claims.REJECTED)
          .correlate(worker).exists())
"""No death reported for the worker: a condition for reminders, broadcasts, the waiting line
and the export to BPJS Ketenagakerjaan."""
UNRESTRICTED = ~(select(rights_request.c.id).where(
    rights_request.c.subject == worker.c.reference, rights_request.c.kind == rights.CORRECT,
    rights_request.c.state == rights.OPEN).correlate(worker).exists())
"""No correction of the worker's data waiting for a verifier (UU PDP: the record is restricted
meanwhile): a condition for broadcasts, reminders and the export."""
WORKER_COLUMNS = (worker.c.reference, worker.c.nik, worker.c.full_name, worker.c.status,
                  worker.c.created_at, worker.c.birth_date, worker.c.chat_key, worker.c.locale,
                  worker.c.programme_id, worker.c.dtsen_desil, worker.c.status_reason,
                  worker.c.coverage_start, worker.c.coverage_end, worker.c.kpj,
                  worker.c.queued_at, worker.c.queue_ticket, worker.c.monthly_income,
                  worker.c.phone, worker.c.dtsen_ok, worker.c.occupation,
                  worker.c.kelurahan, worker.c.kecamatan, DIED_ON)


def worker_info():
    return select(*WORKER_COLUMNS)


HEAD_OF_LINE = select(func.min(worker.c.queue_ticket)).where(
    worker.c.programme_id == bindparam("programme"), worker.c.status == enrolment.WAITING_LIST)
LEFT_THE_LINE = select(func.count()).where(
    worker.c.programme_id == bindparam("programme"),
    worker.c.status.in_([s for s in enrolment.STATUSES if s != enrolment.WAITING_LIST]),
    worker.c.queue_ticket > bindparam("head"), worker.c.queue_ticket < bindparam("mine"))
"""Workers whose ticket lies between the head of the line and someone: those who were
promoted have tickets before the head (the line is served in order), so these are the few
who left from the middle. Each status is a short range of ``ix_worker_queue``."""

WORKERS_BY_NIK = worker_info().where(
    worker.c.nik_index.in_(bindparam("indexes", expanding=True)))
"""Workers by the blind indexes of their NIKs (``models.vault``)."""


def info_of(row) -> WorkerInfo:
    return WorkerInfo(reference=row["reference"], nik=row["nik"], full_name=row["full_name"],
                      status=row["status"],
                      registered_on=as_utc(row["created_at"]).astimezone(WIB).date(),
                      birth_date=row["birth_date"], chat_key=row["chat_key"],
                      locale=row["locale"], programme_id=row["programme_id"],
                      dtsen_desil=row["dtsen_desil"], reason=row["status_reason"],
                      coverage_start=row["coverage_start"], coverage_end=row["coverage_end"],
                      kpj=row["kpj"],
                      queued_at=as_utc(row["queued_at"]) if row["queued_at"] else None,
                      queue_ticket=row["queue_ticket"], monthly_income=row["monthly_income"],
                      phone=row["phone"], died_on=row.get("died_on"),
                      dtsen_ok=row["dtsen_ok"], occupation=row.get("occupation"),
                      kelurahan=row.get("kelurahan") or "", kecamatan=row.get("kecamatan") or "")


def proofs_query():
    return select(proof_request.c.id, proof_request.c.purpose, proof_request.c.subject,
                  proof_request.c.chat_key, proof_request.c.locale, proof_request.c.method,
                  proof_request.c.state, proof_request.c.tries, proof_request.c.created_at,
                  proof_request.c.expires_at, proof_request.c.reference)


def proof_of(row) -> ProofInfo:
    return ProofInfo(row.id, row.purpose, row.subject, row.chat_key, row.locale, row.method,
                     row.state, row.tries, as_utc(row.created_at), as_utc(row.expires_at),
                     row.reference)
