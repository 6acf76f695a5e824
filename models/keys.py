"""Where the data keys come from: ``DATA_KEYS`` (the key file's JSON itself, for a secret
manager that fills the environment) or the key file at ``DATA_KEYS_FILE``; never the
database, so a copy of the database alone (a backup, a stolen disk image) reads nothing.

The key file, JSON, readable by the bot's user only::

    {"current": "k2", "keys": {"k1": "<32 bytes, base64>", "k2": "…"}, "index": "<base64>"}

``current`` seals new values; the others still open what they sealed until ``main.py
rotate-key`` has resealed it. ``index`` keys the blind indexes and never rotates (a new one
would mean recomputing every index: ``rotate-key`` does not). A fresh install with neither
setting writes a new key file once (and says so): back it up apart from the database, since
without it the data cannot be read.
"""

import base64
import json
import logging
import os
import secrets
from pathlib import Path

from models.private_files import open_to_others, private_file
from models.vault import KEY_BYTES, Vault

log = logging.getLogger("lindungi.keys")


class BadKeys(ValueError):
    """The keys' setting or file is unreadable or malformed (the message names which)."""


def parse(text: str, where: str) -> Vault:
    try:
        data = json.loads(text)
        keys = {key_id: base64.b64decode(value, validate=True)
                for key_id, value in data["keys"].items()}
        return Vault(keys, data["current"], base64.b64decode(data["index"], validate=True))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadKeys(f"{where}: not a key file ({exc.__class__.__name__}: "
                      f"{str(exc)[:80]})") from None


def new_keys() -> dict:
    return {"current": "k1", "keys": {"k1": _key()}, "index": _key()}


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def write(path: Path, data: dict) -> None:
    """The key file, replaced whole (a temporary file renamed over it), 0600."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    private_file(temporary).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def load_vault(inline: str | None, path: Path, create: bool = True) -> Vault:
    """The vault from ``DATA_KEYS`` if set, else from the key file (made if missing and
    ``create``)."""
    if inline:
        return parse(inline, "DATA_KEYS")
    if not path.exists():
        if not create:
            raise BadKeys(f"DATA_KEYS_FILE: no key file at {path}")
        write(path, new_keys())
        log.warning("new data keys written to %s: back this file up apart from the database "
                    "(without it the personal data cannot be read)", path)
    if open_to_others(path):
        log.warning("the key file %s can be read by other users of this machine: chmod 600 "
                    "%s", path, path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadKeys(f"DATA_KEYS_FILE: cannot read {path}: {exc.strerror}") from None
    return parse(text, f"DATA_KEYS_FILE {path}")


def add_key(path: Path) -> str:
    """A new current key in the key file (the old ones kept, to open what they sealed);
    returns its id."""
    data = json.loads(path.read_text(encoding="utf-8"))
    parse(json.dumps(data), str(path))
    number = 1 + max((int(k[1:]) for k in data["keys"] if k[1:].isdigit()), default=0)
    key_id = f"k{number}"
    data["keys"][key_id] = _key()
    data["current"] = key_id
    write(path, data)
    return key_id


def drop_keys(path: Path, keep: str) -> list[str]:
    """Remove every key but ``keep`` from the key file (once nothing is sealed with them)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    dropped = sorted(k for k in data["keys"] if k != keep)
    data["keys"] = {keep: data["keys"][keep]}
    write(path, data)
    return dropped


def install_from(settings, create: bool = True) -> Vault:
    """Load the data keys the settings name and make them this process's (``install``)."""
    from models.vault import install

    inline = settings.data_keys.get_secret_value() if settings.data_keys else None
    vault = load_vault(inline, settings.data_keys_file, create)
    install(vault)
    return vault
