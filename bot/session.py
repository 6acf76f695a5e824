"""The state of one conversation, stored as JSON after every message."""

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass
class Session:
    locale: str
    locale_chosen: bool = False
    flow: str | None = None
    """The flow in progress (``"registration"``), or None at the menu."""
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    paused: dict[str, Any] | None = None
    """A flow left for the menu, kept so the user can continue where they were."""
    asking_language: bool = False
    offers: list[str] = field(default_factory=list)
    """Commands the last reply offered as numbered options, so "1" can pick them."""
    expired: bool = False
    """Set when an idle draft was deleted; the next reply says so."""
    opted_out: bool = False
    """The chat sent STOP: no notices or reminders until it says MULAI/START."""
    updated_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Session":
        """A stored session; keys this version does not know (written by another) are left."""
        return cls(**{key: value for key, value in data.items() if key in _FIELDS})

    def idle_since(self) -> datetime | None:
        return datetime.fromisoformat(self.updated_at) if self.updated_at else None

    def leave_flow(self) -> None:
        self.flow, self.step, self.data = None, None, {}

    def pause(self, keep: bool) -> None:
        """Leave the flow for the menu; with ``keep``, kept to continue later (in place of
        any draft kept before)."""
        if keep:
            self.paused = {"flow": self.flow, "step": self.step, "data": self.data}
        self.leave_flow()

    def resume(self) -> bool:
        if not self.paused:
            return False
        self.flow, self.step, self.data = (
            self.paused["flow"], self.paused["step"], self.paused["data"])
        self.paused = None
        return True

    def has_draft(self) -> bool:
        return bool(self.flow or self.paused or self.asking_language)

    def expire(self) -> None:
        """Forget an idle conversation's unsaved answers (personal data kept no longer than
        needed), and remember to tell the user why on their next message."""
        self.discard()
        self.asking_language = False
        self.offers = []
        self.expired = True

    def discard(self) -> bool:
        """Drop the flow in progress and any paused draft; True if there was something."""
        had = bool(self.flow or self.paused)
        self.leave_flow()
        self.paused = None
        return had

_FIELDS = frozenset(f.name for f in fields(Session))
