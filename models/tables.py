"""The tables. Times are stored in UTC."""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    true,
)
from sqlmodel import Field, SQLModel

from models.vault import Sealed, SealedBytes, index_of


def _utc(**kwargs) -> Column:
    return Column(DateTime(timezone=True), **kwargs)


class Conversation(SQLModel, table=True):
    """One chat's session (see ``bot.session.Session``) as JSON, saved after every message."""

    __tablename__ = "conversation"
    chat_key: str = Field(primary_key=True, max_length=100)
    state: str = Field(sa_column=Column(Sealed("conversation.state"), nullable=False))
    """Sealed: a draft holds the answers given so far (a NIK, a birth date)."""
    updated_at: datetime = Field(sa_column=_utc(nullable=False, index=True))


class InboundMessage(SQLModel, table=True):
    """The journal of messages: one row per channel message id, so a message delivered twice
    is handled once. A message is stored here first (``message``), then handled with the
    others of its chat in their order, by whichever process takes the chat; ``replies`` holds
    the rendered replies until they are delivered, so a crash between storing and sending
    loses nothing; it is cleared once they are sent."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_inbound_channel_id"),
                      Index("ix_inbound_message_unhandled", "handled", "chat_key"))
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    external_id: str = Field(max_length=100)
    chat_key: str = Field(max_length=100)
    received_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    sequence: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """The channel's order (Telegram's ``update_id``); None: the order stored (``id``)."""
    message: str | None = Field(default=None, sa_column=Column(
        Sealed("inbound_message.message"), nullable=True))
    """The message as received (``Inbound`` as JSON) until it is handled. Sealed: a user
    types their NIK."""
    handled: bool = Field(default=True, sa_column=Column(Boolean, nullable=False,
                                                         server_default=true()))
    replies: str | None = Field(default=None, sa_column=Column(
        Sealed("inbound_message.replies"), nullable=True))
    """Sealed: a reply may show a NIK (a summary, "Data saya")."""
    delivered: bool = Field(default=False, index=True)
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    """The replies are being sent by a process until then; past it, another may send them."""
    lease_holder: str | None = Field(default=None, max_length=60)
    """That process (``INSTANCE``): started again, it sends them at once."""


class Worker(SQLModel, table=True):
    """An informal worker who registered through the chat, and where their cover stands:
    ``status`` is one of ``bot.enrolment.STATUSES``."""

    __tablename__ = "worker"
    __table_args__ = (Index("ix_worker_queue", "programme_id", "status", "queue_ticket"),
                      Index("uq_worker_kpj", "kpj", unique=True),
                      Index("uq_worker_nik_index", "nik_index", unique=True))
    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, unique=True)
    nik: str = Field(sa_column=Column(Sealed("worker.nik"), nullable=False))
    """Sealed (``models.vault``); found by ``nik_index``."""
    nik_index: bytes | None = Field(default=None, sa_column=Column(
        LargeBinary(16), default=index_of("nik")))
    """The NIK's blind index: equal NIKs, equal index; one registration per NIK."""
    full_name: str = Field(max_length=80)
    birth_date: date = Field(sa_column=Column(Sealed("worker.birth_date", as_date=True),
                                              nullable=False))
    phone: str = Field(sa_column=Column(Sealed("worker.phone"), nullable=False))
    occupation: str = Field(max_length=40)
    occupation_other: str | None = Field(default=None, max_length=60)
    kelurahan: str = Field(max_length=60)
    kecamatan: str = Field(max_length=60)
    monthly_income: int = Field(sa_type=BigInteger)
    status: str = Field(max_length=30, index=True)
    channel: str = Field(max_length=20)
    chat_key: str = Field(max_length=100, index=True)
    locale: str = Field(max_length=5)
    consent_version: str = Field(max_length=20)
    consented_at: datetime = Field(sa_column=_utc(nullable=False))
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    programme_id: str | None = Field(default=None, max_length=40)
    """The sponsored programme of the worker's domicile; None: none there (self-paid BPU)."""
    dtsen_desil: int | None = None
    """The desil DTSEN gave at registration; None: not found (or no programme to check for)."""
    status_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """Why staff rejected or ended the registration, shown to the worker as written."""
    queued_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    """When the worker joined the waiting list."""
    queue_ticket: int | None = Field(default=None, sa_type=BigInteger)
    """The worker's number in the programme's line, given once on joining it: the line's
    order, and (with ``programme_place``) their position without counting the line."""
    coverage_start: date | None = None
    coverage_end: date | None = None
    kpj: str | None = Field(default=None, max_length=11)
    """The BPJS Ketenagakerjaan membership number, once the branch has registered them."""
    dtsen_ok: bool = Field(default=True, sa_column=Column(
        Boolean, nullable=False, server_default=true()))
    """Consent to matching the NIK with DTSEN; without it staff check the worker instead."""
    messages_ok: bool = Field(default=True, sa_column=Column(
        Boolean, nullable=False, server_default=true()))
    """Consent to the messages the bot starts on its own (reminders, broadcasts); the news of
    the worker's own registration is sent either way."""


