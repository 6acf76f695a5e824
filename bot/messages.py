"""What flows in and out of the engine: inbound messages, replies, and effects to store."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from bot.cards import CardData

Kind = Literal["text", "contact", "photo", "sticker", "voice", "video", "document", "location",
               "other", "result"]
"""``result``: not from the user but from long work a step asked for (``Later``)."""


MEDIA_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp",
               "application/pdf": "pdf"}
"""The files a claim document may be (a photo or a scan), with the extension stored."""
MAX_MEDIA_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Media:
    """A file the user sent, as the channel adapter left it: stored (content-addressed, so a
    file sent twice is kept once) when its type and size are acceptable, else ``refused``."""

    mime_type: str
    size: int
    sha256: str | None = None
    path: str | None = None
    """Where it is, relative to the storage folder (``STORAGE_DIR``)."""
    file_name: str | None = None
    refused: Literal["type", "size", "download", "quota"] | None = None
    """Why it was not kept: not a photo or PDF; too big; could not be fetched; the chat sent
    more files today than ``bot.limits`` allows."""


@dataclass(frozen=True)
class Inbound:
    """One message from a user, whatever the channel, as the adapters hand it over."""

    channel: str
    chat_id: str
    external_id: str
    kind: Kind = "text"
    text: str = ""
    contact_phone: str | None = None
    media: Media | None = None
    """A photo or document (its caption, if any, is in ``text``)."""
    sender_phone: str | None = None
    """The sender's own number, where the channel tells it (WhatsApp), in E.164."""
    order: int | None = None
    """The channel's own order of its messages (Telegram's ``update_id``): a chat's messages
    are handled in it, whichever process received them; None: in the order they were stored."""
    result: Mapping[str, Any] | None = None
    """What the long work of a ``Later`` found (kind ``result``), with its ``token``."""

    @property
    def chat_key(self) -> str:
        return f"{self.channel}:{self.chat_id}"

    def to_json(self) -> dict[str, Any]:
        """As kept in the journal from its arrival until it is handled."""
        data = asdict(self)
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Inbound":
        media = data.get("media")
        return cls(**{**data, "media": Media(**media) if media else None})


@dataclass(frozen=True)
class Choice:
    """One option of a question; ``label`` is a message id, ``aliases`` extra words that pick it.
    A ``command`` option runs the command named by its value (e.g. "status") when picked."""

    value: str
    label: str
    params: Mapping[str, Any] | None = None
    aliases: tuple[str, ...] = ()
    command: bool = False


@dataclass(frozen=True)
class Reply:
    """One message to send: a text by message id, and how the user may answer it."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    ask_contact: bool = False
    navigation: bool = False
    card: CardData | None = None
    """A membership card to send as an image, with the text as its caption."""
    attachment: "Media | None" = None
    """A stored file (a claim document, for staff) to send, with the text as its caption."""
    copy: "CopyOf | None" = None
    """A copy of someone's data to send as files (``bot.rights``), the text its caption."""


@dataclass(frozen=True)
class CopyOf:
    """Everything stored about a registration, as a copy for its worker: ``pages`` as the
    chat shows them, ``data`` the same as JSON for a machine."""

    reference: str
    pages: tuple[Reply, ...]
    data: Mapping[str, Any]


@dataclass(frozen=True)
class DataCopy:
    """A ``CopyOf`` in the reader's language: what the channel sends as files (a readable
    PDF with the JSON inside, and where the channel takes any file, the JSON too)."""

    reference: str
    text: str
    data: str
    """The JSON document."""


@dataclass(frozen=True)
class NoticeValues:
    """A notice's kind and values as text: what a WhatsApp template needs to carry it once
    the 24 hours in which free text may be sent have passed."""

    kind: str
    locale: str
    values: Mapping[str, str]


