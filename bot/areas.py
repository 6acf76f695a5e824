"""A verifier's area: the lurah or camat who picks and verifies the people of their own
kelurahan or kecamatan sees and decides only those registrations (an admin, or a verifier
without an area, sees all)."""

from dataclasses import dataclass

from bot.messages import WorkerInfo

KINDS = ("kecamatan", "kelurahan")


def same_place(a: str, b: str) -> bool:
    """Place names as people type them: case and spacing do not count."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


@dataclass(frozen=True)
class Area:
    kind: str
    name: str

    def holds(self, worker: WorkerInfo) -> bool:
        return same_place(getattr(worker, self.kind) or "", self.name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_area(text: str | None) -> Area | None:
    """``kecamatan:Padang Utara`` or ``kelurahan:Air Tawar Barat`` (as stored and as typed on
    the command line); None for none. ``ValueError`` says what is expected."""
    if not text:
        return None
    kind, _, name = text.partition(":")
    kind, name = kind.strip().casefold(), " ".join(name.split())
    if kind not in KINDS or len(name) < 2:
        raise ValueError("an area is kecamatan:NAME or kelurahan:NAME, e.g. "
                         "kecamatan:\"Padang Utara\"")
    return Area(kind, name)