class Staff(SQLModel, table=True):
    """Someone allowed to use the staff commands, by their chat account."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("channel", "chat_id", name="uq_staff_account"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    chat_id: str = Field(max_length=64)
    name: str | None = Field(default=None, max_length=80)
    role: str = Field(max_length=20)
    added_at: datetime = Field(sa_column=_utc(nullable=False))
    area: str | None = Field(default=None, max_length=100)
    """A verifier's kecamatan or kelurahan (``bot.areas``): they see and decide only its
    registrations; None: all."""
    username: str | None = Field(default=None, max_length=64)
    """A Telegram member's username (lower case, no ``@``), typed to sign in to the console;
    the link still goes to the chat id."""


class StaffAction(SQLModel, table=True):
    """The record of every staff action: who, what, when (and on whom)."""

    __tablename__ = "staff_action"
    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=40)
    subject: str | None = Field(default=None, max_length=100)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(sa_column=_utc(nullable=False, index=True))


class DtsenEntry(SQLModel, table=True):
    """One person of the city's DTSEN extract, found by a keyed hash of their NIK: the raw NIK
    (and KK number) of people who never registered is not kept."""

    __tablename__ = "dtsen_entry"
    nik_hash: bytes = Field(sa_column=Column(LargeBinary(32), primary_key=True))
    kk_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False, index=True))
    desil: int
    address: str = Field(max_length=200)
    updated_at: datetime = Field(sa_column=_utc(nullable=False))


class ProgrammePlace(SQLModel, table=True):
    """How many of a programme's places are taken (workers enrolled or active). Enrolling
    takes a place with a conditional update (``taken < quota``) on this one row, which both
    databases serialise, so no two confirmations can take the last place."""

    __tablename__ = "programme_place"
    programme_id: str = Field(primary_key=True, max_length=40)
    taken: int = 0
    waiting: int = 0
    """How many are in the programme's waiting list."""
    tickets: int = Field(default=0, sa_type=BigInteger)
    """The last waiting-list ticket given."""