@dataclass(frozen=True)
class Rendered:
    """A reply turned into text in the user's language, ready for any channel."""

    text: str
    options: tuple[str, ...] = ()
    contact_button: str | None = None
    menu_button: str | None = None
    card: CardData | None = None
    attachment: "Media | None" = None
    notice: NoticeValues | None = None
    """Set on notices (``notice.*`` messages): the bot starts them, not the user."""
    reply_hint: str | None = None
    """How to answer the options by number ("Balas 1, 2, atau 3."), for channels without
    buttons."""
    copy: DataCopy | None = None

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "options": list(self.options),
                "contact_button": self.contact_button, "menu_button": self.menu_button,
                "card": self.card.to_json() if self.card else None,
                "attachment": asdict(self.attachment) if self.attachment else None,
                "notice": {"kind": self.notice.kind, "locale": self.notice.locale,
                           "values": dict(self.notice.values)} if self.notice else None,
                "reply_hint": self.reply_hint,
                "copy": asdict(self.copy) if self.copy else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Rendered":
        card, attachment, notice = data.get("card"), data.get("attachment"), data.get("notice")
        copy = data.get("copy")
        return cls(data["text"], tuple(data.get("options") or ()), data.get("contact_button"),
                   data.get("menu_button"), CardData.from_json(card) if card else None,
                   Media(**attachment) if attachment else None,
                   NoticeValues(**notice) if notice else None, data.get("reply_hint"),
                   DataCopy(**copy) if copy else None)

    def as_numbered_text(self) -> str:
        """The form for channels without buttons (terminal, WhatsApp): options as numbers."""
        lines = [self.text]
        if self.options or self.menu_button:
            lines.append("")
        lines.extend(f"{n}. {label}" for n, label in enumerate(self.options, 1))
        if self.menu_button:
            lines.append(f"0. {self.menu_button}")
        if self.options and self.reply_hint:
            lines += ["", self.reply_hint]
        return "\n".join(lines)


@dataclass(frozen=True)
class RegisterWorker:
    """Effect: store a worker who completed registration, with where their cover stands."""

    reference: str
    nik: str
    full_name: str
    birth_date: date
    phone: str
    occupation: str
    occupation_other: str | None
    kelurahan: str
    kecamatan: str
    monthly_income: int
    locale: str
    consent_version: str
    consented_at: str
    status: str = "waiting_verification"
    programme_id: str | None = None
    dtsen_desil: int | None = None
    coverage_start: date | None = None
    coverage_end: date | None = None
    cycle: str | None = None
    """The programme cycle the cover is bought in (``bot.programmes.Cycle``): recorded as the
    worker's membership of it."""
    funder: str | None = None
    """Who pays that cycle."""
    dtsen_consent: bool = True
    """The worker let their NIK be matched with DTSEN; if not, staff check them instead."""
    messages_consent: bool = True
    """The worker accepts the messages the bot starts (reminders, broadcasts)."""


@dataclass(frozen=True)
class ChangeStatus:
    """Effect: move a stored worker from ``old`` to ``new`` status (the store refuses, and the
    batch is retried, if another change got there first). Taking or freeing a programme place
    follows from the two statuses."""

    reference: str
    old: str
    new: str
    actor: str | None = None
    """Who decided (``telegram:123``, ``cli:ani``): the change is recorded as a staff action."""
    reason: str | None = None
    coverage_start: date | None = None
    coverage_end: date | None = None
    kpj: str | None = None
    cycle: str | None = None
    """With a coverage period: the cycle it is bought in, recorded as a membership."""
    funder: str | None = None


@dataclass(frozen=True)
class Notify:
    """Effect: send someone other than the sender a message, stored with the change it tells
    of (a worker told of a staff decision)."""

    chat_key: str
    locale: str
    replies: tuple[Reply, ...]


@dataclass(frozen=True)
class StoredDocument:
    """A claim document as received: its kind and the stored file."""

    kind: str
    media: Media


@dataclass(frozen=True)
class FileClaim:
    """Effect: store a reported death and its claim, with the documents sent so far."""

    reference: str
    deceased_nik: str
    worker_reference: str | None
    status: str
    status_reason: str | None
    date_of_death: date
    cause: str
    heir_name: str
    heir_nik: str
    heir_phone: str
    relationship: str
    bank_name: str
    account_number: str
    account_holder: str
    estimate: int
    locale: str
    consent_version: str
    consented_at: str
    documents: tuple[StoredDocument, ...]
    guardian_name: str | None = None
    """The parent or guardian filing with an heir under 18 (who gave the consent)."""
    guardian_nik: str | None = None


@dataclass(frozen=True)
class AddDocuments:
    """Effect: documents sent later for a stored claim (which goes from ``old`` to
    ``status``; the store refuses, and the batch is retried, if the claim moved on)."""

    reference: str
    documents: tuple[StoredDocument, ...]
    status: str
    old: str
    """The claim's status as the heir's step read it: staff may have decided meanwhile."""


@dataclass(frozen=True)
class ChangeClaim:
    """Effect: a staff decision on a claim (``old`` → ``new`` status; the store refuses, and
    the batch is retried, if the claim moved on meanwhile), or on one of its documents."""

    reference: str
    old: str
    new: str
    actor: str
    reason: str | None = None
    document: str | None = None
    document_status: str | None = None


@dataclass(frozen=True)
class OptOut:
    """Effect: the chat asked for no more messages the bot starts (``opted_out``), or for
    them again. Replies to what they write still come."""

    chat_key: str
    opted_out: bool


