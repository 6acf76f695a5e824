"""Personal data encrypted at rest: NIKs (worker, heir, deceased, guardian), birth dates, phone
numbers, bank accounts, a correction's value, and the bot's own secrets are stored sealed
with AES-GCM (``cryptography``), never in plain text in the database, its WAL or a backup.

A sealed value is text, ``enc1:<key id>:<nonce and ciphertext, base64url>``, so the key that
sealed it can be told without opening it: ``main.py rotate-key`` reseals what an older key
sealed. The column's name is bound in as associated data, so a value copied into another
column does not open. NIKs are found through blind indexes: HMAC-SHA256 of the NIK under a
separate key (``index``), equal for equal NIKs, useless without the key.

The keys come from the settings or a key file (``models.keys``), never from the database. A
sealed column cannot be compared in SQL (it raises): its blind index is what is compared.
"""

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from datetime import date

from sqlalchemy import LargeBinary, Text
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

PREFIX = "enc1"
NONCE_BYTES = 12
KEY_BYTES = 32
INDEX_BYTES = 16
"""A blind index of 128 bits: no two of the country's NIKs meet by chance."""


class NoKeys(RuntimeError):
    """No vault is installed: the process has not loaded its data keys."""


class CannotOpen(ValueError):
    """A sealed value whose key is not configured (or that was tampered with)."""


class Vault:
    def __init__(self, keys: Mapping[str, bytes], current: str, index_key: bytes):
        if current not in keys:
            raise ValueError(f"the current data key {current!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES or not key_id.isalnum():
                raise ValueError(f"data key {key_id!r}: 32 bytes under a letters-and-digits id")
        if len(index_key) < KEY_BYTES:
            raise ValueError("the index key must be at least 32 bytes")
        # Imported here: the migration child, which only changes the schema, never loads it.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.current = current
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._index_key = index_key

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._aead)

    def seal(self, plaintext: bytes, column: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(nonce, plaintext, column.encode())
        return f"{PREFIX}:{self.current}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, token: str, column: str) -> bytes:
        _, key_id, body = token.split(":", 2)
        aead = self._aead.get(key_id)
        if aead is None:
            raise CannotOpen(f"a value of {column} is sealed with key {key_id!r}, which is not "
                             f"configured")
        raw = base64.urlsafe_b64decode(body)
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], column.encode())
        except Exception as exc:  # InvalidTag: never the value in the message
            raise CannotOpen(f"a value of {column} does not open with key {key_id!r}") from exc

    def index(self, value: str, kind: str = "nik") -> bytes:
        """The blind index of ``value`` (a NIK): equal for equal values, under its own key."""
        return hmac.new(self._index_key, f"{kind}\0{value}".encode(), hashlib.sha256
                        ).digest()[:INDEX_BYTES]


def key_of(token: str | bytes | None) -> str | None:
    """The id of the key a stored value is sealed with; None for a value not sealed yet."""
    if isinstance(token, bytes):
        token = token.decode("ascii", errors="replace")
    if not token or not token.startswith(PREFIX + ":"):
        return None
    return token.split(":", 2)[1]


_installed: Vault | None = None


def install(vault: Vault | None) -> None:
    """The vault this process seals and opens with (set once its keys are loaded)."""
    global _installed
    _installed = vault


def installed() -> Vault | None:
    return _installed


def vault() -> Vault:
    if _installed is None:
        raise NoKeys("the data keys are not loaded (models.keys.load_vault)")
    return _installed


def nik_index(nik: str) -> bytes:
    return vault().index(nik)


def index_of(column: str):
    """A column default: the blind index of the NIK inserted in ``column`` of the same row,
    so no INSERT can store a NIK its index does not find."""
    def default(context) -> bytes:
        return nik_index(context.get_current_parameters()[column])

    return default


class _Uncomparable(TypeDecorator.Comparator):
    def operate(self, op, *other, **kwargs):
        if op in (operators.eq, operators.ne, operators.in_op, operators.not_in_op,
                  operators.like_op, operators.contains_op, operators.startswith_op):
            raise TypeError("a sealed column cannot be compared in SQL: compare its blind "
                            "index")
        return super().operate(op, *other, **kwargs)


class Sealed(TypeDecorator):
    """Text (or a date) stored sealed. A value stored before encryption (plain) still reads,
    so a database is encrypted in place while it serves (``models.seal``)."""

    impl = Text
    cache_ok = True
    comparator_factory = _Uncomparable

    def __init__(self, column: str, as_date: bool = False):
        super().__init__()
        self.column = column
        self.as_date = as_date

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        text = value.isoformat() if isinstance(value, date) else str(value)
        return vault().seal(text.encode(), self.column)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, date):  # a DATE column not sealed yet (PostgreSQL)
            return value
        text = vault().open(value, self.column).decode() if key_of(value) else value
        return date.fromisoformat(text) if self.as_date else text


class SealedBytes(TypeDecorator):
    """Bytes stored sealed (the bot's own secrets)."""

    impl = LargeBinary
    cache_ok = True
    comparator_factory = _Uncomparable

    def __init__(self, column: str):
        super().__init__()
        self.column = column

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return vault().seal(bytes(value), self.column).encode()

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        value = bytes(value)
        return vault().open(value.decode(), self.column) if key_of(value) else value