class Outbox(SQLModel, table=True):
    """Messages nobody's message asked for (a worker told of a staff decision, a card after
    KPJ import), stored with the change that caused them and sent by whichever process holds
    the lease; a lease that runs out (a crash) lets another send it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_held_chat_key", "held", "chat_key"),)
    id: str = Field(primary_key=True, max_length=32)
    channel: str = Field(max_length=20)
    chat_key: str = Field(max_length=100)
    replies: str = Field(sa_column=Column(Sealed("outbox.replies"), nullable=False))
    created_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    delivered: bool = Field(default=False, index=True)
    held: bool = Field(default=False)
    """Waiting for the chat to write again: a WhatsApp notice past the 24 hours, with no
    template to carry it."""


class AppSecret(SQLModel, table=True):
    """Secrets the bot makes for itself on first use (the card-signing key), so every
    process sharing the database signs and checks alike."""

    __tablename__ = "app_secret"
    name: str = Field(primary_key=True, max_length=40)
    value: bytes = Field(sa_column=Column(SealedBytes("app_secret.value"), nullable=False))
    """Sealed under the data keys, which are not in the database."""


class JobLease(SQLModel, table=True):
    """Upkeep that one process at a time does (the sweep, lapses, reminders, retention): the
    process holding it, until when; past that, another takes it."""

    __tablename__ = "job_lease"
    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=40)
    until: datetime = Field(sa_column=_utc(nullable=False))


class SendBudget(SQLModel, table=True):
    """Each channel's schedule of sends, shared by the processes (``handlers.pacing``): the
    time (seconds since the epoch) up to which its slots are booked."""

    __tablename__ = "send_budget"
    channel: str = Field(primary_key=True, max_length=20)
    next_at: float


class SendPace(SQLModel, table=True):
    """When each chat may next be sent a message (Telegram: one a second per chat), shared
    by the processes; a row is deleted about a minute after its time
    (``models.send_budget.FORGET_EVERY_S``)."""

    __tablename__ = "send_pace"
    chat_key: str = Field(primary_key=True, max_length=100)
    next_at: float = Field(index=True)


class Claim(SQLModel, table=True):
    """A death reported by an heir, and the JKM (or JKK) claim that follows: one per deceased
    worker. ``status`` is one of ``bot.claims.STATUSES``."""

    __tablename__ = "claim"
    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, unique=True)
    deceased_nik: str = Field(sa_column=Column(Sealed("claim.deceased_nik"), nullable=False))
    deceased_nik_index: bytes | None = Field(default=None, sa_column=Column(
        LargeBinary(16), index=True, default=index_of("deceased_nik")))
    """Not unique: a second heir's report of the same death is kept beside the first, for
    staff to resolve, and a rejected claim never blocks a new one."""
    worker_reference: str | None = Field(default=None, max_length=20, index=True)
    """The deceased's registration, when there is one."""
    status: str = Field(max_length=30, index=True)
    status_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    date_of_death: date
    cause: str = Field(max_length=20)
    heir_name: str = Field(max_length=80)
    heir_nik: str = Field(sa_column=Column(Sealed("claim.heir_nik"), nullable=False))
    heir_nik_index: bytes | None = Field(default=None, sa_column=Column(
        LargeBinary(16), index=True, default=index_of("heir_nik")))
    heir_phone: str = Field(sa_column=Column(Sealed("claim.heir_phone"), nullable=False))
    relationship: str = Field(max_length=20)
    bank_name: str = Field(max_length=60)
    account_number: str = Field(sa_column=Column(Sealed("claim.account_number"),
                                                 nullable=False))
    account_holder: str = Field(max_length=80)
    guardian_name: str | None = Field(default=None, max_length=80)
    """The parent or guardian who filed with an heir under 18, and gave the consent."""
    guardian_nik: str | None = Field(default=None, sa_column=Column(
        Sealed("claim.guardian_nik"), nullable=True))
    estimate: int = Field(sa_type=BigInteger)
    """The lump sums the heir was told to expect (the scholarship comes on top, by year)."""
    channel: str = Field(max_length=20)
    chat_key: str = Field(max_length=100, index=True)
    locale: str = Field(max_length=5)
    consent_version: str = Field(max_length=20)
    consented_at: datetime = Field(sa_column=_utc(nullable=False))
    created_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    complete_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    """When the last document came: BPJS Ketenagakerjaan must pay within 3 working days."""
    changed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    """When the claim or its documents last changed: reminders of missing documents count
    from here."""


