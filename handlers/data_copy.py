"""A worker's copy of their data as files (UU PDP: a copy in a form people and machines read):
a PDF to read, with the same data as JSON embedded in it, and the JSON on its own where the
channel sends any file (Telegram, the terminal; WhatsApp takes PDFs only).

The PDF uses a core font, so it needs no font file and looks the same on every server; text
outside Latin-1 (emoji) is folded or left out, the JSON keeps every character.

Copies waiting for WhatsApp to fetch them are written under ``copies/`` of the storage folder
(readable by the owner only) and deleted once their link has expired (``Copies.prune``).
"""

import secrets
import time
import unicodedata
from pathlib import Path

from bot.messages import DataCopy
from models.private_files import private_file, private_folder

LATIN_1 = frozenset(map(chr, range(0x20, 0x7F))) | frozenset(map(chr, range(0xA0, 0x100)))
REPLACEMENTS = {"•": "-", "–": "-", "—": "-", "“": '"', "”": '"', "‘": "'", "’": "'", "…": "..."}


def file_names(copy: DataCopy) -> tuple[str, str]:
    """The PDF's and the JSON's names, as the person sees them."""
    stem = f"data-saya-{copy.reference}"
    return f"{stem}.pdf", f"{stem}.json"


def printable(text: str) -> str:
    """``text`` in what the PDF's core font draws: accents kept, emoji and the like left out."""
    lines = []
    for line in text.splitlines():
        out = []
        for ch in line:
            if ch in LATIN_1:
                out.append(ch)
            elif ch in REPLACEMENTS:
                out.append(REPLACEMENTS[ch])
            else:
                out.append("".join(c for c in unicodedata.normalize("NFKD", ch)
                                   if c in LATIN_1))
        lines.append("".join(out).strip())
    return "\n".join(lines)


def pdf_of(copy: DataCopy) -> bytes:
    """The readable copy, one A4 page or more, with the JSON embedded as an attachment."""
    from fpdf import FPDF  # only when a copy is asked for

    _, json_name = file_names(copy)
    pdf = FPDF(format="A4")
    pdf.set_title(f"Data {copy.reference}")
    pdf.set_creator("Lindungi")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.multi_cell(0, 5, printable(copy.text), align="L")
    pdf.embed_file(bytes=copy.data.encode("utf-8"), basename=json_name,
                   mime_type="application/json")
    return bytes(pdf.output())


class Copies:
    """PDFs waiting for a channel to fetch them (WhatsApp fetches media from a link)."""

    def __init__(self, storage: Path):
        self.folder = Path(storage) / "copies"

    def save(self, data: bytes) -> str:
        """Store a copy under a name nobody can guess; returns the name."""
        private_folder(self.folder)
        name = f"{secrets.token_urlsafe(18)}.pdf"
        private_file(self.folder / name).write_bytes(data)
        return name

    def read(self, name: str) -> bytes | None:
        path = self.folder / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return None
        return path.read_bytes()

    def prune(self, older_than_s: float) -> int:
        """Delete the copies written more than ``older_than_s`` seconds ago: their links no
        longer work, and personal data is kept no longer than needed. Blocking."""
        if not self.folder.is_dir():
            return 0
        before = time.time() - older_than_s
        removed = 0
        for path in self.folder.glob("*.pdf"):
            if path.stat().st_mtime < before:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
