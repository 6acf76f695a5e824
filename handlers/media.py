"""Where the files users send (claim documents: identity cards, death certificates) are kept.

Files are content-addressed, ``<sha256[:2]>/<sha256>.<ext>`` under one folder: a file sent
twice is stored once, a stored file never changes, and its name proves its content. They are
identity documents, so the folders are 0700 and the files 0600.
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Literal

from bot.messages import MAX_MEDIA_BYTES, MEDIA_TYPES, Media
from models.private_files import private_folder

Refusal = Literal["type", "size"]


def _is_jpeg(data: bytes | bytearray) -> bool:
    return data[:3] == b"\xff\xd8\xff"


def _is_png(data: bytes | bytearray) -> bool:
    return data[:8] == b"\x89PNG\r\n\x1a\n"


def _is_webp(data: bytes | bytearray) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def _is_pdf(data: bytes | bytearray) -> bool:
    return data[:5] == b"%PDF-"


MAGIC = {"image/jpeg": _is_jpeg, "image/png": _is_png, "image/webp": _is_webp,
         "application/pdf": _is_pdf}
"""How each accepted type starts: the type a client claims is only a guess from the file name,
and a renamed executable must not be stored (nor later opened by staff) as a "PDF". One entry
for every type of ``MEDIA_TYPES``."""


class MediaStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @staticmethod
    def check(mime_type: str, size: int) -> Refusal | None:
        """Why a file announced as ``mime_type`` of ``size`` bytes is refused, before it is
        fetched (None: fetch it). Pure, so a channel can decide without downloading."""
        if mime_type not in MEDIA_TYPES:
            return "type"
        if size > MAX_MEDIA_BYTES:
            return "size"
        return None

    def save(self, data: bytes | bytearray, mime_type: str, file_name: str | None) -> Media:
        """Store ``data`` (a no-op if the same content is stored already) and describe it; a
        file whose type, size or first bytes are not acceptable is refused, not stored.
        Blocking (hashing 20 MB takes a while): call it in a thread from async code."""
        size = len(data)
        refused = self.check(mime_type, size)
        if refused is None and not MAGIC[mime_type](data):
            refused = "type"
        if refused is not None:
            return Media(mime_type, size, file_name=file_name, refused=refused)
        sha256 = hashlib.sha256(data).hexdigest()
        relative = f"{sha256[:2]}/{sha256}.{MEDIA_TYPES[mime_type]}"
        target = self.folder / relative
        if not target.exists():
            self._write(target, data)
        return Media(mime_type, size, sha256=sha256, path=relative, file_name=file_name)

    def _write(self, target: Path, data: bytes | bytearray) -> None:
        """Write whole or not at all: a temporary file (0600, as mkstemp makes it) in the same
        folder, flushed to disk, then renamed over the target, so a crash never leaves a
        truncated file under a name that claims its hash."""
        private_folder(target.parent)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)

    def writable(self) -> bool:
        """Whether a file can be written here now (not a full disk, nor a read-only folder):
        a small one is written, flushed to disk and removed. Blocking: run it in a thread."""
        try:
            private_folder(self.folder)
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".probe-") as probe:
                probe.write(b"\0" * 4096)
                probe.flush()
                os.fsync(probe.fileno())
        except OSError:
            return False
        return True

    def discard(self, relative: str) -> None:
        """Delete one stored file (one nothing keeps: sent where no document was asked, or
        past the chat's quota). Blocking: run it in a thread."""
        target = (self.folder / relative).resolve()
        if target.parent.parent == self.folder.resolve():  # only a file of ours
            target.unlink(missing_ok=True)

    def prune(self, keep: set[str], before: float) -> int:
        """Delete stored files no claim refers to (a photo sent where text was asked, a draft
        never sent) last written before ``before`` (a POSIX time): personal data is kept no
        longer than its purpose needs. Returns how many went. Blocking: run it in a thread."""
        removed = 0
        for path in self.folder.glob("??/*"):
            relative = f"{path.parent.name}/{path.name}"
            if path.name.startswith(".") or relative in keep:
                continue
            if path.stat().st_mtime < before:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