class ClaimDocument(SQLModel, table=True):
    """One document of a claim (a photo or PDF), stored content-addressed under STORAGE_DIR."""

    __tablename__ = "claim_document"
    __table_args__ = (UniqueConstraint("claim_id", "kind", name="uq_claim_document_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    kind: str = Field(max_length=30)
    status: str = Field(max_length=20)
    """``received``, ``accepted`` or ``rejected`` (with the reason)."""
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    path: str = Field(max_length=200, index=True)
    sha256: str = Field(max_length=64)
    mime_type: str = Field(max_length=60)
    size: int = Field(sa_type=BigInteger)
    received_at: datetime = Field(sa_column=_utc(nullable=False))


class NumberSeries(SQLModel, table=True):
    """Counters for numbers people read out (``JKM-2026-000123``): one row per series."""

    __tablename__ = "sequence"
    name: str = Field(primary_key=True, max_length=40)
    value: int = Field(default=0, sa_type=BigInteger)


class Contact(SQLModel, table=True):
    """What the bot knows of a chat as someone to write to: when they last wrote (WhatsApp
    allows free text only within 24 hours of it) and whether they asked for no more messages."""

    __tablename__ = "contact"
    chat_key: str = Field(primary_key=True, max_length=100)
    last_inbound_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    opted_out: bool = Field(default=False, index=True)
    opted_out_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class OutgoingMessage(SQLModel, table=True):
    """A message the channel accepted (Twilio's MessageSid) and what became of it, from the
    status callbacks: queued, sent, delivered, read, failed or undelivered with the error."""

    __tablename__ = "outgoing_message"
    sid: str = Field(primary_key=True, max_length=64)
    chat_key: str = Field(max_length=100, index=True)
    status: str = Field(max_length=20)
    error_code: int | None = None
    updated_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    fallback: str | None = Field(default=None, sa_column=Column(
        Sealed("outgoing_message.fallback"), nullable=True))
    """A notice sent as free text (``Rendered`` as JSON), kept until Twilio reports it: refused
    as outside the 24 hours (63016), it goes again as a template."""


class WorkerChat(SQLModel, table=True):
    """Another chat of a registered worker (WhatsApp besides Telegram, a new phone): linked
    once the worker confirmed their date of birth there, so status works from both."""

    __tablename__ = "worker_chat"
    chat_key: str = Field(primary_key=True, max_length=100)
    worker_reference: str = Field(primary_key=True, max_length=20)
    linked_at: datetime = Field(sa_column=_utc(nullable=False))


class Broadcast(SQLModel, table=True):
    """A message staff send to many workers at once: who (``audience``, the filters as JSON),
    what (the text in Indonesian, and in English for those who chose it, or a ready
    ``reminder``), and where it stands: ``sending`` until every recipient is sent or given up
    on, then ``done``; or ``cancelled``. Started in the chat, its progress is kept up to date
    in one message to the staff member (``progress_*``)."""

    __tablename__ = "broadcast"
    id: int | None = Field(default=None, primary_key=True)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    audience: str = Field(sa_column=Column(Text, nullable=False))
    text_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    text_en: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reminder: str | None = Field(default=None, max_length=40)
    """A ready reminder (``bot.broadcasting.READY``) instead of a text."""
    status: str = Field(max_length=20, index=True)
    scheduled_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    """Not sent before this time; None: at once."""
    finished_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    progress_chat: str | None = Field(default=None, max_length=100)
    """The chat of the staff member shown the progress; None: started elsewhere."""
    progress_locale: str | None = Field(default=None, max_length=5)
    progress_message: str | None = Field(default=None, max_length=64)
    """The progress message, edited in place where the channel allows."""
    progress_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    progress_final: bool = False
    """The last word on the broadcast (done or cancelled) has been shown."""


class BroadcastRecipient(SQLModel, table=True):
    """One message of a broadcast to one chat, once: ``pending`` until a process leases and
    sends it, then ``sent``, ``failed`` (with why), ``skipped`` (the chat said STOP) or
    ``cancelled``. A chat gets one message per ``subject``: the worker or claim a reminder is
    about (a family's phone may hold two workers), or none for a text."""

    __tablename__ = "broadcast_recipient"
    __table_args__ = (UniqueConstraint("broadcast_id", "chat_key", "subject",
                                       name="uq_broadcast_recipient_chat"),
                      Index("ix_broadcast_recipient_state", "state", "lease_until"))
    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    chat_key: str = Field(max_length=100)
    locale: str = Field(max_length=5)
    subject: str = Field(default="", max_length=20)
    params: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """A reminder's values for this recipient, as JSON."""
    state: str = Field(max_length=20)
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    attempts: int = 0
    error: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class Reminder(SQLModel, table=True):
    """A reminder the bot sent by itself: once per ``kind``, ``subject`` (the worker's or the
    claim's reference), ``cycle`` (the coverage end date, or when the claim last changed) and
    ``occasion`` (days before or after), whatever restarts or processes come between."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("kind", "subject", "cycle", "occasion",
                                       name="uq_reminder_occasion"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    subject: str = Field(max_length=20)
    cycle: str = Field(max_length=40)
    occasion: int
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    created_at: datetime = Field(sa_column=_utc(nullable=False))


class ProofRequest(SQLModel, table=True):
    """A chat asking to act for a registration or a claim it is not linked to (a new phone,
    WhatsApp besides Telegram, a relative checking someone's cover). A NIK is printed on many
    papers, so it proves nothing: the chat proves control with a one-time code sent to the
    chats (and WhatsApp number) already linked (``method`` ``code``), or a staff member checks
    the person's KTP (``staff``, numbered ``reference`` to be read out at the office).

    ``state``: ``pending`` until ``passed``, ``failed`` (too many wrong codes), ``replaced``
    (a newer code was sent), ``approved`` or ``refused`` (by ``decided_by``, for ``reason``);
    past ``expires_at`` a pending request counts for nothing."""

    __tablename__ = "proof_request"
    __table_args__ = (Index("ix_proof_request_chat", "chat_key", "purpose", "state"),)
    id: int | None = Field(default=None, primary_key=True)
    reference: str | None = Field(default=None, max_length=20, unique=True)
    purpose: str = Field(max_length=20)
    """``link`` (this chat becomes the worker's), ``lookup`` (see their status once) or
    ``claim_status`` (follow a claim)."""
    subject: str = Field(max_length=20)
    """The worker's or the claim's reference."""
    chat_key: str = Field(max_length=100)
    """The chat asking."""
    locale: str = Field(max_length=5)
    """The language the chat asking reads, for the answer staff give later."""
    method: str = Field(max_length=10)
    code_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32),
                                                                   nullable=True))
    """A keyed hash of the code (never the code itself)."""
    tries: int = 0
    state: str = Field(max_length=20, index=True)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    expires_at: datetime = Field(sa_column=_utc(nullable=False))
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class LimitEvent(SQLModel, table=True):
    """One thing counted against a limit (``bot.limits``): a NIK entered from a chat that does
    not hold it, a wrong code, a code sent, a file received. Kept in the database, by a keyed
    hash of the chat or the NIK, so that a new chat, number or process starts from the same
    count; deleted once older than every limit's window."""

    __tablename__ = "limit_event"
    __table_args__ = (Index("ix_limit_event_key", "key_hash", "kind", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    key_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    kind: str = Field(max_length=30)
    amount: int = Field(default=1, sa_type=BigInteger)
    at: datetime = Field(sa_column=_utc(nullable=False, index=True))


class Consent(SQLModel, table=True):
    """One answer to one consent question (UU PDP: consent must be provable): for which
    registration or claim, which purpose (``bot.consents``), given or refused, the version and
    a hash of the exact text shown in its language, on which channel and chat, and when."""

    __tablename__ = "consent"
    __table_args__ = (Index("ix_consent_subject", "subject", "purpose"),)
    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=20)
    purpose: str = Field(max_length=20)
    given: bool
    version: str = Field(max_length=20)
    locale: str = Field(max_length=5)
    text_sha256: str = Field(max_length=64)
    channel: str = Field(max_length=20)
    chat_key: str = Field(max_length=100)
    at: datetime = Field(sa_column=_utc(nullable=False))


class RightsRequest(SQLModel, table=True):
    """A worker's request under UU PDP (``bot.rights``): to see, copy, correct or erase their
    data, with the deadline of 3 × 24 hours. ``open`` until done or refused (by
    ``decided_by``, for ``reason``). A correction keeps the value asked for and the KTP photo
    until it is decided, then neither; an erased registration's requests keep no more than
    the reference and what was done when."""

    __tablename__ = "rights_request"
    __table_args__ = (Index("ix_rights_request_open", "state", "deadline"),)
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True)
    subject: str = Field(max_length=20, index=True)
    """The worker's reference."""
    kind: str = Field(max_length=10)
    state: str = Field(max_length=10)
    field: str | None = Field(default=None, max_length=20)
    value: str | None = Field(default=None, sa_column=Column(Sealed("rights_request.value"),
                                                             nullable=True))
    document_path: str | None = Field(default=None, max_length=200)
    document_sha256: str | None = Field(default=None, max_length=64)
    document_mime: str | None = Field(default=None, max_length=60)
    document_size: int | None = Field(default=None, sa_type=BigInteger)
    chat_key: str | None = Field(default=None, max_length=100)
    """The chat that asked, to tell it when the request is done (cleared on erasure)."""
    tombstone: bytes | None = Field(default=None, sa_column=Column(LargeBinary(16), index=True))
    """An erasure's tombstone: the blind index of the NIK erased (``models.vault``), so a
    file from before (BPJS's answer to an export) is told apart from a NIK never registered,
    and re-creates nothing; registering again is a new registration with a new consent."""
    channel: str = Field(max_length=20)
    locale: str = Field(max_length=5)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    deadline: datetime = Field(sa_column=_utc(nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    decided_by: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Membership(SQLModel, table=True):
    """A worker's cover in one cycle of a programme (``bot.programmes.Cycle``): their history
    across years and funders (the scholarship counts it whole), what the funder's bill counts,
    and where a renewal left them. ``state``: ``confirmed`` (cover bought for the cycle),
    ``waiting`` (past the cycle's quota at renewal, in line by registration date), ``review``
    (DTSEN no longer admits them: staff decide) or ``ended`` (cover stopped on ``ends_on``)."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("worker_reference", "programme_id", "cycle",
                                       name="uq_membership_cycle"),
                      Index("ix_membership_cycle_state", "programme_id", "cycle", "state"))
    id: int | None = Field(default=None, primary_key=True)
    worker_reference: str = Field(max_length=20, index=True)
    programme_id: str = Field(max_length=40)
    cycle: str = Field(max_length=20)
    funder: str | None = Field(default=None, max_length=120)
    """Who paid; None on rows made from the registrations of before cycles were kept (the
    programme's funder of that cycle)."""
    starts_on: date
    ends_on: date
    state: str = Field(max_length=20)
    source: str = Field(max_length=20)
    """``chat`` (enrolled through the bot), ``renewal`` (carried from the cycle before),
    ``import`` (a member from before the bot, ``main.py import-members``), ``earlier`` (the
    registrations of before cycles were kept)."""
    position: int | None = None
    """In ``waiting``: the order among those past the quota (by registration date)."""
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    changed_at: datetime = Field(sa_column=_utc(nullable=False))


class EnrolmentBatch(SQLModel, table=True):
    """One export to BPJS Ketenagakerjaan (``main.py export-enrolment``): the programme's
    enrolled workers not sent before, numbered per programme, so the branch and the office
    speak of "batch 3" and it can be made again (``--batch 3``)."""

    __tablename__ = "enrolment_batch"
    __table_args__ = (UniqueConstraint("programme_id", "number", name="uq_enrolment_batch"),)
    id: int | None = Field(default=None, primary_key=True)
    programme_id: str = Field(max_length=40)
    number: int
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    created_by: str = Field(max_length=100)
    file_name: str = Field(max_length=200)
    workers: int
    starts_on: date | None = None
    """The earliest start of cover among its workers."""


class EnrolmentBatchWorker(SQLModel, table=True):
    """Who was sent in a batch (by reference: the data themselves are in the file)."""

    __tablename__ = "enrolment_batch_worker"
    batch_id: int = Field(foreign_key="enrolment_batch.id", primary_key=True)
    worker_reference: str = Field(max_length=20, primary_key=True, index=True)


class ConsoleLink(SQLModel, table=True):
    """A one-time sign-in link to the staff console, sent to a staff member's chat. Kept by
    the SHA-256 of its token: the link itself exists only in that chat."""

    __tablename__ = "console_link"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False, unique=True))
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    expires_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser of the staff console, by the SHA-256 of its cookie's token; ends
    after ``bot.roles.SESSION_IDLE`` without a request, at sign-out, or with the staff
    member (removed: their sessions are deleted)."""

    __tablename__ = "console_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False, unique=True))
    staff_id: int = Field(foreign_key="staff.id", index=True)
    locale: str = Field(max_length=5)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    last_seen_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