@dataclass(frozen=True)
class LinkChat:
    """Effect: a registered worker proved from another chat that the registration is theirs
    (a code sent to their chats, or a staff member who checked their KTP)."""

    reference: str
    chat_key: str


@dataclass(frozen=True)
class ChangePhone:
    """Effect: a worker's phone number changed, from a chat that holds the registration,
    after the new number proved to be theirs (recorded with that chat as the actor)."""

    reference: str
    phone: str
    actor: str


@dataclass(frozen=True)
class UnlinkChat:
    """Effect: a chat the worker says is not theirs loses the link (``actor``: who said so)."""

    reference: str
    chat_key: str
    actor: str


@dataclass(frozen=True)
class Count:
    """Effect: one more of a limit's ``kind`` (``bot.limits``) for ``key`` (a chat key or a
    NIK), kept in the database; ``amount``: how much (bytes, for files)."""

    kind: str
    key: str
    amount: int = 1


@dataclass(frozen=True)
class RequestProof:
    """Effect: a chat asks to act for a registration or a claim it is not linked to. With
    ``code``, the code sent (by the ``Notify`` effects beside it) to the chats that are; with
    ``reference``, a number to show at the office, for a staff member to check the KTP."""

    purpose: str
    subject: str
    chat_key: str
    locale: str
    expires_at: datetime
    code: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class TryProof:
    """Effect: a code typed for proof request ``proof_id``, right or wrong (the request fails
    after ``bot.proof.CODE_TRIES`` wrong ones)."""

    proof_id: int
    passed: bool


@dataclass(frozen=True)
class DecideProof:
    """Effect: a staff member approved or refused a request checked at the office."""

    proof_id: int
    approved: bool
    actor: str
    reason: str | None = None


@dataclass(frozen=True)
class StartBroadcast:
    """Long work (``Later``): staff confirmed a broadcast in the chat; its recipients are
    chosen as it is stored, and ``actor`` sees its progress in a message kept up to date."""

    audience: Mapping[str, str]
    """The filters given (``bot.broadcasting.Audience`` fields)."""
    text_id: str | None
    text_en: str | None
    reminder: str | None
    """A ready reminder's name instead of a text."""
    actor: str
    locale: str
    """The language the actor reads the progress in."""
    scheduled_at: datetime | None = None


@dataclass(frozen=True)
class PreviewBroadcast:
    """Long work: who a broadcast would reach now (``bot.broadcasting.Preview``)."""

    audience: Mapping[str, str]
    reminder: str | None


@dataclass(frozen=True)
class Later:
    """Effect: long work a step asks for (counting a broadcast's recipients, storing them),
    which must not hold up other chats: the host does it after the step's transaction, in its
    own, and hands its result back to this chat as a message of kind ``result`` carrying
    ``token``, handled in turn with the chat's others. Asked again with the same token (the
    first answer lost with a stopped process), the work is done once."""

    flow: str
    """The flow that resumes with the result (``Flow.resume``)."""
    token: str
    work: "PreviewBroadcast | StartBroadcast"


@dataclass(frozen=True)
class CancelBroadcast:
    """Effect: staff stopped a broadcast; what is not sent yet is not sent."""

    broadcast_id: int
    actor: str


Effect = (RegisterWorker | ChangeStatus | Notify | FileClaim | AddDocuments | ChangeClaim
          | OptOut | LinkChat | UnlinkChat | ChangePhone | Count | RequestProof | TryProof
          | DecideProof | CancelBroadcast | Later)


@dataclass(frozen=True)
class WorkerInfo:
    """What the engine may know of a stored worker."""

    reference: str
    nik: str
    full_name: str
    status: str
    registered_on: date
    birth_date: date | None = None
    chat_key: str = ""
    locale: str = "id"
    programme_id: str | None = None
    dtsen_desil: int | None = None
    reason: str | None = None
    coverage_start: date | None = None
    coverage_end: date | None = None
    kpj: str | None = None
    queued_at: datetime | None = None
    queue_ticket: int | None = None
    monthly_income: int = 0
    phone: str = ""
    died_on: date | None = None
    """The date of death an heir reported (a claim not rejected): no card, reminder,
    broadcast or approval from then on."""
    dtsen_ok: bool = True
    """The worker let their NIK be matched with DTSEN (``RegisterWorker.dtsen_consent``)."""
    occupation: str | None = None
    """For the dated prices that depend on it (``Rules.bpu_contribution``)."""
    kelurahan: str = ""
    kecamatan: str = ""
    """Where the worker lives: a verifier of an area decides only its registrations."""
