"""The digital membership card: what it shows, and the signed token in its QR code.

The token lets anyone holding the key (a staff tool, a partner clinic) check a card offline: it
names the registration and the KPJ number, and an HMAC proves that Lindungi issued it. It
carries nothing else, so a photographed card leaks no more than the card already shows. It is
kept short so the QR code stays small enough to scan from a cheap phone's screen:

    LD1.<base64url("reference|kpj")>.<base64url(HMAC-SHA256(key, "LD1." + payload)[:16])>

(base64url without padding; the MAC is taken over the encoded payload text, prefix included.)
Pure: no I/O, stdlib only.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

PREFIX = "LD1"
MAX_TOKEN_LENGTH = 200
_MAC_BYTES = 16  # 128 bits: plenty against forgery, and 22 characters instead of 43
_REFERENCE = re.compile(r"[A-Za-z0-9-]{1,32}")
_KPJ = re.compile(r"[0-9]{11}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class CardClaim:
    """What a valid token vouches for: this registration holds this KPJ number."""

    reference: str
    kpj: str


@dataclass(frozen=True)
class CardData:
    """Everything printed on a card; ``masked_nik`` comes masked, the card never sees a NIK."""

    reference: str
    full_name: str
    masked_nik: str
    kpj: str
    programme: str
    funder: str
    period_start: date
    period_end: date
    benefits: tuple[str, ...]
    token: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (ISO dates, benefits as a list), e.g. to keep in a session."""
        return {
            "reference": self.reference,
            "full_name": self.full_name,
            "masked_nik": self.masked_nik,
            "kpj": self.kpj,
            "programme": self.programme,
            "funder": self.funder,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "benefits": list(self.benefits),
            "token": self.token,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CardData":
        """The inverse of ``to_json``; raises ``ValueError`` on a missing or mistyped field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"card: expected a mapping, got {type(data).__name__}")

        def text(name: str) -> str:
            value = data.get(name)
            if not isinstance(value, str):
                raise ValueError(f"card: {name} must be a string")
            return value

        def day(name: str) -> date:
            return date.fromisoformat(text(name))

        benefits = data.get("benefits")
        if not isinstance(benefits, list | tuple) or not all(isinstance(b, str) for b in benefits):
            raise ValueError("card: benefits must be a list of strings")
        return cls(reference=text("reference"), full_name=text("full_name"),
                   masked_nik=text("masked_nik"), kpj=text("kpj"), programme=text("programme"),
                   funder=text("funder"), period_start=day("period_start"),
                   period_end=day("period_end"), benefits=tuple(benefits), token=text("token"))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Strict unpadded base64url: only the canonical spelling decodes, so a token has one form."""
    if not _B64URL.fullmatch(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if _b64encode(raw) == text else None


def _check_key(key: bytes) -> None:
    # A wrong key is a deployment bug, not a bad card: say so rather than reject every card.
    if not isinstance(key, bytes | bytearray):
        raise TypeError("card key must be bytes")
    if not key:
        raise ValueError("card key is empty")


def _mac(key: bytes, payload: str) -> bytes:
    digest = hmac.new(key, f"{PREFIX}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return digest[:_MAC_BYTES]


def sign_card(key: bytes, reference: str, kpj: str) -> str:
    """The token for a card; ``ValueError`` if the reference or KPJ could not be read back."""
    _check_key(key)
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise ValueError("card reference must be 1-32 ASCII letters, digits or '-'")
    if not isinstance(kpj, str) or not _KPJ.fullmatch(kpj):
        raise ValueError("KPJ number must be 11 digits")
    payload = _b64encode(f"{reference}|{kpj}".encode("ascii"))
    return f"{PREFIX}.{payload}.{_b64encode(_mac(key, payload))}"


def read_card_token(key: bytes, token: str) -> CardClaim | None:
    """The claim a genuine token makes, or None for anything else; never raises on the token.

    Scanned text is untrusted input: it is length-checked before any work, and the MAC is
    checked (in constant time) before the payload is parsed.
    """
    _check_key(key)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    payload, signature = parts[1], parts[2]
    mac, raw = _b64decode(signature), _b64decode(payload)
    if mac is None or raw is None or len(mac) != _MAC_BYTES:
        return None
    if not hmac.compare_digest(mac, _mac(key, payload)):
        return None
    try:
        reference, kpj = raw.decode("ascii").split("|")
    except (UnicodeDecodeError, ValueError):
        return None
    if not _REFERENCE.fullmatch(reference) or not _KPJ.fullmatch(kpj):
        return None
    return CardClaim(reference=reference, kpj=kpj)


LINKS = {
    "card": ("LDL1", _REFERENCE),
    "file": ("LDF1", re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}\.(?:jpg|png|webp|pdf)"
                                r"@[a-z]{1,20}:[0-9]{1,20}")),
    "copy": ("LDC1", re.compile(r"[A-Za-z0-9_-]{24}\.pdf")),
}
"""What a link may name: a card (by its registration), a received file (by its stored path,
``@`` the staff chat it was sent to) or a copy of a worker's data (by its random name); each
kind has its own prefix under the MAC, so one cannot stand for the other."""
LINK_LIFETIME_S = 3600
"""The longest a link works, whatever its token says: Twilio fetches it within seconds."""
CLOCK_SKEW_S = 60


def sign_link(key: bytes, kind: str, subject: str, expires: int) -> str:
    """A short-lived name for a card's image or a stored file (``expires``: a POSIX time), for
    a channel that fetches media by URL (WhatsApp): whoever holds the link can fetch it until
    then."""
    _check_key(key)
    prefix, pattern = LINKS[kind]
    if not pattern.fullmatch(subject):
        raise ValueError(f"not a {kind} a link can name: {subject!r}")
    payload = _b64encode(f"{subject}|{int(expires)}".encode("ascii"))
    mac = hmac.new(key, f"{prefix}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return f"{payload}.{_b64encode(mac[:_MAC_BYTES])}"


def read_link(key: bytes, kind: str, token: str, now: float) -> str | None:
    """What a link of this kind names, if it is genuine, not expired and made to last no
    longer than ``LINK_LIFETIME_S`` (a token from a leaked key cannot be made to last); None
    for anything else."""
    _check_key(key)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 2:
        return None
    prefix, pattern = LINKS[kind]
    payload, signature = parts
    mac, raw = _b64decode(signature), _b64decode(payload)
    expected = hmac.new(key, f"{prefix}.{payload}".encode("ascii"),
                        hashlib.sha256).digest()[:_MAC_BYTES]
    if mac is None or raw is None or not hmac.compare_digest(mac, expected):
        return None
    try:
        subject, expires = raw.decode("ascii").split("|")
        expired = not now <= int(expires) <= now + LINK_LIFETIME_S + CLOCK_SKEW_S
    except (UnicodeDecodeError, ValueError):
        return None
    return None if expired or not pattern.fullmatch(subject) else subject
